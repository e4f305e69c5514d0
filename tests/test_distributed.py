"""Data-parallel training (rpusim.distributed) in two processes on loopback (gloo): the replicas
stay bit-identical, equal a single process that sees the global batch, resume from rank 0's
checkpoint, and a rank that dies makes the other fail instead of hang."""

from __future__ import annotations

import copy
import hashlib
import multiprocessing
import re
import socket
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import rpusim  # noqa: E402
from rpusim import RPUConfig, presets  # noqa: E402
from rpusim.data import load_digits  # noqa: E402
from rpusim.distributed import AnalogDataParallel, state_hash  # noqa: E402
from rpusim.nn import AnalogConv2d, AnalogLinear, analog_layers  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import Tensor, nn  # noqa: E402

WORLD = 2
BATCH = 6
"""Samples per rank and step; a single process takes WORLD * BATCH."""


def config() -> RPUConfig:
    """The paper's device, periphery and pulsed update: noisy passes, whose noise the batch
    shards make that of the single process's samples."""
    return presets.paper_baseline()


def build(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        AnalogConv2d(1, 3, 3, bias=False, rpu_config=config()),
        nn.Tanh(),
        nn.Flatten(),
        AnalogLinear(3 * 6 * 6, 16, analog_bias=True, rpu_config=config()),
        nn.Tanh(),
        AnalogLinear(16, 10, rpu_config=config()),  # a digital bias
    )


def batches(steps: int, accumulate: int = 1) -> list[list[tuple[Tensor, Tensor]]]:
    """The global batches of ``steps`` optimizer steps, ``accumulate`` of them per step."""
    digits = load_digits()
    x = torch.from_numpy(digits.train_images.reshape(-1, 64))
    y = torch.from_numpy(digits.train_labels)
    n = WORLD * BATCH
    pieces = [(x[i * n : (i + 1) * n], y[i * n : (i + 1) * n]) for i in range(steps * accumulate)]
    return [pieces[i * accumulate : (i + 1) * accumulate] for i in range(steps)]


def step(model: nn.Module, optimizer: AnalogSGD, pieces: list[tuple[Tensor, Tensor]]) -> None:
    """One optimizer step on the gradients of the batches ``pieces`` (gradient accumulation
    when there are several)."""
    optimizer.zero_grad()
    for x, y in pieces:
        nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()


def train_ranks(
    rank: int, steps: range, checkpoint: Path, resume: bool, accumulate: int = 1
) -> dict[str, Any]:
    """One rank: a model built from its own seed (the wrapper makes it rank 0's), trained on
    its share of each global batch; returns its state hash."""
    model = build(seed=100 + rank)
    if resume:
        model.load_state_dict(torch.load(checkpoint, weights_only=True))
    wrapper = AnalogDataParallel(model)
    wrapper.check_replicas()
    optimizer = AnalogSGD(wrapper.parameters(), lr=0.1)
    share = slice(rank * BATCH, (rank + 1) * BATCH)
    for i, pieces in enumerate(batches(steps.stop, accumulate)):
        if i in steps:
            step(wrapper, optimizer, [(x[share], y[share]) for x, y in pieces])
    if rank == 0:
        torch.save(model.state_dict(), checkpoint)
    return {"hash": wrapper.check_replicas(), **parts(model)}


def parts(model: nn.Module) -> dict[str, Any]:
    """The tiles' states as hashes and the digital parameters as arrays."""
    return {
        "tiles": [
            hashlib.sha256(layer.tile.to_bytes()).hexdigest() for layer in analog_layers(model)
        ],
        "digital": [
            p.detach().numpy().copy()
            for p in model.parameters()
            if not isinstance(p, rpusim.nn.AnalogContext)
        ],
    }


def worker(rank: int, port: int, task: Callable[..., Any], args: tuple[Any, ...], out: Any) -> None:
    try:
        torch.set_num_threads(1)
        rpusim.set_num_threads(1)
        torch.distributed.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=WORLD,
            timeout=timedelta(seconds=20),
        )
        out.put((rank, "ok", task(rank, *args)))
    except BaseException:  # reported to the test, whatever it is
        out.put((rank, "error", traceback.format_exc()))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def start_ranks(task: Callable[..., Any], *args: Any) -> tuple[list[Any], Any]:
    """WORLD processes running ``task(rank, *args)`` in a group on a free loopback port, and
    the queue they report to."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(target=worker, args=(rank, port, task, args, out)) for rank in range(WORLD)
    ]
    for p in processes:
        p.start()
    return processes, out


def run_ranks(task: Callable[..., Any], *args: Any) -> dict[int, tuple[str, Any]]:
    processes, out = start_ranks(task, *args)
    results = {}
    for _ in processes:
        rank, status, value = out.get(timeout=240)
        results[rank] = (status, value)
    for p in processes:
        p.join(timeout=60)
    return results


def single_process(steps: int, accumulate: int = 1) -> nn.Module:
    """Rank 0's model trained by one process on the global batches."""
    rpusim.set_num_threads(1)
    model = build(seed=100)
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    for pieces in batches(steps, accumulate):
        step(model, optimizer, pieces)
    return model


def test_two_ranks_equal_each_other_a_single_process_and_a_resumed_run(tmp_path: Path) -> None:
    whole = run_ranks(train_ranks, range(4), tmp_path / "whole.pt", False)
    assert [whole[r][0] for r in range(WORLD)] == ["ok", "ok"], whole
    assert whole[0][1]["hash"] == whole[1][1]["hash"]
    reference = parts(single_process(4))
    assert whole[0][1]["tiles"] == reference["tiles"]  # the bits of the tiles
    assert len(reference["digital"]) == 1
    np.testing.assert_allclose(whole[0][1]["digital"][0], reference["digital"][0], rtol=1e-5)
    # Two steps, rank 0's checkpoint, two more steps resumed by every rank from it.
    run_ranks(train_ranks, range(2), tmp_path / "part.pt", False)
    resumed = run_ranks(train_ranks, range(2, 4), tmp_path / "part.pt", True)
    assert [resumed[r][0] for r in range(WORLD)] == ["ok", "ok"], resumed
    assert resumed[0][1]["hash"] == whole[0][1]["hash"] == resumed[1][1]["hash"]


def test_gradient_accumulation_equals_a_single_process_backward_by_backward(
    tmp_path: Path,
) -> None:
    """Two backward passes per step: the pairs are gathered after each, so the update sees
    the rows of the first global batch, then of the second, as the single process does."""
    ranks = run_ranks(train_ranks, range(2), tmp_path / "acc.pt", False, 2)
    assert [ranks[r][0] for r in range(WORLD)] == ["ok", "ok"], ranks
    assert ranks[0][1]["hash"] == ranks[1][1]["hash"]
    assert ranks[0][1]["tiles"] == parts(single_process(2, accumulate=2))["tiles"]


def diverge(rank: int) -> str:
    """Rank 1 changes its tile behind the wrapper's back: check_replicas must say so."""
    wrapper = AnalogDataParallel(build(seed=3))
    if rank == 1:
        layer = wrapper.module[6]
        weight, bias = layer.get_weights()
        layer.set_weights(weight * 0.5, bias)
    try:
        wrapper.check_replicas()
    except RuntimeError as e:
        return str(e)
    return "no error"


def test_check_replicas_names_the_rank_that_differs() -> None:
    results = run_ranks(diverge)
    for rank in range(WORLD):
        status, message = results[rank]
        assert status == "ok" and "the replicas of ranks [1] differ" in message, results


def die_or_step(rank: int) -> str:
    wrapper = AnalogDataParallel(build(seed=4))
    if rank == 1:
        import os

        os._exit(3)  # a crash, without a word to the other rank
    optimizer = AnalogSGD(wrapper.parameters(), lr=0.1)
    step(wrapper, optimizer, [(x[:BATCH], y[:BATCH]) for x, y in batches(1)[0]])
    return "finished"


def test_a_dead_rank_makes_the_other_fail_not_hang() -> None:
    processes, out = start_ranks(die_or_step)
    rank, status, value = out.get(timeout=120)  # only rank 0 reports
    for p in processes:
        p.join(timeout=60)
    assert (rank, status) == (0, "error"), value
    # gloo's own words: the peer closed the connection, or the collective timed out
    assert re.search(r"RuntimeError: .*(Connection closed by peer|[Tt]imed out)", value), value
    assert processes[1].exitcode == 3


def test_the_wrapper_needs_an_initialised_process_group() -> None:
    with pytest.raises(RuntimeError, match="init_process_group"):
        AnalogDataParallel(nn.Sequential(AnalogLinear(2, 2)))


def test_state_hash_sees_tile_counters() -> None:
    model = build(seed=5)
    before = state_hash(model)
    model(torch.rand(2, 64))  # a training forward pass advances the tile's random counter
    assert state_hash(model) != before


def test_tile_batch_shards_draw_the_whole_batchs_noise() -> None:
    """A tile's passes of part s of a batch equal that part of the whole batch's pass."""
    tile = rpusim.AnalogTile(5, 7, presets.paper_baseline(), seed=9)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 7)).astype(np.float32)
    whole = copy.deepcopy(tile).forward(x)
    parts = []
    for shard in (0, 1):
        part = copy.deepcopy(tile)
        part.batch_shard = shard
        parts.append(part.forward(x[4 * shard : 4 * (shard + 1)]))
    assert np.array_equal(np.concatenate(parts), whole)
    assert copy.deepcopy(part).batch_shard == 0  # not part of the state
    with pytest.raises(ValueError, match="batch_shard must be an integer"):
        tile.batch_shard = -1

"""Data-parallel training of analog models with ``torch.distributed``.

:class:`AnalogDataParallel` wraps a model in every process of a process group (started with
``torchrun`` or ``torch.multiprocessing``; gloo on CPUs, nccl where present). Each process runs
its share of the batch; then, as torch's ``DistributedDataParallel`` does for float weights:

* the gradients of the digital parameters (biases, batch norm, any float layer) are averaged
  over the processes after each backward pass;
* before each pulsed update, the ``(x, d)`` pairs that every process's backward passes stored
  on a tile are gathered in rank order, and every process applies the same update, with the
  same random streams, to its copy of the tile: the replicas stay bit-identical, and the update
  is the one a single process computes from the global batch (the rows of rank 0, then rank 1,
  ...);
* the buffers (batch norm's running statistics) are sent from rank 0 before each forward pass.

At the start, rank 0's whole state (weights, tiles with their seeds and random counters,
buffers) is sent to every process, so that all replicas start equal.
:meth:`AnalogDataParallel.check_replicas` compares a hash of every replica's state across the
processes.

Every tile's :attr:`~rpusim.tile.AnalogTile.batch_shard` is the process's rank, so that rank
``r``'s forward and backward passes of ``B`` samples (or patches, or rows of an LSTM step) draw
the noise of samples ``r B ..`` of the global batch: with equal parts in every process, the
tiles of ``R`` processes of batch ``B`` hold the bits of one process of batch ``R B`` when ``R``
is a power of two (each process's errors are those of the global mean loss times ``R``, and only
then is the division by ``R`` exact). What still differs from a single process: batch
statistics (batch norm, the running average of ``average_abs_max`` noise management) are each
process's own, and the digital parameters agree to float rounding only (their gradients are
summed in another order, as with DDP). A last, smaller part of an epoch draws other noise than
the single process would, but the replicas stay identical.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from rpusim.nn._context import AnalogContext

__all__ = ["AnalogDataParallel", "state_hash"]


def state_hash(module: nn.Module) -> str:
    """A SHA-256 of ``module``'s whole state (every tensor of ``state_dict()``, tiles included:
    their weights, devices, configuration and random counters), in hex."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        digest.update(name.encode())
        if isinstance(value, Tensor):
            digest.update(value.detach().contiguous().numpy().tobytes())
        else:  # an analog layer's extra state: plain values, the tile as bytes
            digest.update(repr(_plain(value)).encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(value).hexdigest()
    return value


class AnalogDataParallel(nn.Module):
    """``module`` trained data-parallel over the processes of ``process_group``.

    Construct it in every process, after ``torch.distributed.init_process_group``, with a model
    of the same architecture; then train it as the model itself
    (``AnalogSGD(wrapper.parameters(), ...)``, ``wrapper(x)``, ``loss.backward()``,
    ``optimizer.step()``), each process on its own part of every batch. The model's state in
    every process becomes rank 0's. Save checkpoints from rank 0
    (``wrapper.module.state_dict()``); every process loads the same file to resume.

    Args:
        module: the model (analog layers and digital ones).
        process_group: the group of processes (default: the default group).
        broadcast_buffers: send rank 0's buffers before every forward pass, as torch's DDP.
    """

    module: nn.Module
    """The wrapped model."""

    def __init__(
        self,
        module: nn.Module,
        process_group: dist.ProcessGroup | None = None,
        broadcast_buffers: bool = True,
    ) -> None:
        super().__init__()
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError(
                "AnalogDataParallel: torch.distributed is not initialised; call "
                "torch.distributed.init_process_group (torchrun sets up its environment) first"
            )
        self.module = module
        self.process_group = process_group
        self.broadcast_buffers = broadcast_buffers
        self.world_size = dist.get_world_size(process_group)
        self.rank = dist.get_rank(process_group)
        self._source = dist.get_global_rank(process_group, 0) if process_group else 0
        state = [module.state_dict() if self.rank == 0 else None]
        dist.broadcast_object_list(state, src=self._source, group=process_group)
        assert state[0] is not None
        module.load_state_dict(state[0])
        for p in module.parameters():
            if isinstance(p, AnalogContext):
                p.gather_pairs = self._gather_pairs
                p.analog_tile.batch_shard = self.rank
            elif p.requires_grad:
                p.register_post_accumulate_grad_hook(self._average_gradient)  # type: ignore[no-untyped-call]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's forward pass, after the buffers of rank 0 have been sent."""
        if self.broadcast_buffers and self.world_size > 1:
            for buffer in self.module.buffers():
                dist.broadcast(buffer, src=self._source, group=self.process_group)
        return self.module(*args, **kwargs)

    def _average_gradient(self, p: Tensor) -> None:
        assert p.grad is not None
        dist.all_reduce(p.grad, group=self.process_group)
        p.grad /= self.world_size

    def _gather_pairs(self, x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
        """Every process's ``(x, d)`` rows, in rank order (processes may hold different
        numbers of rows: the rows are padded to the largest count for the all-gather), the
        errors divided by the number of processes: each process's ``d`` is the gradient of its
        own mean loss, and the update of the global batch is that of their average, as DDP
        averages the float gradients."""
        rows = torch.tensor([len(x)], dtype=torch.int64)
        counts = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world_size)]
        dist.all_gather(counts, rows, group=self.process_group)
        sizes = [int(c) for c in counts]
        most = max(sizes)

        def gathered(a: Tensor) -> Tensor:
            padded = torch.zeros(most, a.shape[1], dtype=a.dtype)
            padded[: len(a)] = a
            parts = [torch.empty_like(padded) for _ in range(self.world_size)]
            dist.all_gather(parts, padded, group=self.process_group)
            return torch.cat([part[:n] for part, n in zip(parts, sizes)])

        return gathered(x.contiguous()), gathered(d.contiguous()) / self.world_size

    def check_replicas(self) -> str:
        """The hash of this replica's state (:func:`state_hash`), the same in every process;
        ``RuntimeError`` naming the ranks whose replicas differ from rank 0's."""
        mine = state_hash(self.module)
        hashes: list[Any] = [None] * self.world_size
        dist.all_gather_object(hashes, mine, group=self.process_group)
        differ = [rank for rank, h in enumerate(hashes) if h != hashes[0]]
        if differ:
            raise RuntimeError(
                f"AnalogDataParallel: the replicas of ranks {differ} differ from rank 0's "
                f"(state hashes {[hashes[r][:12] for r in differ]} against {hashes[0][:12]})"
            )
        return mine

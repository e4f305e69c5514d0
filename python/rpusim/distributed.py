"""Data-parallel training of analog models with ``torch.distributed``.

:class:`AnalogDataParallel` wraps a model in every process of a process group (started with
``torchrun`` or ``torch.multiprocessing``; gloo on CPUs, nccl where present). Each process runs
its share of the batch; then, as torch's ``DistributedDataParallel`` does for float weights:

* the gradients of the digital parameters (biases, batch norm, any float layer) are averaged
  over the processes after each backward pass;
* at the end of each backward pass, the ``(x, d)`` pairs that every process stored on a tile
  are gathered in rank order, so that at the optimizer's step every process applies the same
  update, with the same random streams, to its copy of the tile: the replicas stay
  bit-identical, and the update is the one a single process computes from the global batch
  (the rows of rank 0, then rank 1, ...; with gradient accumulation, backward pass by backward
  pass);
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

    bytes_gathered: int
    """Bytes of ``(x, d)`` rows (padding included) this process has received from all
    processes, its own included, since construction (assign 0 to restart the count): what the
    gathering costs, for scaling estimates."""

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
        # nccl moves CUDA tensors only: the collectives' buffers go there, the tiles stay put.
        nccl = dist.get_backend(process_group) == "nccl"
        self._wire = torch.device("cuda", torch.cuda.current_device()) if nccl else None
        state = [module.state_dict() if self.rank == 0 else None]
        dist.broadcast_object_list(state, src=self._source, group=process_group)
        assert state[0] is not None
        module.load_state_dict(state[0])
        self._contexts: list[AnalogContext] = []
        self._digital: list[Tensor] = []
        for p in module.parameters():
            if isinstance(p, AnalogContext):
                p.on_store = self._queue_sync
                p.analog_tile.batch_shard = self.rank
                self._contexts.append(p)
            elif p.requires_grad:
                p.register_post_accumulate_grad_hook(self._gradient_ready)  # type: ignore[no-untyped-call]
                self._digital.append(p)
        self._ready: set[int] = set()  # the digital parameters whose gradient this backward made
        self._queued = False
        self.bytes_gathered = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's forward pass, after the buffers of rank 0 have been sent."""
        if self.broadcast_buffers and self.world_size > 1:
            buffers = list(self.module.buffers())
            for dtype in dict.fromkeys(b.dtype for b in buffers):  # the same order in every rank
                same = [b for b in buffers if b.dtype == dtype]
                flat = torch.cat([b.reshape(-1) for b in same]).to(self._wire)
                dist.broadcast(flat, src=self._source, group=self.process_group)
                _scatter(flat, same)
        return self.module(*args, **kwargs)

    # The processes meet once at the end of each backward pass, as DDP's reducer does: the first
    # hook of a backward (a tile storing its pair, a digital gradient) queues _sync on the
    # autograd engine, which runs it when the whole backward is done. Three collectives per
    # backward however many layers: the counts of the new pairs, the pairs, the gradients.
    def _gradient_ready(self, p: Tensor) -> None:
        self._ready.add(id(p))
        self._queue_sync()

    def _queue_sync(self) -> None:
        if not self._queued and self.world_size > 1:
            self._queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self._sync)

    def _sync(self) -> None:
        self._queued = False
        self._gather_pairs()
        ready = [p for p in self._digital if id(p) in self._ready]
        self._ready.clear()
        for dtype in dict.fromkeys(p.dtype for p in ready):  # the same order in every rank
            grads = [p.grad for p in ready if p.dtype == dtype]
            assert all(g is not None for g in grads)
            flat = torch.cat([g.reshape(-1) for g in grads]).to(self._wire)  # type: ignore[union-attr]
            dist.all_reduce(flat, group=self.process_group)
            flat /= self.world_size
            _scatter(flat, grads)  # type: ignore[arg-type]

    def _gather_pairs(self) -> None:
        """Replaces the ``(x, d)`` pairs that this backward pass stored on each tile by those of
        every process, in rank order (processes may hold different numbers of rows), the errors
        divided by the number of processes: each process's ``d`` is the gradient of its own mean
        loss, and the update of the global batch is that of their average, as DDP averages the
        float gradients."""
        fresh = [self._take_fresh(c) for c in self._contexts]
        counts = torch.tensor([len(x) for x, _ in fresh], dtype=torch.int64, device=self._wire)
        every = [torch.empty_like(counts) for _ in range(self.world_size)]
        dist.all_gather(every, counts, group=self.process_group)
        rows = torch.stack(every).cpu()  # (rank, context)
        if not rows.any():
            return
        widths = torch.tensor(
            [c.analog_tile.in_size + c.analog_tile.out_size for c in self._contexts]
        )
        most = int((rows * widths).sum(1).max())
        flat = torch.zeros(most, dtype=torch.float32, device=self._wire)
        mine = torch.cat([a.reshape(-1) for pair in fresh for a in pair])
        flat[: len(mine)] = mine
        parts = [torch.empty_like(flat) for _ in range(self.world_size)]
        dist.all_gather(parts, flat, group=self.process_group)
        self.bytes_gathered += self.world_size * flat.numel() * flat.element_size()
        pieces: list[list[tuple[Tensor, Tensor]]] = [[] for _ in self._contexts]
        for rank, part in enumerate(p.cpu() for p in parts):
            at = 0
            for i, c in enumerate(self._contexts):
                n, m, k = int(rows[rank, i]), c.analog_tile.in_size, c.analog_tile.out_size
                x = part[at : at + n * m].view(n, m)
                d = part[at + n * m : at + n * (m + k)].view(n, k)
                pieces[i].append((x, d))
                at += n * (m + k)
        for c, own in zip(self._contexts, pieces):
            if sum(len(x) for x, _ in own):
                x = torch.cat([x for x, _ in own])
                d = torch.cat([d for _, d in own]) / self.world_size
                c.stored.append(_GatheredPair((x, d)))

    def _take_fresh(self, context: AnalogContext) -> tuple[Tensor, Tensor]:
        """Removes from ``context`` the pairs stored since its last gathered one; they as one
        float32 pair (no rows when there are none)."""
        stored = context.stored
        gathered = [i for i, pair in enumerate(stored) if isinstance(pair, _GatheredPair)]
        first = gathered[-1] + 1 if gathered else 0
        fresh = stored[first:]
        del stored[first:]
        tile = context.analog_tile
        if not fresh:
            return torch.empty(0, tile.in_size), torch.empty(0, tile.out_size)
        x = torch.cat([x.reshape(len(x), -1) for x, _ in fresh]).to(torch.float32)
        d = torch.cat([d.reshape(len(d), -1) for _, d in fresh]).to(torch.float32)
        return x, d

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


class _GatheredPair(tuple[Tensor, Tensor]):
    """A stored pair that holds every process's rows (earlier backward passes' pairs, before
    an update under gradient accumulation); the pairs after the last of them are new."""


def _scatter(flat: Tensor, into: list[Tensor]) -> None:
    """Copies the consecutive pieces of ``flat`` back into the tensors ``into``."""
    at = 0
    for t in into:
        t.copy_(flat[at : at + t.numel()].view_as(t))
        at += t.numel()

"""The autograd bridge: the parameter that stands for a tile, and the function that runs it.

One training step (DESIGN.md): the forward pass calls ``tile.forward``; the backward pass calls
``tile.backward`` and stores the pair ``(x, d)`` on the tile's :class:`AnalogContext`; the
optimizer's step sends the stored pairs to ``tile.update``. The analog weights never get a float
gradient. As aihwkit's analog layers do, the backward pass gives no gradient through an output
that reached the forward pass's output bound (the gradient of the ADC's clipping); the update
still gets that output's error.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, cast

import torch
from torch import Tensor
from torch.autograd.function import BackwardCFunction

from rpusim.tile import AnalogTile

__all__ = ["AnalogContext", "analog_matmul"]


class AnalogContext(torch.nn.Parameter):
    """The parameter that stands for one analog tile in ``module.parameters()``.

    An analog layer's weights live on its tile, not in a float tensor. This empty parameter
    takes their place among the layer's parameters, so that
    ``rpusim.optim.AnalogSGD(model.parameters(), lr=...)`` and its param groups reach the tile
    (each tile is updated with the learning rate of the group that holds its context). It also
    collects the ``(x, d)`` pairs that the backward passes store until the optimizer's next step.

    Its ``grad`` stands for the stored pairs, so that every way torch clears gradients clears
    them: ``grad`` is an empty tensor while pairs are stored and ``None`` otherwise, and
    ``model.zero_grad()`` (setting ``grad = None``, or ``grad.zero_()`` with
    ``set_to_none=False``) drops them as ``optimizer.zero_grad()`` does. At most
    :attr:`max_stored_bytes` of pairs are kept: a backward pass past it raises
    ``RuntimeError`` (backward passes that no step or ``zero_grad`` followed).
    ``requires_grad_(False)`` freezes the tile: its backward passes still return input
    gradients, but store nothing, so the optimizer does not update it.

    ``AnalogContext(tile, requires_grad=True)``: ``tile`` is the tile this context stands for,
    ``requires_grad`` whether the tile is trained.
    """

    analog_tile: AnalogTile
    """The tile whose weights this parameter stands for."""

    stored: list[tuple[Tensor, Tensor]]
    """The ``(x, d)`` pairs of the backward passes since the last update, in the order of the
    passes (``x``: ``(batch, in_size)``, ``d``: ``(batch, out_size)`` of the tile)."""

    max_stored_bytes: int = 1 << 31
    """The most bytes of ``(x, d)`` pairs a context keeps (default 2 GiB; set on the class or on
    one context)."""

    def __new__(cls, tile: AnalogTile, requires_grad: bool = True) -> AnalogContext:
        context = super().__new__(cls, torch.empty(0), requires_grad)
        context.analog_tile = tile
        context.stored = []
        return context

    # The analog weights get no float gradient (backward returns None for the context), so
    # torch's own grad field stays None and this property alone says whether pairs wait.
    @property
    def grad(self) -> Tensor | None:
        """An empty tensor while pairs are stored (its ``zero_()`` drops them), else ``None``."""
        return _StoredPairs.of(self) if self.stored else None

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            raise RuntimeError(
                "AnalogContext.grad: an analog tile has no float gradient; only None (which "
                "drops the stored (x, d) pairs) can be assigned"
            )
        self.stored.clear()

    def store(self, x: Tensor, d: Tensor) -> None:
        """Keeps the pair ``(x, d)`` of a backward pass for the next update; ``RuntimeError``
        past :attr:`max_stored_bytes`."""
        stored_bytes = sum(_nbytes(a) + _nbytes(b) for a, b in self.stored)
        if stored_bytes + _nbytes(x) + _nbytes(d) > self.max_stored_bytes:
            raise RuntimeError(
                f"AnalogContext of {self.analog_tile!r}: {len(self.stored)} backward passes "
                f"stored {stored_bytes} bytes of (x, d) pairs since the last update, and this one "
                f"would pass max_stored_bytes = {self.max_stored_bytes}; call optimizer.step() "
                "or zero_grad() between backward passes"
            )
        self.stored.append((x, d))
        if self.on_store is not None:
            self.on_store()

    on_store: Callable[[], None] | None = None
    """Called after every :meth:`store` (inside the backward pass); set by
    :class:`rpusim.distributed.AnalogDataParallel`, which gathers the pairs of every process at
    the end of each backward pass. ``None``: nothing is called."""

    def update(self, lr: float) -> None:
        """Sends every stored pair, in order, to ``analog_tile.update(x, d, lr)`` as one batch, and
        clears them. Does nothing when no pair is stored."""
        if not self.stored:
            return
        if len(self.stored) == 1:  # a Linear or Conv layer used once: no copy
            x, d = self.stored[0]
        else:
            x = torch.cat([pair[0] for pair in self.stored])
            d = torch.cat([pair[1] for pair in self.stored])
        self.stored.clear()
        self.analog_tile.update(x, d, lr)

    # A copy or a pickle keeps the class and the tile; the stored pairs are transient, like a
    # gradient. (torch.nn.Parameter's own methods would rebuild a plain Parameter.)
    def __deepcopy__(self, memo: dict[int, Any]) -> AnalogContext:
        if id(self) not in memo:
            memo[id(self)] = AnalogContext(
                copy.deepcopy(self.analog_tile, memo), self.requires_grad
            )
        return cast(AnalogContext, memo[id(self)])

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (AnalogContext, (self.analog_tile, self.requires_grad))

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return f"AnalogContext({self.analog_tile!r}, stored={len(self.stored)})"


def _nbytes(t: Tensor) -> int:
    return t.numel() * t.element_size()


class _StoredPairs(Tensor):
    """The ``grad`` of an :class:`AnalogContext` with stored pairs: an empty tensor whose
    ``zero_()`` (what ``zero_grad(set_to_none=False)`` calls) drops the pairs."""

    context: AnalogContext

    # What torch computes from it (a norm, a momentum buffer) is a plain tensor.
    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

    @staticmethod
    def of(context: AnalogContext) -> _StoredPairs:
        marker = Tensor._make_subclass(_StoredPairs, torch.empty(0))
        marker.context = context
        return marker

    def zero_(self) -> _StoredPairs:
        self.context.stored.clear()
        return self

    # A copy or a pickle (an optimizer's state, say) is a plain empty tensor.
    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        return torch.empty(0)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (torch.empty, (0,))


class _AnalogMatmul(torch.autograd.Function):
    """``y = W x`` on the tile; the backward pass returns ``W^T d`` and stores ``(x, d)``.

    As in aihwkit, the error of an output that reached its array's output bound in the forward
    pass (``AnalogTile._forward_clipped``) is set to zero before that array's backward pass,
    the gradient of the ADC's clipping; the stored ``d``, which the update uses, keeps it."""

    @staticmethod
    def forward(
        ctx: BackwardCFunction, analog_ctx: AnalogContext, x: Tensor, is_test: bool
    ) -> Tensor:
        tile = analog_ctx.analog_tile
        # Only the backward pass uses the clipped outputs. (torch's stub types needs_input_grad
        # as a 1-tuple, tuple[bool]; it has one flag per argument of forward.)
        if ctx.needs_input_grad[1]:  # type: ignore[misc]
            y, clipped = tile._forward_clipped(x, is_test)
        else:
            y, clipped = tile.forward(x, is_test=is_test), None
        ctx.save_for_backward(x)
        ctx.analog_ctx = analog_ctx  # type: ignore[attr-defined]
        ctx.clipped = clipped  # type: ignore[attr-defined]
        return y

    @staticmethod
    def backward(ctx: Any, d: Tensor) -> tuple[None, Tensor | None, None]:
        (x,) = ctx.saved_tensors
        analog_ctx: AnalogContext = ctx.analog_ctx
        d = d.contiguous()  # a gradient may be an expanded (stride 0) view
        needs_context, needs_input = ctx.needs_input_grad[:2]
        dx = analog_ctx.analog_tile._backward_masked(d, ctx.clipped) if needs_input else None
        if needs_context:
            analog_ctx.store(x.detach(), d)
        return None, dx, None


def analog_matmul(analog_ctx: AnalogContext, x: Tensor, is_test: bool) -> Tensor:
    """``tile.forward(x, is_test)`` for a float32 CPU ``(batch, tile.in_size)`` tensor, as a
    step of autograd: its backward pass computes ``tile.backward(d)`` (when ``x`` needs a
    gradient; the errors of outputs that reached the output bound set to zero, as in aihwkit)
    and stores ``(x, d)`` on ``analog_ctx`` (when the context requires a gradient)."""
    return cast(Tensor, _AnalogMatmul.apply(analog_ctx, x, is_test))

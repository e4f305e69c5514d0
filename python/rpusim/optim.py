"""AnalogSGD: torch's SGD for the digital parameters, pulsed updates for the analog tiles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch.optim import SGD

from rpusim.nn._context import AnalogContext

__all__ = ["AnalogSGD"]


class AnalogSGD(SGD):
    """Stochastic gradient descent for models with analog layers.

    ``step()`` updates every tile whose :class:`~rpusim.nn.AnalogContext` is among the
    parameters: the ``(x, d)`` pairs its backward passes stored since the last step go, in
    order and as one batch, to ``tile.update(x, d, lr)`` with the ``lr`` of the context's param
    group (a pulsed update, or the exact one for ``RPUConfig.floating_point()``). Every other
    parameter takes ``torch.optim.SGD``'s step. Param groups and learning-rate schedulers work
    as with ``SGD``.

    ``momentum``, ``dampening``, ``weight_decay`` and ``nesterov`` act on the digital
    parameters only: a tile is updated with ``lr`` alone.

    The constructor is ``torch.optim.SGD``'s:

    - ``params``: ``model.parameters()`` or param groups (dicts), as for ``torch.optim.SGD``.
    - ``lr``: learning rate (default 1e-3, as ``SGD``).
    - ``momentum``: momentum factor of the digital parameters.
    - ``dampening``: dampening of the momentum of the digital parameters.
    - ``weight_decay``: L2 penalty of the digital parameters.
    - ``nesterov``: Nesterov momentum for the digital parameters.
    """

    def _analog_contexts(self) -> Iterator[tuple[AnalogContext, dict[str, Any]]]:
        for group in self.param_groups:
            for p in group["params"]:
                if isinstance(p, AnalogContext):
                    yield p, group

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One step: the pulsed update of every tile with stored pairs, then ``SGD``'s step
        of the digital parameters.

        Args:
            closure: re-evaluates the model and returns the loss (called once, with
                gradients enabled).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for context, group in self._analog_contexts():
            context.update(float(group["lr"]))
        # Once SGD has an instance, torch has wrapped SGD.step to run the step hooks, which
        # the wrapper of this step already ran: take SGD's own step, or they run twice.
        sgd_step = SGD.step
        if getattr(sgd_step, "hooked", False):
            sgd_step = sgd_step.__wrapped__  # type: ignore[attr-defined]  # torch sets it
        sgd_step(self)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clears the gradients of the digital parameters (``SGD.zero_grad``) and the pairs
        stored on the tiles since the last step (a backward pass that no step followed)."""
        super().zero_grad(set_to_none)
        for context, _ in self._analog_contexts():
            context.stored.clear()

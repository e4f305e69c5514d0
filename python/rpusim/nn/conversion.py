"""Moving a model between digital torch layers and analog layers, and finding its tiles."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Callable, cast

from torch import nn

from rpusim.config import RPUConfig
from rpusim.nn.layers import AnalogConv1d, AnalogConv2d, AnalogLayer, AnalogLinear
from rpusim.nn.lstm import AnalogLSTM

__all__ = ["AnalogSequential", "analog_layers", "convert_to_analog", "convert_to_digital"]


def analog_layers(module: nn.Module) -> Iterator[AnalogLayer]:
    """Every :class:`AnalogLayer` in ``module`` (itself included), in ``modules()`` order; an
    :class:`AnalogLSTM` contributes its gate layers. ``layer.tile`` is each one's tile."""
    for m in module.modules():
        if isinstance(m, AnalogLayer):
            yield m


class AnalogSequential(nn.Sequential):
    """``torch.nn.Sequential`` that can list its analog layers (:meth:`analog_layers`).

    :func:`convert_to_analog` turns every ``nn.Sequential`` into one, and
    :func:`convert_to_digital` back.
    """

    def analog_layers(self) -> Iterator[AnalogLayer]:
        """Every analog layer inside, in ``modules()`` order (see :func:`analog_layers`)."""
        return analog_layers(self)


_ANALOG_OF: dict[type[nn.Module], Any] = {
    nn.Linear: AnalogLinear,
    nn.Conv1d: AnalogConv1d,
    nn.Conv2d: AnalogConv2d,
    nn.LSTM: AnalogLSTM,
}
"""The torch layer classes convert_to_analog replaces, with their analog classes."""

_ANALOG_TYPES = (AnalogLinear, AnalogConv1d, AnalogConv2d, AnalogLSTM)
"""The values of ``_ANALOG_OF``, spelled out so that ``isinstance`` narrows to them."""


def _analog(module: nn.Module, rpu_config: RPUConfig | None, analog_bias: bool) -> nn.Module | None:
    """The analog replacement of one torch layer, or ``None`` for any other module. Only the
    exact classes are replaced: a subclass may use its weights in its own way (as
    ``nn.MultiheadAttention`` does with its output ``Linear``)."""
    analog = _ANALOG_OF.get(type(module))
    if analog is None:
        return None
    return cast(nn.Module, analog.from_digital(module, rpu_config, analog_bias=analog_bias))


def _digital(module: nn.Module) -> nn.Module | None:
    """The torch layer of one analog layer, or ``None`` for any other module."""
    if isinstance(module, _ANALOG_TYPES):
        return module.to_digital()
    return None


def _replace(
    module: nn.Module,
    replacement: Callable[[nn.Module], nn.Module | None],
    sequential: type[nn.Sequential],
) -> nn.Module:
    """``module`` with every layer that has a replacement replaced (in place, depth first),
    and every plain ``nn.Sequential`` / ``AnalogSequential`` rebuilt as ``sequential``."""
    new = replacement(module)
    if new is not None:
        return new
    for name, child in module.named_children():
        converted = _replace(child, replacement, sequential)
        if converted is not child:
            setattr(module, name, converted)
    if type(module) in (nn.Sequential, AnalogSequential) and type(module) is not sequential:
        rebuilt = sequential(OrderedDict(module.named_children()))
        return rebuilt.train(module.training)
    return module


def convert_to_analog(
    module: nn.Module, rpu_config: RPUConfig | None = None, *, analog_bias: bool = False
) -> nn.Module:
    """A copy of ``module`` with every ``nn.Linear``, ``nn.Conv1d``, ``nn.Conv2d`` and
    ``nn.LSTM`` replaced by its analog layer, and every ``nn.Sequential`` by an
    :class:`AnalogSequential`. ``module`` itself is left as it is.

    The weights are programmed onto the tiles, each clipped to its device's bounds (so
    :func:`convert_to_digital` returns the clipped weights); biases stay digital unless
    ``analog_bias``. Subclasses of these layers are left digital. Tile seeds come from torch's
    global generator.

    Args:
        module: any torch model (or a single layer).
        rpu_config: the configuration of every tile; default ``RPUConfig()``.
        analog_bias: put the biases on the tiles too.
    """

    def replacement(m: nn.Module) -> nn.Module | None:
        return _analog(m, rpu_config, analog_bias)

    return _replace(copy.deepcopy(module), replacement, AnalogSequential)


def convert_to_digital(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every analog layer replaced by its torch layer holding the
    weights the tile holds (an analog bias becomes the digital bias), and every
    :class:`AnalogSequential` by an ``nn.Sequential``. ``module`` itself is left as it is."""
    return _replace(copy.deepcopy(module), _digital, nn.Sequential)

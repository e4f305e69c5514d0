"""torch layers whose weights live on analog tiles, and conversion of whole models.

A torch user trains an analog network by changing the layer classes (or calling
:func:`convert_to_analog`) and the optimizer (:class:`rpusim.optim.AnalogSGD`), nothing else::

    model = torch.nn.Sequential(AnalogLinear(784, 256), torch.nn.Sigmoid(), AnalogLinear(256, 10))
    optimizer = rpusim.optim.AnalogSGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()  # tile.backward, and (x, d) stored for the update
    optimizer.step()  # tile.update(x, d, lr): the pulsed update
    optimizer.zero_grad()

The forward pass runs ``tile.forward`` (a test pass in ``eval()`` mode); the backward pass runs
``tile.backward`` and stores ``(x, d)``; the optimizer's step sends the stored pairs to
``tile.update``. ``state_dict()`` carries every tile's whole state, so ``torch.save`` /
``torch.load`` of a model and its optimizer resume training bit-identically.
``rpusim.RPUConfig.floating_point()`` computes the same model in exact float32 arithmetic.
"""

from __future__ import annotations

from rpusim.nn._context import AnalogContext
from rpusim.nn.conversion import (
    AnalogSequential,
    analog_layers,
    convert_to_analog,
    convert_to_digital,
)
from rpusim.nn.layers import AnalogConv1d, AnalogConv2d, AnalogLayer, AnalogLinear
from rpusim.nn.lstm import AnalogLSTM

__all__ = [
    "AnalogContext",
    "AnalogConv1d",
    "AnalogConv2d",
    "AnalogLSTM",
    "AnalogLayer",
    "AnalogLinear",
    "AnalogSequential",
    "analog_layers",
    "convert_to_analog",
    "convert_to_digital",
]

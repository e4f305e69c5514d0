"""The short training run the device-model tests share: a 64-32-10 tanh MLP on scikit-learn's
8x8 digits. Needs torch and scikit-learn: import it after ``pytest.importorskip`` of both."""

from __future__ import annotations

import torch
from rpusim import RPUConfig, training
from rpusim.devices import Device
from rpusim.nn import AnalogLinear, AnalogSequential
from rpusim.optim import AnalogSGD
from sklearn.datasets import load_digits
from torch import nn


def digits_accuracy(device: Device, lr: float = 0.1) -> float:
    """A 64-32-10 tanh MLP on ``device``, 5 epochs on 1400 of the digits (batches of 10,
    learning rate ``lr``, seed 0), tested on the other 397."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    config = RPUConfig(device=device)
    torch.manual_seed(0)
    model = AnalogSequential(
        AnalogLinear(64, 32, rpu_config=config), nn.Tanh(), AnalogLinear(32, 10, rpu_config=config)
    )
    optimizer = AnalogSGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        order = torch.randperm(1400, generator=generator)
        training.train_epoch(model, optimizer, x[:1400], y[:1400], order, 10, disable=True)
    return training.test_accuracy(model, x[1400:], y[1400:])

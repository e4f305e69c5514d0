"""Short training runs on real MNIST (a subset) that must learn: an MLP in float arithmetic and
on analog tiles with the paper's device and periphery (presets.paper_baseline()), and an
analog LeNet.

MNIST is read from ../shared/datasets/mnist (or $RPUSIM_DATA/mnist); without it these tests
are skipped, with a message saying where to put it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import rpusim  # noqa: E402
from rpusim import RPUConfig, presets, training  # noqa: E402
from rpusim.data import DatasetNotFoundError, ImageDataset, load_mnist  # noqa: E402
from rpusim.nn import AnalogConv2d, AnalogLinear  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import nn  # noqa: E402

BATCH = 10


pytestmark = pytest.mark.usefixtures("single_threaded")
"""One engine and one torch thread (conftest.py)."""


def mnist(n_train: int, n_test: int) -> ImageDataset:
    try:
        return load_mnist().subset(n_train, n_test)
    except DatasetNotFoundError as e:
        pytest.skip(str(e))


def accuracy_after_training(
    model: nn.Module, data: ImageDataset, epochs: int, lr: float, flatten: bool
) -> float:
    """Trains with AnalogSGD on mini-batches of 10 (mean cross-entropy, rpusim.training's loop)
    and returns the test accuracy in eval mode."""
    x_train, y_train = training.as_tensors(data.train_images, data.train_labels, flatten)
    x_test, y_test = training.as_tensors(data.test_images, data.test_labels, flatten)
    optimizer = AnalogSGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        training.train_epoch(model, optimizer, x_train, y_train, order, BATCH, disable=True)
    return training.test_accuracy(model, x_test, y_test)


# Observed with these seeds: about 0.91 (float) and 0.90 (analog); the thresholds leave room
# for other torch versions, while a network that does not learn stays far below (0.1).
@pytest.mark.parametrize(
    ("config", "threshold"),
    [(RPUConfig.floating_point(), 0.85), (presets.paper_baseline(), 0.85)],
    ids=["float", "analog"],
)
def test_mlp_learns_mnist(config: RPUConfig, threshold: float) -> None:
    """784-256-128-10 tanh MLP, 8000 training images, 2 epochs, lr 0.2 (mean loss over
    batches of 10: 0.02 per sample)."""
    data = mnist(8000, 1000)
    torch.manual_seed(0)
    model = rpusim.nn.AnalogSequential(
        AnalogLinear(784, 256, rpu_config=config),
        nn.Tanh(),
        AnalogLinear(256, 128, rpu_config=config),
        nn.Tanh(),
        AnalogLinear(128, 10, rpu_config=config),
    )
    accuracy = accuracy_after_training(model, data, epochs=2, lr=0.2, flatten=True)
    assert accuracy > threshold


def test_analog_lenet_learns_mnist() -> None:
    """The LeNet of the examples on analog tiles, 3000 training images, 1 epoch (observed:
    about 0.92)."""
    data = mnist(3000, 1000)
    config = presets.paper_baseline()
    torch.manual_seed(0)
    model = nn.Sequential(
        AnalogConv2d(1, 16, 5, rpu_config=config),
        nn.Tanh(),
        nn.MaxPool2d(2),
        AnalogConv2d(16, 32, 5, rpu_config=config),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        AnalogLinear(512, 128, rpu_config=config),
        nn.Tanh(),
        AnalogLinear(128, 10, rpu_config=config),
    )
    accuracy = accuracy_after_training(model, data, epochs=1, lr=0.1, flatten=False)
    assert accuracy > 0.85

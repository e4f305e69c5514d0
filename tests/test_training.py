"""Short training runs on real MNIST (a subset) that must learn: an MLP in float arithmetic and
on analog tiles with the paper's device and periphery (presets.paper_baseline()), and an
analog LeNet.

MNIST is read from ../shared/datasets/mnist (or $RPUSIM_DATA/mnist); without it these tests
are skipped, with a message saying where to put it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")

import rpusim  # noqa: E402
from rpusim import RPUConfig, presets  # noqa: E402
from rpusim.data import DatasetNotFoundError, ImageDataset, load_mnist  # noqa: E402
from rpusim.nn import AnalogConv2d, AnalogLinear  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import nn  # noqa: E402

BATCH = 10


@pytest.fixture(autouse=True)
def single_threaded(restore_threads: None) -> Iterator[None]:
    """One engine thread and one torch thread: batches of 10 gain nothing from more on 2
    cores, and torch's OpenMP threads slow down by an order of magnitude when another
    process (or the engine) keeps a core busy. Results do not depend on the thread counts."""
    torch_threads = torch.get_num_threads()
    rpusim.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(torch_threads)


def mnist(n_train: int, n_test: int) -> ImageDataset:
    try:
        return load_mnist().subset(n_train, n_test)
    except DatasetNotFoundError as e:
        pytest.skip(str(e))


def accuracy_after_training(
    model: nn.Module, data: ImageDataset, epochs: int, lr: float, flatten: bool
) -> float:
    """Trains with AnalogSGD on mini-batches of 10 (mean cross-entropy) and returns the test
    accuracy in eval mode."""
    shape = (-1, 28 * 28) if flatten else (-1, 1, 28, 28)
    x_train = torch.from_numpy(data.train_images).reshape(shape)
    y_train = torch.from_numpy(data.train_labels)
    optimizer = AnalogSGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predictions = model(torch.from_numpy(data.test_images).reshape(shape)).argmax(dim=1)
    return float((predictions == torch.from_numpy(data.test_labels)).float().mean())


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

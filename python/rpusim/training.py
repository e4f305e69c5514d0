"""The training loops, networks and runs of the examples: float training against analog tiles
with the device and periphery of Rasch, Gokmen & Haensch (2019), from the same initial weights
and on the same batches.

* Images (``examples/mnist_mlp.py``, ``examples/mnist_lenet.py``): the networks :func:`mlp`
  and :func:`lenet`; :func:`as_tensors`, :func:`train_epoch`, :func:`test_accuracy`; the
  comparison :func:`train_and_compare` with :func:`summary` and :func:`plot`.
* Text (``examples/lstm_text.py``): the network :class:`CharLSTM`; :func:`streams`,
  :func:`train_text_epoch`, :func:`text_test_loss`; the comparison
  :func:`train_text_and_compare` with :func:`text_summary`.
* Both: :class:`Run`, :func:`float_and_analog`, :func:`setup`; the options of the image
  examples, :func:`image_arguments`.
* CIFAR-10 (``examples/cifar10_vgg8.py``): the network :func:`vgg8`, the runs
  :func:`cifar_runs` (:data:`CIFAR_MODES`), the resumable loop :func:`train_cifar`, and its
  parts :func:`cifar_subset`, :func:`cifar_order`, :func:`cifar_loader`,
  :func:`loader_accuracy`.
* All: one optimizer :func:`step` on a batch, and :func:`train_batches` over any batches.
* The compensation study (``examples/compensation_study.py``): :func:`compensation_config`,
  the paper's baseline with a chosen set of compensation measures on.

Needs torch; tqdm, when installed, draws the progress bars, and :func:`plot` needs
matplotlib. ``import rpusim`` does not import this module (``import rpusim.training``).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import rpusim
from rpusim import presets
from rpusim.config import RPUConfig
from rpusim.data import Cifar10, CifarImages, ImageDataset
from rpusim.nn import convert_to_analog
from rpusim.optim import AnalogSGD

__all__ = [
    "CIFAR_MODES",
    "COMPENSATION_MEASURES",
    "WEIGHT_SCALING_OMEGA",
    "CharLSTM",
    "Run",
    "as_tensors",
    "cifar_loader",
    "cifar_order",
    "cifar_runs",
    "cifar_subset",
    "compensation_config",
    "detach",
    "float_and_analog",
    "image_arguments",
    "lenet",
    "loader_accuracy",
    "mlp",
    "plot",
    "runs_of",
    "setup",
    "step",
    "streams",
    "summary",
    "test_accuracy",
    "text_summary",
    "text_test_loss",
    "train_and_compare",
    "train_batches",
    "train_cifar",
    "train_epoch",
    "train_text_and_compare",
    "train_text_epoch",
    "vgg8",
]

T = TypeVar("T")

Log = Optional[Callable[[str], None]]
"""Where the comparisons send their line per epoch (``None``: nowhere)."""


def _print(line: str) -> None:
    print(line, flush=True)


def _progress(
    items: Iterable[T],
    desc: str,
    unit: str,
    disable: bool | None,
    unit_scale: int = 1,
    total: int | None = None,
) -> Iterable[T]:
    """``items`` with a tqdm progress bar when tqdm is installed (``disable``: tqdm's,
    ``None`` for a bar on a terminal only); ``unit_scale`` units per item (images per batch:
    the bar's rate is then images per second); ``total`` items (``None``: ``len(items)`` when
    they have one)."""
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no stubs
    except ImportError:
        return items
    bar: Iterable[T] = tqdm(
        items,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        total=total,
        leave=False,
        disable=disable,
    )
    return bar


# --- both -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One network being trained, and what it reached after every epoch."""

    name: str
    model: nn.Module
    optimizer: AnalogSGD
    accuracy: list[float] = field(default_factory=list)
    """Test accuracy in ``[0, 1]`` (images)."""
    test_loss: list[float] = field(default_factory=list)
    """Test cross-entropy per character in nats (text)."""
    seconds: list[float] = field(default_factory=list)
    """Training time (the tests not counted)."""


def runs_of(digital: nn.Module, configs: Sequence[tuple[str, RPUConfig]], lr: float) -> list[Run]:
    """``digital`` converted for each named configuration of ``configs``, in this order, with
    the same initial weights and each with its :class:`~rpusim.optim.AnalogSGD` at ``lr``. The
    tile seeds come from torch's global generator."""
    runs = []
    for name, config in configs:
        model = convert_to_analog(digital, config)
        runs.append(Run(name, model, AnalogSGD(model.parameters(), lr=lr)))
    return runs


def float_and_analog(digital: nn.Module, lr: float) -> list[Run]:
    """``digital`` converted for floating point (``RPUConfig.floating_point()``) and for the
    paper's tiles (``presets.paper_baseline()``), in this order (:func:`runs_of`)."""
    configs = [("float", RPUConfig.floating_point()), ("analog", presets.paper_baseline())]
    return runs_of(digital, configs, lr)


def setup(seed: int, threads: int) -> None:
    """Seeds torch's global generator and sets the engine's thread count. torch keeps one
    thread: its share of the work (activations, small products) is tiny, and its OpenMP
    threads slow down by an order of magnitude when the engine or another process keeps a core
    busy."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rpusim.set_num_threads(threads)


def _compare(
    runs: list[Run],
    epochs: int,
    epoch_of: Callable[[int, Run], None],
    line: Callable[[Run], str],
    what: str,
    log: Log,
) -> list[Run]:
    """``epoch_of(epoch, run)`` (train and measure one epoch) for every run, epoch by epoch;
    ``log`` gets ``epoch   e: {what} {line(run), ...}`` after each."""
    for epoch in range(1, epochs + 1):
        for run in runs:
            epoch_of(epoch, run)
        if log is not None:
            log(f"epoch {epoch:3d}: {what} " + ", ".join(line(run) for run in runs))
    return runs


# --- images ---------------------------------------------------------------------------------


def mlp(inputs: int) -> nn.Sequential:
    """The MLP of the examples: ``inputs``-256-128-10, sigmoid hidden layers."""
    return nn.Sequential(
        nn.Linear(inputs, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(), nn.Linear(128, 10)
    )


def lenet() -> nn.Sequential:
    """LeNet for 28x28 images: conv 5x5 1->16, tanh, max-pool 2; conv 5x5 16->32, tanh,
    max-pool 2; FC 512->128, tanh; FC 128->10."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 128),
        nn.Tanh(),
        nn.Linear(128, 10),
    )


def as_tensors(
    images: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], flatten: bool
) -> tuple[Tensor, Tensor]:
    """Images as ``(n, pixels)`` (``flatten``) or ``(n, 1, height, width)`` float32, labels as
    int64; without copies."""
    x = torch.from_numpy(images)
    x = x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
    return x, torch.from_numpy(labels)


def step(model: nn.Module, optimizer: AnalogSGD, x: Tensor, y: Tensor) -> None:
    """One optimizer step on the batch ``(x, y)``: the mean cross-entropy of ``model(x)``,
    back-propagated, then ``optimizer.step()``."""
    optimizer.zero_grad()
    torch.autograd.backward(nn.functional.cross_entropy(model(x), y))
    optimizer.step()


def train_batches(
    model: nn.Module,
    optimizer: AnalogSGD,
    batches: Iterable[tuple[Tensor, Tensor]],
    desc: str = "batches",
    disable: bool | None = None,
    unit: str = "batch",
    unit_scale: int = 1,
    total: int | None = None,
) -> float:
    """A :func:`step` on every batch ``(x, y)`` of ``batches``, in train mode; returns the
    time in seconds (the making of the batches included). ``desc``, ``disable``, ``unit``,
    ``unit_scale`` and ``total`` (batches): the progress bar's (``disable=None``: a bar on a
    terminal only)."""
    model.train()
    start = time.perf_counter()
    for x, y in _progress(batches, desc, unit, disable, unit_scale, total):
        step(model, optimizer, x, y)
    return time.perf_counter() - start


def train_epoch(
    model: nn.Module,
    optimizer: AnalogSGD,
    x: Tensor,
    y: Tensor,
    order: Tensor,
    batch_size: int,
    desc: str = "batches",
    disable: bool | None = None,
) -> float:
    """One epoch of mean cross-entropy over the mini-batches of ``batch_size`` samples of
    ``x[order]``, in train mode (:func:`train_batches`); returns its time in seconds. ``desc``
    and ``disable``: the progress bar's (``disable=None``: a bar on a terminal only)."""
    starts = range(0, len(order), batch_size)
    batches = ((x[order[i : i + batch_size]], y[order[i : i + batch_size]]) for i in starts)
    return train_batches(model, optimizer, batches, desc, disable, total=len(starts))


def test_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """The share of ``x`` whose largest output is the label ``y``, in eval mode, in batches of
    ``batch_size``."""
    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(x[i : i + batch_size]).argmax(dim=1) == y[i : i + batch_size]).sum())
            for i in range(0, len(x), batch_size)
        )
    return correct / len(x)


def train_and_compare(
    digital: nn.Module,
    data: ImageDataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    flatten: bool,
    log: Log = _print,
    configs: Sequence[tuple[str, RPUConfig]] | None = None,
) -> list[Run]:
    """Trains ``digital`` converted for each named configuration of ``configs`` (unset: for
    floating point and for the paper's tiles, :func:`float_and_analog`) epoch by epoch on the
    same batches (a new order every epoch, drawn from a generator seeded with ``seed``), and
    measures the test accuracy after every epoch. ``log`` gets a line per epoch with the
    accuracies and times."""
    x_train, y_train = as_tensors(data.train_images, data.train_labels, flatten)
    x_test, y_test = as_tensors(data.test_images, data.test_labels, flatten)
    generator = torch.Generator().manual_seed(seed)
    # Drawn ahead in epoch order: the same orders as drawing each at the start of its epoch.
    orders = [torch.randperm(len(x_train), generator=generator) for _ in range(epochs)]

    def epoch_of(epoch: int, run: Run) -> None:
        desc = f"epoch {epoch} {run.name}"
        order = orders[epoch - 1]
        run.seconds.append(
            train_epoch(run.model, run.optimizer, x_train, y_train, order, batch_size, desc)
        )
        run.accuracy.append(test_accuracy(run.model, x_test, y_test))

    runs = float_and_analog(digital, lr) if configs is None else runs_of(digital, configs, lr)
    return _compare(
        runs,
        epochs,
        epoch_of,
        lambda run: f"{run.name} {100 * run.accuracy[-1]:5.2f} % ({run.seconds[-1]:5.1f} s)",
        "test accuracy",
        log,
    )


def summary(runs: Sequence[Run]) -> str:
    """``float 97.10 % (8.2 s/epoch), analog 96.00 % (25.3 s/epoch)``: the last epoch's test
    accuracy and the mean training time per epoch of each run."""
    return ", ".join(
        f"{run.name} {100 * run.accuracy[-1]:.2f} % ({np.mean(run.seconds):.1f} s/epoch)"
        for run in runs
    )


def plot(runs: Sequence[Run], title: str, path: Path) -> None:
    """The test accuracy per epoch of every run, as a PNG at ``path`` (its folder is made).
    Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 4))
    for run in runs:
        epochs = range(1, len(run.accuracy) + 1)
        axes.plot(epochs, [100 * a for a in run.accuracy], marker="o", label=run.name)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def image_arguments(
    description: str, epochs: int | str, lr: float | str
) -> argparse.ArgumentParser:
    """The options of the image examples (``--data-dir``, ``--epochs``, ``--lr``,
    ``--batch-size``, ``--train-size``, ``--test-size``, ``--seed``, ``--threads``, ``--out``).
    ``epochs`` and ``lr`` are the defaults, or texts saying how the script chooses them (the
    options are then ``None`` when not given)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding mnist/ (unset: $RPUSIM_DATA, else ../shared/datasets)",
    )
    given = {"epochs": epochs, "lr": lr}
    defaults = {k: (None if isinstance(v, str) else v) for k, v in given.items()}
    helps = {k: (f" ({v})" if isinstance(v, str) else "") for k, v in given.items()}
    parser.add_argument(
        "--epochs", type=int, default=defaults["epochs"], help="training epochs" + helps["epochs"]
    )
    parser.add_argument(
        "--lr", type=float, default=defaults["lr"], help="learning rate, mean loss" + helps["lr"]
    )
    parser.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="first N test images")
    parser.add_argument("--seed", type=int, default=0, help="weights, devices and batch order")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="engine threads (results do not depend on it; batches of 10 gain little from more)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG of the accuracy curves (unset: examples/out/<script>.png)",
    )
    return parser


# --- text -----------------------------------------------------------------------------------


class CharLSTM(nn.Module):
    """One-hot characters -> LSTM layers -> linear decoder to next-character logits."""

    def __init__(self, vocabulary: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.lstm = nn.LSTM(vocabulary, hidden, layers)
        self.decoder = nn.Linear(hidden, vocabulary)

    def forward(
        self, chars: Tensor, state: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``chars``: ``(seq, batch)`` indices; returns ``(seq, batch, vocabulary)`` logits and
        the last state."""
        one_hot = nn.functional.one_hot(chars, self.vocabulary).float()
        output, state = self.lstm(one_hot, state)
        return self.decoder(output), state


def streams(text: npt.NDArray[np.int64], batch: int) -> Tensor:
    """The text cut into ``batch`` contiguous streams, ``(length, batch)``; the characters
    past ``length * batch`` are dropped.

    Raises:
        ValueError: a stream would be shorter than 2 characters (one input and its target).
    """
    length = len(text) // batch
    if length < 2:
        raise ValueError(
            f"{len(text)} characters cut into {batch} streams leave {length} per stream; at "
            "least 2 are needed: a longer text or fewer streams"
        )
    return torch.from_numpy(text[: length * batch].reshape(batch, length).T.copy())


def detach(state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """An LSTM state cut from its graph: back-propagation stops there."""
    return state[0].detach(), state[1].detach()


def train_text_epoch(
    model: nn.Module,
    optimizer: AnalogSGD,
    data: Tensor,
    seq_len: int,
    desc: str = "steps",
    disable: bool | None = None,
) -> float:
    """One pass of truncated back-propagation through time over ``data`` (``(length, batch)``
    character indices, from :func:`streams`): windows of ``seq_len`` characters, one optimizer
    step each (mean cross-entropy of the next character), the hidden state carried from one
    window to the next. Returns its time in seconds; ``desc`` and ``disable``: the progress
    bar's (``disable=None``: a bar on a terminal only)."""
    model.train()
    start = time.perf_counter()
    state = None
    for first in _progress(range(0, len(data) - 1, seq_len), desc, "step", disable):
        chars = data[first : first + seq_len + 1]
        optimizer.zero_grad()
        logits, state = model(chars[:-1], state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), chars[1:].flatten())
        torch.autograd.backward(loss)
        optimizer.step()
        state = detach(state)
    return time.perf_counter() - start


def text_test_loss(model: nn.Module, data: Tensor, seq_len: int) -> float:
    """Mean cross-entropy per character (nats) of predicting every next character of ``data``
    (``(length, batch)``), in eval mode, in windows of ``seq_len`` with the state carried."""
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for first in range(0, len(data) - 1, seq_len):
            chars = data[first : first + seq_len + 1]
            logits, state = model(chars[:-1], state)
            targets = chars[1:].flatten()
            total += float(
                nn.functional.cross_entropy(logits.flatten(0, 1), targets, reduction="sum")
            )
            count += targets.numel()
    return total / count


def train_text_and_compare(
    digital: nn.Module,
    train: npt.NDArray[np.int64],
    test: npt.NDArray[np.int64],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seq_len: int,
    log: Log = _print,
) -> list[Run]:
    """Trains ``digital`` (a :class:`CharLSTM`) converted for floating point and for the
    paper's tiles (:func:`float_and_analog`) epoch by epoch on the same windows: the training
    text cut into ``batch_size`` streams, ``seq_len`` characters per step. Measures the test
    loss after every epoch; ``log`` gets a line per epoch with the losses, perplexities and
    times."""
    train_data = streams(train, batch_size)
    test_data = streams(test, batch_size)

    def epoch_of(epoch: int, run: Run) -> None:
        desc = f"epoch {epoch} {run.name}"
        run.seconds.append(train_text_epoch(run.model, run.optimizer, train_data, seq_len, desc))
        run.test_loss.append(text_test_loss(run.model, test_data, seq_len))

    return _compare(
        float_and_analog(digital, lr),
        epochs,
        epoch_of,
        lambda run: (
            f"{run.name} {run.test_loss[-1]:.3f} (perplexity "
            f"{math.exp(run.test_loss[-1]):5.2f}, {run.seconds[-1]:.0f} s)"
        ),
        "test loss",
        log,
    )


def text_summary(runs: Sequence[Run]) -> str:
    """``float loss 1.602 / perplexity 4.96 (51 s/epoch), analog ...``: the last epoch's test
    loss and perplexity and the mean training time per epoch of each run."""
    return ", ".join(
        f"{run.name} loss {run.test_loss[-1]:.3f} / perplexity {math.exp(run.test_loss[-1]):.2f}"
        f" ({np.mean(run.seconds):.0f} s/epoch)"
        for run in runs
    )


# --- the compensation study -----------------------------------------------------------------

COMPENSATION_MEASURES = ("NM", "BM", "UM", "WS")
"""Noise management, bound management, update (with pulse-length) management, weight
scaling."""

WEIGHT_SCALING_OMEGA = 0.6
"""Weight scaling in :func:`compensation_config` maps ``max |W|`` of each array onto 0.6 of the
device range (bounds +-1)."""


def compensation_config(measures: Collection[str] | None) -> RPUConfig:
    """``presets.paper_baseline()`` with exactly ``measures`` on, or
    ``RPUConfig.floating_point()`` for ``None``.

    The measures (:data:`COMPENSATION_MEASURES`): ``NM``, abs-max noise management forward and
    backward (else none); ``BM``, iterative bound management forward (never backward); ``UM``,
    update and pulse-length management; ``WS``, weight scaling with omega
    :data:`WEIGHT_SCALING_OMEGA`, one digital scale per array (the update divides the errors by
    it, lr compensation off: aihwkit's defaults). With ``{"NM", "BM", "UM"}`` it is the preset
    unchanged.

    Raises:
        ValueError: an unknown measure.
    """
    if measures is None:
        return RPUConfig.floating_point()
    unknown = set(measures) - set(COMPENSATION_MEASURES)
    if unknown:
        raise ValueError(f"measures: unknown {sorted(unknown)}; known: {COMPENSATION_MEASURES}")
    config = presets.paper_baseline()
    noise_management = "abs_max" if "NM" in measures else "none"
    config.forward.noise_management = noise_management
    config.backward.noise_management = noise_management
    config.forward.bound_management = "iterative" if "BM" in measures else "none"
    config.backward.bound_management = "none"
    config.update.update_management = "UM" in measures
    config.update.update_bl_management = "UM" in measures
    config.mapping.weight_scaling_omega = WEIGHT_SCALING_OMEGA if "WS" in measures else 0.0
    config.mapping.weight_scaling_columnwise = False
    config.validate()
    return config


# --- CIFAR-10 -------------------------------------------------------------------------------


def vgg8() -> nn.Sequential:
    """VGG-8 for 32x32 RGB images, as in the analog-training literature: conv 3x3 3->48,
    48->48, max-pool 2; 96, 96, max-pool 2; 144, 144, max-pool 2 (padding 1, ReLU; batch norm
    after the second convolution of each block); FC 2304->384, ReLU; FC 384->10."""

    def block(inputs: int, channels: int) -> list[nn.Module]:
        return [
            nn.Conv2d(inputs, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    return nn.Sequential(
        *block(3, 48),
        *block(48, 96),
        *block(96, 144),
        nn.Flatten(),
        nn.Linear(144 * 4 * 4, 384),
        nn.ReLU(),
        nn.Linear(384, 10),
    )


CIFAR_MODES = {
    "float": None,
    "no measures": frozenset({"WS"}),
    "all measures": frozenset(COMPENSATION_MEASURES),
}
"""The runs of the CIFAR-10 example: plain float torch, and the paper's device and periphery
with weight scaling (:func:`compensation_config`; every convolution and linear layer on tiles
of at most 512 x 512, batch norm digital) without and with noise, bound and update
management."""


def cifar_runs(modes: Sequence[str], lr: float) -> list[Run]:
    """:func:`vgg8` for each of ``modes`` (keys of :data:`CIFAR_MODES`), from the same initial
    weights (torch's global generator), each with its :class:`~rpusim.optim.AnalogSGD` at
    ``lr``: ``float`` is the torch model itself, the others are converted to analog tiles."""
    unknown = [m for m in modes if m not in CIFAR_MODES]
    if unknown:
        raise ValueError(f"modes: unknown {unknown}; known: {list(CIFAR_MODES)}")
    digital = vgg8()
    runs = []
    for name in modes:
        measures = CIFAR_MODES[name]
        model = (
            copy.deepcopy(digital)
            if measures is None
            else convert_to_analog(digital, compensation_config(measures))
        )
        runs.append(Run(name, model, AnalogSGD(model.parameters(), lr=lr)))
    return runs


def cifar_subset(n: int, size: int | None) -> npt.NDArray[np.int64]:
    """``size`` of ``n`` image indices (all for ``None``), sorted: a fixed random choice, the
    same for every seed, since the file holds the images sorted by class."""
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:size])


def cifar_order(indices: npt.NDArray[np.int64], seed: int, epoch: int) -> npt.NDArray[np.int64]:
    """The image indices of epoch ``epoch`` in the order of its batches: ``indices`` shuffled
    by a generator seeded from ``(seed, epoch)`` (the same order in a resumed run)."""
    generator = torch.Generator().manual_seed(seed * 7919 + epoch)
    order: npt.NDArray[np.int64] = indices[
        torch.randperm(len(indices), generator=generator).numpy()
    ]
    return order


def cifar_loader(
    images: CifarImages, indices: npt.NDArray[np.int64], batch_size: int, workers: int = 0
) -> DataLoader[Any]:
    """The batches of ``batch_size`` images of ``images`` at ``indices``, in this order, made
    by ``workers`` ``DataLoader`` worker processes (0: in this process)."""
    # CifarImages is a map-style dataset by protocol (__len__, __getitem__): rpusim.data needs
    # no torch.
    dataset = cast("Dataset[Any]", images)
    return DataLoader(dataset, batch_size=batch_size, sampler=indices.tolist(), num_workers=workers)


def loader_accuracy(model: nn.Module, loader: Iterable[tuple[Tensor, Tensor]]) -> float:
    """The share of the images of ``loader`` whose largest output is the label, in eval
    mode."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += len(y)
    return correct / total


def _checkpoint_state(epoch: int, runs: Sequence[Run], setting: dict[str, Any]) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "setting": setting,
        "runs": [
            {
                "name": run.name,
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "accuracy": run.accuracy,
                "seconds": run.seconds,
            }
            for run in runs
        ],
    }


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Writes ``state`` whole or not at all (a temporary file renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: Path, runs: Sequence[Run], setting: dict[str, Any]) -> int:
    """Loads the checkpoint at ``path`` into ``runs``; returns its epoch. ``ValueError`` when
    it was written for other runs or another setting."""
    state = torch.load(path, weights_only=True)
    names = [run["name"] for run in state["runs"]]
    if names != [run.name for run in runs] or state["setting"] != setting:
        raise ValueError(
            f"{path}: a checkpoint of runs {names} with {state['setting']}, not of "
            f"{[run.name for run in runs]} with {setting}; remove it or start without --resume"
        )
    for run, saved in zip(runs, state["runs"]):
        run.model.load_state_dict(saved["model"])
        run.optimizer.load_state_dict(saved["optimizer"])
        run.accuracy[:] = saved["accuracy"]
        run.seconds[:] = saved["seconds"]
    return int(state["epoch"])


def train_cifar(
    runs: list[Run],
    data: Cifar10,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    train_size: int | None = None,
    test_size: int | None = None,
    workers: int = 0,
    checkpoint: Path | None = None,
    resume: bool = False,
    log: Log = _print,
    disable: bool | None = None,
) -> list[Run]:
    """Trains ``runs`` epoch by epoch on the same augmented batches of CIFAR-10 (every batch
    goes to each run in turn; a new order every epoch, drawn from ``(seed, epoch)``, and the
    augmentation of :class:`~rpusim.data.CifarImages`), measuring the test accuracy after every
    epoch. ``log`` gets a line per epoch with accuracy, seconds and images per second of each
    run; a tqdm bar counts the images.

    With ``checkpoint``, the whole state of every run (models, optimizers, what they reached)
    is written there after every epoch; ``resume`` continues from it when it exists, and ends
    bit-identical to a run that was not interrupted.

    Args:
        runs: from :func:`cifar_runs`.
        data: from :func:`rpusim.data.load_cifar10`.
        epochs: the last epoch to train.
        batch_size: images per step.
        seed: the batch orders and the augmentation.
        train_size: N training images, a fixed random choice (``None``: all).
        test_size: N test images, a fixed random choice (``None``: all).
        workers: ``DataLoader`` worker processes that decode and augment the batches.
        checkpoint: where to keep the state after every epoch.
        resume: continue from ``checkpoint``.
        log: where the line per epoch goes.
        disable: the bar's ``disable`` (``None``: a bar on a terminal only).
    """
    train_images = data.train(augment=True, seed=seed)
    train_indices = cifar_subset(len(train_images), train_size)
    test_indices = cifar_subset(len(data.test_labels), test_size)
    n_train = len(train_indices)
    test_loader = cifar_loader(data.test(), test_indices, 500)
    setting = {
        "seed": seed,
        "batch_size": batch_size,
        "train_size": n_train,
        "test_size": len(test_indices),
    }
    first = 1
    if resume and checkpoint is not None and checkpoint.is_file():
        first = _resume(checkpoint, runs, setting) + 1
        if log is not None:
            log(f"resumed from {checkpoint} after epoch {first - 1}")
    for epoch in range(first, epochs + 1):
        train_images.set_epoch(epoch)
        order = cifar_order(train_indices, seed, epoch)
        loader = cifar_loader(train_images, order, batch_size, workers)
        seconds = [0.0] * len(runs)
        for run in runs:
            run.model.train()
        # The bar counts a whole batch for the last one too: its rate is what matters.
        for x, y in _progress(loader, f"epoch {epoch}", "img", disable, batch_size):
            for k, run in enumerate(runs):
                start = time.perf_counter()
                step(run.model, run.optimizer, x, y)
                seconds[k] += time.perf_counter() - start
        for run, spent in zip(runs, seconds):
            run.seconds.append(spent)
            run.accuracy.append(loader_accuracy(run.model, test_loader))
        if log is not None:
            log(
                f"epoch {epoch:3d}: test accuracy "
                + ", ".join(
                    f"{run.name} {100 * run.accuracy[-1]:5.2f} % ({run.seconds[-1]:.0f} s, "
                    f"{n_train / run.seconds[-1]:.0f} img/s)"
                    for run in runs
                )
            )
        if checkpoint is not None:
            _save_checkpoint(checkpoint, _checkpoint_state(epoch, runs, setting))
    return runs

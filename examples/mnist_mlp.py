"""MNIST on a 784-256-128-10 sigmoid MLP: float training against analog tiles with the device
and periphery of Rasch, Gokmen & Haensch (2019).

Both networks start from the same weights and see the same mini-batches. The analog one keeps
every weight matrix on an rpusim tile: the paper's idealised constant-step device (dw_min
0.0002, bounds +-1, 30 % device-to-device and cycle-to-cycle variation), a 7-bit DAC and a
9-bit ADC, output noise 0.06, abs-max noise management, iterative bound management, pulse
trains of up to 31 pulses with update and pulse-length management. The float one computes the
same model in exact float32 arithmetic (RPUConfig.floating_point()). Biases are digital. The
analog configuration is rpusim.presets.paper_baseline().

The paper trains with lr 0.01 on single images; this script uses mini-batches of 10 with the
mean loss and lr 0.1, the same step per image. It prints the test accuracy of both after every
epoch, writes a plot of the curves (examples/out/mnist_mlp.png) and ends with a summary line.
Without MNIST (../shared/datasets/mnist, --data-dir or $RPUSIM_DATA) it says so and trains on
scikit-learn's bundled 8x8 digits instead (a 64-256-128-10 MLP, 20 epochs, lr 0.5).

mnist_lenet.py and compensation_study.py reuse the training loop of this script.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rpusim
import torch
from rpusim import RPUConfig, presets
from rpusim.data import DatasetNotFoundError, ImageDataset, load_digits, load_mnist
from rpusim.nn import convert_to_analog
from rpusim.optim import AnalogSGD
from torch import Tensor, nn
from tqdm import tqdm

OUT_DIR = Path(__file__).resolve().parent / "out"


@dataclass
class Run:
    """One network being trained, and what it reached."""

    name: str
    model: nn.Module
    optimizer: AnalogSGD
    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def as_tensors(images: np.ndarray, labels: np.ndarray, flatten: bool) -> tuple[Tensor, Tensor]:
    """Images as ``(n, pixels)`` or ``(n, 1, height, width)`` float32, labels as int64."""
    x = torch.from_numpy(images)
    x = x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
    return x, torch.from_numpy(labels)


def train_epoch(
    run: Run,
    x: Tensor,
    y: Tensor,
    order: Tensor,
    batch_size: int,
    desc: str,
    disable: bool | None = None,
) -> None:
    """One epoch of mean cross-entropy over the mini-batches of ``order``; appends its time.
    ``disable``: tqdm's (``None``: a progress bar on a terminal only)."""
    run.model.train()
    start = time.perf_counter()
    for first in tqdm(
        range(0, len(order), batch_size), desc=desc, unit="batch", leave=False, disable=disable
    ):
        batch = order[first : first + batch_size]
        run.optimizer.zero_grad()
        nn.functional.cross_entropy(run.model(x[batch]), y[batch]).backward()
        run.optimizer.step()
    run.seconds.append(time.perf_counter() - start)


def test_accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Accuracy on ``(x, y)`` in eval mode, in batches."""
    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(x[i : i + batch_size]).argmax(dim=1) == y[i : i + batch_size]).sum())
            for i in range(0, len(x), batch_size)
        )
    return correct / len(x)


def float_and_analog(digital: nn.Module, lr: float) -> list[tuple[str, nn.Module, AnalogSGD]]:
    """``digital`` converted for floating point and for the paper's tiles (the same initial
    weights for both), each with its optimizer: ``(name, model, optimizer)``."""
    runs = []
    for name, config in (
        ("float", RPUConfig.floating_point()),
        ("analog", presets.paper_baseline()),
    ):
        model = convert_to_analog(digital, config)
        runs.append((name, model, AnalogSGD(model.parameters(), lr=lr)))
    return runs


def train_and_compare(
    digital: nn.Module, data: ImageDataset, args: argparse.Namespace, flatten: bool
) -> list[Run]:
    """Trains ``digital`` converted for floating point and for the paper's tiles, epoch by
    epoch on the same batches, printing the test accuracies."""
    runs = [Run(*run) for run in float_and_analog(digital, args.lr)]
    x_train, y_train = as_tensors(data.train_images, data.train_labels, flatten)
    x_test, y_test = as_tensors(data.test_images, data.test_labels, flatten)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x_train), generator=generator)
        for run in runs:
            train_epoch(run, x_train, y_train, order, args.batch_size, f"epoch {epoch} {run.name}")
            run.accuracy.append(test_accuracy(run.model, x_test, y_test))
        line = ", ".join(
            f"{run.name} {100 * run.accuracy[-1]:5.2f} % ({run.seconds[-1]:5.1f} s)" for run in runs
        )
        print(f"epoch {epoch:3d}: test accuracy {line}", flush=True)
    return runs


def plot(runs: Sequence[Run], title: str, path: Path) -> None:
    """Test accuracy per epoch of every run, as a PNG."""
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


def summary(runs: Sequence[Run]) -> str:
    """``float 97.1 % (8.2 s/epoch), analog 96.0 % (25.3 s/epoch)``: the last epoch's test
    accuracy and the mean training time per epoch of each run."""
    return ", ".join(
        f"{run.name} {100 * run.accuracy[-1]:.2f} % ({np.mean(run.seconds):.1f} s/epoch)"
        for run in runs
    )


def mlp(inputs: int) -> nn.Sequential:
    """The network: ``inputs``-256-128-10, sigmoid hidden layers."""
    return nn.Sequential(
        nn.Linear(inputs, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(), nn.Linear(128, 10)
    )


def common_arguments(
    description: str, epochs: int | str, lr: float | str
) -> argparse.ArgumentParser:
    """The options every MNIST example takes; ``epochs`` and ``lr`` are the defaults, or texts
    saying how the script chooses them (the options are then ``None`` when not given)."""
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


def setup(args: argparse.Namespace) -> None:
    """Seeds and thread counts. torch keeps one thread: its share of the work (activations,
    small products) is tiny, and its OpenMP threads slow down by an order of magnitude when the
    engine or another process keeps a core busy."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rpusim.set_num_threads(args.threads)


def main() -> None:
    parser = common_arguments(
        __doc__.split("\n\n")[0],
        epochs="unset: 3 on MNIST, 20 on the digits",
        lr="unset: 0.1 on MNIST, 0.5 on the digits",
    )
    args = parser.parse_args()
    setup(args)
    try:
        data = load_mnist(args.data_dir)
        epochs, lr = 3, 0.1
    except DatasetNotFoundError as e:
        print(f"{e}\n-> training on scikit-learn's bundled 8x8 digits instead\n")
        data = load_digits()
        epochs, lr = 20, 0.5  # 1347 images: 45 times fewer steps per epoch than MNIST
    args.epochs = epochs if args.epochs is None else args.epochs
    args.lr = lr if args.lr is None else args.lr
    data = data.subset(args.train_size, args.test_size)
    inputs = data.train_images[0].size
    sizes = [inputs, 256, 128, 10]
    print(
        f"{data.name}: {len(data.train_images)} training / {len(data.test_images)} test images;"
        f" MLP {'-'.join(map(str, sizes))} (sigmoid); batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs} epochs; {rpusim.get_num_threads()} engine thread(s)"
    )
    runs = train_and_compare(mlp(inputs), data, args, flatten=True)
    out = args.out or OUT_DIR / "mnist_mlp.png"
    plot(runs, f"{data.name}, MLP {'-'.join(map(str, sizes))}", out)
    print(
        f"summary: {data.name} MLP after {args.epochs} epochs, test accuracy {summary(runs)}; "
        f"plot {out}"
    )


if __name__ == "__main__":
    main()

"""Training on asymmetric devices: plain analog SGD against Tiki-Taka (TTv1) and TTv2, next to
float, for the MNIST MLP or LeNet.

Three of aihwkit's published device fits (rpusim.presets), asymmetric in different ways and
degrees: ReRAM soft bounds (``reram_sb_device``: 1000 states, bounds 1.25 and -0.75, the step
shrinking to 0 at the bound it moves to, very noisy), ECRAM (``ecram_device``: 1000 states,
linear steps shrinking by 12 % (up) and 51 % (down) of themselves across the range) and a
capacitor (``capacitor_device``: 400 states, nearly linear and symmetric on average, but with
6 % device-to-device up/down imbalance and a slow leak); and a device of only ten states
(soft bounds over [-1, 1] with a step of 0.2, ``ten_states``). For each device:

- ``SGD``: the device with aihwkit's preset periphery (``presets.preset_io``,
  ``presets.preset_update``), trained by plain analog SGD;
- ``TTv1``: aihwkit's ``TikiTaka*Preset`` (``presets.tiki_taka(device)``): two copies of the
  device, a fast ``A`` that takes the gradient (``fast_lr = 1``) and a slow ``C`` the network
  reads, one column of ``A`` read and pulsed onto ``C`` after every batch;
- ``TTv2``: the same with a digital buffer between ``A`` and ``C``
  (``BufferedTransferCompound``: only whole thresholds of ``C``'s step are written, one pulse
  each), with aihwkit's ``TTv2*Preset`` settings where rpusim has them: ``fast_lr = 0.5``, a
  transfer after every sample (``units_in_mbatch = False``). Those presets use aihwkit's
  ``ChoppedTransferCompound`` with the choppers off and ``auto_scale``, which rpusim does not
  have yet.

All networks start from the same weights and see the same mini-batches. The script prints the
test accuracy of every run after every epoch, then a table (device x algorithm, the final
accuracy and the training time per epoch), writes the curves (examples/out/asymmetric_study.png,
one panel per device, float in each) and ends with a summary line. ``--quick`` trains the MLP on
the first 6000 training and 1000 test images for 2 epochs. Without MNIST (../shared/datasets/
mnist, --data-dir or $RPUSIM_DATA) the MLP trains on scikit-learn's 8x8 digits instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import rpusim
from rpusim import RPUConfig, presets, training
from rpusim.data import DatasetNotFoundError, ImageDataset, load_digits, load_mnist
from rpusim.devices import BufferedTransferCompound, PulsedDevice, SoftBounds

OUT_DIR = Path(__file__).resolve().parent / "out"


def ten_states() -> SoftBounds:
    """Soft bounds over [-1, 1] with a step of 0.2: ten states, strongly asymmetric everywhere
    but at 0 (SoftBounds' defaults otherwise: 30 % cycle-to-cycle and device-to-device
    variation, no write noise)."""
    return SoftBounds(dw_min=0.2, w_max=1.0, w_min=-1.0)


DEVICES: dict[str, Callable[[], PulsedDevice]] = {
    "ReRAM SB": presets.reram_sb_device,
    "ECRAM": presets.ecram_device,
    "capacitor": presets.capacitor_device,
    "10 states": ten_states,
}
"""The devices of the study, by the name the table gives them."""

ALGORITHMS = ("SGD", "TTv1", "TTv2")


def sgd(device: Callable[[], PulsedDevice]) -> RPUConfig:
    """The device alone with aihwkit's preset periphery, trained by plain analog SGD."""
    return RPUConfig(
        device=device(),
        forward=presets.preset_io(),
        backward=presets.preset_io(backward=True),
        update=presets.preset_update(),
    )


def ttv2(device: Callable[[], PulsedDevice]) -> RPUConfig:
    """TTv2 on two copies of the device: :func:`presets.tiki_taka`'s periphery and transfer
    read, a :class:`~rpusim.devices.BufferedTransferCompound` with its own defaults (one pulse
    per threshold crossed) and aihwkit's TTv2 preset's ``fast_lr = 0.5``."""
    config = presets.tiki_taka(device)
    assert isinstance(config.device, rpusim.devices.TransferCompound)
    config.device = BufferedTransferCompound(
        unit_cell_devices=[device(), device()],
        transfer_forward=config.device.transfer_forward,
        fast_lr=0.5,
        transfer_every=1.0,
        units_in_mbatch=False,
    )
    return config


def configurations(devices: Sequence[str]) -> list[tuple[str, RPUConfig]]:
    """Float first, then every algorithm on every device, named ``"<device> <algorithm>"``."""
    makers = {"SGD": sgd, "TTv1": presets.tiki_taka, "TTv2": ttv2}
    configs = [("float", RPUConfig.floating_point())]
    for name in devices:
        configs += [(f"{name} {a}", makers[a](DEVICES[name])) for a in ALGORITHMS]
    return configs


def plot(runs: Sequence[training.Run], devices: Sequence[str], title: str, path: Path) -> None:
    """One panel per device: float and the device's algorithms, test accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, panels = plt.subplots(1, len(devices), figsize=(4 * len(devices), 3.6), sharey=True)
    panels = panels if len(devices) > 1 else [panels]
    by_name = {run.name: run for run in runs}
    for panel, device in zip(panels, devices):
        for label, run in [("float", by_name["float"])] + [
            (a, by_name[f"{device} {a}"]) for a in ALGORITHMS
        ]:
            epochs = range(1, len(run.accuracy) + 1)
            panel.plot(epochs, [100 * a for a in run.accuracy], marker="o", label=label)
        panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_title(device)
        panel.set_xlabel("epoch")
        panel.grid(True, alpha=0.3)
        panel.legend()
    panels[0].set_ylabel("test accuracy (%)")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(runs: Sequence[training.Run], devices: Sequence[str]) -> list[str]:
    """The final test accuracy (and seconds per epoch) of every algorithm on every device."""
    by_name = {run.name: run for run in runs}

    def cell(run: training.Run) -> str:
        seconds = sum(run.seconds) / len(run.seconds)
        return f"{100 * run.accuracy[-1]:6.2f} % ({seconds:6.1f} s)"

    lines = [
        f"{'device':<10} " + " ".join(f"{a:>20}" for a in ALGORITHMS),
        f"{'float':<10} {cell(by_name['float']):>20}",
    ]
    for device in devices:
        cells = " ".join(f"{cell(by_name[f'{device} {a}']):>20}" for a in ALGORITHMS)
        lines.append(f"{device:<10} {cells}")
    return lines


def load(args: argparse.Namespace) -> tuple[ImageDataset, bool]:
    """The data, and whether it is MNIST (else the bundled digits, for the MLP only)."""
    try:
        return load_mnist(args.data_dir), True
    except DatasetNotFoundError as e:
        if args.model == "lenet":
            raise SystemExit(f"{e}\n(LeNet needs MNIST's 28x28 images)") from None
        print(f"{e}\n-> training on scikit-learn's bundled 8x8 digits instead\n")
        return load_digits(), False


def main() -> None:
    parser = training.image_arguments(
        __doc__.split("\n\n")[0],
        epochs="unset: 3, or 2 with --quick; 20 on the digits",
        lr="unset: 0.1, or 0.5 on the digits",
    )
    parser.add_argument("--model", choices=("mlp", "lenet"), default="mlp", help="the network")
    parser.add_argument(
        "--devices", nargs="+", choices=list(DEVICES), default=list(DEVICES), help="devices"
    )
    parser.add_argument(
        "--quick", action="store_true", help="6000 training / 1000 test images, 2 epochs"
    )
    args = parser.parse_args()
    training.setup(args.seed, args.threads)
    data, mnist = load(args)
    if args.quick:
        args.train_size = args.train_size or 6000
        args.test_size = args.test_size or 1000
    epochs, lr = (2 if args.quick else 3, 0.1) if mnist else (20, 0.5)
    args.epochs = epochs if args.epochs is None else args.epochs
    args.lr = lr if args.lr is None else args.lr
    data = data.subset(args.train_size, args.test_size)
    flatten = args.model == "mlp"
    inputs = data.train_images[0].size
    network = "MLP " + "-".join(map(str, [inputs, 256, 128, 10])) if flatten else "LeNet"
    print(
        f"{data.name}: {len(data.train_images)} training / {len(data.test_images)} test images;"
        f" {network}; batch {args.batch_size}, lr {args.lr}, {args.epochs} epochs; "
        f"{rpusim.get_num_threads()} engine thread(s)"
    )
    runs = training.train_and_compare(
        training.mlp(inputs) if flatten else training.lenet(),
        data,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        flatten=flatten,
        configs=configurations(args.devices),
    )
    print()
    for line in table(runs, args.devices):
        print(line)
    out = args.out or OUT_DIR / "asymmetric_study.png"
    plot(runs, args.devices, f"{data.name}, {network}, {args.epochs} epochs", out)
    final = {run.name: run.accuracy[-1] for run in runs}
    best = {d: max(ALGORITHMS, key=lambda a: final[f"{d} {a}"]) for d in args.devices}
    print(
        f"summary: {data.name} {network} after {args.epochs} epochs, best algorithm per device: "
        + ", ".join(f"{d} {a}" for d, a in best.items())
        + f"; plot {out}"
    )


if __name__ == "__main__":
    main()

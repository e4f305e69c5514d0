"""CIFAR-10 on VGG-8: plain float torch against analog tiles with the device and periphery of
Rasch, Gokmen & Haensch (2019) and weight scaling (omega 0.6), without and with the
compensation measures (noise, bound and update management).

The network (rpusim.training.vgg8): conv 3x3 3->48, 48->48, max-pool; 96, 96, max-pool; 144,
144, max-pool (batch norm after the second convolution of each block, digital); FC
2304->384->10, ReLU. On analog tiles every convolution and linear layer is a tile of at most
512 x 512 (aihwkit's default: a layer with more inputs, such as the first FC layer with 2304 or
the convolutions of 96 and 144 channels with 864 and 1296, is a grid of arrays), each
convolution one engine call per batch over all its patches. All runs start from the same
weights and see the same augmented batches (random crop with padding 4, horizontal flip). The
script prints the test accuracy, seconds and images per second of each run after every epoch,
writes a plot of the curves (examples/out/cifar10_vgg8.png) and a checkpoint after every epoch
(examples/out/cifar10_vgg8.pt; --resume continues from it, bit-identically), and ends with a
summary line. CIFAR-10 is read from ../shared/datasets/cifar10, --data-dir or $RPUSIM_DATA,
decoded once and cached (--cache-dir).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rpusim import training
from rpusim.data import load_cifar10

OUT_DIR = Path(__file__).resolve().parent / "out"
QUICK = {"train_size": 1024, "test_size": 500, "epochs": 2}


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="directory holding cifar10/")
    parser.add_argument("--cache-dir", type=Path, default=None, help="for the decoded images")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate, mean loss")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument(
        "--train-size", type=int, default=None, help="N training images (a fixed random choice)"
    )
    parser.add_argument(
        "--test-size", type=int, default=None, help="N test images (a fixed random choice)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short run: {QUICK['train_size']} training and {QUICK['test_size']} test "
        f"images, {QUICK['epochs']} epochs (options given explicitly still apply)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=list(training.CIFAR_MODES),
        choices=list(training.CIFAR_MODES),
        help="the runs",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights, devices, batches")
    parser.add_argument("--threads", type=int, default=2, help="engine threads")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--checkpoint", type=Path, default=OUT_DIR / "cifar10_vgg8.pt")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "cifar10_vgg8.png", help="PNG")
    return parser


def main() -> None:
    parser = arguments()
    args = parser.parse_args()
    if args.quick:  # the quick sizes, unless given
        given = parser.parse_args([])
        for key, value in QUICK.items():
            if getattr(args, key) == getattr(given, key):
                setattr(args, key, value)
    training.setup(args.seed, args.threads)
    data = load_cifar10(args.data_dir, args.cache_dir)
    n_train = min(args.train_size or len(data.train_labels), len(data.train_labels))
    n_test = min(args.test_size or len(data.test_labels), len(data.test_labels))
    print(
        f"CIFAR-10 from {data.source} (decoded images: {data.cache}): {n_train} training / "
        f"{n_test} test images; VGG-8; batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs} epochs; runs: {', '.join(args.modes)}; {args.threads} engine threads"
    )
    runs = training.train_cifar(
        training.cifar_runs(args.modes, args.lr),
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        train_size=n_train,
        test_size=n_test,
        workers=args.workers,
        checkpoint=args.checkpoint,
        resume=args.resume,
    )
    training.plot(runs, "CIFAR-10, VGG-8", args.out)
    print(
        f"summary: CIFAR-10 VGG-8 after {args.epochs} epochs, test accuracy "
        f"{training.summary(runs)}; plot {args.out}; checkpoint {args.checkpoint}"
    )


if __name__ == "__main__":
    main()

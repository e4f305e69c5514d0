"""MNIST on LeNet: float training against analog tiles with the device and periphery of
Rasch, Gokmen & Haensch (2019).

The network: conv 5x5 1->16, tanh, max-pool 2; conv 5x5 16->32, tanh, max-pool 2; FC 512->128,
tanh; FC 128->10. Every convolution is one tile call per mini-batch, with every image patch a
sample (im2col), so its update is one pulsed update over all patches of the batch. The device,
the periphery and the training loop are those of mnist_mlp.py; both networks start from the
same weights and see the same mini-batches. The script prints the test accuracy of both after
every epoch, writes a plot of the curves (examples/out/mnist_lenet.png) and ends with a summary
line. MNIST is read from ../shared/datasets/mnist, --data-dir or $RPUSIM_DATA.
"""

from __future__ import annotations

from mnist_mlp import OUT_DIR, common_arguments, plot, setup, summary, train_and_compare
from rpusim.data import load_mnist
from torch import nn


def lenet() -> nn.Sequential:
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


def main() -> None:
    args = common_arguments(__doc__.split("\n\n")[0], epochs=1, lr=0.1).parse_args()
    setup(args)
    data = load_mnist(args.data_dir).subset(args.train_size, args.test_size)
    print(
        f"{data.name}: {len(data.train_images)} training / {len(data.test_images)} test images; "
        f"LeNet 16c5-p2-32c5-p2-128-10 (tanh); batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs} epochs"
    )
    runs = train_and_compare(lenet(), data, args, flatten=False)
    out = args.out or OUT_DIR / "mnist_lenet.png"
    plot(runs, f"{data.name}, LeNet", out)
    print(
        f"summary: {data.name} LeNet after {args.epochs} epochs, test accuracy {summary(runs)}; "
        f"plot {out}"
    )


if __name__ == "__main__":
    main()

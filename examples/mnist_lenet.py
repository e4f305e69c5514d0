"""MNIST on LeNet: float training against analog tiles with the device and periphery of
Rasch, Gokmen & Haensch (2019).

The network (rpusim.training.lenet): conv 5x5 1->16, tanh, max-pool 2; conv 5x5 16->32, tanh,
max-pool 2; FC 512->128, tanh; FC 128->10. Every convolution is one tile call per mini-batch,
with every image patch a sample (im2col), so its update is one pulsed update over all patches
of the batch. The device, the periphery and the training loop (rpusim.training) are those of
mnist_mlp.py; both networks start from the same weights and see the same mini-batches. The
script prints the test accuracy of both after every epoch, writes a plot of the curves
(examples/out/mnist_lenet.png) and ends with a summary line. MNIST is read from
../shared/datasets/mnist, --data-dir or $RPUSIM_DATA.
"""

from __future__ import annotations

from pathlib import Path

from rpusim import training
from rpusim.data import load_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"


def main() -> None:
    args = training.image_arguments(__doc__.split("\n\n")[0], epochs=1, lr=0.1).parse_args()
    training.setup(args.seed, args.threads)
    data = load_mnist(args.data_dir).subset(args.train_size, args.test_size)
    print(
        f"{data.name}: {len(data.train_images)} training / {len(data.test_images)} test images; "
        f"LeNet 16c5-p2-32c5-p2-128-10 (tanh); batch {args.batch_size}, lr {args.lr}, "
        f"{args.epochs} epochs"
    )
    runs = training.train_and_compare(
        training.lenet(),
        data,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        flatten=False,
    )
    out = args.out or OUT_DIR / "mnist_lenet.png"
    training.plot(runs, f"{data.name}, LeNet", out)
    print(
        f"summary: {data.name} LeNet after {args.epochs} epochs, test accuracy "
        f"{training.summary(runs)}; plot {out}"
    )


if __name__ == "__main__":
    main()

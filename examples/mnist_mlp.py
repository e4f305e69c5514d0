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

The networks, the training loop and the plot are in rpusim.training, shared with
mnist_lenet.py, lstm_text.py and compensation_study.py.
"""

from __future__ import annotations

from pathlib import Path

import rpusim
from rpusim import training
from rpusim.data import DatasetNotFoundError, load_digits, load_mnist

OUT_DIR = Path(__file__).resolve().parent / "out"


def main() -> None:
    parser = training.image_arguments(
        __doc__.split("\n\n")[0],
        epochs="unset: 3 on MNIST, 20 on the digits",
        lr="unset: 0.1 on MNIST, 0.5 on the digits",
    )
    args = parser.parse_args()
    training.setup(args.seed, args.threads)
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
    runs = training.train_and_compare(
        training.mlp(inputs),
        data,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        flatten=True,
    )
    out = args.out or OUT_DIR / "mnist_mlp.png"
    training.plot(runs, f"{data.name}, MLP {'-'.join(map(str, sizes))}", out)
    print(
        f"summary: {data.name} MLP after {args.epochs} epochs, test accuracy "
        f"{training.summary(runs)}; plot {out}"
    )


if __name__ == "__main__":
    main()

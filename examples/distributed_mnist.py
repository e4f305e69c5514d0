"""MNIST MLP trained data-parallel on analog tiles, one process per rank, with torch.distributed.

Start it with torchrun, which sets up the process group's environment:

    torchrun --nproc-per-node 2 examples/distributed_mnist.py --epochs 2

On several machines, run the same command on each with the rendezvous options, e.g. on two
machines of two processes each: ``torchrun --nnodes 2 --nproc-per-node 2 --rdzv-backend c10d
--rdzv-endpoint HOST:29400 --rdzv-id mnist examples/distributed_mnist.py`` (HOST: a machine
all of them reach). The network is the examples' 784-256-128-10 sigmoid MLP on the paper's
device and periphery (rpusim.presets.paper_baseline()), wrapped in
rpusim.distributed.AnalogDataParallel: every step, each rank trains on its share of the global
batch, the digital gradients are averaged and the (x, d) pairs of every tile gathered, so that
every rank applies the same pulsed update and the replicas stay bit-identical. After every
epoch rank 0 prints the test accuracy and the time per step, the replicas are compared by a
hash of their state (check_replicas; every rank runs the test, which also advances the tiles'
random counters), and rank 0 writes a checkpoint that --resume continues
from (every rank loads it). Backend: gloo on CPUs (nccl where CUDA is present and --backend
nccl is given). MNIST is read from ../shared/datasets/mnist, --data-dir or $RPUSIM_DATA;
without it, the bundled digits.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from rpusim import presets, training
from rpusim.data import DatasetNotFoundError, load_digits, load_mnist
from rpusim.distributed import AnalogDataParallel
from rpusim.nn import convert_to_analog
from rpusim.optim import AnalogSGD
from torch import nn

OUT_DIR = Path(__file__).resolve().parent / "out"


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="directory holding mnist/")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate, mean loss")
    parser.add_argument("--global-batch", type=int, default=64, help="samples per step, all ranks")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="first N test images")
    parser.add_argument("--seed", type=int, default=0, help="weights, devices, batch order")
    parser.add_argument("--threads", type=int, default=1, help="engine threads per rank")
    parser.add_argument("--backend", default="gloo", help="torch.distributed backend")
    parser.add_argument("--timeout", type=float, default=120, help="collective timeout, s")
    parser.add_argument("--checkpoint", type=Path, default=OUT_DIR / "distributed_mnist.pt")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    return parser


def main() -> None:
    args = arguments().parse_args()
    dist.init_process_group(args.backend, timeout=timedelta(seconds=args.timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.global_batch % world:
        raise SystemExit(f"--global-batch {args.global_batch} must be a multiple of {world} ranks")
    share = args.global_batch // world
    training.setup(args.seed, args.threads)
    try:
        data = load_mnist(args.data_dir)
    except DatasetNotFoundError:
        data = load_digits()
    data = data.subset(args.train_size, args.test_size)
    x_train, y_train = training.as_tensors(data.train_images, data.train_labels, flatten=True)
    x_test, y_test = training.as_tensors(data.test_images, data.test_labels, flatten=True)

    model = convert_to_analog(training.mlp(x_train.shape[1]), presets.paper_baseline())
    first_epoch = 1
    if args.resume and args.checkpoint.is_file():
        saved = torch.load(args.checkpoint, weights_only=True)
        model.load_state_dict(saved["model"])
        first_epoch = saved["epoch"] + 1
    wrapper = AnalogDataParallel(model)
    optimizer = AnalogSGD(wrapper.parameters(), lr=args.lr)
    if rank == 0:
        print(
            f"{data.name}: {len(x_train)} training / {len(x_test)} test images; MLP "
            f"{x_train.shape[1]}-256-128-10 on the paper's tiles; {world} ranks ({args.backend}) "
            f"of {share} samples, global batch {args.global_batch}; lr {args.lr}"
            + (f"; resumed after epoch {first_epoch - 1}" if first_epoch > 1 else ""),
            flush=True,
        )
    for epoch in range(first_epoch, args.epochs + 1):
        order = torch.randperm(
            len(x_train), generator=torch.Generator().manual_seed(args.seed * 7919 + epoch)
        )
        wrapper.train()
        start = time.perf_counter()
        steps = 0
        for first in range(0, len(order) - args.global_batch + 1, args.global_batch):
            batch = order[first + rank * share : first + (rank + 1) * share]
            optimizer.zero_grad()
            nn.functional.cross_entropy(wrapper(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
            steps += 1
        seconds = time.perf_counter() - start
        # Every rank tests (a test pass advances the tiles' random counters as well).
        accuracy = training.test_accuracy(model, x_test, y_test)
        digest = wrapper.check_replicas()
        gathered, wrapper.bytes_gathered = wrapper.bytes_gathered, 0
        if rank == 0:
            print(
                f"epoch {epoch:3d}: test accuracy {100 * accuracy:5.2f} %, {steps} steps, "
                f"{1000 * seconds / max(steps, 1):.1f} ms and {gathered // max(steps, 1)} bytes "
                f"of (x, d) gathered per step; replicas identical (state {digest[:12]})",
                flush=True,
            )
            args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"epoch": epoch, "model": model.state_dict()}, args.checkpoint)
        dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

"""Benchmark: the MNIST MLP of examples/mnist_mlp.py trained with rpusim and with IBM's aihwkit
on the same configuration, side by side (test accuracy per epoch, seconds per epoch).

The network: 784-256-128-10, sigmoid, digital biases, mean cross-entropy over mini-batches of
10, SGD with lr 0.1 (the paper's 0.01 per image), all three weight matrices on analog tiles
with the paper's device and periphery:

    rpusim (presets.paper_baseline())            aihwkit 1.1 (SingleRPUConfig)
    devices.ConstantStep(dw_min=0.0002,          ConstantStepDevice(dw_min=0.0002,
      dw_min_dtod=0.3, dw_min_std=0.3,             dw_min_dtod=0.3, dw_min_std=0.3,
      up_down_dtod=0, w_max=1, w_min=-1,           up_down_dtod=0, w_max=1, w_min=-1,
      w_max_dtod=0.3, w_min_dtod=0.3)              w_max_dtod=0.3, w_min_dtod=0.3)
    IOParameters() forward: 7-bit DAC,           IOParameters() (the same defaults:
      9-bit ADC over +-12, out_noise 0.06,         inp_res 1/126, out_res 1/510, out_bound 12,
      NM abs_max, BM iterative                     out_noise 0.06, ABS_MAX, ITERATIVE)
    backward: the same, BM none                  backward: bound_management NONE
    UpdateParameters(desired_bl=31, UM, UBLM)    UpdateParameters(desired_bl=31, UM, UBLM)
    (one tile per layer, digital bias)           MappingParameter(digital_bias=True,
                                                   weight_scaling_omega=0, max_input_size=0,
                                                   max_output_size=0): one tile per layer

Both start from the same initial weights (torch's nn.Linear initialisation with --seed) and
see the same mini-batches. The two libraries draw their random numbers differently, so the
accuracies agree statistically, not bit for bit.

Run it with the project's environment; it trains rpusim in-process at each --threads count and
aihwkit in a subprocess of the bench environment (bench/.venv, with aihwkit and torch; create
it with `python3 -m venv bench/.venv && bench/.venv/bin/pip install torch==2.10.0
aihwkit==1.1.0`). "Threads" are the simulator's: rpusim's engine threads (torch keeps one
thread, as in the examples), and for aihwkit, which has no knob of its own, OMP_NUM_THREADS and
torch's threads. aihwkit is imported only in that subprocess: it is no dependency of rpusim.
Results are also written to bench/results/aihwkit_mnist_mlp.json.

    .venv/bin/python bench/aihwkit_mnist_mlp.py --epochs 1 --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

BENCH_DIR = Path(__file__).resolve().parent
SIZES = (784, 256, 128, 10)
DEVICE = {
    "dw_min": 0.0002,
    "dw_min_dtod": 0.3,
    "dw_min_std": 0.3,
    "up_down": 0.0,
    "up_down_dtod": 0.0,
    "w_max": 1.0,
    "w_min": -1.0,
    "w_max_dtod": 0.3,
    "w_min_dtod": 0.3,
}
"""The paper's idealised device, in the field names both libraries share."""


def mlp(linear: Callable[[int, int], Any], weights: list[np.ndarray]) -> nn.Sequential:
    """The sigmoid MLP with ``linear(in, out)`` layers set to ``weights`` (W0, b0, W1, ...)."""
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layer = linear(n_in, n_out)
        layer.set_weights(torch.from_numpy(weights[2 * k]), torch.from_numpy(weights[2 * k + 1]))
        layers += [layer, nn.Sigmoid()]
    return nn.Sequential(*layers[:-1])


def train(
    model: nn.Module, optimizer: torch.optim.Optimizer, data: dict[str, Any], epochs: int
) -> dict[str, list[float]]:
    """Trains on the stored batch orders; test accuracy and training seconds per epoch."""
    x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    x_test, y_test = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    batch = int(data["batch_size"])
    accuracy, seconds = [], []
    for epoch in range(epochs):
        order = torch.from_numpy(data["orders"][epoch])
        model.train()
        start = time.perf_counter()
        for first in range(0, len(order), batch):
            rows = order[first : first + batch]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x_train[rows]), y_train[rows]).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        model.eval()
        with torch.no_grad():
            predictions = torch.cat(
                [model(x_test[i : i + 1000]).argmax(dim=1) for i in range(0, len(x_test), 1000)]
            )
        accuracy.append(float((predictions == y_test).float().mean()))
        print(f"  epoch {epoch + 1}: {100 * accuracy[-1]:.2f} % in {seconds[-1]:.1f} s", flush=True)
    return {"accuracy": accuracy, "seconds": seconds}


def train_rpusim(data: dict[str, Any], epochs: int, threads: int) -> dict[str, list[float]]:
    import rpusim
    from rpusim import presets
    from rpusim.nn import AnalogLinear
    from rpusim.optim import AnalogSGD

    config = presets.paper_baseline()
    assert {k: getattr(config.device, k) for k in DEVICE} == DEVICE
    rpusim.set_num_threads(threads)
    torch.set_num_threads(1)  # as the examples: torch's share is tiny (see mnist_mlp.setup)
    torch.manual_seed(1)  # tile seeds
    model = mlp(lambda i, o: AnalogLinear(i, o, rpu_config=config), list(data["weights"]))
    return train(model, AnalogSGD(model.parameters(), lr=float(data["lr"])), data, epochs)


def train_aihwkit(data: dict[str, Any], epochs: int, threads: int) -> dict[str, list[float]]:
    from aihwkit.nn import AnalogLinear
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.parameters import (
        IOParameters,
        MappingParameter,
        UpdateParameters,
    )
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    config = SingleRPUConfig(
        device=ConstantStepDevice(**DEVICE),
        forward=IOParameters(
            noise_management=NoiseManagementType.ABS_MAX,
            bound_management=BoundManagementType.ITERATIVE,
        ),
        backward=IOParameters(
            noise_management=NoiseManagementType.ABS_MAX,
            bound_management=BoundManagementType.NONE,
        ),
        update=UpdateParameters(desired_bl=31, update_management=True, update_bl_management=True),
        mapping=MappingParameter(
            digital_bias=True, weight_scaling_omega=0.0, max_input_size=0, max_output_size=0
        ),
    )
    model = mlp(lambda i, o: AnalogLinear(i, o, rpu_config=config), list(data["weights"]))
    optimizer = AnalogSGD(model.parameters(), lr=float(data["lr"]))
    optimizer.regroup_param_groups(model)
    return train(model, optimizer, data, epochs)


def prepare(args: argparse.Namespace, path: Path) -> None:
    """MNIST, the initial weights and the batch orders, stored for both libraries."""
    from rpusim.data import load_mnist

    mnist = load_mnist(args.data_dir).subset(args.train_size, args.test_size)
    torch.manual_seed(args.seed)
    weights = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        layer = nn.Linear(n_in, n_out)
        weights += [layer.weight.detach().numpy(), layer.bias.detach().numpy()]
    generator = np.random.default_rng(args.seed)
    n_train = len(mnist.train_images)
    np.savez(
        path,
        x_train=mnist.train_images.reshape(n_train, -1),
        y_train=mnist.train_labels,
        x_test=mnist.test_images.reshape(len(mnist.test_images), -1),
        y_test=mnist.test_labels,
        weights=np.array(weights, dtype=object),
        orders=np.stack([generator.permutation(n_train) for _ in range(args.epochs)]),
        batch_size=args.batch_size,
        lr=args.lr,
    )


def load(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=True) as stored:
        return {k: stored[k] for k in stored.files}


def run_aihwkit(
    args: argparse.Namespace, path: Path, threads: int
) -> dict[str, list[float]] | None:
    """Runs this script as the aihwkit worker under the bench environment's Python."""
    python = Path(args.aihwkit_python)
    if not python.exists():
        print(f"aihwkit: skipped, {python} is missing (see this script's docstring)")
        return None
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [str(python), __file__, "--worker", str(path), "--epochs", str(args.epochs)]
    command += ["--threads", str(threads)]
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.rstrip().splitlines()
    print("\n".join(lines[:-1]))
    if result.returncode != 0 or not lines:
        print(f"aihwkit: the worker failed (exit {result.returncode})")
        return None
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="directory holding mnist/")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (mean loss)")
    parser.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="first N test images")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and batch order")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    parser.add_argument(
        "--aihwkit-python",
        default=str(BENCH_DIR / ".venv" / "bin" / "python"),
        help="the Python of the environment with aihwkit",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:  # inside the bench environment: train with aihwkit only
        result = train_aihwkit(load(args.worker), args.epochs, args.threads[0])
        print(json.dumps(result))
        return

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mnist_mlp.npz"
        prepare(args, path)
        data = load(path)
        print(
            f"MNIST {len(data['x_train'])} / {len(data['x_test'])} images, MLP "
            f"{'-'.join(map(str, SIZES))} sigmoid, batch {args.batch_size}, lr {args.lr}, "
            f"{args.epochs} epoch(s)"
        )
        for threads in args.threads:
            print(f"rpusim, {threads} thread(s)", flush=True)
            results[f"rpusim {threads}"] = train_rpusim(data, args.epochs, threads)
            print(f"aihwkit, {threads} thread(s)", flush=True)
            aihwkit = run_aihwkit(args, path, threads)
            if aihwkit is not None:
                results[f"aihwkit {threads}"] = aihwkit

    print("\nimplementation, threads   test accuracy per epoch (%)   s/epoch   vs aihwkit")
    for name, result in results.items():
        seconds = float(np.mean(result["seconds"]))
        reference = results.get(f"aihwkit {name.split()[1]}")
        ratio = f"{float(np.mean(reference['seconds'])) / seconds:.1f}x" if reference else "-"
        accuracy = " ".join(f"{100 * a:.2f}" for a in result["accuracy"])
        print(f"{name:<24}  {accuracy:<28}  {seconds:7.1f}   {ratio}")
    (BENCH_DIR / "results").mkdir(exist_ok=True)
    (BENCH_DIR / "results" / "aihwkit_mnist_mlp.json").write_text(
        json.dumps({"arguments": {k: str(v) for k, v in vars(args).items()}, **results}, indent=1)
    )


if __name__ == "__main__":
    main()

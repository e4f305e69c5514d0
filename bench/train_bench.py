"""Benchmark: training epochs on MNIST in rpusim, in plain float torch and in IBM's aihwkit, side
by side, and the fixed cost of one step of rpusim's Python layer.

Workloads (--workloads; all by default):
* mlp10: the MLP of examples/mnist_mlp.py, 784-256-128-10 sigmoid, mini-batches of 10;
* mlp64: the same MLP, mini-batches of 64;
* lenet10: the LeNet of examples/mnist_lenet.py (conv 5x5 1->16, tanh, max-pool 2; conv 5x5
  16->32, tanh, max-pool 2; FC 512->128, tanh; FC 128->10), mini-batches of 10;
* layer1x1: one AnalogLinear(1, 1) (paper_baseline()) forward, backward, AnalogSGD.step and
  zero_grad on a 1x1 input against the same with torch.nn.Linear(1, 1) and torch.optim.SGD
  (both at --lr), in microseconds per step: the median over --layer-repeats runs of
  --layer-iterations steps. This fixed cost of the Python layer bounds what small mini-batches
  can reach.
Each training workload minimises the mean cross-entropy with SGD at --lr (0.1), biases
digital, in three implementations:

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
    rpusim.nn.AnalogLinear / AnalogConv2d        MappingParameter(digital_bias=True,
      (max_input_size = max_output_size = 0:       weight_scaling_omega=0, max_input_size=0,
      one tile per layer, digital bias),           max_output_size=0): one tile per layer;
      rpusim.optim.AnalogSGD
                                                 aihwkit's AnalogLinear / AnalogConv2d and
                                                 AnalogSGD with regroup_param_groups

and "float torch": torch.nn.Linear / Conv2d with torch.optim.SGD. All three start from the same
initial weights (torch's default initialisation from --seed, drawn once) and see the same
mini-batches; the analog libraries draw their random numbers differently, so their accuracies
agree statistically, not bit for bit.

For every workload and --threads count it prints, per implementation, the seconds per epoch
(the training loop only, evaluation excluded), samples per second and the test accuracy after
the last epoch (eval mode, batches of 1000), then two ratios of seconds per epoch: "aihwkit /
rpusim", how many times faster rpusim is, and "rpusim / float torch", how many times slower
rpusim is than float. On a subset (--train-size) it also prints the seconds per epoch
extrapolated to all 60 000 training images. Threads: rpusim.set_num_threads(N) with torch at
one thread for rpusim (as the examples), torch at N threads for float torch, and
OMP_NUM_THREADS=MKL_NUM_THREADS=N with torch at N threads for aihwkit. At the end (on Linux) it
says how much of the CPUs other processes used during the run. Results also go to
bench/results/train_bench.json.

aihwkit runs in a subprocess of the bench environment (bench/.venv: `python3 -m venv
bench/.venv && bench/.venv/bin/pip install torch==2.10.0 aihwkit==1.1.0`; --aihwkit-python
names another), this script as its worker; without that Python its rows are skipped. aihwkit is
imported only there: it is no dependency of rpusim. No assertions: the numbers are for reading.

    .venv/bin/python bench/train_bench.py --threads 1 2
    .venv/bin/python bench/train_bench.py --workloads mlp64 layer1x1 --train-size 6000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from tile_bench import cpu_marks, print_other_load
from torch import Tensor, nn

if TYPE_CHECKING:
    from rpusim import RPUConfig

BENCH_DIR = Path(__file__).resolve().parent
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

Linear = Callable[[int, int], nn.Module]
"""``linear(in_features, out_features)``: a linear layer of one implementation."""
Conv = Callable[[int, int, int], nn.Module]
"""``conv(in_channels, out_channels, kernel_size)``: a 2-D convolution of one implementation."""


def mlp(linear: Linear, conv: Conv) -> nn.Sequential:
    """784-256-128-10, sigmoid hidden layers (``conv`` is unused: the signature of MODELS)."""
    return nn.Sequential(
        linear(784, 256), nn.Sigmoid(), linear(256, 128), nn.Sigmoid(), linear(128, 10)
    )


def mlp_relu(linear: Linear, conv: Conv) -> nn.Sequential:
    """784-256-128-10, ReLU hidden layers (bench/aihwkit_compare.py)."""
    return nn.Sequential(linear(784, 256), nn.ReLU(), linear(256, 128), nn.ReLU(), linear(128, 10))


def lenet(linear: Linear, conv: Conv) -> nn.Sequential:
    """The LeNet of examples/mnist_lenet.py."""
    return nn.Sequential(
        conv(1, 16, 5),
        nn.Tanh(),
        nn.MaxPool2d(2),
        conv(16, 32, 5),
        nn.Tanh(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        linear(32 * 4 * 4, 128),
        nn.Tanh(),
        linear(128, 10),
    )


MODELS: dict[str, tuple[Callable[[Linear, Conv], nn.Sequential], str]] = {
    "mlp": (mlp, "MLP 784-256-128-10 sigmoid"),
    "mlp_relu": (mlp_relu, "MLP 784-256-128-10 ReLU"),
    "lenet": (lenet, "LeNet 16c5-p2-32c5-p2-128-10 tanh"),
}
"""Each network with its description; the MLPs read flat images, LeNet 1x28x28 ones."""


@dataclass(frozen=True)
class Workload:
    """A network and its mini-batch size."""

    model: str
    """A key of MODELS."""
    batch_size: int


WORKLOADS = {
    "mlp10": Workload("mlp", 10),
    "mlp64": Workload("mlp", 64),
    "lenet10": Workload("lenet", 10),
}
LAYER = "layer1x1"
IMPLEMENTATIONS = ("rpusim", "float torch", "aihwkit")


@dataclass
class Run:
    """One workload trained by one implementation at one thread count."""

    workload: str
    implementation: str
    threads: int
    seconds: list[float]
    """Training seconds of each epoch."""
    accuracy: list[float]
    """Test accuracy after each epoch."""


def build(model: str, linear: Linear, conv: Conv, weights: list[Tensor]) -> nn.Sequential:
    """The network ``model`` of ``linear`` and ``conv`` layers, set to ``weights`` (the weight
    and the bias of every layer in order): analog layers through their ``set_weights``."""
    network = MODELS[model][0](linear, conv)
    layers = [m for m in network if any(True for _ in m.parameters())]
    for k, layer in enumerate(layers):
        weight, bias = weights[2 * k], weights[2 * k + 1]
        if hasattr(layer, "set_weights"):
            layer.set_weights(weight, bias)
        else:
            with torch.no_grad():
                layer.weight.copy_(weight)
                layer.bias.copy_(bias)
    return network


def analog_network(
    linear: Any, conv: Any, config: Any, data: dict[str, Any], workload: Workload
) -> nn.Sequential:
    """The workload's network of ``linear`` and ``conv`` analog layer classes (rpusim's or
    aihwkit's), every layer with ``config``, set to the stored initial weights."""
    return build(
        workload.model,
        lambda i, o: linear(i, o, rpu_config=config),
        lambda i, o, k: conv(i, o, k, rpu_config=config),
        data["weights"][workload.model],
    )


def images(x: Tensor, model: str) -> Tensor:
    """``(n, 28, 28)`` images as the network reads them: flat for the MLPs, one channel for
    LeNet."""
    return x.unsqueeze(1) if model == "lenet" else x.reshape(len(x), -1)


def train(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: dict[str, Any],
    workload: Workload,
) -> dict[str, list[float]]:
    """Trains on the stored batch orders, one epoch each; training seconds and test accuracy
    per epoch."""
    x_train, y_train = images(data["x_train"], workload.model), data["y_train"]
    x_test, y_test = images(data["x_test"], workload.model), data["y_test"]
    batch = workload.batch_size
    seconds, accuracy = [], []
    for order in data["orders"]:
        network.train()
        start = time.perf_counter()
        for first in range(0, len(order), batch):
            rows = order[first : first + batch]
            optimizer.zero_grad()
            nn.functional.cross_entropy(network(x_train[rows]), y_train[rows]).backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        network.eval()
        with torch.no_grad():
            correct = sum(
                int((network(x_test[i : i + 1000]).argmax(dim=1) == y_test[i : i + 1000]).sum())
                for i in range(0, len(x_test), 1000)
            )
        accuracy.append(correct / len(x_test))
    return {"seconds": seconds, "accuracy": accuracy}


def rpusim_config() -> RPUConfig:
    """presets.paper_baseline() with one tile per layer (as the aihwkit side), checked against
    the device aihwkit is given."""
    from rpusim import presets

    config = presets.paper_baseline()
    config.mapping.max_input_size = config.mapping.max_output_size = 0
    device = {k: getattr(config.device, k) for k in DEVICE}
    if device != DEVICE:
        raise SystemExit(f"paper_baseline()'s device {device} is not the aihwkit one {DEVICE}")
    return config


def train_rpusim(data: dict[str, Any], workload: Workload, threads: int) -> dict[str, list[float]]:
    import rpusim
    from rpusim.nn import AnalogConv2d, AnalogLinear
    from rpusim.optim import AnalogSGD

    config = rpusim_config()
    rpusim.set_num_threads(threads)
    torch.set_num_threads(1)  # as the examples: torch's share is small (see mnist_mlp.setup)
    torch.manual_seed(data["seed"])  # tile seeds
    network = analog_network(AnalogLinear, AnalogConv2d, config, data, workload)
    optimizer = AnalogSGD(network.parameters(), lr=data["lr"])
    return train(network, optimizer, data, workload)


def train_torch(data: dict[str, Any], workload: Workload, threads: int) -> dict[str, list[float]]:
    torch.set_num_threads(threads)
    network = build(workload.model, nn.Linear, nn.Conv2d, data["weights"][workload.model])
    optimizer = torch.optim.SGD(network.parameters(), lr=data["lr"])
    return train(network, optimizer, data, workload)


def aihwkit_config(
    noise_management: bool = True,
    bound_management: bool = True,
    update_management: bool = True,
    weight_scaling_omega: float = 0.0,
    max_input_size: int = 0,
    max_output_size: int = 0,
) -> Any:
    """aihwkit's SingleRPUConfig of presets.paper_baseline() (inside the bench environment):
    the paper's device, the paper's periphery with abs-max noise management (forward and
    backward) and iterative bound management (forward) unless switched off, update and
    pulse-length management unless switched off, digital biases, weight scaling per tile with
    ``weight_scaling_omega`` (0: off) and tiles of at most ``max_output_size x max_input_size``
    (0: one tile per layer)."""
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.parameters import (
        IOParameters,
        MappingParameter,
        UpdateParameters,
    )
    from aihwkit.simulator.parameters.enums import BoundManagementType, NoiseManagementType

    nm = NoiseManagementType.ABS_MAX if noise_management else NoiseManagementType.NONE
    bm = BoundManagementType.ITERATIVE if bound_management else BoundManagementType.NONE
    return SingleRPUConfig(
        device=ConstantStepDevice(**DEVICE),
        forward=IOParameters(noise_management=nm, bound_management=bm),
        backward=IOParameters(noise_management=nm, bound_management=BoundManagementType.NONE),
        update=UpdateParameters(
            desired_bl=31,
            update_management=update_management,
            update_bl_management=update_management,
        ),
        mapping=MappingParameter(
            digital_bias=True,
            weight_scaling_omega=weight_scaling_omega,
            weight_scaling_columnwise=False,
            max_input_size=max_input_size,
            max_output_size=max_output_size,
        ),
    )


def aihwkit_network(config: Any, data: dict[str, Any], workload: Workload) -> nn.Sequential:
    """The workload's network of aihwkit's analog layers with ``config``, set to the stored
    initial weights."""
    from aihwkit.nn import AnalogConv2d, AnalogLinear

    return analog_network(AnalogLinear, AnalogConv2d, config, data, workload)


def aihwkit_optimizer(network: nn.Module, lr: float) -> torch.optim.Optimizer:
    """aihwkit's AnalogSGD over ``network`` (its analog tiles in their own param groups)."""
    from aihwkit.optim import AnalogSGD

    optimizer = AnalogSGD(network.parameters(), lr=lr)
    optimizer.regroup_param_groups(network)
    return optimizer  # type: ignore[no-any-return]


def train_aihwkit(data: dict[str, Any], workload: Workload, threads: int) -> dict[str, list[float]]:
    """Inside the bench environment (OMP_NUM_THREADS and MKL_NUM_THREADS set by the caller)."""
    torch.set_num_threads(threads)
    torch.manual_seed(data["seed"])
    network = aihwkit_network(aihwkit_config(), data, workload)
    return train(network, aihwkit_optimizer(network, data["lr"]), data, workload)


def run_aihwkit(
    args: argparse.Namespace, path: Path, workload: str, threads: int
) -> dict[str, list[float]] | None:
    """Runs this script as the aihwkit worker under the bench environment's Python; None (with
    a message) if that Python is missing or the worker fails."""
    python = Path(args.aihwkit_python)
    if not python.is_file():
        print(f"  aihwkit: skipped, no Python at {python} (see this script's docstring)")
        return None
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [str(python), __file__, "--worker", str(path), "--workloads", workload]
    command += ["--threads", str(threads)]
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        print(f"  aihwkit: the worker under {python} failed (exit {result.returncode})")
        return None
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def step_microseconds(
    layer: nn.Module, optimizer: torch.optim.Optimizer, iterations: int, repeats: int
) -> float:
    """Median over ``repeats`` runs (after one warm-up run) of the time of one step of
    ``layer`` on a 1x1 input: forward, backward, optimizer step and zero_grad."""
    x = torch.ones(1, 1)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(iterations):
            layer(x).sum().backward()
            optimizer.step()
            optimizer.zero_grad()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times[1:]) / iterations


def layer_costs(args: argparse.Namespace, threads: int) -> dict[str, float]:
    """The layer1x1 workload: microseconds per step of rpusim's and torch's Linear(1, 1)."""
    import rpusim
    from rpusim.nn import AnalogLinear
    from rpusim.optim import AnalogSGD

    rpusim.set_num_threads(threads)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    analog = AnalogLinear(1, 1, rpu_config=rpusim_config())
    rpusim_us = step_microseconds(
        analog,
        AnalogSGD(analog.parameters(), lr=args.lr),
        args.layer_iterations,
        args.layer_repeats,
    )
    torch.set_num_threads(threads)
    linear = nn.Linear(1, 1)
    torch_us = step_microseconds(
        linear,
        torch.optim.SGD(linear.parameters(), lr=args.lr),
        args.layer_iterations,
        args.layer_repeats,
    )
    print(f"  rpusim {rpusim_us:.1f} us/step, torch {torch_us:.1f} us/step", flush=True)
    return {"threads": threads, "rpusim_us": rpusim_us, "torch_us": torch_us}


def print_layer(layer: dict[str, float], args: argparse.Namespace) -> None:
    """The layer1x1 rows at one thread count, and their ratio."""
    print(
        f"\n{LAYER}, {layer['threads']} thread(s): one step of a Linear(1, 1) on a 1x1 input "
        f"(forward, backward, optimizer step, zero_grad), median of {args.layer_repeats} runs "
        f"of {args.layer_iterations} steps\n"
        f"rpusim AnalogLinear + AnalogSGD   {layer['rpusim_us']:8.1f} us\n"
        f"torch nn.Linear + SGD             {layer['torch_us']:8.1f} us\n"
        f"rpusim / torch                    {layer['rpusim_us'] / layer['torch_us']:8.2f}"
    )


def prepare(args: argparse.Namespace, models: set[str]) -> dict[str, Any]:
    """MNIST (``args.data_dir``, the first ``args.train_size`` / ``args.test_size`` images),
    the initial weights of every network of ``models`` (keys of MODELS) and ``args.epochs``
    batch orders, all from ``args.seed``, for every implementation."""
    from rpusim.data import DatasetNotFoundError, load_mnist

    try:
        mnist = load_mnist(args.data_dir)
    except DatasetNotFoundError as e:
        raise SystemExit(str(e)) from e
    subset = mnist.subset(args.train_size, args.test_size)
    weights = {}
    for model in sorted(models):
        torch.manual_seed(args.seed)
        network = MODELS[model][0](nn.Linear, nn.Conv2d)
        weights[model] = [p.detach().clone() for p in network.parameters()]
    n_train = len(subset.train_images)
    generator = torch.Generator().manual_seed(args.seed)
    return {
        "x_train": torch.from_numpy(subset.train_images),
        "y_train": torch.from_numpy(subset.train_labels),
        "x_test": torch.from_numpy(subset.test_images),
        "y_test": torch.from_numpy(subset.test_labels),
        "full_train_size": len(mnist.train_images),
        "weights": weights,
        "orders": [torch.randperm(n_train, generator=generator) for _ in range(args.epochs)],
        "lr": args.lr,
        "seed": args.seed,
    }


def print_table(
    runs: dict[tuple[str, str, int], Run], data: dict[str, Any], threads: int, name: str
) -> None:
    """The rows of one workload at one thread count, and the two ratios."""
    workload = WORKLOADS[name]
    n_train, full = len(data["x_train"]), data["full_train_size"]
    extrapolate = n_train != full
    print(
        f"\n{name}: {MODELS[workload.model][1]}, batch {workload.batch_size}, {threads} thread(s)"
    )
    header = f"{'implementation':<14} {'s/epoch':>9} {'samples/s':>11} {'test acc %':>11}"
    if extrapolate:
        header += f"  {f's/epoch at {full} images (extrapolated)':>40}"
    print(header)
    seconds: dict[str, float] = {}
    for implementation in IMPLEMENTATIONS:
        run = runs.get((name, implementation, threads))
        if run is None:
            print(f"{implementation:<14} {'-':>9}")
            continue
        seconds[implementation] = statistics.mean(run.seconds)
        line = (
            f"{implementation:<14} {seconds[implementation]:9.3f} "
            f"{n_train / seconds[implementation]:11.0f} {100 * run.accuracy[-1]:11.2f}"
        )
        if extrapolate:
            line += f"  {seconds[implementation] * full / n_train:40.1f}"
        print(line)

    def ratio(a: str, b: str) -> str:
        return f"{seconds[a] / seconds[b]:.2f}" if a in seconds and b in seconds else "-"

    print(
        f"aihwkit / rpusim {ratio('aihwkit', 'rpusim')} (rpusim's speed-up), "
        f"rpusim / float torch {ratio('rpusim', 'float torch')} (rpusim's slow-down)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=[*WORKLOADS, LAYER],
        metavar="NAME",
        default=[*WORKLOADS, LAYER],
        help=f"what to time, of {', '.join([*WORKLOADS, LAYER])}",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding mnist/ (unset: $RPUSIM_DATA, else ../shared/datasets)",
    )
    parser.add_argument("--epochs", type=int, default=1, help="training epochs")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (mean loss)")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="first N test images")
    parser.add_argument("--seed", type=int, default=0, help="weights, tiles and batch order")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1], help="thread counts, each run in turn"
    )
    parser.add_argument(
        "--layer-iterations", type=int, default=3000, help=f"{LAYER}: steps per timed run"
    )
    parser.add_argument("--layer-repeats", type=int, default=7, help=f"{LAYER}: timed runs")
    parser.add_argument(
        "--aihwkit-python",
        type=Path,
        default=BENCH_DIR / ".venv" / "bin" / "python",
        help="the Python of the environment with aihwkit ('' to skip aihwkit)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:  # inside the bench environment: one workload, aihwkit only
        data = torch.load(args.worker, weights_only=True)
        workload = WORKLOADS[args.workloads[0]]
        print(json.dumps(train_aihwkit(data, workload, args.threads[0])))
        return

    import rpusim

    training = [name for name in args.workloads if name in WORKLOADS]
    data = prepare(args, {WORKLOADS[name].model for name in training})
    print(
        f"MNIST {len(data['x_train'])} training / {len(data['x_test'])} test images, "
        f"{args.epochs} epoch(s), lr {args.lr}, seed {args.seed}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
        f"torch {torch.__version__}, rpusim {rpusim.__version__}; aihwkit: {args.aihwkit_python}"
    )
    trainers = {"rpusim": train_rpusim, "float torch": train_torch}
    runs: dict[tuple[str, str, int], Run] = {}
    layers: list[dict[str, float]] = []
    start = cpu_marks()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_bench.pt"
        torch.save(data, path)
        for threads in args.threads:
            for name in training:
                print(f"{name}, {threads} thread(s):", flush=True)
                results = {
                    implementation: trainer(data, WORKLOADS[name], threads)
                    for implementation, trainer in trainers.items()
                }
                aihwkit = run_aihwkit(args, path, name, threads)
                if aihwkit is not None:
                    results["aihwkit"] = aihwkit
                for implementation, result in results.items():
                    runs[name, implementation, threads] = Run(
                        name, implementation, threads, **result
                    )
                    print(
                        f"  {implementation}: {statistics.mean(result['seconds']):.3f} s/epoch, "
                        f"{100 * result['accuracy'][-1]:.2f} %",
                        flush=True,
                    )
            if LAYER in args.workloads:
                print(f"{LAYER}, {threads} thread(s):", flush=True)
                layers.append(layer_costs(args, threads))

    for threads in args.threads:
        for name in training:
            print_table(runs, data, threads, name)

    for layer in layers:
        print_layer(layer, args)
    print_other_load(start)

    (BENCH_DIR / "results").mkdir(exist_ok=True)
    out = BENCH_DIR / "results" / "train_bench.json"
    out.write_text(
        json.dumps(
            {
                "arguments": {
                    k: str(v) if isinstance(v, Path) else v
                    for k, v in vars(args).items()
                    if k != "worker"
                },
                "command": sys.argv,
                "train_size": len(data["x_train"]),
                "full_train_size": data["full_train_size"],
                "training": [asdict(run) for run in runs.values()],
                LAYER: layers,
            },
            indent=1,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()

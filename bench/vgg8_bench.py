"""Benchmark: one training step of VGG-8 on a batch of 128 CIFAR-10 images, layer by layer and
operation by operation, in rpusim, in plain float torch and in IBM's aihwkit 1.1.

The network is rpusim.training.vgg8 (conv 3x3 3->48, 48->48, max-pool; 96, 96, max-pool;
144, 144, max-pool; batch norm after the second convolution of each block, digital; FC
2304->384->10, ReLU) with the initial weights torch draws from --seed, the same in all three.
The configuration is that of examples/cifar10_vgg8.py in its "all measures" mode
(rpusim.training.cifar_runs):

    rpusim: compensation_config(all measures)     aihwkit 1.1: SingleRPUConfig
    devices.ConstantStep, the paper's device      ConstantStepDevice(dw_min=0.0002,
      (dw_min 0.0002, 30 % d2d and c2c spread,      dw_min_dtod=0.3, dw_min_std=0.3,
      bounds +-1 with 30 % d2d spread)              w_max=+-1, w_max_dtod=w_min_dtod=0.3)
    forward: 7-bit DAC, 9-bit ADC over +-12,      IOParameters(): the same defaults,
      out_noise 0.06, NM abs_max, BM iterative      ABS_MAX, ITERATIVE
    backward: the same, BM none                   backward: BoundManagementType.NONE
    UM and UBLM, desired_bl 31                    UpdateParameters(desired_bl=31, UM, UBLM)
    weight scaling omega 0.6, one scale per       MappingParameter(weight_scaling_omega=0.6,
      array, no lr compensation                     weight_scaling_columnwise=False,
    arrays of at most 512 x 512, digital biases     max_input_size=512, max_output_size=512,
                                                    digital_bias=True)
    rpusim.nn.convert_to_analog, AnalogSGD        aihwkit.nn.conversion.convert_to_analog,
                                                    AnalogSGD with regroup_param_groups

aihwkit's other mapping defaults are its own and rpusim's alike: weight_scaling_lr_compensation
False, learn_out_scaling False, out_scaling_columnwise False; its tile split is the same
(ceil(size / 512) parts, the first ones one larger: the convolutions with 864 and 1296 inputs
are 2 and 3 arrays, the FC layer with 2304 inputs 5). On the CPU aihwkit's convolutions unfold
the patches with torch.nn.functional.unfold (use_indexed only on CUDA), as rpusim does; both
send the patches of the whole batch to the tiles in one call. float torch: the same VGG-8 with
torch.nn.Conv2d / Linear and torch.optim.SGD. The learning rate is 0.05 (the example's).

The batch: --batch-size images (128) of the CIFAR-10 training set, a fixed random choice,
normalised, not augmented (rpusim.data.load_cifar10). Two measurements per implementation:

* the whole step: zero_grad, forward, cross-entropy, backward, optimizer step of the whole
  network on the batch, the median of --steps steps after one warm-up step;
* each convolution and linear layer alone, on the input and output gradient it had in the
  network (captured in one whole step): forward, backward (the input gradient, or, for the
  first layer, whose input needs none, only what the layer keeps for the update) and update
  (the optimizer step of that layer alone: the pulsed update of its tiles, the SGD step of its
  weights in float torch), each the median of --layer-repeats repeats after one warm-up.

The digital layers (ReLU, max-pool, batch norm, the loss) are in the whole step only; "other"
is the whole step minus the layers' sum. Threads: rpusim.set_num_threads(N) with torch at one
thread (as the examples), torch at N threads for float torch, OMP_NUM_THREADS=MKL_NUM_THREADS=N
and torch at N threads for aihwkit (--threads, default 2). It prints the medians in
milliseconds and two ratios: aihwkit / rpusim (how many times faster rpusim is) and rpusim /
float torch. Results also go to bench/results/vgg8_bench.json.

aihwkit runs in a subprocess of the bench environment (bench/.venv, see bench/README.md;
--aihwkit-python names another Python), this script as its worker, given the digital network
(a pickled torch module) and the batch; without that Python its columns are empty. aihwkit
takes about 10 s per step: the defaults (3 steps, 3 repeats per layer) take some minutes.
No assertions: the numbers are for reading, and on a loaded machine they are indicative only
(the script says how much of the CPUs other processes used). With --threads 1, --clock cpu
times the process's CPU time instead of the wall clock: what another process takes from the
cores is then not counted (what it takes from the shared caches and memory still is).

    .venv/bin/python bench/vgg8_bench.py
    .venv/bin/python bench/vgg8_bench.py --threads 1 --clock cpu
    .venv/bin/python bench/vgg8_bench.py --steps 5 --layer-repeats 5 --threads 2
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tile_bench import cpu_marks, print_other_load
from torch import Tensor, nn
from train_bench import DEVICE, aihwkit_config, aihwkit_optimizer

BENCH_DIR = Path(__file__).resolve().parent
LR = 0.05
OPERATIONS = ("forward", "backward", "update")
IMPLEMENTATIONS = ("rpusim", "float torch", "aihwkit")

Optimizer = Callable[[nn.Module], torch.optim.Optimizer]
"""Makes the optimizer of a network or of one of its layers."""

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""--clock: the wall clock, or the CPU time of the whole process (every thread), which other
processes on a loaded machine do not inflate as much (with one thread only: see main)."""
clock = CLOCKS["wall"]


def layer_indices(network: nn.Sequential) -> list[int]:
    """The positions of the convolutions and linear layers of the digital network (the
    conversions to analog layers keep them)."""
    return [k for k, m in enumerate(network) if isinstance(m, (nn.Conv2d, nn.Linear))]


def layer_names(network: nn.Sequential, batch: Tensor) -> list[str]:
    """``conv1 3->48 (131072 patches)``: the layers of the digital network with the rows each
    sends to its tiles per batch (patches for a convolution, samples for a linear layer)."""
    names, x, conv, fc = [], batch, 0, 0
    for module in network:
        y = module(x)
        if isinstance(module, nn.Conv2d):
            conv += 1
            rows = y.shape[0] * y.shape[2] * y.shape[3]
            inputs = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            names.append(f"conv{conv} {inputs}->{module.out_channels} ({rows} patches)")
        elif isinstance(module, nn.Linear):
            fc += 1
            names.append(f"fc{fc} {module.in_features}->{module.out_features} ({len(y)} rows)")
        x = y
    return names


def step(network: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    optimizer.zero_grad()
    nn.functional.cross_entropy(network(x), y).backward()
    optimizer.step()


def whole_steps(
    network: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, steps: int
) -> list[float]:
    """The seconds of ``steps`` whole steps, after one warm-up step."""
    times = []
    for _ in range(steps + 1):
        start = clock()
        step(network, optimizer, x, y)
        times.append(clock() - start)
    return times[1:]


def captured(
    network: nn.Sequential, indices: list[int], x: Tensor, y: Tensor
) -> dict[int, tuple[Tensor, Tensor]]:
    """The input and the output gradient of the layers at ``indices`` in one forward and
    backward pass of the whole network (no update)."""
    seen: dict[int, list[Tensor]] = {}
    handles = []
    for k in indices:

        def keep(module: nn.Module, args: tuple[Tensor, ...], out: Tensor, k: int = k) -> None:
            seen[k] = [args[0].detach()]
            out.register_hook(lambda grad: seen[k].append(grad.detach()))

        handles.append(network[k].register_forward_hook(keep))
    network.train()
    nn.functional.cross_entropy(network(x), y).backward()
    for handle in handles:
        handle.remove()
    return {k: (v[0], v[1]) for k, v in seen.items()}


def layer_times(
    layer: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    grad: Tensor,
    input_grad: bool,
    repeats: int,
) -> dict[str, list[float]]:
    """Forward, backward and update of one layer on ``x`` and the output gradient ``grad``,
    ``repeats`` times after one warm-up; seconds per operation."""
    times: dict[str, list[float]] = {op: [] for op in OPERATIONS}
    for _ in range(repeats + 1):
        optimizer.zero_grad()
        inputs = x.clone().requires_grad_(input_grad)
        start = clock()
        out = layer(inputs)
        forward = clock()
        out.backward(grad)
        backward = clock()
        optimizer.step()
        update = clock()
        for op, seconds in zip(
            OPERATIONS, (forward - start, backward - forward, update - backward)
        ):
            times[op].append(seconds)
    return {op: values[1:] for op, values in times.items()}


def measure(
    network: nn.Sequential, make_optimizer: Optimizer, job: dict[str, Any]
) -> dict[str, Any]:
    """The whole steps of ``network``, then its layers one by one on the inputs and output
    gradients of one more pass (the weights of the network after the whole steps)."""
    x, y = job["x"], job["y"]
    steps = whole_steps(network, make_optimizer(network), x, y, job["steps"])
    indices = layer_indices(job["network"])
    layers = [
        layer_times(network[k], make_optimizer(network[k]), inputs, grad, k != 0, job["repeats"])
        for k, (inputs, grad) in captured(network, indices, x, y).items()
    ]
    return {"steps": steps, "layers": layers}


# --- the three implementations --------------------------------------------------------------


def rpusim_times(job: dict[str, Any], threads: int) -> dict[str, Any]:
    import rpusim
    from rpusim import training
    from rpusim.nn import convert_to_analog
    from rpusim.optim import AnalogSGD

    config = training.compensation_config(training.CIFAR_MODES["all measures"])
    device = {k: getattr(config.device, k) for k in DEVICE}
    if device != DEVICE or config.mapping.max_input_size != 512:
        raise SystemExit(f"the CIFAR-10 configuration {config} is not the one aihwkit is given")
    rpusim.set_num_threads(threads)
    torch.set_num_threads(1)
    torch.manual_seed(job["seed"])  # tile seeds
    network = convert_to_analog(job["network"], config)
    return measure(network, lambda m: AnalogSGD(m.parameters(), lr=LR), job)


def torch_times(job: dict[str, Any], threads: int) -> dict[str, Any]:
    import copy

    torch.set_num_threads(threads)
    network = copy.deepcopy(job["network"])
    return measure(network, lambda m: torch.optim.SGD(m.parameters(), lr=LR), job)


def aihwkit_times(job: dict[str, Any], threads: int) -> dict[str, Any]:
    """Inside the bench environment (OMP_NUM_THREADS and MKL_NUM_THREADS set by the caller)."""
    from aihwkit.nn.conversion import convert_to_analog

    torch.set_num_threads(threads)
    torch.manual_seed(job["seed"])
    config = aihwkit_config(weight_scaling_omega=0.6, max_input_size=512, max_output_size=512)
    network = convert_to_analog(job["network"], config)
    return measure(network, lambda m: aihwkit_optimizer(m, LR), job)


def run_aihwkit(args: argparse.Namespace, path: Path) -> dict[str, Any] | None:
    """This script as the aihwkit worker under the bench environment's Python; None (with a
    message) if that Python is missing or the worker fails."""
    python = Path(args.aihwkit_python)
    if not python.is_file():
        print(f"aihwkit: skipped, no Python at {python} (see bench/README.md)")
        return None
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    command = [str(python), __file__, "--worker", str(path), "--threads", threads]
    command += ["--clock", args.clock]
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        print(f"aihwkit: the worker under {python} failed (exit {result.returncode})")
        return None
    return json.loads(lines[-1])  # type: ignore[no-any-return]


# --- the table ------------------------------------------------------------------------------


def milliseconds(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def print_table(
    results: dict[str, dict[str, Any]], names: list[str], args: argparse.Namespace
) -> None:
    """A row per layer and operation, then the layers' sum, the rest and the whole step: the
    median of every implementation (ms) and the two ratios."""

    def cell(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def row(label: str, values: dict[str, float]) -> str:
        rpu, flt, aih = (values.get(i) for i in IMPLEMENTATIONS)
        faster = None if rpu is None or aih is None else aih / rpu
        slower = None if rpu is None or flt is None else rpu / flt
        return (
            f"{label:42s} {cell(rpu):>10s} {cell(flt):>10s} {cell(aih):>10s} "
            f"{cell(faster, 2):>9s} {cell(slower, 1):>9s}"
        )

    print(
        f"\nVGG-8, batch {args.batch_size}, {args.threads} thread(s): medians in ms of "
        f"{args.clock} time (whole step: "
        f"{args.steps} steps; layers: {args.layer_repeats} repeats)\n"
        f"{'':42s} {'rpusim':>10s} {'float':>10s} {'aihwkit':>10s} {'aih/rpu':>9s} "
        f"{'rpu/float':>9s}"
    )
    sums = dict.fromkeys(results, 0.0)
    for index, name in enumerate(names):
        for op in OPERATIONS:
            values = {i: milliseconds(r["layers"][index][op]) for i, r in results.items()}
            for i, v in values.items():
                sums[i] += v
            print(row(f"{name} {op}", values))
    whole = {i: milliseconds(r["steps"]) for i, r in results.items()}
    print(row("layers' sum", sums))
    print(row("other (digital layers, loss)", {i: whole[i] - sums[i] for i in whole}))
    print(row("whole step", whole))


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    from rpusim import training
    from rpusim.data import load_cifar10

    data = load_cifar10(args.data_dir)
    images = data.train(augment=False)
    chosen = training.cifar_subset(len(images), args.batch_size)
    torch.manual_seed(args.seed)
    network = training.vgg8()
    return {
        "network": network,
        "x": torch.from_numpy(np.stack([images[int(i)][0] for i in chosen])),
        "y": torch.tensor([images[int(i)][1] for i in chosen]),
        "seed": args.seed,
        "steps": args.steps,
        "repeats": args.layer_repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="directory holding cifar10/")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step")
    parser.add_argument("--steps", type=int, default=3, help="timed whole steps")
    parser.add_argument("--layer-repeats", type=int, default=3, help="timed repeats per layer")
    parser.add_argument("--threads", type=int, default=2, help="threads of every implementation")
    parser.add_argument("--seed", type=int, default=0, help="weights and tile seeds")
    parser.add_argument(
        "--aihwkit-python",
        type=Path,
        default=BENCH_DIR / ".venv" / "bin" / "python",
        help="the Python of the environment with aihwkit ('' to skip aihwkit)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="what is timed: the wall clock, or the process's CPU time (one thread only)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clock == "cpu" and args.threads != 1:
        parser.error("--clock cpu sums the CPU time of all threads: use it with --threads 1")
    global clock
    clock = CLOCKS[args.clock]

    if args.worker is not None:  # inside the bench environment: aihwkit only
        job = torch.load(args.worker, weights_only=False)  # our own file: a torch module
        print(json.dumps(aihwkit_times(job, args.threads)))
        return

    import rpusim

    job = prepare(args)
    names = layer_names(job["network"], job["x"])
    print(
        f"VGG-8 on {args.batch_size} CIFAR-10 images, {args.threads} thread(s), seed "
        f"{args.seed}; {platform.machine()}, {os.cpu_count()} CPUs, python "
        f"{platform.python_version()}, torch {torch.__version__}, rpusim {rpusim.__version__}; "
        f"aihwkit: {args.aihwkit_python}",
        flush=True,
    )
    start = cpu_marks()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vgg8_bench.pt"
        torch.save(job, path)
        for name, times in (("rpusim", rpusim_times), ("float torch", torch_times)):
            print(f"{name} ...", flush=True)
            results[name] = times(job, args.threads)
        print("aihwkit ...", flush=True)
        aihwkit = run_aihwkit(args, path)
        if aihwkit is not None:
            results["aihwkit"] = aihwkit
    print_table(results, names, args)
    print_other_load(start)

    (BENCH_DIR / "results").mkdir(exist_ok=True)
    out = BENCH_DIR / "results" / "vgg8_bench.json"
    document = {
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "command": sys.argv,
        "layers": names,
        "results": results,
    }
    out.write_text(json.dumps(document, indent=1))
    print(f"results: {out}")


if __name__ == "__main__":
    main()

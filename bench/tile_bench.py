"""Benchmark: rpusim AnalogTile forward, backward and update against float32 numpy GEMMs.

For square tiles of each size and a batch of 100, prints the median time (over --repeats calls,
after warm-up) of AnalogTile.forward, .backward and .update with the default RPUConfig (the
paper's periphery: 7-bit DAC, 9-bit ADC, output noise, noise and bound management; update
management with pulse-length management, constant-step device) and its ratio to the float32
numpy GEMM of the same shape measured in the same run: x @ W.T, d @ W and d.T @ x.

Inputs: x uniform in [-1, 1], weights uniform in [-1/sqrt(n), 1/sqrt(n)], update learning rate
0.01 on the default device (dw_min 0.001). The cost of an update grows with the number of pulses,
so it is measured for two error sizes:
* "update": d uniform in [-0.1, 0.1], like back-propagated errors in training: the largest pair
  asks for lr * max|x| * max|d| / dw_min = 1 pulse (BL = 1), a device gets 0.25 pulses per sample
  on average;
* "update x10": d uniform in [-1, 1]: 10 pulses for the largest pair (BL = 10), 2.5 per device
  and sample.
For both updates the table adds the pulses the engine applied per call (counted by the tile,
`AnalogTile.pulses`: a pulse is one coincidence of an x and a d pulse, one device step) and the
update's time per pulse.
With aihwkit 1.1 in the bench environment (bench/.venv: `python3 -m venv bench/.venv &&
bench/.venv/bin/pip install torch==2.10.0 aihwkit==1.1.0`; --aihwkit-python names another),
the same operations on an aihwkit AnalogTile with the same configuration (SingleRPUConfig with
ConstantStepDevice() and aihwkit's default IOParameters and UpdateParameters, which are
rpusim's defaults; backward bound management off, as rpusim's default) and the same arrays are
timed in a subprocess of that environment, and the table adds aihwkit's medians and the ratio
aihwkit / rpusim. aihwkit is imported only there: it is no dependency of rpusim.

A second table times the same two updates on the compound device models (two ConstantStep()
devices each, the models' defaults otherwise: TransferCompound and BufferedTransferCompound
read and transfer one column after every batch, but with fast_lr = 0, so that the fast device
takes the update's learning rate and the pulses of the plain tile; aihwkit's default fast_lr = 1
would be a hundred times the rate here) against the update of the plain tile above: what a
compound costs relative to plain SGD on the same array (--no-compounds skips it).

No assertions: the numbers are for reading. Run `python bench/tile_bench.py --help`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

BATCH = 100
LR = 0.01
WARMUP_CALLS = 2
WARMUP_SECONDS = 0.3
BENCH_DIR = Path(__file__).resolve().parent


def median_seconds(fn, repeats: int) -> tuple[float, int]:
    """The median time of ``repeats`` calls of ``fn`` after a warm-up of at least
    WARMUP_CALLS calls and WARMUP_SECONDS seconds (an idle core of a virtual machine takes a
    while to run at full speed again), and the number of calls made in all."""
    calls, start = 0, time.perf_counter()
    while calls < WARMUP_CALLS or time.perf_counter() - start < WARMUP_SECONDS:
        fn()
        calls += 1
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), calls + repeats


def arrays(np, n: int) -> tuple:
    """x, d and W of size ``n``, the same in every process (see the module docstring)."""
    rng = np.random.default_rng(n)
    x = rng.uniform(-1, 1, (BATCH, n)).astype(np.float32)
    d = rng.uniform(-0.1, 0.1, (BATCH, n)).astype(np.float32)
    w = (rng.uniform(-1, 1, (n, n)) / np.sqrt(n)).astype(np.float32)
    return x, d, w


def operations(tile, x, d, w) -> list:
    """(name, analog call, float32 numpy call of the same shape, what the numpy call computes)."""
    d_dense = 10 * d
    return [
        ("forward", lambda: tile.forward(x), lambda: x @ w.T, "x @ W.T"),
        ("backward", lambda: tile.backward(d), lambda: d @ w, "d @ W"),
        ("update", lambda: tile.update(x, d, LR), lambda: d.T @ x, "d.T @ x"),
        ("update x10", lambda: tile.update(x, d_dense, LR), lambda: d_dense.T @ x, "d.T @ x"),
    ]


class AihwkitTile:
    """An aihwkit tile with rpusim's call signatures, for :func:`operations`."""

    def __init__(self, tile) -> None:
        self.tile = tile

    def forward(self, x):
        return self.tile.forward(x)

    def backward(self, d):
        return self.tile.backward(d)

    def update(self, x, d, lr: float) -> None:
        self.tile.set_learning_rate(lr)
        self.tile.update(x, d)


def aihwkit_medians(sizes: list[int], repeats: int, threads: int) -> dict[str, dict[str, float]]:
    """Inside the bench environment: the medians (s) of every operation on aihwkit tiles,
    ``{size: {operation: seconds}}``."""
    import numpy as np
    import torch
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.parameters import IOParameters
    from aihwkit.simulator.parameters.enums import BoundManagementType
    from aihwkit.simulator.tiles import AnalogTile

    if threads > 0:
        torch.set_num_threads(threads)
    config = SingleRPUConfig(
        device=ConstantStepDevice(),
        backward=IOParameters(bound_management=BoundManagementType.NONE),
    )
    medians: dict[str, dict[str, float]] = {}
    for n in sizes:
        x, d, w = (torch.from_numpy(a) for a in arrays(np, n))
        tile = AihwkitTile(AnalogTile(n, n, config))
        tile.tile.set_weights(w)
        medians[str(n)] = {
            name: median_seconds(call, repeats)[0] for name, call, _, _ in operations(tile, x, d, w)
        }
    return medians


def run_aihwkit(python: Path, args: argparse.Namespace) -> dict[str, dict[str, float]] | None:
    """Runs this script as the aihwkit worker under ``python``; None (with a message) if that
    environment is missing or the worker fails."""
    if not python.exists():
        print(f"aihwkit: no comparison, {python} is missing (see this script's docstring)")
        return None
    command = [str(python), __file__, "--aihwkit-worker", "--repeats", str(args.repeats)]
    command += ["--threads", str(args.threads), "--sizes", *map(str, args.sizes)]
    result = subprocess.run(
        command, env=os.environ.copy(), stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        print(f"aihwkit: no comparison, the worker under {python} failed ({result.returncode})")
        return None
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent busy since boot (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the aihwkit worker)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_marks() -> tuple[float | None, float, float]:
    """The machine's busy CPU time, this process's and the wall clock, now: the start of a run
    for :func:`print_other_load`."""
    return busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()


def print_other_load(start: tuple[float | None, float, float]) -> None:
    """Other processes compete for the cores (and BLAS threads wait for each other): prints how
    much of the CPUs they took since ``start`` (:func:`cpu_marks`), on Linux."""
    busy0, own0, wall0 = start
    busy1 = busy_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        others = max(0.0, (busy1 - busy0) - (own_cpu_seconds() - own0))
        share = others / ((time.perf_counter() - wall0) * (os.cpu_count() or 1))
        note = " -- the machine was busy, these timings are unreliable" if share > 0.1 else ""
        print(f"\nother processes used {share:.0%} of the CPUs during the run{note}")


def blas_line(np) -> str:
    """numpy's BLAS as numpy reports it, plus the runtime thread count when threadpoolctl is
    installed (it comes with scikit-learn)."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        line = blas.get("openblas configuration") or f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: no mode="dicts"
        line = "unknown (numpy.show_config() has the details)"
    try:
        from threadpoolctl import threadpool_info

        threads = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        if threads:
            line += f"; BLAS threads {threads[0]}"
    except ImportError:
        pass
    return line


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="threads for the engine and for numpy's BLAS (0: each library's default)",
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per operation")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square tile sizes"
    )
    parser.add_argument(
        "--aihwkit-python",
        type=Path,
        default=BENCH_DIR / ".venv" / "bin" / "python",
        help="the Python of the environment with aihwkit ('' for no comparison)",
    )
    parser.add_argument(
        "--no-compounds",
        dest="compounds",
        action="store_false",
        help="skip the table of the compound device models' updates",
    )
    parser.add_argument("--aihwkit-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads > 0:
        # BLAS reads these when it loads, so before numpy is imported.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    if args.aihwkit_worker:  # inside the bench environment: time aihwkit only
        print(json.dumps(aihwkit_medians(args.sizes, args.repeats, args.threads)))
        return

    import numpy as np
    import rpusim

    if args.threads > 0:
        rpusim.set_num_threads(args.threads)

    print(f"rpusim tile benchmark: batch {BATCH}, median of {args.repeats} calls after warm-up")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}"
    )
    print(f"engine threads: {rpusim.get_num_threads()}")
    print(f"numpy {np.__version__}, BLAS: {blas_line(np)}")
    start = cpu_marks()
    aihwkit = None
    if str(args.aihwkit_python) not in ("", "."):
        print("aihwkit: timing in a subprocess ...", flush=True)
        aihwkit = run_aihwkit(args.aihwkit_python, args)
    print()

    header = (
        f"{'size':>6}  {'operation':<10} {'rpusim ms':>10} {'numpy ms':>10} "
        f"{'rpusim/numpy':>13}  {'numpy op':<8}"
    )
    if aihwkit is not None:
        header += f"  {'aihwkit ms':>10} {'aihwkit/rpusim':>15}"
    header += f"  {'M pulses':>8} {'ns/pulse':>8}"
    print(header)
    print("-" * len(header))
    # All engine timings first, then the GEMMs: BLAS worker threads keep spinning for a while
    # after a multithreaded GEMM and would take a core from the engine timed next.
    analog_times = {}
    for n in args.sizes:
        x, d, w = arrays(np, n)
        # One physical array of n x n, as aihwkit's AnalogTile (which never splits).
        config = rpusim.RPUConfig()
        config.mapping.max_input_size = config.mapping.max_output_size = 0
        tile = rpusim.AnalogTile(n, n, config, seed=0)
        tile.set_weights(w)
        analog_times[n] = []
        for name, analog, gemm, gemm_name in operations(tile, x, d, w):
            pulses_before = tile.pulses
            t_analog, calls = median_seconds(analog, args.repeats)
            pulses = (tile.pulses - pulses_before) / calls
            analog_times[n].append((name, t_analog, pulses, gemm, gemm_name))
    for n, timed in analog_times.items():
        for name, t_analog, pulses, gemm, gemm_name in timed:
            t_gemm = median_seconds(gemm, args.repeats)[0]
            line = (
                f"{n:>6}  {name:<10} {1e3 * t_analog:10.3f} {1e3 * t_gemm:10.3f} "
                f"{t_analog / t_gemm:13.1f}  {gemm_name:<8}"
            )
            if aihwkit is not None:
                t_aihwkit = aihwkit[str(n)][name]
                line += f"  {1e3 * t_aihwkit:10.3f} {t_aihwkit / t_analog:15.1f}"
            if pulses > 0:
                line += f"  {pulses / 1e6:8.2f} {1e9 * t_analog / pulses:8.2f}"
            print(line, flush=True)

    if args.compounds:
        print_compounds(rpusim, np, args, analog_times)
    print_other_load(start)


COMPOUNDS = ("VectorUnitCell", "ReferenceUnitCell", "TransferCompound", "BufferedTransferCompound")
"""The compound device models timed against the plain tile, each on two ConstantStep()."""


def compound_device(rpusim, name: str):
    devices = [rpusim.devices.ConstantStep(), rpusim.devices.ConstantStep()]
    model = getattr(rpusim.devices, name)
    if issubclass(model, rpusim.devices.VectorUnitCell):
        return model(devices=devices)
    return model(unit_cell_devices=devices, fast_lr=0.0)  # A: the plain tile's rate and pulses


def print_compounds(rpusim, np, args: argparse.Namespace, plain_times: dict) -> None:
    """The updates of :data:`COMPOUNDS` on the arrays of the main table, and their ratio to the
    plain tile's update (``plain_times``: the main table's timings)."""
    print()
    header = (
        f"{'size':>6}  {'device':<24} {'operation':<10} {'ms':>9} {'plain ms':>9} "
        f"{'compound/plain':>15} {'M pulses':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        x, d, w = arrays(np, n)
        plain = {name: t for name, t, *_ in plain_times[n]}
        for model in COMPOUNDS:
            config = rpusim.RPUConfig(device=compound_device(rpusim, model))
            config.mapping.max_input_size = config.mapping.max_output_size = 0
            tile = rpusim.AnalogTile(n, n, config, seed=0)
            tile.set_weights(w)
            for name, analog, *_ in operations(tile, x, d, w)[2:]:
                pulses_before = tile.pulses
                t, calls = median_seconds(analog, args.repeats)
                pulses = (tile.pulses - pulses_before) / calls
                print(
                    f"{n:>6}  {model:<24} {name:<10} {1e3 * t:9.3f} {1e3 * plain[name]:9.3f} "
                    f"{t / plain[name]:15.2f} {pulses / 1e6:9.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

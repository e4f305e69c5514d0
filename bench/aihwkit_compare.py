"""rpusim and IBM's aihwkit 1.1 side by side on the same configurations, weights and data.

Three parts (--only picks rows of them; all by default):

* training: the compensation ablation of examples/compensation_study.py on the MNIST MLP
  784-256-128-10 ReLU (mini-batches of 32, lr 0.05, mean cross-entropy, digital biases),
  test accuracy after each epoch, with the measure sets (rows)

      float  exact float32 arithmetic (RPUConfig.floating_point() / FloatingPointRPUConfig)
      none   the paper's device and periphery with every measure off
      nm     + abs-max noise management, forward and backward
      bm     + iterative bound management (forward)
      um     + update and pulse-length management
      ws     + weight scaling, omega 0.6, one digital scale per tile
      all    NM + BM + UM + WS

  built from presets.paper_baseline() by rpusim.training.compensation_config in rpusim and by
  train_bench.aihwkit_config in aihwkit (the same device, periphery and update), each with
  aihwkit's default splitting of a layer into tiles of at most 512 x 512
  (mapping.max_input_size = max_output_size = 512: the 784-input layer is two tiles of 392
  inputs) and with splitting off (0, 0) (--splits). Both libraries start from the same
  initial weights (torch's default initialisation from the seed) and see the same batches;
  rpusim is run with splitting only once its tiles split (until then it ignores the two sizes
  and that column says so);
* stats: one 64 x 128 tile with the paper's periphery (NM, BM, 7-bit DAC, 9-bit ADC, output
  noise 0.06), update management, no weight scaling, for every device model both libraries
  have (at its default parameters, the same values given to both) and every pulse type: the
  standard deviation of the forward outputs around the exact product of the weights the tile
  holds (x uniform in [-1, 1], weights uniform in +-0.3); the mean weight change of one update
  from W = 0 (one sample, x uniform in [-1, 1], d uniform in [-0.1, 0.1], lr such that the
  largest pair asks for 10 pulses) against -lr d x^T: its slope and the relative residual of
  the mean, and the relative noise of a single update; and the pulses per update, counted on
  a noiseless constant-step device (every pulse exactly dw_min) in both libraries (and by
  rpusim's own counter, AnalogTile.pulses). rpusim's pulse type "none" (exact update clipped
  to the device bounds) is aihwkit's NONE_WITH_DEVICE;
* step: one training step of a single AnalogLinear 784 -> 256 (the first layer of the MLP,
  weight scaling omega 0.6, the paper's periphery without quantisation and noise, i.e. with
  its output bound 12, NM and BM, an exact update, a device without bound variation so that
  no weight is clipped): forward outputs, backward outputs (input gradients), weight and bias
  change against aihwkit's for the same weights, inputs and output gradients. Both are
  deterministic, so they must agree to float rounding. (aihwkit's analog layers pass no
  gradient through an output whose analog value reached the output bound; the backward
  outputs show whether rpusim does the same.)

Every part is run for each of --seeds (initial weights, batch order, tile seeds, inputs). Each
cell prints the mean over the seeds and half the spread (max - min) / 2; a cell is flagged "!"
when rpusim's and aihwkit's means differ by more than the larger of the two spreads (with one
seed nothing is flagged). The response curves of the devices (pulse by pulse) are compared by
bench/device_compare.py, not here.

aihwkit runs in a subprocess of the bench environment (bench/.venv, see bench/README.md;
--aihwkit-python names another), this script as its worker, one process per training run.
Without that Python the aihwkit columns are empty. One engine thread and one torch thread
everywhere. Results also go to bench/results/aihwkit_compare.json.

    .venv/bin/python bench/aihwkit_compare.py                      # all, 2 seeds, 2 epochs
    .venv/bin/python bench/aihwkit_compare.py --quick              # a few minutes
    .venv/bin/python bench/aihwkit_compare.py --only all ws --splits off
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import train_bench
from train_bench import Workload, aihwkit_config, aihwkit_network, aihwkit_optimizer

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "aihwkit_compare.json"

WORKLOAD = Workload("mlp_relu", 32)
LR = 0.05
OMEGA = 0.6
"""Weight scaling maps max |W| of a tile onto 0.6 (rpusim.training.WEIGHT_SCALING_OMEGA)."""

ROWS = {
    "float": ("float", None),
    "none": ("no measures", frozenset()),
    "nm": ("NM alone", frozenset({"NM"})),
    "bm": ("BM alone", frozenset({"BM"})),
    "um": ("UM alone", frozenset({"UM"})),
    "ws": ("WS alone (omega 0.6)", frozenset({"WS"})),
    "all": ("all (NM+BM+UM+WS)", frozenset({"NM", "BM", "UM", "WS"})),
}
"""The training rows: label and measure set (None: float arithmetic)."""

SPLITS = {"off": 0, "512": 512}
"""Splitting of a layer into tiles: mapping.max_input_size = max_output_size."""

DEVICES = ("ConstantStep", "LinearStep", "SoftBounds", "ExpStep", "PowStep", "PiecewiseStep")
"""The device models of both libraries (rpusim.devices.X, aihwkit's XDevice)."""
PIECEWISE = {"piecewise_up": [1.5, 1.0, 0.5], "piecewise_down": [0.5, 1.0, 1.5]}
"""Node lists for PiecewiseStep (its defaults, [1], are a constant step)."""
PULSE_TYPES = {
    "stochastic_compressed": "STOCHASTIC_COMPRESSED",
    "deterministic_implicit": "DETERMINISTIC_IMPLICIT",
    "none": "NONE_WITH_DEVICE",
}
"""rpusim's pulse types and aihwkit's PulseType of the same meaning."""
COUNTING_DEVICE = {
    "dw_min": 0.001,
    "dw_min_dtod": 0.0,
    "dw_min_std": 0.0,
    "up_down": 0.0,
    "up_down_dtod": 0.0,
    "w_max": 1.0,
    "w_min": -1.0,
    "w_max_dtod": 0.0,
    "w_min_dtod": 0.0,
}
"""A constant-step device whose every pulse is exactly dw_min: pulses = |dW| / dw_min."""
STATS_SIZE = (64, 128)
STEP_DEVICE = {**train_bench.DEVICE, "w_max_dtod": 0.0, "w_min_dtod": 0.0}
"""The paper's device without bound variation (nothing is clipped at omega 0.6)."""

PARTS = ("stats", "step")


# --- the rpusim side ------------------------------------------------------------------------


def rpusim_training_config(measures: frozenset[str] | None, split: int) -> Any:
    """rpusim.training.compensation_config(measures) with tiles of at most ``split x split``."""
    from rpusim import training

    if training.WEIGHT_SCALING_OMEGA != OMEGA:
        raise SystemExit("rpusim.training.WEIGHT_SCALING_OMEGA is not this script's OMEGA")
    config = training.compensation_config(measures)
    config.mapping.max_input_size = config.mapping.max_output_size = split
    return config


def rpusim_splits() -> bool:
    """Whether rpusim's tiles split a matrix larger than mapping.max_input_size (rpusim
    before its crossbar-sized tiles held any matrix on one array)."""
    import rpusim

    config = rpusim.RPUConfig()
    config.mapping.max_input_size = 2
    return len(getattr(rpusim.AnalogTile(1, 4, config, seed=0), "tiles", ())) > 1


def train_rpusim(data: dict[str, Any], measures: frozenset[str] | None, split: int) -> Any:
    import rpusim
    from rpusim.nn import AnalogConv2d, AnalogLinear
    from rpusim.optim import AnalogSGD

    rpusim.set_num_threads(1)
    torch.set_num_threads(1)
    torch.manual_seed(data["seed"])  # tile seeds
    config = rpusim_training_config(measures, split)
    network = train_bench.analog_network(AnalogLinear, AnalogConv2d, config, data, WORKLOAD)
    return train_bench.train(network, AnalogSGD(network.parameters(), lr=LR), data, WORKLOAD)


class RpusimTile:
    """The operations the statistics need, on an rpusim AnalogTile."""

    def __init__(self, device: str, fields: dict[str, Any], pulse_type: str, seed: int) -> None:
        import rpusim
        from rpusim import devices, presets

        config = presets.paper_baseline()
        config.device = getattr(devices, device)(**fields)
        config.update.pulse_type = pulse_type
        config.mapping.weight_scaling_omega = 0.0
        config.mapping.max_input_size = config.mapping.max_output_size = 0
        self.tile = rpusim.AnalogTile(*STATS_SIZE, config, seed=seed)

    def set_weights(self, w: np.ndarray) -> None:
        self.tile.set_weights(w.astype(np.float32))

    def get_weights(self) -> np.ndarray:
        return self.tile.get_weights()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.tile.forward(x.astype(np.float32))

    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> None:
        self.tile.update(x.astype(np.float32), d.astype(np.float32), lr)

    def pulses(self) -> int | None:
        return self.tile.pulses


def rpusim_step(inputs: dict[str, Any]) -> dict[str, Any]:
    """One step of the single-layer check in rpusim."""
    import rpusim
    from rpusim import IOParameters, devices, presets
    from rpusim.nn import AnalogLinear
    from rpusim.optim import AnalogSGD

    rpusim.set_num_threads(1)
    torch.set_num_threads(1)
    torch.manual_seed(inputs["seed"])
    config = presets.paper_baseline()
    config.device = devices.ConstantStep(**STEP_DEVICE)
    exact = {"inp_res": 0.0, "out_res": 0.0, "out_noise": 0.0}
    config.forward = IOParameters(**exact)
    config.backward = IOParameters(**exact, bound_management="none")
    config.update.pulse_type = "none"
    config.mapping.weight_scaling_omega = OMEGA
    config.mapping.max_input_size = config.mapping.max_output_size = 0
    weight = inputs["weight"]
    layer = AnalogLinear(weight.shape[1], weight.shape[0], rpu_config=config)
    layer.set_weights(weight, inputs["bias"])
    return one_step(layer, AnalogSGD(layer.parameters(), lr=LR), inputs)


# --- the aihwkit side (inside the bench environment) ----------------------------------------


def aihwkit_training_config(measures: list[str] | None, split: int) -> Any:
    if measures is None:
        from aihwkit.simulator.configs import FloatingPointRPUConfig
        from aihwkit.simulator.parameters import MappingParameter

        return FloatingPointRPUConfig(
            mapping=MappingParameter(digital_bias=True, max_input_size=split, max_output_size=split)
        )
    return aihwkit_config(
        noise_management="NM" in measures,
        bound_management="BM" in measures,
        update_management="UM" in measures,
        weight_scaling_omega=OMEGA if "WS" in measures else 0.0,
        max_input_size=split,
        max_output_size=split,
    )


def train_aihwkit(data: dict[str, Any], measures: list[str] | None, split: int) -> Any:
    torch.set_num_threads(1)
    torch.manual_seed(data["seed"])
    network = aihwkit_network(aihwkit_training_config(measures, split), data, WORKLOAD)
    return train_bench.train(network, aihwkit_optimizer(network, LR), data, WORKLOAD)


def aihwkit_device(device: str, fields: dict[str, Any], seed: int) -> Any:
    """aihwkit's ``{device}Device`` with ``fields`` (all of them must exist there)."""
    from aihwkit.simulator.configs import devices

    cls = getattr(devices, f"{device}Device")
    return cls(**fields, construction_seed=seed)


class AihwkitTile:
    """The operations the statistics need, on an aihwkit AnalogTile."""

    def __init__(self, device: str, fields: dict[str, Any], pulse_type: str, seed: int) -> None:
        from aihwkit.simulator.parameters.enums import PulseType
        from aihwkit.simulator.tiles import AnalogTile

        config = aihwkit_config()
        config.device = aihwkit_device(device, fields, 1000 + seed)
        config.update.pulse_type = getattr(PulseType, PULSE_TYPES[pulse_type])
        torch.manual_seed(seed)
        self.tile = AnalogTile(*STATS_SIZE, config)

    def set_weights(self, w: np.ndarray) -> None:
        self.tile.set_weights(torch.from_numpy(w.astype(np.float32)), None)

    def get_weights(self) -> np.ndarray:
        return self.tile.get_weights()[0].numpy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.tile.joint_forward(torch.from_numpy(x.astype(np.float32))).numpy()

    def update(self, x: np.ndarray, d: np.ndarray, lr: float) -> None:
        self.tile.set_learning_rate(lr)
        with torch.no_grad():
            self.tile.update(
                torch.from_numpy(x.astype(np.float32)), torch.from_numpy(d.astype(np.float32))
            )

    def pulses(self) -> int | None:
        return None


def aihwkit_step(inputs: dict[str, Any]) -> dict[str, Any]:
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import ConstantStepDevice
    from aihwkit.simulator.parameters.enums import PulseType

    torch.set_num_threads(1)
    torch.manual_seed(inputs["seed"])
    config = aihwkit_config(weight_scaling_omega=OMEGA)
    config.device = ConstantStepDevice(**STEP_DEVICE)
    for io in (config.forward, config.backward):  # aihwkit: <= 0 is no quantisation
        io.inp_res, io.out_res, io.out_noise = -1.0, -1.0, 0.0
    config.update.pulse_type = PulseType.NONE_WITH_DEVICE
    weight = inputs["weight"]
    layer = AnalogLinear(weight.shape[1], weight.shape[0], rpu_config=config)
    layer.set_weights(weight, inputs["bias"])
    return one_step(layer, aihwkit_optimizer(layer, LR), inputs)


# --- measurements common to both ------------------------------------------------------------


def one_step(layer: Any, optimizer: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Forward ``inputs['x']``, backward ``inputs['grad']`` (the gradient of the outputs), one
    optimizer step: the outputs, the input gradients and the weight and bias changes."""
    weight0, bias0 = (t.detach().clone() for t in layer.get_weights())
    x = inputs["x"].clone().requires_grad_(True)
    y = layer(x)
    y.backward(inputs["grad"])
    optimizer.step()
    weight1, bias1 = (t.detach().clone() for t in layer.get_weights())
    assert x.grad is not None
    return {
        "forward": y.detach().numpy().tolist(),
        "backward": x.grad.numpy().tolist(),
        "weight change": (weight1 - weight0).numpy().tolist(),
        "bias change": (bias1 - bias0).numpy().tolist(),
    }


def tile_stats(tile_class: type, job: dict[str, Any]) -> dict[str, float | None]:
    """Forward noise, mean update and pulses of one device and pulse type (see the module
    docstring); ``job`` holds the device, the inputs and the repeats."""
    out_size, in_size = STATS_SIZE
    seed, repeats = job["seed"], job["repeats"]
    tile = tile_class(job["device"], job["fields"], job["pulse_type"], seed)
    w_init, x_fwd = np.array(job["w_init"]), np.array(job["x_forward"])
    tile.set_weights(w_init)
    exact = x_fwd @ tile.get_weights().T
    residuals = np.stack([tile.forward(x_fwd) - exact for _ in range(repeats)])
    x, d, lr = np.array(job["x"]), np.array(job["d"]), job["lr"]
    expected = -lr * np.outer(d[0], x[0])
    changes = []
    start = tile.pulses()
    for _ in range(repeats):
        tile.set_weights(np.zeros((out_size, in_size)))
        tile.update(x, d, lr)
        changes.append(tile.get_weights())
    end = tile.pulses()
    dw = np.stack(changes)
    mean = dw.mean(axis=0)
    slope = float((mean * expected).sum() / (expected**2).sum())
    rms = math.sqrt(float((expected**2).mean()))
    stats: dict[str, float | None] = {
        "forward std": float(residuals.std()),
        "update slope": slope,
        "mean residual": float(np.sqrt(((mean - slope * expected) ** 2).mean())) / rms,
        "update noise": float(dw.std(axis=0).mean()) / rms,
        "pulses (counter)": None if start is None else (end - start) / repeats,
    }
    if job["count"]:  # the counting device: every pulse is exactly dw_min
        stats["pulses"] = float(np.abs(dw).sum() / COUNTING_DEVICE["dw_min"] / repeats)
    return stats


# --- driving the aihwkit worker -------------------------------------------------------------


def run_worker(args: argparse.Namespace, job: dict[str, Any], data: Path | None) -> Any:
    """Runs ``job`` in this script's aihwkit worker; None (with a message) if the Python is
    missing or the worker fails."""
    python = Path(args.aihwkit_python)
    if not python.is_file():
        return None
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(job, f)
    command = [str(python), __file__, "--worker", f.name]
    if data is not None:
        command += ["--worker-data", str(data)]
    try:
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    finally:
        os.unlink(f.name)
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines:
        print(f"  aihwkit worker failed (exit {result.returncode}) on {job['kind']}", flush=True)
        return None
    return json.loads(lines[-1])


def worker(job_path: Path, data_path: Path | None) -> None:
    """The aihwkit side of one job (inside the bench environment); prints the JSON result."""
    job = json.loads(job_path.read_text())
    kind = job["kind"]
    if kind == "train":
        data = torch.load(data_path, weights_only=True)
        result = train_aihwkit(data, job["measures"], job["split"])
    elif kind == "stats":
        torch.set_num_threads(1)
        result = {k: tile_stats(AihwkitTile, j) for k, j in job["jobs"].items()}
    elif kind == "step":
        inputs = torch.load(data_path, weights_only=True)
        result = aihwkit_step(inputs)
    else:
        raise SystemExit(f"unknown job {kind}")
    print(json.dumps(result))


# --- the parts ------------------------------------------------------------------------------


Cell = dict[str, list[float]]
"""Per library, one value per seed."""


@dataclass
class Table:
    title: str
    columns: list[str]
    """Column groups; every group has an rpusim and an aihwkit cell."""
    rows: dict[str, dict[str, Cell]]
    """row label -> column -> library -> values over the seeds."""
    notes: dict[str, str]
    """column -> why rpusim has no value there."""
    digits: int = 2
    single: set[str] = field(default_factory=set)
    """Columns of one value ("value": the values over the seeds) instead of two libraries."""


def training(args: argparse.Namespace, rows: list[str], seeds: list[int]) -> list[Table]:
    splits = [SPLITS[s] for s in args.splits]
    rpusim_split = rpusim_splits()
    results: dict[tuple[str, int, int], dict[str, Any]] = {}
    for seed in seeds:
        data = train_bench.prepare(
            argparse.Namespace(
                data_dir=args.data_dir,
                train_size=args.train_size,
                test_size=args.test_size,
                seed=seed,
                epochs=args.epochs,
                lr=LR,
            ),
            {WORKLOAD.model},
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "data.pt"
            torch.save(data, path)
            for row in rows:
                measures = ROWS[row][1]
                for split in splits:
                    cell: dict[str, Any] = {}
                    if split == 0 or rpusim_split:
                        start = time.perf_counter()
                        cell["rpusim"] = train_rpusim(data, measures, split)["accuracy"]
                        report(row, split, seed, "rpusim", cell["rpusim"], start)
                    start = time.perf_counter()
                    job = {
                        "kind": "train",
                        "measures": None if measures is None else sorted(measures),
                        "split": split,
                    }
                    aihwkit = run_worker(args, job, path)
                    if aihwkit is not None:
                        cell["aihwkit"] = aihwkit["accuracy"]
                        report(row, split, seed, "aihwkit", cell["aihwkit"], start)
                    results[row, split, seed] = cell
    tables = []
    for epoch in range(args.epochs):
        table_rows: dict[str, dict[str, Cell]] = {}
        for row in rows:
            table_rows[ROWS[row][0]] = {
                name: {
                    library: [100 * results[row, SPLITS[name], s][library][epoch] for s in seeds]
                    for library in ("rpusim", "aihwkit")
                    if all(library in results[row, SPLITS[name], s] for s in seeds)
                }
                for name in args.splits
            }
        n_train = args.train_size or 60000
        n_test = args.test_size or 10000
        tables.append(
            Table(
                f"MNIST MLP 784-256-128-10 ReLU, batch {WORKLOAD.batch_size}, lr {LR}, "
                f"{n_train} training / {n_test} test images: test accuracy (%) after epoch "
                f"{epoch + 1}",
                [f"split {name}" for name in args.splits],
                {
                    label: {f"split {k}": v for k, v in cells.items()}
                    for label, cells in table_rows.items()
                },
                {}
                if rpusim_split
                else {"split 512": "rpusim: not yet (its tiles ignore max_input_size)"},
            )
        )
    return tables


def report(row: str, split: int, seed: int, library: str, accuracy: list[float], start: float):
    values = " ".join(f"{100 * a:.2f}" for a in accuracy)
    print(
        f"  {row:5s} split {split or 'off':>3} seed {seed} {library:7s} {values} % "
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )


def device_fields(device: str) -> dict[str, Any]:
    """The default parameters of rpusim's ``device`` (plus node lists for PiecewiseStep)."""
    from dataclasses import asdict

    from rpusim import devices

    fields = asdict(getattr(devices, device)())
    fields.pop("type", None)
    if device == "PiecewiseStep":
        fields.update(PIECEWISE)
    return fields


def stats_jobs(seed: int, repeats: int) -> dict[str, dict[str, Any]]:
    """The statistics jobs of one seed: every device and pulse type, and the counting device."""
    rng = np.random.default_rng(seed)
    out_size, in_size = STATS_SIZE
    x_forward = rng.uniform(-1, 1, (32, in_size))
    w_init = rng.uniform(-0.3, 0.3, (out_size, in_size))
    x = rng.uniform(-1, 1, (1, in_size))
    d = rng.uniform(-0.1, 0.1, (1, out_size))
    common = {
        "seed": seed,
        "repeats": repeats,
        "w_init": w_init.tolist(),
        "x_forward": x_forward.tolist(),
        "x": x.tolist(),
        "d": d.tolist(),
    }
    jobs = {}
    k_max = 10.0  # pulses the largest pair asks for
    for device in DEVICES:
        fields = device_fields(device)
        lr = k_max * fields["dw_min"] / (np.abs(x).max() * np.abs(d).max())
        for pulse_type in PULSE_TYPES:
            jobs[f"{device} {pulse_type}"] = {
                **common,
                "device": device,
                "fields": fields,
                "pulse_type": pulse_type,
                "lr": float(lr),
                "count": False,
            }
    lr = k_max * COUNTING_DEVICE["dw_min"] / (np.abs(x).max() * np.abs(d).max())
    for pulse_type in ("stochastic_compressed", "deterministic_implicit"):
        jobs[f"counting {pulse_type}"] = {
            **common,
            "device": "ConstantStep",
            "fields": COUNTING_DEVICE,
            "pulse_type": pulse_type,
            "lr": float(lr),
            "count": True,
        }
    return jobs


STAT_COLUMNS = ("forward std", "update slope", "mean residual", "update noise")


def statistics(args: argparse.Namespace, seeds: list[int]) -> list[Table]:
    import rpusim

    rpusim.set_num_threads(1)
    torch.set_num_threads(1)
    repeats = 30 if args.quick else 200
    per_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for seed in seeds:
        jobs = stats_jobs(seed, repeats)
        start = time.perf_counter()
        ours = {k: tile_stats(RpusimTile, j) for k, j in jobs.items()}
        theirs = run_worker(args, {"kind": "stats", "jobs": jobs}, None) or {}
        per_seed[seed] = {"rpusim": ours, "aihwkit": theirs}
        print(f"  stats seed {seed} ({time.perf_counter() - start:.0f} s)", flush=True)

    def cells(job: str, column: str) -> Cell:
        return {
            library: [per_seed[s][library][job][column] for s in seeds]
            for library in ("rpusim", "aihwkit")
            if all(job in per_seed[s][library] for s in seeds)
        }

    rows = {
        f"{device:13s} {pulse_type}": {c: cells(f"{device} {pulse_type}", c) for c in STAT_COLUMNS}
        for device in DEVICES
        for pulse_type in PULSE_TYPES
    }
    pulse_rows = {}
    for pulse_type in ("stochastic_compressed", "deterministic_implicit"):
        job = f"counting {pulse_type}"
        row = {"pulses": cells(job, "pulses")}
        counted = [per_seed[s]["rpusim"][job]["pulses (counter)"] for s in seeds]
        row["rpusim's counter"] = {"value": counted}
        pulse_rows[pulse_type] = row
    return [
        Table(
            f"One {STATS_SIZE[0]} x {STATS_SIZE[1]} tile, the paper's periphery, UM/UBLM, every "
            f"device at its defaults, {repeats} repeats: forward output std around the exact "
            "product; one update from W = 0 against -lr d x^T (10 pulses asked for the largest "
            "pair): slope of the mean change, rms residual of the mean and mean std of one "
            "update, both relative to rms(lr d x^T)",
            list(STAT_COLUMNS),
            rows,
            {},
            digits=4,
        ),
        Table(
            "Pulses per update (one sample, 64 x 128, 10 asked for the largest pair), counted as "
            "|dW| / dw_min on a noiseless constant-step device, and by rpusim's own counter",
            ["pulses", "rpusim's counter"],
            pulse_rows,
            {},
            digits=1,
            single={"rpusim's counter"},
        ),
    ]


def single_step(args: argparse.Namespace, seeds: list[int]) -> Table:
    """The single-layer step check: max |rpusim - aihwkit| / max |aihwkit| per quantity."""
    from rpusim.data import load_mnist

    mnist = load_mnist(args.data_dir)
    rows: dict[str, dict[str, Cell]] = {}
    differences: dict[str, list[float]] = {}
    for seed in seeds:
        torch.manual_seed(seed)
        linear = torch.nn.Linear(784, 256)
        generator = torch.Generator().manual_seed(seed)
        rows_x = torch.randperm(len(mnist.train_images), generator=generator)[:32]
        inputs = {
            "seed": seed,
            "weight": linear.weight.detach().clone(),
            "bias": linear.bias.detach().clone(),
            "x": torch.from_numpy(mnist.train_images[rows_x.numpy()]).reshape(32, -1).float(),
            "grad": 0.01 * torch.randn(32, 256, generator=generator),
        }
        ours = rpusim_step(inputs)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "step.pt"
            torch.save(inputs, path)
            theirs = run_worker(args, {"kind": "step"}, path)
        if theirs is None:
            continue
        for quantity in ours:
            a, b = np.array(ours[quantity]), np.array(theirs[quantity])
            differences.setdefault(quantity, []).append(
                float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
            )
    for quantity, values in differences.items():
        rows[quantity] = {"max |rpusim - aihwkit| / max |aihwkit|": {"value": values}}
    return Table(
        "One step of AnalogLinear(784, 256), weight scaling omega 0.6, the paper's periphery "
        f"without quantisation and noise, exact update (lr {LR}), the same weights, MNIST "
        "batch of 32 and output gradients N(0, 0.01^2)",
        ["max |rpusim - aihwkit| / max |aihwkit|"],
        rows,
        {},
        digits=6,
        single={"max |rpusim - aihwkit| / max |aihwkit|"},
    )


# --- printing -------------------------------------------------------------------------------


def summary(values: list[float], digits: int) -> str:
    mean = sum(values) / len(values)
    half = (max(values) - min(values)) / 2
    return f"{mean:.{digits}f}" + (f"±{half:.{digits}f}" if len(values) > 1 else "")


def flagged(cell: Cell) -> bool:
    """rpusim's and aihwkit's means differ by more than the larger spread over the seeds."""
    if "rpusim" not in cell or "aihwkit" not in cell or len(cell["rpusim"]) < 2:
        return False
    r, a = cell["rpusim"], cell["aihwkit"]
    spread = max(max(r) - min(r), max(a) - min(a))
    return bool(abs(sum(r) / len(r) - sum(a) / len(a)) > spread)


def format_table(table: Table) -> tuple[str, int]:
    """The table as text, and the number of flagged cells."""
    texts: dict[tuple[str, str], list[str]] = {}
    marks: dict[tuple[str, str], str] = {}
    for label, cells in table.rows.items():
        for column in table.columns:
            cell = cells.get(column, {})
            if column in table.single:
                values = cell.get("value")
                texts[label, column] = ["-" if values is None else summary(values, table.digits)]
                marks[label, column] = " "
                continue
            pair = []
            for library in ("rpusim", "aihwkit"):
                if library in cell:
                    pair.append(summary(cell[library], table.digits))
                elif library == "rpusim" and column in table.notes:
                    pair.append("n/a")
                else:
                    pair.append("-")
            texts[label, column] = pair
            marks[label, column] = "!" if flagged(cell) else " "
    width = max([len(t) for pair in texts.values() for t in pair] + [7])
    label_width = max([len(r) for r in table.rows] + [12])
    head1, head2 = " " * label_width, " " * label_width
    for column in table.columns:
        span = width if column in table.single else 2 * width + 2
        head1 += f" | {column:^{max(span, len(column))}s} "
        sub = "" if column in table.single else f"{'rpusim':>{width}s}  {'aihwkit':>{width}s}"
        head2 += f" | {sub:>{max(span, len(column))}s} "
    lines = [table.title, head1, head2]
    for label in table.rows:
        line = f"{label:{label_width}s}"
        for column in table.columns:
            span = width if column in table.single else 2 * width + 2
            text = "  ".join(f"{t:>{width}s}" for t in texts[label, column])
            line += f" | {text:>{max(span, len(column))}s}{marks[label, column]}"
        lines.append(line)
    for column, note in table.notes.items():
        if column in table.columns:
            lines.append(f"{column}: {note}")
    flags = sum(mark == "!" for mark in marks.values())
    return "\n".join(lines), flags


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[*ROWS, *PARTS],
        metavar="ROW",
        default=[*ROWS, *PARTS],
        help=f"training rows ({', '.join(ROWS)}) and parts ({', '.join(PARTS)}) to run",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 2)")
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=list(SPLITS),
        default=list(SPLITS),
        help="tile sizes: off (one tile per layer) and 512 (aihwkit's default)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 epoch on 10 000 images, fewer repeats"
    )
    parser.add_argument("--train-size", type=int, default=None, help="first N training images")
    parser.add_argument("--test-size", type=int, default=None, help="first N test images")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding mnist/ (unset: $RPUSIM_DATA, else ../shared/datasets)",
    )
    parser.add_argument(
        "--aihwkit-python",
        type=Path,
        default=BENCH_DIR / ".venv" / "bin" / "python",
        help="the Python of the environment with aihwkit 1.1",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--worker-data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        worker(args.worker, args.worker_data)
        return
    if args.epochs is None:
        args.epochs = 1 if args.quick else 2
    if args.quick:
        args.train_size = args.train_size or 10000
        args.test_size = args.test_size or 2000
    if not Path(args.aihwkit_python).is_file():
        print(f"no aihwkit Python at {args.aihwkit_python}: the aihwkit columns stay empty")

    import rpusim

    print(
        f"rpusim {rpusim.__version__} ({Path(rpusim.__file__).parent}), torch "
        f"{torch.__version__}; aihwkit: {args.aihwkit_python}; seeds {args.seeds}, "
        f"{args.epochs} epoch(s)",
        flush=True,
    )
    started = time.perf_counter()
    tables: list[Table] = []
    rows = [r for r in ROWS if r in args.only]
    if rows:
        tables += training(args, rows, args.seeds)
    if "stats" in args.only:
        tables += statistics(args, args.seeds)
    if "step" in args.only:
        tables.append(single_step(args, args.seeds))

    print(
        "\nmean over the seeds ± half their spread; ! marks a cell where rpusim and aihwkit "
        "differ by more than the larger spread. Device response curves: bench/device_compare.py."
    )
    total = 0
    for table in tables:
        text, flags = format_table(table)
        total += flags
        print(f"\n{text}")
    print(f"\n{total} flagged cell(s); {(time.perf_counter() - started) / 60:.1f} min")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": sys.argv,
                "seeds": args.seeds,
                "epochs": args.epochs,
                "tables": [
                    {"title": t.title, "columns": t.columns, "rows": t.rows, "notes": t.notes}
                    for t in tables
                ],
            },
            indent=1,
        )
    )
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()

"""Device response, rpusim against aihwkit 1.1: the mean weight of a 64 x 64 tile under a ramp
of pulses, for every device preset of rpusim.presets and every pulsed device model at its
default parameters.

Each tile starts from w = 0 (``set_weights`` of zeros on both sides) and takes 1000 updates in
the up direction, then 1000 down; the table prints the mean weight after 100, 500 and 1000 up
updates and after the 1000 down ones, rpusim and aihwkit side by side, each the mean over
``--seeds`` tiles (seeds 0, 1, ...) with the standard deviation among them (the spread from
tile to tile: the devices' draws, their pulse noise). A ``!`` flags a value where the two means
differ by more than the spread between two seeds, one tile of each library:
``sqrt(std_rpusim^2 + std_aihwkit^2)``, the standard deviation of the difference of two such
tiles (and by more than 1e-4, float rounding over 2000 steps). With the default 8 seeds per
side that is 2.8 standard errors of the difference of the means: about one false flag in 200
values.

Two ways to drive the ramp, two tables:

* ``pulse``: exactly one pulse per device per update. rpusim: ``AnalogTile.pulse(up)``. aihwkit:
  ``tile.update`` with x = 1 (every column) and d = -1 / +1 (every row) at learning rate 1 with
  ``UpdateParameters(desired_bl=1, fixed_bl=True, update_management=False,
  update_bl_management=False)``: one pulse slot whose firing probability
  ``sqrt(lr / granularity)`` is above 1 for every device here, so every row and column fires
  and every device gets exactly one coincidence (``PulseType.StochasticCompressed``). That it
  is exactly one is checked by the third table below.
* ``update``: the same update call on both sides, x = 1, d = -1 / +1 at learning rate
  ``dw_min`` with the default ``UpdateParameters`` of each library (the same: pulse trains of at
  most 31 slots, update management and pulse-length management): this adds how each library
  plans the pulses (its weight granularity) to the device response.

The third table checks the pulse mode: the same ramp on noise-free copies of every device
(``dw_min_std``, every ``*_dtod`` and ``write_noise_std`` set to 0: all devices alike, one
seed). It prints the first up step of each library divided by the one-pulse step at w = 0 of
the device's formula (1.000 for one pulse, 2.000 for two) and the largest distance between the
two libraries' weights over the 2000 updates, in units of that step (a skipped or doubled
pulse anywhere would show as about 1).

The device parameters of every preset are compared field by field with aihwkit's preset class
of the same name (``gokmen_vlasov_2016``: aihwkit's generic ``ConstantStepDevice``); a
difference is printed under the tables. aihwkit's ``CapacitorPresetDevice`` also leaks
(``lifetime``), which aihwkit applies only in its optimizer's post-update step, never called
here. aihwkit's pulse noise comes from an unseeded generator: its seeds only fix the device
draws (``construction_seed``).

With aihwkit in the bench environment (bench/.venv, see bench/README.md; --aihwkit-python
names another, '' for none) aihwkit runs in a subprocess of that environment; it is no
dependency of rpusim. No assertions: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
SIZE = 64
N_UP = 1000
N_DOWN = 1000
CHECKPOINTS = (100, 500, 1000, 2000)
CHECKPOINT_NAMES = ("100 up", "500 up", "1000 up", "+1000 down")
FLOAT_FLOOR = 1e-4

# rpusim preset -> aihwkit device class (presets module first, then the configs module).
AIHWKIT_PRESETS = {
    "idealized": "IdealizedPresetDevice",
    "gokmen_vlasov": "GokmenVlasovPresetDevice",
    "gokmen_vlasov_2016": "ConstantStepDevice",
    "reram_es": "ReRamESPresetDevice",
    "reram_sb": "ReRamSBPresetDevice",
    "capacitor": "CapacitorPresetDevice",
    "ecram": "EcRamPresetDevice",
    "ecram_mo": "EcRamMOPresetDevice",
}
MODELS = ("ConstantStep", "LinearStep", "SoftBounds", "ExpStep", "PowStep", "PiecewiseStep")
QUIET = {
    "dw_min_std": 0.0,
    "dw_min_dtod": 0.0,
    "up_down_dtod": 0.0,
    "w_max_dtod": 0.0,
    "w_min_dtod": 0.0,
    "write_noise_std": 0.0,
    "gamma_up_dtod": 0.0,
    "gamma_down_dtod": 0.0,
    "pow_gamma_dtod": 0.0,
    "pow_up_down_dtod": 0.0,
    "reference_std": 0.0,
    "slope_up_dtod": 0.0,
    "slope_down_dtod": 0.0,
}


def with_fields(device: Any, values: dict[str, Any]) -> Any:
    """A copy of the dataclass ``device`` with those of ``values`` it has as fields."""
    names = {f.name for f in dataclasses.fields(device)}
    return dataclasses.replace(device, **{k: v for k, v in values.items() if k in names})


def ramp(pulse) -> list[float]:
    """Runs the ramp with ``pulse(up) -> mean weight`` and returns the mean weight after every
    update."""
    return [pulse(i < N_UP) for i in range(N_UP + N_DOWN)]


def at_checkpoints(trajectory: list[float]) -> list[float]:
    return [trajectory[n - 1] for n in CHECKPOINTS]


# --- aihwkit, inside the bench environment -------------------------------------------------


def aihwkit_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Inside the bench environment: every entry of ``spec`` on aihwkit tiles."""
    import torch
    from aihwkit.simulator.configs import SingleRPUConfig
    from aihwkit.simulator.configs import devices as config_devices
    from aihwkit.simulator.parameters import UpdateParameters
    from aihwkit.simulator.parameters.enums import PulseType
    from aihwkit.simulator.presets import devices as preset_devices
    from aihwkit.simulator.tiles import AnalogTile

    def device(name: str, values: dict[str, Any]) -> Any:
        cls = getattr(preset_devices, name, None) or getattr(config_devices, name)
        return with_fields(cls(), values)

    one_pulse = UpdateParameters(
        desired_bl=1,
        fixed_bl=True,
        update_management=False,
        update_bl_management=False,
        pulse_type=PulseType.STOCHASTIC_COMPRESSED,
    )
    x = torch.ones(1, SIZE)

    def run(dev: Any, update: Any, lr: float) -> list[float]:
        tile = AnalogTile(SIZE, SIZE, SingleRPUConfig(device=dev, update=update))
        tile.set_weights(torch.zeros(SIZE, SIZE))
        tile.set_learning_rate(lr)

        def pulse(up: bool) -> float:
            tile.update(x, -x if up else x)
            return float(tile.get_weights()[0].mean())

        return ramp(pulse)

    out: dict[str, Any] = {}
    for entry in spec["entries"]:
        name = entry["aihwkit"]
        plain = device(name, {})
        fields = {
            f.name: getattr(plain, f.name)
            for f in dataclasses.fields(plain)
            if isinstance(getattr(plain, f.name), (bool, int, float, list))
        }
        result: dict[str, Any] = {"fields": fields, "pulse": [], "update": []}
        for seed in spec["seeds"]:
            dev = device(name, {"construction_seed": seed + 1})
            result["pulse"].append(at_checkpoints(run(dev, one_pulse, 1.0)))
            result["update"].append(at_checkpoints(run(dev, UpdateParameters(), dev.dw_min)))
        result["quiet"] = run(device(name, QUIET), one_pulse, 1.0)
        out[entry["label"]] = result
    return out


def run_aihwkit(python: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    """Runs this script as the aihwkit worker under ``python``; None (with a message) if that
    environment is missing or the worker fails."""
    if not python.exists():
        print(f"aihwkit: no comparison, {python} is missing (see this script's docstring)")
        return None
    result = subprocess.run(
        [str(python), __file__, "--aihwkit-worker"],
        input=json.dumps(spec),
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"aihwkit: no comparison, the worker under {python} failed ({result.returncode})")
        return None
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


# --- rpusim ----------------------------------------------------------------------------------


def rpusim_runs(device: Any, seeds: list[int]) -> dict[str, Any]:
    """The pulse and update ramps of ``device`` for every seed, and the noise-free ramp."""
    import numpy as np
    import rpusim

    x = np.ones((1, SIZE), np.float32)

    def run(dev: Any, seed: int, by_update: bool) -> list[float]:
        tile = rpusim.AnalogTile(SIZE, SIZE, rpusim.RPUConfig(device=dev), seed=seed)
        tile.set_weights(np.zeros((SIZE, SIZE), np.float32))

        def pulse(up: bool) -> float:
            if by_update:
                tile.update(x, -x if up else x, dev.dw_min)
            else:
                tile.pulse(up)
            return float(tile.get_weights().mean())

        return ramp(pulse)

    return {
        "pulse": [at_checkpoints(run(device, s, False)) for s in seeds],
        "update": [at_checkpoints(run(device, s, True)) for s in seeds],
        "quiet": run(with_fields(device, QUIET), seeds[0], False),
    }


def first_up_step(device: Any) -> float:
    """The step of one up pulse at w = 0 of the noise-free mean device (MODEL.md section 5 and
    aihwkit's definitions): ``(1 + min(up_down, 0)) dw_min`` times the model's factor at 0."""
    dw_up = (1.0 + min(device.up_down, 0.0)) * device.dw_min
    kind = type(device).__name__
    if kind == "ExpStep":
        return dw_up * max(1.0 - device.A_up * math.exp(device.gamma_up * device.b), 0.0)
    if kind == "PowStep":
        gamma = abs((1.0 + min(device.pow_up_down, 0.0)) * device.pow_gamma)
        return dw_up * (device.w_max / (device.w_max - device.w_min)) ** gamma
    if kind == "PiecewiseStep":
        nodes = device.piecewise_up
        if len(nodes) == 1:
            return dw_up * nodes[0]
        t = -device.w_min / (device.w_max - device.w_min) * (len(nodes) - 1)
        i = min(int(t), len(nodes) - 2)
        return dw_up * (nodes[i] + (t - i) * (nodes[i + 1] - nodes[i]))
    return dw_up  # constant step; linear step and soft bounds have their slope times w = 0


# --- the tables -------------------------------------------------------------------------------


def summary(values: list[list[float]]) -> list[tuple[float, float]]:
    """(mean, standard deviation) over the seeds at every checkpoint (deviation 0 for one)."""
    out = []
    for v in zip(*values):
        mean = sum(v) / len(v)
        var = sum((x - mean) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else 0.0
        out.append((mean, math.sqrt(var)))
    return out


def print_table(title: str, rows: list[tuple[str, dict, dict | None]], mode: str) -> int:
    print(title)
    header = (
        f"{'device':<28} {'after':<11} {'rpusim':>8} {'(std)':>9}"
        f"  {'aihwkit':>8} {'(std)':>9} {'diff':>8}"
    )
    print(header)
    print("-" * len(header))
    flags = 0
    for label, ours, theirs in rows:
        r = summary(ours[mode])
        a = summary(theirs[mode]) if theirs else None
        for k, point in enumerate(CHECKPOINT_NAMES):
            line = f"{label if k == 0 else '':<28} {point:<11} {r[k][0]:8.4f} ({r[k][1]:7.4f})"
            if a is not None:
                diff = r[k][0] - a[k][0]
                flag = abs(diff) > max(math.hypot(r[k][1], a[k][1]), FLOAT_FLOOR)
                flags += flag
                line += f"  {a[k][0]:8.4f} ({a[k][1]:7.4f}) {diff:+8.4f} {'!' if flag else ''}"
            print(line)
    print()
    return flags


def print_pulse_check(rows: list[tuple[str, dict, dict | None]], devices: dict[str, Any]) -> None:
    print("one pulse per update? noise-free devices, first up step / formula at w = 0, and the")
    print("largest |w_aihwkit - w_rpusim| over the 2000 updates in units of that step")
    header = f"{'device':<28} {'rpusim':>8} {'aihwkit':>8} {'max dist':>9}"
    print(header)
    print("-" * len(header))
    for label, ours, theirs in rows:
        step = first_up_step(devices[label])
        line = f"{label:<28} {ours['quiet'][0] / step:8.4f}"
        if theirs:
            dist = max(abs(a - b) for a, b in zip(theirs["quiet"], ours["quiet"])) / step
            line += f" {theirs['quiet'][0] / step:8.4f} {dist:9.2e}"
        print(line)
    print()


def field_differences(device: Any, theirs: dict[str, Any]) -> list[str]:
    """Fields ``device`` shares with aihwkit's device whose values differ."""
    out = []
    for f in dataclasses.fields(device):
        if f.name not in theirs:
            continue
        ours, other = getattr(device, f.name), theirs[f.name]
        same = (
            math.isclose(ours, other, rel_tol=1e-9, abs_tol=1e-15)
            if isinstance(ours, float) and isinstance(other, (int, float))
            else ours == other
        )
        if not same:
            out.append(f"{f.name}: rpusim {ours!r}, aihwkit {other!r}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seeds", type=int, default=8, help="tiles per device and side")
    parser.add_argument(
        "--only",
        nargs="+",
        default=[],
        help="only the devices whose label contains one of these (e.g. reram PowStep)",
    )
    parser.add_argument(
        "--aihwkit-python",
        type=Path,
        default=BENCH_DIR / ".venv" / "bin" / "python",
        help="the Python of the environment with aihwkit ('' for no comparison)",
    )
    parser.add_argument("--aihwkit-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.aihwkit_worker:  # inside the bench environment: aihwkit only, spec on stdin
        print(json.dumps(aihwkit_worker(json.load(sys.stdin))))
        return

    import rpusim
    from rpusim import devices, presets

    devs: dict[str, Any] = {}
    entries = []
    for name, make in presets.DEVICE_PRESETS.items():
        label = f"preset {name}"
        devs[label] = make()
        if name in AIHWKIT_PRESETS:
            entries.append({"label": label, "aihwkit": AIHWKIT_PRESETS[name]})
    for name in MODELS:
        label = f"{name}()"
        devs[label] = getattr(devices, name)()
        entries.append({"label": label, "aihwkit": f"{name}Device"})
    if args.only:
        devs = {k: v for k, v in devs.items() if any(o in k for o in args.only)}
        entries = [e for e in entries if e["label"] in devs]
    seeds = list(range(args.seeds))

    print(
        f"device response: {SIZE} x {SIZE} tile from w = 0, {N_UP} up then {N_DOWN} down "
        f"updates, mean weight; {args.seeds} seeds per side"
    )
    print(f"rpusim {rpusim.__version__} from {Path(rpusim.__file__).parent}")
    aihwkit = None
    if str(args.aihwkit_python) not in ("", "."):
        print(f"aihwkit: running under {args.aihwkit_python} ...", flush=True)
        aihwkit = run_aihwkit(args.aihwkit_python, {"entries": entries, "seeds": seeds})
    print()

    rows = []
    for label, device in devs.items():
        theirs = aihwkit.get(label) if aihwkit else None
        rows.append((label, rpusim_runs(device, seeds), theirs))
    flags = print_table("one pulse per device per update", rows, "pulse")
    title = "update x = d = 1 at lr = dw_min, default UpdateParameters"
    flags += print_table(title, rows, "update")
    print_pulse_check(rows, devs)
    if aihwkit is not None:
        print(f"{flags} values differ by more than the spread between two seeds (flagged '!')")
        for label, _, theirs in rows:
            if theirs is None:
                print(f"{label}: no aihwkit counterpart")
                continue
            for line in field_differences(devs[label], theirs["fields"]):
                print(f"{label}: parameter {line}")


if __name__ == "__main__":
    main()

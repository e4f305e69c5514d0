"""Pulse-response curves of the device presets: one PNG per preset.

For every device preset of rpusim.presets (or those named with --preset) it measures, with
rpusim.characterize, a set of devices (device-to-device variation) pulsed up from their lower
bound to saturation and back down, and alternately up and down from 0, and plots

* the response curve: weight against pulse number (a few devices, and the mean);
* the step of one pulse against the weight, up and down (mean and spread in weight bins);
* the alternating pulses, which settle at the symmetry point where up and down steps are equal.

The title gives the number of states ((w_max - w_min) / step at 0) and the symmetry point. The
PNGs go to --out-dir (default examples/out/device_response/). Run with --help for the options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import rpusim
from rpusim import presets

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "device_response"
BINS = 40
TRACES = 6


def binned_steps(
    before: np.ndarray, steps: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation of ``steps`` in the weight bins ``edges`` of ``before``;
    bins with fewer than 5 values are dropped."""
    which = np.digitize(before.ravel(), edges) - 1
    centres, means, spreads = [], [], []
    for b in range(len(edges) - 1):
        values = steps.ravel()[which == b]
        if values.size >= 5:
            centres.append((edges[b] + edges[b + 1]) / 2)
            means.append(values.mean())
            spreads.append(values.std())
    return np.array(centres), np.array(means), np.array(spreads)


def plot(name: str, response: rpusim.DeviceResponse, path: Path) -> None:
    w = response.weights
    n = response.n_pulses
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))

    ax = axes[0]
    pulses = np.arange(w.shape[0])
    ax.plot(pulses, w[:, :TRACES], lw=0.6, alpha=0.7)
    ax.plot(pulses, w.mean(axis=1), color="black", lw=1.5, label="mean over devices")
    ax.set_xlabel("pulse number (up, then down)")
    ax.set_ylabel("weight")
    ax.set_title("response curve")
    ax.legend(loc="lower center")

    ax = axes[1]
    edges = np.linspace(w.min(), w.max(), BINS + 1)
    for label, rows, sign, color in (
        ("up", slice(0, n), 1.0, "tab:blue"),
        ("down", slice(n, 2 * n), -1.0, "tab:red"),
    ):
        before = w[:-1][rows]
        steps = sign * np.diff(w, axis=0)[rows]
        centre, mean, spread = binned_steps(before, steps, edges)
        ax.plot(centre, mean, color=color, label=f"{label} step")
        ax.fill_between(centre, mean - spread, mean + spread, color=color, alpha=0.2)
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("weight before the pulse")
    ax.set_ylabel("weight change of one pulse (magnitude)")
    ax.set_title("step vs weight (mean +- std)")
    ax.legend()

    ax = axes[2]
    alt = response.alternating
    ax.plot(alt[:, :TRACES], lw=0.6, alpha=0.7)
    ax.plot(alt.mean(axis=1), color="black", lw=1.5, label="mean over devices")
    ax.axhline(response.symmetry_point, color="tab:green", ls="--", label="symmetry point")
    ax.set_xlabel("pulse number (alternating up and down)")
    ax.set_ylabel("weight")
    ax.set_title("symmetry point")
    ax.legend()

    fig.suptitle(
        f"{name}: {response.n_states:.0f} states, symmetry point {response.symmetry_point:+.3f}, "
        f"range [{response.w_min:+.2f}, {response.w_max:+.2f}]"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Plot the pulse response of rpusim's device presets, one PNG each.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT, help="directory for the PNG files"
    )
    parser.add_argument(
        "--preset",
        action="append",
        choices=sorted(presets.DEVICE_PRESETS),
        help="a device preset to plot (repeat for several; default: all)",
    )
    parser.add_argument("--n-devices", type=int, default=100, help="devices measured per preset")
    parser.add_argument(
        "--n-pulses",
        type=int,
        default=None,
        help="pulses per ramp (default: three times the device's nominal number of states)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the devices and their noise")
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.preset or list(presets.DEVICE_PRESETS):
        device = presets.DEVICE_PRESETS[name]()
        response = rpusim.characterize(
            device, args.n_pulses, n_devices=args.n_devices, seed=args.seed
        )
        path = args.out_dir / f"{name}.png"
        plot(name, response, path)
        print(
            f"{name:14s} {type(device).__name__:13s} states {response.n_states:8.0f}  "
            f"symmetry point {response.symmetry_point:+.3f}  "
            f"range [{response.w_min:+.3f}, {response.w_max:+.3f}]  -> {path}"
        )


if __name__ == "__main__":
    main()

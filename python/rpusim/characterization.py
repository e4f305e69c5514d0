"""Device characterisation: the classic pulse-response curve of a device model, its number of
states and its symmetry point, measured the way one measures real devices: by pulsing them.

>>> import rpusim
>>> r = rpusim.characterize(rpusim.devices.ConstantStep(), n_devices=20)
>>> r.weights.shape == (2 * r.n_pulses + 1, 20)
True

Every pulse is one engine call that applies exactly one pulse, up or down, to every device of
a tile (with its cycle-to-cycle noise; a unit cell's update policy picks which of its devices
take it), so the curves show what an update sees: device-to-device and cycle-to-cycle
variation, bounds, write noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rpusim._checks import check_int
from rpusim.config import RPUConfig
from rpusim.devices import Device, PulsedDevice, VectorUnitCell
from rpusim.tile import AnalogTile

__all__ = ["DeviceResponse", "characterize"]

FloatArray = npt.NDArray[np.float64]

_FAR_AWAY = 1e30
"""A weight beyond every device's bounds: programming it puts each device at its bound."""


@dataclass(frozen=True)
class DeviceResponse:
    """What :func:`characterize` measured. Weights are in the tile's weight units; "mean" is
    over devices."""

    n_pulses: int
    """Pulses per ramp (up, then down)."""

    directions: npt.NDArray[np.int8]
    """``(2 * n_pulses * n_cycles,)``: +1 for an up pulse, -1 for a down pulse."""

    weights: FloatArray
    """``(2 * n_pulses * n_cycles + 1, n_devices)``: every device's weight at the start (its
    lower bound) and after every pulse: the response curve."""

    alternating: FloatArray
    """``(n_alternating + 1, n_devices)``: the weights under alternating up and down pulses,
    starting at 0."""

    w_min: float
    """Mean lowest weight: the mean over the last 5 % of the down ramp."""

    w_max: float
    """Mean highest weight: the mean over the last 5 % of the up ramp."""

    dw_up: float
    """Mean up step where the up ramp crosses 0 (least-squares slope of the weight over the
    pulses around the crossing); NaN if no device crosses 0 (a ramp too short)."""

    dw_down: float
    """Mean down step (a magnitude) where the down ramp crosses 0 (NaN if none does)."""

    n_states: float
    """``(w_max - w_min) / ((dw_up + dw_down) / 2)``: the number of steps of the size at 0
    that span the range, as ``(w_max - w_min) / dw_min`` of the device parameters."""

    symmetry_point: float
    """Mean weight the alternating pulses settle at (mean over the second half of
    :attr:`alternating`): where up and down steps are equal. 0 for a symmetric device; a
    constant-step device with up/down asymmetry has none and drifts towards a bound, so the
    value is where it got to."""


def _as_config(config: RPUConfig | Device) -> RPUConfig:
    if isinstance(config, RPUConfig):
        config.validate()
        return config
    if isinstance(config, Device):
        return RPUConfig(device=config)
    raise TypeError(f"config must be an RPUConfig or a device, got {type(config).__name__}")


def _traversal_pulses(device: Device) -> float:
    """Nominal pulses from the lower to the upper bound: ``(w_max - w_min) / granularity`` of a
    device; for a unit cell the largest of its devices' (policy ``all``: every device moves with
    every pulse) or their sum (single policies: one device per pulse)."""
    if isinstance(device, VectorUnitCell):
        per_device = [_traversal_pulses(d) for d in device.devices]
        return max(per_device) if device.update_policy == "all" else sum(per_device)
    if isinstance(device, PulsedDevice):
        return device.n_states
    raise ValueError(f"{type(device).__name__} takes no pulses: there is nothing to characterise")


def _run(tile: AnalogTile, up: bool, n: int, out: FloatArray) -> None:
    """``n`` pulses in direction ``up``; the weights after each into the rows of ``out``."""
    for k in range(n):
        tile.pulse(up)
        out[k] = tile.get_weights(False)[:, 0]


def _slope_at_zero(ramp: FloatArray, up: bool, half_window: int) -> FloatArray:
    """Per device: the least-squares slope of the weight over the pulses within
    ``half_window`` of where ``ramp`` (pulses x devices, starting below 0 when ``up``, above
    when not) first crosses 0; NaN for a device that never crosses."""
    crossed = ramp >= 0 if up else ramp <= 0
    slopes = np.full(ramp.shape[1], np.nan)
    for j in range(ramp.shape[1]):
        hits = np.flatnonzero(crossed[:, j])
        if hits.size == 0 or hits[0] == 0:
            continue
        lo, hi = max(0, hits[0] - half_window), min(len(ramp), hits[0] + half_window + 1)
        t = np.arange(lo, hi, dtype=np.float64)
        w = ramp[lo:hi, j]
        t -= t.mean()
        slopes[j] = float(np.dot(t, w - w.mean()) / np.dot(t, t))
    return slopes


def _mean_of_finite(values: FloatArray) -> float:
    """The mean of the values that are not NaN; NaN if there are none."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else math.nan


def characterize(
    config: RPUConfig | Device,
    n_pulses: int | None = None,
    *,
    n_devices: int = 100,
    n_cycles: int = 1,
    n_alternating: int | None = None,
    seed: int = 0,
) -> DeviceResponse:
    """Pulses ``n_devices`` devices of ``config`` up and down and measures their response.

    Starting at the lower bound (programming a weight far below it), ``n_cycles`` times:
    ``n_pulses`` up pulses, then ``n_pulses`` down pulses; then, from weight 0,
    ``n_alternating`` pulses alternating up and down. Nothing else touches the devices (no
    update management: one pulse is one pulse).

    Args:
        config: an :class:`~rpusim.RPUConfig`, or a device (with the default periphery, which
            plays no part here). The ideal device takes no pulses: ``ValueError``.
        n_pulses: pulses per ramp; default three times the nominal number of states
            ``(w_max - w_min) / dw_min`` (a unit cell: of its largest device with policy
            ``all``, the sum over its devices with a single policy), enough for most devices
            to reach their bounds and for soft bounds to come within 1 % of theirs.
        n_devices: devices measured (one tile of ``n_devices x 1``).
        n_cycles: up/down ramps.
        n_alternating: alternating pulses for the symmetry point; default ``2 * n_pulses``.
        seed: the tile's seed (which devices are drawn, and their noise).

    Returns:
        A :class:`DeviceResponse`.
    """
    config = _as_config(config)
    traversal = _traversal_pulses(config.device)
    if n_pulses is None:
        n_pulses = max(10, math.ceil(3 * traversal))
    n_pulses = check_int("characterize", "n_pulses", n_pulses, ge=2)
    n_devices = check_int("characterize", "n_devices", n_devices, ge=1)
    n_cycles = check_int("characterize", "n_cycles", n_cycles, ge=1)
    n_alternating = 2 * n_pulses if n_alternating is None else n_alternating
    n_alternating = check_int("characterize", "n_alternating", n_alternating, ge=2)

    tile = AnalogTile(n_devices, 1, config, seed)
    tile.set_weights(np.full((n_devices, 1), -_FAR_AWAY, dtype=np.float32), False)
    steps = 2 * n_pulses * n_cycles
    directions = np.tile(np.repeat(np.array([1, -1], dtype=np.int8), n_pulses), n_cycles)
    weights = np.empty((steps + 1, n_devices))
    weights[0] = tile.get_weights(False)[:, 0]
    for k in range(0, steps, n_pulses):
        _run(tile, bool(directions[k] > 0), n_pulses, weights[k + 1 : k + 1 + n_pulses])

    tile.set_weights(np.zeros((n_devices, 1), dtype=np.float32), False)
    alternating = np.empty((n_alternating + 1, n_devices))
    alternating[0] = tile.get_weights(False)[:, 0]
    for k in range(n_alternating):
        _run(tile, k % 2 == 0, 1, alternating[k + 1 : k + 2])

    up_ramp = weights[: n_pulses + 1]
    down_ramp = weights[n_pulses : 2 * n_pulses + 1]
    tail = max(1, n_pulses // 20)
    w_max = float(np.mean(up_ramp[-tail:]))
    w_min = float(np.mean(down_ramp[-tail:]))
    half_window = max(2, n_pulses // 20)
    dw_up = _mean_of_finite(_slope_at_zero(up_ramp, True, half_window))
    dw_down = -_mean_of_finite(_slope_at_zero(down_ramp, False, half_window))
    symmetry_point = float(np.mean(alternating[n_alternating // 2 + 1 :]))
    return DeviceResponse(
        n_pulses=n_pulses,
        directions=directions,
        weights=weights,
        alternating=alternating,
        w_min=w_min,
        w_max=w_max,
        dw_up=dw_up,
        dw_down=dw_down,
        n_states=(w_max - w_min) / ((dw_up + dw_down) / 2),
        symmetry_point=symmetry_point,
    )

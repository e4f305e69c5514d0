"""Plain helpers of the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rpusim import IOParameters
from rpusim.devices import ConstantStep


def ideal_device(bound: float = 1.0, **changes: float) -> ConstantStep:
    """A constant-step device without any variation: every device has the bounds +-bound and
    steps of exactly dw_min, and no pulse-to-pulse noise."""
    values: dict[str, float] = {
        "dw_min_dtod": 0.0,
        "dw_min_std": 0.0,
        "up_down_dtod": 0.0,
        "w_max": bound,
        "w_min": -bound,
        "w_max_dtod": 0.0,
        "w_min_dtod": 0.0,
    }
    values.update(changes)
    return ConstantStep(**values)


def quiet_io(**changes: Any) -> IOParameters:
    """A periphery without noise, noise management or bound management (quantisation as
    given, default on)."""
    values: dict[str, Any] = {
        "out_noise": 0.0,
        "noise_management": "none",
        "bound_management": "none",
    }
    values.update(changes)
    return IOParameters(**values)


def uniform(rng: np.random.Generator, low: float, high: float, shape: Any) -> np.ndarray:
    """Uniform float32 test data."""
    return rng.uniform(low, high, shape).astype(np.float32)


def bounds(tile: Any) -> tuple[np.ndarray, np.ndarray]:
    """The per-device weight bounds ``(b_min, b_max)`` of a tile, read by programming huge
    weights (each is clipped to its device's bound). The tile's weights are left at zero."""
    shape = (tile.out_size, tile.in_size)
    tile.set_weights(np.full(shape, 1e6, dtype=np.float32))
    b_max = tile.get_weights()
    tile.set_weights(np.full(shape, -1e6, dtype=np.float32))
    b_min = tile.get_weights()
    tile.set_weights(np.zeros(shape, dtype=np.float32))
    return b_min, b_max

"""Plain helpers of the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import io
from pathlib import Path
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


def write_cifar_npz(path: Path, n_train: int = 6, n_test: int = 3) -> dict[str, np.ndarray]:
    """A small npz in the shared file's format; returns the decoded images as Pillow gives them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {"classes": np.array([f"class{k}" for k in range(10)])}
    decoded = {}
    for split, n in (("train", n_train), ("test", n_test)):
        blobs = []
        for _ in range(n):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
            blobs.append(buffer.getvalue())
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_labels"] = rng.integers(0, 10, n).astype(np.uint8)
        decoded[split] = np.stack(
            [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return {**decoded, **arrays}

"""Inputs a hostile or careless caller passes (issue 12, item 9): a misaligned array is copied,
a masked array refused, a bytes-like state accepted."""

from __future__ import annotations

import numpy as np
import pytest
import rpusim


def misaligned(rows: int, cols: int) -> np.ndarray:
    """A C-contiguous float32 array that starts one byte into its buffer."""
    buffer = np.zeros(rows * cols * 4 + 1, dtype=np.uint8)
    array = np.ndarray((rows, cols), dtype=np.float32, buffer=buffer, offset=1)
    array[...] = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) / 10
    return array


def test_a_misaligned_array_is_copied_not_refused() -> None:
    tile = rpusim.AnalogTile(3, 4, rpusim.RPUConfig.floating_point(), seed=1)
    x = misaligned(2, 4)
    assert not x.flags.aligned and x.flags.c_contiguous
    y = rpusim.AnalogTile.from_bytes(tile.to_bytes()).forward(np.array(x))
    assert np.array_equal(tile.forward(x), y)
    tile.set_weights(misaligned(3, 4))
    assert np.array_equal(tile.get_weights(), np.array(misaligned(3, 4)))


def test_a_masked_array_is_refused() -> None:
    tile = rpusim.AnalogTile(3, 4, seed=1)
    masked = np.ma.masked_array(np.ones((1, 4), np.float32), mask=[[0, 1, 0, 0]])
    before = tile.to_bytes()
    for call in (tile.forward, tile.set_weights):
        with pytest.raises(TypeError, match="masked array's mask would be lost"):
            call(masked)
    assert tile.to_bytes() == before


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_from_bytes_takes_what_load_state_dict_takes(kind: type) -> None:
    tile = rpusim.AnalogTile(3, 4, seed=2)
    restored = rpusim.AnalogTile.from_bytes(kind(tile.to_bytes()))
    assert restored.to_bytes() == tile.to_bytes()

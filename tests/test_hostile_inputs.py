"""Inputs a hostile or careless caller passes (issue 12, item 9): a misaligned array is copied,
a masked array refused, a bytes-like state accepted, a bad RPUSIM_NUM_THREADS refused, a
configuration document that is not an object of objects refused as a ConfigError."""

from __future__ import annotations

import os
import re
import subprocess
import sys

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


def import_with_threads(value: str) -> subprocess.CompletedProcess[str]:
    """``import rpusim`` in a fresh interpreter with ``RPUSIM_NUM_THREADS=value``; prints the
    thread count."""
    env = {**os.environ, "RPUSIM_NUM_THREADS": value}
    code = "import rpusim; print(rpusim.get_num_threads())"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("value", ["abc", "0", "-2", "2.5", "1025", "100000"])
def test_a_bad_thread_count_in_the_environment_is_refused_on_import(value: str) -> None:
    result = import_with_threads(value)
    assert result.returncode != 0
    message = (
        "RPUSimError: RPUSIM_NUM_THREADS: expected a whole number of threads in [1, 1024], "
        f"got {value!r}"
    ).replace("'", '"')
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(("value", "threads"), [("3", 3), (" 1024 ", 1024)])
def test_a_good_thread_count_in_the_environment_is_taken(value: str, threads: int) -> None:
    result = import_with_threads(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(threads)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("n", [1025, 100_000])
def test_set_num_threads_refuses_more_than_the_cap(n: int) -> None:
    before = rpusim.get_num_threads()
    with pytest.raises(rpusim.RPUSimError, match=rf"num_threads: must be in \[1, 1024\], got {n}"):
        rpusim.set_num_threads(n)
    assert rpusim.get_num_threads() == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"forward": []}', "section 'forward' must be a JSON object of its fields by name"),
        ('{"update": [31, true]}', "section 'update' must be a JSON object"),
        ('{"mapping": [1.0]}', "section 'mapping' must be a JSON object"),
        ("[" * 100_000, "recursion limit exceeded"),
        ('{"forward": ' * 5000 + "{}" + "}" * 5000, "recursion limit exceeded"),
        ("17", "expected a JSON object, got 17"),
    ],
)
def test_from_json_refuses_nesting_and_non_objects_with_config_errors(
    text: str, message: str
) -> None:
    """Issue 12, item 9: a ValueError (ConfigError) as documented, never a TypeError or a
    RecursionError."""
    with pytest.raises(rpusim.ConfigError, match=re.escape(message)):
        rpusim.RPUConfig.from_json(text)

"""Ctrl-C during a long update (issue 12, item 5): SIGINT stops it within a short time with
KeyboardInterrupt, and the tile then holds the update's first samples, a whole number of them,
in order: its state loads and equals that of an update of those samples alone."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from rpusim import AnalogTile, RPUConfig

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is tested on POSIX")

# The child: a long update of a tile, the tile's state after the KeyboardInterrupt, the note
# that says how many samples it holds. x and d are made from the seed, so the parent makes them
# again.
CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import rpusim

    out_size, in_size, n, max_size, state_path = sys.argv[1:]
    out_size, in_size, n, max_size = int(out_size), int(in_size), int(n), int(max_size)
    config = rpusim.RPUConfig()
    config.mapping.max_input_size = config.mapping.max_output_size = max_size
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, (n, in_size)).astype(np.float32)
    d = rng.uniform(-0.1, 0.1, (n, out_size)).astype(np.float32)
    tile = rpusim.AnalogTile(out_size, in_size, config, seed=5)
    print("ready", flush=True)
    start = time.monotonic()
    try:
        tile.update(x, d, 0.01)
        print("finished", time.monotonic() - start, flush=True)
    except KeyboardInterrupt as e:
        stopped = time.monotonic()
        with open(state_path, "wb") as f:
            f.write(tile.to_bytes())
        notes = " | ".join(getattr(e, "__notes__", []))
        print("interrupted", stopped, notes, flush=True)
    """
)


def interrupted_update(
    tmp_path: Path, out_size: int, in_size: int, n: int, max_size: int
) -> tuple[float, str, bytes]:
    """Runs the child, sends SIGINT 0.5 s into its update; the seconds from the signal to the
    KeyboardInterrupt, the exception's note and the tile's state."""
    state_path = tmp_path / "state.bin"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, (out_size, in_size, n, max_size, state_path))],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    words = output.split(maxsplit=2)
    assert words[0] == "interrupted", output  # "finished": Ctrl-C did not stop the update
    return float(words[1]) - sent, words[2].strip(), state_path.read_bytes()


def inputs(out_size: int, in_size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, (n, in_size)).astype(np.float32)
    d = rng.uniform(-0.1, 0.1, (n, out_size)).astype(np.float32)
    return x, d


def test_ctrl_c_stops_an_update_and_leaves_its_first_samples_applied(tmp_path: Path) -> None:
    # About 0.5 ms a sample on one core: the whole update would take some 10 s.
    out_size, in_size, n = 512, 512, 20000
    seconds, note, state = interrupted_update(tmp_path, out_size, in_size, n, 512)
    assert seconds < 2.0, f"KeyboardInterrupt {seconds:.2f} s after SIGINT"
    match = re.fullmatch(r"rpusim: update interrupted after (\d+) of its 20000 samples", note)
    assert match, note
    applied = int(match.group(1))
    assert 0 < applied < n
    tile = AnalogTile.from_bytes(state)
    assert tile.counters.update == 1
    assert np.isfinite(tile.get_weights()).all()
    twin = AnalogTile(out_size, in_size, RPUConfig(), seed=5)
    x, d = inputs(out_size, in_size, n)
    twin.update(x[:applied], d[:applied], 0.01)
    assert tile.to_bytes() == twin.to_bytes()
    # The restored tile goes on training.
    tile.update(x[:4], d[:4], 0.01)
    assert tile.counters.update == 2


def test_ctrl_c_stops_an_update_on_a_grid_of_arrays(tmp_path: Path) -> None:
    """The arrays of a grid run in parallel; each stops at a whole sample of its own."""
    out_size, in_size, n = 512, 512, 20000
    seconds, note, state = interrupted_update(tmp_path, out_size, in_size, n, 256)
    assert seconds < 2.0, f"KeyboardInterrupt {seconds:.2f} s after SIGINT"
    assert re.fullmatch(r"rpusim: update interrupted after \d+ of its 20000 samples", note)
    tile = AnalogTile.from_bytes(state)
    assert len(tile.tiles) == 4
    assert all(array.counters.update == 1 for array in tile.tiles)
    assert np.isfinite(tile.get_weights()).all()
    assert tile.pulses > 0

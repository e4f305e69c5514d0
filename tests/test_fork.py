"""A process forked after the engine's worker threads started (torch DataLoader workers, for
instance) can use its tiles: the child builds its own pool; a tile that another thread was using
when the process forked is refused in the child."""

from __future__ import annotations

import os
import select
import sys
import threading
import time

import numpy as np
import pytest
import rpusim
from helpers import uniform
from rpusim import AnalogTile

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork is tested on Linux")


def read_child(read_fd: int, pid: int, timeout: float = 60.0) -> bytes:
    """Everything the child writes, or fail (and kill it) after ``timeout`` seconds."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(remaining, 0))
        if not ready:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung (a deadlocked thread pool?)")
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork")
def test_forward_in_a_forked_child_equals_the_parent(rng: np.random.Generator) -> None:
    rpusim.set_num_threads(2)
    tile = AnalogTile(256, 300, seed=12)
    tile.set_weights(uniform(rng, -0.3, 0.3, (256, 300)))
    x = uniform(rng, -1, 1, (64, 300))
    tile.forward(x)  # big enough to start the worker threads
    d = uniform(rng, -1, 1, (64, 256))
    tile.update(x, d, 0.001)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            y = tile.forward(x)
            tile.update(x, d, 0.001)
            payload = y.tobytes() + tile.to_bytes()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        child = read_child(read_fd, pid)
    finally:
        os.close(read_fd)
    y = tile.forward(x)
    tile.update(x, d, 0.001)
    assert child == y.tobytes() + tile.to_bytes()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork")
def test_a_tile_in_use_when_the_process_forked_is_refused_in_the_child(
    rng: np.random.Generator,
) -> None:
    """Issue 12, item 4: the child inherits the tile locked by a thread it does not have; a call
    on it raises instead of waiting forever, and the other tiles work."""
    busy = AnalogTile(512, 512, seed=3)
    x = uniform(rng, -1, 1, (30000, 512))
    d = uniform(rng, -0.1, 0.1, (30000, 512))
    other = AnalogTile(8, 16, seed=4)
    small = uniform(rng, -1, 1, (2, 16))
    expected = AnalogTile(8, 16, seed=4).forward(small).tobytes()
    updating = threading.Thread(target=busy.update, args=(x, d, 0.01))
    updating.start()
    time.sleep(0.5)  # the update takes seconds: it holds the tile now
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid != 0:
        assert updating.is_alive(), "the update ended before the fork: make it longer"
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            lines = []
            for name, call in [
                ("forward", lambda: busy.forward(np.tile(small, 32))),
                ("to_bytes", busy.to_bytes),
                ("counters", lambda: busy.counters),
            ]:
                try:
                    call()
                    lines.append(f"{name}: no error")
                except RuntimeError as e:
                    lines.append(f"{name}: {e}")
            same = other.forward(small).tobytes() == expected
            lines.append(f"other tile: {'same' if same else 'different'}")
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write("\n".join(lines).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        child = read_child(read_fd, pid, timeout=30).decode().splitlines()
    finally:
        os.close(read_fd)
        updating.join()
    refused = "tile was in use by another thread when the process forked"
    assert [line.split(": ", 1)[0] for line in child] == [
        "forward",
        "to_bytes",
        "counters",
        "other tile",
    ]
    for line in child[:3]:
        assert refused in line, child
    assert child[3] == "other tile: same"
    # The parent's tile finished its update and works.
    assert busy.counters.update == 1
    busy.forward(uniform(rng, -1, 1, (1, 512)))

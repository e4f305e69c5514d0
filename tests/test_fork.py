"""A process forked after the engine's worker threads started (torch DataLoader workers, for
instance) can use its tiles: the child builds its own pool."""

from __future__ import annotations

import os
import select
import sys
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

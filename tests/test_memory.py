"""Memory a tile takes and allocations that fail (issue 12, item 1): a MemoryError, never an
aborted process, and the estimate of a tile before it is built."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import rpusim
from rpusim import devices

# Runs `body` in a child whose address space is limited to 3 GiB, after `import numpy as np,
# rpusim`; the child prints what it raised.
_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
import numpy as np, rpusim
try:
{body}
    print("no error")
except MemoryError as e:
    print("MemoryError:", e)
"""


def run_limited(body: str) -> subprocess.CompletedProcess[str]:
    script = _LIMITED.format(body=textwrap.indent(textwrap.dedent(body), "    "))
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )


def unsplit(config: rpusim.RPUConfig) -> rpusim.RPUConfig:
    config.mapping.max_input_size = 0
    config.mapping.max_output_size = 0
    return config


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is Linux's")
@pytest.mark.parametrize(
    ("body", "message"),
    [
        # 2^30 devices: 20 GiB of weights and device arrays, split into 512 x 512 arrays or not.
        ("rpusim.AnalogTile(32768, 32768)", "takes an estimated 20.02 GiB"),
        (
            "c = rpusim.RPUConfig()\n"
            "c.mapping.max_input_size = c.mapping.max_output_size = 0\n"
            "rpusim.AnalogTile(32768, 32768, c)",
            "takes an estimated 20.00 GiB",
        ),
        # The batch fits (512 MiB), the pass's work space beside it does not.
        (
            "rpusim.AnalogTile(1, 1).forward(np.ones((2**27, 1), np.float32))",
            "pass work space: cannot allocate",
        ),
        # The binding's copy of the errors (512 MiB, taken before the engine reads them) comes
        # first, so whichever of the work space and the 2 GiB output is allocated next fails.
        (
            "rpusim.AnalogTile(1, 4).backward(np.ones((2**27, 1), np.float32))",
            r"(pass work space|output): cannot allocate",
        ),
        # A perfect pass needs no work space; its output of 4 GiB cannot be allocated.
        (
            "c = rpusim.RPUConfig.floating_point()\n"
            "c.forward = rpusim.IOParameters(is_perfect=True)\n"
            "rpusim.AnalogTile(8, 1, c).forward(np.ones((2**27, 1), np.float32))",
            "output: cannot allocate 4294967296 bytes",
        ),
    ],
)
def test_an_allocation_that_fails_is_a_memory_error(body: str, message: str) -> None:
    result = run_limited(body)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("MemoryError:"), result.stdout + result.stderr[-2000:]
    assert re.search(message, result.stdout), result.stdout


@pytest.mark.parametrize(
    "device",
    [
        devices.ConstantStep(),
        devices.LinearStep(write_noise_std=1.0),
        devices.IdealDevice(),
        devices.VectorUnitCell(devices=[devices.ConstantStep(), devices.SoftBounds()]),
    ],
    ids=lambda d: type(d).__name__,
)
@pytest.mark.parametrize("split", [False, True])
def test_the_estimate_is_the_size_of_the_state(device: devices.Device, split: bool) -> None:
    # These models keep no arrays beyond their saved ones: the state holds what the tile does.
    config = rpusim.RPUConfig(device=device)
    if not split:
        unsplit(config)
    tile = rpusim.AnalogTile(600, 700, config, seed=1)
    estimate = rpusim.estimate_memory(600, 700, config)
    state = len(tile.to_bytes())
    assert 0.9 < state / estimate < 1.1, (state, estimate)


def test_derived_device_arrays_are_counted() -> None:
    # ExpStep keeps two arrays it derives from its four saved ones, PowStep one beside six.
    for device, derived in [(devices.ExpStep(), 2), (devices.PowStep(), 1)]:
        config = unsplit(rpusim.RPUConfig(device=device))
        base = unsplit(rpusim.RPUConfig())  # weights and four device arrays
        extra = rpusim.estimate_memory(300, 400, config) - rpusim.estimate_memory(300, 400, base)
        saved_extra = len(rpusim.AnalogTile(300, 400, config).to_bytes()) - len(
            rpusim.AnalogTile(300, 400, base).to_bytes()
        )
        assert abs(extra - saved_extra - derived * 4 * 300 * 400) < 4096, (extra, saved_extra)


def test_a_unit_cell_counts_all_its_devices() -> None:
    # The case: 256 devices (the limit) on 2048 x 2048 builds a 20 GB tile.
    cell = devices.VectorUnitCell(devices=[devices.ConstantStep()] * 256)
    estimate = rpusim.estimate_memory(2048, 2048, rpusim.RPUConfig(device=cell))
    # Per cross-point: the weight, and per device its weight and four arrays.
    assert abs(estimate - 4 * 2048 * 2048 * (1 + 256 * 5)) < 64 * 4096, estimate


def test_the_estimate_refuses_what_a_tile_refuses() -> None:
    with pytest.raises(rpusim.RPUSimError, match="out_size"):
        rpusim.estimate_memory(0, 3)
    with pytest.raises(rpusim.RPUSimError, match="at most 2\\^30 devices"):
        rpusim.estimate_memory(1 << 16, 1 << 16)
    with pytest.raises(TypeError, match="rpu_config"):
        rpusim.estimate_memory(3, 3, "constant")  # type: ignore[arg-type]

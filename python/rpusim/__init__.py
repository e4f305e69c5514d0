"""rpusim: training neural networks on simulated analog resistive crossbar arrays (RPU tiles).

A multithreaded, bit-reproducible Rust engine simulates the tiles (MODEL.md); this package is
its typed Python interface. torch is optional and imported only when a tensor is passed.

>>> import numpy as np, rpusim
>>> tile = rpusim.AnalogTile(4, 3, rpusim.RPUConfig(), seed=1)
>>> tile.forward(np.ones(3, dtype=np.float32)).shape
(4,)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from rpusim import devices
from rpusim._native import FORMAT_VERSION
from rpusim.config import (
    BoundManagementType,
    IOParameters,
    NoiseManagementType,
    PulseType,
    RPUConfig,
    UpdateParameters,
)
from rpusim.tile import AnalogTile, Counters, get_num_threads, set_num_threads

try:
    __version__ = version("rpusim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "FORMAT_VERSION",
    "AnalogTile",
    "BoundManagementType",
    "Counters",
    "IOParameters",
    "NoiseManagementType",
    "PulseType",
    "RPUConfig",
    "UpdateParameters",
    "__version__",
    "devices",
    "get_num_threads",
    "set_num_threads",
]

"""rpusim: training neural networks on simulated analog resistive crossbar arrays (RPU tiles).

A multithreaded, bit-reproducible Rust engine simulates the tiles (MODEL.md); this package is
its typed Python interface. torch is optional and imported only when a tensor is passed.

>>> import numpy as np, rpusim
>>> tile = rpusim.AnalogTile(4, 3, rpusim.RPUConfig(), seed=1)
>>> tile.forward(np.ones(3, dtype=np.float32)).shape
(4,)
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from rpusim import devices, presets
from rpusim._native import FORMAT_VERSION, ConfigError, RPUSimError, StateError
from rpusim.characterization import DeviceResponse, characterize
from rpusim.config import (
    BoundManagementType,
    IOParameters,
    MappingParameters,
    NoiseManagementType,
    PulseType,
    RPUConfig,
    UpdateParameters,
)
from rpusim.tile import AnalogTile, Counters, estimate_memory, get_num_threads, set_num_threads

try:
    __version__ = version("rpusim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_LAZY_SUBMODULES = ("compensation", "data", "nn", "optim", "training")
"""Imported on first access (``rpusim.nn.AnalogLinear``): ``nn``, ``optim`` and ``training`` need
torch, which ``import rpusim`` does not import."""


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"rpusim.{name}")
    raise AttributeError(f"module 'rpusim' has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "AnalogTile",
    "BoundManagementType",
    "ConfigError",
    "Counters",
    "DeviceResponse",
    "IOParameters",
    "MappingParameters",
    "NoiseManagementType",
    "PulseType",
    "RPUConfig",
    "RPUSimError",
    "StateError",
    "UpdateParameters",
    "__version__",
    "characterize",
    "devices",
    "estimate_memory",
    "get_num_threads",
    "presets",
    "set_num_threads",
]

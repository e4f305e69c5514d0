"""The engine's tiles (Rust, PyO3). Private: use :mod:`rpusim` instead."""

from typing import final

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEVICE_TYPES",
    "FORMAT_VERSION",
    "OLDEST_FORMAT_VERSION",
    "ConfigError",
    "RPUSimError",
    "StateError",
    "Tile",
    "default_config_json",
    "default_device_json",
    "estimate_memory",
    "fold_patches",
    "get_num_threads",
    "set_num_threads",
    "unfold_patches",
    "validate_config",
    "validate_config_section",
]

class RPUSimError(ValueError):
    """An argument, configuration or state rpusim refuses; the message names the parameter."""

class ConfigError(RPUSimError):
    """A configuration that is unreadable or has a value out of its range."""

class StateError(RPUSimError):
    """Saved state bytes that are corrupt, truncated or of an unknown format version."""

DEVICE_TYPES: tuple[str, ...]
"""The JSON tags of the engine's device models, in the engine's order."""
FORMAT_VERSION: int
"""Format version of the state bytes this build writes."""
OLDEST_FORMAT_VERSION: int
"""The oldest format version this build reads."""

@final
class Tile:
    """One weight matrix on a grid of analog arrays (one array within the size limits); calls
    release the GIL and are serialised per tile by a mutex."""

    def __new__(cls, out_size: int, in_size: int, config_json: str, seed: int) -> Tile: ...
    @property
    def out_size(self) -> int: ...
    @property
    def in_size(self) -> int: ...
    @property
    def seed(self) -> int: ...
    def counters(self) -> tuple[int, int, int]:
        """``(forward, backward, update)`` call counters."""
    @property
    def batch_shard(self) -> int:
        """Which equal part of a larger batch the passes compute (their noise is that of those
        samples of the whole batch); 0 by default, not saved."""
    @batch_shard.setter
    def batch_shard(self, shard: int) -> None: ...
    @property
    def pulses(self) -> int:
        """Pulses applied to the devices since the tile was made (saved with the state)."""
    def forward(self, x: npt.NDArray[np.float32], is_test: bool) -> npt.NDArray[np.float32]:
        """``x``: C-contiguous ``(n, in_size)``; returns ``(n, out_size)``."""
    def forward_clipped(
        self, x: npt.NDArray[np.float32], is_test: bool
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_] | None]:
        """The forward pass, and which outputs of every array reached its output bound
        (``(grid columns, batch, out_size)``), or ``None`` when none did."""
    def backward_masked(
        self, d: npt.NDArray[np.float32], clipped: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float32]:
        """The backward pass with the errors ``clipped`` marks set to zero, array by array."""
    def backward(self, d: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """``d``: C-contiguous ``(n, out_size)``; returns ``(n, in_size)``."""
    def update(self, x: npt.NDArray[np.float32], d: npt.NDArray[np.float32], lr: float) -> None: ...
    def get_weights(self, apply_weight_scaling: bool) -> npt.NDArray[np.float32]:
        """The effective weights ``diag(out_scales) W_a``, or the analog ones ``W_a``."""
    def set_weights(self, w: npt.NDArray[np.float32], apply_weight_scaling: bool) -> None:
        """Maps (weight scaling) and programs effective weights, or programs analog ones."""
    def get_out_scales(self) -> npt.NDArray[np.float32]:
        """The digital scale of every output row, ``(out_size,)``; ValueError when the inputs
        are split over several arrays."""
    @property
    def tile_count(self) -> int:
        """How many physical arrays hold the matrix."""
    def tile_block(self, k: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Rows ``(start, stop)`` and columns ``(start, stop)`` of array ``k``."""
    def tile_info(self, k: int) -> tuple[int, int, tuple[int, int, int]]:
        """Seed, pulses and ``(forward, backward, update)`` counters of array ``k``."""
    def tile_weights(self, k: int, apply_weight_scaling: bool) -> npt.NDArray[np.float32]:
        """The effective (or analog) weights of array ``k``."""
    def tile_out_scales(self, k: int) -> npt.NDArray[np.float32]:
        """The digital row scales of array ``k``."""
    def remap(self) -> None:
        """Maps the current effective weights anew and programs them."""
    def pulse(self, up: bool) -> None:
        """One pulse, up (the weight grows) or down, to every device, with its cycle-to-cycle
        noise; counts as an update call. ValueError for the ideal device."""
    def reset_columns(self, start_column: int, num_columns: int, reset_prob: float) -> None:
        """Resets ``num_columns`` columns from ``start_column`` on (wrapping), each device with
        probability ``reset_prob``; counts as a reset. ValueError for the ideal device."""
    def pulse_counts(self) -> npt.NDArray[np.uint64] | None:
        """``(2 * counting devices, out_size, in_size)`` pulse counters (per device: the
        pulses that lowered the weight, then those that raised it), ``None`` when no device
        counts."""
    def get_config_json(self) -> str: ...
    def set_config_json(self, config_json: str) -> None: ...
    def patch_config(self, patch_json: str) -> None:
        """Applies the JSON merge patch to the configuration (checked once); a refused patch
        (ConfigError) leaves the tile as it was."""
    def check_config_patch(self, patch_json: str) -> None:
        """``patch_config``'s checks without the change: ConfigError when it would refuse."""
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(state: bytes) -> Tile: ...

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def validate_config(config_json: str) -> str:
    """The configuration document checked by the engine (missing sections and fields take
    their defaults), complete; ConfigError naming the field otherwise."""

def validate_config_section(section: str, section_json: str, name: str) -> str:
    """One section (``"forward"``, ``"device"``, ...) checked on its own, its fields named
    ``{name}.{field}`` in errors; returns the section complete."""

def estimate_memory(out_size: int, in_size: int, config_json: str) -> int:
    """The bytes an ``out_size x in_size`` tile of the configuration takes once built."""

def unfold_patches(
    images: npt.NDArray[np.float32],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> npt.NDArray[np.float32]:
    """Every patch of ``images`` (``(batch, channels, height, width)``) of a 2-D convolution as
    a row, ``(batch * out_h * out_w, channels * kh * kw)``; RPUSimError naming a parameter that
    makes no convolution."""

def fold_patches(
    patches_grad: npt.NDArray[np.float32],
    image_shape: list[int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> npt.NDArray[np.float32]:
    """The images of ``image_shape`` whose pixels sum the values of the patches taken from them
    (the adjoint of :func:`unfold_patches`)."""

def default_config_json() -> str:
    """The engine's default configuration (the defaults of the Python dataclasses)."""

def default_device_json(name: str) -> str:
    """The engine's default parameters of the device model ``name`` (its JSON tag) as JSON;
    ValueError for an unknown name."""

"""AnalogTile: one simulated crossbar array, for numpy arrays and torch tensors.

Inputs are float32 numpy arrays or float32 CPU torch tensors, 2-D ``(batch, size)`` or 1-D
``(size,)``; results have the kind and the number of dimensions of the input. torch is never
imported by this module until a tensor is passed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, Union

import numpy as np
import numpy.typing as npt

from rpusim import _native
from rpusim._checks import check_bool, check_int, check_real
from rpusim._native import RPUSimError, StateError
from rpusim.config import RPUConfig, patch_json

if TYPE_CHECKING:
    import torch

__all__ = ["AnalogTile", "Counters", "PhysicalArray", "get_num_threads", "set_num_threads"]

FloatArray = npt.NDArray[np.float32]
Float32Input = Union[FloatArray, "torch.Tensor"]
A = TypeVar("A", FloatArray, "torch.Tensor")

_SEED_MAX = 2**64 - 1


class Counters(NamedTuple):
    """How many calls of each operation a tile has made (the position of its random streams)."""

    forward: int
    backward: int
    update: int


def _is_tensor(value: object) -> bool:
    """Whether ``value`` is a torch tensor, decided without importing torch."""
    return any(c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(value).__mro__)


def _as_matrix(name: str, value: object) -> tuple[FloatArray, bool]:
    """``value`` as a C-contiguous float32 ndarray (a view when possible), and whether it was
    a tensor. TypeError for anything but a float32 ndarray or float32 CPU tensor."""
    if _is_tensor(value):
        import torch

        assert isinstance(value, torch.Tensor)
        if value.device.type != "cpu":
            raise TypeError(
                f"{name} must be a CPU tensor, got a tensor on device {value.device}; "
                f"move it with .cpu()"
            )
        if value.dtype != torch.float32:
            raise TypeError(
                f"{name} must be a float32 numpy.ndarray or torch.Tensor, got {value.dtype}"
            )
        if value.layout != torch.strided:
            raise TypeError(f"{name} must be a dense (strided) tensor, got layout {value.layout}")
        array = value.detach().numpy()
        is_tensor = True
    elif isinstance(value, np.ma.MaskedArray):
        # The engine would read the masked values as if they were data.
        raise TypeError(
            f"{name}: a masked array's mask would be lost; pass value.filled(fill) or the "
            "unmasked rows"
        )
    elif isinstance(value, np.ndarray):
        if value.dtype != np.float32:
            raise TypeError(
                f"{name} must be a float32 numpy.ndarray or torch.Tensor, got {value.dtype}"
            )
        array = value
        is_tensor = False
    else:
        raise TypeError(
            f"{name} must be a float32 numpy.ndarray or torch.Tensor, got {type(value).__name__}"
        )
    if not (array.flags.c_contiguous and array.flags.aligned):
        # np.ascontiguousarray keeps a contiguous but misaligned array as it is.
        array = np.array(array, dtype=np.float32, order="C", copy=True)
    return array, is_tensor


def _as_batch(name: str, value: object, size: int) -> tuple[FloatArray, bool, bool]:
    """``value`` as a float32 matrix, one sample a row (the engine checks that a row has
    ``size`` values); also whether it was a tensor and 1-D."""
    array, is_tensor = _as_matrix(name, value)
    if array.ndim == 1:
        return array.reshape(1, -1), is_tensor, True
    if array.ndim == 2:
        return array, is_tensor, False
    raise RPUSimError(
        f"{name}: expected shape (batch, {size}) or ({size},), got {tuple(array.shape)}"
    )


def _result(y: FloatArray, is_tensor: bool, one_d: bool) -> Any:
    if one_d:
        y = y[0]
    if is_tensor:
        import torch

        return torch.from_numpy(y)
    return y


def _check_size(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 1 <= int(value) <= 2**32 - 1:
        raise RPUSimError(f"{name} must be in [1, 2^32 - 1], got {value}")
    return int(value)


def _check_shard(shard: object) -> int:
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < 2**63:
        raise ValueError(f"batch_shard must be an integer in [0, 2^63), got {shard!r}")
    return shard


def _native_from_state(state: object) -> _native.Tile:
    """The engine tile stored in a :meth:`AnalogTile.state_dict`."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict from AnalogTile.state_dict(), got {type(state)}")
    for key in ("format_version", "out_size", "in_size", "state"):
        if key not in state:
            raise StateError(f"state: missing key {key!r}")
    version = state["format_version"]
    oldest, newest = _native.OLDEST_FORMAT_VERSION, _native.FORMAT_VERSION
    if isinstance(version, bool) or not isinstance(version, int) or not oldest <= version <= newest:
        raise StateError(
            f"state: format_version {version!r} is not supported "
            f"(this build reads {oldest} to {newest})"
        )
    data = state["state"]
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"state['state'] must be bytes, got {type(data).__name__}")
    native = _native.Tile.from_bytes(data)
    if (native.out_size, native.in_size) != (state["out_size"], state["in_size"]):
        raise StateError(
            f"state: the stored tile is {native.out_size} x {native.in_size}, but the "
            f"dictionary says {state['out_size']} x {state['in_size']}"
        )
    return native


class PhysicalArray:
    """One physical crossbar array of an :class:`AnalogTile` (a read-only view of the live
    array: every attribute reads its current state).

    A tile larger than ``rpu_config.mapping.max_output_size x max_input_size`` is held by a
    grid of such arrays (MODEL.md section 3.5), each with its own periphery, noise and bound
    management, weight scaling and random streams.
    """

    def __init__(self, tile: AnalogTile, index: int) -> None:
        self._tile = tile
        self.index = index
        """Position in :attr:`AnalogTile.tiles` (row-major over the grid)."""
        (r0, r1), (c0, c1) = tile._tile.tile_block(index)
        self.rows = range(r0, r1)
        """The rows (outputs) of the tile's weight matrix this array holds."""
        self.cols = range(c0, c1)
        """The columns (inputs) of the tile's weight matrix this array holds."""

    @property
    def seed(self) -> int:
        """Seed of the array's random streams: the tile's seed for the first array, a mix of
        the tile's seed and ``index`` for the others."""
        return self._tile._tile.tile_info(self.index)[0]

    @property
    def pulses(self) -> int:
        """Pulses applied to this array's devices since the tile was made."""
        return self._tile._tile.tile_info(self.index)[1]

    @property
    def counters(self) -> Counters:
        """``(forward, backward, update)`` calls of this array (those of the tile)."""
        return Counters(*self._tile._tile.tile_info(self.index)[2])

    def get_weights(self, apply_weight_scaling: bool = True) -> FloatArray:
        """A copy of this array's weights, float32 ``(len(rows), len(cols))``: with its digital
        scales (default) or the analog ones."""
        flag = check_bool("PhysicalArray.get_weights", "apply_weight_scaling", apply_weight_scaling)
        return self._tile._tile.tile_weights(self.index, flag)

    @property
    def out_scales(self) -> FloatArray:
        """This array's digital scale of every row it holds, float32 ``(len(rows),)``."""
        return self._tile._tile.tile_out_scales(self.index)

    def __repr__(self) -> str:
        return (
            f"PhysicalArray(index={self.index}, rows={self.rows.start}:{self.rows.stop}, "
            f"cols={self.cols.start}:{self.cols.stop})"
        )


class AnalogTile:
    """An ``out_size x in_size`` weight matrix on simulated analog crossbar arrays (MODEL.md).

    A matrix within ``rpu_config.mapping.max_output_size x max_input_size`` (512 x 512 by
    default, as in aihwkit) is one crossbar array. A larger one is split, as aihwkit splits it,
    into nearly equal parts along each dimension held by a grid of arrays (:attr:`tiles`), each
    with its own periphery, noise and bound management, weight scaling and random streams: the
    forward outputs of the arrays along the inputs are summed digitally, the backward outputs
    along the outputs likewise, and each array is updated with its part of ``x`` and ``d``.

    The weights start at zero; the devices (bounds, steps) are drawn from ``seed`` when the tile
    is built. Every random draw of every call comes from streams keyed by the seed and the
    tile's call counters, so two tiles with the same seed and the same calls give the same bits,
    at any thread count.

    Calls release the GIL; calls on one tile from several threads run one after the other.
    The engine reads copies of the inputs, checked finite (NaN or infinities are an
    :class:`~rpusim.RPUSimError` naming the argument). A call that raises leaves the tile as it
    was, except an interrupted :meth:`update`. In a process forked while another thread was
    inside a call on the tile, every call on it raises ``RuntimeError`` (the tile is half way
    through that call there).

    Saving: :meth:`state_dict`/:meth:`load_state_dict` (plain values, loadable with
    ``torch.load(..., weights_only=True)``), or pickle the tile itself (``torch.save(tile)``;
    load with ``weights_only=False`` or inside
    ``torch.serialization.safe_globals([AnalogTile])``). A restored tile continues
    bit-identically.

    Args:
        out_size: number of outputs (rows of ``W``), >= 1.
        in_size: number of inputs (columns of ``W``), >= 1.
        rpu_config: device model, periphery and update; default ``RPUConfig()``.
        seed: seed of every random stream of the tile, in ``[0, 2^64)``.
    """

    _tile: _native.Tile

    def __init__(
        self,
        out_size: int,
        in_size: int,
        rpu_config: RPUConfig | None = None,
        seed: int = 0,
    ) -> None:
        out_size = _check_size("out_size", out_size)
        in_size = _check_size("in_size", in_size)
        if rpu_config is None:
            rpu_config = RPUConfig()
        if not isinstance(rpu_config, RPUConfig):
            raise TypeError(f"rpu_config must be an RPUConfig, got {type(rpu_config).__name__}")
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if not 0 <= int(seed) <= _SEED_MAX:
            raise RPUSimError(f"seed must be in [0, 2^64 - 1], got {seed}")
        self._tile = _native.Tile(out_size, in_size, rpu_config.to_json(), int(seed))

    # --- properties ---------------------------------------------------------------------------

    @property
    def out_size(self) -> int:
        """Number of outputs (rows of ``W``)."""
        return self._tile.out_size

    @property
    def in_size(self) -> int:
        """Number of inputs (columns of ``W``)."""
        return self._tile.in_size

    @property
    def seed(self) -> int:
        """Seed of the tile's random streams."""
        return self._tile.seed

    @property
    def tiles(self) -> tuple[PhysicalArray, ...]:
        """The physical arrays that hold the weights, row-major over the grid (one for a matrix
        within the size limits)."""
        return tuple(PhysicalArray(self, k) for k in range(self._tile.tile_count))

    @property
    def counters(self) -> Counters:
        """``(forward, backward, update)``: calls made so far of each operation."""
        return Counters(*self._tile.counters())

    @property
    def pulses(self) -> int:
        """How many single pulses the updates (and :meth:`pulse`) have applied to the devices
        since the tile was made, every device of a unit cell counted; saved with the state.
        Exact float updates (the ideal device, pulse type ``none``) apply none."""
        return self._tile.pulses

    @property
    def batch_shard(self) -> int:
        """Which of equal parts of a larger batch the forward and backward passes compute
        (data-parallel training; default 0, the whole batch): a pass of ``n`` samples draws
        the noise of samples ``shard * n`` to ``(shard + 1) * n - 1`` of that batch, so that
        ``R`` processes passing parts ``0 .. R - 1`` draw what one process passing the whole
        batch draws. Not saved with the state; the update does not use it."""
        return self._tile.batch_shard

    @batch_shard.setter
    def batch_shard(self, shard: int) -> None:
        self._tile.batch_shard = _check_shard(shard)

    @property
    def rpu_config(self) -> RPUConfig:
        """The configuration, read from the engine and bound to this tile: assigning to one of
        its fields changes the tile at once (:meth:`patch_config`, checked by the engine; a
        refused value raises and leaves the tile and the object as they were), so
        ``tile.rpu_config.forward.out_noise = 0.0`` works. The object holds the values read: read
        the property again after other changes. A copy (``copy.deepcopy``, pickle) is a plain
        configuration, not bound. Changing a list in place (``device.piecewise_up[0] = ...``)
        is not seen; device parameters are fixed anyway.

        Assigning a whole configuration changes the periphery, update and mapping parameters of
        the live tile; the device model and the split into physical arrays are fixed once the
        tile is built (changing them raises :class:`~rpusim.ConfigError`).
        """
        config = RPUConfig.from_json(self._tile.get_config_json())
        config._bind(self.patch_config)
        return config

    @rpu_config.setter
    def rpu_config(self, config: RPUConfig) -> None:
        if not isinstance(config, RPUConfig):
            raise TypeError(f"rpu_config must be an RPUConfig, got {type(config).__name__}")
        self._tile.set_config_json(config.to_json())

    def patch_config(self, patch: Mapping[str, Any]) -> None:
        """Changes the named fields of the live tile's configuration in one engine call::

            tile.patch_config({"forward": {"out_noise": 0.0}, "update": {"desired_bl": 15}})

        ``patch`` is a JSON merge patch of the configuration's document (sections as
        :data:`rpusim.config.SECTIONS`, fields by name; options as strings or their enums;
        ``None`` puts a field back to its default). The engine applies it, checks the result
        once, and refuses (:class:`~rpusim.ConfigError` naming the field) a bad value, an
        unknown field, or a change of the device model or of the split; a refused patch
        leaves the tile unchanged."""
        self._tile.patch_config(patch_json(patch))

    # --- the three operations -----------------------------------------------------------------

    def forward(self, x: A, is_test: bool = False) -> A:
        """``y = W x`` through the forward periphery.

        Args:
            x: ``(batch, in_size)`` or ``(in_size,)``, float32 ndarray or CPU tensor.
            is_test: use, but do not advance, the running average of ``average_abs_max``
                noise management.

        Returns:
            ``(batch, out_size)`` or ``(out_size,)``, of the kind of ``x``.
        """
        flag = check_bool("AnalogTile.forward", "is_test", is_test)
        array, is_tensor, one_d = _as_batch("x", x, self.in_size)
        y = self._tile.forward(array, flag)
        return _result(y, is_tensor, one_d)  # type: ignore[no-any-return]

    def backward(self, d: A) -> A:
        """``z = W^T d`` through the backward periphery (never bound-managed).

        Args:
            d: ``(batch, out_size)`` or ``(out_size,)``, float32 ndarray or CPU tensor.

        Returns:
            ``(batch, in_size)`` or ``(in_size,)``, of the kind of ``d``.
        """
        array, is_tensor, one_d = _as_batch("d", d, self.out_size)
        z = self._tile.backward(array)
        return _result(z, is_tensor, one_d)  # type: ignore[no-any-return]

    def update(self, x: Float32Input, d: Float32Input, lr: float) -> None:
        """``W <- W - lr d x^T``, realised by pulses; the samples are applied in order.

        Ctrl-C (a signal whose handler raises) interrupts a long update within about 0.1 s
        and a chunk of samples: the exception (``KeyboardInterrupt``) is raised, and the tile
        holds the first samples of the batch applied, a whole number of them, as an update of
        those samples alone would have left it (each physical array of a split tile stops at a
        whole sample of its own); the call counts as an update. On Python 3.11 and later a
        note on the exception says how many samples were applied (docs/robustness.md).

        Args:
            x: ``(batch, in_size)`` or ``(in_size,)``, float32 ndarray or CPU tensor.
            d: ``(batch, out_size)`` or ``(out_size,)``, same batch as ``x``.
            lr: learning rate, finite and >= 0.
        """
        xs, _, _ = _as_batch("x", x, self.in_size)
        ds, _, _ = _as_batch("d", d, self.out_size)
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, numbers.Real):
            raise TypeError(f"lr must be a real number, got {type(lr).__name__}")
        # The engine checks the range (finite, >= 0) of lr as float32.
        self._tile.update(xs, ds, float(lr))

    # --- weights ------------------------------------------------------------------------------

    def get_weights(self, apply_weight_scaling: bool = True) -> FloatArray:
        """A copy of the weights, float32 ``(out_size, in_size)``.

        Args:
            apply_weight_scaling: the weights the tile computes with, ``diag(out_scales) W_a``
                (default), or the analog weights ``W_a`` the devices hold.
        """
        flag = check_bool("AnalogTile.get_weights", "apply_weight_scaling", apply_weight_scaling)
        return self._tile.get_weights(flag)

    def set_weights(self, weights: Float32Input, apply_weight_scaling: bool = True) -> None:
        """Programs the weights, each analog value clipped to its device's bounds.

        Args:
            weights: float32 ``(out_size, in_size)`` ndarray or CPU tensor, finite.
            apply_weight_scaling: map ``weights`` onto the devices with the configured weight
                scaling (``rpu_config.mapping``: new :attr:`out_scales`) (default), or program
                them as analog weights, keeping the scales.
        """
        flag = check_bool("AnalogTile.set_weights", "apply_weight_scaling", apply_weight_scaling)
        array, _ = _as_matrix("weights", weights)
        if array.ndim != 2:
            shape = (self.out_size, self.in_size)
            raise RPUSimError(f"weights: expected shape {shape}, got {tuple(array.shape)}")
        self._tile.set_weights(array, flag)

    @property
    def out_scales(self) -> FloatArray:
        """The digital scale of every output row (weight scaling), float32 ``(out_size,)``;
        all 1 without weight scaling. ValueError when the inputs are split over several arrays,
        each with its own scales: read them from :attr:`tiles`."""
        return self._tile.get_out_scales()

    def pulse(self, up: bool) -> None:
        """One pulse, up (the weight grows) or down, to every device, with its cycle-to-cycle
        noise (the classic response-curve measurement); counts as an update call. ValueError
        for the ideal device, which takes no pulses."""
        self._tile.pulse(check_bool("AnalogTile.pulse", "up", up))

    def reset_columns(
        self, start_column_idx: int = 0, num_columns: int = 1, reset_prob: float = 1.0
    ) -> None:
        """Resets ``num_columns`` consecutive columns from ``start_column_idx`` on, wrapping
        past the last column (every column when ``num_columns`` is negative or at least
        ``in_size``), as aihwkit's ``reset_columns``: each device, with probability
        ``reset_prob``, takes its reset point (the device's ``reset``, ``reset_dtod``) plus
        ``reset_std * N(0, 1)``, clipped to its bounds. Every device of a unit cell is reset.
        ValueError for the ideal device."""
        owner = "AnalogTile.reset_columns"
        start = check_int(owner, "start_column_idx", start_column_idx, ge=0, le=self.in_size - 1)
        count = check_int(owner, "num_columns", num_columns, ge=-1, le=2**63 - 1)
        prob = check_real(owner, "reset_prob", reset_prob, ge=0.0, le=1.0)
        self._tile.reset_columns(start, self.in_size if count < 0 else count, prob)

    def reset(self, reset_prob: float = 1.0) -> None:
        """Resets every column (:meth:`reset_columns`), each device with probability
        ``reset_prob``."""
        self.reset_columns(0, -1, reset_prob)

    def get_pulse_counts(self) -> npt.NDArray[np.uint64] | None:
        """The pulses every device took, when its device model has ``count_pulses`` (aihwkit's
        ``get_pulse_counters``): uint64 ``(2 * devices, out_size, in_size)``, for each counting
        device (in unit-cell order) the pulses that lowered the weight (positive ``d x``,
        aihwkit's first plane), then those that raised it. ``None`` when no device counts."""
        return self._tile.pulse_counts()

    def remap(self) -> None:
        """Maps the current effective weights anew with ``rpu_config.mapping`` and programs
        them: the analog weights use the configured range again, the effective weights stay
        (up to the devices' programming)."""
        self._tile.remap()

    # --- state --------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole state (configuration, weights, devices, random counters) as versioned,
        checksummed bytes."""
        return self._tile.to_bytes()

    @classmethod
    def from_bytes(cls, state: bytes | bytearray | memoryview) -> AnalogTile:
        """A tile restored from :meth:`to_bytes` (any bytes-like object holding them, as
        :meth:`load_state_dict` takes); it continues bit-identically."""
        if isinstance(state, (bytearray, memoryview)):
            state = bytes(state)
        tile = cls.__new__(cls)
        tile._tile = _native.Tile.from_bytes(state)
        return tile

    def state_dict(self) -> dict[str, Any]:
        """The whole state as a dictionary of plain values (safe for
        ``torch.load(weights_only=True)``): ``format_version``, ``out_size``, ``in_size`` and
        ``state`` (the engine bytes)."""
        return {
            "format_version": _native.FORMAT_VERSION,
            "out_size": self.out_size,
            "in_size": self.in_size,
            "state": self.to_bytes(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replaces the whole state (configuration and devices included) by ``state`` from
        :meth:`state_dict`. The sizes must match (:class:`~rpusim.StateError`); a failure leaves
        the tile unchanged."""
        self._tile = self._native_for(state)

    def check_state_dict(self, state: Mapping[str, Any]) -> None:
        """Raises what :meth:`load_state_dict` would raise for ``state``, and changes nothing
        (reads the state's bytes as loading does)."""
        self._native_for(state)

    def _native_for(self, state: Mapping[str, Any]) -> _native.Tile:
        native = _native_from_state(state)
        if (native.out_size, native.in_size) != (self.out_size, self.in_size):
            raise StateError(
                f"state: a {native.out_size} x {native.in_size} tile cannot be loaded into a "
                f"{self.out_size} x {self.in_size} tile"
            )
        return native

    def __getstate__(self) -> dict[str, Any]:
        return self.state_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._tile = _native_from_state(state)

    def _forward_clipped(self, x: A, is_test: bool) -> tuple[A, Any]:
        """:meth:`forward`, and which outputs of every physical array reached its output bound
        (for the autograd bridge's gradient stop, as aihwkit's tiles: an array's output whose
        analog value, before its digital scale, is at ``0.999 * forward.out_scale *
        forward.out_bound`` or beyond): a bool ndarray ``(grid columns, batch, out_size)``, or
        ``None`` when none did (always for a perfect forward pass or without an output
        bound)."""
        flag = check_bool("AnalogTile.forward", "is_test", is_test)
        array, is_tensor, one_d = _as_batch("x", x, self.in_size)
        y, clipped = self._tile.forward_clipped(array, flag)
        return _result(y, is_tensor, one_d), clipped

    def _backward_masked(self, d: A, clipped: Any) -> A:
        """:meth:`backward` with the errors of the outputs ``clipped`` marks (from
        :meth:`_forward_clipped` of a batch of the same size) set to zero, array by array."""
        if clipped is None:
            return self.backward(d)
        array, is_tensor, one_d = _as_batch("d", d, self.out_size)
        z = self._tile.backward_masked(array, clipped)
        return _result(z, is_tensor, one_d)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(out_size={self.out_size}, in_size={self.in_size}, seed={self.seed})"


def estimate_memory(out_size: int, in_size: int, rpu_config: RPUConfig | None = None) -> int:
    """The bytes an ``out_size x in_size`` :class:`AnalogTile` of ``rpu_config`` takes once
    built, computed by the engine: the weights, the digital row scales and every per-device
    array (the device parameters drawn once, hidden weights of write noise, every device of a
    unit cell), for every physical array of the split. The work space of forward, backward and
    update passes, which grows with the batch, is not counted. A tile whose estimate exceeds
    what the process can allocate is refused with a ``MemoryError`` that states it."""
    out_size = _check_size("out_size", out_size)
    in_size = _check_size("in_size", in_size)
    if rpu_config is None:
        rpu_config = RPUConfig()
    if not isinstance(rpu_config, RPUConfig):
        raise TypeError(f"rpu_config must be an RPUConfig, got {type(rpu_config).__name__}")
    return _native.estimate_memory(out_size, in_size, rpu_config.to_json())


def set_num_threads(n: int) -> None:
    """Sets the number of engine worker threads for all tiles, in ``[1, 1024]``. Results do not
    depend on it. The default is ``RPUSIM_NUM_THREADS`` (a bad value makes ``import rpusim``
    raise) or the number of cores (at most 1024)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise RPUSimError(f"n must be >= 1, got {n}")
    _native.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of engine worker threads the next call will use."""
    return _native.get_num_threads()

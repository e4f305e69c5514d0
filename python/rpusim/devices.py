"""Device models: how one cross-point responds to one update pulse (MODEL.md section 5).

A device is a dataclass whose fields are the parameters of the engine's device model of the same
name, with aihwkit's names and defaults, so that a configuration carries over (the aihwkit class
names ``ConstantStepDevice``, ``LinearStepDevice``, ... are aliases of the classes here). Its
JSON form for the engine is the field dictionary plus a ``"type"`` tag holding the class name:
``{"type": "ConstantStep", "dw_min": 0.001, ...}`` (:meth:`Device.to_document`,
:func:`device_from_document`).

Every pulsed device of a tile draws its own bounds and step sizes once, when the tile is created
(device-to-device variation, ``*_dtod``); every pulse then varies by ``dw_min_std``
(cycle-to-cycle variation). The models differ in how the step depends on the weight ``w``
(``s = 1 + dw_min_std * N(0, 1)``, ``dw_up``/``dw_down`` the device's drawn steps, ``b_min``/
``b_max`` its drawn bounds):

- ConstantStep: ``dw_up * s`` up, ``dw_down * s`` down;
- LinearStep: ``dw_up * (1 - gamma_up * w / w_max) * s``,
  ``dw_down * (1 - gamma_down * w / w_min) * s``;
- SoftBounds: ``dw_up * (1 - w / b_max) * s``, ``dw_down * (1 - w / b_min) * s``;
- ExpStep: ``dw_up * max(1 - A_up * exp(gamma_up * z), 0) * s``,
  ``dw_down * max(1 - A_down * exp(-gamma_down * z), 0) * s``;
- PowStep: ``dw_up * omega ** gamma_up * s``, ``dw_down * (1 - omega) ** gamma_down * s``;
- PiecewiseStep: ``dw_up * f_up(w) * s``, ``dw_down * f_down(w) * s``;

after which the weight is clipped to ``[b_min, b_max]``. :class:`IdealDevice` takes the exact
float update instead, :class:`VectorUnitCell` puts several devices at every cross-point
(:class:`ReferenceUnitCell`: a device and its reference; :class:`OneSidedUnitCell`: a pair of
devices that only grow, with refreshes), and :class:`TransferCompound` and
:class:`BufferedTransferCompound` (Tiki-Taka v1 and v2) a fast array whose updates are
transferred onto a slow one; :class:`MixedPrecisionCompound` accumulates the update in a
digital matrix and writes it onto one device in whole steps.

All weights and steps are in the tile's weight units: the unit in which ``tile.get_weights()``
reports the conductances, where the default bounds are about +-0.6.

The engine's parameter structs are the one source of the defaults and of the checks: the
fields take their defaults from the engine's defaults of the model (``default_device_json``),
and :meth:`Device.validate` converts the fields to their types and has the engine check the
values. To add a model: add it to the engine (one file and one line of its table of models, see
the engine's ``device`` module), then subclass :class:`PulsedDevice` here under the model's JSON
tag, with its fields (defaults read from the engine) and docstrings. :data:`DEVICE_TYPES` takes
the names from the engine and finds each class by its name.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from rpusim import _native
from rpusim._checks import check_int
from rpusim._native import DEVICE_TYPES as ENGINE_DEVICE_TYPES
from rpusim._parts import ConfigPart, PatchSink, engine_defaults, plain

if TYPE_CHECKING:
    from rpusim.config import IOParameters, UpdateParameters

__all__ = [
    "DEVICE_TYPES",
    "BufferedTransferCompound",
    "ConstantStep",
    "ConstantStepDevice",
    "Device",
    "ExpStep",
    "ExpStepDevice",
    "IdealDevice",
    "LinearStep",
    "LinearStepDevice",
    "MixedPrecisionCompound",
    "OneSidedUnitCell",
    "PiecewiseStep",
    "PiecewiseStepDevice",
    "PowStep",
    "PowStepDevice",
    "PulsedDevice",
    "PulsedDeviceWithWriteNoise",
    "ReferenceUnitCell",
    "SoftBounds",
    "SoftBoundsDevice",
    "TransferCompound",
    "VectorUnitCell",
    "VectorUnitCellUpdatePolicy",
    "device_from_document",
]


def _engine(model: str) -> dict[str, Any]:
    """The engine's default parameters of ``model``: the defaults of the fields below."""
    return engine_defaults(_native.default_device_json(model))


_CONSTANT_STEP = _engine("ConstantStep")
_LINEAR_STEP = _engine("LinearStep")
_SOFT_BOUNDS = _engine("SoftBounds")
_EXP_STEP = _engine("ExpStep")
_POW_STEP = _engine("PowStep")
_PIECEWISE_STEP = _engine("PiecewiseStep")
_VECTOR_UNIT_CELL = _engine("VectorUnitCell")
_REFERENCE_UNIT_CELL = _engine("ReferenceUnitCell")
_TRANSFER_COMPOUND = _engine("TransferCompound")
_BUFFERED_TRANSFER_COMPOUND = _engine("BufferedTransferCompound")
_ONE_SIDED_UNIT_CELL = _engine("OneSidedUnitCell")
_MIXED_PRECISION_COMPOUND = _engine("MixedPrecisionCompound")


@dataclass
class Device(ConfigPart):
    """Base of every device model; the engine knows a model by its class name."""

    _section: ClassVar[str] = "device"
    _checked_as: ClassVar[str] = "IdealDevice"
    """The engine model that checks the fields of a class the engine does not know (the
    bases :class:`PulsedDevice` and :class:`PulsedDeviceWithWriteNoise`)."""

    def to_document(self) -> dict[str, Any]:
        """The engine's JSON object of this device: ``{"type": class name, field: value, ...}``
        (not checked: :meth:`validate` checks)."""
        return {"type": type(self).__name__, **super().to_document()}

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Device:
        """The device of the fields of its JSON object (the ``"type"`` tag removed; the parts
        of a compound still JSON data)."""
        return cls(**values)

    def _checked_document(self) -> dict[str, Any]:
        document = self.to_document()
        if document["type"] not in DEVICE_TYPES:
            document["type"] = self._checked_as
        return document


@dataclass
class IdealDevice(Device):
    """The ideal device: the exact float update ``W -= lr d x^T``, without bounds or pulses,
    whatever ``UpdateParameters.pulse_type`` says (aihwkit's ``IdealDevice``).

    With perfect forward and backward passes (:meth:`rpusim.RPUConfig.floating_point`) a tile
    computes in plain float32 arithmetic: the reference every analog run is compared with.
    """


@dataclass
class PulsedDevice(Device):
    """Parameters common to every pulsed device model (aihwkit's ``PulsedDevice``).

    Not a model on its own: use a subclass such as :class:`ConstantStep`. Every device of a
    tile draws its own bounds and step sizes from these once, when the tile is created
    (device-to-device variation, ``*_dtod``); every pulse then varies by ``dw_min_std``
    (cycle-to-cycle variation). Drawn per device, with independent ``xi ~ N(0, 1)``::

        b_max = w_max * (1 + w_max_dtod * xi1)      b_min = w_min * (1 + w_min_dtod * xi2)
        gain = 1 + dw_min_dtod * xi3                r = up_down_dtod * xi4
        dw_up = |(min(up_down, 0) + gain + r) * dw_min|
        dw_down = |(-max(up_down, 0) + gain - r) * dw_min|

    (bounds swapped if crossed, then ``b_min <= 0 <= b_max``).
    """

    _checked_as: ClassVar[str] = "ConstantStep"

    dw_min: float = _CONSTANT_STEP["dw_min"]
    """Mean weight change of one pulse, in weight units; must be > 0. Default 0.001.

    The number of states of a device is ``(w_max - w_min) / dw_min``."""

    dw_min_dtod: float = _CONSTANT_STEP["dw_min_dtod"]
    """Device-to-device spread (standard deviation) of the step, relative to ``dw_min``;
    >= 0. Default 0.3."""

    dw_min_std: float = _CONSTANT_STEP["dw_min_std"]
    """Cycle-to-cycle spread (standard deviation) of every single pulse, relative to the
    device's step; >= 0. Default 0.3."""

    up_down: float = _CONSTANT_STEP["up_down"]
    """Global asymmetry between up and down steps, relative to ``dw_min`` (positive: down steps
    are smaller). Default 0 (symmetric)."""

    up_down_dtod: float = _CONSTANT_STEP["up_down_dtod"]
    """Device-to-device spread of the up/down asymmetry, relative to ``dw_min``; >= 0.
    Default 0.01."""

    w_max: float = _CONSTANT_STEP["w_max"]
    """Mean upper weight bound over devices, in weight units; >= 0. Default 0.6."""

    w_min: float = _CONSTANT_STEP["w_min"]
    """Mean lower weight bound over devices, in weight units; <= 0. Default -0.6."""

    w_max_dtod: float = _CONSTANT_STEP["w_max_dtod"]
    """Device-to-device spread of the upper bound, relative to ``w_max``; >= 0. Default 0.3."""

    w_min_dtod: float = _CONSTANT_STEP["w_min_dtod"]
    """Device-to-device spread of the lower bound, relative to ``w_min``; >= 0. Default 0.3."""

    diffusion: float = _CONSTANT_STEP["diffusion"]
    """Standard deviation of the diffusion every device takes after every update call (once
    per mini-batch, as aihwkit's ``post_update_step``): ``w += rho * N(0, 1)``, clipped to the
    device's bounds, with ``rho = |diffusion * (1 + diffusion_dtod * xi)|`` drawn per device;
    in weight units, >= 0. Default 0 (none)."""

    diffusion_dtod: float = _CONSTANT_STEP["diffusion_dtod"]
    """Device-to-device spread of the diffusion rate, relative to ``diffusion``; >= 0.
    Default 0."""

    lifetime: float = _CONSTANT_STEP["lifetime"]
    """Mean lifetime in update calls, one over the decay rate: after every update call (and
    its diffusion) ``w <- (w - b) * (1 - 1 / t) + b``, clipped, with ``t = lifetime * (1 +
    lifetime_dtod * xi)`` drawn per device (``t <= 1``: the weight returns to ``b`` at once)
    and ``b`` the device's reset point; >= 0. Default 0 (no decay)."""

    lifetime_dtod: float = _CONSTANT_STEP["lifetime_dtod"]
    """Device-to-device spread of the lifetime, relative to ``lifetime``; >= 0. Default 0."""

    reset: float = _CONSTANT_STEP["reset"]
    """Mean reset point ``b`` over devices, in weight units: where
    :meth:`rpusim.AnalogTile.reset_columns` puts a weight and where decay takes it. Default 0."""

    reset_dtod: float = _CONSTANT_STEP["reset_dtod"]
    """Device-to-device spread of the reset point, in weight units (added: ``b = reset +
    reset_dtod * xi``, as aihwkit's code draws it); >= 0. Default 0."""

    reset_std: float = _CONSTANT_STEP["reset_std"]
    """Cycle-to-cycle spread of a reset, in weight units: a reset writes ``b + reset_std *
    N(0, 1)``, clipped; >= 0. Default 0.01."""

    count_pulses: bool = _CONSTANT_STEP["count_pulses"]
    """Whether every device counts the pulses it takes, by direction
    (:meth:`rpusim.AnalogTile.get_pulse_counts`). Default False."""

    @property
    def granularity(self) -> float:
        """The weight change of one pulse that update management plans with (aihwkit's weight
        granularity): ``dw_min``."""
        return self.dw_min

    @property
    def n_states(self) -> float:
        """The nominal number of states, ``(w_max - w_min) / granularity``."""
        return (self.w_max - self.w_min) / self.granularity


@dataclass
class ConstantStep(PulsedDevice):
    """A device whose step does not depend on the weight (MODEL.md section 5, "constant step";
    aihwkit's ``ConstantStepDevice``).

    Each pulse moves the weight by the device's up or down step times
    ``1 + dw_min_std * N(0, 1)``, then clips it to the device's own bounds. The defaults are
    aihwkit's generic device (Gokmen & Vlasov's 1200 states); the paper's idealised device is
    :func:`rpusim.presets.idealized_device`.
    """


@dataclass
class PulsedDeviceWithWriteNoise(PulsedDevice):
    """Pulsed device parameters plus aihwkit's write noise. Not a model on its own.

    With ``write_noise_std > 0`` the pulses act on a hidden persistent weight, and the weight the
    tile reads is the persistent weight plus Gaussian noise of standard deviation
    ``write_noise_std * dw_min``, drawn anew each time an update (or, with
    ``apply_write_noise_on_set``, programming) writes the device.
    """

    _checked_as: ClassVar[str] = "LinearStep"

    write_noise_std: float = _LINEAR_STEP["write_noise_std"]
    """Standard deviation of the write noise, relative to ``dw_min``; >= 0. Default 0 (none)."""

    apply_write_noise_on_set: bool = _LINEAR_STEP["apply_write_noise_on_set"]
    """Whether programming the weights (``set_weights``) draws write noise too. Default True."""


@dataclass
class LinearStep(PulsedDeviceWithWriteNoise):
    """A device whose step changes linearly with the weight (aihwkit's ``LinearStepDevice``).

    Up step ``dw_up * (1 - g_up * w / w_max)``, down step ``dw_down * (1 - g_down * w / w_min)``,
    where each device draws ``g_up = |gamma_up + gamma_up_dtod * xi5|`` and
    ``g_down = |gamma_down + gamma_down_dtod * xi6|`` (without the absolute value when
    ``allow_increasing``). ``gamma = 0.1`` means the step is 10 % smaller at the bound than at
    ``w = 0``; the weight still stops at the device's hard bounds.
    """

    gamma_up: float = _LINEAR_STEP["gamma_up"]
    """Relative decrease of the up step at ``w_max`` (dimensionless). Default 0."""

    gamma_down: float = _LINEAR_STEP["gamma_down"]
    """Relative decrease of the down step at ``w_min`` (dimensionless). Default 0."""

    gamma_up_dtod: float = _LINEAR_STEP["gamma_up_dtod"]
    """Device-to-device spread (absolute standard deviation) of ``gamma_up``; >= 0.
    Default 0.05."""

    gamma_down_dtod: float = _LINEAR_STEP["gamma_down_dtod"]
    """Device-to-device spread (absolute standard deviation) of ``gamma_down``; >= 0.
    Default 0.05."""

    allow_increasing: bool = _LINEAR_STEP["allow_increasing"]
    """Keep the sign of a drawn gamma, so that steps may grow towards the bounds (otherwise the
    absolute value is used). Default False."""

    mean_bound_reference: bool = _LINEAR_STEP["mean_bound_reference"]
    """The slopes refer to the mean bounds ``w_max``/``w_min`` (else to each device's own
    bounds). Default True."""

    mult_noise: bool = _LINEAR_STEP["mult_noise"]
    """The cycle-to-cycle noise multiplies the whole step; False: only its constant part,
    ``w += slope * w + dw * (1 + dw_min_std * N(0, 1))``. Default True."""

    reverse_up: bool = _LINEAR_STEP["reverse_up"]
    """The up step grows with the weight instead of shrinking (reference bound
    ``w_min - reverse_offset``); needs ``mult_noise``. Default False."""

    reverse_down: bool = _LINEAR_STEP["reverse_down"]
    """The down step grows as the weight falls (reference bound ``w_max + reverse_offset``);
    needs ``mult_noise``. Default False."""

    reverse_offset: float = _LINEAR_STEP["reverse_offset"]
    """Offset of the reference bound of ``reverse_up``/``reverse_down``; >= 0. Default 0.01."""


@dataclass
class SoftBounds(PulsedDeviceWithWriteNoise):
    """A device whose step falls linearly to zero at its own bounds (aihwkit's
    ``SoftBoundsDevice``): up ``dw_up * (1 - w / b_max)``, down ``dw_down * (1 - w / b_min)``.

    It is :class:`LinearStep` with ``gamma_up = gamma_down = 1``, no spread of the gammas, and
    each device's own bounds as reference. The weight approaches a bound but never reaches it;
    with ``up_down != 0`` the weight drifts to the symmetry point where up and down steps are
    equal.
    """

    mult_noise: bool = _SOFT_BOUNDS["mult_noise"]
    """The cycle-to-cycle noise multiplies the whole step (else only its constant part).
    Default True."""

    reverse_up: bool = _SOFT_BOUNDS["reverse_up"]
    """The up step grows with the weight instead (see :class:`LinearStep`). Default False."""

    reverse_down: bool = _SOFT_BOUNDS["reverse_down"]
    """The down step grows as the weight falls instead. Default False."""

    reverse_offset: float = _SOFT_BOUNDS["reverse_offset"]
    """Offset of the reference bound of ``reverse_up``/``reverse_down``; >= 0. Default 0.01."""


@dataclass
class ExpStep(PulsedDeviceWithWriteNoise):
    """Exponential step, a fit of ReRAM and CMOS-like responses (aihwkit's ``ExpStepDevice``).

    With ``z = 2 * a * w / (b_max - b_min) + b``: up step
    ``dw_up * max(1 - A_up * exp(gamma_up * z), 0)``, down step
    ``dw_down * max(1 - A_down * exp(-gamma_down * z), 0)``. ``a``, ``b``, ``A_*`` and
    ``gamma_*`` are the same for every device. When ``dw_min_std_add`` or ``dw_min_std_slope``
    is set, a pulse adds ``dw_min_std * (|dw| + dw_min_std_add + dw_min_std_slope * |w|) *
    N(0, 1)`` to its mean step ``dw`` instead of multiplying it (aihwkit's complex noise).
    """

    A_up: float = _EXP_STEP["A_up"]
    """Factor ``A`` of the up direction. Default 0.00081."""

    A_down: float = _EXP_STEP["A_down"]
    """Factor ``A`` of the down direction. Default 0.36833."""

    gamma_up: float = _EXP_STEP["gamma_up"]
    """Exponent of the up direction. Default 12.44625."""

    gamma_down: float = _EXP_STEP["gamma_down"]
    """Exponent of the down direction. Default 12.78785."""

    a: float = _EXP_STEP["a"]
    """Global slope of ``z``. Default 0.244."""

    b: float = _EXP_STEP["b"]
    """Global offset of ``z``. Default 0.2425."""

    dw_min_std_add: float = _EXP_STEP["dw_min_std_add"]
    """Additive cycle-to-cycle noise of the step, in weight units (times ``dw_min_std``).
    Default 0."""

    dw_min_std_slope: float = _EXP_STEP["dw_min_std_slope"]
    """Cycle-to-cycle noise proportional to ``|w|`` (times ``dw_min_std``). Default 0."""

    @property
    def granularity(self) -> float:
        """The step update management plans with, aihwkit's weight granularity of the model:
        the down step of the mean device at ``w = 0``,
        ``(1 - max(up_down, 0)) * dw_min * max(1 - A_down * exp(-gamma_down * b), 0)``, or
        ``dw_min`` when that is not positive (1.475 ``dw_min`` for
        :func:`rpusim.presets.reram_es_device`, 0.983 ``dw_min`` with the defaults)."""
        try:
            factor = 1.0 - self.A_down * math.exp(-self.gamma_down * self.b)
        except OverflowError:  # the engine's factor is then infinite or NaN: dw_min too
            return self.dw_min
        g = (1.0 - max(self.up_down, 0.0)) * self.dw_min * max(factor, 0.0)
        return g if 0.0 < g < math.inf else self.dw_min


@dataclass
class PowStep(PulsedDeviceWithWriteNoise):
    """Power-law step, after Fusi & Abbott (2007) (aihwkit's ``PowStepDevice``).

    With ``omega = (b_max - w) / (b_max - b_min)``: up step ``dw_up * omega ** g_up``, down step
    ``dw_down * (1 - omega) ** g_down``. Each device draws its exponents like its steps:
    ``g_up = |(min(pow_up_down, 0) + gain + r) * pow_gamma|``,
    ``g_down = |(-max(pow_up_down, 0) + gain - r) * pow_gamma|`` with
    ``gain = 1 + pow_gamma_dtod * xi5`` and ``r = pow_up_down_dtod * xi6``. ``pow_gamma = 1``
    is a soft-bounds device (at the device's full range). Note that ``dw_min`` is the step at
    the far bound, not at ``w = 0``.
    """

    pow_gamma: float = _POW_STEP["pow_gamma"]
    """Mean exponent. Default 1."""

    pow_gamma_dtod: float = _POW_STEP["pow_gamma_dtod"]
    """Device-to-device spread of the exponent, relative to ``pow_gamma``; >= 0. Default 0.1."""

    pow_up_down: float = _POW_STEP["pow_up_down"]
    """Up/down asymmetry of the exponent, relative to ``pow_gamma`` (positive: smaller down
    exponent). Default 0."""

    pow_up_down_dtod: float = _POW_STEP["pow_up_down_dtod"]
    """Device-to-device spread of the asymmetry, relative to ``pow_gamma``; >= 0. Default 0."""

    @property
    def granularity(self) -> float:
        """The step update management plans with, aihwkit's weight granularity of the model:
        ``dw_min * 0.5 ** pow_gamma``, the mean device's step in the middle of its range (or
        ``dw_min`` when that is not a positive finite number)."""
        try:
            g = self.dw_min * 0.5**self.pow_gamma
        except OverflowError:
            return self.dw_min
        return g if 0.0 < g < math.inf else self.dw_min


@dataclass
class PiecewiseStep(PulsedDeviceWithWriteNoise):
    """A step response given on nodes (aihwkit's ``PiecewiseStepDevice``).

    The up step is ``dw_up * f_up(w)``, the down step ``dw_down * f_down(w)``, where ``f_up``
    and ``f_down`` interpolate linearly between the values ``piecewise_up`` and
    ``piecewise_down`` placed evenly over the device's own range ``[b_min, b_max]`` (first at
    ``b_min``, last at ``b_max``). ``[1.5, 1, 1.5]`` with ``dw_min=0.1``: steps of 0.1 at the
    middle of the range, growing to 0.15 at the bounds. Update management plans with
    ``dw_min`` times the middle up value (aihwkit's weight granularity).
    """

    piecewise_up: list[float] = field(default_factory=lambda: list(_PIECEWISE_STEP["piecewise_up"]))
    """Relative up step at each node; 1 to 4096 values. Default ``[1.0]`` (constant step)."""

    piecewise_down: list[float] = field(
        default_factory=lambda: list(_PIECEWISE_STEP["piecewise_down"])
    )
    """Relative down step at each node; as many values as ``piecewise_up``. Default ``[1.0]``."""

    @property
    def granularity(self) -> float:
        """``dw_min`` times the middle value of ``piecewise_up`` (aihwkit's weight
        granularity), the step update management plans with."""
        return self.dw_min * self.piecewise_up[len(self.piecewise_up) // 2]


class VectorUnitCellUpdatePolicy(str, enum.Enum):
    """Which devices of a :class:`VectorUnitCell` an update call pulses (aihwkit's
    ``VectorUnitCellUpdatePolicy``)."""

    ALL = "all"
    """Every device gets the pulses (each with its own cycle-to-cycle noise)."""
    SINGLE_FIXED = "single_fixed"
    """Only device ``first_update_idx``."""
    SINGLE_SEQUENTIAL = "single_sequential"
    """One device per update call, the next one each call (the first call after programming
    pulses ``first_update_idx + 1``, as in aihwkit)."""
    SINGLE_RANDOM = "single_random"
    """One device per update call, drawn uniformly."""


def _default_unit_cell_devices(
    defaults: dict[str, Any] = _VECTOR_UNIT_CELL, name: str = "devices"
) -> list[PulsedDevice]:
    """The engine's default devices of a compound (of the one whose defaults are
    ``defaults``, its field ``name``)."""
    return cast("list[PulsedDevice]", [_device_of(d) for d in defaults[name]])


def _pulsed_device(owner: str, name: str, device: object) -> PulsedDevice:
    """``device`` (field ``owner.name``) checked to be a single pulsed model of this module
    (TypeError naming it), its fields converted."""
    model = DEVICE_TYPES.get(type(device).__name__)
    if not isinstance(device, PulsedDevice) or model is not type(device):
        known = ", ".join(tag for tag, cls in DEVICE_TYPES.items() if issubclass(cls, PulsedDevice))
        raise TypeError(
            f"{owner}.{name} must be a pulsed device model ({known}), got {type(device).__name__}"
        )
    device._convert_fields()
    return device


def _pulsed_devices(owner: str, name: str, value: object) -> list[PulsedDevice]:
    """The devices of a compound (field ``owner.name``), each checked by
    :func:`_pulsed_device`."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{owner}.{name} must be a list of devices, got {type(value).__name__}")
    return [_pulsed_device(owner, f"{name}[{k}]", d) for k, d in enumerate(value)]


def _bind_devices(devices: list[PulsedDevice], name: str, sink: PatchSink) -> None:
    """Binds the devices of a compound's field ``name``: a change of one device changes the
    compound's list of devices (a merge patch replaces a list whole)."""
    for k, device in enumerate(devices):

        def patch_device(change: dict[str, Any], k: int = k) -> None:
            documents = [plain(d) for d in devices]
            documents[k] = {**devices[k].to_document(), **change}
            sink({name: documents})

        device._bind(patch_device)


@dataclass(init=False)
class VectorUnitCell(Device):
    """Several pulsed devices per cross-point (aihwkit's ``VectorUnitCell``; MODEL.md 3.5).

    The weight of a cross-point is ``sum_k gamma[k] * w_k`` over its devices, each with its own
    drawn parameters and weight. An update call pulses the devices the ``update_policy`` picks.
    Programming the weights (``set_weights``) writes the value to every device (to device
    ``first_update_idx`` only with ``single_fixed``), each clipped to its own bounds, and
    resets the policy to ``first_update_idx``; so with the default ``gamma = 1/n`` the weight
    read back equals the weight set (within the bounds).

    aihwkit's names are accepted too: ``VectorUnitCell(unit_cell_devices=[...],
    gamma_vec=[...])``, and ``unit_cell_devices``/``gamma_vec`` are aliases of
    ``devices``/``gamma``.
    """

    devices: list[PulsedDevice] = field(default_factory=_default_unit_cell_devices)
    """The devices of every cross-point: 1 to 256 single pulsed models (not IdealDevice or
    VectorUnitCell). Default: two ``ConstantStep()`` (aihwkit's default, an empty list, cannot
    make a tile)."""

    gamma: list[float] = field(default_factory=lambda: list(_VECTOR_UNIT_CELL["gamma"]))
    """Weight of each device in the cross-point's weight; empty means ``1/n`` each. Default
    empty."""

    update_policy: str = _VECTOR_UNIT_CELL["update_policy"]
    """Which devices an update call pulses, a :class:`VectorUnitCellUpdatePolicy` or its
    string. Default ``"all"``."""

    first_update_idx: int = _VECTOR_UNIT_CELL["first_update_idx"]
    """The device ``single_fixed`` pulses and programs, and where the other single policies
    start. Default 0."""

    def __init__(
        self,
        devices: Sequence[PulsedDevice] | None = None,
        gamma: Sequence[float] | None = None,
        update_policy: str | VectorUnitCellUpdatePolicy = _VECTOR_UNIT_CELL["update_policy"],
        first_update_idx: int = _VECTOR_UNIT_CELL["first_update_idx"],
        *,
        unit_cell_devices: Sequence[PulsedDevice] | None = None,
        gamma_vec: Sequence[float] | None = None,
    ) -> None:
        for name, value, alias in (
            ("devices", devices, unit_cell_devices),
            ("gamma", gamma, gamma_vec),
        ):
            if value is not None and alias is not None:
                raise TypeError(
                    f"{type(self).__name__}: give {name} or its aihwkit alias, not both"
                )
        devices = devices if devices is not None else unit_cell_devices
        gamma = gamma if gamma is not None else gamma_vec
        self.devices = list(devices) if devices is not None else _default_unit_cell_devices()
        self.gamma = list(gamma) if gamma is not None else list(_VECTOR_UNIT_CELL["gamma"])
        self.update_policy = update_policy  # normalised to its string by validate()
        self.first_update_idx = first_update_idx
        self.validate()

    @property
    def unit_cell_devices(self) -> list[PulsedDevice]:
        """aihwkit's name of :attr:`devices`."""
        return self.devices

    @unit_cell_devices.setter
    def unit_cell_devices(self, value: list[PulsedDevice]) -> None:
        self.devices = value

    @property
    def gamma_vec(self) -> list[float]:
        """aihwkit's name of :attr:`gamma`."""
        return self.gamma

    @gamma_vec.setter
    def gamma_vec(self, value: list[float]) -> None:
        self.gamma = value

    _options: ClassVar[dict[str, type[enum.Enum]]] = {"update_policy": VectorUnitCellUpdatePolicy}

    @classmethod
    def _convert(cls, name: str, value: object, owner: str) -> object:
        if name == "devices":
            return _pulsed_devices(owner, name, value)
        return super()._convert(name, value, owner)

    def _bind(self, sink: PatchSink) -> None:
        super()._bind(sink)
        _bind_devices(self.devices, "devices", sink)

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Device:
        if "devices" in values:
            values["devices"] = [_device_of(d) for d in values["devices"]]
        return cls(**values)

    @property
    def gammas(self) -> list[float]:
        """The weight of each device: :attr:`gamma`, or ``1/n`` each when it is empty."""
        return list(self.gamma) if self.gamma else [1.0 / len(self.devices)] * len(self.devices)

    @property
    def granularity(self) -> float:
        """The mean granularity of the devices (aihwkit's weight granularity of a vector cell):
        the step update management plans with."""
        return sum(d.granularity for d in self.devices) / len(self.devices)


@dataclass(init=False)
class ReferenceUnitCell(VectorUnitCell):
    """A device and its reference device at every cross-point (aihwkit's ``ReferenceUnitCell``):
    the weight is ``w_0 - w_1`` (``gamma = [1, -1]``), only device 0 takes the updates
    (``update_policy = "single_fixed"``, ``first_update_idx = 0``) and programming the weights
    writes device 0 alone, so the reference device keeps its weight, 0 from the start.

    It is a :class:`VectorUnitCell` of two devices with these defaults (the engine draws it as
    one). ``devices`` holds two pulsed models, or one that then serves for both (each device
    drawn on its own, as aihwkit copies it); more than two is an error (aihwkit drops the
    rest). aihwkit's names ``unit_cell_devices`` and ``gamma_vec`` are accepted.
    """

    devices: list[PulsedDevice] = field(
        default_factory=lambda: _default_unit_cell_devices(_REFERENCE_UNIT_CELL)
    )
    """The device and its reference device: 1 or 2 single pulsed models. Default two
    ``ConstantStep()`` (aihwkit's default, an empty list, cannot make a tile)."""

    gamma: list[float] = field(default_factory=lambda: list(_REFERENCE_UNIT_CELL["gamma"]))
    """Weight of each device in the cross-point's weight; empty means ``1/2`` each. Default
    ``[1, -1]``: the device minus its reference."""

    update_policy: str = _REFERENCE_UNIT_CELL["update_policy"]
    """Which devices an update call pulses, a :class:`VectorUnitCellUpdatePolicy` or its
    string. Default ``"single_fixed"`` (aihwkit asks to keep it)."""

    first_update_idx: int = _REFERENCE_UNIT_CELL["first_update_idx"]
    """The device that is pulsed and programmed. Default 0."""

    def __init__(
        self,
        devices: Sequence[PulsedDevice] | None = None,
        gamma: Sequence[float] | None = None,
        update_policy: str | VectorUnitCellUpdatePolicy = _REFERENCE_UNIT_CELL["update_policy"],
        first_update_idx: int = _REFERENCE_UNIT_CELL["first_update_idx"],
        *,
        unit_cell_devices: Sequence[PulsedDevice] | None = None,
        gamma_vec: Sequence[float] | None = None,
    ) -> None:
        if devices is None and unit_cell_devices is None:
            devices = _default_unit_cell_devices(_REFERENCE_UNIT_CELL)
        if gamma is None and gamma_vec is None:
            gamma = list(_REFERENCE_UNIT_CELL["gamma"])
        super().__init__(
            devices,
            gamma,
            update_policy,
            first_update_idx,
            unit_cell_devices=unit_cell_devices,
            gamma_vec=gamma_vec,
        )

    @property
    def gammas(self) -> list[float]:
        """The weight of each of the two devices: :attr:`gamma`, or ``1/2`` each when it is
        empty."""
        return list(self.gamma) if self.gamma else [0.5, 0.5]


def _periphery_types() -> dict[str, type[ConfigPart]]:
    """The dataclasses of the periphery fields of the compounds (transfer compounds, the
    one-sided unit cell). rpusim.config imports this module, so they are looked up when a
    compound is built, not when this module loads."""
    from rpusim.config import IOParameters, UpdateParameters

    return {
        "transfer_forward": IOParameters,
        "transfer_update": UpdateParameters,
        "refresh_forward": IOParameters,
        "refresh_update": UpdateParameters,
    }


def _periphery_default(
    name: str, defaults: dict[str, Any] = _TRANSFER_COMPOUND
) -> Callable[[], Any]:
    """The default of the periphery field ``name``: the engine's, as its dataclass."""
    return lambda: _periphery_types()[name](**defaults[name])


@dataclass
class _CompoundWithParts(Device):
    """Base of the compounds whose fields hold devices (``unit_cell_devices``) and periphery
    parts (the fields named in ``_periphery``, each an :class:`~rpusim.IOParameters` or
    :class:`~rpusim.UpdateParameters`): their checks, binding to a tile and JSON form."""

    _periphery: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _convert(cls, name: str, value: object, owner: str) -> object:
        if name == "unit_cell_devices":
            return _pulsed_devices(owner, name, value)
        if name not in cls._periphery:
            return super()._convert(name, value, owner)
        part_type = _periphery_types()[name]
        if not isinstance(value, part_type):
            raise TypeError(
                f"{owner}.{name} must be {part_type.__name__}, got {type(value).__name__}"
            )
        value._convert_fields()
        return value

    def _bind(self, sink: PatchSink) -> None:
        super()._bind(sink)
        _bind_devices(getattr(self, "unit_cell_devices"), "unit_cell_devices", sink)  # noqa: B009
        for name in self._periphery:

            def patch_part(change: dict[str, Any], name: str = name) -> None:
                sink({name: change})

            getattr(self, name)._bind(patch_part)

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Device:
        if "unit_cell_devices" in values:
            values["unit_cell_devices"] = [_device_of(d) for d in values["unit_cell_devices"]]
        parts = _periphery_types()
        for name in cls._periphery:
            if name in values:
                values[name] = parts[name](**values[name])
        return cls(**values)


@dataclass
class TransferCompound(_CompoundWithParts):
    """Tiki-Taka (aihwkit's ``TransferCompound``, TTv1; docs/model_notes.md): two arrays per
    cross-point, a fast one ``A`` that takes the gradient updates and a slow one ``C`` that
    the network mostly reads, the weight being ``gamma_A A + gamma_C C``.

    Every ``transfer_every`` batches (or samples) the next ``n_reads_per_transfer`` columns of
    ``A`` are read by a forward pass through ``transfer_forward`` (a read with a one-hot input,
    without noise or bound management) and written onto ``C`` by a pulsed update through
    ``transfer_update``, with learning rate ``transfer_lr`` (times the update's ``lr`` with
    ``scale_transfer_lr``). Programming the weights sets ``A = 0`` and ``C = w / gamma_C``.
    The names and defaults are aihwkit 1.1's; ``with_reset_prob > 0`` and
    ``random_selection`` are not supported (the engine refuses them by name).
    """

    unit_cell_devices: list[PulsedDevice] = field(
        default_factory=lambda: _default_unit_cell_devices(_TRANSFER_COMPOUND, "unit_cell_devices")
    )
    """The fast device ``A`` and the slow device ``C``, in this order: two single pulsed
    models. Default two ``ConstantStep()`` (aihwkit's default, an empty list, cannot make a
    tile)."""

    gamma: float = _TRANSFER_COMPOUND["gamma"]
    """The weight of ``A`` in the cross-point's weight, ``[gamma, 1]`` unless ``gamma_vec`` is
    given. Default 0: the network reads ``C`` alone."""

    gamma_vec: list[float] = field(default_factory=lambda: list(_TRANSFER_COMPOUND["gamma_vec"]))
    """The weights ``[gamma_A, gamma_C]``; empty means ``[gamma, 1]``; ``gamma_C`` must not
    be 0. Default empty."""

    transfer_every: float = _TRANSFER_COMPOUND["transfer_every"]
    """A transfer every ``transfer_every`` batches (``units_in_mbatch``) or samples; 0: no
    transfer. Default 1."""

    units_in_mbatch: bool = _TRANSFER_COMPOUND["units_in_mbatch"]
    """``transfer_every`` counts batches (a period of ``ceil(transfer_every * batch size)``
    samples); otherwise samples. Default True."""

    n_reads_per_transfer: int = _TRANSFER_COMPOUND["n_reads_per_transfer"]
    """Columns (or rows) read and written per transfer, consecutive, wrapping at the last.
    Default 1."""

    transfer_columns: bool = _TRANSFER_COMPOUND["transfer_columns"]
    """Transfer columns (a forward read of ``A``); otherwise rows (a backward read). Default
    True."""

    with_reset_prob: float = _TRANSFER_COMPOUND["with_reset_prob"]
    """Probability of resetting the columns of ``A`` after a read. Default 0, the only value
    supported."""

    random_selection: bool = _TRANSFER_COMPOUND["random_selection"]
    """Start each transfer at a random column. Default False, the only value supported."""

    fast_lr: float = _TRANSFER_COMPOUND["fast_lr"]
    """The learning rate of the gradient updates of ``A``, as it is (not times the update's
    ``lr``, as in aihwkit 1.1); 0 means the update's ``lr``. Default 1."""

    transfer_lr: float = _TRANSFER_COMPOUND["transfer_lr"]
    """The learning rate of the transfer onto ``C``; >= 0. Default 1."""

    scale_transfer_lr: bool = _TRANSFER_COMPOUND["scale_transfer_lr"]
    """Multiply ``transfer_lr`` by the update's learning rate. Default True."""

    transfer_forward: IOParameters = field(default_factory=_periphery_default("transfer_forward"))
    """The periphery of the read of ``A`` (its noise and bound management are not used).
    Default ``IOParameters()``."""

    transfer_update: UpdateParameters = field(default_factory=_periphery_default("transfer_update"))
    """The pulsed update of the transfer onto ``C``. Default ``UpdateParameters()``
    (``desired_bl = 31``, update management and UBLM on)."""

    _periphery: ClassVar[tuple[str, ...]] = ("transfer_forward", "transfer_update")

    @property
    def gammas(self) -> list[float]:
        """``[gamma_A, gamma_C]``: :attr:`gamma_vec`, or ``[gamma, 1]`` when it is empty."""
        return list(self.gamma_vec) if self.gamma_vec else [self.gamma, 1.0]


@dataclass
class BufferedTransferCompound(TransferCompound):
    """Tiki-Taka v2 (aihwkit's ``BufferedTransferCompound``): as :class:`TransferCompound`,
    but the column read from ``A`` accumulates in a digital buffer ``H`` (times
    ``transfer_lr``), and only whole thresholds of ``H`` are written onto ``C``: where
    ``|H| >= thres_scale`` pulses of ``C``, ``C`` takes that many pulses (``step`` times its
    granularity each); where it wrote, ``H`` then keeps ``momentum`` times its value
    (``forget_buffer``) or loses ``1 - momentum`` times what was written.
    """

    unit_cell_devices: list[PulsedDevice] = field(
        default_factory=lambda: _default_unit_cell_devices(
            _BUFFERED_TRANSFER_COMPOUND, "unit_cell_devices"
        )
    )
    """The fast device ``A`` and the slow device ``C``, in this order: two single pulsed
    models. Default two ``ConstantStep()``."""

    transfer_update: UpdateParameters = field(
        default_factory=_periphery_default("transfer_update", _BUFFERED_TRANSFER_COMPOUND)
    )
    """The pulsed update of the buffer onto ``C``. Default ``desired_bl = 1``, update
    management and UBLM off: one pulse per threshold crossed."""

    thres_scale: float = _BUFFERED_TRANSFER_COMPOUND["thres_scale"]
    """The threshold of the buffer, in pulses of ``C`` (``thres_scale`` times its
    granularity); > 0. Default 1."""

    step: float = _BUFFERED_TRANSFER_COMPOUND["step"]
    """The weight change of one write onto ``C``, in its granularity; > 0. Default 1."""

    momentum: float = _BUFFERED_TRANSFER_COMPOUND["momentum"]
    """The fraction of what was written that stays in the buffer, in [0, 1]. Default 0.1."""

    forget_buffer: bool = _BUFFERED_TRANSFER_COMPOUND["forget_buffer"]
    """After a write the buffer keeps ``momentum`` times its value; otherwise ``1 - momentum``
    times what was written is subtracted from it. Default True."""


@dataclass
class OneSidedUnitCell(_CompoundWithParts):
    """A pair of one-sided devices per cross-point (aihwkit's ``OneSidedUnitCell``;
    docs/model_notes.md, "One-sided unit cell"): the weight is ``w_1 - w_0``, and every pulse
    raises the weight of one of the two: device 1 takes the pulses that would raise the
    cross-point's weight, device 0 those that would lower it. Programming sets device 1 to
    ``max(w, 0)`` and device 0 to ``max(-w, 0)``.

    As the devices only grow, they saturate; every ``refresh_every`` batches
    (``units_in_mbatch``) or samples, a refresh reads every column of both devices by forward
    passes through ``refresh_forward``, and where the larger of a pair exceeds
    ``refresh_upper_thres * |w_max|`` and the smaller ``refresh_lower_thres * |w_max|``, resets
    both devices (to their reset point, ``reset`` and ``reset_std`` of the device) and writes
    the difference onto the larger one by a pulsed update through ``refresh_update`` (open
    loop: at most ``desired_bl`` pulses). Both devices are drawn from the first of
    ``unit_cell_devices``, each with its own device-to-device variation. Weights, thresholds
    and bounds are in the tile's weight units. ``copy_inverted`` is not supported, and a device
    with write noise cannot be refreshed (the engine refuses both by name).
    """

    unit_cell_devices: list[PulsedDevice] = field(
        default_factory=lambda: _default_unit_cell_devices(
            _ONE_SIDED_UNIT_CELL, "unit_cell_devices"
        )
    )
    """The device model of both devices: one single pulsed model, or two equal ones (aihwkit
    draws both from the first and only checks a second's type; rpusim refuses a different
    second one). Default one ``ConstantStep()`` (aihwkit's default, an empty list, cannot make a
    tile)."""

    refresh_every: int = _ONE_SIDED_UNIT_CELL["refresh_every"]
    """A refresh every ``refresh_every`` batches (``units_in_mbatch``) or samples, counted from
    the last ``set_weights``; >= 0. Default 0: never."""

    units_in_mbatch: bool = _ONE_SIDED_UNIT_CELL["units_in_mbatch"]
    """``refresh_every`` counts batches (a period of ``refresh_every`` times the batch size, in
    samples); otherwise samples. Default True."""

    refresh_upper_thres: float = _ONE_SIDED_UNIT_CELL["refresh_upper_thres"]
    """A pair is refreshed when its larger device exceeds this fraction of ``|w_max|`` (and
    the smaller one ``refresh_lower_thres``). Default 0.75."""

    refresh_lower_thres: float = _ONE_SIDED_UNIT_CELL["refresh_lower_thres"]
    """The fraction of ``|w_max|`` the smaller device of a refreshed pair exceeds. Default
    0.25."""

    refresh_forward: IOParameters = field(
        default_factory=_periphery_default("refresh_forward", _ONE_SIDED_UNIT_CELL)
    )
    """The periphery of the refresh's reads (one-hot forward passes through each device),
    used as it is. Default ``IOParameters()``."""

    refresh_update: UpdateParameters = field(
        default_factory=_periphery_default("refresh_update", _ONE_SIDED_UNIT_CELL)
    )
    """The pulsed update that writes a refreshed pair's difference. Default
    ``UpdateParameters()`` (``desired_bl = 31``, update management and UBLM on)."""

    copy_inverted: bool = _ONE_SIDED_UNIT_CELL["copy_inverted"]
    """aihwkit's mirrored "down" response for the second device. Default False, the only
    value supported."""

    _periphery: ClassVar[tuple[str, ...]] = ("refresh_forward", "refresh_update")

    @property
    def gammas(self) -> list[float]:
        """The weight of each device in the cross-point's weight: ``[-1, 1]``."""
        return [-1.0, 1.0]

    @property
    def granularity(self) -> float:
        """The granularity of the device model (the step update management plans with)."""
        return self.unit_cell_devices[0].granularity


@dataclass
class MixedPrecisionCompound(Device):
    """The mixed-precision update (aihwkit's ``MixedPrecisionCompound``, Nandakumar et al.,
    Front. Neurosci. 2020; docs/model_notes.md): the outer product ``lr * d x^T`` of every
    sample, of ``x`` and ``d`` quantised to ``n_x_bins``/``n_d_bins`` bins when those are set,
    accumulates in a digital float matrix ``chi``; every ``transfer_every`` batches the next
    ``n_rows_per_transfer`` rows of ``chi`` give up their whole multiples of ``granularity``,
    ``n = trunc(chi / granularity)``, which a pulsed update (the tile's
    ``UpdateParameters`` with update management and UBLM on) writes onto the analog
    ``device`` with learning rate ``granularity * transfer_lr``; the rest stays in ``chi``.
    The network reads the device. Programming the weights writes them onto the device and
    empties ``chi``. Names and defaults are aihwkit 1.1's; ``device`` must be a single pulsed
    model (aihwkit also takes unit cells).
    """

    device: PulsedDevice = field(
        default_factory=lambda: cast(
            "PulsedDevice", _device_of(_MIXED_PRECISION_COMPOUND["device"])
        )
    )
    """The analog device the network reads and the transfers write: a single pulsed model.
    Default ``ConstantStep()`` (aihwkit's default, a ``VectorUnitCell`` without devices,
    cannot make a tile)."""

    transfer_every: int = _MIXED_PRECISION_COMPOUND["transfer_every"]
    """A transfer every ``transfer_every`` batches (a period of ``transfer_every`` times the
    batch size, in samples); 0: no transfer. Default 1."""

    n_rows_per_transfer: int = _MIXED_PRECISION_COMPOUND["n_rows_per_transfer"]
    """Rows of ``chi`` written per transfer, consecutive, wrapping at the last; -1: every row;
    0: no transfer. Default -1."""

    random_row: bool = _MIXED_PRECISION_COMPOUND["random_row"]
    """Start each transfer at a random row (when it writes fewer rows than there are).
    Default False."""

    granularity: float = _MIXED_PRECISION_COMPOUND["granularity"]
    """The weight change of one whole step, in weight units; >= 0; 0: the device's
    granularity (its ``dw_min`` for the step models). Default 0."""

    transfer_lr: float = _MIXED_PRECISION_COMPOUND["transfer_lr"]
    """The scale of a transfer: a whole step writes ``granularity * transfer_lr`` (in
    expectation); >= 0. Default 1."""

    n_x_bins: int = _MIXED_PRECISION_COMPOUND["n_x_bins"]
    """Bins of the quantised ``x``, symmetric around 0 and scaled by each sample's
    ``max |x|``; 0: not quantised; 1 is refused. Default 0."""

    n_d_bins: int = _MIXED_PRECISION_COMPOUND["n_d_bins"]
    """Bins of the quantised ``d``, as ``n_x_bins``. Default 0."""

    stoc_round_x: bool = _MIXED_PRECISION_COMPOUND["stoc_round_x"]
    """Stochastic rounding of the quantised ``x``. Default True."""

    stoc_round_d: bool = _MIXED_PRECISION_COMPOUND["stoc_round_d"]
    """Stochastic rounding of the quantised ``d``. Default True."""

    @classmethod
    def _convert(cls, name: str, value: object, owner: str) -> object:
        if name == "device":
            return _pulsed_device(owner, name, value)
        if name == "n_rows_per_transfer":
            return check_int(owner, name, value, ge=-1, le=2**31 - 1)
        return super()._convert(name, value, owner)

    def _bind(self, sink: PatchSink) -> None:
        super()._bind(sink)

        def patch_device(change: dict[str, Any]) -> None:
            sink({"device": {**self.device.to_document(), **change}})

        self.device._bind(patch_device)

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> Device:
        if "device" in values:
            values["device"] = _device_of(values["device"])
        return cls(**values)

    @property
    def step(self) -> float:
        """The weight change of one whole step: :attr:`granularity`, or the device's."""
        return self.granularity if self.granularity > 0 else self.device.granularity


def _engine_device_types() -> dict[str, type[Device]]:
    """The engine's device models by their JSON tag (:data:`rpusim._native.DEVICE_TYPES`, in
    the engine's order), each the dataclass of this module of the same name."""
    classes = globals()
    types: dict[str, type[Device]] = {}
    for name in ENGINE_DEVICE_TYPES:
        cls = classes.get(name)
        if not (isinstance(cls, type) and issubclass(cls, Device)):
            raise ImportError(f"rpusim.devices declares no dataclass for the engine's {name}")
        types[name] = cls
    return types


DEVICE_TYPES: dict[str, type[Device]] = _engine_device_types()
"""The device models the engine knows, by their JSON tag (the class name); the names come from
the engine."""

# aihwkit's class names, so that aihwkit configurations carry over.
ConstantStepDevice = ConstantStep
LinearStepDevice = LinearStep
SoftBoundsDevice = SoftBounds
ExpStepDevice = ExpStep
PowStepDevice = PowStep
PiecewiseStepDevice = PiecewiseStep


def device_from_document(value: object, where: str = "device") -> Device:
    """The device of an engine JSON object (as :meth:`Device.to_document` writes it), checked
    by the engine: missing fields take their defaults; unknown fields and device types and bad
    values raise :class:`~rpusim.ConfigError` naming them (``where`` names the object in
    messages)."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: not representable in JSON: {e}") from None
    _native.validate_config_section("device", text, where)
    assert isinstance(value, dict)  # the engine took it as a tagged device object
    return _device_of(value)


def _device_of(document: dict[str, Any]) -> Device:
    """The device of an engine JSON object with a known type tag (missing fields: defaults)."""
    values = dict(document)
    return DEVICE_TYPES[values.pop("type")]._from_values(values)

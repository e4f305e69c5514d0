"""Configuration of a tile: the periphery of the forward and backward passes, the pulsed update,
and the device model (MODEL.md sections 2-5).

The dataclasses mirror the engine's serde structs field by field, with aihwkit's names, so a
configuration converts to the engine's JSON by :meth:`RPUConfig.to_json` and back by
:meth:`RPUConfig.from_json` (the only two conversion functions). Every dataclass checks its
fields when it is built and raises ``TypeError`` or :class:`~rpusim.ConfigError` (a
``ValueError``) naming the field; the engine checks again.

Options are lowercase strings; the str-enums below are accepted too and stored as their string.

Units: a forward pass feeds its inputs to the DAC as ``x / alpha`` (``alpha`` the
noise-management scale), in *input units* where the DAC range is ``[-inp_bound, inp_bound]``; the
analog product of those inputs with the weights is in *output units*, where the ADC range is
``[-out_bound, out_bound]`` and the output noise is measured. With the defaults, a full-scale
input on one column and a weight of 1 give an output of 1.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from rpusim._checks import (
    check_bool,
    check_fields,
    check_int,
    check_option,
    check_real,
)
from rpusim._native import ConfigError
from rpusim.devices import DEVICE_TYPES, ConstantStep, Device, IdealDevice, device_from_document

__all__ = [
    "BoundManagementType",
    "IOParameters",
    "MappingParameters",
    "NoiseManagementType",
    "PulseType",
    "RPUConfig",
    "UpdateParameters",
]

MAX_BL = 256
"""Longest pulse train the engine supports (``UpdateParameters.desired_bl``)."""


class NoiseManagementType(str, enum.Enum):
    """How the digital input scale ``alpha`` of a pass is chosen (MODEL.md section 3.1)."""

    NONE = "none"
    """``alpha = 1``: inputs go to the DAC as they are."""
    ABS_MAX = "abs_max"
    """``alpha = max_j |x_j|`` (clipped from above at ``nm_thres`` when ``nm_thres > 0``)."""
    MAX = "max"
    """``alpha = max_j x_j``, clipped like ``abs_max``; a non-positive maximum gives 0."""
    CONSTANT = "constant"
    """``alpha = nm_thres`` (1 when ``nm_thres <= 0``)."""
    AVERAGE_ABS_MAX = "average_abs_max"
    """A running average over batches of the mean abs-max, with decay ``nm_decay``."""


class BoundManagementType(str, enum.Enum):
    """Whether a saturated forward pass is repeated with halved inputs (MODEL.md section 3.2)."""

    NONE = "none"
    """Saturated outputs are clipped at ``out_bound``."""
    ITERATIVE = "iterative"
    """Halve the inputs and repeat the whole pass while an output saturates."""


class PulseType(str, enum.Enum):
    """How the update is realised (MODEL.md section 4)."""

    NONE = "none"
    """Exact float update ``W -= lr d x^T``, clipped to the device bounds (a reference)."""
    STOCHASTIC_COMPRESSED = "stochastic_compressed"
    """Stochastic pulse trains of length BL on rows and columns; coincidences fire."""
    DETERMINISTIC_IMPLICIT = "deterministic_implicit"
    """``round(BL p_d p_x)`` pulses per device, no sampled trains."""


@dataclass
class IOParameters:
    """Periphery of one analog matrix-vector product, forward or backward (MODEL.md section 2).

    The defaults are the paper's RPU baseline periphery, which are aihwkit 1.1's
    ``IOParameters`` defaults too (docs/aihwkit.md): a 7-bit DAC over ``[-1, 1]``, a 9-bit ADC
    over ``[-12, 12]``, output noise 0.06, abs-max noise management, iterative bound management
    (forward only).
    """

    is_perfect: bool = False
    """Bypass the whole periphery: the pass returns the exact float32 product ``W x`` (no
    noise management, quantisation, noise, bounds; ``out_scale`` ignored). Default False."""

    inp_bound: float = 1.0
    """DAC range ``[-inp_bound, inp_bound]``, in input units; inputs beyond it are clipped.
    ``<= 0`` means unbounded (only without input quantisation). Default 1."""

    inp_res: float = 1 / 126
    """DAC resolution as a fraction of the range ``2 * inp_bound``: the step is
    ``inp_res * 2 * inp_bound`` (a value > 1 is read as a number of steps, ``1 / inp_res``);
    ``<= 0`` means no quantisation. Default 1/126 (7 bits, step 1/63)."""

    inp_sto_round: bool = False
    """Stochastic instead of nearest (ties to even) rounding in the DAC. Default False."""

    inp_noise: float = 0.0
    """Standard deviation of Gaussian noise added to every DAC output, in input units; >= 0.
    Default 0."""

    out_bound: float = 12.0
    """ADC range ``[-out_bound, out_bound]``, in output units; outputs beyond it are clipped
    (and trigger bound management). ``<= 0`` means unbounded (only without output
    quantisation). Default 12."""

    out_res: float = 1 / 510
    """ADC resolution as a fraction of the range ``2 * out_bound``: the step is
    ``out_res * 2 * out_bound`` (a value > 1 is read as a number of steps); ``<= 0`` means no
    quantisation. Default 1/510 (9 bits, step 24/510)."""

    out_sto_round: bool = False
    """Stochastic instead of nearest (ties to even) rounding in the ADC. Default False."""

    out_noise: float = 0.06
    """Standard deviation of the additive Gaussian output noise, in output units, fresh every
    pass; >= 0. Default 0.06."""

    w_noise: float = 0.0
    """Weight noise referred to the output: ``w_noise * ||u||_2 * N(0, 1)`` is added to every
    output (``u`` the DAC outputs), in output units per input unit; >= 0. Default 0."""

    out_scale: float = 1.0
    """Digital factor applied to every output (dimensionless). Default 1."""

    noise_management: str = "abs_max"
    """Noise management, a :class:`NoiseManagementType` or its string. Default ``"abs_max"``."""

    nm_thres: float = 0.0
    """Upper clip of the abs-max scale, or the scale of ``constant`` noise management, in the
    units of ``x``; ``0`` switches the clip off. >= 0. Default 0."""

    nm_decay: float = 1e-3
    """Decay per batch of the running average of ``average_abs_max`` noise management; in
    ``[0, 1]``. Default 0.001."""

    bound_management: str = "iterative"
    """Bound management, a :class:`BoundManagementType` or its string; ignored in the backward
    pass. Default ``"iterative"``."""

    max_bm_factor: float = 1000.0
    """Bound management stops once the input reduction factor ``r`` exceeds this; >= 1.
    Default 1000."""

    max_bm_res: float = 0.25
    """... or once ``r`` exceeds ``max_bm_res / inp_step`` (the DAC would lose all resolution);
    >= 0. Default 0.25 (with the 7-bit DAC: at most 5 passes)."""

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def perfect(cls) -> IOParameters:
        """The exact float32 product: ``IOParameters(is_perfect=True)``."""
        return cls(is_perfect=True)

    def validate(self) -> None:
        """Checks every field (TypeError/ConfigError naming it) and normalises numbers to float
        and options to strings. Runs on construction and before conversion for the engine."""
        o = type(self).__name__
        self.is_perfect = check_bool(o, "is_perfect", self.is_perfect)
        self.inp_bound = check_real(o, "inp_bound", self.inp_bound)
        self.inp_res = check_real(o, "inp_res", self.inp_res)
        self.inp_sto_round = check_bool(o, "inp_sto_round", self.inp_sto_round)
        self.inp_noise = check_real(o, "inp_noise", self.inp_noise, ge=0.0)
        self.out_bound = check_real(o, "out_bound", self.out_bound)
        self.out_res = check_real(o, "out_res", self.out_res)
        self.out_sto_round = check_bool(o, "out_sto_round", self.out_sto_round)
        self.out_noise = check_real(o, "out_noise", self.out_noise, ge=0.0)
        self.w_noise = check_real(o, "w_noise", self.w_noise, ge=0.0)
        self.out_scale = check_real(o, "out_scale", self.out_scale)
        self.noise_management = check_option(
            o, "noise_management", self.noise_management, NoiseManagementType
        )
        self.nm_thres = check_real(o, "nm_thres", self.nm_thres, ge=0.0)
        self.nm_decay = check_real(o, "nm_decay", self.nm_decay, ge=0.0, le=1.0)
        self.bound_management = check_option(
            o, "bound_management", self.bound_management, BoundManagementType
        )
        self.max_bm_factor = check_real(o, "max_bm_factor", self.max_bm_factor, ge=1.0)
        self.max_bm_res = check_real(o, "max_bm_res", self.max_bm_res, ge=0.0)
        if self.inp_res > 0 and self.inp_bound <= 0:
            raise ConfigError(
                f"{o}.inp_bound must be > 0 when the DAC quantises (inp_res > 0), "
                f"got {self.inp_bound}"
            )
        if self.out_res > 0 and self.out_bound <= 0:
            raise ConfigError(
                f"{o}.out_bound must be > 0 when the ADC quantises (out_res > 0), "
                f"got {self.out_bound}"
            )


@dataclass
class UpdateParameters:
    """The pulsed update: update management and pulse trains (MODEL.md sections 3.3 and 4)."""

    desired_bl: int = 31
    """Maximal pulse-train length ``BL_max``, in pulses; in ``[1, 256]``. Default 31."""

    update_management: bool = True
    """Balance the firing probabilities of ``x`` and ``d`` (UM), so that the largest entries of
    both fire equally often. Default True."""

    update_bl_management: bool = True
    """Shorten the train to the pulses needed, ``BL = min(ceil(k), desired_bl)`` (UBLM);
    implies ``update_management``. Default True."""

    pulse_type: str = "stochastic_compressed"
    """How the update is realised, a :class:`PulseType` or its string. Default
    ``"stochastic_compressed"``."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field (TypeError/ConfigError naming it); runs on construction and before
        conversion for the engine."""
        o = type(self).__name__
        self.desired_bl = check_int(o, "desired_bl", self.desired_bl, ge=1, le=MAX_BL)
        self.update_management = check_bool(o, "update_management", self.update_management)
        self.update_bl_management = check_bool(o, "update_bl_management", self.update_bl_management)
        self.pulse_type = check_option(o, "pulse_type", self.pulse_type, PulseType)


@dataclass
class MappingParameters:
    """Weight scaling, the digital factors of the update, and the size of one physical array
    (MODEL.md sections 3.4 and 3.5; aihwkit's ``MappingParameter``).

    With ``weight_scaling_omega > 0``, setting the weights ``W`` maps them onto the devices:
    ``alpha = max |W| / omega`` (per array, or per output row with
    ``weight_scaling_columnwise``), the devices are programmed with ``W / alpha``, forward
    outputs are multiplied by ``alpha``, backward errors enter multiplied by ``alpha``, and the
    update divides the errors by ``alpha``, so that training is SGD on ``alpha * W_analog``.
    Small initial weights then use the full conductance range. A changed ``omega`` takes effect
    at the next ``set_weights`` or ``remap()``.

    A matrix larger than ``max_output_size x max_input_size`` is held by a grid of physical
    arrays, each with its own periphery, noise and bound management, weight scaling and random
    streams (:attr:`rpusim.AnalogTile.tiles`).
    """

    weight_scaling_omega: float = 0.0
    """The analog weight that ``max |W|`` is mapped onto, in weight units; ``0`` switches weight
    scaling off (weights are programmed as they are). >= 0. Default 0."""

    weight_scaling_columnwise: bool = False
    """One scale per output row instead of one per array. Default False."""

    weight_scaling_lr_compensation: bool = False
    """Move the mean of the scales from the update's errors into its learning rate: the pulsed
    update gets ``lr / mean(alpha)`` and errors ``d * mean(alpha) / alpha`` instead of ``lr``
    and ``d / alpha``. The expected update is the same. With update management the pulse
    probabilities depend on ``lr * d`` only, so the update is the same too; without it the
    trains of ``x`` and ``d`` split the probability differently. Default False, as in
    aihwkit."""

    lr_scale: float = 1.0
    """Digital factor on the learning rate of every update of the tile (learning-rate
    scaling); >= 0. Default 1."""

    max_input_size: int = 512
    """Most inputs (columns) of one physical array; a layer with more is split over several,
    in nearly equal parts. ``0``: no limit. In [0, 2^32 - 1]. Default 512, as in aihwkit."""

    max_output_size: int = 512
    """Most outputs (rows) of one physical array; a layer with more is split over several,
    in nearly equal parts. ``0``: no limit. In [0, 2^32 - 1]. Default 512, as in aihwkit."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field (TypeError/ConfigError naming it)."""
        o = type(self).__name__
        self.weight_scaling_omega = check_real(
            o, "weight_scaling_omega", self.weight_scaling_omega, ge=0.0
        )
        self.weight_scaling_columnwise = check_bool(
            o, "weight_scaling_columnwise", self.weight_scaling_columnwise
        )
        self.weight_scaling_lr_compensation = check_bool(
            o, "weight_scaling_lr_compensation", self.weight_scaling_lr_compensation
        )
        self.lr_scale = check_real(o, "lr_scale", self.lr_scale, ge=0.0)
        for name in ("max_input_size", "max_output_size"):
            setattr(self, name, check_int(o, name, getattr(self, name), ge=0, le=2**32 - 1))


def _backward_default() -> IOParameters:
    return IOParameters(bound_management=BoundManagementType.NONE)


@dataclass
class RPUConfig:
    """Everything that defines a tile's behaviour: device model, periphery, update."""

    device: Device = field(default_factory=ConstantStep)
    """The device model of every cross-point (a class of :mod:`rpusim.devices`). Fixed once a
    tile is built. Default :class:`~rpusim.devices.ConstantStep` with aihwkit's defaults."""

    forward: IOParameters = field(default_factory=IOParameters)
    """Periphery of the forward pass ``y = W x``. Default ``IOParameters()``."""

    backward: IOParameters = field(default_factory=_backward_default)
    """Periphery of the backward pass ``z = W^T d``; bound management is never applied here.
    Default ``IOParameters(bound_management="none")`` (aihwkit's default says ``iterative``,
    which its backward pass ignores too: docs/aihwkit.md)."""

    update: UpdateParameters = field(default_factory=UpdateParameters)
    """The pulsed update. Default ``UpdateParameters()``."""

    mapping: MappingParameters = field(default_factory=MappingParameters)
    """Weight scaling and the learning-rate factors. Default ``MappingParameters()`` (off)."""

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def floating_point(cls) -> RPUConfig:
        """Plain float32 arithmetic, for comparison: perfect forward and backward passes and the
        ideal device's exact, unbounded update."""
        return cls(
            device=IdealDevice(),
            forward=IOParameters.perfect(),
            backward=IOParameters.perfect(),
        )

    def validate(self) -> None:
        """Checks the types of the parts and validates each part again."""
        device_type = DEVICE_TYPES.get(type(self.device).__name__)
        if device_type is None or type(self.device) is not device_type:
            known = ", ".join(DEVICE_TYPES)
            raise TypeError(
                f"RPUConfig.device must be a device model ({known}), "
                f"got {type(self.device).__name__}"
            )
        for name, cls in (
            ("forward", IOParameters),
            ("backward", IOParameters),
            ("update", UpdateParameters),
            ("mapping", MappingParameters),
        ):
            part = getattr(self, name)
            if not isinstance(part, cls):
                raise TypeError(
                    f"RPUConfig.{name} must be {cls.__name__}, got {type(part).__name__}"
                )
        self.device.validate()
        self.forward.validate()
        self.backward.validate()
        self.update.validate()
        self.mapping.validate()

    def to_json(self) -> str:
        """The engine's JSON form: every field of every part, the device tagged by its class
        name (``{"device": {"type": "ConstantStep", ...}, "forward": {...}, ...}``)."""
        self.validate()
        document = {
            "device": self.device.to_document(),
            "forward": asdict(self.forward),
            "backward": asdict(self.backward),
            "update": asdict(self.update),
            "mapping": asdict(self.mapping),
        }
        return json.dumps(document, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> RPUConfig:
        """Reads the engine's JSON form (as :meth:`to_json` writes it, or as
        ``tile.get_config_json()`` returns it). Missing fields take their defaults; unknown
        fields, device types and bad values raise ``ValueError`` naming them."""
        try:
            document = json.loads(text)
        except (TypeError, json.JSONDecodeError) as e:
            raise ConfigError(f"RPUConfig: not a JSON document: {e}") from None
        document = check_fields(cls, document, "RPUConfig")
        parts: dict[str, Any] = {}
        if "device" in document:
            parts["device"] = device_from_document(document["device"], "RPUConfig.device")
        for name, part_type in (
            ("forward", IOParameters),
            ("backward", IOParameters),
            ("update", UpdateParameters),
            ("mapping", MappingParameters),
        ):
            if name in document:
                values = check_fields(part_type, document[name], f"RPUConfig.{name}")
                parts[name] = part_type(**values)
        return cls(**parts)

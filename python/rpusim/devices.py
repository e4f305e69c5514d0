"""Device models: how one cross-point responds to one update pulse (MODEL.md section 5).

A device is a dataclass whose fields are the parameters of the engine's device model of the same
name, with aihwkit's names and defaults. Its JSON form for the engine is the field dictionary
plus a ``"type"`` tag holding the class name: ``{"type": "ConstantStep", "dw_min": 0.001, ...}``.

To add a model: subclass :class:`PulsedDevice` (adding fields with defaults and extending
``validate``) and list the class in :data:`DEVICE_TYPES`.

All weights and steps are in the tile's weight units: the unit in which ``tile.get_weights()``
reports the conductances, where the default bounds are about +-0.6.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpusim._checks import check_real

__all__ = ["DEVICE_TYPES", "ConstantStep", "Device", "IdealDevice", "PulsedDevice"]


@dataclass
class Device:
    """Base of every device model; the engine knows a model by its class name."""

    def validate(self) -> None:
        """Checks every field (TypeError/ValueError naming it); nothing to check here."""


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
    (cycle-to-cycle variation).
    """

    dw_min: float = 0.001
    """Mean weight change of one pulse, in weight units; must be > 0. Default 0.001.

    The number of states of a device is ``(w_max - w_min) / dw_min``."""

    dw_min_dtod: float = 0.3
    """Device-to-device spread (standard deviation) of the step, relative to ``dw_min``;
    >= 0. Default 0.3."""

    dw_min_std: float = 0.3
    """Cycle-to-cycle spread (standard deviation) of every single pulse, relative to the
    device's step; >= 0. Default 0.3."""

    up_down: float = 0.0
    """Global asymmetry between up and down steps, relative to ``dw_min`` (positive: down steps
    are smaller). Default 0 (symmetric)."""

    up_down_dtod: float = 0.01
    """Device-to-device spread of the up/down asymmetry, relative to ``dw_min``; >= 0.
    Default 0.01."""

    w_max: float = 0.6
    """Mean upper weight bound over devices, in weight units; >= 0. Default 0.6."""

    w_min: float = -0.6
    """Mean lower weight bound over devices, in weight units; <= 0. Default -0.6."""

    w_max_dtod: float = 0.3
    """Device-to-device spread of the upper bound, relative to ``w_max``; >= 0. Default 0.3."""

    w_min_dtod: float = 0.3
    """Device-to-device spread of the lower bound, relative to ``w_min``; >= 0. Default 0.3."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Checks every field (TypeError/ValueError naming it) and normalises numbers to float.

        Runs on construction; call it again after changing fields by hand (converting a
        configuration for the engine does).
        """
        owner = type(self).__name__
        self.dw_min = check_real(owner, "dw_min", self.dw_min, gt=0.0)
        self.dw_min_dtod = check_real(owner, "dw_min_dtod", self.dw_min_dtod, ge=0.0)
        self.dw_min_std = check_real(owner, "dw_min_std", self.dw_min_std, ge=0.0)
        self.up_down = check_real(owner, "up_down", self.up_down)
        self.up_down_dtod = check_real(owner, "up_down_dtod", self.up_down_dtod, ge=0.0)
        self.w_max = check_real(owner, "w_max", self.w_max, ge=0.0)
        self.w_min = check_real(owner, "w_min", self.w_min, le=0.0)
        self.w_max_dtod = check_real(owner, "w_max_dtod", self.w_max_dtod, ge=0.0)
        self.w_min_dtod = check_real(owner, "w_min_dtod", self.w_min_dtod, ge=0.0)


@dataclass
class ConstantStep(PulsedDevice):
    """A device whose step does not depend on the weight (MODEL.md section 5, "constant step").

    Each pulse moves the weight by the device's up or down step times
    ``1 + dw_min_std * N(0, 1)``, then clips it to the device's own bounds. The defaults are
    aihwkit's generic device; the paper's idealised device has ``dw_min=0.0002``,
    ``up_down_dtod=0``, ``w_max=1``, ``w_min=-1``.
    """


DEVICE_TYPES: dict[str, type[Device]] = {cls.__name__: cls for cls in (ConstantStep, IdealDevice)}
"""The device models the engine knows, by their JSON tag (the class name)."""

"""Named configurations: the paper's RPU baseline, and the published device fits users know from
aihwkit, as devices (``*_device()``) and as whole :class:`~rpusim.RPUConfig` s.

Every function returns a new object, free to change:

>>> from rpusim import presets
>>> config = presets.paper_baseline()
>>> config.device.dw_min, config.forward.out_noise
(0.0002, 0.06)
>>> config = presets.reram_es()            # aihwkit's ReRamESPreset
>>> config = presets.unit_cell(presets.ecram_device, n_devices=2)   # aihwkit's EcRam2Preset

The device presets carry aihwkit's published parameter values. Parts of a fit that rpusim does
not model are named in each docstring (the reference device of aihwkit's
``SoftBoundsReferenceDevice``). The configuration presets pair a device with aihwkit's preset
periphery (:func:`preset_io`, :func:`preset_update`), except :func:`paper_baseline` and
:func:`gokmen_vlasov_2016`, which use the paper's (the defaults of :class:`~rpusim.IOParameters`).
A preset named after one of aihwkit's (``gokmen_vlasov`` for ``GokmenVlasovPreset``,
``reram_es`` for ``ReRamESPreset``, ...) has aihwkit's parameters.
"""

from __future__ import annotations

from typing import Callable

from rpusim.config import IOParameters, RPUConfig, UpdateParameters
from rpusim.devices import (
    ConstantStep,
    ExpStep,
    LinearStep,
    PulsedDevice,
    SoftBounds,
    TransferCompound,
    VectorUnitCell,
    VectorUnitCellUpdatePolicy,
)

__all__ = [
    "CONFIG_PRESETS",
    "DEVICE_PRESETS",
    "capacitor",
    "capacitor_device",
    "ecram",
    "ecram_device",
    "ecram_mo",
    "ecram_mo_device",
    "gokmen_vlasov",
    "gokmen_vlasov_2016",
    "gokmen_vlasov_2016_device",
    "gokmen_vlasov_device",
    "idealized",
    "idealized_device",
    "paper_baseline",
    "preset_io",
    "preset_update",
    "reram_es",
    "reram_es_device",
    "reram_sb",
    "reram_sb_device",
    "tiki_taka",
    "unit_cell",
]


# --- devices --------------------------------------------------------------------------------


def idealized_device() -> ConstantStep:
    """The idealised device of Rasch, Gokmen & Haensch (2019): constant step ``dw_min=0.0002``
    over ``[-1, 1]`` (10 000 states), 30 % device-to-device and cycle-to-cycle variation, no
    up/down asymmetry (``up_down_dtod=0``), 30 % spread of the bounds.

    Source: Gokmen & Vlasov, Front. Neurosci. 2016 (doi:10.3389/fnins.2016.00333), with the
    asymmetry removed and 8x the states, as used by Rasch, Gokmen & Haensch, "Training
    large-scale ANNs on simulated resistive crossbar arrays", IEEE Design & Test 2019
    (arXiv:1906.02698); aihwkit's ``IdealizedPresetDevice``.
    """
    return ConstantStep(
        dw_min=0.0002,
        dw_min_dtod=0.3,
        dw_min_std=0.3,
        up_down=0.0,
        up_down_dtod=0.0,
        w_max=1.0,
        w_min=-1.0,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


def gokmen_vlasov_device() -> ConstantStep:
    """aihwkit's ``GokmenVlasovPresetDevice``: Gokmen & Vlasov's RPU device rescaled to the weight
    range ``[-1, 1]`` with about its number of states (1250; 1200 would be ``dw_min=0.001667``):
    constant step ``dw_min=0.0016``, 30 % device-to-device and cycle-to-cycle variation of the
    step, 30 % spread of the bounds, 1 % device-to-device up/down asymmetry.
    :func:`gokmen_vlasov_2016_device` is the device on the paper's own range ``[-0.6, 0.6]``.

    Source: Gokmen & Vlasov, "Acceleration of deep neural network training with resistive
    cross-point devices: design considerations", Front. Neurosci. 2016
    (doi:10.3389/fnins.2016.00333), rescaled as published in aihwkit.
    """
    return ConstantStep(
        dw_min=0.0016,
        dw_min_dtod=0.3,
        dw_min_std=0.3,
        up_down=0.0,
        up_down_dtod=0.01,
        w_max=1.0,
        w_min=-1.0,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


def gokmen_vlasov_2016_device() -> ConstantStep:
    """Gokmen & Vlasov's RPU device as the paper specifies it: constant step ``dw_min=0.001`` over
    ``[-0.6, 0.6]`` (1200 states), 30 % device-to-device and cycle-to-cycle variation of the
    step, 30 % spread of the bounds, 1 % device-to-device up/down asymmetry (aihwkit's generic
    ``PulsedDevice`` defaults, and :class:`~rpusim.devices.ConstantStep`'s). aihwkit's
    ``GokmenVlasovPresetDevice`` is the same device rescaled to ``[-1, 1]``
    (:func:`gokmen_vlasov_device`).

    Source: Gokmen & Vlasov, "Acceleration of deep neural network training with resistive
    cross-point devices: design considerations", Front. Neurosci. 2016
    (doi:10.3389/fnins.2016.00333).
    """
    return ConstantStep(
        dw_min=0.001,
        dw_min_dtod=0.3,
        dw_min_std=0.3,
        up_down=0.0,
        up_down_dtod=0.01,
        w_max=0.6,
        w_min=-0.6,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


def reram_es_device() -> ExpStep:
    """A ReRAM device, exponential-step fit (aihwkit's ``ReRamESPresetDevice``).

    Source: fit of :class:`~rpusim.devices.ExpStep` to Gong et al., "Signal and noise extraction
    from analog memory elements for neuromorphic computing", Nat. Commun. 9, 2102 (2018)
    (doi:10.1038/s41467-018-04485-1), as published in aihwkit. Large cycle-to-cycle
    (``dw_min_std=5``) and write noise (``write_noise_std=75``, i.e. 0.1 in weight units).
    """
    return ExpStep(
        dw_min=0.00135,
        up_down=0.259359,
        w_max=1.0,
        w_min=-1.0,
        a=-0.5,
        b=-0.5,
        gamma_up=5.0,
        gamma_down=5.0,
        A_up=-1.18445,
        A_down=-0.081404,
        dw_min_dtod=0.2,
        up_down_dtod=0.05,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
        dw_min_std=5.0,
        write_noise_std=75.0,
    )


def reram_sb_device() -> SoftBounds:
    """A ReRAM device, soft-bounds fit (aihwkit's ``ReRamSBPresetDevice``).

    Source: loose fit of :class:`~rpusim.devices.SoftBounds` to Gong et al., Nat. Commun. 9,
    2102 (2018) (doi:10.1038/s41467-018-04485-1), as published in aihwkit. The fit assumes the
    symmetry point has been subtracted by a reference device; aihwkit models that with its
    ``SoftBoundsReferenceDevice`` (reference 0 here, the same response). Additive
    cycle-to-cycle noise (``mult_noise=False``), write noise 56.
    """
    return SoftBounds(
        dw_min=0.002,
        up_down=0.0,
        w_max=1.25,
        w_min=-0.75,
        mult_noise=False,
        dw_min_dtod=0.3,
        up_down_dtod=0.01,
        w_max_dtod=0.3 / 1.25,
        w_min_dtod=0.3 / 0.75,
        dw_min_std=3.75,
        write_noise_std=56.0,
    )


def capacitor_device() -> LinearStep:
    """A capacitor-based cell, linear-step fit (aihwkit's ``CapacitorPresetDevice``).

    Source: fit of :class:`~rpusim.devices.LinearStep` to Li et al., "Capacitor-based
    cross-point array for analog neural network with record symmetry and linearity", VLSI
    Technology 2018 (https://ieeexplore.ieee.org/abstract/document/8510648), as published in
    aihwkit, with its leakage: the weights decay towards 0 with a lifetime of ``1e6`` update
    calls (mini-batches), spread 30 % from device to device.
    """
    return LinearStep(
        dw_min=0.005,
        up_down=0.0,
        w_max=1.0,
        w_min=-1.0,
        mult_noise=False,
        gamma_up=0.05,
        gamma_down=0.05,
        dw_min_dtod=0.1,
        up_down_dtod=0.06,
        w_max_dtod=0.07,
        w_min_dtod=0.07,
        gamma_up_dtod=0.01,
        gamma_down_dtod=0.01,
        dw_min_std=0.3,
        write_noise_std=0.0,
        mean_bound_reference=True,
        lifetime=1e6,
        lifetime_dtod=0.3,
    )


def ecram_device() -> LinearStep:
    """A lithium-based ECRAM cell, linear-step fit (aihwkit's ``EcRamPresetDevice``); the range is
    shifted so that the symmetry point is at 0.

    Source: fit of :class:`~rpusim.devices.LinearStep` to Tang et al., "ECRAM as scalable
    synaptic cell for high-speed, low-power neuromorphic computing", IEDM 2018
    (https://ieeexplore.ieee.org/document/8614551), as published in aihwkit.
    """
    return LinearStep(
        dw_min=0.002,
        up_down=0.0,
        w_max=1.1724,
        w_min=-0.8276,
        mult_noise=True,
        gamma_up=0.1153,
        gamma_down=0.5085,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_max_dtod=0.05,
        w_min_dtod=0.05,
        gamma_up_dtod=0.05,
        gamma_down_dtod=0.05,
        dw_min_std=0.3,
        write_noise_std=0.0,
        mean_bound_reference=True,
    )


def ecram_mo_device() -> LinearStep:
    """A metal-oxide ECRAM cell, linear-step fit (aihwkit's ``EcRamMOPresetDevice``).

    Source: fit of :class:`~rpusim.devices.LinearStep` to data of Kim et al., "Metal-oxide
    based, CMOS-compatible ECRAM for deep learning accelerator", IEDM 2019
    (https://ieeexplore.ieee.org/document/8993463), as published in aihwkit.
    """
    return LinearStep(
        dw_min=2.8214e-4,
        up_down=0.0,
        w_max=1.1714,
        w_min=-0.8286,
        mult_noise=True,
        gamma_up=0.4152,
        gamma_down=0.7342,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_max_dtod=0.05,
        w_min_dtod=0.05,
        gamma_up_dtod=0.05,
        gamma_down_dtod=0.05,
        dw_min_std=2.0,
        write_noise_std=0.0,
        mean_bound_reference=True,
    )


DEVICE_PRESETS: dict[str, Callable[[], PulsedDevice]] = {
    "idealized": idealized_device,
    "gokmen_vlasov": gokmen_vlasov_device,
    "gokmen_vlasov_2016": gokmen_vlasov_2016_device,
    "reram_es": reram_es_device,
    "reram_sb": reram_sb_device,
    "capacitor": capacitor_device,
    "ecram": ecram_device,
    "ecram_mo": ecram_mo_device,
}
"""Every device preset by name."""


# --- periphery ------------------------------------------------------------------------------


def preset_io(backward: bool = False) -> IOParameters:
    """aihwkit's ``PresetIOParameters``: 7-bit DAC, 9-bit ADC over ``[-20, 20]``, output noise
    0.1, abs-max noise management, iterative bound management (forward; bound management is
    never applied backward, so ``backward=True`` switches it off explicitly)."""
    return IOParameters(
        inp_res=1 / 126,
        inp_sto_round=False,
        out_bound=20.0,
        out_noise=0.1,
        out_res=1 / 510,
        w_noise=0.0,
        noise_management="abs_max",
        bound_management="none" if backward else "iterative",
    )


def preset_update() -> UpdateParameters:
    """aihwkit's ``PresetUpdateParameters``: stochastic pulse trains of at most 31 pulses with
    update management and pulse-length management (the defaults of
    :class:`~rpusim.UpdateParameters`)."""
    return UpdateParameters(
        desired_bl=31,
        update_management=True,
        update_bl_management=True,
        pulse_type="stochastic_compressed",
    )


def _with_preset_periphery(device: PulsedDevice | VectorUnitCell | TransferCompound) -> RPUConfig:
    return RPUConfig(
        device=device,
        forward=preset_io(),
        backward=preset_io(backward=True),
        update=preset_update(),
    )


# --- configurations -------------------------------------------------------------------------


def paper_baseline() -> RPUConfig:
    """The RPU baseline of Rasch, Gokmen & Haensch (2019): the idealised device
    (:func:`idealized_device`: constant step 0.0002 over ``[-1, 1]``, 10 000 states, 30 %
    device-to-device and cycle-to-cycle variation, no asymmetry) with the paper's periphery: 7-bit
    DAC, 9-bit ADC over ``[-12, 12]``, output noise 0.06, abs-max noise management, iterative
    bound management (forward), pulse trains of at most 31 pulses with update management and
    pulse-length management.

    Source: Rasch, Gokmen & Haensch, "Training large-scale ANNs on simulated resistive crossbar
    arrays", IEEE Design & Test 2019 (arXiv:1906.02698).
    """
    return RPUConfig(
        device=idealized_device(),
        forward=IOParameters(),
        backward=IOParameters(bound_management="none"),
        update=UpdateParameters(desired_bl=31, update_management=True, update_bl_management=True),
    )


def gokmen_vlasov() -> RPUConfig:
    """aihwkit's ``GokmenVlasovPreset``: :func:`gokmen_vlasov_device` (the 2016 device rescaled to
    ``[-1, 1]``, 1250 states) with aihwkit's preset periphery (:func:`preset_io`,
    :func:`preset_update`)."""
    return _with_preset_periphery(gokmen_vlasov_device())


def gokmen_vlasov_2016() -> RPUConfig:
    """Gokmen & Vlasov's device on its own range (:func:`gokmen_vlasov_2016_device`, 1200
    states) with the paper's periphery (as :func:`paper_baseline`).

    Source: Gokmen & Vlasov, Front. Neurosci. 2016 (doi:10.3389/fnins.2016.00333); periphery of
    Rasch, Gokmen & Haensch 2019 (arXiv:1906.02698).
    """
    config = paper_baseline()
    config.device = gokmen_vlasov_2016_device()
    return config


def idealized() -> RPUConfig:
    """aihwkit's ``IdealizedPreset``: :func:`idealized_device` with aihwkit's preset periphery
    (:func:`preset_io`, :func:`preset_update`)."""
    return _with_preset_periphery(idealized_device())


def reram_es() -> RPUConfig:
    """aihwkit's ``ReRamESPreset``: :func:`reram_es_device` with the preset periphery."""
    return _with_preset_periphery(reram_es_device())


def reram_sb() -> RPUConfig:
    """aihwkit's ``ReRamSBPreset``: :func:`reram_sb_device` with the preset periphery."""
    return _with_preset_periphery(reram_sb_device())


def capacitor() -> RPUConfig:
    """aihwkit's ``CapacitorPreset``: :func:`capacitor_device` with the preset
    periphery."""
    return _with_preset_periphery(capacitor_device())


def ecram() -> RPUConfig:
    """aihwkit's ``EcRamPreset``: :func:`ecram_device` with the preset periphery."""
    return _with_preset_periphery(ecram_device())


def ecram_mo() -> RPUConfig:
    """aihwkit's ``EcRamMOPreset``: :func:`ecram_mo_device` with the preset periphery."""
    return _with_preset_periphery(ecram_mo_device())


def unit_cell(
    device: Callable[[], PulsedDevice],
    n_devices: int = 2,
    update_policy: str | VectorUnitCellUpdatePolicy = "single_random",
) -> RPUConfig:
    """``n_devices`` copies of a device preset per cross-point (a
    :class:`~rpusim.devices.VectorUnitCell`, weights ``1/n`` each), with the preset periphery.

    aihwkit's ``ReRamES2Preset``, ``EcRam4Preset``, ... are
    ``unit_cell(reram_es_device, 2)``, ``unit_cell(ecram_device, 4)``, ...: one device, drawn
    at random, takes each update (``single_random``).
    """
    cell = VectorUnitCell(devices=[device() for _ in range(n_devices)], update_policy=update_policy)
    return _with_preset_periphery(cell)


def tiki_taka(device: Callable[[], PulsedDevice]) -> RPUConfig:
    """Tiki-Taka (a :class:`~rpusim.devices.TransferCompound`) on two copies of a device preset,
    a fast ``A`` and a slow ``C``, with the preset periphery: aihwkit's ``TikiTaka*Preset``.

    aihwkit's ``TikiTakaReRamESPreset``, ``TikiTakaEcRamPreset``, ... are
    ``tiki_taka(reram_es_device)``, ``tiki_taka(ecram_device)``, ...: the compound's defaults
    (one column of ``A`` read and transferred onto ``C`` after every batch, ``fast_lr = 1``,
    ``transfer_lr = 1`` times the SGD rate, the network reading ``C`` alone), the transfer read
    through :func:`preset_io` without noise and bound management, the transfer written with
    :func:`preset_update`. aihwkit's ``TikiTakaReRamSBPreset`` subtracts each device's symmetry
    point by a reference device (``subtract_symmetry_point``), which rpusim does not model
    (see :func:`reram_sb_device`).

    Source: Gokmen & Haensch, "Algorithm for training neural networks on resistive device
    arrays", Front. Neurosci. 14, 103 (2020) (doi:10.3389/fnins.2020.00103); the presets of
    aihwkit 1.1 (``aihwkit.simulator.presets.configs``).
    """
    transfer_forward = preset_io()
    transfer_forward.noise_management = "none"
    transfer_forward.bound_management = "none"
    compound = TransferCompound(
        unit_cell_devices=[device(), device()],
        transfer_forward=transfer_forward,
        transfer_update=preset_update(),
        units_in_mbatch=True,
    )
    return _with_preset_periphery(compound)


CONFIG_PRESETS: dict[str, Callable[[], RPUConfig]] = {
    "paper_baseline": paper_baseline,
    "gokmen_vlasov": gokmen_vlasov,
    "gokmen_vlasov_2016": gokmen_vlasov_2016,
    "idealized": idealized,
    "reram_es": reram_es,
    "reram_sb": reram_sb,
    "capacitor": capacitor,
    "ecram": ecram,
    "ecram_mo": ecram_mo,
    "reram_es_2": lambda: unit_cell(reram_es_device, 2),
    "reram_sb_2": lambda: unit_cell(reram_sb_device, 2),
    "ecram_2": lambda: unit_cell(ecram_device, 2),
    "idealized_2": lambda: unit_cell(idealized_device, 2),
    "tiki_taka_reram_es": lambda: tiki_taka(reram_es_device),
    "tiki_taka_reram_sb": lambda: tiki_taka(reram_sb_device),
    "tiki_taka_capacitor": lambda: tiki_taka(capacitor_device),
    "tiki_taka_ecram": lambda: tiki_taka(ecram_device),
    "tiki_taka_ecram_mo": lambda: tiki_taka(ecram_mo_device),
    "tiki_taka_idealized": lambda: tiki_taka(idealized_device),
}
"""Every configuration preset by name (with a few two-device unit cells of aihwkit's and its
six Tiki-Taka presets)."""

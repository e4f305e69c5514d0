"""One hash of what the engine computes, over every device model, pulse type and measure.

A restructuring that must keep the bits (issue 11) runs this before and after and compares the
printed hashes: the forward (training and test), backward and update outputs, the weights after
the updates and the pulse counts of a small single array and of a split one, for every case
below. Each case's own hash is printed too, so that a difference names the case it is in.

    .venv/bin/python tools/bits_hash.py            # one line per case, then the total
    .venv/bin/python tools/bits_hash.py --total    # the total only
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from collections.abc import Iterator

import numpy as np
import rpusim
from rpusim import devices, presets
from rpusim.config import BoundManagementType, NoiseManagementType, PulseType


def _devices() -> Iterator[tuple[str, rpusim.devices.Device]]:
    yield "ideal", devices.IdealDevice()
    yield "constant_step", devices.ConstantStep()
    yield "linear_step", devices.LinearStep()
    yield "soft_bounds", devices.SoftBounds()
    yield "exp_step", devices.ExpStep()
    yield "pow_step", devices.PowStep()
    yield "piecewise_step", devices.PiecewiseStep()
    for policy in devices.VectorUnitCellUpdatePolicy:
        cell = devices.VectorUnitCell(
            [devices.ConstantStep(), devices.SoftBounds()], update_policy=policy
        )
        yield f"vector_{policy.value}", cell
    yield "reram_es", presets.reram_es_device()
    yield "gokmen_vlasov", presets.gokmen_vlasov_device()


def _configs() -> Iterator[tuple[str, rpusim.RPUConfig]]:
    for name, device in _devices():
        yield name, rpusim.RPUConfig(device=device)
    base = rpusim.RPUConfig()
    for pulse_type in PulseType:
        config = dataclasses.replace(base, update=rpusim.UpdateParameters(pulse_type=pulse_type))
        yield f"pulse_{pulse_type.value}", config
    for nm in NoiseManagementType:
        for bm in BoundManagementType:
            io = rpusim.IOParameters(noise_management=nm, bound_management=bm, out_bound=0.5)
            yield f"nm_{nm.value}_bm_{bm.value}", dataclasses.replace(base, forward=io)
    yield (
        "perfect",
        dataclasses.replace(
            base, forward=rpusim.IOParameters.perfect(), backward=rpusim.IOParameters.perfect()
        ),
    )
    yield (
        "no_um",
        dataclasses.replace(
            base,
            update=rpusim.UpdateParameters(update_management=False, update_bl_management=False),
        ),
    )
    for columnwise in (False, True):
        for compensation in (False, True):
            mapping = rpusim.MappingParameters(
                weight_scaling_omega=0.6,
                weight_scaling_columnwise=columnwise,
                weight_scaling_lr_compensation=compensation,
            )
            yield (
                f"ws_col{int(columnwise)}_lrc{int(compensation)}",
                dataclasses.replace(base, mapping=mapping),
            )
    # With update management the compensation changes nothing (it keeps lr * d, the product
    # the pulse probabilities are balanced on); without it, it does.
    mapping = rpusim.MappingParameters(
        weight_scaling_omega=0.6,
        weight_scaling_columnwise=True,
        weight_scaling_lr_compensation=True,
    )
    no_um = rpusim.UpdateParameters(update_management=False, update_bl_management=False)
    yield "ws_col1_lrc1_no_um", dataclasses.replace(base, mapping=mapping, update=no_um)
    yield "paper_baseline", presets.paper_baseline()
    yield "floating_point", rpusim.RPUConfig.floating_point()


def _split(config: rpusim.RPUConfig) -> rpusim.RPUConfig:
    mapping = dataclasses.replace(config.mapping, max_input_size=16, max_output_size=8)
    return dataclasses.replace(config, mapping=mapping)


def case_hash(config: rpusim.RPUConfig, out_size: int, in_size: int) -> str:
    """The hash of a few steps of one tile with this configuration and shape."""
    rng = np.random.default_rng(7)
    tile = rpusim.AnalogTile(out_size, in_size, config, seed=11)
    tile.set_weights(rng.uniform(-0.3, 0.3, (out_size, in_size)).astype(np.float32))
    digest = hashlib.sha256()
    for _ in range(3):
        x = rng.uniform(-1.0, 1.0, (5, in_size)).astype(np.float32)
        d = rng.uniform(-0.5, 0.5, (5, out_size)).astype(np.float32)
        for array in (tile.forward(x), tile.forward(x, is_test=True), tile.backward(d)):
            digest.update(np.ascontiguousarray(array).tobytes())
        tile.update(x, d, lr=0.05)
    digest.update(tile.get_weights().tobytes())
    digest.update(tile.get_weights(apply_weight_scaling=False).tobytes())
    digest.update(str(tile.pulses).encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", action="store_true", help="print the total hash only")
    args = parser.parse_args()
    total = hashlib.sha256()
    for name, config in _configs():
        cases = (("single", config, (12, 20)), ("split", _split(config), (20, 40)))
        for label, cfg, shape in cases:
            h = case_hash(cfg, *shape)
            total.update(h.encode())
            if not args.total:
                print(f"{name:32s} {label:6s} {h[:16]}")
    print(f"total {total.hexdigest()}")


if __name__ == "__main__":
    main()

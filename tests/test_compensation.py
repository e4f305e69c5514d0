"""The compensation measures do what MODEL.md section 3 says, switched at run time; the
schedulers change them at the right steps and survive save and load."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import rpusim
from helpers import ideal_device
from rpusim import AnalogTile, IOParameters, RPUConfig, UpdateParameters
from rpusim import compensation as comp

torch = pytest.importorskip("torch")

from rpusim.nn import AnalogLinear  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_noise_management_keeps_small_backward_errors_above_the_noise() -> None:
    rng = np.random.default_rng(0)
    tile = AnalogTile(64, 64, RPUConfig(device=ideal_device()), seed=1)
    w = rng.uniform(-0.2, 0.2, (64, 64)).astype(np.float32)
    tile.set_weights(w)
    d = rng.uniform(-1e-3, 1e-3, (200, 64)).astype(np.float32)  # back-propagated errors
    exact = d @ w
    with_nm = relative_error(tile.backward(d), exact)
    comp.set_noise_management(tile, "none", passes=["backward"])
    assert tile.rpu_config.backward.noise_management == "none"
    assert tile.rpu_config.forward.noise_management == "abs_max"
    without_nm = relative_error(tile.backward(d), exact)
    # Without NM the errors are far below one DAC step: only the output noise is left.
    assert with_nm < 0.3, with_nm
    assert without_nm > 0.9, without_nm


def test_bound_management_rescues_saturated_outputs() -> None:
    config = RPUConfig(device=ideal_device(), forward=IOParameters(out_noise=0.0))
    tile = AnalogTile(1, 64, config, seed=2)
    tile.set_weights(np.full((1, 64), 0.5, dtype=np.float32))
    x = np.ones((1, 64), dtype=np.float32)  # W x = 32, beyond the ADC bound 12
    assert abs(tile.forward(x)[0, 0] - 32.0) < 1.0
    comp.set_bound_management(tile, "none")
    assert tile.forward(x)[0, 0] == 12.0


@pytest.mark.parametrize("columnwise", [False, True])
def test_weight_scaling_maps_onto_the_configured_range(columnwise: bool) -> None:
    rng = np.random.default_rng(3)
    config = RPUConfig(device=ideal_device(), forward=IOParameters.perfect())
    tile = AnalogTile(8, 16, config, seed=3)
    w = (rng.uniform(-1, 1, (8, 16)) * np.linspace(0.01, 0.08, 8)[:, None]).astype(np.float32)
    tile.set_weights(w)
    np.testing.assert_array_equal(tile.get_weights(apply_weight_scaling=False), w)
    comp.set_weight_scaling(tile, 0.8, columnwise=columnwise)
    # The effective weights are the float ones right after mapping ...
    np.testing.assert_allclose(tile.get_weights(), w, rtol=1e-6, atol=1e-9)
    x = rng.uniform(-1, 1, (5, 16)).astype(np.float32)
    np.testing.assert_allclose(tile.forward(x), x @ w.T, rtol=1e-5, atol=1e-7)
    # ... and the analog weights use 80 % of the device range (per tile or per row).
    analog = np.abs(tile.get_weights(apply_weight_scaling=False))
    if columnwise:
        np.testing.assert_allclose(analog.max(axis=1), 0.8, rtol=1e-6)
    else:
        assert abs(analog.max() - 0.8) < 1e-6
        assert len(set(tile.out_scales.tolist())) == 1
    comp.set_weight_scaling(tile, 0.0)  # off: the scales become 1 at the re-mapping
    np.testing.assert_array_equal(tile.out_scales, np.ones(8, dtype=np.float32))
    np.testing.assert_allclose(tile.get_weights(), w, rtol=1e-6, atol=1e-9)


def update_correlation(update_management: bool) -> tuple[float, float]:
    """Correlation of the per-update changes of two devices that share a row, and their
    mean change. x = (1, 1), d = 0.01, lr 0.01, dw_min 0.001: 0.1 pulses per device."""
    update = UpdateParameters(
        update_management=update_management, update_bl_management=False, desired_bl=31
    )
    tile = AnalogTile(1, 2, RPUConfig(device=ideal_device(), update=update), seed=4)
    x = np.ones((1, 2), dtype=np.float32)
    d = np.full((1, 1), 0.01, dtype=np.float32)
    changes = []
    for _ in range(4000):
        before = tile.get_weights()
        tile.update(x, d, 0.01)
        changes.append((tile.get_weights() - before)[0])
    c = np.array(changes)
    return float(np.corrcoef(c[:, 0], c[:, 1])[0, 1]), float(c.mean())


def test_update_management_equalises_the_pulse_probabilities() -> None:
    # Without UM the columns fire with p = 0.57 and the row with 0.0057: whenever the row
    # fires both devices of the row change together (correlation ~ p_x). With UM both fire
    # with 0.057 and the devices change nearly independently.
    corr_off, mean_off = update_correlation(False)
    corr_on, mean_on = update_correlation(True)
    assert corr_off > 0.45, corr_off
    assert corr_on < 0.15, corr_on
    # Both give the gradient step on average: -lr d x = -1e-4 (0.1 pulses of 0.001).
    for mean in (mean_off, mean_on):
        assert abs(mean + 1e-4) < 0.15e-4, mean


def test_lr_scale_scales_the_update() -> None:
    config = RPUConfig.floating_point()
    a, b = AnalogTile(2, 3, config, seed=5), AnalogTile(2, 3, config, seed=5)
    x = np.ones((1, 3), dtype=np.float32)
    d = np.ones((1, 2), dtype=np.float32)
    comp.set_lr_scale(a, 0.5)
    a.update(x, d, 0.2)
    b.update(x, d, 0.1)
    np.testing.assert_array_equal(a.get_weights(), b.get_weights())


def model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        AnalogLinear(6, 5, rpu_config=RPUConfig()),
        torch.nn.Tanh(),
        AnalogLinear(5, 3, rpu_config=RPUConfig()),
    )


def test_switches_reach_every_tile_or_the_named_layers() -> None:
    net = model()
    comp.set_update_management(net, False, desired_bl=10)
    for _, tile in comp.analog_tiles(net):
        assert comp.get_parameter(tile, "update.update_management") is False
        assert comp.get_parameter(tile, "update.desired_bl") == 10
    comp.set_parameter(net, "forward.out_noise", 0.0, layers=["2"])
    noises = [comp.get_parameter(t, "forward.out_noise") for _, t in comp.analog_tiles(net)]
    assert noises == [0.06, 0.0]
    with pytest.raises(ValueError, match="no analog layer named"):
        comp.set_parameter(net, "forward.out_noise", 0.0, layers=["7"])


def test_bad_parameters_change_no_tile() -> None:
    net = model()
    before = [t.to_bytes() for _, t in comp.analog_tiles(net)]
    with pytest.raises(ValueError, match="section"):
        comp.set_parameter(net, "device.dw_min", 0.1)
    with pytest.raises(ValueError, match="no field"):
        comp.set_parameter(net, "update.desired_bll", 3)
    with pytest.raises(ValueError, match="desired_bl"):
        comp.set_parameter(net, "update.desired_bl", 0)
    with pytest.raises(ValueError, match="noise_management"):
        comp.set_noise_management(net, "loud")
    assert [t.to_bytes() for _, t in comp.analog_tiles(net)] == before


def test_a_change_one_tile_refuses_changes_no_tile() -> None:
    # The second layer's ADC is unbounded without quantisation; switching its quantisation on
    # is refused there (an unbounded ADC cannot quantise), and so the first layer, which would
    # take it, keeps its configuration too.
    unbounded = IOParameters(out_bound=0.0, out_res=0.0)
    net = torch.nn.Sequential(
        AnalogLinear(4, 5, rpu_config=RPUConfig(forward=IOParameters(out_res=0.0))),
        AnalogLinear(5, 3, rpu_config=RPUConfig(forward=unbounded)),
    )
    before = [(t.to_bytes(), t.rpu_config) for _, t in comp.analog_tiles(net)]
    with pytest.raises(rpusim.ConfigError, match=r"forward\.out_bound"):
        comp.set_parameter(net, "forward.out_res", 1 / 510)
    assert [(t.to_bytes(), t.rpu_config) for _, t in comp.analog_tiles(net)] == before
    comp.set_parameter(net, "forward.out_res", 1 / 510, layers=["0"])
    assert comp.get_parameter(net[0].tile, "forward.out_res") == 1 / 510


def test_multistep_parameter_changes_at_its_milestones() -> None:
    tile = AnalogTile(2, 2, seed=6)
    schedule = comp.MultiStepParameter(tile, "update.desired_bl", [2, 5], [15, 7])
    seen = [comp.get_parameter(tile, "update.desired_bl")]
    for _ in range(6):
        schedule.step()
        seen.append(comp.get_parameter(tile, "update.desired_bl"))
    assert seen == [31, 31, 15, 15, 15, 7, 7]
    # Bound management switched on after a warm-up of 3 steps.
    comp.set_bound_management(tile, "none")
    warmup = comp.MultiStepParameter(tile, "forward.bound_management", [3], ["iterative"])
    states = []
    for _ in range(4):
        states.append(tile.rpu_config.forward.bound_management)
        warmup.step()
    assert states == ["none", "none", "none", "iterative"]


def test_weight_remapper_remaps_every_n_steps() -> None:
    rng = np.random.default_rng(7)
    config = RPUConfig(device=ideal_device(), update=UpdateParameters(pulse_type="none"))
    tile = AnalogTile(4, 5, config, seed=7)
    tile.set_weights(rng.uniform(-0.05, 0.05, (4, 5)).astype(np.float32))
    remapper = comp.WeightRemapper(tile, every=3, omega=0.5)
    x = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    d = rng.uniform(-1, 1, (4, 4)).astype(np.float32)
    for step in range(1, 7):
        tile.update(x, d, 0.01)
        effective = tile.get_weights()
        remapper.step()
        analog_max = np.abs(tile.get_weights(apply_weight_scaling=False)).max()
        if step % 3 == 0:
            assert abs(analog_max - 0.5) < 1e-6
            np.testing.assert_allclose(tile.get_weights(), effective, rtol=1e-5, atol=1e-8)
        else:
            assert abs(analog_max - 0.5) > 1e-3
    assert remapper.remaps == 2


def train_steps(net: torch.nn.Module, optimizer: AnalogSGD, schedulers: list, steps: range) -> None:
    for step in steps:
        g = torch.Generator().manual_seed(step)
        x = torch.rand(4, 6, generator=g)
        y = torch.randint(0, 3, (4,), generator=g)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for s in schedulers:
            s.step()


def make_schedulers(net: torch.nn.Module) -> list:
    return [
        comp.MultiStepParameter(net, "update.desired_bl", [3, 6], [10, 5]),
        comp.MultiStepParameter(net, "forward.noise_management", [5], ["average_abs_max"]),
        comp.WeightRemapper(net, every=4, omega=0.6),
    ]


def test_schedulers_resume_from_a_checkpoint() -> None:
    net = model(1)
    optimizer = AnalogSGD(net.parameters(), lr=0.1)
    schedulers = make_schedulers(net)
    train_steps(net, optimizer, schedulers, range(4))
    buffer = io.BytesIO()
    torch.save(
        {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedulers": [s.state_dict() for s in schedulers],
        },
        buffer,
    )
    train_steps(net, optimizer, schedulers, range(4, 9))
    expected = [t.to_bytes() for _, t in comp.analog_tiles(net)]

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    resumed = model(2)  # other initial weights and devices: all come from the checkpoint
    resumed.load_state_dict(checkpoint["model"])
    optimizer2 = AnalogSGD(resumed.parameters(), lr=0.1)
    optimizer2.load_state_dict(checkpoint["optimizer"])
    schedulers2 = make_schedulers(resumed)
    for s, state in zip(schedulers2, checkpoint["schedulers"]):
        s.load_state_dict(state)
    assert [s.last_step for s in schedulers2] == [4, 4, 4]
    train_steps(resumed, optimizer2, schedulers2, range(4, 9))
    assert [t.to_bytes() for _, t in comp.analog_tiles(resumed)] == expected
    tile = comp.analog_tiles(resumed)[0][1]
    assert comp.get_parameter(tile, "update.desired_bl") == 5
    assert comp.get_parameter(tile, "forward.noise_management") == "average_abs_max"


def test_compensation_is_importable_lazily() -> None:
    script = (
        "import sys, rpusim; assert 'rpusim.compensation' not in sys.modules; "
        "rpusim.compensation.set_noise_management; print('rpusim.compensation' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"

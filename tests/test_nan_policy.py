"""The NaN/Inf policy of docs/robustness.md, statement by statement: what forward, backward,
update, set_weights, the learning rate and the configurations do with NaN and infinities."""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

import numpy as np
import pytest
import rpusim
from helpers import uniform
from rpusim import AnalogTile, IOParameters, MappingParameters, RPUConfig
from rpusim.devices import ConstantStep

NON_FINITE = [float("nan"), float("inf"), float("-inf")]


def tile_with_weights(rng: np.random.Generator, config: RPUConfig | None = None) -> AnalogTile:
    tile = AnalogTile(6, 8, config, seed=3)
    tile.set_weights(uniform(rng, -0.3, 0.3, (6, 8)))
    return tile


@pytest.mark.parametrize("bad", NON_FINITE)
@pytest.mark.parametrize("argument", ["forward x", "backward d", "update x", "update d"])
@pytest.mark.parametrize("grid", [False, True], ids=["one array", "grid"])
def test_a_non_finite_input_is_refused_naming_it_and_changes_nothing(
    rng: np.random.Generator, bad: float, argument: str, grid: bool
) -> None:
    config = RPUConfig()
    if grid:  # 2 x 2 physical arrays: the grid checks before it splits
        config.mapping.max_input_size, config.mapping.max_output_size = 4, 3
    tile = tile_with_weights(rng, config)
    x, d = uniform(rng, -1, 1, (3, 8)), uniform(rng, -1, 1, (3, 6))
    operation, name = argument.split()
    target = x if name == "x" else d
    target[2, 5] = bad
    calls: dict[str, Callable[[], object]] = {
        "forward": lambda: tile.forward(x),
        "backward": lambda: tile.backward(d),
        "update": lambda: tile.update(x, d, 0.1),
    }
    before = tile.to_bytes()
    index = 2 * target.shape[1] + 5
    shown = {"nan": "NaN"}.get(str(bad), str(bad))
    with pytest.raises(rpusim.RPUSimError, match=f"^{name}: non-finite value {shown} at index "):
        calls[operation]()
    if not grid:  # a grid names the index in the array's own part
        with pytest.raises(rpusim.RPUSimError, match=f"at index {index}$"):
            calls[operation]()
    assert tile.to_bytes() == before


@pytest.mark.parametrize("bad", NON_FINITE)
@pytest.mark.parametrize("apply_weight_scaling", [True, False])
def test_non_finite_weights_are_refused_and_change_nothing(
    rng: np.random.Generator, bad: float, apply_weight_scaling: bool
) -> None:
    tile = tile_with_weights(rng)
    w = uniform(rng, -0.3, 0.3, (6, 8))
    w[1, 2] = bad
    before = tile.to_bytes()
    with pytest.raises(rpusim.RPUSimError, match=r"^weights: non-finite value .* at index 10$"):
        tile.set_weights(w, apply_weight_scaling=apply_weight_scaling)
    assert tile.to_bytes() == before


@pytest.mark.parametrize("lr", [*NON_FINITE, -0.1, 1e39])
def test_a_learning_rate_that_is_not_finite_and_non_negative_is_refused(
    rng: np.random.Generator, lr: float
) -> None:
    """1e39 is finite in Python but infinite as the float32 the engine takes."""
    tile = tile_with_weights(rng)
    x, d = uniform(rng, -1, 1, (2, 8)), uniform(rng, -1, 1, (2, 6))
    before = tile.to_bytes()
    with pytest.raises(rpusim.RPUSimError, match=r"^lr: must be finite and >= 0, got "):
        tile.update(x, d, lr)
    assert tile.to_bytes() == before


@pytest.mark.parametrize("bad", NON_FINITE)
def test_a_non_finite_configuration_value_is_refused_everywhere(
    rng: np.random.Generator, bad: float
) -> None:
    with pytest.raises(rpusim.ConfigError, match=r"IOParameters\.out_noise must be finite"):
        IOParameters(out_noise=bad)
    with pytest.raises(rpusim.ConfigError, match=r"MappingParameters\.lr_scale must be finite"):
        MappingParameters(lr_scale=bad)
    with pytest.raises(rpusim.ConfigError, match=r"ConstantStep\.w_max must be finite"):
        ConstantStep(w_max=bad)
    tile = tile_with_weights(rng)
    before = tile.to_bytes()
    with pytest.raises(rpusim.ConfigError, match="out_noise must be finite"):
        tile.rpu_config.forward.out_noise = bad
    with pytest.raises(rpusim.ConfigError, match=r"forward\.out_noise must be finite"):
        tile.patch_config({"forward": {"out_noise": bad}})
    assert tile.to_bytes() == before
    # JSON has no NaN or Infinity; Python's json writes them anyway, the engine refuses them.
    text = json.dumps({"forward": {"out_noise": bad}})
    with pytest.raises(rpusim.ConfigError, match=r"^configuration: "):
        RPUConfig.from_json(text)


def test_outputs_beyond_the_float32_range_are_infinite_not_an_error(
    rng: np.random.Generator,
) -> None:
    """The outputs are float32: finite inputs whose result exceeds float32's range give
    infinities (noise management scales the result back up digitally), below it they are
    finite."""
    tile = AnalogTile(4, 16, seed=1)
    tile.set_weights(np.full((4, 16), 0.5, np.float32))
    huge = np.full((1, 16), 3e38, np.float32)
    assert np.isposinf(tile.forward(huge)).all()
    assert np.isposinf(tile.backward(huge[:, :4])).all()
    assert np.isfinite(tile.forward(huge / 1e3)).all()
    assert np.isfinite(tile.backward(huge[:, :4] / 1e3)).all()


def test_pulsed_weights_stay_within_the_device_bounds_for_the_largest_inputs() -> None:
    tile = AnalogTile(4, 16, seed=1)
    big = np.float32(3e38)
    tile.update(np.full((2, 16), big), np.full((2, 4), -big), float(big))
    w = tile.get_weights()
    assert np.isfinite(w).all() and np.abs(w).max() <= 1.0 + 0.3 * 4


def test_nan_written_into_x_during_updates_never_reaches_the_weights(
    rng: np.random.Generator,
) -> None:
    """Issue 12, item 6: the engine reads a copy of the inputs, which it checks; a thread that
    writes NaN into the caller's array while the updates run (with the GIL released) cannot
    slip a NaN past the check. Every update either applies finite values or is refused."""
    tile = AnalogTile(256, 256, RPUConfig.floating_point(), seed=2)
    tile.set_weights(uniform(rng, -0.3, 0.3, (256, 256)))
    x = uniform(rng, -1, 1, (32, 256))
    d = uniform(rng, -0.01, 0.01, (32, 256))
    stop = threading.Event()

    def flip() -> None:
        # sleep(0) releases the GIL: an update may start (copy the inputs) or run at any of
        # the two values.
        while not stop.is_set():
            x[7, 100] = np.nan
            time.sleep(0)
            x[7, 100] = 0.5
            time.sleep(0)

    flipper = threading.Thread(target=flip)
    flipper.start()
    applied = refused = 0
    deadline = time.monotonic() + 30
    try:
        # Until updates ran while the flips went on, and some copies caught a NaN (how often
        # each happens depends on the scheduler and the load).
        while (applied < 300 or refused == 0) and time.monotonic() < deadline:
            try:
                tile.update(x, d, 0.01)
                applied += 1
            except rpusim.RPUSimError as e:
                assert "x: non-finite value NaN" in str(e)
                refused += 1
    finally:
        stop.set()
        flipper.join()
    assert np.isfinite(tile.get_weights()).all()
    assert applied >= 300 and refused > 0, (applied, refused)

"""The Python tile API: input kinds and shapes, results, properties, and errors that name the
parameter and leave the tile as it was."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

import numpy as np
import pytest
import rpusim
from helpers import ideal_device, uniform
from rpusim import AnalogTile, IOParameters, RPUConfig, UpdateParameters
from rpusim.devices import ConstantStep
from rpusim.tile import _as_matrix

OUT, IN = 5, 7


@pytest.fixture
def tile(rng: np.random.Generator) -> AnalogTile:
    """A 5 x 7 tile with random weights that has been used once."""
    t = AnalogTile(OUT, IN, seed=11)
    t.set_weights(uniform(rng, -0.3, 0.3, (OUT, IN)))
    t.update(uniform(rng, -1, 1, (3, IN)), uniform(rng, -1, 1, (3, OUT)), 0.01)
    return t


def test_new_tile(rng: np.random.Generator) -> None:
    tile = AnalogTile(3, 4)
    assert (tile.out_size, tile.in_size, tile.seed) == (3, 4, 0)
    assert tile.counters == (0, 0, 0)
    assert tile.counters.forward == 0
    assert tile.rpu_config == RPUConfig()
    w = tile.get_weights()
    assert w.dtype == np.float32 and w.shape == (3, 4) and not w.any()
    assert repr(tile) == "AnalogTile(out_size=3, in_size=4, seed=0)"
    big_seed = AnalogTile(1, 1, seed=2**64 - 1)
    assert big_seed.seed == 2**64 - 1


def test_counters_count_calls(tile: AnalogTile, rng: np.random.Generator) -> None:
    before = tile.counters
    tile.forward(uniform(rng, -1, 1, (2, IN)))
    tile.forward(uniform(rng, -1, 1, IN))
    tile.backward(uniform(rng, -1, 1, OUT))
    tile.update(uniform(rng, -1, 1, IN), uniform(rng, -1, 1, OUT), 0.01)
    assert tile.counters == (before.forward + 2, before.backward + 1, before.update + 1)


def test_numpy_in_numpy_out(tile: AnalogTile, rng: np.random.Generator) -> None:
    x = uniform(rng, -1, 1, (4, IN))
    y = tile.forward(x)
    assert type(y) is np.ndarray and y.dtype == np.float32 and y.shape == (4, OUT)
    z = tile.backward(uniform(rng, -1, 1, (4, OUT)))
    assert type(z) is np.ndarray and z.dtype == np.float32 and z.shape == (4, IN)
    y1 = tile.forward(x[0])
    assert y1.shape == (OUT,)
    z1 = tile.backward(uniform(rng, -1, 1, OUT))
    assert z1.shape == (IN,)


def test_empty_batch(tile: AnalogTile) -> None:
    y = tile.forward(np.zeros((0, IN), np.float32))
    assert y.shape == (0, OUT)
    z = tile.backward(np.zeros((0, OUT), np.float32))
    assert z.shape == (0, IN)
    w = tile.get_weights()
    tile.update(np.zeros((0, IN), np.float32), np.zeros((0, OUT), np.float32), 0.1)
    np.testing.assert_array_equal(tile.get_weights(), w)


def test_tensor_in_tensor_out(torch: Any, rng: np.random.Generator) -> None:
    config = RPUConfig(forward=IOParameters.perfect(), backward=IOParameters.perfect())
    tile = AnalogTile(OUT, IN, config)
    tile.set_weights(torch.from_numpy(uniform(rng, -0.3, 0.3, (OUT, IN))))
    x = torch.from_numpy(uniform(rng, -1, 1, (4, IN)))
    y = tile.forward(x)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (4, OUT)
    np.testing.assert_array_equal(y.numpy(), tile.forward(x.numpy()))
    y1 = tile.forward(x[1])
    assert isinstance(y1, torch.Tensor) and y1.shape == (OUT,)
    d = torch.from_numpy(uniform(rng, -1, 1, (4, OUT)))
    z = tile.backward(d)
    assert isinstance(z, torch.Tensor) and z.shape == (4, IN)
    tile.update(x, d, 0.01)
    tile.update(x.numpy(), d, 0.01)  # kinds may be mixed


def test_tensors_needing_grad_and_parameters(torch: Any, rng: np.random.Generator) -> None:
    config = RPUConfig(device=ideal_device(), forward=IOParameters.perfect())
    tile = AnalogTile(OUT, IN, config)
    x = torch.from_numpy(uniform(rng, -1, 1, (3, IN))).requires_grad_()
    y = tile.forward(x)
    assert isinstance(y, torch.Tensor) and not y.requires_grad
    p = torch.nn.Parameter(torch.from_numpy(uniform(rng, -0.3, 0.3, (OUT, IN))))
    tile.set_weights(p)
    np.testing.assert_array_equal(tile.get_weights(), np.clip(p.detach().numpy(), -1, 1))
    tile.update(x, torch.ones(3, OUT, requires_grad=True), 0.01)


def test_non_contiguous_inputs(torch: Any, rng: np.random.Generator) -> None:
    config = RPUConfig(
        device=ideal_device(), forward=IOParameters.perfect(), backward=IOParameters.perfect()
    )
    tile = AnalogTile(OUT, IN, config)
    tile.set_weights(uniform(rng, -0.3, 0.3, (OUT, IN)))
    wide = uniform(rng, -1, 1, (4, 2 * IN))
    x = wide[:, ::2]
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(tile.forward(x), tile.forward(x.copy()))
    xt = torch.from_numpy(uniform(rng, -1, 1, (IN, 4))).t()
    assert not xt.is_contiguous()
    np.testing.assert_array_equal(tile.forward(xt).numpy(), tile.forward(xt.contiguous()).numpy())
    fortran = np.asfortranarray(uniform(rng, -0.3, 0.3, (OUT, IN)))
    tile.set_weights(fortran)
    np.testing.assert_array_equal(tile.get_weights(), fortran)


def test_contiguous_inputs_are_not_copied(torch: Any, rng: np.random.Generator) -> None:
    x = uniform(rng, -1, 1, (4, IN))
    array, is_tensor = _as_matrix("x", x)
    assert array is x and not is_tensor
    t = torch.from_numpy(x)
    array, is_tensor = _as_matrix("x", t)
    assert is_tensor and np.shares_memory(array, x)
    array, _ = _as_matrix("x", x[:, 1:])
    assert array.flags.c_contiguous and not np.shares_memory(array, x)


def test_rpu_config_property(tile: AnalogTile, rng: np.random.Generator) -> None:
    config = tile.rpu_config
    assert config == RPUConfig()
    config.forward = IOParameters.perfect()
    config.update = UpdateParameters(desired_bl=7)
    tile.rpu_config = config
    assert tile.rpu_config == config
    assert json.loads(tile._tile.get_config_json())["update"]["desired_bl"] == 7
    # The periphery change is live: the forward pass is now exact.
    x = uniform(rng, -1, 1, (3, IN))
    w = tile.get_weights().astype(np.float64)
    np.testing.assert_allclose(tile.forward(x), x @ w.T, rtol=1e-5, atol=1e-6)
    # Assigning a whole configuration works with a plain one too.
    tile.rpu_config = RPUConfig()
    assert tile.rpu_config == RPUConfig()


def test_assigning_a_field_of_rpu_config_changes_the_tile(
    tile: AnalogTile, rng: np.random.Generator
) -> None:
    x = uniform(rng, -1, 1, (4, IN))
    # Default output noise: two passes differ.
    assert not np.array_equal(tile.forward(x), tile.forward(x))
    tile.rpu_config.forward.out_noise = 0
    assert tile.rpu_config.forward.out_noise == 0.0
    assert type(tile.rpu_config.forward.out_noise) is float
    # No noise left (nearest rounding, no input noise): two passes agree.
    np.testing.assert_array_equal(tile.forward(x), tile.forward(x))
    # A part assigned in writes through too.
    config = tile.rpu_config
    config.update = UpdateParameters(desired_bl=9)
    config.update.desired_bl = 12
    config.mapping.lr_scale = 0.5
    engine = json.loads(tile._tile.get_config_json())
    assert (engine["update"]["desired_bl"], engine["mapping"]["lr_scale"]) == (12, 0.5)
    assert tile.rpu_config == config


def test_a_refused_field_assignment_leaves_tile_and_object(
    tile: AnalogTile, assert_unchanged: Callable[[AnalogTile], Any]
) -> None:
    config = tile.rpu_config
    with assert_unchanged(tile), pytest.raises(rpusim.ConfigError, match=r"forward\.out_noise"):
        config.forward.out_noise = -1.0
    with assert_unchanged(tile), pytest.raises(TypeError, match=r"IOParameters\.out_noise"):
        config.forward.out_noise = "0"
    with assert_unchanged(tile), pytest.raises(rpusim.ConfigError, match="device"):
        config.device.dw_min = 0.002
    with assert_unchanged(tile), pytest.raises(rpusim.ConfigError, match="device"):
        config.device = ConstantStep(dw_min=0.002)
    with assert_unchanged(tile), pytest.raises(TypeError, match="forward must be IOParameters"):
        config.forward = UpdateParameters()  # type: ignore[assignment]
    assert config == RPUConfig()


def test_a_copy_of_rpu_config_is_not_bound(tile: AnalogTile) -> None:
    import copy
    import pickle

    for plain in (copy.deepcopy(tile.rpu_config), pickle.loads(pickle.dumps(tile.rpu_config))):
        plain.forward.out_noise = -1.0  # not checked, not sent anywhere
        plain.forward.out_noise = 0.5
        assert tile.rpu_config.forward.out_noise == 0.06
        tile.rpu_config = plain  # applied when assigned
        assert tile.rpu_config.forward.out_noise == 0.5
        tile.rpu_config = RPUConfig()


def test_a_unit_cell_device_of_a_tile_is_fixed() -> None:
    from rpusim.devices import VectorUnitCell

    tile = AnalogTile(2, 3, RPUConfig(device=VectorUnitCell()))
    config = tile.rpu_config
    assert isinstance(config.device, VectorUnitCell)
    with pytest.raises(rpusim.ConfigError, match="device"):
        config.device.devices[1].dw_min = 0.5
    assert config.device.devices[1].dw_min == 0.001
    assert tile.rpu_config == RPUConfig(device=VectorUnitCell())


def test_patch_config_changes_only_what_it_names(
    tile: AnalogTile, rng: np.random.Generator
) -> None:
    tile.patch_config(
        {"forward": {"out_noise": 0, "noise_management": rpusim.NoiseManagementType.MAX}}
    )
    config = tile.rpu_config
    assert (config.forward.out_noise, config.forward.noise_management) == (0.0, "max")
    assert dataclasses.replace(config.forward, out_noise=0.06, noise_management="abs_max") == (
        IOParameters()
    )
    assert (config.backward, config.update) == (RPUConfig().backward, RPUConfig().update)
    x = uniform(rng, 0.1, 1, (4, IN))
    np.testing.assert_array_equal(tile.forward(x), tile.forward(x))
    # None puts a field back to its default.
    tile.patch_config({"forward": {"out_noise": None}})
    assert tile.rpu_config.forward.out_noise == 0.06


@pytest.mark.parametrize(
    ("patch", "error", "message"),
    [
        ({"forward": {"out_noise": -1}}, rpusim.ConfigError, r"forward\.out_noise: must be >= 0"),
        ({"forward": {"out_noise": "x"}}, TypeError, r"forward\.out_noise must be a real number"),
        ({"update": {"desired_bl": 0}}, rpusim.ConfigError, r"update\.desired_bl: must be in"),
        ({"forward": {"out_noize": 1}}, rpusim.ConfigError, "unknown field `out_noize`"),
        ({"forwards": {}}, rpusim.ConfigError, "unknown field `forwards`"),
        ({"backward": {"noise_management": "nope"}}, ValueError, "backward.noise_management"),
        ({"device": {"dw_min": 0.002}}, rpusim.ConfigError, "device model of an existing tile"),
        ({"device": {"type": "LinearStep"}}, rpusim.ConfigError, "device model of an existing"),
        ({"mapping": {"max_input_size": 3}}, rpusim.ConfigError, "split"),
        (
            {"forward": {"out_noise": float("nan")}},
            rpusim.ConfigError,
            r"forward\.out_noise must be finite",
        ),
        ([("forward", {})], TypeError, "patch must be a mapping"),
    ],
)
def test_a_refused_patch_leaves_the_tile_unchanged(
    tile: AnalogTile,
    assert_unchanged: Callable[[AnalogTile], Any],
    patch: Any,
    error: type[Exception],
    message: str,
) -> None:
    with assert_unchanged(tile), pytest.raises(error, match=message):
        tile.patch_config(patch)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="out_size must be in"):
        AnalogTile(0, 3)
    with pytest.raises(ValueError, match="in_size must be in"):
        AnalogTile(3, -1)
    with pytest.raises(TypeError, match="in_size must be an int"):
        AnalogTile(3, 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rpu_config must be an RPUConfig"):
        AnalogTile(3, 2, IOParameters())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be in"):
        AnalogTile(3, 2, seed=-1)
    with pytest.raises(ValueError, match="seed must be in"):
        AnalogTile(3, 2, seed=2**64)
    with pytest.raises(TypeError, match="seed must be an int"):
        AnalogTile(3, 2, seed="1")  # type: ignore[arg-type]


def test_thread_count_setting(restore_threads: None) -> None:
    rpusim.set_num_threads(3)
    assert rpusim.get_num_threads() == 3
    with pytest.raises(ValueError, match="n must be >= 1"):
        rpusim.set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        rpusim.set_num_threads(2.0)  # type: ignore[arg-type]
    assert rpusim.get_num_threads() == 3


def _f32(shape: Any) -> np.ndarray:
    return np.full(shape, 0.5, dtype=np.float32)


def _with(value: float, shape: Any, index: Any) -> np.ndarray:
    a = _f32(shape)
    a[index] = value
    return a


# (name, call on the tile, exception, message part). Every case must leave the tile unchanged.
BAD_CALLS: list[tuple[str, Callable[[AnalogTile], Any], type[Exception], str]] = [
    ("forward list", lambda t: t.forward([0.5] * IN), TypeError,
     "x must be a float32 numpy.ndarray or torch.Tensor, got list"),
    ("forward float64", lambda t: t.forward(np.zeros((2, IN))), TypeError,
     "x must be a float32 numpy.ndarray or torch.Tensor, got float64"),
    ("forward int", lambda t: t.forward(np.zeros(IN, np.int32)), TypeError, "got int32"),
    ("forward float16", lambda t: t.forward(np.zeros(IN, np.float16)), TypeError, "got float16"),
    ("forward big-endian", lambda t: t.forward(np.zeros(IN, ">f4")), TypeError, "x must be"),
    ("forward scalar", lambda t: t.forward(np.float32(1)), TypeError, "x must be"),
    ("forward 0-d", lambda t: t.forward(np.array(1, np.float32)), ValueError,
     r"x: expected shape \(batch, 7\) or \(7,\), got \(\)"),
    ("forward wrong width", lambda t: t.forward(_f32((3, 4))), ValueError,
     r"x: expected shape \(n, in_size = 7\), got \(3, 4\)"),
    ("forward 3-d", lambda t: t.forward(_f32((2, 1, IN))), ValueError, r"got \(2, 1, 7\)"),
    ("forward 1-d wrong", lambda t: t.forward(_f32(OUT)), ValueError,
     r"in_size = 7\), got \(1, 5\)"),
    ("forward nan", lambda t: t.forward(_with(np.nan, (2, IN), (1, 3))), ValueError,
     "(?i)x: non-finite value nan at index 10"),
    ("forward inf", lambda t: t.forward(_with(np.inf, IN, 0)), ValueError, "x: non-finite"),
    ("forward is_test", lambda t: t.forward(_f32(IN), is_test=1), TypeError,
     "is_test must be a bool"),
    ("backward float64", lambda t: t.backward(np.zeros(OUT)), TypeError,
     "d must be a float32 numpy.ndarray or torch.Tensor, got float64"),
    ("backward wrong width", lambda t: t.backward(_f32((2, IN))), ValueError,
     r"d: expected shape \(n, out_size = 5\), got \(2, 7\)"),
    ("backward nan", lambda t: t.backward(_with(np.nan, OUT, 2)), ValueError,
     "(?i)d: non-finite value nan at index 2"),
    ("update x type", lambda t: t.update(np.zeros((2, IN)), _f32((2, OUT)), 0.1), TypeError,
     "x must be a float32"),
    ("update d type", lambda t: t.update(_f32((2, IN)), None, 0.1), TypeError,
     "d must be a float32 numpy.ndarray or torch.Tensor, got NoneType"),
    ("update x shape", lambda t: t.update(_f32((2, OUT)), _f32((2, OUT)), 0.1), ValueError,
     r"x: expected shape \(n, in_size = 7\), got \(2, 5\)"),
    ("update d shape", lambda t: t.update(_f32((2, IN)), _f32((2, IN)), 0.1), ValueError,
     r"d: expected shape \(2, out_size = 5\), got \(2, 7\)"),
    ("update batch", lambda t: t.update(_f32((3, IN)), _f32((4, OUT)), 0.1), ValueError,
     r"d: expected shape \(3, out_size = 5\), got \(4, 5\)"),
    ("update 1-d batch", lambda t: t.update(_f32(IN), _f32((2, OUT)), 0.1), ValueError,
     r"d: expected shape \(1, out_size = 5\), got \(2, 5\)"),
    ("update x nan", lambda t: t.update(_with(np.nan, (2, IN), (1, 1)), _f32((2, OUT)), 0.1),
     ValueError, "x: non-finite"),
    ("update d inf", lambda t: t.update(_f32((2, IN)), _with(-np.inf, (2, OUT), (0, 4)), 0.1),
     ValueError, "(?i)d: non-finite value -inf at index 4"),
    ("update lr nan", lambda t: t.update(_f32(IN), _f32(OUT), float("nan")), ValueError,
     "lr: must be finite and >= 0, got NaN"),
    ("update lr inf", lambda t: t.update(_f32(IN), _f32(OUT), float("inf")), ValueError, "lr"),
    ("update lr huge", lambda t: t.update(_f32(IN), _f32(OUT), 1e300), ValueError, "lr"),
    ("update lr negative", lambda t: t.update(_f32(IN), _f32(OUT), -0.1), ValueError,
     "lr: must be finite and >= 0, got -0.1"),
    ("update lr type", lambda t: t.update(_f32(IN), _f32(OUT), "0.1"), TypeError,
     "lr must be a real number"),
    ("set_weights type", lambda t: t.set_weights(np.zeros((OUT, IN))), TypeError,
     "weights must be a float32 numpy.ndarray or torch.Tensor, got float64"),
    ("set_weights shape", lambda t: t.set_weights(_f32((IN, OUT))), ValueError,
     r"weights: expected shape \(5, in_size = 7\), got \(7, 5\)"),
    ("set_weights 1-d", lambda t: t.set_weights(_f32(OUT * IN)), ValueError,
     r"weights: expected shape \(5, 7\), got \(35,\)"),
    ("set_weights nan", lambda t: t.set_weights(_with(np.nan, (OUT, IN), (4, 6))), ValueError,
     "(?i)weights: non-finite value nan at index 34"),
    ("load_state_dict type", lambda t: t.load_state_dict(b"abc"), TypeError,  # type: ignore
     "state must be a dict"),
    ("load_state_dict keys", lambda t: t.load_state_dict({"state": b""}), ValueError,
     "state: missing key 'format_version'"),
    ("load_state_dict version", lambda t: t.load_state_dict(
        {**t.state_dict(), "format_version": 999}), ValueError, "format_version 999"),
    ("load_state_dict size", lambda t: t.load_state_dict(AnalogTile(IN, OUT).state_dict()),
     ValueError, "a 7 x 5 tile cannot be loaded into a 5 x 7 tile"),
    ("load_state_dict corrupt", lambda t: t.load_state_dict(
        {**t.state_dict(), "state": t.to_bytes()[:-1] + b"?"}), ValueError, "checksum"),
    ("load_state_dict truncated", lambda t: t.load_state_dict(
        {**t.state_dict(), "state": t.to_bytes()[:40]}), ValueError, "state"),
    ("load_state_dict bytes type", lambda t: t.load_state_dict(
        {**t.state_dict(), "state": "text"}), TypeError, r"state\['state'\] must be bytes"),
    ("load_state_dict lying sizes", lambda t: t.load_state_dict(
        {**AnalogTile(IN, OUT).state_dict(), "out_size": OUT, "in_size": IN}),
     ValueError, "the stored tile is 7 x 5"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "call", "error", "message"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS]
)
def test_bad_input_raises_and_leaves_the_tile_unchanged(
    tile: AnalogTile,
    assert_unchanged: Callable[[AnalogTile], Any],
    case: str,
    call: Callable[[AnalogTile], Any],
    error: type[Exception],
    message: str,
) -> None:
    with assert_unchanged(tile), pytest.raises(error, match=message):
        call(tile)


Call = Callable[[AnalogTile], Any]
BAD_TENSORS: list[tuple[str, Callable[[Any], Call], type[Exception], str]] = [
    ("float64 tensor", lambda torch: lambda t: t.forward(torch.zeros(2, IN, dtype=torch.float64)),
     TypeError, "x must be a float32 numpy.ndarray or torch.Tensor, got torch.float64"),
    ("non-CPU tensor", lambda torch: lambda t: t.forward(torch.zeros(2, IN, device="meta")),
     TypeError, "x must be a CPU tensor"),
    ("non-CPU d", lambda torch: lambda t: t.update(_f32(IN), torch.zeros(OUT, device="meta"), 0.1),
     TypeError, "d must be a CPU tensor"),
    ("sparse tensor", lambda torch: lambda t: t.backward(torch.zeros(2, OUT).to_sparse()),
     TypeError, "d must be a dense"),
    ("tensor shape", lambda torch: lambda t: t.forward(torch.zeros(2, 3)), ValueError,
     r"x: expected shape \(n, in_size = 7\), got \(2, 3\)"),
    ("tensor nan", lambda torch: lambda t: t.set_weights(torch.full((OUT, IN), float("nan"))),
     ValueError, "weights: non-finite"),
    ("tensor lr", lambda torch: lambda t: t.update(_f32(IN), _f32(OUT), torch.tensor(0.1)),
     TypeError, "lr must be a real number"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "make_call", "error", "message"), BAD_TENSORS, ids=[c[0] for c in BAD_TENSORS]
)
def test_bad_tensors_raise_and_leave_the_tile_unchanged(
    torch: Any,
    tile: AnalogTile,
    assert_unchanged: Callable[[AnalogTile], Any],
    case: str,
    make_call: Callable[[Any], Callable[[AnalogTile], Any]],
    error: type[Exception],
    message: str,
) -> None:
    call = make_call(torch)
    with assert_unchanged(tile), pytest.raises(error, match=message):
        call(tile)


def test_set_weights_clips_to_the_device_bounds() -> None:
    # set_weights clips to the device bounds; with no variation they are exactly +-bound.
    tile = AnalogTile(2, 3, RPUConfig(device=ideal_device(0.5)))
    tile.set_weights(np.full((2, 3), 3.0, np.float32))
    assert (tile.get_weights() == 0.5).all()

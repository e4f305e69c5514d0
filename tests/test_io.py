"""The forward and backward passes (MODEL.md sections 2, 3.1, 3.2): the exact product of a
perfect periphery, DAC and ADC quantisation and clipping, output noise, noise management and
bound management."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ideal_device, quiet_io, uniform
from rpusim import AnalogTile, IOParameters, RPUConfig

F32 = np.float32


def float_bound(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rounding-error bound of a float32 product: a small multiple of float32's epsilon times
    the sum of the absolute terms."""
    return 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(w).T) + 1e-30


@pytest.mark.parametrize(
    ("out_size", "in_size", "batch"), [(1, 1, 1), (7, 13, 5), (64, 100, 32), (300, 256, 64)]
)
def test_perfect_io_is_the_float_product(
    rng: np.random.Generator, out_size: int, in_size: int, batch: int
) -> None:
    perfect = IOParameters(is_perfect=True, out_scale=3.0)  # out_scale is ignored
    tile = AnalogTile(out_size, in_size, RPUConfig(forward=perfect, backward=perfect), seed=3)
    tile.set_weights(uniform(rng, -0.5, 0.5, (out_size, in_size)))
    w = tile.get_weights().astype(np.float64)
    assert np.abs(w).max() > 0
    # Inputs far beyond the DAC range: a perfect periphery has no bounds.
    x = (rng.standard_normal((batch, in_size)) * 3).astype(F32)
    y = tile.forward(x)
    assert y.dtype == F32 and y.shape == (batch, out_size)
    assert np.all(np.abs(y - x @ w.T) <= float_bound(x, w))
    d = (rng.standard_normal((batch, out_size)) * 3).astype(F32)
    z = tile.backward(d)
    assert z.dtype == F32 and z.shape == (batch, in_size)
    assert np.all(np.abs(z - d @ w) <= float_bound(d, w.T))
    # Sample by sample, 1-D in and out: the same bits as inside the batch.
    for b in range(min(batch, 4)):
        np.testing.assert_array_equal(tile.forward(x[b]), y[b])
        np.testing.assert_array_equal(tile.backward(d[b]), z[b])


def dac(x: np.ndarray, inp_res: float, inp_bound: float) -> np.ndarray:
    """The DAC of MODEL.md section 2 in float32: round to the nearest multiple (ties to even) of
    the step, then clip."""
    fraction = 1 / inp_res if inp_res > 1 else inp_res
    step = F32(fraction * 2 * inp_bound)
    return np.clip(np.round(x / step) * step, F32(-inp_bound), F32(inp_bound))


@pytest.mark.parametrize(("inp_res", "inp_bound"), [(1 / 126, 1.0), (1 / 30, 0.5), (126.0, 1.0)])
def test_dac_quantises_and_clips_the_inputs(
    rng: np.random.Generator, inp_res: float, inp_bound: float
) -> None:
    # W = identity, no ADC quantisation or bound: the output is the DAC output itself.
    n = 16
    io = quiet_io(inp_res=inp_res, inp_bound=inp_bound, out_res=0.0, out_bound=0.0)
    tile = AnalogTile(n, n, RPUConfig(device=ideal_device(2.0), forward=io))
    tile.set_weights(np.eye(n, dtype=F32))
    x = uniform(rng, -1.5 * inp_bound, 1.5 * inp_bound, (40, n))
    expected = dac(x, inp_res, inp_bound)
    assert (np.abs(x) > inp_bound).any() and len(np.unique(expected)) > 20
    np.testing.assert_array_equal(tile.forward(x), expected)


def test_adc_output_lies_on_the_grid_and_is_clipped(rng: np.random.Generator) -> None:
    out_res, out_bound = 1 / 510, 12.0
    step = out_res * 2 * out_bound
    io = quiet_io(inp_res=0.0, out_res=out_res, out_bound=out_bound)
    tile = AnalogTile(32, 64, RPUConfig(device=ideal_device(2.0), forward=io))
    tile.set_weights(uniform(rng, -1.9, 1.9, (32, 64)))
    w = tile.get_weights().astype(np.float64)
    x = uniform(rng, -1, 1, (50, 64))
    x[0] = np.sign(w[0])  # output 0 of sample 0 is sum |w_0j|, far beyond the bound
    y = tile.forward(x).astype(np.float64)
    exact = x @ w.T
    assert np.abs(y).max() <= out_bound
    grid = y / step
    np.testing.assert_allclose(grid, np.round(grid), atol=1e-3)
    inside = np.abs(exact) < out_bound - step
    outside = np.abs(exact) > out_bound + step
    assert inside.sum() > 1000 and outside.sum() >= 5
    assert np.all(np.abs(y - exact)[inside] <= step / 2 + 1e-4)
    np.testing.assert_array_equal(y[outside], np.sign(exact[outside]) * out_bound)


def noise_std_check(values: np.ndarray, sigma: float) -> None:
    """Mean 0 and standard deviation ``sigma`` within four standard errors."""
    n = values.size
    assert abs(values.mean()) < 4 * sigma / np.sqrt(n)
    assert abs(values.std() - sigma) < 4 * sigma / np.sqrt(2 * n)


def test_output_noise_has_the_configured_std(rng: np.random.Generator) -> None:
    # W = 0, no quantisation, no noise management: the output is the noise itself.
    forward = IOParameters(
        out_noise=0.06, out_res=0.0, inp_res=0.0, noise_management="none", bound_management="none"
    )
    backward = IOParameters(out_noise=0.15, out_res=0.0, inp_res=0.0, noise_management="none")
    tile = AnalogTile(50, 40, RPUConfig(forward=forward, backward=backward), seed=8)
    x = uniform(rng, -1, 1, (200, 40))
    y1 = tile.forward(x)
    noise_std_check(y1, 0.06)
    y2 = tile.forward(x)
    assert abs(np.corrcoef(y1.ravel(), y2.ravel())[0, 1]) < 4 / np.sqrt(y1.size)  # fresh noise
    noise_std_check(tile.backward(uniform(rng, -1, 1, (250, 50))), 0.15)


def test_output_noise_is_referred_to_the_abs_max_scale(rng: np.random.Generator) -> None:
    io = IOParameters(out_noise=0.06, out_res=0.0, bound_management="none")
    tile = AnalogTile(50, 40, RPUConfig(forward=io), seed=9)
    x = uniform(rng, -0.5, 0.5, (200, 40))
    x[:, 0] = 0.5  # abs-max scale alpha = 0.5
    noise_std_check(tile.forward(x), 0.06 * 0.5)


def test_zero_input_with_abs_max_gives_exactly_zero() -> None:
    tile = AnalogTile(6, 5, RPUConfig(), seed=1)
    tile.set_weights(np.full((6, 5), 0.1, F32))
    y = tile.forward(np.zeros((3, 5), F32))
    assert (y == 0).all()
    assert (tile.backward(np.zeros(6, F32)) == 0).all()


@pytest.mark.parametrize("factor", [0.25, 4.0, 1024.0])
def test_abs_max_noise_management_makes_the_pass_scale_invariant(
    rng: np.random.Generator, factor: float
) -> None:
    # Quantisation on, noise off: with abs-max NM the DAC sees the same inputs whatever the
    # scale of x, so the output scales exactly (a power-of-two factor is exact in float).
    io = quiet_io(noise_management="abs_max")
    tile = AnalogTile(16, 32, RPUConfig(device=ideal_device(), forward=io, backward=io))
    tile.set_weights(uniform(rng, -0.3, 0.3, (16, 32)))
    x = uniform(rng, -1, 1, (10, 32))
    np.testing.assert_array_equal(tile.forward(F32(factor) * x), F32(factor) * tile.forward(x))
    d = uniform(rng, -1, 1, (10, 16))
    np.testing.assert_array_equal(tile.backward(F32(factor) * d), F32(factor) * tile.backward(d))


def test_without_noise_management_the_dac_clips(rng: np.random.Generator) -> None:
    io = quiet_io()
    tile = AnalogTile(16, 32, RPUConfig(device=ideal_device(), forward=io))
    tile.set_weights(uniform(rng, -0.3, 0.3, (16, 32)))
    x = uniform(rng, -1, 1, (10, 32))
    y, y4 = tile.forward(x), tile.forward(4 * x)
    assert not np.allclose(y4, 4 * y, rtol=0.05, atol=0.05)
    # ... which is exactly what a DAC with inputs clipped at 1 gives.
    w = tile.get_weights().astype(np.float64)
    clipped = np.clip(4 * x, -1, 1) @ w.T
    assert np.abs(y4 - clipped).max() < 0.2


def saturating_tile(rng: np.random.Generator, bound_management: str) -> AnalogTile:
    config = RPUConfig(
        device=ideal_device(), forward=IOParameters(bound_management=bound_management)
    )
    tile = AnalogTile(8, 64, config, seed=4)
    tile.set_weights(uniform(rng, 0.2, 0.5, (8, 64)))
    return tile


@pytest.fixture
def saturating_input(rng: np.random.Generator) -> np.ndarray:
    x = uniform(rng, 0.5, 1.0, (5, 64))
    x[:, 0] = 1.0  # abs-max scale 1
    return x


def test_iterative_bound_management_recovers_saturated_outputs(
    rng: np.random.Generator, saturating_input: np.ndarray
) -> None:
    # Default periphery (noise on), |W x| around 17 > out_bound = 12.
    tile = saturating_tile(rng, "iterative")
    w = tile.get_weights().astype(np.float64)
    exact = saturating_input @ w.T
    assert exact.min() > 13 and exact.max() < 23
    y = tile.forward(saturating_input)
    # Second pass at r = 2: noise 0.06 * 2, quantisation of input and output.
    np.testing.assert_allclose(y, exact, atol=0.6)


def test_without_bound_management_outputs_clip_at_out_bound(
    rng: np.random.Generator, saturating_input: np.ndarray
) -> None:
    tile = saturating_tile(rng, "none")
    np.testing.assert_array_equal(tile.forward(saturating_input), np.full((5, 8), 12.0, F32))


def test_bound_management_is_never_applied_backward(rng: np.random.Generator) -> None:
    backward = quiet_io(noise_management="abs_max", bound_management="iterative")
    tile = AnalogTile(64, 8, RPUConfig(device=ideal_device(), backward=backward))
    tile.set_weights(uniform(rng, 0.2, 0.5, (64, 8)))
    d = uniform(rng, 0.5, 1.0, (5, 64))
    d[:, 0] = 1.0
    assert (d @ tile.get_weights() > 13).all()
    np.testing.assert_array_equal(tile.backward(d), np.full((5, 8), 12.0, F32))


def test_average_abs_max_uses_a_running_average_only_training_advances(
    rng: np.random.Generator,
) -> None:
    # No quantisation or noise: the pass is W clip(x / alpha, -1, 1) alpha, so alpha shows.
    io = quiet_io(noise_management="average_abs_max", inp_res=0.0, out_res=0.0, nm_decay=0.5)
    tile = AnalogTile(4, 6, RPUConfig(device=ideal_device(), forward=io))
    tile.set_weights(uniform(rng, -0.5, 0.5, (4, 6)))
    w = tile.get_weights().astype(np.float64)

    def expected(x: np.ndarray, alpha: float) -> np.ndarray:
        return np.clip(x / alpha, -1, 1) @ w.T * alpha

    x1 = uniform(rng, -1, 1, (3, 6))
    x1[:, 0] = 1.0  # abs-max 1 for every sample
    x3 = 3 * x1  # abs-max 3
    np.testing.assert_allclose(tile.forward(x1), expected(x1, 1.0), rtol=1e-5, atol=1e-6)
    for _ in range(2):  # test passes use the stored average (1) and leave it
        np.testing.assert_allclose(
            tile.forward(x3, is_test=True), expected(x3, 1.0), rtol=1e-5, atol=1e-6
        )
    # A training pass advances it: 0.5 * 1 + 0.5 * 3 = 2, then 0.5 * 2 + 0.5 * 3 = 2.5.
    np.testing.assert_allclose(tile.forward(x3), expected(x3, 2.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tile.forward(x3), expected(x3, 2.5), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        tile.forward(x1, is_test=True), expected(x1, 2.5), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(("max_bm_factor", "last_r"), [(1000.0, 16), (4.0, 8), (1.0, 2)])
def test_bound_management_stops_at_its_limits(max_bm_factor: float, last_r: int) -> None:
    # W x = 512 can never fit: the passes go on while r <= min(max_bm_factor,
    # max_bm_res / inp_step = 15.75), and the last one is kept, clipped: y = out_bound * r.
    io = quiet_io(
        noise_management="abs_max", bound_management="iterative", max_bm_factor=max_bm_factor
    )
    tile = AnalogTile(3, 512, RPUConfig(device=ideal_device(), forward=io))
    tile.set_weights(np.ones((3, 512), F32))
    y = tile.forward(np.ones(512, F32))
    np.testing.assert_array_equal(y, np.full(3, 12.0 * last_r, F32))

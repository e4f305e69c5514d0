"""The analog layers against torch's own: with RPUConfig.floating_point() (perfect IO, exact
float update) AnalogLinear, AnalogConv1d, AnalogConv2d and AnalogLSTM give the outputs, input
gradients and weight updates of torch's layers with the same weights, to float32 precision.
Also: what the backward pass stores, eval and no_grad, weights in and out."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Callable

import pytest

torch = pytest.importorskip("torch")

from helpers import ideal_device  # noqa: E402
from rpusim import IOParameters, MappingParameters, RPUConfig, UpdateParameters  # noqa: E402
from rpusim.nn import (  # noqa: E402
    AnalogContext,
    AnalogConv1d,
    AnalogConv2d,
    AnalogLinear,
    AnalogLSTM,
)
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import Tensor, nn  # noqa: E402

FLOAT = RPUConfig.floating_point()
LR = 0.1


def close(actual: Tensor, expected: Tensor) -> None:
    """Equal to float32 precision (the engine sums in another order than torch's GEMM)."""
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def digital_state(module: nn.Module) -> dict[str, Tensor]:
    """The weights of a torch layer, or of an analog layer converted back to torch's layout."""
    digital = module.to_digital() if hasattr(module, "to_digital") else module
    return {k: v.detach().clone() for k, v in digital.state_dict().items()}


def run_step(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    loss_of: Callable[[Any], Tensor],
) -> tuple[Any, Tensor]:
    """Forward, backward, one optimizer step; returns the output and the input gradient."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    loss_of(y).backward()
    optimizer.step()
    optimizer.zero_grad()
    assert x.grad is not None
    return y, x.grad


def check_matches_torch(
    analog: nn.Module, x: Tensor, loss_of: Callable[[Any], Tensor]
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Runs one training step on ``analog`` (AnalogSGD) and on its torch twin (SGD) from the
    same weights; checks outputs and input gradients and returns both weights after the step
    (torch's layout)."""
    digital = analog.to_digital()
    y_analog, dx_analog = run_step(analog, AnalogSGD(analog.parameters(), lr=LR), x, loss_of)
    y_digital, dx_digital = run_step(
        digital, torch.optim.SGD(digital.parameters(), lr=LR), x, loss_of
    )
    torch.testing.assert_close(y_analog, y_digital, rtol=1e-5, atol=1e-6)
    close(dx_analog, dx_digital)
    return digital_state(analog), digital_state(digital)


def mse_to_sine(y: Tensor) -> Tensor:
    """A loss whose gradient differs in every output element."""
    target = torch.sin(torch.arange(y.numel(), dtype=torch.float32)).reshape(y.shape)
    return ((y - target) ** 2).sum()


@pytest.mark.parametrize("analog_bias", [False, True], ids=["digital_bias", "analog_bias"])
@pytest.mark.parametrize("shape", [(6, 7), (2, 3, 7), (7,)], ids=["2d", "3d", "1d"])
def test_linear_matches_torch(analog_bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = AnalogLinear(7, 5, rpu_config=FLOAT, analog_bias=analog_bias)
    after_analog, after_torch = check_matches_torch(layer, torch.randn(shape), mse_to_sine)
    for name in ("weight", "bias"):
        close(after_analog[name], after_torch[name])


def test_linear_without_bias_matches_torch() -> None:
    torch.manual_seed(1)
    layer = AnalogLinear(4, 3, bias=False, rpu_config=FLOAT)
    assert layer.bias is None and not layer.has_bias
    after_analog, after_torch = check_matches_torch(layer, torch.randn(5, 4), mse_to_sine)
    assert set(after_analog) == {"weight"}
    close(after_analog["weight"], after_torch["weight"])


CONV2D_CASES = [
    {"kernel_size": 3},
    {"kernel_size": (3, 2), "stride": 2, "padding": 1},
    {"kernel_size": 2, "stride": (1, 2), "padding": (2, 0), "dilation": 2},
    {"kernel_size": 3, "padding": "same", "analog_bias": True},
    {"kernel_size": 3, "bias": False, "padding": "valid"},
]


@pytest.mark.parametrize("options", CONV2D_CASES, ids=lambda o: "-".join(map(str, o.values())))
def test_conv2d_matches_torch(options: dict[str, Any]) -> None:
    torch.manual_seed(2)
    layer = AnalogConv2d(3, 4, rpu_config=FLOAT, **options)
    x = torch.randn(2, 3, 9, 8)
    after_analog, after_torch = check_matches_torch(layer, x, mse_to_sine)
    assert after_analog.keys() == after_torch.keys()
    for name in after_torch:
        close(after_analog[name], after_torch[name])


# Stride, padding and dilation together, different along height and width, with non-square
# kernels, and sizes that the strides do not divide (torch drops the rest).
CONV2D_COMBINATIONS = [
    {"kernel_size": (1, 3), "stride": (2, 1), "padding": (0, 2), "dilation": (1, 3)},
    {"kernel_size": (3, 5), "stride": 3, "padding": (2, 1), "dilation": (2, 1)},
    {"kernel_size": (2, 4), "padding": "same", "dilation": 2},
    {"kernel_size": 4, "stride": (3, 2), "padding": 3},
    {"kernel_size": 1, "stride": 2},
]


@pytest.mark.parametrize("options", CONV2D_COMBINATIONS, ids=lambda o: str(list(o.values())))
@pytest.mark.parametrize(
    "shape", [(2, 3, 11, 7), (1, 3, 6, 13)], ids=lambda s: "x".join(map(str, s))
)
def test_conv2d_stride_padding_dilation_match_torch(
    options: dict[str, Any], shape: tuple[int, ...]
) -> None:
    torch.manual_seed(4)
    layer = AnalogConv2d(3, 5, rpu_config=FLOAT, **options)
    after_analog, after_torch = check_matches_torch(layer, torch.randn(shape), mse_to_sine)
    for name in after_torch:
        close(after_analog[name], after_torch[name])


def test_conv2d_on_a_grid_of_arrays_matches_torch() -> None:
    """A convolution larger than one array (27 patch inputs in arrays of at most 10, 7
    outputs in arrays of at most 3: a 3 x 3 grid) computes what torch's does."""
    torch.manual_seed(5)
    config = RPUConfig.floating_point()
    config.mapping = MappingParameters(max_input_size=10, max_output_size=3)
    layer = AnalogConv2d(
        3, 7, (3, 3), stride=(1, 2), padding=(2, 1), dilation=(2, 1), rpu_config=config
    )
    assert len(layer.tile.tiles) == 9
    after_analog, after_torch = check_matches_torch(layer, torch.randn(2, 3, 10, 9), mse_to_sine)
    for name in after_torch:
        close(after_analog[name], after_torch[name])


@pytest.mark.parametrize(
    "options",
    [{"kernel_size": 3}, {"kernel_size": 4, "stride": 2, "padding": 3, "dilation": 2}],
    ids=["plain", "strided"],
)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_conv1d_matches_torch(options: dict[str, Any], batched: bool) -> None:
    torch.manual_seed(3)
    layer = AnalogConv1d(2, 5, rpu_config=FLOAT, **options)
    x = torch.randn(3, 2, 17) if batched else torch.randn(2, 17)
    after_analog, after_torch = check_matches_torch(layer, x, mse_to_sine)
    for name in after_torch:
        close(after_analog[name], after_torch[name])


def lstm_loss(result: tuple[Tensor, tuple[Tensor, Tensor]]) -> Tensor:
    output, (h_n, c_n) = result
    return mse_to_sine(output) + (h_n * 0.5).sum() + (c_n**2).sum()


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("analog_bias", [False, True], ids=["digital_bias", "analog_bias"])
def test_lstm_matches_torch(batch_first: bool, analog_bias: bool) -> None:
    torch.manual_seed(4)
    lstm = AnalogLSTM(3, 5, num_layers=2, batch_first=batch_first, rpu_config=FLOAT)
    lstm = AnalogLSTM.from_digital(lstm.to_digital(), FLOAT, analog_bias=analog_bias)
    x = torch.randn(4, 6, 3)  # (seq, batch) or (batch, seq)
    digital = lstm.to_digital()
    y_analog = lstm(x.clone().requires_grad_(True))
    y_digital = digital(x.clone().requires_grad_(True))
    close(y_analog[0], y_digital[0])
    close(y_analog[1][0], y_digital[1][0])
    close(y_analog[1][1], y_digital[1][1])

    after_analog, after_torch = check_matches_torch(lstm, x, lstm_loss)
    for name, expected in after_torch.items():
        if analog_bias and name.startswith("bias_"):
            continue  # one analog column per layer instead of two biases: checked below
        close(after_analog[name], expected)
    if analog_bias:
        # The column holds b_ih + b_hh and steps by lr * grad once (torch steps each of the
        # two by lr * grad, as the gradients of both are the gradient of the gates).
        before = digital_state(digital)
        for k in range(2):
            grad = (before[f"bias_ih_l{k}"] - after_torch[f"bias_ih_l{k}"]) / LR
            expected = before[f"bias_ih_l{k}"] + before[f"bias_hh_l{k}"] - LR * grad
            close(after_analog[f"bias_ih_l{k}"], expected)
            assert not after_analog[f"bias_hh_l{k}"].any()


def test_lstm_initial_state_and_unbatched_input() -> None:
    torch.manual_seed(5)
    lstm = AnalogLSTM(3, 4, num_layers=2, rpu_config=FLOAT)
    digital = lstm.to_digital()
    h0, c0 = torch.randn(2, 4), torch.randn(2, 4)
    x = torch.randn(7, 3)  # (seq, feature), no batch
    out_analog, (h_analog, c_analog) = lstm(x, (h0, c0))
    out_digital, (h_digital, c_digital) = digital(x, (h0, c0))
    assert out_analog.shape == (7, 4) and h_analog.shape == (2, 4)
    close(out_analog, out_digital)
    close(h_analog, h_digital)
    close(c_analog, c_digital)


def test_lstm_dropout_acts_between_layers_in_training_only() -> None:
    torch.manual_seed(6)
    lstm = AnalogLSTM(3, 4, num_layers=2, dropout=0.5, rpu_config=FLOAT)
    x = torch.randn(5, 2, 3)
    train_a, train_b = lstm(x)[0], lstm(x)[0]
    assert not torch.equal(train_a, train_b)
    lstm.eval()
    close(lstm(x)[0], lstm.to_digital().eval()(x)[0])


def test_backward_stores_one_pair_per_call() -> None:
    torch.manual_seed(7)
    linear = AnalogLinear(4, 3, rpu_config=FLOAT, analog_bias=True)
    x = torch.randn(5, 4)
    linear(x).sum().backward()
    ((stored_x, stored_d),) = linear.analog_ctx.stored
    assert stored_x.shape == (5, 5)  # the bias column, fed with 1
    assert torch.equal(stored_x[:, :4], x) and torch.equal(stored_x[:, 4], torch.ones(5))
    assert torch.equal(stored_d, torch.ones(5, 3))
    linear(x).sum().backward()  # a second pass before a step accumulates, as gradients do
    assert len(linear.analog_ctx.stored) == 2

    conv = AnalogConv2d(2, 3, 3, rpu_config=FLOAT)
    conv(torch.randn(4, 2, 6, 5)).sum().backward()
    ((patches, d),) = conv.analog_ctx.stored  # all patches of the batch: one pair
    assert patches.shape == (4 * 4 * 3, 2 * 9) and d.shape == (4 * 4 * 3, 3)

    lstm = AnalogLSTM(2, 3, num_layers=2, rpu_config=FLOAT)
    lstm(torch.randn(6, 4, 2))[0].sum().backward()
    for k, gate in enumerate(lstm.gates):
        assert len(gate.analog_ctx.stored) == 6  # one pair per time step
        assert gate.analog_ctx.stored[0][0].shape == (4, (2 if k == 0 else 3) + 3)


def test_input_without_gradient_skips_the_backward_pass() -> None:
    layer = AnalogLinear(4, 3, rpu_config=FLOAT, seed=1)
    layer(torch.randn(2, 4)).sum().backward()
    assert layer.tile.counters.backward == 0
    assert len(layer.analog_ctx.stored) == 1


def test_no_grad_and_eval() -> None:
    layer = AnalogLinear(4, 3, rpu_config=FLOAT, seed=1)
    calls: list[bool] = []
    forward, forward_clipped = layer.tile.forward, layer.tile._forward_clipped

    def spy(x: Tensor, is_test: bool = False) -> Tensor:
        calls.append(is_test)
        return forward(x, is_test=is_test)

    def spy_clipped(x: Tensor, is_test: bool) -> tuple[Tensor, Any]:
        calls.append(is_test)
        return forward_clipped(x, is_test)

    layer.tile.forward = spy  # type: ignore[method-assign]
    layer.tile._forward_clipped = spy_clipped  # type: ignore[method-assign]
    x = torch.randn(2, 4, requires_grad=True)
    with torch.no_grad():
        y = layer(x)
    assert not y.requires_grad and not layer.analog_ctx.stored
    layer.eval()
    layer(x).sum().backward()  # gradients still flow in eval mode
    layer.train()
    layer(x)
    assert calls == [False, True, False]  # is_test is "not module.training"


def exact_bounded_io(**changes: Any) -> IOParameters:
    """The paper's periphery (output bound 12, abs-max NM, iterative BM) without quantisation
    or noise: deterministic and exact as long as nothing clips."""
    return IOParameters(inp_res=0.0, out_res=0.0, out_noise=0.0, **changes)


@pytest.mark.parametrize("omega", [0.0, 6.0])
def test_outputs_at_the_output_bound_pass_no_gradient(omega: float) -> None:
    """As aihwkit's analog layers: an output whose analog value (before the digital
    weight-scaling factor) reached 0.999 of the output bound passes no error to the backward
    pass; the update still gets it. aihwkit 1.1 trains with this (TileWithPeriphery's
    post_forward / pre_backward); without it rpusim's MNIST MLP with weight scaling ended 2-3
    points below aihwkit's (bench/aihwkit_compare.py)."""
    config = RPUConfig(
        device=ideal_device(bound=10.0),
        forward=exact_bounded_io(),
        backward=exact_bounded_io(bound_management="none"),
        update=UpdateParameters(pulse_type="none"),
        mapping=MappingParameters(weight_scaling_omega=omega, max_input_size=0, max_output_size=0),
    )
    layer = AnalogLinear(4, 3, bias=False, rpu_config=config, seed=3)
    w = torch.tensor([[2.0] * 4, [0.1] * 4, [-0.5] * 4])
    layer.set_weights(w)
    optimizer = AnalogSGD(layer.parameters(), lr=LR)
    x = torch.tensor([[1.0] * 4, [0.25] * 4], requires_grad=True)
    d = torch.tensor([[0.3, -0.2, 0.1], [-0.1, 0.4, 0.2]])
    y = layer(x)
    close(y, x.detach() @ w.T)  # bound management keeps the forward pass exact
    y.backward(d)
    clipped = torch.zeros(2, 3, dtype=torch.bool)
    if omega:  # scale max|W| / omega = 1/3: output 0 of sample 0 is 8 = 24 analog >= 12
        clipped[0, 0] = True  # (sample 1: 2 = 6 analog; without scaling nothing reaches 12)
    assert x.grad is not None
    close(x.grad, d.masked_fill(clipped, 0.0) @ w)
    ((_, stored_d),) = layer.analog_ctx.stored
    assert torch.equal(stored_d, d)
    optimizer.step()
    close(layer.get_weights()[0], w - LR * d.T @ x.detach())


def test_every_array_stops_the_gradient_of_its_own_clipped_outputs() -> None:
    """A layer split over two arrays of two inputs (as aihwkit's tile arrays, each a module of
    its own): the outputs of each array are marked against its own bound, with its own scale,
    and only that array's backward pass loses their errors. Nothing is marked with a larger
    bound or a perfect forward pass."""

    def layer_with(forward: IOParameters, omega: float = 0.0) -> AnalogLinear:
        config = RPUConfig(
            device=ideal_device(bound=10.0),
            forward=forward,
            backward=exact_bounded_io(bound_management="none"),
            mapping=MappingParameters(weight_scaling_omega=omega, max_input_size=2),
        )
        layer = AnalogLinear(4, 2, bias=False, rpu_config=config, seed=1)
        layer.set_weights(w)
        return layer

    w = torch.tensor([[1.0, 1.0, 0.5, 0.5], [-0.25, -0.25, 1.0, 1.0]])
    x = torch.tensor([[1.0, 1.0, 1.0, 1.0]], requires_grad=True)
    d = torch.tensor([[0.5, -2.0]])
    no_bm = exact_bounded_io(bound_management="none", noise_management="none", out_bound=2.0)
    for omega, marked in (
        (0.0, [[True, False], [False, True]]),
        (2.0, [[True, False], [True, True]]),
    ):
        layer = layer_with(no_bm, omega)
        assert len(layer.tile.tiles) == 2
        x.grad = None
        layer(x).backward(d)
        # Array 0 (inputs 0, 1) gives 2 and -0.5, array 1 (inputs 2, 3) 1 and 2: at a bound of 2
        # (1.998 with aihwkit's margin) output 0 of array 0 and output 1 of array 1 are marked.
        # With scales of max|W| / 2 (0.5 for both arrays) the analog outputs are twice as large.
        expected = torch.cat(
            [
                d.masked_fill(torch.tensor([m]), 0.0) @ w[:, 2 * j : 2 * j + 2]
                for j, m in enumerate(marked)
            ],
            dim=1,
        )
        assert x.grad is not None
        close(x.grad, expected)
        ((_, stored_d),) = layer.analog_ctx.stored
        assert torch.equal(stored_d, d)  # the update keeps every error
    for forward in (
        exact_bounded_io(bound_management="none", noise_management="none"),
        IOParameters.perfect(),
    ):
        _, clipped = layer_with(forward).tile._forward_clipped(x.detach(), False)
        assert clipped is None


def test_frozen_tile_stores_nothing_and_is_not_updated() -> None:
    torch.manual_seed(8)
    model = nn.Sequential(AnalogLinear(4, 3, rpu_config=FLOAT), AnalogLinear(3, 2))
    model[0].analog_ctx.requires_grad_(False)
    before = model[0].tile.get_weights()
    optimizer = AnalogSGD(model.parameters(), lr=LR)
    model(torch.randn(5, 4)).sum().backward()
    assert not model[0].analog_ctx.stored and len(model[1].analog_ctx.stored) == 1
    optimizer.step()
    assert (model[0].tile.get_weights() == before).all()
    assert model[0].tile.counters.update == 0 and model[1].tile.counters.update == 1
    assert model[0].bias.grad is not None  # the digital bias still trains


def test_get_and_set_weights() -> None:
    config = RPUConfig(device=ideal_device(bound=0.5))
    conv = AnalogConv2d(2, 3, (2, 3), rpu_config=config, seed=1)
    weight = torch.linspace(-1, 1, 36).reshape(3, 2, 2, 3)
    bias = torch.tensor([0.7, -0.2, 3.0])
    conv.set_weights(weight, bias)
    got_weight, got_bias = conv.get_weights()
    assert got_weight.shape == (3, 2, 2, 3)
    assert torch.equal(got_weight, weight.clamp(-0.5, 0.5))  # programmed: clipped
    assert got_bias is not None and torch.equal(got_bias, bias)  # digital: as given
    got_weight.zero_()  # a copy
    assert conv.get_weights()[0].abs().sum() > 0

    analog = AnalogLinear(2, 2, rpu_config=config, analog_bias=True, seed=1)
    analog.set_weights(torch.zeros(2, 2), torch.tensor([0.3, -0.9]))
    assert torch.equal(analog.get_weights()[1], torch.tensor([0.3, -0.5]))
    analog.set_weights(torch.ones(2, 2) * 0.1)  # no bias given: the bias stays
    assert torch.equal(analog.get_weights()[1], torch.tensor([0.3, -0.5]))

    with pytest.raises(ValueError, match=r"weight: expected shape \(3, 2, 2, 3\)"):
        conv.set_weights(torch.zeros(3, 12))
    with pytest.raises(ValueError, match="without a bias"):
        AnalogLinear(2, 2, bias=False).set_weights(torch.zeros(2, 2), torch.zeros(2))


def test_errors_name_the_problem() -> None:
    with pytest.raises(NotImplementedError, match="groups=1"):
        AnalogConv2d(4, 4, 3, groups=2)
    with pytest.raises(NotImplementedError, match="padding_mode"):
        AnalogConv1d(4, 4, 3, padding_mode="reflect")
    with pytest.raises(NotImplementedError, match="asymmetric"):
        AnalogConv2d(1, 1, 2, padding="same")
    with pytest.raises(ValueError, match="kernel_size"):
        AnalogConv2d(1, 1, (1, 2, 3))
    with pytest.raises(ValueError, match=r"expected an input of shape \(batch, 3"):
        AnalogConv2d(3, 1, 1)(torch.zeros(1, 2, 4, 4))
    with pytest.raises(TypeError, match="float32"):
        AnalogLinear(2, 2)(torch.zeros(1, 2, dtype=torch.float64))
    with pytest.raises(NotImplementedError, match="bidirectional"):
        AnalogLSTM.from_digital(nn.LSTM(2, 2, bidirectional=True))


def test_copies_keep_the_tile_and_the_context() -> None:
    torch.manual_seed(9)
    model = nn.Sequential(AnalogConv1d(2, 3, 2), nn.Flatten(), AnalogLinear(9, 2))
    for make_copy in (copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))):
        copied = make_copy(model)
        for original, twin in zip(model[::2], copied[::2]):
            assert isinstance(twin.analog_ctx, AnalogContext)
            assert twin.tile is not original.tile
            assert twin.tile.to_bytes() == original.tile.to_bytes()
        x = torch.randn(4, 2, 4)
        assert torch.equal(copied(x), model(x))  # same noise: same counters, same seeds


def test_lazy_submodules() -> None:
    import rpusim

    assert rpusim.nn.AnalogLinear is AnalogLinear and rpusim.optim.AnalogSGD is AnalogSGD
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        rpusim.nothing  # noqa: B018


def test_patches_and_their_gradient_are_torchs_unfold_and_fold() -> None:
    """The engine's patches (rpusim.nn._patches) equal torch's unfold, their gradient torch's
    fold, with padding, stride and dilation; an input smaller than the kernel is refused."""
    import rpusim
    from rpusim.nn._patches import patches

    torch.manual_seed(0)
    images = torch.randn(3, 4, 9, 8, requires_grad=True)
    geometry = ((3, 2), (2, 1), (1, 2), (2, 3))
    rows = patches(images, geometry)
    unfolded = nn.functional.unfold(images, (3, 2), dilation=(2, 3), padding=(1, 2), stride=(2, 1))
    expected = unfolded.transpose(1, 2).reshape(rows.shape)
    assert torch.equal(rows, expected)
    grad = torch.randn(rows.shape)
    (ours,) = torch.autograd.grad(rows, images, grad)
    (theirs,) = torch.autograd.grad(expected, images, grad)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-5)
    with pytest.raises(rpusim.RPUSimError, match="kernel"):
        patches(torch.zeros(1, 1, 2, 2), ((3, 3), (1, 1), (0, 0), (1, 1)))

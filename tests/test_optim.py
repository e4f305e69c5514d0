"""AnalogSGD: pulsed updates for the tiles with the lr of their param group, torch's SGD for
the digital parameters, schedulers, zero_grad, and the pulsed update against torch's SGD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers import ideal_device  # noqa: E402
from rpusim import IOParameters, RPUConfig, UpdateParameters  # noqa: E402
from rpusim.nn import AnalogLinear  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import Tensor, nn  # noqa: E402

FLOAT = RPUConfig.floating_point()


def twins(seed: int) -> tuple[nn.Sequential, nn.Sequential]:
    """A two-layer analog MLP (floating point) and the torch MLP with the same weights."""
    torch.manual_seed(seed)
    analog = nn.Sequential(
        AnalogLinear(5, 4, rpu_config=FLOAT), nn.Tanh(), AnalogLinear(4, 3, rpu_config=FLOAT)
    )
    digital = nn.Sequential(analog[0].to_digital(), nn.Tanh(), analog[2].to_digital())
    return analog, digital


def train(
    model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, scheduler: Any = None
) -> None:
    """A few steps on fixed random data."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.randn(8, 5, generator=generator)
        target = torch.randn(8, 3, generator=generator)
        optimizer.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def assert_same_weights(analog: nn.Sequential, digital: nn.Sequential) -> None:
    for a, d in zip(analog[::2], digital[::2]):
        weight, bias = a.get_weights()
        torch.testing.assert_close(weight, d.weight.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bias, d.bias.detach(), rtol=1e-5, atol=1e-6)


def test_each_tile_takes_the_lr_of_its_group() -> None:
    analog, digital = twins(0)
    optimizer = AnalogSGD(
        [{"params": analog[0].parameters(), "lr": 0.3}, {"params": analog[2].parameters()}],
        lr=0.05,
    )
    reference = torch.optim.SGD(
        [{"params": digital[0].parameters(), "lr": 0.3}, {"params": digital[2].parameters()}],
        lr=0.05,
    )
    train(analog, optimizer, 3)
    train(digital, reference, 3)
    assert_same_weights(analog, digital)


def test_lr_scheduler_reaches_the_tiles() -> None:
    analog, digital = twins(1)
    optimizer = AnalogSGD(analog.parameters(), lr=0.4)
    reference = torch.optim.SGD(digital.parameters(), lr=0.4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
    train(analog, optimizer, 3, scheduler)
    train(digital, reference, 3, torch.optim.lr_scheduler.StepLR(reference, 1, gamma=0.1))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4e-3)
    assert_same_weights(analog, digital)


def test_momentum_and_weight_decay_act_on_digital_parameters_only() -> None:
    analog, digital = twins(2)
    options = {"momentum": 0.9, "weight_decay": 0.01, "nesterov": True}
    optimizer = AnalogSGD(analog.parameters(), lr=0.1, **options)
    weights = [digital[0].weight, digital[2].weight]
    biases = [digital[0].bias, digital[2].bias]
    reference = torch.optim.SGD([{"params": weights}, {"params": biases, **options}], lr=0.1)
    train(analog, optimizer, 3)
    train(digital, reference, 3)
    assert_same_weights(analog, digital)


def test_step_sends_every_stored_pair_in_one_update() -> None:
    analog, digital = twins(3)
    optimizer = AnalogSGD(analog.parameters(), lr=0.2)
    reference = torch.optim.SGD(digital.parameters(), lr=0.2)
    x = torch.randn(4, 5)
    for model in (analog, digital):
        model(x).sum().backward()
        model(x * 2).pow(2).sum().backward()  # accumulates, as gradients do
    assert [len(layer.analog_ctx.stored) for layer in analog[::2]] == [2, 2]
    optimizer.step()
    reference.step()
    assert [layer.tile.counters.update for layer in analog[::2]] == [1, 1]
    assert all(not layer.analog_ctx.stored for layer in analog[::2])
    assert_same_weights(analog, digital)
    optimizer.step()  # nothing stored: the tiles are left alone
    assert [layer.tile.counters.update for layer in analog[::2]] == [1, 1]


def test_zero_grad_drops_pairs_that_no_step_used() -> None:
    analog, _ = twins(4)
    optimizer = AnalogSGD(analog.parameters(), lr=0.2)
    before = [layer.get_weights()[0] for layer in analog[::2]]
    analog(torch.randn(4, 5)).sum().backward()
    optimizer.zero_grad()
    assert all(not layer.analog_ctx.stored for layer in analog[::2])
    assert analog[0].bias.grad is None
    optimizer.step()
    for layer, weight in zip(analog[::2], before):
        assert torch.equal(layer.get_weights()[0], weight)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_model_zero_grad_drops_pairs_as_the_optimizer_does(set_to_none: bool) -> None:
    """In torch ``model.zero_grad()`` and ``optimizer.zero_grad()`` are the same: the pairs of
    a backward pass that zero_grad followed must not reach the next step."""
    analog, _ = twins(6)
    twin, _ = twins(6)
    for model in (analog, twin):
        AnalogSGD(model.parameters(), lr=0.2)  # the same optimizer state in both
        model(torch.randn(4, 5, generator=torch.Generator().manual_seed(1))).sum().backward()
    context = analog[0].analog_ctx
    assert context.grad is not None and context.grad.numel() == 0  # pairs wait
    analog.zero_grad(set_to_none=set_to_none)
    AnalogSGD(twin.parameters(), lr=0.2).zero_grad(set_to_none=set_to_none)
    assert context.grad is None and not context.stored
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    for model in (analog, twin):
        optimizer = AnalogSGD(model.parameters(), lr=0.2)
        model(x).sum().backward()
        optimizer.step()
    for a, b in zip(analog[::2], twin[::2]):
        assert torch.equal(a.get_weights()[0], b.get_weights()[0])


def test_stored_pairs_are_bounded() -> None:
    analog, _ = twins(7)
    context = analog[0].analog_ctx
    context.max_stored_bytes = 3 * 4 * (5 + 4) * 4  # three backward passes of batch 4
    for _ in range(3):
        analog(torch.randn(4, 5)).sum().backward()
    with pytest.raises(RuntimeError, match="max_stored_bytes = 432"):
        analog(torch.randn(4, 5)).sum().backward()
    assert len(context.stored) == 3
    analog.zero_grad()
    analog(torch.randn(4, 5)).sum().backward()  # room again after zero_grad
    assert len(context.stored) == 1


def test_context_grad_takes_only_none() -> None:
    context = twins(8)[0][0].analog_ctx
    with pytest.raises(RuntimeError, match="no float gradient"):
        context.grad = torch.empty(0)


def test_closure_is_called_once_and_its_loss_returned() -> None:
    analog, _ = twins(5)
    optimizer = AnalogSGD(analog.parameters(), lr=0.2)
    calls = []

    def closure() -> float:
        calls.append(1)
        optimizer.zero_grad()
        loss = analog(torch.ones(2, 5)).sum()
        loss.backward()
        return loss.item()

    loss = optimizer.step(closure)
    assert calls == [1] and isinstance(loss, float)
    assert analog[0].tile.counters.update == 1


def test_pulsed_update_moves_the_weights_like_sgd_on_average() -> None:
    """Stochastic pulse trains with update management give, on average over many trials, the
    step of torch's SGD on a layer with the same weights (MODEL.md 3.3-4: E[pulses] =
    lr |d_i x_j| / dw_min). A device without device-to-device variation, with
    cycle-to-cycle noise; perfect IO so that every trial sees the same d."""
    trials, lr = 400, 0.005
    device = ideal_device(bound=1.0, dw_min=0.001, dw_min_std=0.3)
    config = RPUConfig(
        device=device,
        forward=IOParameters.perfect(),
        backward=IOParameters.perfect(),
        update=UpdateParameters(desired_bl=31),
    )
    torch.manual_seed(6)
    layer = AnalogLinear(6, 4, bias=False, rpu_config=config)
    start = layer.get_weights()[0]
    x = torch.rand(3, 6)
    target = torch.randn(3, 4)

    def loss_of(y: Tensor) -> Tensor:
        return ((y - target) ** 2).sum()

    reference = layer.to_digital()
    loss_of(reference(x)).backward()
    torch.optim.SGD(reference.parameters(), lr=lr).step()
    expected = (reference.weight.detach() - start).numpy()

    optimizer = AnalogSGD(layer.parameters(), lr=lr)
    steps = np.empty((trials, *expected.shape))
    for trial in range(trials):
        layer.set_weights(start)
        loss_of(layer(x)).backward()
        optimizer.step()
        optimizer.zero_grad()
        steps[trial] = (layer.get_weights()[0] - start).numpy()
    assert np.abs(expected).max() > 10 * device.dw_min  # many pulses per device

    mean = steps.mean(axis=0)
    z = (mean - expected) / (steps.std(axis=0, ddof=1) / np.sqrt(trials))
    assert np.abs(z).max() < 5, z
    assert 0.5 < np.sqrt((z**2).mean()) < 1.6, z
    # ... and a wrong step size would show: the mean matches to a few percent.
    np.testing.assert_allclose(mean, expected, atol=0.05 * np.abs(expected).max())


def test_step_hooks_run_once_even_after_a_plain_sgd_exists():
    """torch wraps SGD.step with the hook runner once SGD has an instance; AnalogSGD's step
    must not run its hooks a second time through it."""
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    layer = AnalogLinear(2, 1)
    optimizer = AnalogSGD(layer.parameters(), lr=0.1)
    calls = []
    optimizer.register_step_pre_hook(lambda *_: calls.append("pre"))
    optimizer.register_step_post_hook(lambda *_: calls.append("post"))
    layer(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    assert calls == ["pre", "post"]

"""Saving and resuming: state_dict() carries every tile's whole state, so torch.save /
torch.load of a model, its optimizer and its scheduler resume training bit-identically."""

from __future__ import annotations

import io
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from rpusim import IOParameters, RPUConfig  # noqa: E402
from rpusim.nn import AnalogConv2d, AnalogLinear, AnalogLSTM, AnalogSequential  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import Tensor, nn  # noqa: E402


class Model(nn.Module):
    """A convolution, an LSTM over the image rows and a linear head, on noisy tiles (with a
    running noise-management average, a state that the tiles carry) and an analog bias."""

    def __init__(self) -> None:
        super().__init__()
        noisy = RPUConfig(forward=IOParameters(noise_management="average_abs_max"))
        self.conv = AnalogConv2d(1, 2, 3, padding=1, rpu_config=noisy)
        self.lstm = AnalogLSTM(2 * 6, 5, batch_first=True, rpu_config=noisy)
        self.head = AnalogLinear(5, 3, analog_bias=True)

    def forward(self, x: Tensor) -> Tensor:
        rows = torch.tanh(self.conv(x)).permute(0, 2, 1, 3).flatten(2)  # (batch, 6, 12)
        output, _ = self.lstm(rows)
        return self.head(output[:, -1])


def build(seed: int) -> tuple[Model, AnalogSGD, Any]:
    torch.manual_seed(seed)
    model = Model()
    optimizer = AnalogSGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    return model, optimizer, scheduler


def train(model: Model, optimizer: AnalogSGD, scheduler: Any, batches: range) -> None:
    for batch in batches:
        generator = torch.Generator().manual_seed(batch)
        x = torch.rand(4, 1, 6, 6, generator=generator)
        y = torch.randint(0, 3, (4,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        scheduler.step()


def snapshot(model: Model) -> list[bytes]:
    """Every tile's whole state and every digital parameter, as bytes."""
    tiles = [m.tile.to_bytes() for m in (model.conv, *model.lstm.gates, model.head)]
    digital = [p.detach().numpy().tobytes() for p in model.parameters() if p.numel()]
    return tiles + digital


def test_save_and_resume_is_bit_identical() -> None:
    model, optimizer, scheduler = build(0)
    train(model, optimizer, scheduler, range(3))
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        buffer,
    )
    train(model, optimizer, scheduler, range(3, 6))

    resumed, resumed_optimizer, resumed_scheduler = build(1)  # other weights and devices
    assert snapshot(resumed) != snapshot(model)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # plain values only
    resumed.load_state_dict(saved["model"])
    resumed_optimizer.load_state_dict(saved["optimizer"])
    resumed_scheduler.load_state_dict(saved["scheduler"])
    train(resumed, resumed_optimizer, resumed_scheduler, range(3, 6))
    assert snapshot(resumed) == snapshot(model)
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_state_dict_holds_the_tile_state() -> None:
    model, _, _ = build(2)
    state = model.state_dict()
    assert state["head._extra_state"]["tile"] == model.head.tile.state_dict()
    assert state["head.analog_ctx"].numel() == 0
    assert "head.bias" not in state  # analog bias: a tile column
    assert {"lstm.bias_ih_l0", "lstm.bias_hh_l0", "lstm.gates.0._extra_state"} <= set(state)


def test_loading_drops_stored_pairs_and_checks_sizes() -> None:
    model, _, _ = build(3)
    model(torch.rand(2, 1, 6, 6)).sum().backward()
    assert model.head.analog_ctx.stored
    model.load_state_dict(model.state_dict())
    assert not model.head.analog_ctx.stored

    other = AnalogSequential(AnalogLinear(4, 3))
    with pytest.raises(
        RuntimeError, match="weight_shape is \\[3, 5\\], this layer's is \\[3, 4\\]"
    ):
        other.load_state_dict(AnalogSequential(AnalogLinear(5, 3)).state_dict())
    with pytest.raises(ValueError, match="no tile"):
        other[0].set_extra_state({"weights": 1})


def weights(model: nn.Module) -> list[Tensor]:
    return [t.clone() for t in model.state_dict().values() if isinstance(t, Tensor)] + [
        layer.get_weights()[0] for layer in model.modules() if isinstance(layer, AnalogLinear)
    ]


@pytest.mark.parametrize(
    ("source", "what"),
    [
        (lambda: AnalogConv2d(1, 3, 2, bias=False), "layer is 'AnalogConv2d'"),  # a 3 x 4 tile
        (lambda: AnalogLinear(3, 3, analog_bias=True, bias=True), "weight_shape is \\[3, 3\\]"),
    ],
)
def test_a_state_loads_only_into_a_layer_of_its_kind(source: Any, what: str) -> None:
    """Tiles of the same size, layers of another kind: torch's RuntimeError, nothing loaded."""
    torch.manual_seed(4)
    target = nn.Sequential(AnalogLinear(4, 3, bias=False))
    state = nn.Sequential(source()).state_dict()
    before = weights(target)
    with pytest.raises(RuntimeError, match=f"Error\\(s\\) in loading state_dict(.|\\n)*{what}"):
        target.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(weights(target), before))


def test_a_failed_layer_keeps_its_bias_and_every_failure_is_reported() -> None:
    torch.manual_seed(5)
    target = nn.Sequential(AnalogLinear(4, 3), nn.Tanh(), AnalogLinear(3, 2))
    state = nn.Sequential(AnalogLinear(4, 3), nn.Tanh(), AnalogLinear(3, 2)).state_dict()
    for key in ("0._extra_state", "2._extra_state"):
        tile = dict(state[key]["tile"])
        tile["state"] = tile["state"][:-1]  # truncated bytes
        state[key] = {**state[key], "tile": tile}
    before = weights(target)
    with pytest.raises(RuntimeError) as error:
        target.load_state_dict(state)
    assert "0._extra_state" in str(error.value) and "2._extra_state" in str(error.value)
    assert all(torch.equal(a, b) for a, b in zip(weights(target), before))  # biases included

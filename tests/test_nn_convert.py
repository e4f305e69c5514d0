"""convert_to_analog / convert_to_digital on whole models: a small CNN and an LSTM model."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from helpers import ideal_device  # noqa: E402
from rpusim import RPUConfig  # noqa: E402
from rpusim.nn import (  # noqa: E402
    AnalogConv1d,
    AnalogConv2d,
    AnalogLinear,
    AnalogLSTM,
    AnalogSequential,
    analog_layers,
    convert_to_analog,
    convert_to_digital,
)
from torch import Tensor, nn  # noqa: E402

FLOAT = RPUConfig.floating_point()


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, bias=False),
        nn.Flatten(),
        nn.Sequential(nn.Linear(6 * 2 * 2, 8), nn.Tanh()),
        nn.Linear(8, 3),
    )


class CharModel(nn.Module):
    """An LSTM language model: embedding, 2-layer LSTM, linear decoder, a 1-D conv on top."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True)
        self.decoder = nn.Linear(6, 10)
        self.smooth = nn.Conv1d(10, 10, 3, padding=1)

    def forward(self, tokens: Tensor) -> Tensor:
        output, _ = self.lstm(self.embed(tokens))
        return self.smooth(self.decoder(output).transpose(1, 2))


def state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_cnn_converts_and_computes_the_same() -> None:
    torch.manual_seed(0)
    digital = small_cnn()
    before = state(digital)
    analog = convert_to_analog(digital, FLOAT)
    assert isinstance(analog, AnalogSequential) and isinstance(analog[5], AnalogSequential)
    assert [type(m) for m in analog_layers(analog)] == [
        AnalogConv2d,
        AnalogConv2d,
        AnalogLinear,
        AnalogLinear,
    ]
    assert analog[3].bias is None and not analog[3].has_bias
    x = torch.randn(5, 1, 10, 10)
    torch.testing.assert_close(analog(x), digital(x), rtol=1e-5, atol=1e-6)
    assert all(torch.equal(v, before[k]) for k, v in digital.state_dict().items())  # untouched

    back = convert_to_digital(analog)
    assert type(back) is nn.Sequential and type(back[5]) is nn.Sequential
    assert type(back[0]) is nn.Conv2d and back[3].stride == (2, 2)
    for k, v in back.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_lstm_model_converts_and_computes_the_same() -> None:
    torch.manual_seed(1)
    digital = CharModel()
    analog = convert_to_analog(digital, FLOAT, analog_bias=True)
    assert isinstance(analog.lstm, AnalogLSTM) and analog.lstm.analog_bias
    assert isinstance(analog.smooth, AnalogConv1d) and analog.smooth.analog_bias
    assert isinstance(analog.embed, nn.Embedding)  # no analog counterpart: kept
    tokens = torch.randint(0, 10, (3, 7))
    torch.testing.assert_close(analog(tokens), digital(tokens), rtol=1e-5, atol=1e-6)
    back = convert_to_digital(analog)
    torch.testing.assert_close(back(tokens), digital(tokens), rtol=1e-5, atol=1e-6)


def test_convert_to_digital_returns_the_programmed_weights() -> None:
    torch.manual_seed(2)
    digital = small_cnn()
    with torch.no_grad():
        for p in digital.parameters():
            p.mul_(8)  # beyond the devices' bounds
    config = RPUConfig(device=ideal_device(bound=0.4))
    back = convert_to_digital(convert_to_analog(digital, config, analog_bias=True))
    for name, value in digital.state_dict().items():
        assert torch.equal(back.state_dict()[name], value.clamp(-0.4, 0.4)), name


def test_training_mode_is_kept_and_subclasses_stay_digital() -> None:
    attention = nn.MultiheadAttention(4, 2)  # its out_proj is a Linear subclass it reads itself
    model = nn.Sequential(nn.Linear(4, 4), attention).eval()
    analog = convert_to_analog(model)
    assert not analog.training and not analog[0].training
    assert type(analog[1].out_proj) is type(attention.out_proj)
    single = convert_to_analog(nn.Linear(3, 2))
    assert isinstance(single, AnalogLinear)

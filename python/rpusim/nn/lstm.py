"""An LSTM whose gate weights live on analog tiles."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rpusim.config import RPUConfig
from rpusim.nn.layers import AnalogLinear

__all__ = ["AnalogLSTM"]


class AnalogLSTM(nn.Module):
    """A multi-layer LSTM with the gate weights on analog tiles; a drop-in for
    ``torch.nn.LSTM(input_size, hidden_size, num_layers, bias, batch_first, dropout)``
    (unidirectional, without projections, on tensors rather than packed sequences).

    Layer ``k`` keeps ``[W_ih | W_hh]`` (``4 * hidden_size`` rows, ``input_size_k +
    hidden_size`` columns, gates in torch's order i, f, g, o) on one tile, ``gates[k]``, an
    :class:`~rpusim.nn.AnalogLinear`: every time step is one tile call on
    ``[x_t, h_{t-1}]`` for the whole batch, and the backward pass stores one ``(x, d)`` pair per
    time step, all sent to the tile as one update by the optimizer's step. The biases are
    digital parameters named as torch's (``bias_ih_l{k}``, ``bias_hh_l{k}``), or, with
    ``analog_bias=True``, one extra tile column per layer (their sum; ``to_digital`` puts it
    into ``bias_ih_l{k}``).

    Inputs are float32 CPU tensors ``(seq, batch, input_size)`` (``(batch, seq, input_size)``
    with ``batch_first``) or ``(seq, input_size)``; ``forward(input, (h_0, c_0))`` returns
    ``output, (h_n, c_n)`` as torch does. Tile seeds come from torch's global generator.

    Args:
        input_size: features of the input.
        hidden_size: features of the hidden state.
        num_layers: stacked LSTM layers.
        bias: whether the gates have biases.
        batch_first: inputs and outputs are ``(batch, seq, feature)``.
        dropout: dropout probability on the outputs of every layer but the last (training only).
        rpu_config: the configuration of every tile; default ``RPUConfig()``.
        analog_bias: keep the biases on the tiles.
    """

    gates: nn.ModuleList

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        rpu_config: RPUConfig | None = None,
        *,
        analog_bias: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.analog_bias = bool(bias and analog_bias)
        self.gates = nn.ModuleList(
            AnalogLinear(
                self._layer_input_size(k) + hidden_size,
                4 * hidden_size,
                bias=self.analog_bias,
                rpu_config=rpu_config,
                analog_bias=True,
            )
            for k in range(num_layers)
        )
        if bias and not analog_bias:
            for k in range(num_layers):
                self.register_parameter(f"bias_ih_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
                self.register_parameter(f"bias_hh_l{k}", nn.Parameter(torch.empty(4 * hidden_size)))
        self.reset_parameters()

    def _layer_input_size(self, k: int) -> int:
        return self.input_size if k == 0 else self.hidden_size

    def _digital_biases(self, k: int) -> tuple[nn.Parameter, nn.Parameter] | None:
        """``(bias_ih_l{k}, bias_hh_l{k})``, or ``None`` when the biases are not digital."""
        if not self.bias or self.analog_bias:
            return None
        return getattr(self, f"bias_ih_l{k}"), getattr(self, f"bias_hh_l{k}")

    def reset_parameters(self) -> None:
        """Draws every weight and bias uniform in ``+-1/sqrt(hidden_size)``, as torch's LSTM
        does (in its order: per layer ``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``), and programs
        them."""
        bound = 1 / math.sqrt(self.hidden_size)
        for k in range(self.num_layers):
            rows = 4 * self.hidden_size
            w_ih = torch.empty(rows, self._layer_input_size(k)).uniform_(-bound, bound)
            w_hh = torch.empty(rows, self.hidden_size).uniform_(-bound, bound)
            biases = [torch.empty(rows).uniform_(-bound, bound) for _ in range(2)]
            self._set_layer_weights(k, w_ih, w_hh, *biases)

    def _set_layer_weights(
        self, k: int, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None
    ) -> None:
        """Programs layer ``k`` with torch's weights (biases ignored when there are none)."""
        gate: AnalogLinear = self.gates[k]  # type: ignore[assignment]
        digital = self._digital_biases(k)
        analog = None
        if self.analog_bias and b_ih is not None and b_hh is not None:
            analog = b_ih + b_hh
        gate.set_weights(torch.cat((w_ih.detach(), w_hh.detach()), dim=1), analog)
        if digital is not None and b_ih is not None and b_hh is not None:
            with torch.no_grad():
                digital[0].copy_(b_ih)
                digital[1].copy_(b_hh)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not isinstance(input, Tensor):
            raise TypeError(f"AnalogLSTM takes a tensor, got {type(input).__name__}")
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.dim() != 3 or input.shape[2] != self.input_size:
            raise ValueError(
                f"AnalogLSTM: expected an input with {self.input_size} features, "
                f"got shape {tuple(input.shape)}"
            )
        batch = input.shape[1]
        if hx is None:
            zeros = input.new_zeros(self.num_layers, batch, self.hidden_size)
            h_0, c_0 = zeros, zeros
        else:
            h_0, c_0 = (h.unsqueeze(1) if unbatched else h for h in hx)
        h_n, c_n = [], []
        layer_input = input
        for k, gate in enumerate(self.gates):
            h, c = h_0[k], c_0[k]
            biases = self._digital_biases(k)
            bias = None if biases is None else biases[0] + biases[1]
            outputs = []
            for x_t in layer_input.unbind(0):
                z = gate(torch.cat((x_t, h), dim=1))
                if bias is not None:
                    z = z + bias
                i, f, g, o = z.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            layer_input = torch.stack(outputs)
            if self.dropout > 0 and k < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            h_n.append(h)
            c_n.append(c)
        output = layer_input
        h_last, c_last = torch.stack(h_n), torch.stack(c_n)
        if unbatched:
            return output.squeeze(1), (h_last.squeeze(1), c_last.squeeze(1))
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, (h_last, c_last)

    @classmethod
    def from_digital(
        cls, module: nn.LSTM, rpu_config: RPUConfig | None = None, *, analog_bias: bool = False
    ) -> AnalogLSTM:
        """An analog copy of ``module`` with its weights programmed (clipped to the devices'
        bounds) and its training mode. Bidirectional LSTMs and projections are not
        supported."""
        if module.bidirectional or module.proj_size:
            raise NotImplementedError(
                "AnalogLSTM supports neither bidirectional LSTMs nor projections (proj_size)"
            )
        lstm = cls(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            module.bias,
            module.batch_first,
            module.dropout,
            rpu_config,
            analog_bias=analog_bias,
        )
        for k in range(module.num_layers):
            lstm._set_layer_weights(
                k,
                getattr(module, f"weight_ih_l{k}"),
                getattr(module, f"weight_hh_l{k}"),
                getattr(module, f"bias_ih_l{k}", None),
                getattr(module, f"bias_hh_l{k}", None),
            )
        return lstm.train(module.training)

    def to_digital(self) -> nn.LSTM:
        """A ``torch.nn.LSTM`` with the weights the tiles hold."""
        lstm = nn.LSTM(
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bias,
            self.batch_first,
            self.dropout,
        )
        for k, gate in enumerate(self.gates):
            assert isinstance(gate, AnalogLinear)
            weight, analog = gate.get_weights()
            digital = self._digital_biases(k)
            w_ih, w_hh = torch.split(weight, [self._layer_input_size(k), self.hidden_size], dim=1)
            with torch.no_grad():
                getattr(lstm, f"weight_ih_l{k}").copy_(w_ih)
                getattr(lstm, f"weight_hh_l{k}").copy_(w_hh)
                if analog is not None:
                    getattr(lstm, f"bias_ih_l{k}").copy_(analog)
                    getattr(lstm, f"bias_hh_l{k}").zero_()
                elif digital is not None:
                    getattr(lstm, f"bias_ih_l{k}").copy_(digital[0])
                    getattr(lstm, f"bias_hh_l{k}").copy_(digital[1])
        return lstm.train(self.training)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        text += f", bias={self.bias}, analog_bias={self.analog_bias}"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text

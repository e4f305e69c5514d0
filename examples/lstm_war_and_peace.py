"""War and Peace, character by character, on a 2-layer LSTM (hidden size 64): float training
against analog tiles with the device and periphery of Rasch, Gokmen & Haensch (2019).

Each character enters as a one-hot vector; every LSTM layer keeps its gate weights
[W_ih | W_hh] on one tile (AnalogLSTM), and a linear decoder on another tile maps the hidden
state to the next character's logits. Training is truncated back-propagation through time:
the text is cut into --batch-size parallel streams, each step runs --seq-len characters of
every stream and carries the hidden state over to the next step. The float and the analog
network start from the same weights and see the same steps; the analog configuration is
rpusim.presets.paper_baseline(), as in mnist_mlp.py. After every epoch the script prints the
test loss (cross-entropy, nats per character) and perplexity of both, and it ends with a
summary line.

By default it trains on the first 500 000 characters of the book and tests on 50 000 of the
last tenth (--train-chars, --test-chars; 0 for all). The text is read from
../shared/datasets/text/warpeace_input.txt.gz, --data-dir or $RPUSIM_DATA.

compensation_study.py reuses the model and the training loop of this script.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import mnist_mlp
import numpy as np
import torch
from rpusim.data import load_war_and_peace
from rpusim.optim import AnalogSGD
from torch import Tensor, nn
from tqdm import tqdm


class CharLSTM(nn.Module):
    """One-hot characters -> LSTM layers -> linear decoder to next-character logits."""

    def __init__(self, vocabulary: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.vocabulary = vocabulary
        self.lstm = nn.LSTM(vocabulary, hidden, layers)
        self.decoder = nn.Linear(hidden, vocabulary)

    def forward(
        self, chars: Tensor, state: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``chars``: ``(seq, batch)`` indices; returns ``(seq, batch, vocabulary)`` logits and
        the last state."""
        one_hot = nn.functional.one_hot(chars, self.vocabulary).float()
        output, state = self.lstm(one_hot, state)
        return self.decoder(output), state


@dataclass
class Run:
    name: str
    model: nn.Module
    optimizer: AnalogSGD
    test_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def streams(text: np.ndarray, batch: int) -> Tensor:
    """The text cut into ``batch`` contiguous streams: ``(length, batch)``."""
    length = len(text) // batch
    return torch.from_numpy(text[: length * batch].reshape(batch, length).T.copy())


def detach(state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    return state[0].detach(), state[1].detach()


def train_epoch(
    run: Run, data: Tensor, seq_len: int, desc: str, disable: bool | None = None
) -> None:
    """One pass over ``data`` (``(length, batch)``) in windows of ``seq_len`` characters,
    carrying the hidden state from one window to the next; appends its time. ``disable``:
    tqdm's (``None``: a progress bar on a terminal only)."""
    run.model.train()
    start = time.perf_counter()
    state = None
    for first in tqdm(
        range(0, len(data) - 1, seq_len), desc=desc, unit="step", leave=False, disable=disable
    ):
        chars = data[first : first + seq_len + 1]
        run.optimizer.zero_grad()
        logits, state = run.model(chars[:-1], state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), chars[1:].flatten())
        loss.backward()
        run.optimizer.step()
        state = detach(state)
    run.seconds.append(time.perf_counter() - start)


def test_loss(model: nn.Module, data: Tensor, seq_len: int) -> float:
    """Mean cross-entropy per character over ``data`` (nats), in eval mode."""
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for first in range(0, len(data) - 1, seq_len):
            chars = data[first : first + seq_len + 1]
            logits, state = model(chars[:-1], state)
            targets = chars[1:].flatten()
            total += float(
                nn.functional.cross_entropy(logits.flatten(0, 1), targets, reduction="sum")
            )
            count += targets.numel()
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory holding text/ (unset: $RPUSIM_DATA, else ../shared/datasets)",
    )
    parser.add_argument("--epochs", type=int, default=2, help="training epochs")
    parser.add_argument("--lr", type=float, default=4.0, help="learning rate (mean loss)")
    parser.add_argument("--hidden", type=int, default=64, help="LSTM hidden size")
    parser.add_argument("--layers", type=int, default=2, help="LSTM layers")
    parser.add_argument("--batch-size", type=int, default=32, help="parallel streams")
    parser.add_argument("--seq-len", type=int, default=50, help="characters per step")
    parser.add_argument("--train-chars", type=int, default=500_000, help="0: the whole 90 %%")
    parser.add_argument("--test-chars", type=int, default=50_000, help="0: the whole 10 %%")
    parser.add_argument("--seed", type=int, default=0, help="weights and devices")
    parser.add_argument("--threads", type=int, default=1, help="engine threads")
    args = parser.parse_args()
    mnist_mlp.setup(args)

    corpus = load_war_and_peace(args.data_dir)
    train_text = corpus.train[: args.train_chars or None]
    test_text = corpus.test[: args.test_chars or None]
    print(
        f"{corpus.name}: {len(train_text)} training / {len(test_text)} test characters, "
        f"vocabulary {len(corpus.vocabulary)}; LSTM {args.layers} x {args.hidden}; "
        f"{args.batch_size} streams x {args.seq_len} characters per step, lr {args.lr}, "
        f"{args.epochs} epochs"
    )
    digital = CharLSTM(len(corpus.vocabulary), args.hidden, args.layers)
    runs = [Run(*run) for run in mnist_mlp.float_and_analog(digital, args.lr)]
    train_data = streams(train_text, args.batch_size)
    test_data = streams(test_text, args.batch_size)
    for epoch in range(1, args.epochs + 1):
        for run in runs:
            train_epoch(run, train_data, args.seq_len, f"epoch {epoch} {run.name}")
            run.test_loss.append(test_loss(run.model, test_data, args.seq_len))
        line = ", ".join(
            f"{run.name} {run.test_loss[-1]:.3f} (perplexity {math.exp(run.test_loss[-1]):5.2f},"
            f" {run.seconds[-1]:.0f} s)"
            for run in runs
        )
        print(f"epoch {epoch:3d}: test loss {line}", flush=True)
    result = ", ".join(
        f"{run.name} loss {run.test_loss[-1]:.3f} / perplexity {math.exp(run.test_loss[-1]):.2f}"
        f" ({np.mean(run.seconds):.0f} s/epoch)"
        for run in runs
    )
    print(f"summary: {corpus.name} char-LSTM after {args.epochs} epochs, test {result}")


if __name__ == "__main__":
    main()

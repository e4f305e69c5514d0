"""A text, character by character, on a 2-layer LSTM (hidden size 64): float training against
analog tiles with the device and periphery of Rasch, Gokmen & Haensch (2019).

The text is any UTF-8 file, gzipped or not (--text FILE); by default War and Peace, read from
../shared/datasets/text/warpeace_input.txt.gz, --data-dir or $RPUSIM_DATA. Its first 90 % is
the training part, its last 10 % the test part, and its vocabulary is every character it holds
(rpusim.data.load_text). By default the script trains on the first 500 000 characters of the
training part and tests on the first 50 000 of the test part (--train-chars, --test-chars; 0
for all).

Each character enters as a one-hot vector; every LSTM layer keeps its gate weights
[W_ih | W_hh] on one tile (AnalogLSTM), and a linear decoder on another tile maps the hidden
state to the next character's logits (rpusim.training.CharLSTM). Training is truncated
back-propagation through time: the text is cut into --batch-size parallel streams, each step
runs --seq-len characters of every stream and carries the hidden state over to the next step.
The float and the analog network start from the same weights and see the same steps; the
analog configuration is rpusim.presets.paper_baseline(), as in mnist_mlp.py. The script says
which file it read (path, characters, vocabulary), prints the test loss (cross-entropy, nats
per character) and perplexity of both after every epoch, and ends with a summary line.

The model and the training loop are in rpusim.training, shared with compensation_study.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rpusim import training
from rpusim.data import load_text, load_war_and_peace


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--text",
        type=Path,
        default=None,
        metavar="FILE",
        help="UTF-8 text file, gzipped or not (unset: War and Peace, text/warpeace_input.txt.gz "
        "in the data directory)",
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
    training.setup(args.seed, args.threads)

    if args.text is None:
        corpus = load_war_and_peace(args.data_dir)
    else:
        try:
            corpus = load_text(args.text)
        except (OSError, ValueError) as e:  # no such file, not UTF-8, too short
            parser.error(f"--text: {e}")
    print(
        f"text: {corpus.path} ({len(corpus.train) + len(corpus.test)} characters, vocabulary "
        f"{len(corpus.vocabulary)}; the first 90 % trains, the last 10 % tests)"
    )
    train_text = corpus.train[: args.train_chars or None]
    test_text = corpus.test[: args.test_chars or None]
    print(
        f"{corpus.name}: {len(train_text)} training / {len(test_text)} test characters, "
        f"vocabulary {len(corpus.vocabulary)}; LSTM {args.layers} x {args.hidden}; "
        f"{args.batch_size} streams x {args.seq_len} characters per step, lr {args.lr}, "
        f"{args.epochs} epochs"
    )
    digital = training.CharLSTM(len(corpus.vocabulary), args.hidden, args.layers)
    runs = training.train_text_and_compare(
        digital,
        train_text,
        test_text,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
    )
    print(
        f"summary: {corpus.name} char-LSTM after {args.epochs} epochs, test "
        f"{training.text_summary(runs)}"
    )


if __name__ == "__main__":
    main()

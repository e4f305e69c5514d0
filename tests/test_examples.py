"""The example scripts run as a user runs them, on data the tests write or bring along: the
LSTM on a small text file given with --text, the MLP on the bundled digits when MNIST is
missing. (compensation_study.py has test_compensation_study.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_lstm_trains_on_the_text_file_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "poem.txt"
    text = "".join(
        f"{i % 7} little ducks went out one day, over the hills and far away\n" for i in range(60)
    )
    path.write_text(text, encoding="utf-8")
    result = run(
        "lstm_text.py", "--text", str(path), "--epochs", "2", "--hidden", "16", "--layers", "1",
        "--batch-size", "8", "--seq-len", "20", "--lr", "2", "--train-chars", "0",
        "--test-chars", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    vocabulary = len(set(text))
    assert lines[0] == (
        f"text: {path} ({len(text)} characters, vocabulary {vocabulary}; the first 90 % trains, "
        "the last 10 % tests)"
    )
    train = round(0.9 * len(text))
    assert lines[1].startswith(
        f"poem.txt: {train} training / {len(text) - train} test characters, vocabulary "
        f"{vocabulary}; LSTM 1 x 16; 8 streams x 20 characters per step, lr 2.0, 2 epochs"
    )
    losses = [float(x) for x in re.findall(r"float (\d+\.\d+) \(perplexity", result.stdout)]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert lines[-1].startswith("summary: poem.txt char-LSTM after 2 epochs, test float loss")


def test_lstm_refuses_a_text_it_cannot_read(tmp_path: Path) -> None:
    result = run("lstm_text.py", "--text", str(tmp_path / "missing.txt"))
    assert result.returncode == 2 and "--text:" in result.stderr
    assert "missing.txt" in result.stderr
    binary = tmp_path / "image.bin"
    binary.write_bytes(bytes([0xFF, 0xFE, 0x00, 0x81]) * 10)
    result = run("lstm_text.py", "--text", str(binary))
    assert result.returncode == 2 and "image.bin: not UTF-8 text" in result.stderr


def test_mlp_falls_back_to_the_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    result = run(
        "mnist_mlp.py", "--data-dir", str(tmp_path), "--epochs", "1", "--train-size", "200",
        "--test-size", "100", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "MNIST not found" in result.stdout and "bundled 8x8 digits instead" in result.stdout
    assert "scikit-learn digits (subset): 200 training / 100 test images; MLP 64-256-128-10" in (
        result.stdout
    )
    assert re.search(r"epoch   1: test accuracy float [ \d]\d\.\d\d % .*, analog ", result.stdout)
    assert "summary: scikit-learn digits (subset) MLP after 1 epochs" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cifar10_vgg8_trains_and_resumes(tmp_path: Path) -> None:
    """One epoch, then a second resumed from the checkpoint (tests/test_training_module.py
    checks that a resumed run equals an uninterrupted one bit for bit)."""
    pytest.importorskip("PIL")
    from helpers import write_cifar_npz

    write_cifar_npz(tmp_path / "data" / "cifar10" / "cifar10_jpeg.npz", n_train=16, n_test=8)
    common = [
        "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"),
        "--batch-size", "8", "--modes", "float", "all measures", "--threads", "1",
        "--checkpoint", str(tmp_path / "vgg8.pt"), "--out", str(tmp_path / "vgg8.png"),
    ]  # fmt: skip
    first = run("cifar10_vgg8.py", *common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "16 training / 8 test images" in first.stdout and "summary:" in first.stdout
    assert (tmp_path / "vgg8.png").is_file() and (tmp_path / "vgg8.pt").is_file()
    resumed = run("cifar10_vgg8.py", *common, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "epoch   1:" not in resumed.stdout
    assert re.search(r"epoch   2: test accuracy float .* all measures", resumed.stdout)


def test_distributed_mnist_under_torchrun(tmp_path: Path) -> None:
    """Two ranks started by torchrun, as the example's doc says; then resumed by both."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--standalone", str(EXAMPLES / "distributed_mnist.py"), "--train-size", "256",
        "--test-size", "100", "--global-batch", "32", "--checkpoint", str(tmp_path / "dm.pt"),
    ]  # fmt: skip
    first = subprocess.run([*command, "--epochs", "1"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "2 ranks (gloo) of 16 samples" in first.stdout
    assert re.search(r"epoch   1: .* 8 steps, .* replicas identical", first.stdout)
    resumed = subprocess.run(
        [*command, "--epochs", "2", "--resume"], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch 1" in resumed.stdout and "epoch   2:" in resumed.stdout


def test_asymmetric_study_prints_its_table_on_the_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "asymmetric.png"
    result = run(
        "asymmetric_study.py", "--data-dir", str(tmp_path), "--epochs", "1", "--train-size",
        "300", "--test-size", "100", "--devices", "10 states", "ECRAM", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "bundled 8x8 digits instead" in result.stdout
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("device ")))
    assert lines[header].split() == ["device", "SGD", "TTv1", "TTv2"]
    assert lines[header + 1].startswith("float ")
    for row, device in zip(lines[header + 2 : header + 4], ("10 states", "ECRAM")):
        assert row.startswith(device) and len(re.findall(r"\d+\.\d\d %", row)) == 3
    assert re.search(
        r"epoch   1: test accuracy float .*, 10 states SGD .*, ECRAM TTv2 ", result.stdout
    )
    assert lines[-1].startswith("summary: scikit-learn digits (subset) MLP 64-256-128-10")
    assert out.stat().st_size > 0

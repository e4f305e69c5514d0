"""examples/compensation_study.py, run as a script: its options and plans, and a tiny study
(every network type, three configurations, one epoch on a few hundred images or a few thousand
characters, in two processes) that must write the table, the plot and the results with sane
numbers. Its configurations are rpusim.training.compensation_config, tested in
test_training_module.py.

MNIST and War and Peace are read from ../shared/datasets (or $RPUSIM_DATA); without them the
tiny study is skipped, with a message saying where to put them."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from rpusim.data import DatasetNotFoundError, load_mnist, load_war_and_peace  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "compensation_study.py"


def study(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900
    )


def test_help_states_the_full_and_the_quick_plans() -> None:
    result = study("--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert (
        "epochs of every network (unset: lenet 2, lstm 2, mlp 3, vgg8 3; with --quick: lenet 1, "
        "lstm 1, mlp 1, vgg8 2)" in text
    )
    assert (
        "(MNIST: the first N; CIFAR-10: a fixed random choice) (unset: lenet all, mlp all, vgg8 "
        "10000; with --quick: lenet 4000, mlp 12000, vgg8 512)" in text
    )
    assert "first N training characters (unset: 300000; with --quick: 50000)" in text
    assert "of float, baseline, nm, bm, um, ws, preset, all, remap (default: all)" in text
    assert "of lenet, lstm, mlp, vgg8 (default: lenet, lstm, mlp)" in text


def test_unknown_networks_and_configurations_are_refused() -> None:
    result = study("--nets", "mlp,cnn")
    assert (
        result.returncode == 2
        and "unknown ['cnn']; choose from lenet, lstm, mlp, vgg8" in result.stderr
    )
    result = study("--configs", "float,xx", "--jobs", "1")
    assert result.returncode == 2 and "unknown ['xx']" in result.stderr


def test_tiny_study_writes_table_plot_and_results(tmp_path: Path) -> None:
    try:
        load_mnist()
        load_war_and_peace()
    except DatasetNotFoundError as e:
        pytest.skip(str(e))
    configs = ("float", "baseline", "remap")
    result = study(
        "--configs", ",".join(configs), "--epochs", "1", "--train-size", "600",
        "--test-size", "300", "--train-chars", "3000", "--test-chars", "1500",
        "--evals-per-epoch", "2", "--jobs", "2", "--out-dir", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The sizes given override the full plan's; the epochs too.
    for line in (
        "- MNIST LeNet: 600 training / 300 test images, 1 epoch(s), lr 0.1, seed 0, 2 evaluations",
        "- War and Peace LSTM 2x64: 3000 training / 1500 test characters, 1 epoch(s), lr 4.0",
        "- MNIST MLP 784-256-128-10: 600 training / 300 test images, 1 epoch(s), lr 0.1",
    ):
        assert line in result.stdout
    assert "summary: 9 runs in" in result.stdout

    document = json.loads((tmp_path / "results.json").read_text())
    runs = document["runs"]
    assert len(runs) == 3 * len(configs)
    for r in runs:
        assert r["epochs"] == [0.0, 0.5, 1.0]
        assert len(r["seconds"]) == 1
        assert all(math.isfinite(m) and m > 0 for m in r["metric"])
    final = {(r["net"], r["config"]): r["metric"][-1] for r in runs}
    assert final["lenet", "float"] < 70  # chance is 90 % error
    # Without the measures LeNet stays at chance; with all of them and re-mapping it learns.
    assert final["lenet", "baseline"] > 80
    assert final["lenet", "remap"] < 70
    assert final["lstm", "float"] < 60  # a uniform guess has perplexity 82 (the vocabulary)

    table = (tmp_path / "table.md").read_text()
    assert table.count("\n|") == 2 + len(configs)  # header, rule, a row per configuration
    for label in ("float", "baseline (all off)", "all + re-mapping every 50 steps"):
        assert f"| {label} |" in table
        assert f"| {label} |" in result.stdout
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_lstm_reads_the_text_file_it_is_given(tmp_path: Path) -> None:
    text = tmp_path / "rhymes.txt"
    text.write_text("humpty dumpty sat on a wall, humpty dumpty had a great fall\n" * 80)
    result = study(
        "--nets", "lstm", "--configs", "float", "--epochs", "1", "--train-chars", "2000",
        "--test-chars", "400", "--evals-per-epoch", "1", "--text", str(text),
        "--out-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "- rhymes.txt LSTM 2x64: 2000 training / 400 test characters" in result.stdout
    assert "War and Peace" not in result.stdout


def load_study() -> Any:
    """The script as a module, for its parts."""
    spec = importlib.util.spec_from_file_location("compensation_study", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_vgg8_takes_the_batches_and_images_of_train_cifar(tmp_path: Path) -> None:
    """Each epoch the study's CIFAR-10 parts are the batch order of rpusim.training.train_cifar
    (the example's loop) on the same fixed subset, and the images its augmentation draws."""
    pytest.importorskip("PIL")
    from helpers import write_cifar_npz
    from rpusim import training

    write_cifar_npz(tmp_path / "cifar10" / "cifar10_jpeg.npz", n_train=300, n_test=4)
    study_module = load_study()
    options = study_module.StudyOptions(data_dir=tmp_path, seed=3)
    problem = study_module.CifarProblem(study_module.Plan(2, 260, 3), options)
    subset = training.cifar_subset(300, 260)
    assert len(subset) == 260 and len(problem.test_loader.dataset) == 4
    for epoch in (1, 2):
        chunks = problem.epoch_chunks(2)
        assert [len(c) for c in chunks] == [256, 4]  # 3 batches: 2 + 1, at batch boundaries
        order = torch.cat(chunks).numpy()
        assert order.tolist() == training.cifar_order(subset, 3, epoch).tolist()
        assert problem.train_images.epoch == epoch
    x, _ = next(iter(training.cifar_loader(problem.train_images, order[:2], 2)))
    expected = np.stack([problem.train_images[int(i)][0] for i in order[:2]])
    assert np.array_equal(x.numpy(), expected)


def test_tiny_vgg8_study_on_a_stand_in_file(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from helpers import write_cifar_npz

    write_cifar_npz(tmp_path / "data" / "cifar10" / "cifar10_jpeg.npz", n_train=40, n_test=8)
    result = study(
        "--nets", "vgg8", "--configs", "float,all", "--epochs", "1", "--train-size", "12",
        "--test-size", "6", "--evals-per-epoch", "1", "--data-dir", str(tmp_path / "data"),
        "--out-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (
        "- CIFAR-10 VGG-8: 12 training / 6 test images, 1 epoch(s), lr 0.05, seed 0"
        in result.stdout
    )
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [(r["net"], r["config"]) for r in runs] == [("vgg8", "all"), ("vgg8", "float")]
    for r in runs:
        assert r["epochs"] == [0.0, 1.0] and len(r["seconds"]) == 1
        # The error of 6 test images: a multiple of 100 / 6.
        assert all(
            0 <= m <= 100 and abs(m * 6 / 100 - round(m * 6 / 100)) < 1e-6 for m in r["metric"]
        )
    assert "| all (NM+BM+UM+WS) |" in (tmp_path / "out" / "table.md").read_text()

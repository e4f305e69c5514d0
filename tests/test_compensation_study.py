"""examples/compensation_study.py on a tiny setting: every network type, three configurations,
one epoch on a few hundred images or a few thousand characters, in two processes. Checks that
the table, the plot and the results are written and that the numbers are sane.

MNIST and War and Peace are read from ../shared/datasets (or $RPUSIM_DATA); without them the
test is skipped, with a message saying where to put them."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")

from rpusim import RPUConfig, presets
from rpusim.data import DatasetNotFoundError, load_mnist, load_war_and_peace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import compensation_study as study


def test_configurations_are_the_preset_with_measures_switched() -> None:
    assert study.rpu_config(None) == RPUConfig.floating_point()
    assert study.rpu_config(frozenset({"NM", "BM", "UM"})) == presets.paper_baseline()
    baseline = study.rpu_config(frozenset())
    assert baseline.device == presets.paper_baseline().device
    assert baseline.forward.noise_management == baseline.backward.noise_management == "none"
    assert baseline.forward.bound_management == "none"
    assert not baseline.update.update_management
    assert not baseline.update.update_bl_management
    assert baseline.mapping.weight_scaling_omega == 0
    assert study.rpu_config(frozenset({"WS"})).mapping.weight_scaling_omega == 0.6
    with pytest.raises(ValueError, match="XX"):
        study.rpu_config(frozenset({"XX"}))


def test_quick_plan_and_overrides() -> None:
    options = study.parse_options(["--quick", "--train-size", "123", "--nets", "mlp,lstm"])
    assert options.nets == ("mlp", "lstm")
    assert study.plan_of(study.NETS["mlp"], options) == study.Plan(1, 123, 2000)
    assert study.plan_of(study.NETS["lstm"], options) == study.Plan(1, 50_000, 10_000)
    full = study.parse_options([])
    assert study.plan_of(study.NETS["lenet"], full) == study.Plan(2, None, None)


def test_tiny_study_writes_table_plot_and_results(tmp_path: Path) -> None:
    try:
        load_mnist()
        load_war_and_peace()
    except DatasetNotFoundError as e:
        pytest.skip(str(e))
    configs = ("float", "baseline", "remap")
    options = study.StudyOptions(
        configs=configs,
        epochs=1,
        train_size=600,
        test_size=300,
        train_chars=3000,
        test_chars=1500,
        evals_per_epoch=2,
        jobs=2,
        out_dir=tmp_path,
    )
    output = study.run_study(options)

    assert len(output.results) == 3 * len(configs)
    for r in output.results:
        assert r.epochs == [0.0, 0.5, 1.0]
        assert len(r.seconds) == 1
        assert all(math.isfinite(m) and m > 0 for m in r.metric)
    final = {(r.net, r.config): r.metric[-1] for r in output.results}
    assert final["lenet", "float"] < 70  # chance is 90 % error
    # Without the measures LeNet stays at chance; with all of them and re-mapping it learns.
    assert final["lenet", "baseline"] > 80
    assert final["lenet", "remap"] < 70
    assert final["lstm", "float"] < 60  # a uniform guess has perplexity 82 (the vocabulary)

    table = (tmp_path / "table.md").read_text()
    assert output.table in table
    for c in configs:
        assert f"| {study.CONFIGURATIONS[c].label} |" in table
    assert (tmp_path / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads((tmp_path / "results.json").read_text())
    assert len(document["runs"]) == len(output.results)

"""rpusim.training, the examples' loops, networks and runs, on real data: scikit-learn's digits
and small texts written by the tests. (tests/test_training.py trains on MNIST.)"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import rpusim  # noqa: E402
from rpusim import RPUConfig, presets, training  # noqa: E402
from rpusim.data import ImageDataset, load_digits, load_text  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import nn  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_threaded")
"""One engine and one torch thread (conftest.py)."""


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return load_digits()


def mean_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def test_import_rpusim_does_not_import_training() -> None:
    import subprocess
    import sys

    script = "import sys, rpusim; print('rpusim.training' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
    assert rpusim.training is training  # imported on first access


def test_as_tensors_flat_or_with_a_channel(digits: ImageDataset) -> None:
    x, y = training.as_tensors(digits.train_images, digits.train_labels, flatten=True)
    assert x.shape == (1347, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[5].reshape(8, 8), torch.from_numpy(digits.train_images[5]))
    x, _ = training.as_tensors(digits.train_images, digits.train_labels, flatten=False)
    assert x.shape == (1347, 1, 8, 8)


def test_test_accuracy_counts_the_largest_output_in_every_batch() -> None:
    """A fixed linear model: the class is the larger coordinate; 5 of 7 labels agree."""
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0], [0, 1], [2, 1], [1, 3], [5, 4], [0, 2], [3, 0]])
    y = torch.tensor([0, 1, 0, 1, 1, 0, 0])  # the fifth and the sixth are wrong
    for batch_size in (1, 3, 1000):
        assert training.test_accuracy(model, x, y, batch_size) == pytest.approx(5 / 7)
    model.train()
    training.test_accuracy(model, x, y)
    assert not model.training


def test_train_epoch_lowers_the_loss_on_digits(digits: ImageDataset) -> None:
    """Softmax regression on the digits, 2 epochs at lr 0.5: from chance (about 2.3 nats) to
    a low loss and over 90 % test accuracy (observed: about 0.95)."""
    x, y = training.as_tensors(digits.train_images, digits.train_labels, flatten=True)
    x_test, y_test = training.as_tensors(digits.test_images, digits.test_labels, flatten=True)
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    optimizer = AnalogSGD(model.parameters(), lr=0.5)
    before = mean_loss(model, x, y)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        order = torch.randperm(len(x), generator=generator)
        seconds = training.train_epoch(model, optimizer, x, y, order, 10, disable=True)
        assert seconds > 0
    assert model.training
    assert before > 2.0 and mean_loss(model, x, y) < 0.5 * before
    assert training.test_accuracy(model, x_test, y_test) > 0.9


def test_train_epoch_takes_the_batches_of_the_order(digits: ImageDataset) -> None:
    """One forward pass per mini-batch of ``x[order]``, in order, the last one shorter."""
    x, y = training.as_tensors(digits.train_images, digits.train_labels, flatten=True)
    model = nn.Linear(64, 10)
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    seen: list[torch.Tensor] = []
    model.register_forward_hook(lambda _, inputs, __: seen.append(inputs[0]))
    order = torch.randperm(95)  # 9 full batches of 10 and one of 5; the other images unused
    training.train_epoch(model, optimizer, x, y, order, 10, disable=True)
    assert [len(b) for b in seen] == [10] * 9 + [5]
    assert torch.equal(torch.cat(seen), x[order])


def test_float_and_analog_start_from_the_same_weights() -> None:
    torch.manual_seed(0)
    digital = training.mlp(64)
    runs = training.float_and_analog(digital, lr=0.3)
    assert [r.name for r in runs] == ["float", "analog"]
    assert all(r.optimizer.param_groups[0]["lr"] == 0.3 for r in runs)
    assert runs[0].model[0].tile.rpu_config == RPUConfig.floating_point()
    assert runs[1].model[0].tile.rpu_config == presets.paper_baseline()
    weight = digital[0].weight.detach().numpy()
    np.testing.assert_array_equal(runs[0].model[0].tile.get_weights(), weight)
    # The analog devices clip the few weights beyond their bounds (30 % device-to-device
    # variation of +-1), towards zero; every other weight is programmed as it is.
    analog = runs[1].model[0].tile.get_weights()
    same = analog == weight
    assert same.mean() > 0.99
    assert np.all(np.abs(analog[~same]) < np.abs(weight[~same]))


def test_train_and_compare_logs_every_epoch_and_repeats_its_bits(digits: ImageDataset) -> None:
    """Two epochs of the example's MLP on 300 digits: every epoch is logged, the same seed
    gives the same accuracies to the bit, another seed of the batch order other ones."""
    data = digits.subset(300, 200)

    def compare(log: list[str]) -> list[training.Run]:
        training.setup(seed=0, threads=1)
        return training.train_and_compare(
            training.mlp(64),
            data,
            epochs=2,
            lr=0.5,
            batch_size=10,
            seed=0,
            flatten=True,
            log=log.append,
        )

    lines: list[str] = []
    runs = compare(lines)
    assert [r.name for r in runs] == ["float", "analog"]
    assert all(len(r.accuracy) == len(r.seconds) == 2 and not r.test_loss for r in runs)
    assert len(lines) == 2 and lines[1].startswith("epoch   2: test accuracy float ")
    assert f"analog {100 * runs[1].accuracy[1]:5.2f} %" in lines[1]
    again = compare([])
    assert [r.accuracy for r in again] == [r.accuracy for r in runs]
    training.setup(seed=0, threads=1)  # the same weights and devices, another batch order
    other = training.train_and_compare(
        training.mlp(64), data, epochs=2, lr=0.5, batch_size=10, seed=1, flatten=True, log=None
    )
    assert [r.accuracy for r in other] != [r.accuracy for r in runs]


def test_lenet_takes_28x28_images() -> None:
    torch.manual_seed(0)
    assert training.lenet()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_summaries_and_plot(tmp_path: Path) -> None:
    model = nn.Linear(1, 1)
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    image = training.Run("float", model, optimizer, accuracy=[0.5, 0.971], seconds=[8.0, 8.4])
    assert training.summary([image]) == "float 97.10 % (8.2 s/epoch)"
    text = training.Run("analog", model, optimizer, test_loss=[2.0, math.log(4.96)], seconds=[50])
    assert training.text_summary([text]) == "analog loss 1.601 / perplexity 4.96 (50 s/epoch)"
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "curves.png"
    training.plot([image], "title", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_setup_seeds_torch_and_sets_the_threads() -> None:
    training.setup(seed=7, threads=2)
    first = torch.rand(3)
    assert rpusim.get_num_threads() == 2 and torch.get_num_threads() == 1
    training.setup(seed=7, threads=1)
    assert torch.equal(torch.rand(3), first)


def test_image_arguments_defaults_or_the_scripts_choice() -> None:
    parser = training.image_arguments("d", epochs=3, lr="chosen by the script")
    args = parser.parse_args(["--train-size", "100"])
    assert (args.epochs, args.lr, args.batch_size, args.train_size, args.seed) == (
        3,
        None,
        10,
        100,
        0,
    )
    assert "chosen by the script" in parser.format_help()


# --- text -------------------------------------------------------------------------------------


def test_streams_are_contiguous_columns() -> None:
    data = training.streams(np.arange(11, dtype=np.int64), 3)
    assert data.tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]  # the 10th and 11th dropped
    with pytest.raises(ValueError, match="5 characters cut into 3 streams leave 1"):
        training.streams(np.arange(5, dtype=np.int64), 3)


def test_text_test_loss_of_a_uniform_guess_is_log_vocabulary() -> None:
    """A decoder of zeros predicts every character with probability 1/V: the loss is log V
    whatever the text and the window length."""
    torch.manual_seed(0)
    model = training.CharLSTM(vocabulary=7, hidden=5, layers=1)
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.zero_()
    data = training.streams(np.arange(70, dtype=np.int64) % 7, 4)
    for seq_len in (1, 4, 17):
        assert training.text_test_loss(model, data, seq_len) == pytest.approx(math.log(7))


def periodic_text(path: Path, repeats: int = 120) -> Path:
    path.write_text("the cat sat on the mat. " * repeats, encoding="utf-8")
    return path


def test_train_text_epoch_lowers_the_test_loss(tmp_path: Path) -> None:
    """A text that repeats one sentence: two epochs bring the test loss far below a uniform
    guess (log 12 = 2.48 nats; observed about 1.0)."""
    corpus = load_text(periodic_text(tmp_path / "cat.txt"))
    vocabulary = len(corpus.vocabulary)
    train, test = training.streams(corpus.train, 8), training.streams(corpus.test, 4)
    torch.manual_seed(0)
    model = training.CharLSTM(vocabulary, hidden=16, layers=1)
    optimizer = AnalogSGD(model.parameters(), lr=2.0)
    before = training.text_test_loss(model, test, 10)
    for _ in range(2):
        assert training.train_text_epoch(model, optimizer, train, 10, disable=True) > 0
    after = training.text_test_loss(model, test, 10)
    assert before > 0.9 * math.log(vocabulary) and after < 0.6 * math.log(vocabulary)


def test_train_text_epoch_carries_the_state_detached(tmp_path: Path) -> None:
    """Every window after the first starts from the state the previous one ended with, cut
    from its graph."""
    states: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    ends: list[torch.Tensor] = []

    class Recording(training.CharLSTM):
        def forward(self, chars, state):  # type: ignore[no-untyped-def]
            states.append(state)
            logits, new_state = super().forward(chars, state)
            ends.append(new_state[0].detach().clone())
            return logits, new_state

    torch.manual_seed(0)
    model = Recording(vocabulary=5, hidden=4, layers=1)
    data = training.streams(np.arange(100, dtype=np.int64) % 5, 2)  # 50 x 2
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    training.train_text_epoch(model, optimizer, data, 10, disable=True)
    assert len(states) == 5 and states[0] is None  # windows start at 0, 10, ..., 40
    for state, end in zip(states[1:], ends):
        assert state is not None and not state[0].requires_grad
        assert torch.equal(state[0], end)


def test_train_text_and_compare_logs_and_repeats_its_bits(tmp_path: Path) -> None:
    corpus = load_text(periodic_text(tmp_path / "cat.txt", repeats=40))

    def compare(log: list[str]) -> list[training.Run]:
        training.setup(seed=0, threads=1)
        digital = training.CharLSTM(len(corpus.vocabulary), 8, 1)
        return training.train_text_and_compare(
            digital, corpus.train, corpus.test, epochs=2, lr=2.0, batch_size=4, seq_len=10,
            log=log.append,
        )  # fmt: skip

    lines: list[str] = []
    runs = compare(lines)
    assert [r.name for r in runs] == ["float", "analog"]
    assert all(len(r.test_loss) == len(r.seconds) == 2 and not r.accuracy for r in runs)
    assert len(lines) == 2 and lines[0].startswith("epoch   1: test loss float ")
    assert f"(perplexity {math.exp(runs[0].test_loss[1]):5.2f}," in lines[1]
    assert runs[0].test_loss[1] < runs[0].test_loss[0]
    assert [r.test_loss for r in compare([])] == [r.test_loss for r in runs]


# --- the compensation study -------------------------------------------------------------------


def test_compensation_configs_are_the_preset_with_measures_switched() -> None:
    assert training.compensation_config(None) == RPUConfig.floating_point()
    assert training.compensation_config({"NM", "BM", "UM"}) == presets.paper_baseline()
    baseline = training.compensation_config(frozenset())
    assert baseline.device == presets.paper_baseline().device
    assert baseline.forward.noise_management == baseline.backward.noise_management == "none"
    assert baseline.forward.bound_management == "none"
    assert not baseline.update.update_management
    assert not baseline.update.update_bl_management
    assert baseline.mapping.weight_scaling_omega == 0
    ws = training.compensation_config(["WS"])
    assert ws.mapping.weight_scaling_omega == training.WEIGHT_SCALING_OMEGA == 0.6
    assert not ws.mapping.weight_scaling_columnwise
    nm = training.compensation_config({"NM"})
    assert nm.forward.noise_management == nm.backward.noise_management == "abs_max"
    with pytest.raises(ValueError, match="XX"):
        training.compensation_config({"XX"})


# --- CIFAR-10 on VGG-8 ------------------------------------------------------------------------


def small_cifar(n_train: int = 32, n_test: int = 16) -> rpusim.data.Cifar10:
    """Random images with labels a network can learn: the class sets the mean brightness."""
    rng = np.random.default_rng(3)
    labels = [rng.integers(0, 10, n) for n in (n_train, n_test)]
    images = [
        np.clip(rng.normal(25 * y[:, None, None, None], 20, (len(y), 32, 32, 3)), 0, 255).astype(
            np.uint8
        )
        for y in labels
    ]
    return rpusim.data.Cifar10(
        images[0], labels[0], images[1], labels[1], tuple("abcdefghij"), Path("none"), None
    )


def test_vgg8_layers_and_its_tiles() -> None:
    torch.manual_seed(0)
    assert training.vgg8()(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    runs = training.cifar_runs(["float", "all measures"], lr=0.05)
    assert [run.name for run in runs] == ["float", "all measures"]
    layers = list(rpusim.nn.analog_layers(runs[1].model))
    assert len(layers) == 8  # six convolutions and two linear layers; batch norm digital
    assert not list(rpusim.nn.analog_layers(runs[0].model))
    assert len(layers[6].tile.tiles) == 5  # 2304 inputs in arrays of at most 512
    with pytest.raises(ValueError, match="modes: unknown"):
        training.cifar_runs(["analog"], lr=0.05)


def test_a_few_vgg8_steps_on_analog_tiles_lower_the_loss() -> None:
    """On the real images when they are there, else on the stand-in."""
    try:
        cifar = rpusim.data.load_cifar10()
    except (rpusim.data.DatasetNotFoundError, ImportError):
        cifar = small_cifar()
    torch.manual_seed(1)
    images = cifar.train(augment=False)
    chosen = np.random.default_rng(0).permutation(len(images))[:16]
    x = torch.from_numpy(np.stack([images[int(i)][0] for i in chosen]))
    y = torch.tensor([images[int(i)][1] for i in chosen])
    run = training.cifar_runs(["all measures"], lr=0.05)[0]
    run.model.train()  # the loss of each step, in train mode (batch norm of the batch)
    losses = []
    for _ in range(8):
        run.optimizer.zero_grad()
        loss = nn.functional.cross_entropy(run.model(x), y)
        loss.backward()
        run.optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def shared_cifar_or_skip() -> rpusim.data.Cifar10:
    try:
        return rpusim.data.load_cifar10()
    except (rpusim.data.DatasetNotFoundError, ImportError) as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("source", ["stand-in", "CIFAR-10"])
def test_train_cifar_resumed_equals_uninterrupted(tmp_path: Path, source: str) -> None:
    """Two epochs in one go, and one epoch then a resumed second, end with the same bits: on
    the stand-in images, and on a subset of 8 / 4 images of the real file (two batches an
    epoch)."""
    data = small_cifar(n_train=8, n_test=4) if source == "stand-in" else shared_cifar_or_skip()
    settings = {
        "batch_size": 4,
        "seed": 2,
        "train_size": 8,
        "test_size": 4,
        "log": None,
        "disable": True,
    }

    def runs() -> list[training.Run]:
        torch.manual_seed(5)
        return training.cifar_runs(["float", "all measures"], lr=0.05)

    whole = training.train_cifar(runs(), data, epochs=2, checkpoint=tmp_path / "a.pt", **settings)
    first = training.train_cifar(runs(), data, epochs=1, checkpoint=tmp_path / "b.pt", **settings)
    assert len(first[1].accuracy) == 1
    resumed = training.train_cifar(
        runs(), data, epochs=2, checkpoint=tmp_path / "b.pt", resume=True, **settings
    )
    for a, b in zip(whole, resumed):
        assert a.accuracy == b.accuracy
        state_a, state_b = a.model.state_dict(), b.model.state_dict()
        assert state_a.keys() == state_b.keys()
        for key in state_a:
            if isinstance(state_a[key], torch.Tensor):
                assert torch.equal(state_a[key], state_b[key]), key
            else:
                assert state_a[key] == state_b[key], key
    with pytest.raises(ValueError, match="not of"):
        training.train_cifar(
            runs(),
            data,
            epochs=3,
            checkpoint=tmp_path / "b.pt",
            resume=True,
            **{**settings, "batch_size": 8},
        )

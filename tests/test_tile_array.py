"""Crossbar-sized tiles (MODEL.md section 3.5): a matrix larger than
``mapping.max_output_size x max_input_size`` is held by a grid of physical arrays, split as
aihwkit splits it, each with its own periphery, noise management and random streams."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rpusim  # noqa: E402
from rpusim import AnalogTile, RPUConfig, compensation, presets  # noqa: E402
from rpusim.data import DatasetNotFoundError, ImageDataset, load_mnist, load_war_and_peace  # noqa: E402
from rpusim.nn import AnalogConv2d, AnalogLinear, AnalogLSTM  # noqa: E402
from rpusim.optim import AnalogSGD  # noqa: E402
from torch import nn  # noqa: E402

pytestmark = pytest.mark.usefixtures("single_threaded")
"""One engine and one torch thread (conftest.py)."""


def split_config(max_out: int, max_in: int, base: RPUConfig | None = None) -> RPUConfig:
    config = RPUConfig() if base is None else base
    config.mapping.max_output_size = max_out
    config.mapping.max_input_size = max_in
    return config


def parts(size: int, limit: int) -> list[int]:
    """aihwkit's split: ceil(size / limit) parts, the first ``size mod parts`` one larger."""
    count = math.ceil(size / limit)
    return [size // count + (p < size % count) for p in range(count)]


def test_the_default_limits_split_as_aihwkit() -> None:
    tile = AnalogTile(600, 1100)
    assert RPUConfig().mapping.max_input_size == RPUConfig().mapping.max_output_size == 512
    arrays = tile.tiles
    assert len(arrays) == 2 * 3
    rows = sorted({(a.rows.start, a.rows.stop) for a in arrays})
    cols = sorted({(a.cols.start, a.cols.stop) for a in arrays})
    assert [b - a for a, b in rows] == parts(600, 512) == [300, 300]
    assert [b - a for a, b in cols] == parts(1100, 512) == [367, 367, 366]
    # Row-major over the grid; the first array keeps the tile's seed, the others differ.
    assert (arrays[1].rows, arrays[1].cols) == (range(0, 300), range(367, 734))
    assert arrays[0].seed == tile.seed
    assert len({a.seed for a in arrays}) == 6
    # Within the limits: one array, as before.
    assert len(AnalogTile(512, 512).tiles) == 1
    assert len(AnalogTile(600, 1100, split_config(0, 0)).tiles) == 1


def test_a_grid_is_its_arrays_built_by_hand(rng: np.random.Generator) -> None:
    """Same configuration and seeds by hand: the same bits in every operation."""
    out, inp, n = 70, 90, 6
    config = split_config(32, 40)
    config.mapping.weight_scaling_omega = 0.6
    tile = AnalogTile(out, inp, config, seed=5)
    w = rng.uniform(-0.1, 0.1, (out, inp)).astype(np.float32)
    tile.set_weights(w)
    arrays = tile.tiles
    assert len(arrays) == 3 * 3
    hand = []
    for a in arrays:
        t = AnalogTile(len(a.rows), len(a.cols), config, seed=a.seed)
        t.set_weights(
            np.ascontiguousarray(w[a.rows.start : a.rows.stop, a.cols.start : a.cols.stop])
        )
        np.testing.assert_array_equal(t.out_scales, a.out_scales)
        hand.append((a, t))
    for _ in range(2):
        x = rng.uniform(-1, 1, (n, inp)).astype(np.float32)
        d = rng.uniform(-0.1, 0.1, (n, out)).astype(np.float32)
        y, z = tile.forward(x), tile.backward(d)
        tile.update(x, d, 0.1)
        y_hand = np.zeros((n, out), np.float32)
        z_hand = np.zeros((n, inp), np.float32)
        for a, t in hand:
            xs = np.ascontiguousarray(x[:, a.cols.start : a.cols.stop])
            ds = np.ascontiguousarray(d[:, a.rows.start : a.rows.stop])
            # Summed in the order of the arrays, starting from the first (0 + v == v).
            y_hand[:, a.rows.start : a.rows.stop] += t.forward(xs)
            z_hand[:, a.cols.start : a.cols.stop] += t.backward(ds)
            t.update(xs, ds, 0.1)
        np.testing.assert_array_equal(y, y_hand)
        np.testing.assert_array_equal(z, z_hand)
        for a, t in hand:
            np.testing.assert_array_equal(a.get_weights(), t.get_weights())
            np.testing.assert_array_equal(
                a.get_weights(apply_weight_scaling=False), t.get_weights(False)
            )
            assert a.pulses == t.pulses > 0
            assert a.counters == t.counters == tile.counters
    assert tile.pulses == sum(t.pulses for _, t in hand)
    # The split inputs have no row scale of their own.
    with pytest.raises(ValueError, match="out_scales"):
        _ = tile.out_scales


def test_noise_management_acts_on_every_array() -> None:
    """abs_max NM scales every array's inputs by their own maximum: inputs 1000 times smaller
    than the largest of the matrix are lost by one 7-bit DAC but read by an array of their
    own."""
    inp = 64
    x = np.full((1, inp), 1e-3, np.float32)
    x[0, inp // 2 :] = 1.0
    w = np.zeros((4, inp), np.float32)
    w[:, : inp // 2] = 0.5  # only the small inputs reach the outputs
    outputs, exact = {}, {}
    for name, limit in (("one array", 0), ("split", inp // 2)):
        config = split_config(0, limit)
        config.forward.out_noise = 0.0
        tile = AnalogTile(4, inp, config)
        tile.set_weights(w)
        outputs[name] = tile.forward(x)[0]
        exact[name] = tile.get_weights() @ x[0]  # as programmed (the bounds clip some)
    np.testing.assert_array_equal(outputs["one array"], np.zeros(4, np.float32))
    assert exact["one array"].min() > 0.01
    np.testing.assert_allclose(outputs["split"], exact["split"], rtol=0.02)


def test_a_split_layer_with_perfect_io_and_float_update_is_torch() -> None:
    torch.manual_seed(0)
    config = split_config(100, 150, RPUConfig.floating_point())
    analog = AnalogLinear(400, 250, rpu_config=config)
    assert len(analog.tile.tiles) == 3 * 3
    digital = analog.to_digital()
    optimizers = (
        AnalogSGD(analog.parameters(), lr=0.1),
        torch.optim.SGD(digital.parameters(), lr=0.1),
    )
    target = torch.sin(torch.arange(8 * 250, dtype=torch.float32)).reshape(8, 250)
    for _ in range(3):
        x = torch.randn(8, 400)
        for model, optimizer in zip((analog, digital), optimizers):
            xs = x.clone().requires_grad_(True)
            y = model(xs)
            (y * target).sum().backward()  # d = target: in [-1, 1]
            optimizer.step()
            optimizer.zero_grad()
            if model is analog:
                y_analog, dx_analog = y.detach(), xs.grad
            else:
                torch.testing.assert_close(y_analog, y.detach(), rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(dx_analog, xs.grad, rtol=1e-5, atol=1e-5)
    after = analog.to_digital().state_dict()
    for name, value in digital.state_dict().items():
        torch.testing.assert_close(after[name], value, rtol=1e-5, atol=1e-6)


def test_a_grid_saves_loads_and_continues(rng: np.random.Generator) -> None:
    config = split_config(16, 24, presets.paper_baseline())
    tile = AnalogTile(40, 50, config, seed=3)
    tile.set_weights(rng.uniform(-0.2, 0.2, (40, 50)).astype(np.float32))
    x = rng.uniform(-1, 1, (4, 50)).astype(np.float32)
    d = rng.uniform(-0.1, 0.1, (4, 40)).astype(np.float32)
    tile.update(x, d, 0.1)
    copies = [
        AnalogTile.from_bytes(tile.to_bytes()),
        pickle.loads(pickle.dumps(tile)),
    ]
    loaded = AnalogTile(40, 50, config, seed=99)
    loaded.load_state_dict(tile.state_dict())
    copies.append(loaded)
    tile.update(x, d, 0.1)
    expected = tile.forward(x), tile.to_bytes()
    for copy in copies:
        assert len(copy.tiles) == len(tile.tiles) == 3 * 3
        copy.update(x, d, 0.1)
        np.testing.assert_array_equal(copy.forward(x), expected[0])
        assert copy.to_bytes() == expected[1]
    # A grid cannot be loaded into a tile of another size.
    with pytest.raises(ValueError, match="40 x 50"):
        AnalogTile(40, 51, config).load_state_dict(tile.state_dict())


def test_compensation_switches_reach_every_array() -> None:
    model = nn.Sequential(AnalogLinear(600, 20, rpu_config=presets.paper_baseline()))
    tile = model[0].tile
    assert len(tile.tiles) == 2
    compensation.set_noise_management(model, "none")
    assert tile.rpu_config.forward.noise_management == "none"
    compensation.set_weight_scaling(model, 0.6)
    compensation.remap_weights(model)
    for array in tile.tiles:
        assert abs(float(np.abs(array.get_weights(apply_weight_scaling=False)).max()) - 0.6) < 0.2
    # The split of a live tile is fixed: assigning to the tile's configuration raises.
    config = tile.rpu_config
    with pytest.raises(rpusim.ConfigError, match="split"):
        config.mapping.max_input_size = 0
    assert config.mapping.max_input_size == tile.rpu_config.mapping.max_input_size == 512
    with pytest.raises(rpusim.ConfigError, match="split"):
        tile.rpu_config = dataclasses.replace(
            config, mapping=rpusim.MappingParameters(max_input_size=0)
        )


def mnist_subset(n_train: int, n_test: int) -> ImageDataset:
    try:
        return load_mnist().subset(n_train, n_test)
    except DatasetNotFoundError as e:
        pytest.skip(str(e))


def test_a_split_conv_layer_learns_mnist() -> None:
    """A conv net whose layers are split over 2 x 2 and 2 x 5 arrays (observed: 0.86 after
    one epoch on 2000 images)."""
    data = mnist_subset(2000, 500)
    config = split_config(8, 16, presets.paper_baseline())
    torch.manual_seed(0)
    model = nn.Sequential(
        AnalogConv2d(1, 16, 5, stride=2, rpu_config=config),  # 16 x 25: 2 x 2 arrays
        nn.Tanh(),
        nn.Flatten(),
        AnalogLinear(16 * 12 * 12, 10, rpu_config=split_config(8, 512, presets.paper_baseline())),
    )
    assert len(model[0].tile.tiles) == 2 * 2
    assert len(model[3].tile.tiles) == 2 * 5
    x = torch.from_numpy(data.train_images).reshape(-1, 1, 28, 28)
    labels = torch.from_numpy(data.train_labels)
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    for start in range(0, len(x), 10):
        optimizer.zero_grad()
        nn.functional.cross_entropy(
            model(x[start : start + 10]), labels[start : start + 10]
        ).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.test_images).reshape(-1, 1, 28, 28)).argmax(1)
    accuracy = float((predicted == torch.from_numpy(data.test_labels)).float().mean())
    assert accuracy > 0.7


def test_a_split_lstm_learns_war_and_peace() -> None:
    """Next-character prediction with the gates (128 x (vocabulary + 32)) on 2 x 2 arrays: the
    loss falls well below that of a uniform guess within 200 steps (observed: from 4.35 to
    3.15 nats, uniform 4.41)."""
    try:
        corpus = load_war_and_peace()
    except DatasetNotFoundError as e:
        pytest.skip(str(e))
    vocabulary = len(corpus.vocabulary)
    config = split_config(64, 80, presets.paper_baseline())
    torch.manual_seed(0)
    lstm = AnalogLSTM(vocabulary, 32, rpu_config=config)
    head = AnalogLinear(32, vocabulary, rpu_config=config)
    assert len(lstm.gates[0].tile.tiles) == 2 * len(parts(vocabulary + 32, 80))
    params = list(lstm.parameters()) + list(head.parameters())
    optimizer = AnalogSGD(params, lr=0.5)
    text = torch.from_numpy(corpus.train[: 200 * 16 * 21].copy()).reshape(200, 16, 21)
    losses = []
    for chunk in text:
        inputs = nn.functional.one_hot(chunk[:, :-1].T, vocabulary).float()  # (seq, batch, V)
        outputs, _ = lstm(inputs)
        loss = nn.functional.cross_entropy(
            head(outputs).reshape(-1, vocabulary), chunk[:, 1:].T.reshape(-1)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-20:]) < 0.8 * math.log(vocabulary)

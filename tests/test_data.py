"""The data loaders: where they look, the formats they read, and the errors they give."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import write_cifar_npz
from rpusim import data
from rpusim.data import DATA_DIR_VARIABLE, DatasetNotFoundError


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """``array`` (unsigned bytes) as an IDX file, gzipped as MNIST is distributed."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    content = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(content))
    else:
        path.write_bytes(content)


def fake_mnist(folder: Path, n_train: int = 5, n_test: int = 3, compress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28))
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)


def test_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path / "from_env"))
    assert data.find_data_dir(tmp_path / "given") == tmp_path / "given"
    assert data.find_data_dir() == tmp_path / "from_env"
    monkeypatch.delenv(DATA_DIR_VARIABLE)
    assert data.find_data_dir().parts[-2:] == ("shared", "datasets")


def test_mnist_from_gzipped_idx(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    mnist = data.load_mnist(tmp_path)
    assert mnist.train_images.shape == (5, 28, 28) and mnist.test_images.shape == (3, 28, 28)
    assert mnist.train_images.dtype == np.float32 and mnist.train_labels.dtype == np.int64
    assert mnist.train_images.min() >= 0 and mnist.train_images.max() <= 1
    assert mnist.test_labels.tolist() == [0, 1, 2]
    subset = mnist.subset(2, 1)
    assert len(subset.train_images) == 2 and len(subset.test_labels) == 1


def test_mnist_files_directly_in_the_directory_and_uncompressed(tmp_path: Path) -> None:
    fake_mnist(tmp_path, compress=False)
    assert len(data.load_mnist(tmp_path).train_labels) == 5


def test_missing_data_says_where_to_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"mnist.*RPUSIM_DATA") as error:
        data.load_mnist(tmp_path)
    assert str(tmp_path / "mnist") in str(error.value)
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match=r"warpeace_input\.txt\.gz"):
        data.load_war_and_peace()
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


def test_broken_idx_file_is_an_error(tmp_path: Path) -> None:
    fake_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2])))
    with pytest.raises(ValueError, match="header says"):
        data.load_mnist(tmp_path)


def test_war_and_peace_characters(tmp_path: Path) -> None:
    text = "\ufeff" + "Well, Prince,\r\nso Genoa\rand Lucca." * 10
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "warpeace_input.txt.gz").write_bytes(gzip.compress(text.encode()))
    corpus = data.load_war_and_peace(tmp_path, test_fraction=0.2)
    clean = "Well, Prince,\nso Genoa\nand Lucca." * 10
    assert corpus.vocabulary == "".join(sorted(set(clean)))
    assert corpus.decode(np.concatenate([corpus.train, corpus.test])) == clean
    assert len(corpus.test) == round(0.2 * len(clean))
    assert corpus.encode("Lucca").tolist() == [corpus.vocabulary.index(c) for c in "Lucca"]
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_war_and_peace(tmp_path, test_fraction=1.0)


def test_digits_fallback() -> None:
    pytest.importorskip("sklearn")
    digits = data.load_digits()
    assert digits.train_images.shape == (1347, 8, 8) and digits.test_images.shape == (450, 8, 8)
    assert digits.train_images.max() == 1.0 and set(digits.test_labels.tolist()) == set(range(10))


def test_shared_data_sets_when_present() -> None:
    """The real files in ../shared/datasets (or $RPUSIM_DATA), when they are there."""
    try:
        mnist = data.load_mnist()
        corpus = data.load_war_and_peace()
    except DatasetNotFoundError as e:
        pytest.skip(str(e))
    assert mnist.train_images.shape == (60000, 28, 28)
    assert mnist.test_images.shape == (10000, 28, 28)
    assert np.bincount(mnist.test_labels).tolist()[:2] == [980, 1135]
    assert len(corpus.vocabulary) < 100 and "\r" not in corpus.vocabulary
    assert corpus.decode(corpus.train[:14]) == '"Well, Prince,'


def test_loaders_need_no_torch() -> None:
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "import rpusim\n"
        "assert rpusim.data.load_digits is not None and rpusim.data.find_data_dir().name\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_text_file_split_90_10_with_its_vocabulary(tmp_path: Path) -> None:
    text = "".join(f"line {i:02d}: brown fox".ljust(24) + "\n" for i in range(40))  # 40 x 25
    path = tmp_path / "fox.txt"
    path.write_text(text, encoding="utf-8")
    corpus = data.load_text(path)
    assert corpus.name == "fox.txt" and corpus.path == path
    assert corpus.vocabulary == "".join(sorted(set(text)))
    assert len(text) == 1000 and (len(corpus.train), len(corpus.test)) == (900, 100)
    assert corpus.decode(corpus.train) == text[: len(corpus.train)]
    assert corpus.decode(corpus.test) == text[len(corpus.train) :]
    assert data.load_text(path, "Fox", test_fraction=0.25).name == "Fox"
    assert len(data.load_text(path, test_fraction=0.25).test) == 250


def test_text_file_gzipped_or_not_with_bom_and_carriage_returns(tmp_path: Path) -> None:
    raw = "\ufeff" + "Grüße aus Köln\r\nund 東京\rnach Zürich. " * 5
    clean = "Grüße aus Köln\nund 東京\nnach Zürich. " * 5
    plain, packed = tmp_path / "tale.txt", tmp_path / "tale.gz"
    plain.write_bytes(raw.encode("utf-8"))
    packed.write_bytes(gzip.compress(raw.encode("utf-8")))
    for path in (plain, packed):
        corpus = data.load_text(path)
        assert corpus.decode(np.concatenate([corpus.train, corpus.test])) == clean
        assert "\r" not in corpus.vocabulary and "\ufeff" not in corpus.vocabulary


def test_text_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        data.load_text(tmp_path / "missing.txt")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Fran\xe7ais".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.txt: not UTF-8"):
        data.load_text(latin1)
    short = tmp_path / "short.txt"
    short.write_text("a")
    with pytest.raises(ValueError, match=r"short\.txt: 1 characters are too few"):
        data.load_text(short)
    with pytest.raises(ValueError, match="test_fraction"):
        data.load_text(latin1, test_fraction=0.0)


def test_war_and_peace_is_read_by_load_text(tmp_path: Path) -> None:
    """The book's loader is load_text on its file, also when the file is not gzipped."""
    (tmp_path / "text").mkdir()
    path = tmp_path / "text" / "warpeace_input.txt"
    path.write_text("Well, Prince, so Genoa and Lucca are now just family estates. " * 3)
    corpus = data.load_war_and_peace(tmp_path)
    same = data.load_text(path, "War and Peace")
    assert (corpus.name, corpus.vocabulary, corpus.path) == (same.name, same.vocabulary, path)
    np.testing.assert_array_equal(corpus.train, same.train)
    np.testing.assert_array_equal(corpus.test, same.test)


# --- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_decoded_once_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PIL")
    written = write_cifar_npz(tmp_path / "data" / "cifar10" / "cifar10_jpeg.npz")
    cifar = data.load_cifar10(tmp_path / "data", cache_dir=tmp_path / "cache")
    assert np.array_equal(cifar.train_images, written["train"])
    assert np.array_equal(cifar.test_images, written["test"])
    assert cifar.train_labels.tolist() == written["train_labels"].tolist()
    assert (
        cifar.classes[3] == "class3"
        and cifar.cache == tmp_path / "cache" / "cifar10_decoded_v1.npz"
    )

    def no_decoding(source: Path) -> None:
        raise AssertionError(f"decoded {source} again")

    monkeypatch.setattr(data, "_decode_cifar10", no_decoding)
    again = data.load_cifar10(tmp_path / "data", cache_dir=tmp_path / "cache")  # from the cache
    assert np.array_equal(again.train_images, cifar.train_images)
    monkeypatch.setenv(data.CACHE_DIR_VARIABLE, str(tmp_path / "cache"))
    assert data.load_cifar10(tmp_path / "data").cache == cifar.cache  # $RPUSIM_CACHE
    source = tmp_path / "data" / "cifar10" / "cifar10_jpeg.npz"
    os.utime(source, ns=(1, 1))  # a changed source is decoded anew
    with pytest.raises(AssertionError, match="decoded"):
        data.load_cifar10(tmp_path / "data")


def test_cifar10_cache_beside_the_data_and_a_corrupt_cache_is_redone(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    write_cifar_npz(tmp_path / "cifar10" / "cifar10_jpeg.npz")
    cache = tmp_path / "cifar10" / "cifar10_decoded_v1.npz"
    assert data.load_cifar10(tmp_path).cache == cache
    cache.write_bytes(b"not an npz")
    assert data.load_cifar10(tmp_path).train_images.shape == (6, 32, 32, 3)
    assert np.load(cache)["train_images"].shape == (6, 32, 32, 3)


def put_it_in(folder: Path) -> str:
    """The pattern of the advice in an error: where to put the file."""
    return re.escape(f"put cifar10_jpeg.npz in {folder}, or pass the data directory")


def test_cifar10_missing_or_corrupt_says_where_and_what(tmp_path: Path) -> None:
    folder = tmp_path / "cifar10"
    with pytest.raises(DatasetNotFoundError, match=r"cifar10_jpeg\.npz is missing; put"):
        data.load_cifar10(tmp_path)
    with pytest.raises(DatasetNotFoundError, match=put_it_in(folder)):
        data.load_cifar10(tmp_path)
    source = folder / "cifar10_jpeg.npz"
    folder.mkdir()
    source.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cifar10_jpeg\.npz: not a readable npz") as error:
        data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    assert re.search(put_it_in(folder), str(error.value))
    pytest.importorskip("PIL")
    written = write_cifar_npz(source)
    np.savez(source, **{**written, "test_offsets": written["test_offsets"][:-1]})
    with pytest.raises(ValueError, match="test_offsets do not split test_jpeg into 3 images"):
        data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    jpeg = written["train_jpeg"].copy()
    jpeg[: written["train_offsets"][1]] = 0  # the first image's bytes
    np.savez(source, **{**written, "train_jpeg": jpeg})
    with pytest.raises(ValueError, match="train image 0 is not a readable JPEG") as error:
        data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    assert re.search(put_it_in(folder), str(error.value))
    np.savez(source, **{**written, "test_labels": written["test_labels"] + 10})
    with pytest.raises(ValueError, match=r"test_labels outside \[0, 10\); " + put_it_in(folder)):
        data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")


def cifar_images(augment: bool, n: int = 4) -> data.CifarImages:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return data.CifarImages(images, np.arange(n) % 10, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3], augment)


def test_cifar_images_normalised_channel_first() -> None:
    images = cifar_images(augment=False)
    x, y = images[2]
    expected = (images.images[2].transpose(2, 0, 1) / 255 - [[[0.5]], [[0.4]], [[0.3]]]) / [
        [[0.2]],
        [[0.25]],
        [[0.3]],
    ]
    assert x.dtype == np.float32 and x.shape == (3, 32, 32) and y == 2
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(IndexError):
        images[4]


def test_cifar_augmentation_crops_with_padding_4_and_flips_half() -> None:
    images = cifar_images(augment=True, n=1)
    plain = cifar_images(augment=False, n=1)[0][0]
    zero = -np.array([0.5, 0.4, 0.3]) / np.array([0.2, 0.25, 0.3])  # a black pixel, normalised
    padded = np.broadcast_to(zero.reshape(3, 1, 1), (3, 40, 40)).astype(np.float32).copy()
    padded[:, 4:36, 4:36] = plain
    crops = {
        (top, left, flip): crop[:, :, ::-1] if flip else crop
        for top in range(9)
        for left in range(9)
        for flip in (False, True)
        for crop in [padded[:, top : top + 32, left : left + 32]]
    }
    seen, flips = set(), 0
    for epoch in range(1200):
        images.set_epoch(epoch)
        x = images[0][0]
        matches = [key for key, crop in crops.items() if np.allclose(x, crop, atol=1e-5)]
        assert matches, f"epoch {epoch}: not a crop of the padded image"
        seen.add(matches[0][:2])
        flips += matches[0][2]
    assert len(seen) == 81  # every offset of 0..8 in both directions
    assert abs(flips / 1200 - 0.5) < 4 * 0.5 / np.sqrt(1200)


def test_cifar_augmentation_depends_on_seed_epoch_index_not_on_workers() -> None:
    torch = pytest.importorskip("torch")
    images = cifar_images(augment=True, n=8)
    images.set_epoch(3)
    first = np.stack([images[i][0] for i in range(8)])
    assert np.array_equal(first, np.stack([images[i][0] for i in range(8)]))
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(images, batch_size=3, num_workers=workers)
        batches = torch.cat([x for x, _ in loader])
        assert np.array_equal(batches.numpy(), first)
    images.set_epoch(4)
    assert not np.array_equal(np.stack([images[i][0] for i in range(8)]), first)


def shared_cifar10() -> data.Cifar10:
    """The real file in ../shared/datasets (or $RPUSIM_DATA), decoded into the user's cache
    (the first call decodes it: some tens of seconds); skips without it."""
    pytest.importorskip("PIL")
    try:
        return data.load_cifar10()
    except DatasetNotFoundError as e:
        pytest.skip(str(e))


def test_shared_cifar10_when_present() -> None:
    cifar = shared_cifar10()
    assert cifar.train_images.shape == (50000, 32, 32, 3)
    assert cifar.test_images.shape == (10000, 32, 32, 3)
    assert cifar.train_images.dtype == np.uint8 and cifar.train_labels.dtype == np.int64
    assert np.bincount(cifar.train_labels).tolist() == [5000] * 10
    assert np.bincount(cifar.test_labels).tolist() == [1000] * 10
    assert cifar.classes[:2] == ("airplane", "automobile") and len(cifar.classes) == 10
    assert np.all(np.abs(cifar.mean - [0.491, 0.482, 0.447]) < 0.01)
    assert cifar.cache is not None and cifar.cache.is_file()


def test_shared_cifar10_images_are_what_pillow_decodes() -> None:
    from PIL import Image

    cifar = shared_cifar10()
    with np.load(cifar.source) as packed:
        for split, images, labels in (
            ("train", cifar.train_images, cifar.train_labels),
            ("test", cifar.test_images, cifar.test_labels),
        ):
            jpeg, offsets = packed[f"{split}_jpeg"], packed[f"{split}_offsets"]
            for i in (0, 1234, len(labels) - 1):
                blob = jpeg[offsets[i] : offsets[i + 1]].tobytes()
                with Image.open(io.BytesIO(blob)) as image:
                    assert image.format == "JPEG"
                    expected = np.asarray(image.convert("RGB"))
                assert np.array_equal(images[i], expected), (split, i)
                assert labels[i] == packed[f"{split}_labels"][i]


def test_shared_cifar10_cache_is_read_on_a_second_call(monkeypatch: pytest.MonkeyPatch) -> None:
    first = shared_cifar10()

    def no_decoding(source: Path) -> None:
        raise AssertionError(f"decoded {source} again")

    monkeypatch.setattr(data, "_decode_cifar10", no_decoding)
    second = data.load_cifar10()
    assert second.cache == first.cache
    assert np.array_equal(second.train_images, first.train_images)
    assert np.array_equal(second.test_labels, first.test_labels)


@pytest.mark.parametrize("damage", ["truncated", "flipped_byte"])
def test_shared_cifar10_corrupt_copy_is_refused_with_where_to_put_it(
    tmp_path: Path, damage: str
) -> None:
    """A copy of the real file cut in half, or with one byte of its JPEG data changed (the
    zip's checksum catches it), is refused with the advice where to put a good one."""
    raw = bytearray(shared_cifar10().source.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / "cifar10_jpeg.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"cifar10_jpeg\.npz: not a readable npz") as error:
        data.load_cifar10(tmp_path, cache_dir=tmp_path / "cache")
    assert re.search(put_it_in(folder), str(error.value))
    assert not (tmp_path / "cache").exists()  # nothing cached from a refused file

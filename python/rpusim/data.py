"""Loaders for the real data sets of the examples and tests.

* :func:`load_mnist`: MNIST, the four original gzipped IDX files in ``<data dir>/mnist/``;
* :func:`load_text`: any text file (gzipped or not) as characters, split 90/10;
* :func:`load_war_and_peace`: War and Peace as characters,
  ``<data dir>/text/warpeace_input.txt.gz``;
* :func:`load_digits`: scikit-learn's bundled 8x8 digits, the offline fallback (no files).

The data directory is, in this order: the ``data_dir`` argument (the examples' ``--data-dir``),
the environment variable ``RPUSIM_DATA``, or ``../shared/datasets`` beside the repository root
(found from this file in a source checkout, else from the current directory). A missing data
set raises :class:`DatasetNotFoundError`, whose message says where to put it. Loading is fast
enough (about 0.3 s for MNIST) that nothing is cached.

Needs numpy only (and scikit-learn for :func:`load_digits`).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "DATA_DIR_VARIABLE",
    "CharCorpus",
    "DatasetNotFoundError",
    "ImageDataset",
    "find_data_dir",
    "load_digits",
    "load_mnist",
    "load_text",
    "load_war_and_peace",
]

DATA_DIR_VARIABLE = "RPUSIM_DATA"
"""The environment variable that names the data directory."""

PathLike = Union[str, "os.PathLike[str]"]

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_WAR_AND_PEACE = Path("text", "warpeace_input.txt.gz")


class DatasetNotFoundError(FileNotFoundError):
    """A data set's files are not where the loader looked; the message says where to put
    them."""


@dataclass(frozen=True)
class ImageDataset:
    """Images for classification, split into training and test sets."""

    name: str
    train_images: npt.NDArray[np.float32]
    """``(n_train, height, width)``, float32 in ``[0, 1]``."""
    train_labels: npt.NDArray[np.int64]
    """``(n_train,)``, the class of each image, in ``[0, num_classes)``."""
    test_images: npt.NDArray[np.float32]
    """``(n_test, height, width)``, float32 in ``[0, 1]``."""
    test_labels: npt.NDArray[np.int64]
    """``(n_test,)``."""
    num_classes: int = 10

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> ImageDataset:
        """The first ``n_train`` training and ``n_test`` test images (``None``: all)."""
        return ImageDataset(
            f"{self.name} (subset)" if (n_train, n_test) != (None, None) else self.name,
            self.train_images[:n_train],
            self.train_labels[:n_train],
            self.test_images[:n_test],
            self.test_labels[:n_test],
            self.num_classes,
        )


@dataclass(frozen=True)
class CharCorpus:
    """A text as character indices, split into a training and a test part."""

    name: str
    vocabulary: str
    """Every distinct character of the whole text, sorted; a character's index is its code."""
    train: npt.NDArray[np.int64]
    """The first part of the text, as indices into ``vocabulary``."""
    test: npt.NDArray[np.int64]
    """The rest of the text, as indices into ``vocabulary``."""
    path: Path | None = None
    """The file the text was read from."""

    def encode(self, text: str) -> npt.NDArray[np.int64]:
        """``text`` as indices; ``KeyError`` for a character outside the vocabulary."""
        index = {c: i for i, c in enumerate(self.vocabulary)}
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, indices: npt.ArrayLike) -> str:
        """The text of a sequence of indices."""
        return "".join(self.vocabulary[int(i)] for i in np.asarray(indices).ravel())


def _default_data_dirs() -> list[Path]:
    """``../shared/datasets`` beside the repository root: found from this file in a source
    checkout (``python/rpusim/data.py``), and from the current directory."""
    dirs = []
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file():
        dirs.append(root.parent / "shared" / "datasets")
    dirs.append(Path.cwd().parent / "shared" / "datasets")
    return dirs


def find_data_dir(data_dir: PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` when given, else ``$RPUSIM_DATA`` when set, else the
    first existing ``../shared/datasets`` beside the repository root or the current directory
    (the first candidate when none exists, so that errors name it)."""
    if data_dir is not None:
        return Path(data_dir)
    from_env = os.environ.get(DATA_DIR_VARIABLE)
    if from_env:
        return Path(from_env)
    candidates = _default_data_dirs()
    return next((d for d in candidates if d.is_dir()), candidates[0])


def _where_to_put(what: str, place: str) -> str:
    return (
        f"put {what} in {place}, or pass the data directory (--data-dir in the examples) or set "
        f"{DATA_DIR_VARIABLE} to a directory that holds it"
    )


def _open_maybe_gzipped(path: Path) -> bytes | None:
    """The bytes of ``path.gz`` (decompressed) or of ``path``, or ``None`` if neither exists."""
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        with gzip.open(gz, "rb") as f:
            return f.read()
    if path.is_file():
        return path.read_bytes()
    return None


def _parse_idx(data: bytes, source: str, dims: int) -> npt.NDArray[np.uint8]:
    """An IDX array of unsigned bytes with ``dims`` dimensions (the format of the MNIST
    files: magic ``0x0000 08 dims``, big-endian sizes, then the data)."""
    header = 4 + 4 * dims
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise ValueError(f"{source}: not an IDX file of {dims}-D unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(data) != header + int(np.prod(shape)):
        raise ValueError(
            f"{source}: the header says {shape}, i.e. {int(np.prod(shape))} bytes of data, "
            f"but the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_mnist(data_dir: PathLike | None = None) -> ImageDataset:
    """MNIST: 60 000 training and 10 000 test images, 28x28, float32 in ``[0, 1]``.

    Reads the four original IDX files (gzipped, as distributed, or not) from
    ``<data dir>/mnist/`` (or from the data directory itself when it holds them directly).

    Raises:
        DatasetNotFoundError: a file is missing (the message says where to put it).
        ValueError: a file is not the IDX array it should be.
    """
    root = find_data_dir(data_dir)
    first = _MNIST_FILES["train_images"]
    holds_mnist = [f for f in (root / "mnist", root) if any(f.glob(first + "*"))]
    folder = holds_mnist[0] if holds_mnist else root / "mnist"
    arrays = {}
    for key, name in _MNIST_FILES.items():
        data = _open_maybe_gzipped(folder / name)
        if data is None:
            files = ", ".join(n + ".gz" for n in _MNIST_FILES.values())
            raise DatasetNotFoundError(
                f"MNIST not found: {folder / name}.gz is missing; "
                + _where_to_put(f"the four files {files}", str(folder))
            )
        arrays[key] = _parse_idx(data, str(folder / name), 3 if key.endswith("images") else 1)
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise ValueError(f"MNIST in {folder}: the {split} images and labels differ in number")
    return ImageDataset(
        "MNIST",
        (arrays["train_images"] / np.float32(255)).astype(np.float32),
        arrays["train_labels"].astype(np.int64),
        (arrays["test_images"] / np.float32(255)).astype(np.float32),
        arrays["test_labels"].astype(np.int64),
    )


def load_text(path: PathLike, name: str | None = None, test_fraction: float = 0.1) -> CharCorpus:
    """A UTF-8 text file (gzipped or not) as characters: the first ``1 - test_fraction`` of the
    text is the training part, the rest the test part. The vocabulary is every character of
    the whole text.

    A leading byte-order mark is dropped and ``\\r\\n`` and ``\\r`` line breaks become ``\\n``.

    Args:
        path: the file; read as gzip when it starts with gzip's magic bytes.
        name: the corpus's name for messages (default: the file's name).
        test_fraction: the share of the test part, in ``(0, 1)``.

    Raises:
        FileNotFoundError: there is no file ``path``.
        ValueError: the file is not UTF-8 text, or too short to give both parts a character.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    split = round(len(text) * (1 - test_fraction))
    if not 0 < split < len(text):
        raise ValueError(
            f"{path}: {len(text)} characters are too few to split into a training and a test "
            f"part (test_fraction {test_fraction})"
        )
    vocabulary = "".join(sorted(set(text)))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    lookup = np.zeros(max(map(ord, vocabulary)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in vocabulary]] = np.arange(len(vocabulary))
    indices = lookup[codes]
    return CharCorpus(
        path.name if name is None else name, vocabulary, indices[:split], indices[split:], path
    )


def load_war_and_peace(data_dir: PathLike | None = None, test_fraction: float = 0.1) -> CharCorpus:
    """War and Peace (the classic char-RNN file) as characters, read by :func:`load_text`:
    the first ``1 - test_fraction`` of the text is the training part, the rest the test part.

    Raises:
        DatasetNotFoundError: ``<data dir>/text/warpeace_input.txt.gz`` is missing (or
            ``warpeace_input.txt``, which is read when there is no gzipped file).
    """
    path = find_data_dir(data_dir) / _WAR_AND_PEACE
    found = [p for p in (path, path.with_suffix("")) if p.is_file()]
    if not found:
        raise DatasetNotFoundError(
            f"War and Peace not found: {path} is missing; "
            + _where_to_put("warpeace_input.txt.gz", str(path.parent))
        )
    return load_text(found[0], "War and Peace", test_fraction)


def load_digits() -> ImageDataset:
    """scikit-learn's bundled handwritten digits (1797 images, 8x8, float32 in ``[0, 1]``), in
    a fixed stratified split of 1347 training and 450 test images. Needs no files: the offline
    fallback when MNIST is missing."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits  # type: ignore[import-untyped]
        from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    except ImportError:
        raise DatasetNotFoundError(
            "the bundled digits need scikit-learn: pip install scikit-learn"
        ) from None
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=450, random_state=0, stratify=labels
    )
    return ImageDataset("scikit-learn digits", x_train, y_train, x_test, y_test)

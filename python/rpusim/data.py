"""Loaders for the real data sets of the examples and tests.

* :func:`load_mnist`: MNIST, the four original gzipped IDX files in ``<data dir>/mnist/``;
* :func:`load_text`: any text file (gzipped or not) as characters, split 90/10;
* :func:`load_war_and_peace`: War and Peace as characters,
  ``<data dir>/text/warpeace_input.txt.gz``;
* :func:`load_cifar10`: CIFAR-10, 32x32 colour images from JPEG bytes in one npz
  (``<data dir>/cifar10/cifar10_jpeg.npz``), decoded once with Pillow and cached;
  :class:`CifarImages` serves a split with augmentation to a torch ``DataLoader``;
* :func:`load_digits`: scikit-learn's bundled 8x8 digits, the offline fallback (no files).

The data directory is, in this order: the ``data_dir`` argument (the examples' ``--data-dir``),
the environment variable ``RPUSIM_DATA``, or ``../shared/datasets`` beside the repository root
(found from this file in a source checkout, else from the current directory). A missing data
set raises :class:`DatasetNotFoundError`, whose message says where to put it. Loading MNIST is
fast enough (about 0.3 s) that nothing is cached; CIFAR-10's decoded images are (see
:func:`load_cifar10`).

Needs numpy only (Pillow to decode CIFAR-10, scikit-learn for :func:`load_digits`).
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import numpy.typing as npt

__all__ = [
    "CACHE_DIR_VARIABLE",
    "DATA_DIR_VARIABLE",
    "CharCorpus",
    "Cifar10",
    "CifarImages",
    "DatasetNotFoundError",
    "ImageDataset",
    "find_data_dir",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_text",
    "load_war_and_peace",
]

DATA_DIR_VARIABLE = "RPUSIM_DATA"
"""The environment variable that names the data directory."""

CACHE_DIR_VARIABLE = "RPUSIM_CACHE"
"""The environment variable that names the cache directory of decoded data sets."""

PathLike = Union[str, "os.PathLike[str]"]

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_WAR_AND_PEACE = Path("text", "warpeace_input.txt.gz")
_CIFAR10 = Path("cifar10", "cifar10_jpeg.npz")
# The decoded arrays' file; the version changes when what is cached changes.
_CIFAR10_CACHE = "cifar10_decoded_v1.npz"


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


@dataclass(frozen=True)
class Cifar10:
    """CIFAR-10 decoded: 50 000 training and 10 000 test images, 32x32 RGB, in the order of the
    file (the shared file holds them sorted by class: take subsets at random)."""

    train_images: npt.NDArray[np.uint8]
    """``(50000, 32, 32, 3)``, uint8 (height, width, channel)."""
    train_labels: npt.NDArray[np.int64]
    """``(50000,)``, the class of each image, in ``[0, 10)``."""
    test_images: npt.NDArray[np.uint8]
    """``(10000, 32, 32, 3)``, uint8."""
    test_labels: npt.NDArray[np.int64]
    """``(10000,)``."""
    classes: tuple[str, ...]
    """The class names, by label."""
    source: Path
    """The npz of JPEG bytes the images were decoded from."""
    cache: Path | None
    """The file of decoded arrays that was read or written (``None``: none could be written)."""

    @property
    def mean(self) -> npt.NDArray[np.float32]:
        """The per-channel mean of the training images, in ``[0, 1]``: ``(3,)``."""
        mean: npt.NDArray[np.float32] = (self.train_images.mean(axis=(0, 1, 2)) / 255).astype(
            np.float32
        )
        return mean

    @property
    def std(self) -> npt.NDArray[np.float32]:
        """The per-channel standard deviation of the training images, in ``[0, 1]``."""
        std: npt.NDArray[np.float32] = (self.train_images.std(axis=(0, 1, 2)) / 255).astype(
            np.float32
        )
        return std

    def train(self, augment: bool = True, seed: int = 0) -> CifarImages:
        """The training split, normalised with the training set's statistics; ``augment``:
        random crops with padding 4 and horizontal flips."""
        return CifarImages(self.train_images, self.train_labels, self.mean, self.std, augment, seed)

    def test(self) -> CifarImages:
        """The test split, normalised with the training set's statistics, not augmented."""
        return CifarImages(self.test_images, self.test_labels, self.mean, self.std, False)


class CifarImages:
    """One split of CIFAR-10 as a map-style dataset for ``torch.utils.data.DataLoader`` (with
    any number of workers): item ``i`` is ``(image, label)``, the image float32
    ``(3, 32, 32)`` (channel first, as torch's convolutions take it), normalised per channel
    (``(x / 255 - mean) / std``).

    With ``augment``, each image is first cropped at a random offset from the image padded by 4
    zeros on each side, and flipped horizontally with probability 1/2 (the standard CIFAR
    augmentation). The draws depend only on ``(seed, epoch, i)``, not on the worker that loads
    the item or the order of loading: call :meth:`set_epoch` at the start of every epoch for
    new draws, as with torch's ``DistributedSampler``; a resumed run that sets the same epoch
    gets the same images.

    Args:
        images: ``(n, 32, 32, 3)`` uint8.
        labels: ``(n,)`` int64.
        mean: ``(3,)``, per-channel mean in ``[0, 1]``.
        std: ``(3,)``, per-channel standard deviation in ``[0, 1]``.
        augment: crop and flip at random.
        seed: the seed of the augmentation draws.
    """

    padding = 4
    """Zeros on each side of an image before the random crop (pixels)."""

    def __init__(
        self,
        images: npt.NDArray[np.uint8],
        labels: npt.NDArray[np.int64],
        mean: npt.ArrayLike,
        std: npt.ArrayLike,
        augment: bool,
        seed: int = 0,
    ) -> None:
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
            raise ValueError(
                f"images: expected (n, 32, 32, 3) uint8, got {images.shape} {images.dtype}"
            )
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {labels.shape}")
        self.images = images
        self.labels = labels
        self.scale = (1 / (255 * np.asarray(std, dtype=np.float32))).reshape(3, 1, 1)
        self.shift = (
            np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)
        ).reshape(3, 1, 1)
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose augmentation draws the items take."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[npt.NDArray[np.float32], int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        image = self.images[i].transpose(2, 0, 1)  # (3, 32, 32)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i % len(self)])
            top, left = rng.integers(0, 2 * self.padding + 1, size=2)
            p = self.padding
            padded = np.zeros((3, 32 + 2 * p, 32 + 2 * p), dtype=np.uint8)
            padded[:, p:-p, p:-p] = image
            image = padded[:, top : top + 32, left : left + 32]
            if rng.random() < 0.5:
                image = image[:, :, ::-1]
        return image * self.scale - self.shift, int(self.labels[i])


def _cache_dirs(source: Path, cache_dir: PathLike | None) -> list[Path]:
    """Where the decoded arrays may be: the directory named by the user (``cache_dir``, else
    ``$RPUSIM_CACHE``), else beside the data, then the user's cache directory."""
    named = cache_dir if cache_dir is not None else os.environ.get(CACHE_DIR_VARIABLE)
    if named:
        return [Path(named)]
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rpusim"
    # A directory without write permission bits is read-only by intent, also for root (who
    # could write there anyway).
    beside = [source.parent] if source.parent.stat().st_mode & 0o222 else []
    return [*beside, user_cache]


def _cifar10_hint(source: Path) -> str:
    """Where to put the npz (a good copy, when it is corrupt): the directory it was looked
    for in."""
    return _where_to_put("cifar10_jpeg.npz", str(source.parent))


def _decode_cifar10(source: Path) -> dict[str, npt.NDArray[np.generic]]:
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("decoding CIFAR-10 needs Pillow: pip install pillow") from None
    try:
        with np.load(source) as packed:
            arrays = {k: packed[k] for k in packed.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(
            f"{source}: not a readable npz file ({e}); " + _cifar10_hint(source)
        ) from None
    missing = {f"{s}_{k}" for s in ("train", "test") for k in ("jpeg", "offsets", "labels")}
    missing -= set(arrays)
    if missing or "classes" not in arrays:
        raise ValueError(
            f"{source}: missing arrays {sorted(missing) or ['classes']}; " + _cifar10_hint(source)
        )
    decoded: dict[str, npt.NDArray[np.generic]] = {"classes": arrays["classes"]}
    for split in ("train", "test"):
        data, offsets = arrays[f"{split}_jpeg"], arrays[f"{split}_offsets"]
        labels = arrays[f"{split}_labels"].astype(np.int64)
        n = len(labels)
        if (
            len(offsets) != n + 1
            or offsets[0] != 0
            or offsets[-1] != len(data)
            or np.any(np.diff(offsets) <= 0)
        ):
            raise ValueError(
                f"{source}: {split}_offsets do not split {split}_jpeg into {n} images; "
                + _cifar10_hint(source)
            )
        images = np.empty((n, 32, 32, 3), dtype=np.uint8)
        for i in range(n):
            try:
                with Image.open(io.BytesIO(data[offsets[i] : offsets[i + 1]].tobytes())) as im:
                    pixels = np.asarray(im.convert("RGB"))
            except OSError as e:
                raise ValueError(
                    f"{source}: {split} image {i} is not a readable JPEG ({e}); "
                    + _cifar10_hint(source)
                ) from None
            if pixels.shape != (32, 32, 3):
                raise ValueError(
                    f"{source}: {split} image {i} is {pixels.shape}, not 32 x 32 RGB; "
                    + _cifar10_hint(source)
                )
            images[i] = pixels
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(arrays["classes"]):
            raise ValueError(
                f"{source}: {split}_labels outside [0, {len(arrays['classes'])}); "
                + _cifar10_hint(source)
            )
        decoded[f"{split}_images"], decoded[f"{split}_labels"] = images, labels
    return decoded


def _read_cache(
    path: Path, stamp: npt.NDArray[np.int64]
) -> dict[str, npt.NDArray[np.generic]] | None:
    """The decoded arrays of ``path`` if it is a complete cache of the source ``stamp``."""
    try:
        with np.load(path) as cached:
            arrays = {k: cached[k] for k in cached.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    if "source_stamp" not in arrays or not np.array_equal(arrays["source_stamp"], stamp):
        return None
    keys = ("train_images", "train_labels", "test_images", "test_labels", "classes")
    return arrays if all(k in arrays for k in keys) else None


def _write_cache(directory: Path, arrays: dict[str, npt.NDArray[np.generic]]) -> Path | None:
    """Writes the cache into ``directory`` whole (a temporary file renamed) or not at all."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".cifar10-", suffix=".npz")
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, directory / _CIFAR10_CACHE)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return None
    return directory / _CIFAR10_CACHE


def load_cifar10(data_dir: PathLike | None = None, cache_dir: PathLike | None = None) -> Cifar10:
    """CIFAR-10 from ``<data dir>/cifar10/cifar10_jpeg.npz`` (JPEG bytes, offsets and labels
    of each split, and the class names), decoded once with Pillow.

    The decoded uint8 arrays (about 180 MB) are cached as ``cifar10_decoded_v1.npz`` in
    ``cache_dir`` (else ``$RPUSIM_CACHE``) when given, else beside the npz unless that
    directory is read-only (no write permission bits), else in ``$XDG_CACHE_HOME/rpusim``
    (``~/.cache/rpusim``); never in the repository. The cache records the source's size and
    modification time and is decoded anew when they change or the cache is unreadable.
    Decoding takes some tens of seconds (26 s on a busy 2-core machine), reading the cache
    about half a second.

    Raises:
        DatasetNotFoundError: the npz is missing (the message says where to put it).
        ValueError: the npz is corrupt or not in the expected format (the message names it).
    """
    source = find_data_dir(data_dir) / _CIFAR10
    if not source.is_file():
        raise DatasetNotFoundError(
            f"CIFAR-10 not found: {source} is missing; " + _cifar10_hint(source)
        )
    info = source.stat()
    stamp = np.array([info.st_size, info.st_mtime_ns], dtype=np.int64)
    directories = _cache_dirs(source, cache_dir)
    cache = next((d / _CIFAR10_CACHE for d in directories if (d / _CIFAR10_CACHE).is_file()), None)
    arrays = None if cache is None else _read_cache(cache, stamp)
    if arrays is None:
        arrays = {**_decode_cifar10(source), "source_stamp": stamp}
        cache = None
        for directory in directories:  # the first that takes it
            cache = _write_cache(directory, arrays)
            if cache is not None:
                break
    return Cifar10(
        arrays["train_images"].astype(np.uint8, copy=False),
        arrays["train_labels"].astype(np.int64, copy=False),
        arrays["test_images"].astype(np.uint8, copy=False),
        arrays["test_labels"].astype(np.int64, copy=False),
        tuple(str(c) for c in arrays["classes"]),
        source,
        cache,
    )

"""The package without torch, and its public names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import rpusim

SCRIPT = """
import sys
sys.modules["torch"] = None  # any "import torch" now fails
import numpy as np
import rpusim
tile = rpusim.AnalogTile(3, 4, seed=1)
tile.set_weights(np.full((3, 4), 0.1, np.float32))
y = tile.forward(np.ones((2, 4), np.float32))
assert y.shape == (2, 3) and isinstance(y, np.ndarray)
tile.update(np.ones(4, np.float32), np.ones(3, np.float32), 0.01)
try:
    tile.forward([1.0, 2.0, 3.0, 4.0])
except TypeError as e:
    assert "float32" in str(e)
import pickle
assert pickle.loads(pickle.dumps(tile)).to_bytes() == tile.to_bytes()
assert sys.modules["torch"] is None
print("ok")
"""


def test_works_without_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_does_not_import_torch() -> None:
    script = "import sys, rpusim; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_public_names() -> None:
    for name in rpusim.__all__:
        assert hasattr(rpusim, name), name
    assert rpusim.devices.ConstantStep is rpusim.devices.DEVICE_TYPES["ConstantStep"]
    assert isinstance(rpusim.__version__, str) and rpusim.__version__
    assert isinstance(rpusim.FORMAT_VERSION, int)


def test_version_is_the_cargo_workspace_version() -> None:
    """The version lives in one place, Cargo.toml's [workspace.package]; pyproject.toml declares
    it dynamic, maturin writes it into the package metadata, and ``__version__`` reads that."""
    cargo = (Path(__file__).resolve().parents[1] / "Cargo.toml").read_text()
    section = re.search(r"^\[workspace\.package\]$(.*?)(?=^\[)", cargo, re.M | re.S)
    assert section is not None
    version = re.search(r'^version = "([^"]+)"$', section.group(1), re.M)
    assert version is not None
    assert rpusim.__version__ == version.group(1)


def test_one_torch_minimum() -> None:
    """Every extra of pyproject.toml asks for the same torch minimum, the one `make test` tests
    (its TORCH_OLDEST is the first of them)."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    minimums = set(re.findall(r'"torch>=([0-9.]+)"', pyproject))
    assert len(minimums) == 1, minimums

"""Saving and restoring a tile: state_dict, pickle, copy, torch.save. A restored tile continues
bit-identically with the original."""

from __future__ import annotations

import copy
import io
import json
import pickle
import struct
import zlib
from typing import Any, Callable

import numpy as np
import pytest
import rpusim
from helpers import uniform
from rpusim import AnalogTile, IOParameters, RPUConfig, StateError, UpdateParameters


def trained_tile(rng: np.random.Generator) -> AnalogTile:
    config = RPUConfig(
        forward=IOParameters(noise_management="average_abs_max", w_noise=0.01),
        update=UpdateParameters(desired_bl=64),
    )
    tile = AnalogTile(12, 17, config, seed=77)
    tile.set_weights(uniform(rng, -0.3, 0.3, (12, 17)))
    for _ in range(3):
        x = uniform(rng, -1, 1, (5, 17))
        d = uniform(rng, -1, 1, (5, 12))
        tile.forward(x)
        tile.backward(d)
        tile.update(x, d, 0.05)
    return tile


def continue_training(tile: AnalogTile, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        x = uniform(rng, -1, 1, (5, tile.in_size))
        d = uniform(rng, -1, 1, (5, tile.out_size))
        out.append(tile.forward(x).tobytes())
        out.append(tile.backward(d).tobytes())
        tile.update(x, d, 0.05)
        out.append(tile.get_weights().tobytes())
    out.append(tile.to_bytes())
    return out


def via_state_dict(tile: AnalogTile) -> AnalogTile:
    restored = AnalogTile(tile.out_size, tile.in_size, seed=1)  # other seed and devices
    restored.load_state_dict(tile.state_dict())
    return restored


def via_pickle(tile: AnalogTile) -> AnalogTile:
    restored = pickle.loads(pickle.dumps(tile))
    assert isinstance(restored, AnalogTile)
    return restored


def via_bytes(tile: AnalogTile) -> AnalogTile:
    return AnalogTile.from_bytes(tile.to_bytes())


@pytest.mark.parametrize(
    "restore",
    [via_state_dict, via_pickle, via_bytes, copy.deepcopy, copy.copy],
    ids=["state_dict", "pickle", "bytes", "deepcopy", "copy"],
)
def test_restored_tile_continues_bit_identically(
    rng: np.random.Generator, restore: Callable[[AnalogTile], AnalogTile]
) -> None:
    tile = trained_tile(rng)
    restored = restore(tile)
    assert restored is not tile
    assert restored.to_bytes() == tile.to_bytes()
    assert restored.counters == tile.counters and restored.seed == tile.seed
    assert restored.rpu_config == tile.rpu_config
    assert continue_training(restored, 5) == continue_training(tile, 5)


def test_restored_tile_is_independent(rng: np.random.Generator) -> None:
    tile = trained_tile(rng)
    restored = via_pickle(tile)
    tile.update(uniform(rng, -1, 1, 17), uniform(rng, -1, 1, 12), 0.5)
    assert restored.to_bytes() != tile.to_bytes()


def test_state_dict_holds_plain_values(rng: np.random.Generator) -> None:
    tile = trained_tile(rng)
    state = tile.state_dict()
    assert state == {
        "format_version": rpusim.FORMAT_VERSION,
        "out_size": 12,
        "in_size": 17,
        "state": tile.to_bytes(),
    }
    # bytes-likes are accepted too
    other = AnalogTile(12, 17)
    other.load_state_dict({**state, "state": bytearray(state["state"])})
    assert other.to_bytes() == tile.to_bytes()


def test_torch_save_and_load(torch: Any, rng: np.random.Generator) -> None:
    tile = trained_tile(rng)
    # The state dict loads with torch's safe (weights-only) unpickler.
    buffer = io.BytesIO()
    torch.save({"tile": tile.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    from_state = AnalogTile(12, 17)
    from_state.load_state_dict(state["tile"])
    # The tile object itself, trusted or with AnalogTile allowed.
    buffer = io.BytesIO()
    torch.save({"tile": tile}, buffer)
    buffer.seek(0)
    trusted = torch.load(buffer, weights_only=False)["tile"]
    buffer.seek(0)
    with torch.serialization.safe_globals([AnalogTile]):
        allowed = torch.load(buffer)["tile"]
    expected = continue_training(tile, 9)
    for restored in (from_state, trusted, allowed):
        assert continue_training(restored, 9) == expected


def test_every_corruption_is_detected(rng: np.random.Generator) -> None:
    tile = trained_tile(rng)
    data = tile.to_bytes()
    for position in range(0, len(data), max(1, len(data) // 97)):
        corrupt = bytearray(data)
        corrupt[position] ^= 0x10
        with pytest.raises(ValueError, match="state"):
            AnalogTile.from_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match="state"):
        AnalogTile.from_bytes(b"")


def forged(state: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """`state` with its JSON header edited by `edit` and its checksum made right again (the
    layout of rust/rpusim/src/state.rs: magic, version, header length, header, arrays, CRC-32)."""
    (header_len,) = struct.unpack_from("<I", state, 12)
    header = json.loads(state[16 : 16 + header_len])
    edit(header)
    text = json.dumps(header).encode()
    body = state[:12] + struct.pack("<I", len(text)) + text + state[16 + header_len : -4]
    return body + struct.pack("<I", zlib.crc32(body))


def test_a_forged_state_with_a_valid_checksum_is_refused_naming_the_field(
    rng: np.random.Generator,
) -> None:
    tile = trained_tile(rng)
    state = tile.to_bytes()
    assert AnalogTile.from_bytes(forged(state, lambda h: None)).to_bytes() == state

    def running_average_beyond_float32(header: dict[str, Any]) -> None:
        header["nm_running"][0] = 1e39

    with pytest.raises(StateError, match=r"nm_running\[0\]"):
        AnalogTile.from_bytes(forged(state, running_average_beyond_float32))

//! Versioned, checked save and load of a tile's whole state: configuration, weights, drawn
//! devices, random counters and noise-management averages. A restored tile continues
//! bit-identically.
//!
//! Layout (little-endian): magic `RPUSIM\0T`, format version (u32), header length (u32), header
//! (JSON: sizes, seed, configuration, counters, averages), array count (u32), then per array its
//! name length (u16), name, value count (u64) and f32 values, then (from version 3) the count
//! of integer arrays (u32) and per array its name length (u16), name, value count (u64) and
//! u64 values (the pulse counters), and last a CRC-32 of all before.
//!
//! A [`TileArray`] of one tile saves as that tile. A grid saves as magic `RPUSIM\0A`, format
//! version (u32), header length (u32), header (JSON: sizes and seed), tile count (u32), then
//! per tile its state's length (u64) and state, and last a CRC-32 of all before.
//!
//! Version 1 (before arrays were split) had no `max_input_size` / `max_output_size` in its
//! configuration; it loads with both 0 (no limit), which is what it was. Versions 1 and 2
//! (before pulse counters) have no integer arrays; their devices load with counters at 0.

use serde::{Deserialize, Serialize};

use crate::array::TileArray;
use crate::config::TileConfig;
use crate::device::{DeviceCounters, DeviceState, NamedArrays};
use crate::error::{Error, Result};
use crate::numeric::first_non_finite;
use crate::tile::{Counters, Tile, MAX_DEVICES};

const MAGIC: &[u8; 8] = b"RPUSIM\0T";
const ARRAY_MAGIC: &[u8; 8] = b"RPUSIM\0A";
/// Format version written by this build; older versions are read as long as they are known.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    out_size: usize,
    in_size: usize,
    seed: u64,
    config: TileConfig,
    counters: [u64; 3],
    /// Pulses applied so far (absent in states written before it was counted).
    #[serde(default)]
    pulses: u64,
    nm_running: [Option<f32>; 2],
    /// Programming counter and unit-cell index; absent while both are at their start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_counters: Option<DeviceCounters>,
}

impl Header {
    /// The number of cross-points, `out_size x in_size`, checked before anything is
    /// allocated: at least one, at most [`MAX_DEVICES`], and no more weights than the
    /// `remaining` bytes of the state can hold.
    fn devices(&self, remaining: usize) -> Result<usize> {
        let (out, inp) = (self.out_size, self.in_size);
        let n = out.saturating_mul(inp);
        let reason = if n == 0 {
            "no weights"
        } else if n > MAX_DEVICES {
            "more than a tile's 2^30 devices"
        } else if n.saturating_mul(4) > remaining {
            "more weights than the state holds"
        } else {
            return Ok(n);
        };
        Err(Error::State(format!(
            "header: out_size x in_size = {out} x {inp}: {reason}"
        )))
    }

    /// `Ok` when the running averages of noise management are finite and `>= 0`, as averages
    /// of the abs-max of finite inputs are (0 after all-zero inputs).
    fn check_running_averages(&self) -> Result<()> {
        for (slot, average) in self.nm_running.iter().enumerate() {
            if let Some(a) = average.filter(|a| !(a.is_finite() && *a >= 0.0)) {
                return Err(Error::State(format!(
                    "header: nm_running[{slot}] must be finite and >= 0, got {a}"
                )));
            }
        }
        Ok(())
    }

    /// `Ok` when the devices that count their pulses count no more than the tile applied
    /// (every pulse counted is one of the tile's): then no count can wrap before the tile's
    /// own count does, which the update refuses.
    fn check_pulse_counts(&self, devices: &DeviceState) -> Result<()> {
        let counted: u128 = (devices.pulse_counts().unwrap_or_default().iter())
            .map(|&c| u128::from(c))
            .sum();
        if counted > u128::from(self.pulses) {
            return Err(Error::State(format!(
                "pulse_counts: the devices count {counted} pulses, more than the {} the tile \
                 applied (header: pulses)",
                self.pulses
            )));
        }
        Ok(())
    }
}

impl Tile {
    /// The whole state as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = Header {
            out_size: self.out_size,
            in_size: self.in_size,
            seed: self.seed,
            config: self.config.clone(),
            counters: [
                self.counters.forward,
                self.counters.backward,
                self.counters.update,
            ],
            pulses: self.pulses,
            nm_running: self.nm_running,
            device_counters: Some(self.devices.counters())
                .filter(|c| *c != DeviceState::fresh_counters(&self.config.device)),
        };
        let header = serde_json::to_vec(&header).expect("a header always serialises");
        let mut arrays = vec![
            ("weights".to_string(), self.weights.as_slice()),
            ("out_scales".to_string(), self.out_scales.as_slice()),
        ];
        arrays.extend(self.devices.named_arrays());
        let values: usize = arrays.iter().map(|(_, a)| a.len()).sum();
        let mut out = Vec::with_capacity(64 + header.len() + 4 * values);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(arrays.len() as u32).to_le_bytes());
        for (name, a) in arrays {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for v in a {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let counts = self.devices.named_counts();
        out.extend_from_slice(&(counts.len() as u32).to_le_bytes());
        for (name, a) in counts {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for v in a {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Restores a tile saved by [`Tile::to_bytes`]; corrupt or foreign bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tile> {
        let (mut r, version) = Reader::open(bytes, MAGIC)?;
        let body = r.bytes;
        let header_len = r.u32()? as usize;
        let mut header: serde_json::Value = serde_json::from_slice(r.header(header_len)?)
            .map_err(|e| Error::State(format!("header: {e}")))?;
        if version == 1 {
            if let Some(mapping) = header
                .pointer_mut("/config/mapping")
                .and_then(|m| m.as_object_mut())
            {
                for name in ["max_input_size", "max_output_size"] {
                    mapping.entry(name).or_insert(0.into());
                }
            }
        }
        let header: Header =
            serde_json::from_value(header).map_err(|e| Error::State(format!("header: {e}")))?;
        header.config.validate()?;
        let n = header.devices(r.remaining())?;
        header.check_running_averages()?;
        let count = r.u32()?;
        let mut arrays = NamedArrays::default();
        for _ in 0..count {
            let name_len = r.u16()? as usize;
            let name = String::from_utf8(r.take(name_len)?.to_vec())
                .map_err(|_| Error::State("array name is not UTF-8".into()))?;
            let len = r.u64()? as usize;
            let raw = r.take(
                len.checked_mul(4)
                    .ok_or_else(|| Error::State("bad array length".into()))?,
            )?;
            let values: Vec<f32> = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if first_non_finite(&values).is_some() {
                return Err(Error::State(format!(
                    "array {name} holds non-finite values"
                )));
            }
            arrays.entries.push((name, values));
        }
        if version >= 3 {
            for _ in 0..r.u32()? {
                let name_len = r.u16()? as usize;
                let name = String::from_utf8(r.take(name_len)?.to_vec())
                    .map_err(|_| Error::State("counter name is not UTF-8".into()))?;
                let len = r.u64()? as usize;
                let raw = r.take(
                    len.checked_mul(8)
                        .ok_or_else(|| Error::State("bad counter length".into()))?,
                )?;
                let values = raw
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                arrays.counts.push((name, values));
            }
        }
        if r.pos != body.len() {
            return Err(Error::State("trailing bytes after the arrays".into()));
        }
        let weights = arrays.take("weights", n)?;
        let out_scales = arrays.take("out_scales", header.out_size)?;
        if out_scales.iter().any(|&s| s <= 0.0) {
            return Err(Error::State("out_scales must be > 0".into()));
        }
        let devices = DeviceState::from_named_arrays(
            &header.config.device,
            &mut arrays,
            n,
            header.device_counters,
        )?;
        devices.check_weights(&weights)?;
        devices.check_counters(header.out_size)?;
        header.check_pulse_counts(&devices)?;
        let leftover = (arrays.entries.iter().map(|(name, _)| name))
            .chain(arrays.counts.iter().map(|(name, _)| name))
            .next();
        if let Some(name) = leftover {
            return Err(Error::State(format!(
                "array {name} does not belong to the device model"
            )));
        }
        let [forward, backward, update] = header.counters;
        Ok(Tile {
            out_size: header.out_size,
            in_size: header.in_size,
            seed: header.seed,
            config: header.config,
            weights,
            out_scales,
            devices,
            counters: Counters {
                forward,
                backward,
                update,
            },
            pulses: header.pulses,
            nm_running: header.nm_running,
            batch_shard: 0,
            workspace: Default::default(),
            backend: Default::default(),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrayHeader {
    out_size: usize,
    in_size: usize,
    seed: u64,
}

impl TileArray {
    /// The whole state as bytes: a single tile's state, or the grid's.
    pub fn to_bytes(&self) -> Vec<u8> {
        if let [tile] = self.tiles() {
            return tile.to_bytes();
        }
        let header = ArrayHeader {
            out_size: self.out_size(),
            in_size: self.in_size(),
            seed: self.seed(),
        };
        let header = serde_json::to_vec(&header).expect("a header always serialises");
        let states: Vec<Vec<u8>> = self.tiles().iter().map(Tile::to_bytes).collect();
        let mut out =
            Vec::with_capacity(64 + header.len() + states.iter().map(Vec::len).sum::<usize>());
        out.extend_from_slice(ARRAY_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(states.len() as u32).to_le_bytes());
        for state in &states {
            out.extend_from_slice(&(state.len() as u64).to_le_bytes());
            out.extend_from_slice(state);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Restores an array saved by [`TileArray::to_bytes`] (or a tile saved by
    /// [`Tile::to_bytes`]); corrupt or foreign bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<TileArray> {
        if bytes.len() >= MAGIC.len() && &bytes[..MAGIC.len()] == MAGIC {
            let tile = Tile::from_bytes(bytes)?;
            return TileArray::from_tiles(tile.out_size(), tile.in_size(), tile.seed(), vec![tile]);
        }
        let (mut r, _) = Reader::open(bytes, ARRAY_MAGIC)?;
        let body = r.bytes;
        let header_len = r.u32()? as usize;
        let header: ArrayHeader = serde_json::from_slice(r.header(header_len)?)
            .map_err(|e| Error::State(format!("header: {e}")))?;
        let count = r.u32()?;
        let mut tiles = Vec::new();
        for _ in 0..count {
            let len = usize::try_from(r.u64()?)
                .map_err(|_| Error::State("bad tile state length".into()))?;
            tiles.push(Tile::from_bytes(r.take(len)?)?);
        }
        if r.pos != body.len() {
            return Err(Error::State("trailing bytes after the tiles".into()));
        }
        TileArray::from_tiles(header.out_size, header.in_size, header.seed, tiles)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader after the magic and the format version of `bytes`, checked (magic, checksum,
    /// a version this build reads), over all but the checksum; and the version.
    fn open(bytes: &'a [u8], magic: &[u8; 8]) -> Result<(Reader<'a>, u32)> {
        if bytes.len() < magic.len() + 12 || &bytes[..magic.len()] != magic {
            return Err(Error::State("not rpusim tile state (bad magic)".into()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(Error::State(
                "checksum mismatch: the bytes are corrupt or truncated".into(),
            ));
        }
        let mut r = Reader {
            bytes: body,
            pos: magic.len(),
        };
        let version = r.version()?;
        Ok((r, version))
    }

    /// The bytes not yet read.
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// The `n` bytes of a header, `n` as its length field says.
    fn header(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::State(format!(
                "header length {n} exceeds the {} bytes that follow",
                self.remaining()
            )));
        }
        self.take(n)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| Error::State("truncated".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A format version this build reads.
    fn version(&mut self) -> Result<u32> {
        let version = self.u32()?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::State(format!(
                "format version {version} is not supported (this build reads \
                 {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
            )));
        }
        Ok(version)
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state as version 1 wrote it: version 2's without array sizes in the configuration.
    fn as_version_1(tile: &Tile) -> Vec<u8> {
        rewritten(&as_version_2(tile), 4, 1, |header| {
            let mapping = header
                .pointer_mut("/config/mapping")
                .unwrap()
                .as_object_mut()
                .unwrap();
            mapping.remove("max_input_size");
            mapping.remove("max_output_size");
        })
    }

    /// A state as version 2 wrote it: no per-device effects in the device configuration and
    /// no integer arrays (`tile` has no pulse counters).
    fn as_version_2(tile: &Tile) -> Vec<u8> {
        let bytes = tile.to_bytes();
        // Without counters the integer section is its count alone, 0, before the checksum.
        assert_eq!(
            &bytes[bytes.len() - 8..bytes.len() - 4],
            &0u32.to_le_bytes()
        );
        rewritten(&bytes, 8, 2, |header| {
            let device = header
                .pointer_mut("/config/device")
                .unwrap()
                .as_object_mut()
                .unwrap();
            for name in [
                "diffusion",
                "diffusion_dtod",
                "lifetime",
                "lifetime_dtod",
                "reset",
                "reset_dtod",
                "reset_std",
                "count_pulses",
            ] {
                assert!(device.remove(name).is_some(), "{name}");
            }
        })
    }

    /// `bytes` with its last `tail` bytes dropped, its header edited by `edit` and written as
    /// format `version`, checksummed again.
    fn rewritten(
        bytes: &[u8],
        tail: usize,
        version: u32,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Vec<u8> {
        let body = &bytes[..bytes.len() - tail];
        let header_len = u32::from_le_bytes(body[12..16].try_into().unwrap()) as usize;
        let mut header: serde_json::Value =
            serde_json::from_slice(&body[16..16 + header_len]).unwrap();
        edit(&mut header);
        let header = serde_json::to_vec(&header).unwrap();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body[16 + header_len..]);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn a_version_2_state_loads_without_effects() {
        let mut tile = Tile::new(3, 5, TileConfig::default(), 4).unwrap();
        tile.pulse(true).unwrap();
        let old = as_version_2(&tile);
        assert_eq!(Tile::from_bytes(&old).unwrap(), tile);
        // Integer arrays a version 2 state cannot hold are refused as trailing bytes.
        let mut longer = old[..old.len() - 4].to_vec();
        longer.extend_from_slice(&0u32.to_le_bytes());
        let crc = crc32fast::hash(&longer);
        longer.extend_from_slice(&crc.to_le_bytes());
        assert!(Tile::from_bytes(&longer).is_err());
    }

    #[test]
    fn a_version_1_state_loads_unsplit() {
        // 600 inputs: more than the default limit, one array as version 1 made it.
        let mut config = TileConfig::default();
        config.mapping.max_input_size = 0;
        config.mapping.max_output_size = 0;
        let tile = Tile::new(3, 600, config, 4).unwrap();
        let old = as_version_1(&tile);
        assert_eq!(Tile::from_bytes(&old).unwrap(), tile);
        let array = TileArray::from_bytes(&old).unwrap();
        assert_eq!(array.tiles(), &[tile][..]);
        // A newer version is refused with the versions this build reads.
        let mut newer = old.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let n = newer.len() - 4;
        let crc = crc32fast::hash(&newer[..n]);
        newer[n..].copy_from_slice(&crc.to_le_bytes());
        let e = Tile::from_bytes(&newer).unwrap_err().to_string();
        assert!(e.contains("1 to 3"), "{e}");
    }
}

//! Saved states taken apart and put together again with a fresh checksum: the forged states
//! that the loader's tests and the fuzz suite feed to `Tile::from_bytes` (the layout is the one
//! `state.rs` documents). The tests do not share the engine's reader or checksum.

/// A tile's state, parsed: format version, header, named f32 arrays, named u64 arrays.
#[derive(Debug, Clone)]
pub struct TileState {
    pub version: u32,
    pub header: serde_json::Value,
    pub arrays: Vec<(String, Vec<f32>)>,
    pub counts: Vec<(String, Vec<u64>)>,
}

const TILE_MAGIC: &[u8; 8] = b"RPUSIM\0T";
const GRID_MAGIC: &[u8; 8] = b"RPUSIM\0A";

/// Reads little-endian fields one after the other.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u16(&mut self) -> usize {
        u16::from_le_bytes(self.take(2).try_into().unwrap()) as usize
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn name(&mut self) -> String {
        let n = self.u16();
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }
}

impl TileState {
    /// Parses a version-3 state that `Tile::to_bytes` wrote.
    pub fn parse(bytes: &[u8]) -> TileState {
        assert_eq!(&bytes[..8], TILE_MAGIC);
        let mut f = Fields(&bytes[8..bytes.len() - 4]);
        let version = f.u32();
        let header_len = f.u32() as usize;
        let header = serde_json::from_slice(f.take(header_len)).unwrap();
        let arrays = (0..f.u32())
            .map(|_| {
                let name = f.name();
                let n = f.u64() as usize;
                let raw = f.take(4 * n);
                let values = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                (name, values)
            })
            .collect();
        let counts = (0..f.u32())
            .map(|_| {
                let name = f.name();
                let n = f.u64() as usize;
                let raw = f.take(8 * n);
                let values = raw
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                (name, values)
            })
            .collect();
        assert!(f.0.is_empty(), "bytes after the counters");
        TileState {
            version,
            header,
            arrays,
            counts,
        }
    }

    /// The state as bytes, checksummed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).unwrap();
        self.to_bytes_with_header(&header, header.len() as u32)
    }

    /// The state as bytes with `header` as the header text and `header_len` as its length
    /// field (the two may disagree), checksummed.
    pub fn to_bytes_with_header(&self, header: &[u8], header_len: u32) -> Vec<u8> {
        let mut out = TILE_MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&header_len.to_le_bytes());
        out.extend_from_slice(header);
        out.extend_from_slice(&(self.arrays.len() as u32).to_le_bytes());
        for (name, values) in &self.arrays {
            put_name(&mut out, name, values.len());
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        out.extend_from_slice(&(self.counts.len() as u32).to_le_bytes());
        for (name, values) in &self.counts {
            put_name(&mut out, name, values.len());
            values
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        }
        checksummed(out)
    }

    /// The f32 array `name`.
    pub fn array(&mut self, name: &str) -> &mut Vec<f32> {
        let found = self.arrays.iter_mut().find(|(n, _)| n == name);
        &mut found.unwrap_or_else(|| panic!("no array {name}")).1
    }

    /// The u64 array `name`.
    pub fn counts(&mut self, name: &str) -> &mut Vec<u64> {
        let found = self.counts.iter_mut().find(|(n, _)| n == name);
        &mut found.unwrap_or_else(|| panic!("no counters {name}")).1
    }
}

fn put_name(out: &mut Vec<u8>, name: &str, len: usize) {
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

/// A grid's state, parsed: its header and every tile's state bytes.
#[derive(Debug, Clone)]
pub struct GridState {
    pub version: u32,
    pub header: serde_json::Value,
    pub tiles: Vec<Vec<u8>>,
}

impl GridState {
    /// Parses a state that `TileArray::to_bytes` wrote for a grid of several tiles.
    pub fn parse(bytes: &[u8]) -> GridState {
        assert_eq!(&bytes[..8], GRID_MAGIC);
        let mut f = Fields(&bytes[8..bytes.len() - 4]);
        let version = f.u32();
        let header_len = f.u32() as usize;
        let header = serde_json::from_slice(f.take(header_len)).unwrap();
        let tiles = (0..f.u32())
            .map(|_| {
                let n = f.u64() as usize;
                f.take(n).to_vec()
            })
            .collect();
        GridState {
            version,
            header,
            tiles,
        }
    }

    /// The state as bytes, checksummed.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).unwrap();
        let mut out = GRID_MAGIC.to_vec();
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.tiles.len() as u32).to_le_bytes());
        for tile in &self.tiles {
            out.extend_from_slice(&(tile.len() as u64).to_le_bytes());
            out.extend_from_slice(tile);
        }
        checksummed(out)
    }
}

/// `body` followed by its CRC-32, as the states end.
pub fn checksummed(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// `bytes` (a state) with its checksum made right again for its first `len - 4` bytes.
pub fn recheck(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() < 4 {
        return bytes.to_vec();
    }
    checksummed(bytes[..bytes.len() - 4].to_vec())
}

/// CRC-32 (IEEE), bit by bit.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

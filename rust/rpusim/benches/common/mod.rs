//! The inputs of the tile benches: those of `bench/tile_bench.py`, batch 100 on square tiles.

use rpusim::{Tile, TileConfig};

/// Square tile sizes.
pub const SIZES: [usize; 3] = [256, 512, 1024];

/// Samples per call.
pub const BATCH: usize = 100;

/// Deterministic inputs (SplitMix64), uniform in `[lo, hi)`, as `tests/common::uniform`.
pub fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

/// An `n x n` tile with weights uniform in `[-1/sqrt(n), 1/sqrt(n))`.
pub fn square_tile(n: usize, config: TileConfig) -> Tile {
    let mut tile = Tile::new(n, n, config, 0).unwrap();
    let scale = 1.0 / (n as f32).sqrt();
    tile.set_weights(&uniform(n * n, -scale, scale, n as u64))
        .unwrap();
    tile
}

/// `x` (`BATCH x n`, uniform in `[-1, 1)`) and `d` (`BATCH x n`, uniform in `[-0.1, 0.1)`).
pub fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = uniform(BATCH * n, -1.0, 1.0, 1);
    let d = uniform(BATCH * n, -0.1, 0.1, 2);
    (x, d)
}

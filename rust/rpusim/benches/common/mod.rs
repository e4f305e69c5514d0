//! The inputs of the tile benches: those of `bench/tile_bench.py`, batch 100 on square tiles.

use rpusim::{Matrix, Tile, TileConfig};

#[path = "../../tests/common/uniform.rs"]
mod uniform;

pub use uniform::uniform;

/// Square tile sizes.
pub const SIZES: [usize; 3] = [256, 512, 1024];

/// Samples per call.
pub const BATCH: usize = 100;

/// An `n x n` tile with weights uniform in `[-1/sqrt(n), 1/sqrt(n))`.
pub fn square_tile(n: usize, config: TileConfig) -> Tile {
    let mut tile = Tile::new(n, n, config, 0).unwrap();
    let scale = 1.0 / (n as f32).sqrt();
    tile.set_weights(
        Matrix::new(
            &uniform(n * n, -scale, scale, n as u64),
            tile.out_size(),
            tile.in_size(),
        )
        .unwrap(),
    )
    .unwrap();
    tile
}

/// `x` (`BATCH x n`, uniform in `[-1, 1)`) and `d` (`BATCH x n`, uniform in `[-0.1, 0.1)`).
pub fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let x = uniform(BATCH * n, -1.0, 1.0, 1);
    let d = uniform(BATCH * n, -0.1, 0.1, 2);
    (x, d)
}

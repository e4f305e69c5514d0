//! Helpers shared by the integration tests.
#![allow(dead_code)]

use rpusim::{Matrix, Tile, TileConfig};

pub mod forge;
pub mod reference_check;
mod uniform;

pub use uniform::uniform;

/// A tile with weights uniform in `[-scale, scale)`.
pub fn tile_with_weights(
    out: usize,
    inp: usize,
    config: TileConfig,
    seed: u64,
    scale: f32,
) -> Tile {
    let mut t = Tile::new(out, inp, config, seed).unwrap();
    t.set_weights(
        Matrix::new(
            &uniform(out * inp, -scale, scale, seed ^ 0xABCD),
            t.out_size(),
            t.in_size(),
        )
        .unwrap(),
    )
    .unwrap();
    t
}

/// Bit patterns, for exact comparisons that also tell -0.0 from 0.0.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Mean and standard deviation.
pub fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / (n - 1.0);
    (mean, var.sqrt())
}

/// Periphery without noise (quantisation and bounds stay).
pub fn noiseless() -> rpusim::IoParameters {
    rpusim::IoParameters {
        out_noise: 0.0,
        ..rpusim::IoParameters::default()
    }
}

//! rpusim: a simulator of analog resistive crossbar arrays (RPU tiles) for training neural
//! networks, after Rasch, Gokmen & Haensch (2019).
//!
//! A [`Tile`] holds an `out_size x in_size` weight matrix on simulated devices and offers the
//! three operations of an analog array: the forward product `W x` and the backward product
//! `W^T d`, both through a quantising, noisy periphery ([`IoParameters`]), and the update
//! `W <- W - lr d x^T` realised by stochastic pulse trains on the devices ([`UpdateParameters`],
//! [`device`]). All randomness comes from counter-based streams keyed by the tile seed, so
//! results are bit-identical at any thread count; [`mod@reference`] holds the plain definitions the
//! fast kernels are tested against.
//!
//! ```
//! use rpusim::{Matrix, Tile, TileConfig};
//! # fn main() -> rpusim::Result<()> {
//! let mut tile = Tile::new(2, 3, TileConfig::default(), 42)?;
//! tile.set_weights(Matrix::new(&[0.1, -0.2, 0.3, 0.0, 0.5, -0.4], 2, 3)?)?;
//! let x = Matrix::new(&[1.0, 0.5, -0.5], 1, 3)?; // one sample of in_size 3
//! let y = tile.forward(x, false)?;
//! assert_eq!(y.len(), 2);
//! tile.update(x, Matrix::new(&[0.1, -0.1], 1, 2)?, 0.01)?;
//! # Ok(())
//! # }
//! ```

mod array;
mod backend;
pub mod config;
pub mod cpu;
pub mod device;
mod error;
mod io;
mod mapping;
mod matrix;
mod mvm;
mod numeric;
pub mod reference;
pub mod rng;
mod state;
mod threads;
mod tile;
mod update;
mod workspace;

pub use array::{split_sizes, tile_seed, TileArray};
pub use config::{
    BoundManagement, IoParameters, NoiseManagement, PulseType, TileConfig, UpdateParameters,
};
pub use cpu::{set_max_isa, Isa};
pub use device::DeviceConfig;
pub use error::{Error, Result};
pub use mapping::MappingParameters;
pub use matrix::Matrix;
pub use state::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use threads::{num_threads, set_num_threads};
pub use tile::{Counters, Tile, MAX_DEVICES};

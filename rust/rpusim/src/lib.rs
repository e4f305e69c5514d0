//! rpusim: a simulator of analog resistive crossbar arrays (RPU tiles) for training neural
//! networks, after Rasch, Gokmen & Haensch (2019).
//!
//! A [`Tile`] holds an `out_size x in_size` weight matrix on simulated devices and offers the
//! three operations of an analog array: the forward product `W x` and the backward product
//! `W^T d`, both through a quantising, noisy periphery ([`IoParameters`]), and the update
//! `W <- W - lr d x^T` realised by stochastic pulse trains on the devices ([`UpdateParameters`],
//! [`device`]). A [`TileArray`] holds a larger matrix on a grid of tiles. All randomness comes
//! from counter-based streams keyed by the tile seed ([`rng`]), so results are bit-identical at
//! any thread count; [`mod@reference`] holds the plain definitions the fast kernels are tested
//! against.
//!
//! One step of training a layer: the forward pass, the backward pass of the loss's error, and
//! the pulsed update with the layer's inputs and errors.
//!
//! ```
//! use rpusim::{Matrix, Tile, TileConfig};
//! # fn main() -> rpusim::Result<()> {
//! // The paper's device (constant step) and periphery (7-bit DAC, 9-bit ADC, output noise).
//! let mut tile = Tile::new(2, 3, TileConfig::default(), 42)?;
//! tile.set_weights(Matrix::new(&[0.1, -0.2, 0.3, 0.0, 0.5, -0.4], 2, 3)?)?;
//! let x = Matrix::new(&[1.0, 0.5, -0.5], 1, 3)?; // one sample of in_size 3
//! let y = tile.forward(x, false)?;
//! assert_eq!(y.len(), 2);
//! let d = Matrix::new(&[0.1, -0.1], 1, 2)?; // the error of the outputs
//! let z = tile.backward(d)?;
//! assert_eq!(z.len(), 3);
//! tile.update(x, d, 0.01)?;
//! assert_eq!(tile.counters().update, 1);
//! # Ok(())
//! # }
//! ```
//!
//! `examples/two_layer.rs` trains a two-layer network on synthetic data with the crate alone
//! (`cargo run --release -p rpusim --example two_layer`); `cargo test` runs it short and fails
//! when it does not learn. docs/architecture.md describes the layers of the engine, the data
//! flow of a training step, and the seam where other backends (a GPU) plug in.

// Every public item is documented: `cargo doc` is the engine's API reference.
#![deny(missing_docs)]

mod alloc;
mod array;
mod backend;
pub mod buffer_cache;
pub mod config;
pub mod cpu;
pub mod device;
mod error;
mod interrupt;
mod io;
mod mapping;
mod matrix;
mod memory;
mod mixed_precision;
mod mvm;
mod numeric;
mod one_sided;
mod patches;
mod periphery;
pub mod reference;
pub mod rng;
mod state;
mod threads;
mod tile;
mod transfer;
mod update;
mod workspace;

pub use alloc::{copied, zeros};
pub use array::{estimate_memory, split_sizes, tile_seed, TileArray};
pub use buffer_cache::BufferCache;
pub use config::{
    BoundManagement, IoParameters, NoiseManagement, PulseType, TileConfig, UpdateParameters,
};
pub use cpu::{set_max_isa, Isa};
pub use device::DeviceConfig;
pub use error::{Error, Result};
pub use interrupt::Interrupt;
pub use mapping::MappingParameters;
pub use matrix::Matrix;
pub use memory::available_memory;
pub use patches::Patches;
pub use state::{FORMAT_VERSION, OLDEST_FORMAT_VERSION};
pub use threads::{env_threads, num_threads, set_num_threads, MAX_THREADS};
pub use tile::{Counters, Tile, MAX_DEVICES};

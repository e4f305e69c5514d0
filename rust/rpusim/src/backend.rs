//! The seam between a tile and the kernels that compute its operations.
//!
//! A [`Tile`](crate::Tile) is the front: it checks the arguments, applies the digital
//! periphery (the row scales of weight scaling), and counts the calls, which places the random
//! streams. The analog work goes through one [`Backend`] call per batch: a forward or backward
//! pass through the periphery (noise management, DAC, the product, weight and output noise,
//! ADC, bound management), the pulsed update, and the characterisation pulse. [`CpuBackend`]
//! runs them with today's multithreaded CPU kernels (`io.rs` and `mvm.rs`, `update/`, on the
//! threads of `threads.rs`) and keeps their buffers from call to call; the plain definitions of
//! `reference.rs` are a second backend, and every backend must give their bits.
//!
//! The calls are statically dispatched (the tile's operations are generic over the backend),
//! so the seam costs nothing. docs/architecture.md says how a GPU backend, tile arrays and
//! transfer compounds use it.

use crate::config::IoParameters;
use crate::device::DeviceState;
use crate::error::Result;
use crate::io::{analog_pass, batch_scales, Direction, PassBuffers};
use crate::update::{pulse_all, update, Lines, UpdateCall};
use crate::workspace::buffers_are_not_state;

/// The analog array an operation works on: its shape, its analog weights (row-major
/// `out_size x in_size`) and its drawn devices.
pub(crate) struct Array<'a> {
    pub out_size: usize,
    pub in_size: usize,
    pub weights: &'a mut [f32],
    pub devices: &'a mut DeviceState,
}

/// One forward or backward pass of a checked batch.
pub(crate) struct PassCall<'a> {
    /// The periphery of the pass's direction.
    pub io: &'a IoParameters,
    pub direction: Direction,
    /// `n` samples row-major: `n x in_size` forward, `n x out_size` backward.
    pub x: &'a [f32],
    pub n: usize,
    /// The tile's seed and the pass's call counter: where its random streams are.
    pub seed: u64,
    pub call: u64,
    /// The place of the batch's first sample among the samples of the call (the tile's
    /// batch shard times `n`): where its samples' random numbers are.
    pub first_sample: u64,
    /// Whether the batch advances the running average of `average_abs_max` noise management.
    pub learn: bool,
}

/// The analog operations of a tile, one call per batch (see the module documentation). Every
/// implementation gives the bits of [`crate::reference`] for the same state and call.
pub(crate) trait Backend {
    /// The pass `pass` on `array` into `y` (`n x out_size` forward, `n x in_size` backward,
    /// every value written); `nm_running` is the running average of the direction's
    /// `average_abs_max` noise management. An error only when its work space cannot be
    /// allocated, before anything changed.
    fn pass(
        &mut self,
        array: &Array<'_>,
        pass: &PassCall<'_>,
        nm_running: &mut Option<f32>,
        y: &mut [f32],
    ) -> Result<()>;

    /// The update `call` on `array` (MODEL.md §4); returns the number of pulses applied.
    fn update(&mut self, array: &mut Array<'_>, call: &UpdateCall<'_>) -> u64;

    /// One pulse in direction `up` on every device the unit cell's policy picks, as update
    /// call `call` of the tile seeded `seed`; returns the number of pulses.
    fn pulse(&mut self, array: &mut Array<'_>, seed: u64, call: u64, up: bool) -> u64;
}

/// The multithreaded CPU kernels, with the buffers they keep from call to call (not part of a
/// tile's state).
#[derive(Default)]
pub(crate) struct CpuBackend {
    /// The forward and backward passes' buffers.
    pass: PassBuffers,
    /// The firing lines of the update, one buffer per task of samples.
    lines: Vec<Lines>,
}

buffers_are_not_state!(CpuBackend);

impl Backend for CpuBackend {
    fn pass(
        &mut self,
        array: &Array<'_>,
        pass: &PassCall<'_>,
        nm_running: &mut Option<f32>,
        y: &mut [f32],
    ) -> Result<()> {
        let (k, m) = pass.direction.sizes(array.out_size, array.in_size);
        self.pass.reserve(pass.io, pass.n, k, m)?;
        batch_scales(
            pass.io,
            pass.x,
            pass.n,
            k,
            nm_running,
            pass.learn,
            &mut self.pass.alphas,
        );
        analog_pass(
            pass.io,
            pass.direction,
            array.weights,
            array.out_size,
            array.in_size,
            pass.x,
            pass.n,
            pass.seed,
            pass.call,
            pass.first_sample,
            y,
            &mut self.pass,
        );
        Ok(())
    }

    fn update(&mut self, array: &mut Array<'_>, call: &UpdateCall<'_>) -> u64 {
        update(
            array.weights,
            array.out_size,
            array.in_size,
            array.devices,
            call,
            &mut self.lines,
        )
    }

    fn pulse(&mut self, array: &mut Array<'_>, seed: u64, call: u64, up: bool) -> u64 {
        pulse_all(
            array.weights,
            array.out_size,
            array.in_size,
            array.devices,
            seed,
            call,
            up,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TileConfig;
    use crate::interrupt::Interrupt;
    use crate::matrix::Matrix;
    use crate::tile::Tile;

    /// The CPU backend, counting the calls the front makes.
    #[derive(Default)]
    struct Counting {
        cpu: CpuBackend,
        calls: [usize; 3],
    }

    impl Backend for Counting {
        fn pass(
            &mut self,
            array: &Array<'_>,
            pass: &PassCall<'_>,
            nm_running: &mut Option<f32>,
            y: &mut [f32],
        ) -> Result<()> {
            self.calls[0] += 1;
            self.cpu.pass(array, pass, nm_running, y)
        }

        fn update(&mut self, array: &mut Array<'_>, call: &UpdateCall<'_>) -> u64 {
            self.calls[1] += 1;
            self.cpu.update(array, call)
        }

        fn pulse(&mut self, array: &mut Array<'_>, seed: u64, call: u64, up: bool) -> u64 {
            self.calls[2] += 1;
            self.cpu.pulse(array, seed, call, up)
        }
    }

    fn values(n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| scale * ((i * 37 % 23) as f32 / 11.0 - 1.0))
            .collect()
    }

    /// A batch is one backend call; the front checks the arguments before any call, and a tile
    /// run on another backend is the tile run on its own.
    #[test]
    fn the_front_makes_one_backend_call_per_batch() {
        let (out, inp, n) = (6, 9, 40);
        let mut tile = Tile::new(out, inp, TileConfig::default(), 5).unwrap();
        tile.set_weights(Matrix::new(&values(out * inp, 0.3), out, inp).unwrap())
            .unwrap();
        let mut own = tile.clone();
        let mut backend = Counting::default();
        let (x, d) = (values(n * inp, 1.0), values(n * out, 0.1));
        let (x, d) = (
            Matrix::new(&x, n, inp).unwrap(),
            Matrix::new(&d, n, out).unwrap(),
        );
        let (mut y, mut z) = (vec![0.0; n * out], vec![0.0; n * inp]);
        tile.forward_on(&mut backend, x, false, &mut y).unwrap();
        tile.backward_on(&mut backend, d, &mut z).unwrap();
        tile.update_on(&mut backend, x, d, 0.1, &Interrupt::never())
            .unwrap();
        tile.pulse_on(&mut backend, true).unwrap();
        assert_eq!(backend.calls, [2, 1, 1]);
        assert_eq!(y, own.forward(x, false).unwrap());
        assert_eq!(z, own.backward(d).unwrap());
        own.update(x, d, 0.1).unwrap();
        own.pulse(true).unwrap();
        assert_eq!(tile, own);
        // Arguments the front refuses reach no backend.
        let wrong = Matrix::new(&z[..inp], 1, inp).unwrap();
        assert!(tile.backward_on(&mut backend, wrong, &mut y).is_err());
        assert!(tile
            .update_on(&mut backend, x, d, -1.0, &Interrupt::never())
            .is_err());
        assert_eq!(backend.calls, [2, 1, 1]);
    }
}

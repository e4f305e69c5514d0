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
    /// Whether the batch advances the running average of `average_abs_max` noise management.
    pub learn: bool,
}

/// The analog operations of a tile, one call per batch (see the module documentation). Every
/// implementation gives the bits of [`crate::reference`] for the same state and call.
pub(crate) trait Backend {
    /// The pass `pass` on `array` into `y` (`n x out_size` forward, `n x in_size` backward,
    /// every value written); `nm_running` is the running average of the direction's
    /// `average_abs_max` noise management.
    fn pass(
        &mut self,
        array: &Array<'_>,
        pass: &PassCall<'_>,
        nm_running: &mut Option<f32>,
        y: &mut [f32],
    );

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
    ) {
        let (k, _) = pass.direction.sizes(array.out_size, array.in_size);
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
            y,
            &mut self.pass,
        );
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

//! A tile: one crossbar array with its weights, drawn devices, periphery, and random counters.

use std::ops::{Div, Mul};
use std::sync::atomic::AtomicUsize;

use crate::alloc::{filled, reserve, zeros};
use crate::backend::{Array, Backend, CpuBackend, PassCall};
use crate::config::TileConfig;
use crate::device::{DeviceConfig, DeviceState, UnitCell};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::io::Direction;
use crate::mapping::{scale_batch, scale_weights};
use crate::matrix::Matrix;
use crate::memory::{check_fits, with_estimate};
use crate::mixed_precision;
use crate::numeric::{check_finite, next_count};
use crate::one_sided;
use crate::transfer;
use crate::update::UpdateCall;
use crate::workspace::{UpdateErrors, Workspace};

/// The analog array of the tile `$tile` for a backend call: it borrows only the tile's
/// weights and devices, so that the call may read the configuration and counters beside it.
macro_rules! array_of {
    ($tile:expr) => {
        Array {
            out_size: $tile.out_size,
            in_size: $tile.in_size,
            weights: &mut $tile.weights,
            devices: &mut $tile.devices,
        }
    };
}

/// How many calls of each operation a tile has made: the position of its random streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Forward passes made.
    pub forward: u64,
    /// Backward passes made.
    pub backward: u64,
    /// Update calls made (characterisation pulses included).
    pub update: u64,
}

/// Bytes of a tile beyond its arrays (the struct, its configuration, the header of its saved
/// form), in [`Tile::estimate_memory`]: a generous constant.
const TILE_OVERHEAD: u64 = 4096;

/// Largest tile: 2^30 devices, counting every device of a unit cell (the weights and device
/// arrays then take 20 GiB or more).
pub const MAX_DEVICES: usize = 1 << 30;

/// Checks the sizes of a tile (or a grid of tiles) of `config`'s devices: each in
/// `[1, 2^32 - 1]`, and at most [`MAX_DEVICES`] devices in all.
pub(crate) fn check_sizes(out_size: usize, in_size: usize, config: &TileConfig) -> Result<()> {
    for (name, v) in [("out_size", out_size), ("in_size", in_size)] {
        if v == 0 || v > u32::MAX as usize {
            return Err(Error::invalid(
                name,
                format!("must be in [1, 2^32 - 1], got {v}"),
            ));
        }
    }
    let per_cross_point = config.device.devices_per_cross_point().max(1);
    if (out_size as u128) * (in_size as u128) * (per_cross_point as u128) > MAX_DEVICES as u128 {
        return Err(Error::invalid(
            "out_size * in_size",
            format!(
                "a tile holds at most 2^30 devices, got {out_size} x {in_size} x \
                 {per_cross_point} per cross-point"
            ),
        ));
    }
    Ok(())
}

/// One analog crossbar array of `out_size x in_size` devices (MODEL.md §1).
///
/// Weights are float32, row-major (row `i` is output `i`). All operations take a batch of `n`
/// samples as an `n x k` [`Matrix`] and give the same bits as the sample-by-sample definitions of
/// [`crate::reference`] at any thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub(crate) out_size: usize,
    pub(crate) in_size: usize,
    pub(crate) seed: u64,
    pub(crate) config: TileConfig,
    /// The analog weights `W_a` the devices hold.
    pub(crate) weights: Vec<f32>,
    /// Digital scale of every output row (weight scaling, `mapping.rs`); 1 without scaling.
    pub(crate) out_scales: Vec<f32>,
    pub(crate) devices: DeviceState,
    pub(crate) counters: Counters,
    /// Pulses applied to the devices since the tile was made (saved with its state).
    pub(crate) pulses: u64,
    /// Running averages of `average_abs_max` noise management: forward, backward.
    pub(crate) nm_running: [Option<f32>; 2],
    /// Which of equal parts of a larger batch the passes compute (data-parallel training):
    /// their samples draw the noise of samples `shard * n ..` of that batch (not saved).
    pub(crate) batch_shard: u64,
    /// The front's buffers, kept from call to call (not part of the state).
    pub(crate) workspace: Workspace,
    /// The kernels of the analog operations, with their buffers (not part of the state).
    pub(crate) backend: CpuBackend,
}

impl Tile {
    /// A tile with all weights zero and its devices drawn from `seed`. A tile whose
    /// [`estimate_memory`](crate::estimate_memory) is more than the process can allocate is
    /// refused ([`Error::OutOfMemory`], with the estimate), as is one whose allocation fails.
    pub fn new(out_size: usize, in_size: usize, config: TileConfig, seed: u64) -> Result<Self> {
        let estimate = Self::estimate_memory(out_size, in_size, &config)?;
        check_fits(out_size, in_size, estimate)?;
        Self::build(out_size, in_size, config, seed)
            .map_err(|e| with_estimate(e, out_size, in_size, estimate))
    }

    /// The bytes an `out_size x in_size` tile of `config` takes once built: the weights, the
    /// digital row scales, and every per-device array of its devices (the saved ones, the
    /// hidden weights of write noise, a unit cell's weights of every device, the arrays a model
    /// derives from them), plus a small constant. The work space of its operations (which
    /// grows with the batch) is not counted.
    pub fn estimate_memory(out_size: usize, in_size: usize, config: &TileConfig) -> Result<u64> {
        config.validate()?;
        check_sizes(out_size, in_size, config)?;
        // A 1 x 1 tile's per-device arrays hold one value each.
        let probe = Self::build(1, 1, config.clone(), 0)?;
        let devices = probe.devices();
        let derived: usize = devices
            .layers()
            .iter()
            .map(|l| l.model.derived_arrays())
            .sum();
        let per_cross_point = (1 + devices.named_arrays().len() + derived) as u64;
        let (rows, cols) = (out_size as u64, in_size as u64);
        Ok(4 * (rows * cols * per_cross_point + rows) + TILE_OVERHEAD)
    }

    /// [`Tile::new`] without the check of its estimate against the memory available.
    pub(crate) fn build(
        out_size: usize,
        in_size: usize,
        config: TileConfig,
        seed: u64,
    ) -> Result<Self> {
        config.validate()?;
        check_sizes(out_size, in_size, &config)?;
        let weights = zeros(out_size * in_size, "weights")?;
        let out_scales = filled(out_size, 1.0, "out_scales")?;
        let devices = DeviceState::populate(&config.device, out_size, in_size, seed)?;
        Ok(Tile {
            out_size,
            in_size,
            seed,
            weights,
            out_scales,
            devices,
            config,
            counters: Counters::default(),
            pulses: 0,
            nm_running: [None, None],
            batch_shard: 0,
            workspace: Workspace::default(),
            backend: CpuBackend::default(),
        })
    }

    /// The number of outputs (rows).
    pub fn out_size(&self) -> usize {
        self.out_size
    }

    /// The number of inputs (columns).
    pub fn in_size(&self) -> usize {
        self.in_size
    }

    /// The seed the devices were drawn from and every random stream is keyed by.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The configuration the tile runs with.
    pub fn config(&self) -> &TileConfig {
        &self.config
    }

    /// How many calls of each operation the tile has made.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Which of equal parts of a larger batch the forward and backward passes compute
    /// (default 0, the whole batch): a pass of `n` samples draws the noise of samples
    /// `shard * n .. (shard + 1) * n` of the larger batch, so that `R` processes, each passing
    /// its part `shard` of a batch of `R n` samples, draw what one process passing the whole
    /// batch draws (data-parallel training). Not part of the saved state; the update is not
    /// affected (it takes the whole batch in every process).
    pub fn batch_shard(&self) -> u64 {
        self.batch_shard
    }

    /// Sets [`Tile::batch_shard`].
    pub fn set_batch_shard(&mut self, shard: u64) {
        self.batch_shard = shard;
    }

    /// How many single pulses the updates (and [`Tile::pulse`]) have applied to the devices
    /// since the tile was made, counting every device of a unit cell; the exact float updates
    /// of the ideal device and of pulse type `none` apply none.
    pub fn pulses(&self) -> u64 {
        self.pulses
    }

    /// The drawn devices.
    pub fn devices(&self) -> &DeviceState {
        &self.devices
    }

    /// Changes the periphery or update parameters of a running tile (the device model is fixed
    /// once its devices are drawn).
    pub fn set_config(&mut self, config: TileConfig) -> Result<()> {
        self.check_config(&config)?;
        self.replace_config(config);
        Ok(())
    }

    /// `Ok` when [`Tile::set_config`] would take `config`: valid, and the same devices.
    pub fn check_config(&self, config: &TileConfig) -> Result<()> {
        config.validate()?;
        if !config.device.same_devices(&self.config.device) {
            return Err(Error::invalid(
                "device",
                "the device model of an existing tile cannot change; make a new tile",
            ));
        }
        Ok(())
    }

    /// Puts `config`, which [`Tile::check_config`] accepted, in place.
    pub(crate) fn replace_config(&mut self, config: TileConfig) {
        if config.forward.noise_management != self.config.forward.noise_management {
            self.nm_running[0] = None;
        }
        if config.backward.noise_management != self.config.backward.noise_management {
            self.nm_running[1] = None;
        }
        self.config = config;
    }

    /// The analog weights the devices hold, row-major `out_size x in_size`.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The digital scale of every output row (all 1 without weight scaling).
    pub fn out_scales(&self) -> &[f32] {
        &self.out_scales
    }

    /// The weights the tile computes with, `diag(out_scales) W_a`.
    pub fn effective_weights(&self) -> Vec<f32> {
        let mut w = self.weights.clone();
        scale_weights(&mut w, &self.out_scales, f32::mul);
        w
    }

    /// Sets the weights the tile computes with: maps them onto the devices with the
    /// configured weight scaling (new `out_scales`, MODEL.md §3.4), then programs the devices,
    /// each value clipped to its device's bounds (a unit cell programs its devices as its
    /// policy says, and models with write noise may add it).
    pub fn set_weights(&mut self, w: Matrix) -> Result<()> {
        self.check_weights(w)?;
        let scales = self.config.mapping.scales(w.data(), self.out_size);
        let mut analog = w.data().to_vec();
        scale_weights(&mut analog, &scales, f32::div);
        self.devices
            .program(&mut self.weights, &analog, self.in_size, self.seed)?;
        self.out_scales = scales;
        Ok(())
    }

    /// Programs the analog weights `W_a` as they are, keeping the digital scales.
    pub fn program_weights(&mut self, w: Matrix) -> Result<()> {
        self.check_weights(w)?;
        self.devices
            .program(&mut self.weights, w.data(), self.in_size, self.seed)
    }

    /// Maps the current effective weights anew (with the configured `weight_scaling_omega`)
    /// and programs them: the periodic re-mapping of a training run.
    pub fn remap(&mut self) -> Result<()> {
        let w = self.effective_weights();
        self.set_weights(Matrix::new(&w, self.out_size, self.in_size)?)
    }

    /// Checks a weight matrix: `out_size x in_size`, finite.
    pub(crate) fn check_weights(&self, w: Matrix) -> Result<()> {
        w.expect("weights", Some(self.out_size), self.in_size, "in_size")
    }

    /// `y = W x` through the forward periphery for `n` samples `x` (`n x in_size`), times the
    /// digital row scales. With `is_test` the running average of `average_abs_max` NM is used
    /// but not advanced.
    pub fn forward(&mut self, x: Matrix, is_test: bool) -> Result<Vec<f32>> {
        let mut y = zeros(x.rows() * self.out_size, "output")?;
        self.forward_into(x, is_test, &mut y)?;
        Ok(y)
    }

    /// [`Tile::forward`] into `y` (`n x out_size`); allocates nothing once the tile has seen
    /// a batch of this size.
    pub fn forward_into(&mut self, x: Matrix, is_test: bool, y: &mut [f32]) -> Result<()> {
        self.on_cpu(|tile, cpu| tile.forward_on(cpu, x, is_test, y))
    }

    /// `z = W^T d` through the backward periphery for `n` samples `d` (`n x out_size`); the
    /// errors enter multiplied by the digital row scales.
    pub fn backward(&mut self, d: Matrix) -> Result<Vec<f32>> {
        let mut z = zeros(d.rows() * self.in_size, "output")?;
        self.backward_into(d, &mut z)?;
        Ok(z)
    }

    /// [`Tile::backward`] into `z` (`n x in_size`); allocates nothing once the tile has seen a
    /// batch of this size.
    pub fn backward_into(&mut self, d: Matrix, z: &mut [f32]) -> Result<()> {
        self.on_cpu(|tile, cpu| tile.backward_on(cpu, d, z))
    }

    /// Runs `f` with the tile's own CPU backend (taken out of the tile meanwhile).
    fn on_cpu<R>(&mut self, f: impl FnOnce(&mut Tile, &mut CpuBackend) -> R) -> R {
        let mut cpu = std::mem::take(&mut self.backend);
        let result = f(self, &mut cpu);
        self.backend = cpu;
        result
    }

    /// [`Tile::forward_into`] on `backend`.
    pub(crate) fn forward_on(
        &mut self,
        backend: &mut impl Backend,
        x: Matrix,
        is_test: bool,
        y: &mut [f32],
    ) -> Result<()> {
        self.check_input(Direction::Forward, x)?;
        self.check_output(Direction::Forward, y, x.rows())?;
        self.pass(backend, Direction::Forward, x.data(), x.rows(), !is_test, y)?;
        self.scale_outputs(y);
        Ok(())
    }

    /// [`Tile::backward_into`] on `backend`.
    pub(crate) fn backward_on(
        &mut self,
        backend: &mut impl Backend,
        d: Matrix,
        z: &mut [f32],
    ) -> Result<()> {
        self.check_input(Direction::Backward, d)?;
        self.check_output(Direction::Backward, z, d.rows())?;
        let mut scaled = std::mem::take(&mut self.workspace.backward);
        let result = self
            .backward_input(d.data(), &mut scaled)
            .and_then(|input| self.pass(backend, Direction::Backward, input, d.rows(), true, z));
        self.workspace.backward = scaled;
        result
    }

    /// Forward outputs times the digital row scales.
    pub(crate) fn scale_outputs(&self, y: &mut [f32]) {
        if self.is_scaled() {
            scale_batch(y, &self.out_scales, f32::mul);
        }
    }

    /// The backward errors the array sees: `d`, or `d` times the digital row scales in
    /// `scaled` (an error when it cannot be allocated).
    pub(crate) fn backward_input<'a>(
        &self,
        d: &'a [f32],
        scaled: &'a mut Vec<f32>,
    ) -> Result<&'a [f32]> {
        if !self.is_scaled() {
            return Ok(d);
        }
        scaled.clear();
        reserve(scaled, d.len(), "backward work space")?;
        scaled.extend_from_slice(d);
        scale_batch(scaled, &self.out_scales, f32::mul);
        Ok(scaled)
    }

    /// The update's learning rate and errors (MODEL.md §3.4): `lr` times `mapping.lr_scale`
    /// and `d` without weight scaling; with it `d` divided by the row scales in `buf` (with
    /// learning-rate compensation by the scales over their mean, and the rate divided by the
    /// mean). An error when `buf` cannot be allocated.
    pub(crate) fn update_input<'a>(
        &self,
        d: &'a [f32],
        lr: f32,
        buf: &'a mut UpdateErrors,
    ) -> Result<(&'a [f32], f32)> {
        let mapping = &self.config.mapping;
        let mut rate = f64::from(lr) * mapping.lr_scale;
        if !self.is_scaled() {
            return Ok((d, rate as f32));
        }
        rate *= mapping.update_divisors(&self.out_scales, &mut buf.divisors);
        if buf.divisors.iter().all(|&s| s == 1.0) {
            return Ok((d, rate as f32));
        }
        buf.errors.clear();
        reserve(&mut buf.errors, d.len(), "update work space")?;
        buf.errors.extend_from_slice(d);
        scale_batch(&mut buf.errors, &buf.divisors, f32::div);
        Ok((&buf.errors, rate as f32))
    }

    fn is_scaled(&self) -> bool {
        self.out_scales.iter().any(|&s| s != 1.0)
    }

    /// Checks a forward (`n x in_size`) or backward (`n x out_size`) input, finite.
    pub(crate) fn check_input(&self, direction: Direction, x: Matrix) -> Result<()> {
        match direction {
            Direction::Forward => x.expect("x", None, self.in_size, "in_size"),
            Direction::Backward => x.expect("d", None, self.out_size, "out_size"),
        }
    }

    /// Checks the length of an output buffer for `n` samples.
    fn check_output(&self, direction: Direction, y: &[f32], n: usize) -> Result<()> {
        let (_, m) = direction.sizes(self.out_size, self.in_size);
        if y.len() != n * m {
            return Err(Error::Shape {
                name: "output",
                expected: format!("{} values ({n} samples)", n * m),
                got: format!("{} values", y.len()),
            });
        }
        Ok(())
    }

    /// One pass of a checked batch of `n` samples `x` into `y` on `backend`.
    fn pass(
        &mut self,
        backend: &mut impl Backend,
        direction: Direction,
        x: &[f32],
        n: usize,
        learn: bool,
        y: &mut [f32],
    ) -> Result<()> {
        self.check_countable(match direction {
            Direction::Forward => Call::Forward,
            Direction::Backward => Call::Backward,
        })?;
        let first_sample = self.batch_shard.checked_mul(n as u64).ok_or_else(|| {
            Error::invalid(
                "batch_shard",
                format!("{} times {n} samples is beyond 2^64", self.batch_shard),
            )
        })?;
        let (io, slot, call) = match direction {
            Direction::Forward => (&self.config.forward, 0, &mut self.counters.forward),
            Direction::Backward => (&self.config.backward, 1, &mut self.counters.backward),
        };
        let pass = PassCall {
            io,
            direction,
            x,
            n,
            seed: self.seed,
            call: *call,
            first_sample,
            learn,
        };
        let array = array_of!(self);
        backend.pass(&array, &pass, &mut self.nm_running[slot], y)?;
        *call += 1;
        Ok(())
    }

    /// `W <- W - lr d x^T` by pulses, for `n` samples `x` (`n x in_size`) and `d`
    /// (`n x out_size`), applied in order.
    pub fn update(&mut self, x: Matrix, d: Matrix, lr: f32) -> Result<()> {
        self.update_interruptible(x, d, lr, &Interrupt::never())
    }

    /// [`Tile::update`] that asks `interrupt` between chunks of samples whether to stop. A
    /// stopped update has applied its first samples, a whole number of them, in order, to
    /// every device, and counts as a call (the next update draws fresh random numbers); it
    /// returns [`Error::Interrupted`] with the number applied. The bits of an update that is
    /// not stopped are those of [`Tile::update`].
    pub fn update_interruptible(
        &mut self,
        x: Matrix,
        d: Matrix,
        lr: f32,
        interrupt: &Interrupt<'_>,
    ) -> Result<()> {
        self.on_cpu(|tile, cpu| tile.update_on(cpu, x, d, lr, interrupt))
    }

    /// [`Tile::update_interruptible`] on `backend`.
    pub(crate) fn update_on(
        &mut self,
        backend: &mut impl Backend,
        x: Matrix,
        d: Matrix,
        lr: f32,
        interrupt: &Interrupt<'_>,
    ) -> Result<()> {
        self.check_update(x, d, lr)?;
        self.check_countable(Call::Update(x.rows()))?;
        let mut scaled = std::mem::take(&mut self.workspace.errors);
        let (d, lr) = self.update_input(d.data(), lr, &mut scaled)?;
        let call = UpdateCall {
            update: &self.config.update,
            device: &self.config.device,
            x: x.data(),
            d,
            n: x.rows(),
            lr,
            seed: self.seed,
            call: self.counters.update,
            interrupt,
            stopped: AtomicUsize::new(usize::MAX),
            one_sided: false,
        };
        let sizes = (self.out_size, self.in_size);
        let pulses = match (&mut self.devices.cell, &self.config.device) {
            (UnitCell::Transfer(cell), device) if device.compound().is_some() => {
                let compound = device.compound().expect("a transfer compound");
                transfer::update(backend, compound, cell, &mut self.weights, sizes, &call)
            }
            (UnitCell::OneSided(cell), _) => match self.config.device.one_sided() {
                Some(p) => {
                    let sizes = (self.out_size, self.in_size);
                    one_sided::update(backend, p, cell, &mut self.weights, sizes, &call)
                }
                None => Err(Error::State(
                    "a one-sided unit cell under another device configuration".into(),
                )),
            },
            (UnitCell::MixedPrecision(cell), DeviceConfig::MixedPrecisionCompound(p)) => {
                mixed_precision::update(backend, p, cell, &mut self.weights, sizes, &call)
            }
            _ => Ok(backend.update(&mut array_of!(self), &call)),
        };
        let stopped = call.stopped();
        self.workspace.errors = scaled;
        self.counters.update += 1;
        self.pulses += pulses?;
        match stopped {
            Some(applied) => Err(Error::Interrupted {
                applied,
                samples: x.rows(),
            }),
            None => Ok(()),
        }
    }

    /// Applies exactly one pulse in direction `up` (the weight grows) to every device, with
    /// its cycle-to-cycle noise, as an update call (it advances the update counter and a unit
    /// cell's policy): the device response of MODEL.md §5, for characterisation. An error for
    /// the ideal device, which takes no pulses.
    pub fn pulse(&mut self, up: bool) -> Result<()> {
        self.on_cpu(|tile, cpu| tile.pulse_on(cpu, up))
    }

    /// Resets the devices of `count` consecutive columns from column `start` on, wrapping
    /// past the last column (every column when `count >= in_size`), each device with
    /// probability `prob` (aihwkit's `reset_columns`): its weight becomes its reset point
    /// (`reset`, `reset_dtod`) plus `reset_std N(0, 1)`, clipped to its bounds; every device of
    /// a unit cell is reset. An error for the ideal device, which has no reset.
    pub fn reset_columns(&mut self, start: usize, count: usize, prob: f32) -> Result<()> {
        let columns = wrapped_columns(self.in_size, start, count)?;
        self.reset_column_mask(&columns, prob)
    }

    /// Resets the devices of the columns where `columns` (one per input) is true, each with
    /// probability `prob` (see [`Tile::reset_columns`]).
    pub(crate) fn reset_column_mask(&mut self, columns: &[bool], prob: f32) -> Result<()> {
        if let UnitCell::Ideal = self.devices.cell {
            return Err(Error::invalid("device", "the ideal device has no reset"));
        }
        check_finite("reset_prob", prob, true)?;
        self.devices
            .reset_columns(&mut self.weights, self.in_size, columns, prob, self.seed)
    }

    /// The pulse counters of the devices that count them (`count_pulses`): for each such
    /// device (in unit-cell order) the `out_size x in_size` counts of the pulses that lowered
    /// the weight, then those of the pulses that raised it. `None` when no device counts.
    pub fn pulse_counts(&self) -> Option<Vec<u64>> {
        self.devices.pulse_counts()
    }

    /// [`Tile::pulse`] on `backend`.
    pub(crate) fn pulse_on(&mut self, backend: &mut impl Backend, up: bool) -> Result<()> {
        if let UnitCell::Ideal = self.devices.cell {
            return Err(Error::invalid("device", "the ideal device takes no pulses"));
        }
        self.check_countable(Call::Pulse)?;
        self.pulses += match &mut self.devices.cell {
            UnitCell::Transfer(cell) => {
                let sizes = (self.out_size, self.in_size);
                transfer::pulse(backend, cell, &mut self.weights, sizes, self.seed, up)
            }
            UnitCell::OneSided(cell) => {
                let sizes = (self.out_size, self.in_size);
                one_sided::pulse(backend, cell, &mut self.weights, sizes, self.seed, up)
            }
            UnitCell::MixedPrecision(cell) => {
                let sizes = (self.out_size, self.in_size);
                let (seed, call) = (self.seed, self.counters.update);
                mixed_precision::pulse(backend, cell, &mut self.weights, sizes, seed, call, up)
            }
            _ => backend.pulse(&mut array_of!(self), self.seed, self.counters.update, up),
        };
        self.counters.update += 1;
        Ok(())
    }

    /// `Ok` when `call` can be counted: its call counter can advance (a counter at the largest
    /// u64 would wrap to 0 and draw the random numbers of the first call again), and the
    /// pulses it may apply cannot take the pulse count past the largest u64. Checked before a
    /// call changes anything; a refused call is an [`Error::State`] naming the counter.
    pub(crate) fn check_countable(&self, call: Call) -> Result<()> {
        let (count, name) = match call {
            Call::Forward => (self.counters.forward, "counters.forward"),
            Call::Backward => (self.counters.backward, "counters.backward"),
            Call::Update(_) | Call::Pulse => (self.counters.update, "counters.update"),
        };
        next_count(count, name)?;
        let most = self.most_pulses(call);
        if u128::from(self.pulses) + most > u128::from(u64::MAX) {
            return Err(Error::State(format!(
                "pulses: {} applied so far; this call may apply {most} more, past the largest \
                 count 2^64 - 1 (make a new tile from the weights)",
                self.pulses
            )));
        }
        Ok(())
    }

    /// The most pulses `call` can apply: every device of every cross-point, `desired_bl`
    /// pulses per sample of an update (the longest train; an implicit pulse count is at most
    /// the train length), one for a characterisation pulse.
    pub(crate) fn most_pulses(&self, call: Call) -> u128 {
        let devices = (self.out_size * self.in_size) as u128
            * self.config.device.devices_per_cross_point() as u128;
        match call {
            Call::Forward | Call::Backward => 0,
            Call::Update(n) => {
                // A one-sided cell's refreshes may follow every sample and write every pair.
                let refresh = self.config.device.one_sided().map_or(0, |p| {
                    u128::from(p.refresh_update.desired_bl) * (p.refresh_every > 0) as u128
                });
                devices * n as u128 * (u128::from(self.config.update.desired_bl) + refresh)
            }
            Call::Pulse => devices,
        }
    }

    /// Checks the arguments of an update: `x` is `n x in_size`, `d` `n x out_size`, both
    /// finite, and `lr` finite and >= 0.
    pub(crate) fn check_update(&self, x: Matrix, d: Matrix, lr: f32) -> Result<()> {
        self.check_input(Direction::Forward, x)?;
        d.expect("d", Some(x.rows()), self.out_size, "out_size")?;
        check_lr(lr)
    }
}

/// A call that advances a counter, for [`Tile::check_countable`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    /// A forward pass.
    Forward,
    /// A backward pass.
    Backward,
    /// An update of this many samples.
    Update(usize),
    /// A characterisation pulse ([`Tile::pulse`]).
    Pulse,
}

/// Which of `in_size` columns `count` consecutive columns from `start` on cover, wrapping past
/// the last one (all of them when `count >= in_size`); `start` must be a column.
pub(crate) fn wrapped_columns(in_size: usize, start: usize, count: usize) -> Result<Vec<bool>> {
    if start >= in_size {
        return Err(Error::invalid(
            "start_column",
            format!("must be below in_size ({in_size}), got {start}"),
        ));
    }
    Ok((0..in_size)
        .map(|j| (j + in_size - start) % in_size < count)
        .collect())
}

/// Checks the learning rate of an update: finite and >= 0.
pub(crate) fn check_lr(lr: f32) -> Result<()> {
    check_finite("lr", lr, true)
}

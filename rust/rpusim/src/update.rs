//! The pulsed update of a batch (MODEL.md §4), fast path.
//!
//! The samples go in chunks whose lines fit in [`LINES_BUDGET`] (the L2 cache: the fire step
//! passes over a chunk's lines once per row), each in two steps: in parallel over samples, the plan (UM, UBLM)
//! and the firing lines of every sample ([`lines`]); then, in parallel over blocks of rows,
//! the coincidences, row by row and sample after sample ([`fire`]). Each row's pulses draw
//! their cycle-to-cycle noise from the row's own sequence (address `[sample, row, device of the
//! unit cell]`), so the result is that of `reference.rs` at any split. The devices of a unit
//! cell share the lines and are updated one after the other, each on its own weights; the
//! tile's weights are then their weighted sum.

mod fire;
#[cfg(target_arch = "x86_64")]
mod fire_avx512;
mod lines;
#[cfg(target_arch = "x86_64")]
mod lines_avx512;
pub(crate) mod pulse;

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{PulseType, UpdateParameters};
use crate::cpu::{compiled_for, isa, Isa};
use crate::device::{with_model, DeviceArrays, DeviceConfig, DeviceLayer, DeviceState, UnitCell};
use crate::interrupt::Interrupt;
use crate::rng::{Op, Purpose, Stream};
use crate::threads::for_each_chunk;

use fire::{apply, Store};
pub(crate) use lines::Lines;
use lines::{padded, Implicit, Payload, Samples, TrainStreams, Trains};
use pulse::float_step;

/// Everything one update call reads besides the weights.
pub(crate) struct UpdateCall<'a> {
    pub update: &'a UpdateParameters,
    pub device: &'a DeviceConfig,
    pub x: &'a [f32],
    pub d: &'a [f32],
    pub n: usize,
    pub lr: f32,
    pub seed: u64,
    pub call: u64,
    /// Asked between chunks of samples.
    pub interrupt: &'a Interrupt<'a>,
    /// How many samples the call applied when the interrupt stopped it; `usize::MAX` while it
    /// was not stopped.
    pub stopped: AtomicUsize,
    /// One side of a one-sided unit cell (`one_sided.rs`; false everywhere else): only the
    /// pulses (or, for pulse type `none`, the float steps) that raise a weight, where `d_i x_j
    /// < 0`, are applied; the others are drawn as usual (trains and cycle-to-cycle noise, so
    /// that every device's normals stay where they are) but not applied; and no diffusion or
    /// decay follows the call (the cell applies them once per update of the tile).
    pub one_sided: bool,
}

impl UpdateCall<'_> {
    /// Marks the call stopped after its first `samples` samples.
    pub(crate) fn stop_after(&self, samples: usize) {
        self.stopped.store(samples, Ordering::Relaxed);
    }

    /// How many samples the call applied if the interrupt stopped it early.
    pub(crate) fn stopped(&self) -> Option<usize> {
        match self.stopped.load(Ordering::Relaxed) {
            usize::MAX => None,
            n => Some(n),
        }
    }
}

/// The weights one pulsed model writes: the weights read (the tile's, or a unit-cell device's),
/// and the model with its hidden state; `sub` is the device's index in its unit cell.
struct Target<'a> {
    weights: &'a mut [f32],
    layer: &'a mut DeviceLayer,
    sub: u32,
}

/// Runs `f` on the pulsed devices that update call `call` writes (a unit cell's policy picks
/// them), then brings the tile's weights `w` up to date. Nothing for the ideal device.
fn for_targets(
    w: &mut [f32],
    cell: &mut UnitCell,
    seed: u64,
    call: u64,
    f: impl FnOnce(&mut [Target<'_>]) -> u64,
) -> u64 {
    match cell {
        // A compound's arrays come here one by one (`transfer.rs`), never the compound.
        UnitCell::Ideal
        | UnitCell::Transfer(_)
        | UnitCell::OneSided(_)
        | UnitCell::MixedPrecision(_) => 0,
        UnitCell::Single(layer) => f(&mut [Target {
            weights: w,
            layer,
            sub: 0,
        }]),
        UnitCell::Vector(v) => {
            let selected = v.select(seed, call);
            let mut targets: Vec<Target<'_>> = v
                .layers
                .iter_mut()
                .zip(v.weights.iter_mut())
                .enumerate()
                .filter(|(s, _)| selected.contains(s))
                .map(|(s, (layer, weights))| Target {
                    weights,
                    layer,
                    sub: s as u32,
                })
                .collect();
            let pulses = f(&mut targets);
            v.reduce(w);
            pulses
        }
    }
}

/// Applies one update call to `w` (`out_size x in_size`) on the devices `devices`, with the
/// lines in the buffers `lines` (kept from call to call); returns the number of pulses
/// applied.
pub(crate) fn update(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    devices: &mut DeviceState,
    call: &UpdateCall,
    lines: &mut Vec<Lines>,
) -> u64 {
    if let UnitCell::Ideal = devices.cell {
        // The ideal device takes the exact float step, unbounded, whatever the pulse type.
        if call.n > 0 && !w.is_empty() {
            float_update(w, out_size, in_size, None, call, call.n, true);
        }
        return 0;
    }
    let pulses = for_targets(w, &mut devices.cell, call.seed, call.call, |targets| {
        pulsed(out_size, in_size, targets, call, lines)
    });
    // One side of a one-sided cell: the cell applies the effects once per update of the tile.
    if !call.one_sided {
        devices.diffuse_and_decay(w, in_size, call.seed, call.call);
    }
    pulses
}

/// One pulse in direction `up` for every device the unit cell's policy picks (all devices of a
/// single-device tile), each with its cycle-to-cycle noise from address `[0, row, device]` of
/// the pulse-noise stream of update call `call`; returns the number of pulses.
pub(crate) fn pulse_all(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    devices: &mut DeviceState,
    seed: u64,
    call: u64,
    up: bool,
) -> u64 {
    let isa = isa();
    let mut lines = Lines::default();
    lines.clear(isa >= Isa::Avx512);
    lines.add_all_firing(out_size, in_size, up);
    let noise = Stream::new(seed, Op::Update, Purpose::PulseNoise, call);
    let samples = Samples {
        lines: std::slice::from_ref(&lines),
        words: 1,
        out_size,
        in_size,
    };
    for_targets(w, &mut devices.cell, seed, call, |targets| {
        fire_all::<Trains<1>>(targets, &samples, &noise, isa, false)
    })
}

/// The pulsed update of one call on the devices `targets`.
fn pulsed(
    out_size: usize,
    in_size: usize,
    targets: &mut [Target<'_>],
    call: &UpdateCall,
    lines: &mut Vec<Lines>,
) -> u64 {
    if call.n == 0 || out_size * in_size == 0 {
        return 0;
    }
    if call.update.pulse_type == PulseType::None {
        // The devices of a unit cell after the first apply as many samples as it did.
        let mut samples = call.n;
        for (k, t) in targets.iter_mut().enumerate() {
            samples = float_target(out_size, in_size, t, call, samples, k == 0);
        }
        return 0;
    }
    let stream = |p| Stream::new(call.seed, Op::Update, p, call.call);
    let run = Run {
        out_size,
        in_size,
        call,
        dw_min: call.device.granularity().unwrap_or(1.0),
        noise: stream(Purpose::PulseNoise),
        streams: TrainStreams {
            rows: stream(Purpose::PulseTrainD),
            cols: stream(Purpose::PulseTrainX),
        },
        isa: isa(),
    };
    if call.update.pulse_type == PulseType::DeterministicImplicit {
        return run.samples::<Implicit>(targets, lines);
    }
    // Pulse trains as bit masks of 32-bit words.
    match call.update.desired_bl.div_ceil(32) {
        1 => run.samples::<Trains<1>>(targets, lines),
        2 => run.samples::<Trains<2>>(targets, lines),
        3 | 4 => run.samples::<Trains<4>>(targets, lines),
        _ => run.samples::<Trains<8>>(targets, lines),
    }
}

/// Bytes of firing lines one chunk of samples may hold: about half the L2 cache of the CPUs at
/// hand, as the fire step reads a chunk's lines once per row (a few samples in the unit tests,
/// so that they go through several chunks).
const LINES_BUDGET: usize = if cfg!(test) { 4 << 10 } else { 512 << 10 };

/// Tasks of making the lines a chunk is split into, at most (and samples per task, at least).
const TASKS_PER_CHUNK: usize = 32;
const MIN_SAMPLES_PER_TASK: usize = 4;

/// Estimated nanoseconds of one thread per row or column of a sample, when making the lines:
/// the probability, and an eighth of a Philox block per four pulses of the train.
const LINE_NS: usize = 3;

/// One update call's pulsed samples.
struct Run<'a> {
    out_size: usize,
    in_size: usize,
    call: &'a UpdateCall<'a>,
    dw_min: f64,
    noise: Stream,
    streams: TrainStreams,
    isa: Isa,
}

impl Run<'_> {
    /// Makes the lines of the samples, a chunk at a time, into the buffers `lines` (one per
    /// task), and fires each chunk on `targets`.
    fn samples<P: Payload>(&self, targets: &mut [Target<'_>], lines: &mut Vec<Lines>) -> u64 {
        let (out_size, in_size, n) = (self.out_size, self.in_size, self.call.n);
        // A sample's lines: its rows, and its columns packed and dense, in 32-bit words.
        let per_sample = 4 * (out_size * (P::WORDS + 1) + 2 * padded(in_size) * (P::WORDS + 1));
        let chunk = (LINES_BUDGET / per_sample).clamp(1, n);
        let per_task = chunk.div_ceil(TASKS_PER_CHUNK).max(MIN_SAMPLES_PER_TASK);
        let tasks = chunk.div_ceil(per_task);
        if lines.len() < tasks {
            lines.resize_with(tasks, Lines::default);
        }
        let mut pulses = 0;
        for first in (0..n).step_by(chunk) {
            let count = chunk.min(n - first);
            let tasks = count.div_ceil(per_task);
            let work = count * (out_size + in_size) * LINE_NS;
            for_each_chunk(&mut lines[..tasks], 1, work, |t, task| {
                let start = first + t * per_task;
                let end = (start + per_task).min(first + count);
                let task = &mut task[0];
                task.clear(self.isa >= Isa::Avx512);
                compiled_for(
                    self.isa,
                    #[inline(always)]
                    || {
                        task.add::<P>(
                            &self.streams,
                            self.call,
                            self.dw_min,
                            (out_size, in_size),
                            start..end,
                        )
                    },
                );
            });
            let samples = Samples {
                lines: &lines[..tasks],
                words: P::WORDS,
                out_size,
                in_size,
            };
            pulses += fire_all::<P>(
                targets,
                &samples,
                &self.noise,
                self.isa,
                self.call.one_sided,
            );
            let applied = first + count;
            if applied < n && self.call.interrupt.requested() {
                self.call.stop_after(applied);
                break;
            }
        }
        pulses
    }
}

/// Fires the coincidences of `samples` on every target, each with the kernel of its model
/// (with `raise_only`, only the pulses that raise a weight).
fn fire_all<P: Payload>(
    targets: &mut [Target<'_>],
    samples: &Samples<'_>,
    noise: &Stream,
    isa: Isa,
    raise_only: bool,
) -> u64 {
    let (out_size, in_size) = (samples.out_size, samples.in_size);
    let mut pulses = 0;
    for t in targets {
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            effects,
            ..
        } = &mut *t.layer;
        let store = Store {
            weights: &mut *t.weights,
            persistent: persistent.as_deref_mut(),
            write_noise: *write_noise,
            sub: t.sub,
            counts: effects.pulse_counts.as_deref_mut(),
            raise_only,
        };
        pulses += with_model!(&*model, dev => apply::<P, _>(store, out_size, in_size, dev, samples, noise, isa));
    }
    pulses
}

/// The exact float update of pulse type `none` on one model: its stored weights (the
/// persistent ones with write noise, which the weights read then equal) step by `-lr d x`,
/// clipped to the device bounds; the first `samples` samples, and with `may_stop` fewer when
/// the call is interrupted. Returns the number of samples applied.
fn float_target(
    out_size: usize,
    in_size: usize,
    t: &mut Target<'_>,
    call: &UpdateCall,
    samples: usize,
    may_stop: bool,
) -> usize {
    let DeviceLayer {
        model, persistent, ..
    } = &mut *t.layer;
    let bounds = Some(model.arrays());
    match persistent {
        Some(p) => {
            let applied = float_update(p, out_size, in_size, bounds, call, samples, may_stop);
            t.weights.copy_from_slice(p);
            applied
        }
        None => float_update(
            t.weights, out_size, in_size, bounds, call, samples, may_stop,
        ),
    }
}

/// Steps of one weight by one sample (a multiply-add and a clip, about a nanosecond) between
/// two asks of the interrupt in the exact float update: some 30 ms of one thread, so that a
/// usual batch is one segment.
const FLOAT_SEGMENT_STEPS: usize = 1 << 25;

/// The exact float update, sample by sample, clipped to the device bounds if there are any:
/// the first `samples` samples, in segments of whole samples; with `may_stop`, the interrupt is
/// asked between segments. Returns the number of samples applied. Every weight takes its
/// samples in order, so the segments do not change the bits.
fn float_update(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    bounds: Option<&DeviceArrays>,
    call: &UpdateCall,
    samples: usize,
    may_stop: bool,
) -> usize {
    // About 8 K weights per block, so that a block stays in L2 while all samples pass over it.
    let rows = (8192 / in_size.max(1)).clamp(1, 64);
    let per_segment = (FLOAT_SEGMENT_STEPS / w.len().max(1)).max(1);
    let mut start = 0;
    while start < samples {
        let end = (start + per_segment).min(samples);
        float_samples(w, out_size, in_size, bounds, call, rows, start..end);
        start = end;
        if may_stop && start < samples && call.interrupt.requested() {
            call.stop_after(start);
            break;
        }
    }
    start
}

/// [`float_update`] of the samples `samples`, in blocks of `rows` rows.
fn float_samples(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    bounds: Option<&DeviceArrays>,
    call: &UpdateCall,
    rows: usize,
    samples: std::ops::Range<usize>,
) {
    let work = samples.len() * w.len();
    for_each_chunk(w, rows * in_size, work, |c, block| {
        for b in samples.clone() {
            let x = &call.x[b * in_size..(b + 1) * in_size];
            for (r, w_row) in block.chunks_mut(in_size).enumerate() {
                let i = c * rows + r;
                let di = call.d[b * out_size + i];
                for (j, w) in w_row.iter_mut().enumerate() {
                    if call.one_sided && !raises(di, x[j]) {
                        continue;
                    }
                    let k = i * in_size + j;
                    let (lo, hi) =
                        bounds.map_or((-f32::MAX, f32::MAX), |a| (a.b_min[k], a.b_max[k]));
                    *w = float_step(*w, call.lr, di, x[j], lo, hi);
                }
            }
        }
    });
}

/// Whether the error `d` and the input `x` ask a weight to grow (gradient descent on
/// `W - lr d x^T`: where `d x < 0`), as the pulse direction reads the signs.
#[inline(always)]
pub(crate) fn raises(d: f32, x: f32) -> bool {
    (d < 0.0) != (x < 0.0)
}

#[cfg(test)]
mod tests {
    use crate::config::{PulseType, TileConfig};
    use crate::matrix::Matrix;
    use crate::reference;
    use crate::tile::Tile;

    fn values(n: usize, scale: f32, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = i.wrapping_mul(0x9E37_79B9) ^ seed.wrapping_mul(0x85EB_CA6B);
                let h = (h ^ (h >> 15)).wrapping_mul(0x2C1B_3C6D);
                scale * ((h >> 8) as f32 / 8_388_608.0 - 1.0)
            })
            .collect()
    }

    /// Batches of several chunks of lines (the budget is small in the unit tests) give the
    /// reference's bits, with sampled trains and with implicit pulses.
    #[test]
    fn batches_of_several_chunks_equal_the_reference() {
        for pulse_type in [
            PulseType::StochasticCompressed,
            PulseType::DeterministicImplicit,
        ] {
            let mut config = TileConfig::default();
            config.update.pulse_type = pulse_type;
            let (out, inp, n) = (20, 30, 50);
            let mut fast = Tile::new(out, inp, config, 9).unwrap();
            let w = values(out * inp, 0.3, 1);
            fast.set_weights(Matrix::new(&w, out, inp).unwrap())
                .unwrap();
            let mut slow = fast.clone();
            let (x, d) = (values(n * inp, 1.0, 2), values(n * out, 0.2, 3));
            let (x, d) = (
                Matrix::new(&x, n, inp).unwrap(),
                Matrix::new(&d, n, out).unwrap(),
            );
            fast.update(x, d, 0.05).unwrap();
            reference::update(&mut slow, x, d, 0.05).unwrap();
            assert_eq!(fast, slow, "{pulse_type:?}");
        }
    }
}

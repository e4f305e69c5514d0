//! The pulsed update of a batch (MODEL.md §4), fast path.
//!
//! The samples go in chunks (all of them in one, unless a very large batch's lines would
//! exceed [`LINES_BUDGET`]), each in two steps: in parallel over samples, the plan (UM, UBLM)
//! and the firing lines of every sample ([`lines`]); then, in parallel over blocks of rows,
//! the coincidences, sample after sample ([`fire`]). Each row's pulses draw their
//! cycle-to-cycle noise from the row's own sequence (address `[sample, row, device of the unit
//! cell]`), so the result is that of `reference.rs` at any split. The devices of a unit cell
//! share the lines and are updated one after the other, each on its own weights; the tile's
//! weights are then their weighted sum.

mod cpu;
mod fire;
mod lines;

use crate::config::{PulseType, UpdateParameters};
use crate::device::{with_model, DeviceArrays, DeviceConfig, DeviceLayer, DeviceState, UnitCell};
use crate::pulse::float_step;
use crate::rng::{Op, Purpose, Stream};
use crate::threads::{for_each_chunk, map_range};

use fire::{apply, Store};
use lines::{
    Firing, Implicit, Line, Maker, One, Payload, Probabilities, Ranked, TaskLines, Trains, Uniform,
};

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
    f: impl FnOnce(&mut [Target<'_>]),
) {
    match cell {
        UnitCell::Ideal => {}
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
            f(&mut targets);
            v.reduce(w);
        }
    }
}

/// Applies one update call to `w` (`out_size x in_size`) on the devices `devices`.
pub(crate) fn update(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    devices: &mut DeviceState,
    call: &UpdateCall,
) {
    if let UnitCell::Ideal = devices.cell {
        // The ideal device takes the exact float step, unbounded, whatever the pulse type.
        if call.n > 0 && !w.is_empty() {
            float_update(w, out_size, in_size, None, call);
        }
        return;
    }
    for_targets(w, &mut devices.cell, call.seed, call.call, |targets| {
        pulsed(out_size, in_size, targets, call)
    });
}

/// One pulse in direction `up` for every device the unit cell's policy picks (all devices of a
/// single-device tile), each with its cycle-to-cycle noise from address `[0, row, device]` of
/// the pulse-noise stream of update call `call`.
pub(crate) fn pulse_all(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    devices: &mut DeviceState,
    seed: u64,
    call: u64,
    up: bool,
) {
    let line = |index: usize, negative: bool| Line {
        index: index as u32,
        negative,
        payload: One,
    };
    // A device's pulse goes up when its row and column signs differ.
    let cols: Vec<Line<One>> = (0..in_size).map(|j| line(j, false)).collect();
    let rows: Vec<Line<One>> = (0..out_size).map(|i| line(i, up)).collect();
    let positive: Vec<Ranked> = (0..in_size as u32)
        .map(|j| Ranked { col: j, rank: j })
        .collect();
    let samples = [Firing {
        sample: 0,
        cols: &cols,
        rows: &rows,
        uniform: Some(Uniform {
            positive: &positive,
            negative: &[],
        }),
    }];
    let noise = Stream::new(seed, Op::Update, Purpose::PulseNoise, call);
    for_targets(w, &mut devices.cell, seed, call, |targets| {
        fire_all(
            out_size,
            in_size,
            targets,
            &samples,
            out_size * in_size,
            &noise,
        )
    });
}

/// The pulsed update of one call on the devices `targets`.
fn pulsed(out_size: usize, in_size: usize, targets: &mut [Target<'_>], call: &UpdateCall) {
    if call.n == 0 || out_size * in_size == 0 {
        return;
    }
    if call.update.pulse_type == PulseType::None {
        for t in targets {
            float_target(out_size, in_size, t, call);
        }
        return;
    }
    let stream = |p| Stream::new(call.seed, Op::Update, p, call.call);
    let run = Run {
        out_size,
        in_size,
        call,
        dw_min: call.device.granularity().unwrap_or(1.0),
        noise: stream(Purpose::PulseNoise),
    };
    if call.update.pulse_type == PulseType::DeterministicImplicit {
        return run.samples::<Implicit>(&Probabilities, targets);
    }
    let trains = Trains {
        rows: stream(Purpose::PulseTrainD),
        cols: stream(Purpose::PulseTrainX),
    };
    // Pulse trains as bit masks of 64-bit words.
    match call.update.desired_bl.div_ceil(64) {
        1 => run.samples::<[u64; 1]>(&trains, targets),
        2 => run.samples::<[u64; 2]>(&trains, targets),
        3 => run.samples::<[u64; 3]>(&trains, targets),
        _ => run.samples::<[u64; 4]>(&trains, targets),
    }
}

/// Bytes of firing lines one chunk of samples may hold (a few samples in the unit tests, so
/// that they go through several chunks).
const LINES_BUDGET: usize = if cfg!(test) { 4 << 10 } else { 64 << 20 };

/// Samples per task of making the lines.
const SAMPLES_PER_TASK: usize = 4;

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
}

impl Run<'_> {
    /// Makes the lines of the samples, a chunk at a time, and fires each chunk on `targets`.
    fn samples<P: Payload>(&self, maker: &impl Maker<P>, targets: &mut [Target<'_>]) {
        let (out_size, in_size, n) = (self.out_size, self.in_size, self.call.n);
        let per_sample = (out_size + in_size) * std::mem::size_of::<Line<P>>();
        let chunk = (LINES_BUDGET / per_sample).clamp(1, n);
        for first in (0..n).step_by(chunk) {
            let count = chunk.min(n - first);
            let tasks = count.div_ceil(SAMPLES_PER_TASK);
            let work = count * (out_size + in_size) * LINE_NS;
            let lines = map_range(tasks, work, |t| {
                let start = first + t * SAMPLES_PER_TASK;
                let end = (start + SAMPLES_PER_TASK).min(first + count);
                cpu::native(
                    #[inline(always)]
                    || TaskLines::new(maker, self.call, self.dw_min, out_size, in_size, start..end),
                )
            });
            let samples: Vec<Firing<'_, P>> =
                lines.iter().flat_map(|t| t.firing(out_size)).collect();
            let pairs = lines.iter().map(|t| t.pairs).sum();
            if !samples.is_empty() {
                fire_all(out_size, in_size, targets, &samples, pairs, &self.noise);
            }
        }
    }
}

/// Fires the coincidences of `samples` on every target, each with the kernel of its model.
fn fire_all<P: Payload>(
    out_size: usize,
    in_size: usize,
    targets: &mut [Target<'_>],
    samples: &[Firing<'_, P>],
    pairs: usize,
    noise: &Stream,
) {
    for t in targets {
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            ..
        } = &mut *t.layer;
        let store = Store {
            weights: &mut *t.weights,
            persistent: persistent.as_deref_mut(),
            write_noise: *write_noise,
            sub: t.sub,
        };
        with_model!(&*model, dev => apply(store, out_size, in_size, dev, samples, pairs, noise));
    }
}

/// The exact float update of pulse type `none` on one model: its stored weights (the
/// persistent ones with write noise, which the weights read then equal) step by `-lr d x`,
/// clipped to the device bounds.
fn float_target(out_size: usize, in_size: usize, t: &mut Target<'_>, call: &UpdateCall) {
    let DeviceLayer {
        model, persistent, ..
    } = &mut *t.layer;
    let bounds = Some(model.arrays());
    match persistent {
        Some(p) => {
            float_update(p, out_size, in_size, bounds, call);
            t.weights.copy_from_slice(p);
        }
        None => float_update(t.weights, out_size, in_size, bounds, call),
    }
}

/// The exact float update, sample by sample, clipped to the device bounds if there are any.
fn float_update(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    bounds: Option<&DeviceArrays>,
    call: &UpdateCall,
) {
    let rows = fire::rows_per_block(out_size, in_size, 1);
    for_each_chunk(w, rows * in_size, call.n * w.len(), |c, block| {
        for b in 0..call.n {
            let x = &call.x[b * in_size..(b + 1) * in_size];
            for (r, w_row) in block.chunks_mut(in_size).enumerate() {
                let i = c * rows + r;
                let di = call.d[b * out_size + i];
                for (j, w) in w_row.iter_mut().enumerate() {
                    let k = i * in_size + j;
                    let (lo, hi) = bounds.map_or((f32::NEG_INFINITY, f32::INFINITY), |a| {
                        (a.b_min[k], a.b_max[k])
                    });
                    *w = float_step(*w, call.lr, di, x[j], lo, hi);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::config::{PulseType, TileConfig};
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
            fast.set_weights(&values(out * inp, 0.3, 1)).unwrap();
            let mut slow = fast.clone();
            let (x, d) = (values(n * inp, 1.0, 2), values(n * out, 0.2, 3));
            fast.update(&x, &d, n, 0.05).unwrap();
            reference::update(&mut slow, &x, &d, n, 0.05).unwrap();
            assert_eq!(fast, slow, "{pulse_type:?}");
        }
    }
}

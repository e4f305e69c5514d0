//! The pulsed update of a batch (MODEL.md §4), fast path.
//!
//! First, per sample and in parallel: the plan (UM, UBLM) and the firing lines, i.e. the
//! columns and rows with a pulse train (or, for `deterministic_implicit`, a probability). Then,
//! in parallel over blocks of rows: each block walks the samples in order, and each device with
//! coincidences gets its pulses one after the other, in increasing column order along its row.
//! A row belongs to one block and its pulses draw their cycle-to-cycle noise from the row's own
//! sequence (address `[sample, row, device of the unit cell]`), so the result is that of
//! `reference.rs`. The devices of a unit cell share the pulse trains and are updated one after
//! the other, each on its own weights; the tile's weights are then their weighted sum.

use crate::config::{PulseType, UpdateParameters};
use crate::device::PulsedDevice;
use crate::device::{with_model, DeviceArrays, DeviceConfig, DeviceLayer, DeviceState, UnitCell};
use crate::pulse::{abs_max, float_step, implicit_pulses, plan, train, SamplePlan};
use crate::rng::{Op, Purpose, Stream};
use crate::threads::{for_each_chunk, map_range};

/// What a row or column carries into coincidence counting.
trait Payload: Copy + Send + Sync {
    fn active(&self) -> bool;
    /// Pulses a device gets from its row and its column.
    fn pulses(row: &Self, col: &Self) -> u32;
}

/// A sampled pulse train of up to `64 W` bits.
impl<const W: usize> Payload for [u64; W] {
    #[inline(always)]
    fn active(&self) -> bool {
        self.iter().any(|&m| m != 0)
    }

    #[inline(always)]
    fn pulses(row: &Self, col: &Self) -> u32 {
        row.iter().zip(col).map(|(r, c)| (r & c).count_ones()).sum()
    }
}

/// A firing probability with the sample's train length, for `deterministic_implicit`.
#[derive(Debug, Clone, Copy)]
struct Implicit {
    p: f32,
    bl: u32,
}

impl Payload for Implicit {
    #[inline(always)]
    fn active(&self) -> bool {
        self.p > 0.0
    }

    #[inline(always)]
    fn pulses(row: &Self, col: &Self) -> u32 {
        implicit_pulses(row.bl, row.p, col.p)
    }
}

/// Exactly one pulse for every device ([`pulse_all`]).
#[derive(Debug, Clone, Copy)]
struct One;

impl Payload for One {
    #[inline(always)]
    fn active(&self) -> bool {
        true
    }

    #[inline(always)]
    fn pulses(_row: &Self, _col: &Self) -> u32 {
        1
    }
}

/// A row or column that fires in one sample.
#[derive(Debug, Clone, Copy)]
struct Line<P> {
    index: u32,
    negative: bool,
    payload: P,
}

/// The firing lines of one sample: the active columns, and every row (active or not) so that
/// a block of rows can index them directly.
struct SampleLines<P> {
    cols: Vec<Line<P>>,
    rows: Vec<Line<P>>,
}

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
    let lines = [Some(SampleLines {
        cols: (0..in_size).map(|j| line(j, false)).collect(),
        rows: (0..out_size).map(|i| line(i, up)).collect(),
    })];
    let noise = Stream::new(seed, Op::Update, Purpose::PulseNoise, call);
    for_targets(w, &mut devices.cell, seed, call, |targets| {
        fire(in_size, targets, &lines, &noise)
    });
}

/// The pulsed update of one call on the devices `targets`.
fn pulsed(out_size: usize, in_size: usize, targets: &mut [Target<'_>], call: &UpdateCall) {
    let (x, d, n) = (call.x, call.d, call.n);
    if n == 0 || out_size * in_size == 0 {
        return;
    }
    if call.update.pulse_type == PulseType::None {
        for t in targets {
            float_target(out_size, in_size, t, call);
        }
        return;
    }
    let dw_min = call.device.granularity().unwrap_or(1.0);
    let plans: Vec<Option<SamplePlan>> = (0..n)
        .map(|b| {
            let x_max = abs_max(&x[b * in_size..(b + 1) * in_size]);
            let d_max = abs_max(&d[b * out_size..(b + 1) * out_size]);
            plan(call.update, dw_min, call.lr, x_max, d_max)
        })
        .collect();
    let stream = |p| Stream::new(call.seed, Op::Update, p, call.call);
    let noise = stream(Purpose::PulseNoise);
    match call.update.pulse_type {
        PulseType::DeterministicImplicit => {
            let lines = sample_lines(out_size, in_size, call, &plans, |_, _, p, bl| Implicit {
                p,
                bl,
            });
            fire(in_size, targets, &lines, &noise);
        }
        _ => {
            let (sx, sd) = (stream(Purpose::PulseTrainX), stream(Purpose::PulseTrainD));
            // Pulse trains as bit masks of `words` 64-bit words.
            macro_rules! with_words {
                ($w:literal) => {{
                    let lines =
                        sample_lines(out_size, in_size, call, &plans, |row, addr, p, bl| {
                            let mut mask = [0u64; $w];
                            train(if row { &sd } else { &sx }, addr, p, bl, &mut mask);
                            mask
                        });
                    fire(in_size, targets, &lines, &noise);
                }};
            }
            match call.update.desired_bl.div_ceil(64) {
                1 => with_words!(1),
                2 => with_words!(2),
                3 => with_words!(3),
                _ => with_words!(4),
            }
        }
    }
}

/// Fires the coincidences of `lines` on every target, each with the kernel of its model.
fn fire<P: Payload>(
    in_size: usize,
    targets: &mut [Target<'_>],
    lines: &[Option<SampleLines<P>>],
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
        with_model!(&*model, dev => apply(store, in_size, dev, lines, noise));
    }
}

/// Where one model's pulses go: the weights read and, with write noise, the persistent weights
/// the pulses act on.
struct Store<'a> {
    weights: &'a mut [f32],
    persistent: Option<&'a mut [f32]>,
    write_noise: f32,
    sub: u32,
}

/// The firing lines of every sample, in parallel over samples. `make(is_row, address, p, bl)`
/// builds a line's payload; rows and columns of a sample use addresses `[b, i, 0]`, `[b, j, 0]`.
fn sample_lines<P: Payload>(
    out_size: usize,
    in_size: usize,
    call: &UpdateCall,
    plans: &[Option<SamplePlan>],
    make: impl Fn(bool, [u32; 3], f32, u32) -> P + Send + Sync,
) -> Vec<Option<SampleLines<P>>> {
    let work = call.n * (out_size + in_size) * 64;
    map_range(call.n, work, |b| {
        let plan = plans[b]?;
        let line = |is_row: bool, index: usize, v: f32| {
            let p = if is_row { plan.p_row(v) } else { plan.p_col(v) };
            Line {
                index: index as u32,
                negative: v < 0.0,
                payload: make(is_row, [b as u32, index as u32, 0], p, plan.bl),
            }
        };
        let x = &call.x[b * in_size..(b + 1) * in_size];
        let d = &call.d[b * out_size..(b + 1) * out_size];
        let cols: Vec<Line<P>> = x
            .iter()
            .enumerate()
            .map(|(j, &v)| line(false, j, v))
            .filter(|l| l.payload.active())
            .collect();
        if cols.is_empty() {
            return None;
        }
        let rows = d
            .iter()
            .enumerate()
            .map(|(i, &v)| line(true, i, v))
            .collect();
        Some(SampleLines { cols, rows })
    })
}

/// Rows per parallel block of the update: about 8 K weights, so that a block's weights and
/// device arrays stay in L2 while all samples pass over it.
fn rows_per_block(in_size: usize) -> usize {
    (8192 / in_size.max(1)).clamp(1, 64)
}

/// Fires every coincidence of every sample, sample after sample, in parallel over row blocks.
/// With write noise, a device's weight read becomes its persistent weight plus one normal of
/// the row's sequence, drawn after the device's pulses.
fn apply<P: Payload, D: PulsedDevice>(
    store: Store<'_>,
    in_size: usize,
    dev: &D,
    lines: &[Option<SampleLines<P>>],
    noise: &Stream,
) {
    let rows = rows_per_block(in_size);
    let chunk = rows * in_size;
    let work: usize = lines
        .iter()
        .flatten()
        .map(|s| s.rows.len() * s.cols.len() * 4)
        .sum();
    let (write_noise, sub) = (store.write_noise, store.sub);
    let mut blocks: Vec<(&mut [f32], Option<&mut [f32]>)> = match store.persistent {
        None => store.weights.chunks_mut(chunk).map(|b| (b, None)).collect(),
        Some(p) => store
            .weights
            .chunks_mut(chunk)
            .zip(p.chunks_mut(chunk))
            .map(|(b, h)| (b, Some(h)))
            .collect(),
    };
    for_each_chunk(&mut blocks, 1, work, |c, blk| {
        let (block, hidden) = &mut blk[0];
        let i0 = c * rows;
        for (b, sample) in lines.iter().enumerate() {
            let Some(sample) = sample else { continue };
            for (r, w_row) in block.chunks_mut(in_size).enumerate() {
                let row = &sample.rows[i0 + r];
                if !row.payload.active() {
                    continue;
                }
                let mut row_noise = noise.normals([b as u32, row.index, sub]);
                let mut p_row = hidden
                    .as_deref_mut()
                    .map(|h| &mut h[r * in_size..(r + 1) * in_size]);
                for col in &sample.cols {
                    let pulses = P::pulses(&row.payload, &col.payload);
                    if pulses == 0 {
                        continue;
                    }
                    let j = col.index as usize;
                    let k = (i0 + r) * in_size + j;
                    // W grows when d_i x_j < 0 (gradient descent on W - lr d x^T).
                    let up = row.negative != col.negative;
                    match p_row.as_deref_mut() {
                        None => {
                            w_row[j] = dev.apply_pulses(k, w_row[j], pulses, up, &mut row_noise)
                        }
                        Some(p) => {
                            p[j] = dev.apply_pulses(k, p[j], pulses, up, &mut row_noise);
                            w_row[j] = p[j] + write_noise * row_noise.draw();
                        }
                    }
                }
            }
        }
    });
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
    let rows = rows_per_block(in_size);
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

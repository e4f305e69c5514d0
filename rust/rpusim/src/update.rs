//! The pulsed update of a batch (MODEL.md §4), fast path.
//!
//! First, per sample and in parallel: the plan (UM, UBLM) and the firing lines, i.e. the
//! columns and rows with a pulse train (or, for `deterministic_implicit`, a probability). Then,
//! in parallel over blocks of rows: each block walks the samples in order, and each device with
//! coincidences gets its pulses one after the other, in increasing column order along its row.
//! A row belongs to one block and its pulses draw their cycle-to-cycle noise from the row's own
//! sequence (address `[sample, row]`), so the result is that of `reference.rs`.

use crate::config::{PulseType, UpdateParameters};
use crate::device::{DeviceArrays, DeviceConfig};
use crate::device::{DeviceState, PulsedDevice};
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

/// Applies one update call to `w` (`out_size x in_size`) on the devices `devices`.
pub(crate) fn update(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    devices: &DeviceState,
    call: &UpdateCall,
) {
    if call.n == 0 || w.is_empty() {
        return;
    }
    match devices {
        DeviceState::ConstantStep(dev) => update_on(w, out_size, in_size, dev, call),
        // The ideal device takes the exact float step, unbounded, whatever the pulse type.
        DeviceState::Ideal => float_update(w, out_size, in_size, None, call),
    }
}

fn update_on<D: PulsedDevice>(
    w: &mut [f32],
    out_size: usize,
    in_size: usize,
    dev: &D,
    call: &UpdateCall,
) {
    let (x, d, n) = (call.x, call.d, call.n);
    if call.update.pulse_type == PulseType::None {
        return float_update(w, out_size, in_size, Some(dev.arrays()), call);
    }
    let dw_min = call.device.pulsed().map_or(1.0, |p| p.dw_min);
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
            apply(w, in_size, dev, &lines, &noise);
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
                    apply(w, in_size, dev, &lines, &noise);
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
fn apply<P: Payload, D: PulsedDevice>(
    w: &mut [f32],
    in_size: usize,
    dev: &D,
    lines: &[Option<SampleLines<P>>],
    noise: &Stream,
) {
    let rows = rows_per_block(in_size);
    let work: usize = lines
        .iter()
        .flatten()
        .map(|s| s.rows.len() * s.cols.len() * 4)
        .sum();
    for_each_chunk(w, rows * in_size, work, |c, block| {
        let i0 = c * rows;
        for (b, sample) in lines.iter().enumerate() {
            let Some(sample) = sample else { continue };
            for (r, w_row) in block.chunks_mut(in_size).enumerate() {
                let row = &sample.rows[i0 + r];
                if !row.payload.active() {
                    continue;
                }
                let mut row_noise = noise.normals([b as u32, row.index, 0]);
                for col in &sample.cols {
                    let pulses = P::pulses(&row.payload, &col.payload);
                    if pulses == 0 {
                        continue;
                    }
                    let j = col.index as usize;
                    let k = (i0 + r) * in_size + j;
                    // W grows when d_i x_j < 0 (gradient descent on W - lr d x^T).
                    let up = row.negative != col.negative;
                    w_row[j] = dev.apply_pulses(k, w_row[j], pulses, up, &mut row_noise);
                }
            }
        }
    });
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

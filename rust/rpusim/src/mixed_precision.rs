//! The update of a mixed-precision compound (aihwkit's `MixedPrecisionCompound`;
//! docs/model_notes.md, "Mixed-precision compound"), inside one engine call: the samples'
//! outer products, of `x` and `d` quantised when asked, accumulate in the digital matrix
//! `chi`; after the sample that a transfer follows, the rows of the transfer give up their
//! whole multiples of the granularity, and one update call of the device (one `Backend::update`,
//! so every backend computes it and the reference backend defines it) writes them. That call
//! is made in every update, empty when there was no transfer, so that the device's
//! diffusion and decay follow each update as they follow a plain device's.

use std::sync::atomic::AtomicUsize;

use crate::alloc::zeros;
use crate::backend::{Array, Backend};
use crate::device::{MixedPrecisionCell, MixedPrecisionCompoundParameters};
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::numeric::{abs_max, saturate};
use crate::rng::{unit_uniform, Op, Purpose, Stream};
use crate::threads::sum_chunks;
use crate::update::UpdateCall;

/// The device of `cell` with the tile's weights `weights`, for a backend call.
fn array_of<'a>(
    cell: &'a mut MixedPrecisionCell,
    weights: &'a mut [f32],
    (out_size, in_size): (usize, usize),
) -> Array<'a> {
    Array {
        out_size,
        in_size,
        weights,
        devices: &mut cell.device,
    }
}

/// `v` quantised into `out` (docs/model_notes.md, step 2): `half = bins / 2` (floored) bins
/// of width `max |v| / half` on each side of 0 (width 1 when `v` is all zero), each value
/// rounded to a whole number of widths (ties to even, as C's `rintf`), after adding `u - 1/2`
/// with `u` the next of `uniforms` when given (stochastic rounding), clamped to `half`.
pub(crate) fn quantize(v: &[f32], bins: u32, uniforms: Option<&[f32]>, out: &mut [f32]) {
    let half = (bins / 2) as f32;
    let width = match abs_max(v) / half {
        0.0 => 1.0,
        w => w,
    };
    for (j, (o, &x)) in out.iter_mut().zip(v).enumerate() {
        let shift = uniforms.map_or(0.0, |u| u[j] - 0.5);
        let q = (x / width + shift).round_ties_even();
        *o = q.clamp(-half, half) * width;
    }
}

/// The samples' `x` or `d` as the accumulation reads them: quantised into a buffer when the
/// compound has bins for them, else the inputs as they are.
fn quantized<'a>(
    v: &'a [f32],
    (n, k): (usize, usize),
    bins: u32,
    stochastic: Option<Stream>,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    if bins == 0 {
        return Ok(std::borrow::Cow::Borrowed(v));
    }
    let mut out = zeros(n * k, "quantised update vectors")?;
    let mut u = match stochastic {
        Some(_) => zeros(k, "stochastic rounding")?,
        None => Vec::new(),
    };
    for b in 0..n {
        if let Some(stream) = &stochastic {
            stream.fill_uniforms([b as u32, (b >> 32) as u32, 0], &mut u);
        }
        let uniforms = stochastic.map(|_| u.as_slice());
        quantize(
            &v[b * k..(b + 1) * k],
            bins,
            uniforms,
            &mut out[b * k..(b + 1) * k],
        );
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// The transfer an update makes: after which of its samples, and which rows from which first
/// one.
#[derive(Debug, Clone, Copy)]
struct Due {
    /// The transfer follows this sample of the call.
    after: usize,
    first_row: usize,
    rows: usize,
}

/// The transfer update `call` is due (at most one, as the period is at least the batch), with
/// its first row; nothing changes (the caller commits it with [`commit`]). aihwkit's
/// `doTransfer` and `transfer`: after the sample whose count since the weights were set, `c`,
/// is a positive multiple of `transfer_every * n`.
fn due(
    params: &MixedPrecisionCompoundParameters,
    cell: &MixedPrecisionCell,
    out_size: usize,
    call: &UpdateCall<'_>,
) -> Option<Due> {
    let every = u64::from(params.transfer_every).checked_mul(call.n as u64)?;
    if every == 0 {
        return None;
    }
    let start = cell.counters.samples;
    let multiple = start.max(1).div_ceil(every).checked_mul(every)?;
    let after = usize::try_from(multiple - start).ok()?;
    let rows = params.rows_per_transfer(out_size);
    if after >= call.n || rows == 0 || params.transfer_lr == 0.0 {
        return None;
    }
    let mut first_row = cell.counters.next_row as usize % out_size;
    if params.random_row && rows < out_size {
        let stream = Stream::new(
            call.seed,
            Op::Update,
            Purpose::TransferRow,
            cell.counters.transfers,
        );
        let u = unit_uniform(stream.word_at([0, 0, 0], 0));
        first_row = ((u * out_size as f32).floor() as usize).min(out_size - 1);
    }
    Some(Due {
        after,
        first_row,
        rows,
    })
}

/// Counts the transfer `due` made: the next one starts after its rows.
fn commit(cell: &mut MixedPrecisionCell, due: Due, out_size: usize) {
    cell.counters.transfers += 1;
    cell.counters.next_row = ((due.first_row + due.rows) % out_size) as u64;
}

/// The update `call` of a mixed-precision compound whose tile's weights (the device's) are
/// `weights`: the accumulation into `chi`, the transfer it is due, and the device's update
/// call. Returns the pulses applied. An interrupt is asked once, before the accumulation (the
/// digital part is short): a stopped call accumulates nothing and writes nothing, but its
/// device's call (diffusion, decay) is made. An error only when a work space cannot be
/// allocated, before anything changed.
pub(crate) fn update(
    backend: &mut impl Backend,
    params: &MixedPrecisionCompoundParameters,
    cell: &mut MixedPrecisionCell,
    weights: &mut [f32],
    (out_size, in_size): (usize, usize),
    call: &UpdateCall<'_>,
) -> Result<u64> {
    let interrupted = call.interrupt.requested();
    let n = if interrupted { 0 } else { call.n };
    let due = match interrupted || out_size * in_size == 0 {
        true => None,
        false => due(params, cell, out_size, call),
    };
    let stream =
        |purpose, on: bool| on.then(|| Stream::new(call.seed, Op::Update, purpose, call.call));
    let qx = quantized(
        &call.x[..n * in_size],
        (n, in_size),
        params.n_x_bins,
        stream(Purpose::QuantizeX, params.stoc_round_x),
    )?;
    let qd = quantized(
        &call.d[..n * out_size],
        (n, out_size),
        params.n_d_bins,
        stream(Purpose::QuantizeD, params.stoc_round_d),
    )?;
    // The whole steps of every row, and the write's vectors: row r of the transfer takes
    // x = its whole steps, d = e_i.
    let rows = due.map_or(0, |t| t.rows);
    let mut steps = match due {
        Some(_) => zeros(out_size * in_size, "mixed-precision transfer")?,
        None => Vec::new(),
    };
    let mut x = zeros(rows * in_size, "mixed-precision transfer")?;
    let mut d = zeros(rows * out_size, "mixed-precision transfer")?;
    let g = params.step();
    let lr = call.lr;
    let rows_per_chunk = (4096 / in_size.max(1)).max(1);
    let work_ns = n * out_size * in_size;
    let accumulate = |c: usize, chi: &mut [f32], steps: Option<&mut [f32]>| {
        let first = c * rows_per_chunk;
        let mut steps = steps.map(|s| s.chunks_mut(in_size));
        for (r, row) in chi.chunks_mut(in_size).enumerate() {
            let i = first + r;
            let mut step_row = steps.as_mut().and_then(|s| s.next());
            let transferred = due.filter(|t| (i + out_size - t.first_row) % out_size < t.rows);
            for b in 0..n {
                let a = saturate(lr * qd[b * out_size + i]);
                if a != 0.0 {
                    let xb = &qx[b * in_size..(b + 1) * in_size];
                    for (h, &x) in row.iter_mut().zip(xb) {
                        *h = saturate(*h + a * x);
                    }
                }
                if let (Some(t), Some(step_row)) = (transferred, step_row.as_deref_mut()) {
                    if t.after == b {
                        for (h, s) in row.iter_mut().zip(step_row.iter_mut()) {
                            let q = saturate((*h / g).trunc());
                            *s = q;
                            *h = saturate(*h - q * g);
                        }
                    }
                }
            }
        }
        0
    };
    if out_size * in_size > 0 && n > 0 {
        let steps = due.map(|_| steps.as_mut_slice());
        sum_chunks(
            &mut cell.chi,
            steps,
            rows_per_chunk * in_size,
            work_ns,
            accumulate,
        );
    }
    cell.counters.samples += n as u64;
    if let Some(t) = due {
        commit(cell, t, out_size);
        for r in 0..rows {
            let i = (t.first_row + r) % out_size;
            x[r * in_size..(r + 1) * in_size]
                .copy_from_slice(&steps[i * in_size..(i + 1) * in_size]);
            d[r * out_size + i] = 1.0;
        }
    }
    if interrupted {
        call.stop_after(0);
    }
    let update = params.transfer_update(call.update);
    let write = UpdateCall {
        update: &update,
        device: &params.device,
        x: &x,
        d: &d,
        n: rows,
        lr: g * params.transfer_lr as f32,
        seed: call.seed,
        call: call.call,
        interrupt: &Interrupt::never(),
        stopped: AtomicUsize::new(usize::MAX),
        one_sided: false,
    };
    Ok(backend.update(&mut array_of(cell, weights, (out_size, in_size)), &write))
}

/// One characterisation pulse in direction `up` on every device, as update call `call` of the
/// tile seeded `seed`. Returns the pulses applied.
pub(crate) fn pulse(
    backend: &mut impl Backend,
    cell: &mut MixedPrecisionCell,
    weights: &mut [f32],
    sizes: (usize, usize),
    seed: u64,
    call: u64,
    up: bool,
) -> u64 {
    backend.pulse(&mut array_of(cell, weights, sizes), seed, call, up)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounding to the bins: ties to even, clamped, zero stays zero, and a shift of
    /// `u - 1/2` rounds up where `u` is above one minus the fraction.
    #[test]
    fn quantisation_rounds_to_whole_bins() {
        let mut out = [0.0; 5];
        // 5 bins: half = 2, width = 1 / 2.
        quantize(&[1.0, -0.25, 0.75, 0.1, 0.0], 5, None, &mut out);
        assert_eq!(out, [1.0, -0.0, 1.0, 0.0, 0.0]);
        quantize(&[0.0; 5], 4, Some(&[0.99; 5]), &mut out);
        assert_eq!(out, [0.0; 5]);
        // Width 1 / 2: 0.1 is 0.2 widths, rounds up when u - 0.5 + 0.2 >= 0.5.
        let mut up = [0.0; 2];
        quantize(&[1.0, 0.1], 4, Some(&[0.5, 0.85]), &mut up);
        assert_eq!(up, [1.0, 0.5]);
        quantize(&[1.0, 0.1], 4, Some(&[0.5, 0.75]), &mut up);
        assert_eq!(up, [1.0, 0.0]);
    }
}

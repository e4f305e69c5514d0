//! The update of a transfer compound (Tiki-Taka v1 and v2; docs/model_notes.md, "Transfer
//! compounds"), inside one engine call: the batch is cut at the samples after which a
//! transfer falls, each piece is one update of the fast array `A`, and each transfer one pass
//! of one-hot vectors through `A` (the read) and one update of the slow array `C` (the write).
//! Every step is a call of the backend seam, so every backend computes a compound, and the
//! reference backend defines it.

use std::sync::atomic::AtomicUsize;

use crate::alloc::zeros;
use crate::backend::{Array, Backend, PassCall};
use crate::device::{Compound, DeviceState, TransferCell};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::io::Direction;
use crate::update::UpdateCall;

/// The first call number of the transfers' reads (forward or backward passes of the tile's
/// seed) and writes (update calls): transfer `t` is call `TRANSFER_CALLS + t`, a number the
/// tile's own calls never reach, so that their random streams are apart.
const TRANSFER_CALLS: u64 = 1 << 63;

/// The size of a compound's array and of the vectors of its transfers.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    out_size: usize,
    in_size: usize,
}

impl Sizes {
    /// The length of a transfer's one-hot vectors and of its read vectors: `(in_size,
    /// out_size)` when columns are transferred, `(out_size, in_size)` for rows.
    fn transfer_vectors(self, columns: bool) -> (usize, usize) {
        if columns {
            (self.in_size, self.out_size)
        } else {
            (self.out_size, self.in_size)
        }
    }
}

/// Array `k` of `cell` (0: `A`, 1: `C`) for a backend call.
fn array_of(cell: &mut TransferCell, k: usize, sizes: Sizes) -> Array<'_> {
    let (weights, devices): (&mut Vec<f32>, &mut DeviceState) =
        (&mut cell.weights[k], &mut cell.arrays[k]);
    Array {
        out_size: sizes.out_size,
        in_size: sizes.in_size,
        weights,
        devices,
    }
}

/// The one-hot vectors and the read values of one transfer, allocated before the update
/// changes anything.
struct TransferVectors {
    one_hot: Vec<f32>,
    read: Vec<f32>,
}

/// The update `call` of a compound whose cell is `cell` and whose tile's weights (the
/// network's `W`) are `weights`: gradient pulses onto `A` with its learning rate, the
/// transfers they are due, then `W = gamma_A A + gamma_C C`. Returns the pulses applied; an
/// interrupted call marks `call` stopped after the samples it applied and makes no further
/// transfer. An error only when the work space of a transfer cannot be allocated.
pub(crate) fn update(
    backend: &mut impl Backend,
    compound: Compound<'_>,
    cell: &mut TransferCell,
    weights: &mut [f32],
    (out_size, in_size): (usize, usize),
    call: &UpdateCall<'_>,
) -> Result<u64> {
    let sizes = Sizes { out_size, in_size };
    let t = compound.transfer;
    let period = t.period(call.n);
    let mut vectors = None;
    if period > 0 && call.n > 0 {
        let (k, m) = sizes.transfer_vectors(t.transfer_columns);
        let reads = (t.n_reads_per_transfer as usize).min(k);
        vectors = Some(TransferVectors {
            one_hot: zeros(reads * k, "transfer vectors")?,
            read: zeros(reads * m, "transfer reads")?,
        });
    }
    let fast_lr = t.fast_rate(call.lr);
    let mut pulses = 0;
    let mut done = 0;
    while done < call.n {
        let mut piece = call.n - done;
        if period > 0 {
            let to_transfer = period - cell.counters.samples % period;
            piece = piece.min(usize::try_from(to_transfer).unwrap_or(usize::MAX));
        }
        let fast = UpdateCall {
            update: call.update,
            device: &t.unit_cell_devices[0],
            x: &call.x[done * in_size..(done + piece) * in_size],
            d: &call.d[done * out_size..(done + piece) * out_size],
            n: piece,
            lr: fast_lr,
            seed: call.seed,
            call: cell.counters.fast_updates,
            interrupt: call.interrupt,
            stopped: AtomicUsize::new(usize::MAX),
            one_sided: false,
        };
        pulses += backend.update(&mut array_of(cell, 0, sizes), &fast);
        cell.counters.fast_updates += 1;
        if let Some(applied) = fast.stopped() {
            cell.counters.samples += applied as u64;
            call.stop_after(done + applied);
            break;
        }
        cell.counters.samples += piece as u64;
        done += piece;
        if let Some(vectors) = &mut vectors {
            if cell.counters.samples.is_multiple_of(period) {
                pulses += transfer(backend, compound, cell, vectors, sizes, call)?;
            }
        }
    }
    cell.reduce(weights);
    Ok(pulses)
}

/// One characterisation pulse in direction `up` on every device of `A` (the devices the
/// gradient pulses go to), as one of its update calls; then `W` is summed again. Returns the
/// pulses applied.
pub(crate) fn pulse(
    backend: &mut impl Backend,
    cell: &mut TransferCell,
    weights: &mut [f32],
    (out_size, in_size): (usize, usize),
    seed: u64,
    up: bool,
) -> u64 {
    let sizes = Sizes { out_size, in_size };
    let call = cell.counters.fast_updates;
    let pulses = backend.pulse(&mut array_of(cell, 0, sizes), seed, call, up);
    cell.counters.fast_updates += 1;
    cell.reduce(weights);
    pulses
}

/// One transfer: reads the next columns (or rows) of `A` and writes them onto `C`, TTv1 as
/// they are read, TTv2 through the buffer; returns the pulses applied to `C`.
fn transfer(
    backend: &mut impl Backend,
    compound: Compound<'_>,
    cell: &mut TransferCell,
    vectors: &mut TransferVectors,
    sizes: Sizes,
    call: &UpdateCall<'_>,
) -> Result<u64> {
    let t = compound.transfer;
    let columns = t.transfer_columns;
    let (k, m) = sizes.transfer_vectors(columns);
    let reads = vectors.one_hot.len() / k;
    let first = (cell.counters.next_slice % k as u64) as usize;
    let number = TRANSFER_CALLS + cell.counters.transfers;
    cell.counters.next_slice = ((first + reads) % k) as u64;
    cell.counters.transfers += 1;
    let rate = t.transfer_rate(call.lr);
    if rate == 0.0 {
        return Ok(0);
    }
    vectors.one_hot.fill(0.0);
    for r in 0..reads {
        vectors.one_hot[r * k + (first + r) % k] = 1.0;
    }
    let io = t.read_io();
    let read = PassCall {
        io: &io,
        direction: if columns {
            Direction::Forward
        } else {
            Direction::Backward
        },
        x: &vectors.one_hot,
        n: reads,
        seed: call.seed,
        call: number,
        first_sample: 0,
        learn: false,
    };
    backend.pass(
        &array_of(cell, 0, sizes),
        &read,
        &mut None,
        &mut vectors.read,
    )?;
    let write_rate = match compound.buffered {
        // TTv1: the errors are minus the read values, so that C grows by rate A.
        None => {
            for v in &mut vectors.read {
                *v = -*v;
            }
            rate
        }
        Some(b) => {
            let [ga, gc] = cell.gamma;
            let rate = if ga > 0.0 && gc > 0.0 {
                rate * (ga / gc)
            } else {
                rate
            };
            let granularity = t.slow_granularity();
            let threshold = b.thres_scale as f32 * granularity;
            let Some(buffer) = &mut cell.buffer else {
                return Err(Error::State(
                    "the buffer of a TTv2 compound is missing".into(),
                ));
            };
            let steps = Threshold {
                threshold,
                max_steps: compound.transfer_update.desired_bl as f32,
                momentum: b.momentum as f32,
                forget: b.forget_buffer,
            };
            let place = |r: usize, e: usize| {
                let s = (first + r) % k;
                if columns {
                    e * sizes.in_size + s
                } else {
                    s * sizes.in_size + e
                }
            };
            let mut any = false;
            for r in 0..reads {
                for e in 0..m {
                    let v = &mut vectors.read[r * m + e];
                    let n = steps.apply(&mut buffer[place(r, e)], *v * rate.abs());
                    any |= n != 0.0;
                    *v = -n;
                }
            }
            if !any {
                return Ok(0);
            }
            b.step as f32 * granularity
        }
    };
    let (x, d) = if columns {
        (&vectors.one_hot, &vectors.read)
    } else {
        (&vectors.read, &vectors.one_hot)
    };
    let write = UpdateCall {
        update: compound.transfer_update,
        device: &t.unit_cell_devices[1],
        x,
        d,
        n: reads,
        lr: write_rate,
        seed: call.seed,
        call: number,
        interrupt: &Interrupt::never(),
        stopped: AtomicUsize::new(usize::MAX),
        one_sided: false,
    };
    Ok(backend.update(&mut array_of(cell, 1, sizes), &write))
}

/// TTv2's buffer rule for one element (docs/model_notes.md, step 7').
#[derive(Debug, Clone, Copy)]
struct Threshold {
    /// `thres_scale` times `C`'s granularity.
    threshold: f32,
    /// The transfer update's `desired_bl`: most steps one write gives.
    max_steps: f32,
    momentum: f32,
    forget: bool,
}

impl Threshold {
    /// Adds `increment` to the buffer value `h` and returns the whole steps to write,
    /// `clamp(trunc(h / threshold), -max_steps, max_steps)`, leaving in `h` what stays.
    fn apply(self, h: &mut f32, increment: f32) -> f32 {
        let omega = *h + increment;
        let n = (omega / self.threshold)
            .trunc()
            .clamp(-self.max_steps, self.max_steps);
        *h = if n == 0.0 {
            omega
        } else if self.forget {
            omega * self.momentum
        } else {
            omega - (1.0 - self.momentum) * n * self.threshold
        };
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buffer keeps what does not make a whole step, and after a step the momentum's part
    /// (forgetting) or the rest (subtracting).
    #[test]
    fn the_threshold_rule_of_ttv2() {
        let rule = |forget| Threshold {
            threshold: 0.5,
            max_steps: 1.0,
            momentum: 0.25,
            forget,
        };
        let mut h = 0.25;
        assert_eq!(rule(true).apply(&mut h, 0.125), 0.0);
        assert_eq!(h, 0.375);
        assert_eq!(rule(true).apply(&mut h, 1.0), 1.0);
        assert_eq!(h, 1.375 * 0.25);
        let mut h = 1.375;
        assert_eq!(rule(false).apply(&mut h, 0.0), 1.0);
        assert_eq!(h, 1.375 - 0.75 * 0.5);
        let mut h = 0.0;
        assert_eq!(rule(false).apply(&mut h, -0.75), -1.0);
        assert_eq!(h, -0.75 + 0.75 * 0.5);
    }
}

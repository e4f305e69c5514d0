//! The update of a one-sided unit cell (aihwkit's `OneSidedUnitCell`; docs/model_notes.md,
//! "One-sided unit cell"), inside one engine call. The batch is cut at the samples after which
//! a refresh falls; each piece is two update calls of the same number, one per device, with
//! [`UpdateCall::one_sided`]: device 1 takes the pulses that raise the weight, device 0, with
//! the errors negated, those that lower it (as pulses that raise its own weight), so both
//! draw the same pulse trains and every cross-point's pulses go to one of the two. A refresh
//! reads both devices by forward passes of one-hot vectors, resets the pairs past the
//! thresholds and writes their difference back onto the larger device by a pulsed update.
//! Every analog step is a call of the backend seam, so every backend computes the cell and the
//! reference backend defines it.

use std::sync::atomic::AtomicUsize;

use crate::alloc::zeros;
use crate::backend::{Array, Backend, PassCall};
use crate::device::{
    DeviceState, OneSidedCell, OneSidedUnitCellParameters, ResetStreams, ONE_SIDED_DEVICES,
};
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::io::Direction;
use crate::update::UpdateCall;

/// The first call number of the refreshes' reads (forward passes), resets and writes (update
/// calls): refresh `r` uses the numbers `REFRESH_CALLS + 2 r + k` for device `k`, numbers the
/// tile's own calls never reach.
const REFRESH_CALLS: u64 = 1 << 63;

/// Device `k` of `cell` for a backend call.
fn array_of(cell: &mut OneSidedCell, k: usize, (out_size, in_size): (usize, usize)) -> Array<'_> {
    let (weights, devices): (&mut Vec<f32>, &mut DeviceState) =
        (&mut cell.weights[k], &mut cell.arrays[k]);
    Array {
        out_size,
        in_size,
        weights,
        devices,
    }
}

/// The update `call` of a one-sided cell `cell` whose tile's weights are `weights`: the
/// gradient pulses onto the two devices, the refreshes they are due, then diffusion and decay
/// of both devices (once) and `W = w_1 - w_0`. Returns the pulses applied; an interrupted call
/// marks `call` stopped after the samples it applied (both devices took them) and makes no
/// further refresh. An error only when the work space cannot be allocated, before anything
/// changed.
pub(crate) fn update(
    backend: &mut impl Backend,
    p: &OneSidedUnitCellParameters,
    cell: &mut OneSidedCell,
    weights: &mut [f32],
    sizes: (usize, usize),
    call: &UpdateCall<'_>,
) -> Result<u64> {
    let (out_size, in_size) = sizes;
    let period = p.period(call.n);
    let mut refresh = None;
    if period > 0 && call.n > 0 {
        refresh = Some(RefreshVectors::new(sizes)?);
    }
    let mut negated = zeros(call.d.len(), "one-sided errors")?;
    for (m, d) in negated.iter_mut().zip(call.d) {
        *m = -d;
    }
    let mut pulses = 0;
    let mut done = 0;
    while done < call.n {
        let mut piece = call.n - done;
        if period > 0 {
            let to_refresh = period - cell.counters.samples % period;
            piece = piece.min(usize::try_from(to_refresh).unwrap_or(usize::MAX));
        }
        let number = cell.counters.updates;
        cell.counters.updates += 1;
        let x = &call.x[done * in_size..(done + piece) * in_size];
        let rows = done * out_size..(done + piece) * out_size;
        // Device 1 first, with the interrupt; device 0 then takes the samples it took.
        let raise = UpdateCall {
            update: call.update,
            device: p.device(),
            x,
            d: &call.d[rows.clone()],
            n: piece,
            lr: call.lr,
            seed: call.seed,
            call: number,
            interrupt: call.interrupt,
            stopped: AtomicUsize::new(usize::MAX),
            one_sided: true,
        };
        pulses += backend.update(&mut array_of(cell, 1, sizes), &raise);
        let applied = raise.stopped().unwrap_or(piece);
        let lower = UpdateCall {
            x: &x[..applied * in_size],
            d: &negated[rows.start..rows.start + applied * out_size],
            n: applied,
            interrupt: &Interrupt::never(),
            stopped: AtomicUsize::new(usize::MAX),
            ..raise
        };
        pulses += backend.update(&mut array_of(cell, 0, sizes), &lower);
        cell.counters.samples += applied as u64;
        if applied < piece {
            call.stop_after(done + applied);
            break;
        }
        done += piece;
        if let Some(vectors) = &mut refresh {
            if cell.counters.samples.is_multiple_of(period) {
                pulses += refresh_pairs(backend, p, cell, vectors, sizes, call.seed)?;
            }
        }
    }
    cell.diffuse_and_decay(weights, in_size, call.seed, call.call);
    cell.reduce(weights);
    Ok(pulses)
}

/// One characterisation pulse on every cross-point, as one update call of the cell: with `up`
/// device 1 takes a pulse that raises its weight, else device 0 (which lowers the cross-point's
/// weight). Returns the pulses applied.
pub(crate) fn pulse(
    backend: &mut impl Backend,
    cell: &mut OneSidedCell,
    weights: &mut [f32],
    sizes: (usize, usize),
    seed: u64,
    up: bool,
) -> u64 {
    let number = cell.counters.updates;
    cell.counters.updates += 1;
    let k = usize::from(up);
    let pulses = backend.pulse(&mut array_of(cell, k, sizes), seed, number, true);
    cell.reduce(weights);
    pulses
}

/// The work space of the refreshes of one update call, allocated before anything changes.
struct RefreshVectors {
    /// The one-hot vectors `e_0 .. e_{in_size - 1}`, `in_size x in_size`.
    one_hot: Vec<f32>,
    /// The read of each device, `in_size x out_size` (sample `j` is column `j`).
    reads: [Vec<f32>; ONE_SIDED_DEVICES],
    /// The errors of each device's write (minus the difference it takes), as the reads.
    writes: [Vec<f32>; ONE_SIDED_DEVICES],
}

impl RefreshVectors {
    fn new((out_size, in_size): (usize, usize)) -> Result<Self> {
        let mut one_hot = zeros(in_size * in_size, "refresh vectors")?;
        for j in 0..in_size {
            one_hot[j * in_size + j] = 1.0;
        }
        let n = in_size * out_size;
        Ok(RefreshVectors {
            one_hot,
            reads: [zeros(n, "refresh reads")?, zeros(n, "refresh reads")?],
            writes: [zeros(n, "refresh writes")?, zeros(n, "refresh writes")?],
        })
    }
}

/// aihwkit's criterion of a pair whose devices read `plus` (device 1) and `minus` (device 0),
/// both relative to `w_max`: the larger above `upper` and the smaller above `lower`.
fn needs_refresh(plus: f32, minus: f32, w_max: f32, upper: f32, lower: f32) -> bool {
    if plus > minus {
        plus / w_max > upper && minus / w_max > lower
    } else {
        plus / w_max > lower && minus / w_max > upper
    }
}

/// One refresh (docs/model_notes.md): reads every column of both devices, resets both devices
/// of every pair the criterion picks, and writes each such pair's difference onto its larger
/// device. Returns the pulses applied.
fn refresh_pairs(
    backend: &mut impl Backend,
    p: &OneSidedUnitCellParameters,
    cell: &mut OneSidedCell,
    vectors: &mut RefreshVectors,
    sizes: (usize, usize),
    seed: u64,
) -> Result<u64> {
    let (out_size, in_size) = sizes;
    let base = REFRESH_CALLS + 2 * cell.counters.refreshes;
    cell.counters.refreshes += 1;
    for k in 0..ONE_SIDED_DEVICES {
        let read = PassCall {
            io: &p.refresh_forward,
            direction: Direction::Forward,
            x: &vectors.one_hot,
            n: in_size,
            seed,
            call: base + k as u64,
            first_sample: 0,
            learn: false,
        };
        backend.pass(
            &array_of(cell, k, sizes),
            &read,
            &mut None,
            &mut vectors.reads[k],
        )?;
    }
    let (w_max, upper, lower) = (
        p.w_max(),
        p.refresh_upper_thres as f32,
        p.refresh_lower_thres as f32,
    );
    let mut chosen = vec![false; out_size * in_size];
    let mut counts = [0u64; ONE_SIDED_DEVICES];
    let [minus, plus] = &vectors.reads;
    for (e, (&wp, &wm)) in plus.iter().zip(minus).enumerate() {
        let (j, i) = (e / out_size, e % out_size);
        vectors.writes[0][e] = 0.0;
        vectors.writes[1][e] = 0.0;
        if needs_refresh(wp, wm, w_max, upper, lower) {
            chosen[i * in_size + j] = true;
            // The errors of a write that raises the device by the difference.
            let k = usize::from(wp > wm);
            vectors.writes[k][e] = -(wp - wm).abs();
            counts[k] += 1;
        }
    }
    if counts == [0, 0] {
        return Ok(0);
    }
    let mut pulses = 0;
    for k in 0..ONE_SIDED_DEVICES {
        let streams = ResetStreams::new(seed, base + k as u64);
        if let Some((layer, w)) = cell.layer_mut(k) {
            layer.reset_where(
                w,
                in_size,
                &|i, j| chosen[i * in_size + j],
                1.0,
                &streams,
                k as u32,
            );
        }
    }
    for k in 0..ONE_SIDED_DEVICES {
        if counts[k] == 0 {
            continue;
        }
        let write = UpdateCall {
            update: &p.refresh_update,
            device: p.device(),
            x: &vectors.one_hot,
            d: &vectors.writes[k],
            n: in_size,
            lr: 1.0,
            seed,
            call: base + k as u64,
            interrupt: &Interrupt::never(),
            stopped: AtomicUsize::new(usize::MAX),
            one_sided: true,
        };
        pulses += backend.update(&mut array_of(cell, k, sizes), &write);
    }
    cell.counters.refreshed += counts[0] + counts[1];
    Ok(pulses)
}

#[cfg(test)]
mod tests {
    use super::needs_refresh;

    /// The larger device above the upper threshold and the smaller above the lower one, in
    /// units of `w_max`, and nothing else.
    #[test]
    fn the_refresh_criterion_of_aihwkit() {
        let refresh = |p, m| needs_refresh(p, m, 2.0, 0.75, 0.25);
        assert!(refresh(1.6, 0.6));
        assert!(refresh(0.6, 1.6));
        assert!(!refresh(1.6, 0.4)); // the smaller one is not above 0.25 w_max
        assert!(!refresh(1.4, 0.6)); // the larger one is not above 0.75 w_max
        assert!(!refresh(0.4, 1.6));
        assert!(refresh(1.6, 1.6)); // equal: the second branch
        assert!(!refresh(0.0, 0.0));
    }
}

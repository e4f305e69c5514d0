//! Applying the coincidences of the firing lines to the devices, in parallel over blocks of
//! rows. A block takes its rows one after the other and, for each row, walks the samples in
//! order, so that the row's weights and device arrays stay in the first-level cache while the
//! samples' columns pass over them. For each (row, sample) the kernel counts the pulses of every
//! device of the sample's firing column groups, computes the normals of the row's sequence
//! (address `[sample, row, device of the unit cell]`) that they need at once, and applies the
//! pulses, a device's normals starting where those of the devices before it in column order
//! end. A row belongs to one block, so any split gives the bits of `reference.rs`.

use crate::numeric::saturate;
use std::cell::RefCell;

use crate::cpu::{compiled_for, Isa};
use crate::device::PulsedDevice;
use crate::rng::{Drawn, NormalSource, Stream};
use crate::threads::{planned_threads, sum_chunks, Disjoint};

use super::lines::{Firing, Payload, Samples, GROUP};

/// Estimated nanoseconds of one thread per visited pair of a firing row and a column of a
/// firing group: the coincidence count and, for about half of them, a pulse.
const VISIT_NS: usize = 1;

/// Where one model's pulses go: the weights read and, with write noise, the persistent weights
/// the pulses act on.
#[derive(Debug)]
pub(super) struct Store<'a> {
    pub weights: &'a mut [f32],
    pub persistent: Option<&'a mut [f32]>,
    pub write_noise: f32,
    /// The device's index in its unit cell.
    pub sub: u32,
    /// The pulse counters `[down, up]` of the devices, when they count (`count_pulses`).
    pub counts: Option<&'a mut [[u64; 2]]>,
    /// Apply only the pulses that raise a weight (the others keep their normals' places).
    pub raise_only: bool,
}

/// A device with pulses in one row of one sample.
#[derive(Debug, Clone, Copy, Default)]
struct Hit {
    col: u32,
    pulses: u32,
    /// Where its normals start in the row's sequence.
    first: u32,
}

/// A thread's reusable buffers: the devices of a row whose weight grows and shrinks, and the
/// row's normals.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    up: Vec<Hit>,
    down: Vec<Hit>,
    pub normals: Vec<f32>,
}

thread_local! {
    /// Kept from call to call: no allocation once the buffers are large enough.
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// One row of one model's weights, and where it is in the tile.
pub(super) struct RowTarget<'a> {
    pub weights: &'a mut [f32],
    pub persistent: Option<&'a mut [f32]>,
    pub write_noise: f32,
    /// The index of the row's first device in the tile.
    pub k0: usize,
    /// The row's pulse counters `[down, up]`, when the devices count.
    pub counts: Option<&'a mut [[u64; 2]]>,
    /// Apply only the pulses that raise a weight.
    pub raise_only: bool,
}

/// Fires every coincidence of `samples` (in order) on the devices `dev` whose weights are in
/// `store` (`out_size x in_size`). Returns the number of pulses applied. With write noise, a device's weight read becomes its persistent
/// weight plus one normal of the row's sequence, drawn after the device's pulses.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply<P: Payload, D: PulsedDevice>(
    store: Store<'_>,
    out_size: usize,
    in_size: usize,
    dev: &D,
    samples: &Samples<'_>,
    noise: &Stream,
    isa: Isa,
) -> u64 {
    let work = samples.visits() * VISIT_NS;
    let threads = planned_threads(work);
    // Several blocks per thread, so that rows that fire more often still share out evenly.
    let rows = if threads > 1 {
        out_size.div_ceil(8 * threads)
    } else {
        out_size
    };
    let (write_noise, sub, raise_only) = (store.write_noise, store.sub, store.raise_only);
    // Each block writes the counters of its own rows only.
    let counts = store.counts.map(Disjoint::new);
    sum_chunks(
        store.weights,
        store.persistent,
        rows * in_size,
        work,
        |c, block, mut hidden| {
            SCRATCH.with_borrow_mut(|scratch| {
                let mut pulses = 0;
                for (r, w_row) in block.chunks_mut(in_size).enumerate() {
                    let i = c * rows + r;
                    let mut target = RowTarget {
                        weights: w_row,
                        persistent: hidden
                            .as_deref_mut()
                            .map(|h| &mut h[r * in_size..(r + 1) * in_size]),
                        write_noise,
                        k0: i * in_size,
                        // SAFETY: row i belongs to this block alone.
                        counts: counts.map(|c| unsafe { c.slice(i * in_size, in_size) }),
                        raise_only,
                    };
                    pulses +=
                        fire_row::<P, D>(dev, i, samples, &mut target, noise, sub, isa, scratch);
                }
                pulses
            })
        },
    )
}

/// Fires row `i` in every sample, in order, with the kernel of `isa`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fire_row<P: Payload, D: PulsedDevice>(
    dev: &D,
    i: usize,
    samples: &Samples<'_>,
    t: &mut RowTarget<'_>,
    noise: &Stream,
    sub: u32,
    isa: Isa,
    scratch: &mut Scratch,
) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx512 {
        // SAFETY: `isa` never exceeds what the CPU has.
        return unsafe {
            super::fire_avx512::fire_row::<P, D>(dev, i, samples, t, noise, sub, scratch)
        };
    }
    compiled_for(
        isa,
        #[inline(always)]
        || {
            let mut pulses = 0;
            samples.for_each_firing(i, |sample, words| {
                let address = [sample.sample, i as u32, sub];
                pulses += fire_sample::<P, D>(dev, words, sample, t, noise, address, scratch);
            });
            pulses
        },
    )
}

/// Fires the row whose words are `row` in one sample, device by device (the sample's packed
/// firing columns). Lists the devices with pulses, split by direction, each with the position of its first normal in the row's
/// sequence (the normals of the devices before it in column order, as the sequential
/// definition draws them); computes those normals at `address` in one go; then applies the
/// pulses of either direction with the direction known at compile time. Devices are
/// independent once each knows its normals, so the order of this pass changes nothing.
#[inline(always)]
pub(super) fn fire_sample<P: Payload, D: PulsedDevice>(
    dev: &D,
    row: &[u32],
    s: &Firing<'_>,
    t: &mut RowTarget<'_>,
    noise: &Stream,
    address: [u32; 3],
    scratch: &mut Scratch,
) -> u64 {
    let row_neg = s.row_neg[address[1] as usize];
    // Normals per pulse and per device (write noise, drawn after the device's pulses).
    let per_pulse = usize::from(dev.c2c_std() > 0.0);
    let per_device = usize::from(t.persistent.is_some());
    // Branch-free: which columns meet the row, and in which direction, is a coin toss the
    // CPU cannot predict. Each column is written at the end of both lists, and kept in one of
    // them by advancing its end.
    let Scratch { up, down, normals } = scratch;
    let cols = &s.packed;
    if let Some(words) = s.uniform {
        // Every firing column meets the row with the same pulses: device c of the packed
        // columns draws its normals from c * stride on, and the devices of either direction
        // are the columns of either sign.
        let n = P::pulses(row, |w| words[w]);
        if n == 0 {
            return 0;
        }
        let stride = n as usize * per_pulse + per_device;
        let normals = fill(normals, cols.fire * stride, noise, address);
        let (positive, negative) = s.by_sign;
        let (grow, shrink) = if row_neg {
            (positive, negative)
        } else {
            (negative, positive)
        };
        let hit = |&c: &u32| Hit {
            col: cols.index[c as usize],
            pulses: n,
            first: c * stride as u32,
        };
        apply_hits::<true, D>(dev, grow.iter().map(hit), normals, t);
        if t.raise_only {
            return u64::from(n) * grow.len() as u64;
        }
        apply_hits::<false, D>(dev, shrink.iter().map(hit), normals, t);
        return u64::from(n) * cols.fire as u64;
    }
    for list in [&mut *up, &mut *down] {
        if list.len() < cols.fire {
            list.resize(cols.fire, Hit::default());
        }
    }
    let (mut n_up, mut n_down, mut draws, mut pulses, mut raising) = (0, 0, 0, 0u64, 0u64);
    for (c, &j) in cols.index[..cols.fire].iter().enumerate() {
        let n = P::pulses(row, |w| cols.cols[w * cols.pad + c]);
        let hit = Hit {
            col: j,
            pulses: n,
            first: draws as u32,
        };
        up[n_up] = hit;
        down[n_down] = hit;
        let fires = n > 0;
        // W grows when d_i x_j < 0 (gradient descent on W - lr d x^T).
        let grows = row_neg != ((cols.neg[c / GROUP] >> (c % GROUP)) & 1 != 0);
        n_up += usize::from(fires && grows);
        n_down += usize::from(fires && !grows);
        draws += n as usize * per_pulse + usize::from(fires) * per_device;
        pulses += u64::from(n);
        raising += u64::from(n) * u64::from(grows);
    }
    if n_up + n_down == 0 || (t.raise_only && n_up == 0) {
        return 0;
    }
    let normals = fill(normals, draws, noise, address);
    apply_hits::<true, D>(dev, up[..n_up].iter().copied(), normals, t);
    if t.raise_only {
        return raising;
    }
    apply_hits::<false, D>(dev, down[..n_down].iter().copied(), normals, t);
    pulses
}

/// Numbers the kernels may read past a row's normals: whole registers, up to four at once.
const PAD: usize = 64;

/// The first `draws` normals of the row's sequence at `address`, in `buffer`, followed by
/// [`PAD`] more numbers (of no meaning) for the SIMD kernels' whole-register loads.
#[inline(always)]
pub(super) fn fill<'a>(
    buffer: &'a mut Vec<f32>,
    draws: usize,
    noise: &Stream,
    address: [u32; 3],
) -> &'a [f32] {
    if buffer.len() < draws + PAD {
        buffer.resize(draws + PAD, 0.0);
    }
    noise.fill_normals(address, &mut buffer[..draws]);
    &buffer[..draws + PAD]
}

/// Applies the pulses of `hits`, all in direction `UP`, each device drawing its normals from
/// `normals` at its own position.
#[inline(always)]
fn apply_hits<const UP: bool, D: PulsedDevice>(
    dev: &D,
    hits: impl Iterator<Item = Hit>,
    normals: &[f32],
    t: &mut RowTarget<'_>,
) {
    for hit in hits {
        let j = hit.col as usize;
        let k = t.k0 + j;
        if let Some(counts) = t.counts.as_deref_mut() {
            counts[j][usize::from(UP)] += u64::from(hit.pulses);
        }
        let mut src = Drawn::new(&normals[hit.first as usize..]);
        match t.persistent.as_deref_mut() {
            None => t.weights[j] = dev.apply_pulses(k, t.weights[j], hit.pulses, UP, &mut src),
            Some(p) => {
                p[j] = dev.apply_pulses(k, p[j], hit.pulses, UP, &mut src);
                t.weights[j] = saturate(p[j] + t.write_noise * src.draw());
            }
        }
    }
}

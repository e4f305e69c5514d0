//! Applying the coincidences of the firing lines to the devices, in parallel over blocks of
//! rows: each block walks the samples in order, and each of its firing rows lists the devices
//! with coincidences (split by direction, each with the position of its first normal in the
//! row's sequence, address `[sample, row, device of the unit cell]`), computes those normals
//! at once, and applies the pulses. When all of a sample's firing columns carry the same train
//! (always so with trains of one pulse), the lists are the sample's columns by sign and need
//! no comparing. A row belongs to one block, so any split gives the bits of `reference.rs`.

use crate::device::PulsedDevice;
use crate::rng::{Drawn, NormalSource, Stream};
use crate::threads::{for_each_chunk, planned_threads};

use super::lines::{Firing, Line, Payload, Ranked, Uniform};

/// Estimated nanoseconds of one thread per pair of a firing row and a firing column: the
/// coincidence count and, mostly, a pulse (its normal and the device's step).
const PAIR_NS: usize = 3;

/// Where one model's pulses go: the weights read and, with write noise, the persistent weights
/// the pulses act on.
#[derive(Debug)]
pub(super) struct Store<'a> {
    pub weights: &'a mut [f32],
    pub persistent: Option<&'a mut [f32]>,
    pub write_noise: f32,
    /// The device's index in its unit cell.
    pub sub: u32,
}

/// A device with coincidences in one row of one sample.
#[derive(Debug, Clone, Copy, Default)]
struct Hit {
    col: u32,
    pulses: u32,
    /// Where its normals start in the row's sequence.
    first: u32,
}

/// A block's reusable buffers: the devices of a row whose weight grows and shrinks, and the
/// row's normals.
#[derive(Debug, Default)]
struct Scratch {
    up: Vec<Hit>,
    down: Vec<Hit>,
    normals: Vec<f32>,
}

/// Rows per block: about 8 K weights, so that a block's weights and device arrays stay in L2
/// while all samples pass over it; with several threads at least four blocks per thread, so
/// that few rows (a convolution's output channels) still share out evenly.
pub(super) fn rows_per_block(out_size: usize, in_size: usize, threads: usize) -> usize {
    let cached = (8192 / in_size.max(1)).clamp(1, 64);
    if threads > 1 {
        cached.min(out_size.div_ceil(4 * threads)).max(1)
    } else {
        cached
    }
}

/// Fires every coincidence of `samples` (in order) on the devices `dev` whose weights are in
/// `store` (`out_size x in_size`); `pairs` is the number of firing row and column pairs.
/// With write noise, a device's weight read becomes its persistent weight plus one normal of
/// the row's sequence, drawn after the device's pulses.
pub(super) fn apply<P: Payload, D: PulsedDevice>(
    store: Store<'_>,
    out_size: usize,
    in_size: usize,
    dev: &D,
    samples: &[Firing<'_, P>],
    pairs: usize,
    noise: &Stream,
) {
    let work = pairs * PAIR_NS;
    let rows = rows_per_block(out_size, in_size, planned_threads(work));
    let chunk = rows * in_size;
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
        let rows = RowBlock {
            first: c * rows,
            weights: block,
            persistent: hidden.as_deref_mut(),
            in_size,
            write_noise,
            sub,
        };
        super::cpu::native(
            #[inline(always)]
            || fire_block(dev, rows, samples, noise),
        );
    });
}

/// A block of rows of one model's weights.
struct RowBlock<'a> {
    /// The index of the block's first row.
    first: usize,
    weights: &'a mut [f32],
    persistent: Option<&'a mut [f32]>,
    in_size: usize,
    write_noise: f32,
    sub: u32,
}

/// Fires the coincidences of every sample, in order, in one block of rows.
#[inline(always)]
fn fire_block<P: Payload, D: PulsedDevice>(
    dev: &D,
    mut b: RowBlock<'_>,
    samples: &[Firing<'_, P>],
    noise: &Stream,
) {
    let in_size = b.in_size;
    let mut scratch = Scratch::default();
    for sample in samples {
        for (r, w_row) in b.weights.chunks_mut(in_size).enumerate() {
            let row = &sample.rows[b.first + r];
            if !row.payload.active() {
                continue;
            }
            let target = RowTarget {
                weights: w_row,
                persistent: b
                    .persistent
                    .as_deref_mut()
                    .map(|h| &mut h[r * in_size..(r + 1) * in_size]),
                write_noise: b.write_noise,
                k0: (b.first + r) * in_size,
            };
            let address = [sample.sample, row.index, b.sub];
            match sample.uniform {
                Some(u) => {
                    let pulses = P::pulses(&row.payload, &sample.cols[0].payload);
                    fire_uniform(dev, row, u, pulses, target, noise, address, &mut scratch);
                }
                None => fire_row(dev, row, sample.cols, target, noise, address, &mut scratch),
            }
        }
    }
}

/// One row of one model's weights.
struct RowTarget<'a> {
    weights: &'a mut [f32],
    persistent: Option<&'a mut [f32]>,
    write_noise: f32,
    /// The index of the row's first device in the tile.
    k0: usize,
}

/// Fires the coincidences of `row` with `cols` in one sample. Lists the devices with pulses,
/// split by direction, each with the position of its first normal in the row's sequence (the
/// normals of the devices before it in column order, as the sequential definition draws
/// them); computes those normals at `address` in one go; then applies the pulses of either
/// direction with the direction known at compile time. Devices are independent once each
/// knows its normals, so the order of this pass changes nothing.
#[inline(always)]
fn fire_row<P: Payload, D: PulsedDevice>(
    dev: &D,
    row: &Line<P>,
    cols: &[Line<P>],
    mut t: RowTarget<'_>,
    noise: &Stream,
    address: [u32; 3],
    scratch: &mut Scratch,
) {
    // Normals per pulse and per device (write noise, drawn after the device's pulses).
    let per_pulse = usize::from(dev.c2c_std() > 0.0);
    let per_device = usize::from(t.persistent.is_some());
    // Branch-free: which columns meet the row, and in which direction, is a coin toss the
    // CPU cannot predict. Each column is written at the end of both lists, and kept in one of
    // them by advancing its end.
    let Scratch { up, down, normals } = scratch;
    for list in [&mut *up, &mut *down] {
        if list.len() < cols.len() {
            list.resize(cols.len(), Hit::default());
        }
    }
    let (mut n_up, mut n_down, mut draws) = (0, 0, 0);
    for col in cols {
        let n = P::pulses(&row.payload, &col.payload);
        let hit = Hit {
            col: col.index,
            pulses: n,
            first: draws as u32,
        };
        up[n_up] = hit;
        down[n_down] = hit;
        let fires = n > 0;
        // W grows when d_i x_j < 0 (gradient descent on W - lr d x^T).
        let grows = row.negative != col.negative;
        n_up += usize::from(fires && grows);
        n_down += usize::from(fires && !grows);
        draws += n as usize * per_pulse + usize::from(fires) * per_device;
    }
    if n_up + n_down == 0 {
        return;
    }
    let normals = fill(normals, draws, noise, address);
    apply_hits::<true, D>(dev, up[..n_up].iter().copied(), normals, &mut t);
    apply_hits::<false, D>(dev, down[..n_down].iter().copied(), normals, &mut t);
}

/// Fires `row` in a sample whose columns all carry the same payload: every column meets the
/// row with `pulses` pulses, so device `rank` (in column order) draws its normals from
/// `rank * stride` on, and the devices of either direction are the columns of either sign.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fire_uniform<P: Payload, D: PulsedDevice>(
    dev: &D,
    row: &Line<P>,
    cols: Uniform<'_>,
    pulses: u32,
    mut t: RowTarget<'_>,
    noise: &Stream,
    address: [u32; 3],
    scratch: &mut Scratch,
) {
    if pulses == 0 {
        return;
    }
    let per_pulse = usize::from(dev.c2c_std() > 0.0);
    let per_device = usize::from(t.persistent.is_some());
    let stride = pulses as usize * per_pulse + per_device;
    let n_cols = cols.positive.len() + cols.negative.len();
    let normals = fill(&mut scratch.normals, n_cols * stride, noise, address);
    // W grows when d_i x_j < 0: a negative row with the positive columns, and vice versa.
    let (grow, shrink) = if row.negative {
        (cols.positive, cols.negative)
    } else {
        (cols.negative, cols.positive)
    };
    let stride32 = stride as u32;
    let hit = move |r: &Ranked| Hit {
        col: r.col,
        pulses,
        first: r.rank * stride32,
    };
    apply_hits::<true, D>(dev, grow.iter().map(hit), normals, &mut t);
    apply_hits::<false, D>(dev, shrink.iter().map(hit), normals, &mut t);
}

/// The first `draws` normals of the row's sequence at `address`, in `buffer`.
#[inline(always)]
fn fill<'a>(
    buffer: &'a mut Vec<f32>,
    draws: usize,
    noise: &Stream,
    address: [u32; 3],
) -> &'a [f32] {
    if buffer.len() < draws {
        buffer.resize(draws, 0.0);
    }
    let normals = &mut buffer[..draws];
    noise.fill_normals(address, normals);
    normals
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
        let mut src = Drawn::new(&normals[hit.first as usize..]);
        match t.persistent.as_deref_mut() {
            None => t.weights[j] = dev.apply_pulses(k, t.weights[j], hit.pulses, UP, &mut src),
            Some(p) => {
                p[j] = dev.apply_pulses(k, p[j], hit.pulses, UP, &mut src);
                t.weights[j] = p[j] + t.write_noise * src.draw();
            }
        }
    }
}

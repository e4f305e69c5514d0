//! The plain, single-threaded definition of a tile's three operations (MODEL.md §2–§5), sample
//! by sample, written to be read against the model rather than to be fast. The fast kernels of
//! `io.rs`, `mvm.rs` and `update/` must give the same bits; the tests check that they do.
//!
//! It is a backend of the tile (`Reference`): the tile's front (argument checks, the row
//! scales of weight scaling, the call counters) is the same, only the analog work differs. A
//! new backend is tested the same way, against a clone of the tile run here.
//!
//! Shared with the fast path are only the primitives that the model names and that are tested
//! on their own: the random streams, `quantize`, the noise-management scale, the update plan,
//! a pulse train, a device's response to pulses, a unit cell's policy and weighted sum, and the
//! two summation orders of `mvm.rs`.

use crate::backend::{Array, Backend, PassCall};
use crate::config::PulseType;
use crate::device::{with_model, DeviceLayer, PulsedDevice, UnitCell};
use crate::error::Result;
use crate::interrupt::Interrupt;
use crate::io::{batch_scales, clip, l2_norm, quantize, Direction, Kind, PassStreams, Periphery};
use crate::matrix::Matrix;
use crate::mvm::{axpy_order, dot};
use crate::numeric::{abs_max, saturate};
use crate::rng::{Normal, Op, Purpose, Sequence, Stream};
use crate::tile::Tile;
use crate::update::pulse::{float_step, implicit_pulses, plan, train};
use crate::update::{raises, UpdateCall};

/// [`Tile::forward`], sample by sample.
pub fn forward(tile: &mut Tile, x: Matrix, is_test: bool) -> Result<Vec<f32>> {
    let mut y = vec![0.0; x.rows() * tile.out_size()];
    tile.forward_on(&mut Reference, x, is_test, &mut y)?;
    Ok(y)
}

/// [`Tile::backward`], sample by sample.
pub fn backward(tile: &mut Tile, d: Matrix) -> Result<Vec<f32>> {
    let mut z = vec![0.0; d.rows() * tile.in_size()];
    tile.backward_on(&mut Reference, d, &mut z)?;
    Ok(z)
}

/// [`Tile::update`], sample by sample, device by device.
pub fn update(tile: &mut Tile, x: Matrix, d: Matrix, lr: f32) -> Result<()> {
    tile.update_on(&mut Reference, x, d, lr, &Interrupt::never())
}

/// [`Tile::pulse`], device by device.
pub fn pulse(tile: &mut Tile, up: bool) -> Result<()> {
    tile.pulse_on(&mut Reference, up)
}

/// The definitions of this module as a backend of the tile.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reference;

impl Backend for Reference {
    fn pass(
        &mut self,
        array: &Array<'_>,
        pass: &PassCall<'_>,
        nm_running: &mut Option<f32>,
        y: &mut [f32],
    ) -> Result<()> {
        reference_pass(array, pass, nm_running, y);
        Ok(())
    }

    fn update(&mut self, array: &mut Array<'_>, call: &UpdateCall<'_>) -> u64 {
        reference_update(array, call)
    }

    fn pulse(&mut self, array: &mut Array<'_>, seed: u64, call: u64, up: bool) -> u64 {
        reference_pulse(array, seed, call, up)
    }
}

/// One pass of a checked batch, sample by sample, into `y`.
fn reference_pass(
    array: &Array<'_>,
    pass: &PassCall<'_>,
    nm_running: &mut Option<f32>,
    y: &mut [f32],
) {
    let PassCall {
        io,
        direction,
        x,
        n,
        learn,
        ..
    } = *pass;
    let (k, m) = direction.sizes(array.out_size, array.in_size);
    let mut alphas = Vec::new();
    batch_scales(io, x, n, k, nm_running, learn, &mut alphas);
    let w = &*array.weights;
    let (rows, cols) = (array.out_size, array.in_size);
    // The exact product of one vector.
    let product = |u: &[f32]| -> Vec<f32> {
        match direction {
            Direction::Forward => (0..rows)
                .map(|i| dot(&w[i * cols..(i + 1) * cols], u))
                .collect(),
            Direction::Backward => axpy_order(w, rows, cols, u),
        }
    };
    let per = Periphery::new(io, direction);
    let st = PassStreams::new(pass.seed, direction, pass.call, pass.first_sample);
    let first = pass.first_sample as usize;
    y.fill(0.0);
    for b in 0..n {
        let xb = &x[b * k..(b + 1) * k];
        let yb = &mut y[b * m..(b + 1) * m];
        if io.is_perfect {
            yb.copy_from_slice(&product(xb));
            continue;
        }
        let alpha = alphas[b];
        if alpha <= 0.0 {
            continue; // zero input scale: the output is exactly zero
        }
        let mut r = 1.0f32;
        let mut pass = 0u32;
        loop {
            // Sample b's draws of each kind: elements b k + j (DAC) and b m + i (ADC) of the
            // kind's sequence for this round.
            let draw = |kind: Kind, e: usize| kind.at(&st, pass, e as u64);
            let mut u = vec![0.0f32; k];
            for j in 0..k {
                let e = (first + b) * k + j;
                let sto = per.inp_sto_round.then(|| draw(Kind::InputRounding, e));
                u[j] = clip(
                    quantize(xb[j] / (alpha * r), per.inp_step, sto),
                    per.inp_clip,
                );
                if per.inp_noise > 0.0 {
                    u[j] += per.inp_noise * draw(Kind::InputNoise, e);
                }
            }
            let mut v = product(&u);
            let u_norm = l2_norm(&u);
            let mut saturated = false;
            for (i, vi) in v.iter_mut().enumerate() {
                let e = (first + b) * m + i;
                if per.w_noise > 0.0 {
                    *vi += per.w_noise * u_norm * draw(Kind::WeightNoise, e);
                }
                if per.out_noise > 0.0 {
                    *vi += per.out_noise * draw(Kind::OutputNoise, e);
                }
                let sto = per.out_sto_round.then(|| draw(Kind::OutputRounding, e));
                *vi = quantize(*vi, per.out_step, sto);
                if let Some(bound) = per.out_clip {
                    saturated |= vi.abs() > bound;
                }
                *vi = clip(*vi, per.out_clip);
            }
            if !per.repeats(saturated, r) {
                for (yi, vi) in yb.iter_mut().zip(&v) {
                    *yi = vi * (alpha * r * per.out_scale);
                }
                break;
            }
            r *= 2.0;
            pass += 1;
        }
    }
}

/// One update call, sample by sample, device by device; returns the number of pulses.
fn reference_update(array: &mut Array<'_>, call: &UpdateCall<'_>) -> u64 {
    let (out_size, in_size) = (array.out_size, array.in_size);
    let w = &mut *array.weights;
    let mut pulses = 0;
    match &mut array.devices.cell {
        // The ideal device: the exact float step, without bounds.
        UnitCell::Ideal => {
            for b in 0..call.n {
                for i in 0..out_size {
                    for j in 0..in_size {
                        let k = i * in_size + j;
                        let (di, xj) = (call.d[b * out_size + i], call.x[b * in_size + j]);
                        w[k] = float_step(w[k], call.lr, di, xj, -f32::MAX, f32::MAX);
                    }
                }
            }
        }
        UnitCell::Single(layer) => pulses = pulsed_update(layer, w, 0, (out_size, in_size), call),
        UnitCell::Vector(cell) => {
            for s in cell.select(call.seed, call.call) {
                pulses += pulsed_update(
                    &mut cell.layers[s],
                    &mut cell.weights[s],
                    s as u32,
                    (out_size, in_size),
                    call,
                );
            }
            cell.reduce(w);
        }
        // A compound's arrays come here one by one (`transfer.rs`, `one_sided.rs`,
        // `mixed_precision.rs`), never the compound.
        UnitCell::Transfer(_) | UnitCell::OneSided(_) | UnitCell::MixedPrecision(_) => {}
    }
    // One side of a one-sided cell: the cell applies the effects once per update of the tile.
    if !call.one_sided {
        diffuse_and_decay(array, call.seed, call.call);
    }
    pulses
}

/// Diffusion, then decay, of every device of every layer after update call `call`, device by
/// device (`device/effects.rs`): row `i` of unit-cell device `sub` draws its diffusion normals
/// and then, with write noise, the normals of its weights read from the sequences `[i, sub,
/// 0]` of the call's diffusion and write-noise streams, in column order.
fn diffuse_and_decay(array: &mut Array<'_>, seed: u64, call: u64) {
    let (out_size, in_size) = (array.out_size, array.in_size);
    let diffusion = Stream::new(seed, Op::Update, Purpose::Diffusion, call);
    let write_noise = Stream::new(seed, Op::Update, Purpose::WriteNoise, call);
    let one = |layer: &mut DeviceLayer, w: &mut [f32], sub: u32| {
        let effects = &layer.effects;
        if !(effects.diffusion_rates.is_some() || effects.decay_scales.is_some()) {
            return false;
        }
        let arrays = layer.model.arrays();
        for i in 0..out_size {
            let mut diffusion = diffusion.normals([i as u32, sub, 0]);
            let mut noise = write_noise.normals([i as u32, sub, 0]);
            for j in 0..in_size {
                let k = i * in_size + j;
                let (lo, hi) = (arrays.b_min[k], arrays.b_max[k]);
                let stored = match layer.persistent.as_deref_mut() {
                    Some(p) => &mut p[k],
                    None => &mut w[k],
                };
                if let Some(rates) = &effects.diffusion_rates {
                    *stored = (*stored + rates[k] * diffusion.draw()).max(lo).min(hi);
                }
                if let Some(scales) = &effects.decay_scales {
                    let b = effects.reset_bias.as_ref().map_or(0.0, |b| b[k]);
                    *stored = ((*stored - b) * scales[k] + b).max(lo).min(hi);
                }
                let new = *stored;
                if layer.persistent.is_some() {
                    w[k] = new + layer.write_noise * noise.draw();
                }
            }
        }
        true
    };
    match &mut array.devices.cell {
        UnitCell::Ideal
        | UnitCell::Transfer(_)
        | UnitCell::OneSided(_)
        | UnitCell::MixedPrecision(_) => {}
        UnitCell::Single(layer) => {
            one(layer, array.weights, 0);
        }
        UnitCell::Vector(cell) => {
            let mut changed = false;
            for s in 0..cell.layers.len() {
                changed |= one(&mut cell.layers[s], &mut cell.weights[s], s as u32);
            }
            if changed {
                cell.reduce(array.weights);
            }
        }
    }
}

/// The update on one pulsed model whose weights read are `w`; `sub` is its index in the unit
/// cell. Returns the number of pulses.
fn pulsed_update(
    layer: &mut DeviceLayer,
    w: &mut [f32],
    sub: u32,
    sizes: (usize, usize),
    call: &UpdateCall<'_>,
) -> u64 {
    let DeviceLayer {
        model,
        write_noise,
        persistent,
        effects,
        ..
    } = layer;
    let store = Store {
        persistent: persistent.as_deref_mut(),
        write_noise: *write_noise,
        counts: effects.pulse_counts.as_deref_mut(),
    };
    with_model!(&*model, dev => pulsed_model(dev, w, store, sub, sizes, call))
}

/// What a model's pulses write besides the weights read: the persistent weights (with write
/// noise) and the pulse counters (with `count_pulses`).
struct Store<'a> {
    persistent: Option<&'a mut [f32]>,
    write_noise: f32,
    counts: Option<&'a mut [[u64; 2]]>,
}

fn pulsed_model<D: PulsedDevice>(
    dev: &D,
    w: &mut [f32],
    mut store: Store<'_>,
    sub: u32,
    (out_size, in_size): (usize, usize),
    call: &UpdateCall<'_>,
) -> u64 {
    let mut applied = 0;
    let up = call.update;
    let stream = |p| Stream::new(call.seed, Op::Update, p, call.call);
    let (sx, sd, noise) = (
        stream(Purpose::PulseTrainX),
        stream(Purpose::PulseTrainD),
        stream(Purpose::PulseNoise),
    );
    let words = up.desired_bl.div_ceil(32) as usize;
    for b in 0..call.n {
        let xb = &call.x[b * in_size..(b + 1) * in_size];
        let db = &call.d[b * out_size..(b + 1) * out_size];
        if up.pulse_type == PulseType::None {
            // The stored weight (the persistent one with write noise) takes the exact step;
            // the weight read equals it.
            let arrays = dev.arrays();
            for i in 0..out_size {
                for j in 0..in_size {
                    let k = i * in_size + j;
                    let stored = store
                        .persistent
                        .as_deref_mut()
                        .map_or(&mut w[k], |p| &mut p[k]);
                    // One side of a one-sided cell steps only the weights it raises (the
                    // weights read still become the stored ones).
                    if !call.one_sided || raises(db[i], xb[j]) {
                        *stored = float_step(
                            *stored,
                            call.lr,
                            db[i],
                            xb[j],
                            arrays.b_min[k],
                            arrays.b_max[k],
                        );
                    }
                    let new = *stored;
                    w[k] = new;
                }
            }
            continue;
        }
        let dw_min = call.device.granularity().unwrap_or(1.0);
        let Some(p) = plan(up, dw_min, call.lr, abs_max(xb), abs_max(db)) else {
            continue;
        };
        let mut mask_x = vec![vec![0u32; words]; in_size];
        let mut mask_d = vec![vec![0u32; words]; out_size];
        if up.pulse_type == PulseType::StochasticCompressed {
            for j in 0..in_size {
                train(
                    &sx,
                    b as u32,
                    (j, in_size),
                    p.p_col(xb[j]),
                    p.bl,
                    &mut mask_x[j],
                );
            }
            for i in 0..out_size {
                train(
                    &sd,
                    b as u32,
                    (i, out_size),
                    p.p_row(db[i]),
                    p.bl,
                    &mut mask_d[i],
                );
            }
        }
        for i in 0..out_size {
            // Cycle-to-cycle noise: one sequence per row and sample (and unit-cell device),
            // drawn pulse after pulse.
            let mut row_noise = noise.normals([b as u32, i as u32, sub]);
            for j in 0..in_size {
                let pulses = match up.pulse_type {
                    PulseType::DeterministicImplicit => {
                        implicit_pulses(p.bl as f32 * p.p_row(db[i]), p.p_col(xb[j]))
                    }
                    _ => mask_d[i]
                        .iter()
                        .zip(&mask_x[j])
                        .map(|(a, c)| (a & c).count_ones())
                        .sum(),
                };
                if pulses == 0 {
                    continue;
                }
                let k = i * in_size + j;
                let increase = raises(db[i], xb[j]);
                if call.one_sided && !increase {
                    // The pulses of the other side: not applied, their normals passed over.
                    let draws = pulses * u32::from(dev.c2c_std() > 0.0)
                        + u32::from(store.persistent.is_some());
                    for _ in 0..draws {
                        row_noise.draw();
                    }
                    continue;
                }
                applied += u64::from(pulses);
                fire(dev, w, &mut store, k, pulses, increase, &mut row_noise);
            }
        }
    }
    applied
}

/// `pulses` pulses on device `k`; with write noise on its persistent weight, the weight read
/// then being the persistent one plus one normal of `noise`; counted when the devices count.
fn fire<D: PulsedDevice>(
    dev: &D,
    w: &mut [f32],
    store: &mut Store<'_>,
    k: usize,
    pulses: u32,
    up: bool,
    noise: &mut Sequence<'_, Normal>,
) {
    if let Some(counts) = store.counts.as_deref_mut() {
        counts[k][usize::from(up)] += u64::from(pulses);
    }
    match store.persistent.as_deref_mut() {
        None => w[k] = dev.apply_pulses(k, w[k], pulses, up, noise),
        Some(p) => {
            p[k] = dev.apply_pulses(k, p[k], pulses, up, noise);
            w[k] = saturate(p[k] + store.write_noise * noise.draw());
        }
    }
}

/// One pulse in direction `up` on every device the unit cell's policy picks, device by device,
/// as update call `call`; returns the number of pulses (none for the ideal device, which the
/// tile refuses before).
fn reference_pulse(array: &mut Array<'_>, seed: u64, call: u64, up: bool) -> u64 {
    let (out_size, in_size) = (array.out_size, array.in_size);
    let noise = Stream::new(seed, Op::Update, Purpose::PulseNoise, call);
    let one = |layer: &mut DeviceLayer, w: &mut [f32], sub: u32| {
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            effects,
            ..
        } = layer;
        let mut store = Store {
            persistent: persistent.as_deref_mut(),
            write_noise: *write_noise,
            counts: effects.pulse_counts.as_deref_mut(),
        };
        with_model!(&*model, dev => {
            for i in 0..out_size {
                let mut row_noise = noise.normals([0, i as u32, sub]);
                for j in 0..in_size {
                    let k = i * in_size + j;
                    fire(dev, w, &mut store, k, 1, up, &mut row_noise);
                }
            }
        });
        (out_size * in_size) as u64
    };
    match &mut array.devices.cell {
        // A compound pulses its fast array (`transfer.rs`), never the compound.
        UnitCell::Ideal
        | UnitCell::Transfer(_)
        | UnitCell::OneSided(_)
        | UnitCell::MixedPrecision(_) => 0,
        UnitCell::Single(layer) => one(layer, array.weights, 0),
        UnitCell::Vector(cell) => {
            let mut pulses = 0;
            for s in cell.select(seed, call) {
                pulses += one(&mut cell.layers[s], &mut cell.weights[s], s as u32);
            }
            cell.reduce(array.weights);
            pulses
        }
    }
}

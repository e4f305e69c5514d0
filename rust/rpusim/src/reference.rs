//! The plain, single-threaded definition of a tile's three operations (MODEL.md §2–§5), sample
//! by sample, written to be read against the model rather than to be fast. The fast kernels of
//! `io.rs`, `mvm.rs` and `update.rs` must give the same bits; the tests check that they do.
//!
//! Shared with the fast path are only the primitives that the model names and that are tested
//! on their own: the random streams, `quantize`, the noise-management scale, the update plan,
//! a pulse train, a device's response to pulses, a unit cell's policy and weighted sum, and the
//! two summation orders of `mvm.rs`.

use crate::config::{PulseType, TileConfig};
use crate::device::{with_model, DeviceLayer, PulsedDevice, UnitCell};
use crate::error::Result;
use crate::io::{batch_scales, clip, l2_norm, quantize, Direction, Kind, PassStreams, Periphery};
use crate::matrix::Matrix;
use crate::mvm::{axpy_order, dot};
use crate::pulse::{abs_max, float_step, implicit_pulses, plan, train};
use crate::rng::{Normal, Op, Purpose, Sequence, Stream};
use crate::tile::Tile;

/// [`Tile::forward`], sample by sample.
pub fn forward(tile: &mut Tile, x: Matrix, is_test: bool) -> Result<Vec<f32>> {
    tile.check_input(Direction::Forward, x)?;
    let mut y = pass(tile, Direction::Forward, x.data(), x.rows(), !is_test);
    tile.scale_outputs(&mut y);
    Ok(y)
}

/// [`Tile::backward`], sample by sample.
pub fn backward(tile: &mut Tile, d: Matrix) -> Result<Vec<f32>> {
    tile.check_input(Direction::Backward, d)?;
    let mut scaled = Vec::new();
    let input = tile.backward_input(d.data(), &mut scaled);
    Ok(pass(tile, Direction::Backward, input, d.rows(), true))
}

/// One pass of a checked batch of `n` samples `x`.
fn pass(tile: &mut Tile, direction: Direction, x: &[f32], n: usize, learn: bool) -> Vec<f32> {
    let (k, m) = direction.sizes(tile.out_size, tile.in_size);
    let (io, slot, call) = match direction {
        Direction::Forward => (tile.config.forward.clone(), 0, tile.counters.forward),
        Direction::Backward => (tile.config.backward.clone(), 1, tile.counters.backward),
    };
    let mut alphas = Vec::new();
    batch_scales(&io, x, n, k, &mut tile.nm_running[slot], learn, &mut alphas);
    let w = &tile.weights;
    let (rows, cols) = (tile.out_size, tile.in_size);
    // The exact product of one vector.
    let product = |u: &[f32]| -> Vec<f32> {
        match direction {
            Direction::Forward => (0..rows)
                .map(|i| dot(&w[i * cols..(i + 1) * cols], u))
                .collect(),
            Direction::Backward => axpy_order(w, rows, cols, u),
        }
    };
    let per = Periphery::new(&io, direction);
    let st = PassStreams::new(tile.seed, direction, call);
    let mut y = vec![0.0f32; n * m];
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
                let e = b * k + j;
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
                let e = b * m + i;
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
    match direction {
        Direction::Forward => tile.counters.forward += 1,
        Direction::Backward => tile.counters.backward += 1,
    }
    y
}

/// Everything an update call reads besides the devices and weights.
struct Call<'a> {
    config: &'a TileConfig,
    seed: u64,
    call: u64,
    out_size: usize,
    in_size: usize,
    x: &'a [f32],
    d: &'a [f32],
    n: usize,
    lr: f32,
}

/// [`Tile::update`], sample by sample, device by device.
pub fn update(tile: &mut Tile, x: Matrix, d: Matrix, lr: f32) -> Result<()> {
    tile.check_update(x, d, lr)?;
    let (x, n) = (x.data(), x.rows());
    let mut scaled = crate::workspace::UpdateErrors::default();
    let (d, lr) = tile.update_input(d.data(), lr, &mut scaled);
    let call = Call {
        config: &tile.config,
        seed: tile.seed,
        call: tile.counters.update,
        out_size: tile.out_size,
        in_size: tile.in_size,
        x,
        d,
        n,
        lr,
    };
    let w = &mut tile.weights;
    let mut pulses = 0;
    match &mut tile.devices.cell {
        // The ideal device: the exact float step, without bounds.
        UnitCell::Ideal => {
            for b in 0..n {
                for i in 0..call.out_size {
                    for j in 0..call.in_size {
                        let k = i * call.in_size + j;
                        let (di, xj) = (d[b * call.out_size + i], x[b * call.in_size + j]);
                        w[k] = float_step(w[k], lr, di, xj, f32::NEG_INFINITY, f32::INFINITY);
                    }
                }
            }
        }
        UnitCell::Single(layer) => pulses = pulsed_update(layer, w, 0, &call),
        UnitCell::Vector(cell) => {
            for s in cell.select(call.seed, call.call) {
                pulses += pulsed_update(&mut cell.layers[s], &mut cell.weights[s], s as u32, &call);
            }
            cell.reduce(w);
        }
    }
    tile.counters.update += 1;
    tile.pulses += pulses;
    Ok(())
}

/// The update on one pulsed model whose weights read are `w`; `sub` is its index in the unit
/// cell. Returns the number of pulses.
fn pulsed_update(layer: &mut DeviceLayer, w: &mut [f32], sub: u32, call: &Call) -> u64 {
    let DeviceLayer {
        model,
        write_noise,
        persistent,
        ..
    } = layer;
    with_model!(&*model, dev => pulsed_model(dev, w, persistent.as_deref_mut(), *write_noise, sub, call))
}

fn pulsed_model<D: PulsedDevice>(
    dev: &D,
    w: &mut [f32],
    mut persistent: Option<&mut [f32]>,
    write_noise: f32,
    sub: u32,
    call: &Call,
) -> u64 {
    let (out_size, in_size) = (call.out_size, call.in_size);
    let mut applied = 0;
    let up = &call.config.update;
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
                    let stored = persistent.as_deref_mut().map_or(&mut w[k], |p| &mut p[k]);
                    *stored = float_step(
                        *stored,
                        call.lr,
                        db[i],
                        xb[j],
                        arrays.b_min[k],
                        arrays.b_max[k],
                    );
                    let new = *stored;
                    w[k] = new;
                }
            }
            continue;
        }
        let dw_min = call.config.device.granularity().unwrap_or(1.0);
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
                let increase = (db[i] < 0.0) != (xb[j] < 0.0);
                applied += u64::from(pulses);
                fire(
                    dev,
                    w,
                    persistent.as_deref_mut(),
                    write_noise,
                    k,
                    pulses,
                    increase,
                    &mut row_noise,
                );
            }
        }
    }
    applied
}

/// `pulses` pulses on device `k`; with write noise on its persistent weight, the weight read
/// then being the persistent one plus one normal of `noise`.
#[allow(clippy::too_many_arguments)]
fn fire<D: PulsedDevice>(
    dev: &D,
    w: &mut [f32],
    persistent: Option<&mut [f32]>,
    write_noise: f32,
    k: usize,
    pulses: u32,
    up: bool,
    noise: &mut Sequence<'_, Normal>,
) {
    match persistent {
        None => w[k] = dev.apply_pulses(k, w[k], pulses, up, noise),
        Some(p) => {
            p[k] = dev.apply_pulses(k, p[k], pulses, up, noise);
            w[k] = p[k] + write_noise * noise.draw();
        }
    }
}

/// [`Tile::pulse`], device by device.
pub fn pulse(tile: &mut Tile, up: bool) -> Result<()> {
    let (out_size, in_size) = (tile.out_size, tile.in_size);
    let noise = Stream::new(
        tile.seed,
        Op::Update,
        Purpose::PulseNoise,
        tile.counters.update,
    );
    let one = |layer: &mut DeviceLayer, w: &mut [f32], sub: u32| {
        let DeviceLayer {
            model,
            write_noise,
            persistent,
            ..
        } = layer;
        with_model!(&*model, dev => {
            for i in 0..out_size {
                let mut row_noise = noise.normals([0, i as u32, sub]);
                for j in 0..in_size {
                    let k = i * in_size + j;
                    fire(dev, w, persistent.as_deref_mut(), *write_noise, k, 1, up, &mut row_noise);
                }
            }
        });
    };
    match &mut tile.devices.cell {
        // The engine's error for the ideal device.
        UnitCell::Ideal => return tile.pulse(up),
        UnitCell::Single(layer) => {
            one(layer, &mut tile.weights, 0);
            tile.pulses += (out_size * in_size) as u64;
        }
        UnitCell::Vector(cell) => {
            for s in cell.select(tile.seed, tile.counters.update) {
                one(&mut cell.layers[s], &mut cell.weights[s], s as u32);
                tile.pulses += (out_size * in_size) as u64;
            }
            cell.reduce(&mut tile.weights);
        }
    }
    tile.counters.update += 1;
    Ok(())
}

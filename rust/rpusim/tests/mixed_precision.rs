//! The mixed-precision compound (aihwkit's `MixedPrecisionCompound`; docs/model_notes.md,
//! "Mixed-precision compound"): against its step-by-step definition on small tiles (the
//! digital `chi` written out here, the transfers' writes made on a tile of the device alone),
//! the exact bookkeeping of whole steps on a device without variation, the statistics of the
//! stochastic rounding of `x` and `d`, the state's round trip and the refused configurations
//! and forged states.

mod common;

use common::forge::TileState;
use common::{bits, uniform};
use rpusim::device::{
    MixedPrecisionCell, MixedPrecisionCompoundParameters, PulsedParameters, UnitCell,
};
use rpusim::rng::{Op, Purpose, Stream};
use rpusim::{DeviceConfig, Error, Matrix, PulseType, Tile, TileConfig, UpdateParameters};
use serde_json::json;

fn cell(t: &Tile) -> &MixedPrecisionCell {
    match &t.devices().cell {
        UnitCell::MixedPrecision(cell) => cell,
        other => panic!("not a mixed-precision compound: {other:?}"),
    }
}

fn config(p: MixedPrecisionCompoundParameters, update: UpdateParameters) -> TileConfig {
    TileConfig {
        device: DeviceConfig::MixedPrecisionCompound(p),
        update,
        ..TileConfig::default()
    }
}

fn matrix(v: &[f32], rows: usize, cols: usize) -> Matrix<'_> {
    Matrix::new(v, rows, cols).unwrap()
}

/// The definition of docs/model_notes.md written out: `chi`, the counters, and a tile of the
/// device alone on which the transfers' writes are made as pulsed updates.
struct Definition {
    p: MixedPrecisionCompoundParameters,
    chi: Vec<f32>,
    samples: u64,
    next_row: usize,
    transfers: u64,
    device: Tile,
    out: usize,
    inp: usize,
    seed: u64,
}

/// Step 2: `v` quantised to `bins` bins, each value after adding `u_j - 1/2` when `u` is given.
fn quantised(v: &[f32], bins: u32, u: Option<&[f32]>) -> Vec<f32> {
    if bins == 0 {
        return v.to_vec();
    }
    let half = (bins / 2) as f32;
    let amax = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let width = if amax / half == 0.0 { 1.0 } else { amax / half };
    v.iter()
        .enumerate()
        .map(|(j, &x)| {
            let s = u.map_or(0.0, |u| u[j] - 0.5);
            (x / width + s).round_ties_even().clamp(-half, half) * width
        })
        .collect()
}

impl Definition {
    fn new(t: &Tile, w: &[f32]) -> Self {
        let DeviceConfig::MixedPrecisionCompound(p) = t.config().device.clone() else {
            panic!("a mixed-precision tile")
        };
        let (out, inp) = (t.out_size(), t.in_size());
        let update = UpdateParameters {
            update_management: true,
            update_bl_management: true,
            ..t.config().update.clone()
        };
        let alone = TileConfig {
            device: (*p.device).clone(),
            update,
            ..t.config().clone()
        };
        let mut device = Tile::new(out, inp, alone, t.seed()).unwrap();
        device.set_weights(matrix(w, out, inp)).unwrap();
        Definition {
            p,
            chi: vec![0.0; out * inp],
            samples: 0,
            next_row: 0,
            transfers: 0,
            device,
            out,
            inp,
            seed: t.seed(),
        }
    }

    /// Update call `call` of the compound (the tile's update counter) with `n` samples.
    fn update(&mut self, x: &[f32], d: &[f32], n: usize, lr: f32, call: u64) {
        let (out, inp, p) = (self.out, self.inp, &self.p);
        let stream = |purpose| Stream::new(self.seed, Op::Update, purpose, call);
        let g = if p.granularity > 0.0 {
            p.granularity as f32
        } else {
            p.device.granularity().unwrap() as f32
        };
        let every = u64::from(p.transfer_every) * n as u64;
        let rows = match p.n_rows_per_transfer {
            r if r < 0 => out,
            r => (r as usize).min(out),
        };
        let mut write: Option<(Vec<f32>, Vec<f32>)> = None;
        for b in 0..n {
            let mut ux = vec![0.0; inp];
            let mut ud = vec![0.0; out];
            stream(Purpose::QuantizeX).fill_uniforms([b as u32, 0, 0], &mut ux);
            stream(Purpose::QuantizeD).fill_uniforms([b as u32, 0, 0], &mut ud);
            let qx = quantised(
                &x[b * inp..(b + 1) * inp],
                p.n_x_bins,
                p.stoc_round_x.then_some(ux.as_slice()),
            );
            let qd = quantised(
                &d[b * out..(b + 1) * out],
                p.n_d_bins,
                p.stoc_round_d.then_some(ud.as_slice()),
            );
            for i in 0..out {
                let a = (lr * qd[i]).clamp(-f32::MAX, f32::MAX);
                if a == 0.0 {
                    continue;
                }
                for j in 0..inp {
                    let h = &mut self.chi[i * inp + j];
                    *h = (*h + a * qx[j]).clamp(-f32::MAX, f32::MAX);
                }
            }
            let c = self.samples;
            self.samples += 1;
            if every == 0 || c == 0 || !c.is_multiple_of(every) || rows == 0 || p.transfer_lr == 0.0
            {
                continue;
            }
            let mut first = self.next_row;
            if p.random_row && rows < out {
                let mut u = [0.0f32];
                Stream::new(self.seed, Op::Update, Purpose::TransferRow, self.transfers)
                    .fill_uniforms([0, 0, 0], &mut u);
                first = ((u[0] * out as f32).floor() as usize).min(out - 1);
            }
            self.transfers += 1;
            self.next_row = (first + rows) % out;
            let (mut wx, mut wd) = (vec![0.0; rows * inp], vec![0.0; rows * out]);
            for r in 0..rows {
                let i = (first + r) % out;
                for j in 0..inp {
                    let h = &mut self.chi[i * inp + j];
                    let steps = (*h / g).trunc();
                    wx[r * inp + j] = steps;
                    *h -= steps * g;
                }
                wd[r * out + i] = 1.0;
            }
            assert!(write.is_none(), "two transfers in one call");
            write = Some((wx, wd));
        }
        // One update call of the device per call of the compound, empty without a transfer.
        let (wx, wd) = write.unwrap_or_default();
        let r = wd.len() / out;
        let lr = g * p.transfer_lr as f32;
        self.device
            .update(matrix(&wx, r, inp), matrix(&wd, r, out), lr)
            .unwrap();
    }
}

fn against_definition(p: MixedPrecisionCompoundParameters, update: UpdateParameters) {
    let (out, inp) = (5, 7);
    let mut t = Tile::new(out, inp, config(p, update), 21).unwrap();
    let w = uniform(out * inp, -0.3, 0.3, 4);
    t.set_weights(matrix(&w, out, inp)).unwrap();
    let mut def = Definition::new(&t, &w);
    let mut transfers = 0;
    for (call, n) in [4usize, 4, 3, 6, 1, 4, 4, 5, 2, 4].into_iter().enumerate() {
        let x = uniform(n * inp, -1.0, 1.0, 100 + call as u64);
        let d = uniform(n * out, -0.5, 0.5, 200 + call as u64);
        let lr = 0.3;
        let counter = t.counters().update;
        t.update(matrix(&x, n, inp), matrix(&d, n, out), lr)
            .unwrap();
        def.update(&x, &d, n, lr, counter);
        let c = cell(&t);
        assert_eq!(bits(&c.chi), bits(&def.chi), "chi after call {call}");
        assert_eq!(
            bits(t.weights()),
            bits(def.device.weights()),
            "weights after call {call}"
        );
        assert_eq!(c.counters.samples, def.samples);
        assert_eq!(c.counters.next_row, def.next_row as u64);
        assert_eq!(c.counters.transfers, def.transfers);
        transfers = def.transfers;
    }
    assert!(transfers > 0, "the calls made no transfer");
    assert_ne!(bits(t.weights()), bits(&w), "the transfers wrote nothing");
}

fn noisy_device() -> DeviceConfig {
    DeviceConfig::ConstantStep(PulsedParameters {
        dw_min: 0.02,
        ..PulsedParameters::default()
    })
}

#[test]
fn every_row_after_every_batch_follows_the_definition() {
    let p = MixedPrecisionCompoundParameters {
        device: Box::new(noisy_device()),
        ..MixedPrecisionCompoundParameters::default()
    };
    against_definition(p.clone(), UpdateParameters::default());
    // The write's update management and UBLM are on whatever the tile's say.
    against_definition(
        p,
        UpdateParameters {
            update_management: false,
            update_bl_management: false,
            desired_bl: 5,
            ..UpdateParameters::default()
        },
    );
}

#[test]
fn quantised_vectors_and_some_rows_follow_the_definition() {
    for (n_x_bins, n_d_bins, stochastic) in
        [(5, 3, true), (4, 0, true), (0, 8, false), (7, 2, false)]
    {
        let p = MixedPrecisionCompoundParameters {
            device: Box::new(noisy_device()),
            n_rows_per_transfer: 2,
            n_x_bins,
            n_d_bins,
            stoc_round_x: stochastic,
            stoc_round_d: !stochastic,
            ..MixedPrecisionCompoundParameters::default()
        };
        against_definition(p, UpdateParameters::default());
    }
}

#[test]
fn random_rows_a_given_granularity_and_a_longer_period_follow_the_definition() {
    let p = MixedPrecisionCompoundParameters {
        device: Box::new(DeviceConfig::default_of("SoftBounds").unwrap()),
        n_rows_per_transfer: 1,
        random_row: true,
        transfer_every: 2,
        granularity: 0.004,
        transfer_lr: 0.5,
        n_d_bins: 3,
        ..MixedPrecisionCompoundParameters::default()
    };
    against_definition(
        p,
        UpdateParameters {
            pulse_type: PulseType::DeterministicImplicit,
            ..UpdateParameters::default()
        },
    );
}

/// On a device without any variation and with implicit pulses, each whole step is exactly one
/// pulse of `dw_min`: what leaves `chi` arrives on the weights, so `W + (the accumulated
/// updates) - chi` stays `W_0`, and a transferred row keeps less than one step in `chi`.
#[test]
fn whole_steps_leave_chi_and_arrive_on_the_weights() {
    let exact = DeviceConfig::ConstantStep(PulsedParameters {
        dw_min: 0.01,
        dw_min_dtod: 0.0,
        dw_min_std: 0.0,
        up_down_dtod: 0.0,
        w_max: 1.0,
        w_min: -1.0,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    });
    let p = MixedPrecisionCompoundParameters {
        device: Box::new(exact),
        n_rows_per_transfer: 2,
        ..MixedPrecisionCompoundParameters::default()
    };
    let update = UpdateParameters {
        pulse_type: PulseType::DeterministicImplicit,
        ..UpdateParameters::default()
    };
    // One sample per call: the transfer follows it (with more, it follows the first sample
    // and the others accumulate after it).
    let (out, inp, n) = (4, 6, 1);
    let mut t = Tile::new(out, inp, config(p, update), 3).unwrap();
    let w0 = uniform(out * inp, -0.2, 0.2, 9);
    t.set_weights(matrix(&w0, out, inp)).unwrap();
    let mut sum = vec![0.0f64; out * inp];
    let mut rows_seen = [false; 4];
    for call in 0..40u64 {
        let x = uniform(n * inp, -1.0, 1.0, 300 + call);
        let d = uniform(n * out, -1.0, 1.0, 400 + call);
        let lr = 0.05;
        let before = cell(&t).counters;
        t.update(matrix(&x, n, inp), matrix(&d, n, out), lr)
            .unwrap();
        for b in 0..n {
            for i in 0..out {
                for j in 0..inp {
                    sum[i * inp + j] +=
                        f64::from(lr) * f64::from(d[b * out + i]) * f64::from(x[b * inp + j]);
                }
            }
        }
        let c = cell(&t);
        for k in 0..out * inp {
            let w = f64::from(t.weights()[k]);
            let expected = f64::from(w0[k]) - sum[k] + f64::from(c.chi[k]);
            assert!(
                (w - expected).abs() < 1e-5,
                "call {call}, device {k}: w {w}, W0 - sum + chi {expected}"
            );
        }
        if c.counters.transfers > before.transfers {
            // The transferred rows hold less than one step.
            for r in 0..2 {
                let i = (before.next_row as usize + r) % out;
                rows_seen[i] = true;
                for j in 0..inp {
                    assert!(
                        c.chi[i * inp + j].abs() < 0.01,
                        "row {i}: {}",
                        c.chi[i * inp + j]
                    );
                }
            }
        }
    }
    assert_eq!(rows_seen, [true; 4], "every row was transferred");
    assert!(t.pulses() > 100, "only {} pulses", t.pulses());
}

/// Stochastic rounding is unbiased: the mean of `chi` over many samples of one vector is the
/// vector, within four standard errors; rounding to the nearest bin is biased by the formula.
#[test]
fn stochastic_rounding_of_x_and_d_is_unbiased() {
    let x = [1.0f32, 0.3, -0.1, 0.6];
    let n = 4000;
    for stochastic in [true, false] {
        for quantise_x in [true, false] {
            let p = MixedPrecisionCompoundParameters {
                transfer_every: 0,
                n_x_bins: if quantise_x { 4 } else { 0 },
                n_d_bins: if quantise_x { 0 } else { 4 },
                stoc_round_x: stochastic,
                stoc_round_d: stochastic,
                ..MixedPrecisionCompoundParameters::default()
            };
            // x on the columns of one row, or the same values as d on the rows of one column.
            let (out, inp) = if quantise_x { (1, 4) } else { (4, 1) };
            let mut t = Tile::new(out, inp, config(p, UpdateParameters::default()), 17).unwrap();
            let v: Vec<f32> = (0..n).flat_map(|_| x).collect();
            let ones = vec![1.0f32; n];
            let (xs, ds) = if quantise_x { (&v, &ones) } else { (&ones, &v) };
            for _ in 0..2 {
                t.update(matrix(xs, n, inp), matrix(ds, n, out), 1.0)
                    .unwrap();
            }
            let chi = &cell(&t).chi;
            // Width 1/2: 0.3 is 0.6 widths, -0.1 is -0.2, 0.6 is 1.2.
            for (k, &v) in x.iter().enumerate() {
                let mean = f64::from(chi[k]) / (2 * n) as f64;
                if stochastic {
                    let frac = (f64::from(v) * 2.0).abs().fract();
                    let se = 0.5 * (frac * (1.0 - frac) / (2 * n) as f64).sqrt();
                    assert!(
                        (mean - f64::from(v)).abs() <= 4.0 * se + 1e-6,
                        "{v}: mean {mean}, se {se}"
                    );
                } else {
                    let nearest = [1.0, 0.5, 0.0, 0.5][k];
                    assert!((mean - nearest).abs() < 1e-6, "{v}: mean {mean}");
                }
            }
        }
    }
}

#[test]
fn the_state_saves_and_loads_mid_training() {
    let p = MixedPrecisionCompoundParameters {
        device: Box::new(DeviceConfig::default_of("LinearStep").unwrap()),
        n_rows_per_transfer: 3,
        random_row: true,
        n_x_bins: 6,
        n_d_bins: 6,
        ..MixedPrecisionCompoundParameters::default()
    };
    let (out, inp) = (5, 4);
    let mut t = Tile::new(out, inp, config(p, UpdateParameters::default()), 8).unwrap();
    let w = uniform(out * inp, -0.5, 0.5, 1);
    t.set_weights(matrix(&w, out, inp)).unwrap();
    let step = |t: &mut Tile, call: u64| {
        let x = uniform(6 * inp, -1.0, 1.0, call);
        let d = uniform(6 * out, -1.0, 1.0, call + 50);
        t.update(matrix(&x, 6, inp), matrix(&d, 6, out), 0.2)
            .unwrap();
    };
    for call in 0..3 {
        step(&mut t, call);
    }
    assert!(cell(&t).counters.transfers > 0);
    let mut loaded = Tile::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(loaded, t);
    for call in 3..7 {
        step(&mut t, call);
        step(&mut loaded, call);
    }
    assert_eq!(loaded.to_bytes(), t.to_bytes());
    assert_eq!(loaded, t);

    // Forged states: a next row past the array, chi missing, the counters missing.
    let forged = |edit: &dyn Fn(&mut TileState)| {
        let mut state = TileState::parse(&t.to_bytes());
        edit(&mut state);
        Tile::from_bytes(&state.to_bytes())
    };
    let refused = |result: rpusim::Result<Tile>, field: &str| match result {
        Err(Error::State(m)) => assert!(m.contains(field), "{field} not named in {m}"),
        other => panic!("expected a state error naming {field}, got {other:?}"),
    };
    refused(
        forged(&|s| s.header["device_counters"]["mixed_precision"]["next_row"] = json!(out)),
        "next_row",
    );
    refused(forged(&|s| s.arrays.retain(|(n, _)| n != "chi")), "chi");
    refused(
        forged(&|s| {
            s.header["device_counters"]
                .as_object_mut()
                .unwrap()
                .remove("mixed_precision");
        }),
        "mixed-precision counters",
    );
    refused(
        forged(&|s| s.array("weights")[0] = 10.0),
        "weights: device 0",
    );
}

#[test]
fn programming_empties_chi_and_a_pulse_moves_the_device() {
    let mut t = Tile::new(
        3,
        3,
        TileConfig {
            device: DeviceConfig::default_of("MixedPrecisionCompound").unwrap(),
            ..TileConfig::default()
        },
        2,
    )
    .unwrap();
    let x = uniform(8 * 3, -1.0, 1.0, 1);
    t.update(matrix(&x, 8, 3), matrix(&x, 8, 3), 0.1).unwrap();
    assert!(cell(&t).chi.iter().any(|&h| h != 0.0));
    assert_eq!(cell(&t).counters.samples, 8);
    let w = vec![0.1f32; 9];
    t.set_weights(matrix(&w, 3, 3)).unwrap();
    assert!(cell(&t).chi.iter().all(|&h| h == 0.0));
    assert_eq!(cell(&t).counters.samples, 0);
    assert_eq!(t.weights(), &w[..]);
    t.pulse(true).unwrap();
    assert!(t.weights().iter().all(|&v| v > 0.1), "{:?}", t.weights());
}

#[test]
fn a_configuration_is_checked_field_by_field() {
    let bad = |p: MixedPrecisionCompoundParameters, field: &str| {
        let e = config(p, UpdateParameters::default())
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{field}: {e}");
    };
    let base = MixedPrecisionCompoundParameters::default();
    for device in ["IdealDevice", "VectorUnitCell", "MixedPrecisionCompound"] {
        bad(
            MixedPrecisionCompoundParameters {
                device: Box::new(DeviceConfig::default_of(device).unwrap()),
                ..base.clone()
            },
            "device.device",
        );
    }
    bad(
        MixedPrecisionCompoundParameters {
            device: Box::new(DeviceConfig::ConstantStep(PulsedParameters {
                dw_min: -1.0,
                ..PulsedParameters::default()
            })),
            ..base.clone()
        },
        "device.device.dw_min",
    );
    for (field, v) in [("granularity", -0.1), ("transfer_lr", f64::NAN)] {
        let mut p = base.clone();
        match field {
            "granularity" => p.granularity = v,
            _ => p.transfer_lr = v,
        }
        bad(p, &format!("device.{field}"));
    }
    bad(
        MixedPrecisionCompoundParameters {
            n_rows_per_transfer: -2,
            ..base.clone()
        },
        "device.n_rows_per_transfer",
    );
    bad(
        MixedPrecisionCompoundParameters {
            n_x_bins: 1,
            ..base.clone()
        },
        "device.n_x_bins",
    );
    bad(
        MixedPrecisionCompoundParameters {
            n_d_bins: 1,
            ..base.clone()
        },
        "device.n_d_bins",
    );
    bad(
        MixedPrecisionCompoundParameters {
            granularity: 1e-60,
            ..base.clone()
        },
        "device.granularity",
    );
    // aihwkit's names, flat in the device's JSON object; an unknown one is refused by name.
    let document = json!({"device": {"type": "MixedPrecisionCompound", "transfer_every": 2,
        "n_rows_per_transfer": 1, "random_row": true, "granularity": 0.002,
        "transfer_lr": 0.5, "n_x_bins": 7, "n_d_bins": 5, "stoc_round_x": false,
        "stoc_round_d": false, "device": {"type": "SoftBounds", "dw_min": 0.01}}});
    let c = TileConfig::from_json(&document.to_string()).unwrap();
    assert_eq!(TileConfig::from_json(&c.to_json()).unwrap(), c);
    let p = c.device.mixed_precision().unwrap();
    assert_eq!(
        (p.transfer_every, p.n_rows_per_transfer, p.n_x_bins),
        (2, 1, 7)
    );
    let unknown = json!({"device": {"type": "MixedPrecisionCompound", "compute_sparsity": true}});
    let e = TileConfig::from_json(&unknown.to_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`compute_sparsity`"), "{e}");
}

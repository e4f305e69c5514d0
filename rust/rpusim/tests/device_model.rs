//! The device models against MODEL.md §5 and aihwkit's definitions: the step of one pulse as a
//! function of the weight (mean and spread over many devices, d2d and c2c variation together),
//! the d2d spreads of the drawn parameters, bounds, write noise, the number of states; and the
//! unit cell (weighted sum, update policies, programming, saved state).

mod common;

use common::{mean_std, uniform};
use rpusim::device::{
    DeviceModel, ExpStepParameters, LinearStepParameters, PiecewiseStepParameters,
    PowStepParameters, PulsedParameters, SoftBoundsParameters, UnitCell, UpdatePolicy,
    VectorUnitCellParameters, WriteNoiseParameters, DEVICE_TYPES,
};
use rpusim::{DeviceConfig, Matrix, PulseType, Tile, TileConfig, UpdateParameters};

const ROWS: usize = 200;
const COLS: usize = 250;

fn tile(device: DeviceConfig, seed: u64) -> Tile {
    let config = TileConfig {
        device,
        ..TileConfig::default()
    };
    Tile::new(ROWS, COLS, config, seed).unwrap()
}

/// The common parameters with fixed bounds (the step formulas need a known `b_max`, `b_min`)
/// and the given step spreads and asymmetry.
fn pulsed(dtod: f64, std: f64, up_down: f64) -> PulsedParameters {
    PulsedParameters {
        dw_min: 0.002,
        dw_min_dtod: dtod,
        dw_min_std: std,
        up_down,
        up_down_dtod: 0.05,
        w_max: 0.6,
        w_min: -0.5,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    }
}

/// Moments of the step of the drawn devices: `E[dw]` and `E[dw^2]` of the up (or down) step
/// `(bias + gain + r) dw_min`, gain `1 + dtod xi`, `r = up_down_dtod xi'`.
fn step_moments(p: &PulsedParameters, up: bool) -> (f64, f64) {
    let bias = if up {
        p.up_down.min(0.0)
    } else {
        -p.up_down.max(0.0)
    };
    let mean = (1.0 + bias) * p.dw_min;
    let var = (p.dw_min_dtod.powi(2) + p.up_down_dtod.powi(2)) * p.dw_min.powi(2);
    (mean, mean * mean + var)
}

/// Checks that `v` has mean `mean` and variance `var` within five standard errors (the
/// standard error of the variance from the sample's fourth moment).
fn assert_moments(what: &str, v: &[f64], mean: f64, var: f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let s2 = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = v.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    let se_mean = (s2 / n).sqrt();
    let se_var = ((m4 - s2 * s2) / n).sqrt();
    assert!(
        (m - mean).abs() < 5.0 * se_mean + 1e-12,
        "{what}: mean {m:e}, expected {mean:e} (se {se_mean:e})"
    );
    assert!(
        (s2 - var).abs() < 5.0 * se_var + 1e-18,
        "{what}: variance {s2:e}, expected {var:e} (se {se_var:e})"
    );
}

/// The change of every device by one pulse from weight `w0`, in direction `up`.
fn one_pulse(t: &mut Tile, w0: f32, up: bool) -> Vec<f64> {
    t.set_weights(Matrix::new(&vec![w0; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    let before = t.weights().to_vec();
    t.pulse(up).unwrap();
    t.weights()
        .iter()
        .zip(&before)
        .map(|(a, b)| f64::from(*a) - f64::from(*b))
        .collect()
}

/// The expected moments of one pulse from `w0`: `E[dw Y s]`, `Var[dw Y s]` for independent
/// `dw` (the drawn step), `Y` (the weight factor, mean `y`, second moment `y2`) and
/// `s = 1 + std xi`, with the sign of the direction.
fn multiplicative(p: &PulsedParameters, up: bool, y: f64, y2: f64) -> (f64, f64) {
    let (dw, dw2) = step_moments(p, up);
    let sign = if up { 1.0 } else { -1.0 };
    let mean = sign * dw * y;
    let second = dw2 * y2 * (1.0 + p.dw_min_std.powi(2));
    (mean, second - mean * mean)
}

const WEIGHTS: [f32; 5] = [-0.4, -0.1, 0.0, 0.25, 0.5];

#[test]
fn constant_step_is_the_same_everywhere() {
    let p = pulsed(0.3, 0.3, 0.2);
    let mut t = tile(DeviceConfig::ConstantStep(p.clone()), 1);
    for w0 in WEIGHTS {
        for up in [true, false] {
            let (mean, var) = multiplicative(&p, up, 1.0, 1.0);
            assert_moments(
                &format!("w0 {w0} up {up}"),
                &one_pulse(&mut t, w0, up),
                mean,
                var,
            );
        }
    }
}

#[test]
fn linear_step_shrinks_linearly_towards_the_mean_bounds() {
    for mult_noise in [true, false] {
        let p = LinearStepParameters {
            pulsed: pulsed(0.2, 0.3, 0.1),
            gamma_up: 0.5,
            gamma_down: 0.8,
            gamma_up_dtod: 0.05,
            gamma_down_dtod: 0.1,
            mult_noise,
            ..LinearStepParameters::default()
        };
        let mut t = tile(DeviceConfig::LinearStep(p.clone()), 2);
        for w0 in WEIGHTS {
            for up in [true, false] {
                // Y = 1 - G w0 / reference, G ~ N(gamma, gamma_dtod).
                let (gamma, dtod, reference) = if up {
                    (p.gamma_up, p.gamma_up_dtod, p.pulsed.w_max)
                } else {
                    (p.gamma_down, p.gamma_down_dtod, p.pulsed.w_min)
                };
                let x = f64::from(w0) / reference;
                let y = 1.0 - gamma * x;
                let y_var = (dtod * x).powi(2);
                let (mean, var) = if mult_noise {
                    multiplicative(&p.pulsed, up, y, y * y + y_var)
                } else {
                    // dw (s - G x): the noise on the constant part only.
                    let (dw, dw2) = step_moments(&p.pulsed, up);
                    let sign = if up { 1.0 } else { -1.0 };
                    let second = dw2 * (p.pulsed.dw_min_std.powi(2) + y_var + y * y);
                    (sign * dw * y, second - (dw * y).powi(2))
                };
                let what = format!("mult {mult_noise} w0 {w0} up {up}");
                assert_moments(&what, &one_pulse(&mut t, w0, up), mean, var);
            }
        }
    }
}

#[test]
fn soft_bounds_vanish_at_the_bounds() {
    let p = SoftBoundsParameters {
        pulsed: pulsed(0.3, 0.2, -0.1),
        ..SoftBoundsParameters::default()
    };
    let mut t = tile(DeviceConfig::SoftBounds(p.clone()), 3);
    for w0 in WEIGHTS {
        for up in [true, false] {
            let bound = if up { p.pulsed.w_max } else { p.pulsed.w_min };
            let y = 1.0 - f64::from(w0) / bound;
            let (mean, var) = multiplicative(&p.pulsed, up, y, y * y);
            assert_moments(
                &format!("w0 {w0} up {up}"),
                &one_pulse(&mut t, w0, up),
                mean,
                var,
            );
        }
    }
    // At the bound itself the step is 0 (up to float rounding).
    let at_bound = one_pulse(&mut t, 0.6, true);
    assert!(at_bound.iter().all(|d| d.abs() < 1e-7));
}

#[test]
fn exp_step_follows_its_exponential() {
    for complex in [false, true] {
        let p = ExpStepParameters {
            pulsed: pulsed(0.2, 0.3, 0.0),
            dw_min_std_add: if complex { 0.001 } else { 0.0 },
            dw_min_std_slope: if complex { 0.02 } else { 0.0 },
            ..ExpStepParameters::default()
        };
        let mut t = tile(DeviceConfig::ExpStep(p.clone()), 4);
        for w0 in WEIGHTS {
            for up in [true, false] {
                let range = p.pulsed.w_max - p.pulsed.w_min;
                let z = 2.0 * p.a * f64::from(w0) / range + p.b;
                let y = if up {
                    1.0 - p.a_up * (p.gamma_up * z).exp()
                } else {
                    1.0 - p.a_down * (-p.gamma_down * z).exp()
                }
                .max(0.0);
                let (mean, var) = if complex {
                    // dw Y + std (dw Y + add + slope |w0|) xi.
                    let (dw, dw2) = step_moments(&p.pulsed, up);
                    let c = p.dw_min_std_add + p.dw_min_std_slope * f64::from(w0).abs();
                    let noise = dw2 * y * y + 2.0 * c * y * dw + c * c;
                    let sign = if up { 1.0 } else { -1.0 };
                    let var = dw2 * y * y - (dw * y).powi(2) + p.pulsed.dw_min_std.powi(2) * noise;
                    (sign * dw * y, var)
                } else {
                    multiplicative(&p.pulsed, up, y, y * y)
                };
                let what = format!("complex {complex} w0 {w0} up {up}");
                assert_moments(&what, &one_pulse(&mut t, w0, up), mean, var);
            }
        }
    }
}

#[test]
fn pow_step_follows_its_power_law() {
    let p = PowStepParameters {
        pulsed: pulsed(0.2, 0.3, 0.0),
        pow_gamma: 1.6,
        pow_gamma_dtod: 0.1,
        pow_up_down: 0.25,
        pow_up_down_dtod: 0.05,
        ..PowStepParameters::default()
    };
    let mut t = tile(DeviceConfig::PowStep(p.clone()), 5);
    for w0 in WEIGHTS {
        for up in [true, false] {
            let range = p.pulsed.w_max - p.pulsed.w_min;
            let omega = (p.pulsed.w_max - f64::from(w0)) / range;
            let base = if up { omega } else { 1.0 - omega };
            // The exponent G ~ N(mu, sigma^2): E[base^G] = exp(mu L + sigma^2 L^2 / 2), L = ln base.
            let bias = if up {
                p.pow_up_down.min(0.0)
            } else {
                -p.pow_up_down.max(0.0)
            };
            let mu = (1.0 + bias) * p.pow_gamma;
            let sigma2 =
                (p.pow_gamma_dtod.powi(2) + p.pow_up_down_dtod.powi(2)) * p.pow_gamma.powi(2);
            let l = base.ln();
            let y = (mu * l + sigma2 * l * l / 2.0).exp();
            let y2 = (2.0 * mu * l + 2.0 * sigma2 * l * l).exp();
            let (mean, var) = multiplicative(&p.pulsed, up, y, y2);
            assert_moments(
                &format!("w0 {w0} up {up}"),
                &one_pulse(&mut t, w0, up),
                mean,
                var,
            );
        }
    }
}

#[test]
fn piecewise_step_interpolates_its_nodes() {
    let (up_nodes, down_nodes) = (vec![2.0, 1.5, 1.0, 0.5, 0.0], vec![0.2, 0.6, 1.0, 1.4, 1.8]);
    let p = PiecewiseStepParameters {
        pulsed: pulsed(0.3, 0.3, 0.0),
        piecewise_up: up_nodes.clone(),
        piecewise_down: down_nodes.clone(),
        ..PiecewiseStepParameters::default()
    };
    let mut t = tile(DeviceConfig::PiecewiseStep(p.clone()), 6);
    let interpolate = |nodes: &[f64], w: f64| {
        let t = (w - p.pulsed.w_min) / (p.pulsed.w_max - p.pulsed.w_min) * 4.0;
        let i = (t.floor() as usize).min(3);
        nodes[i] + (t - i as f64) * (nodes[i + 1] - nodes[i])
    };
    for w0 in WEIGHTS {
        for up in [true, false] {
            let nodes = if up { &up_nodes } else { &down_nodes };
            let y = interpolate(nodes, f64::from(w0));
            let (mean, var) = multiplicative(&p.pulsed, up, y, y * y);
            assert_moments(
                &format!("w0 {w0} up {up}"),
                &one_pulse(&mut t, w0, up),
                mean,
                var,
            );
        }
    }
    // Update management plans with dw_min times the middle up node (aihwkit's granularity),
    // here 0.5 so that plain dw_min would fail.
    let config = DeviceConfig::PiecewiseStep(PiecewiseStepParameters {
        piecewise_up: vec![2.0, 1.5, 0.5, 0.2, 0.1],
        ..p
    });
    assert_eq!(config.granularity(), Some(0.002 * 0.5));
}

/// The drawn model of a single-device tile.
fn model(t: &Tile) -> &DeviceModel {
    &t.devices().layers()[0].model
}

#[test]
fn slopes_and_exponents_have_their_device_to_device_spreads() {
    let p = LinearStepParameters {
        gamma_up: 0.4,
        gamma_down: 0.7,
        gamma_up_dtod: 0.05,
        gamma_down_dtod: 0.1,
        ..LinearStepParameters::default()
    };
    let t = tile(DeviceConfig::LinearStep(p.clone()), 7);
    let DeviceModel::LinearStep(ls) = model(&t) else {
        panic!("a linear-step model")
    };
    let n = ls.slope_up.len() as f64;
    let check = |name: &str, v: &[f32], mean: f64, std: f64| {
        let (m, s) = mean_std(v);
        assert!(
            (m - mean).abs() < 5.0 * std / n.sqrt(),
            "{name}: mean {m}, expected {mean}"
        );
        assert!(
            (s - std).abs() < 5.0 * std / (2.0 * n).sqrt(),
            "{name}: std {s}, expected {std}"
        );
    };
    // slope = -g dw / reference with the mean bound as reference: g = -slope reference / dw.
    let gammas = |slopes: &[f32], steps: &[f32], reference: f64| -> Vec<f32> {
        slopes
            .iter()
            .zip(steps)
            .map(|(&s, &dw)| (-f64::from(s) * reference / f64::from(dw)) as f32)
            .collect()
    };
    let a = &ls.arrays;
    check(
        "gamma_up",
        &gammas(&ls.slope_up, &a.dw_up, p.pulsed.w_max),
        0.4,
        0.05,
    );
    check(
        "gamma_down",
        &gammas(&ls.slope_down, &a.dw_down, p.pulsed.w_min),
        0.7,
        0.1,
    );
    // The common draw is the same as for the constant step: bounds with their spread.
    check("b_max", &a.b_max, 0.6, 0.18);

    let p = PowStepParameters {
        pow_gamma: 2.0,
        pow_gamma_dtod: 0.1,
        pow_up_down: -0.2,
        pow_up_down_dtod: 0.05,
        ..PowStepParameters::default()
    };
    let t = tile(DeviceConfig::PowStep(p), 8);
    let DeviceModel::PowStep(ps) = model(&t) else {
        panic!("a power-step model")
    };
    // up: (-0.2 + gain + r) * 2, down: (gain - r) * 2, with gain ~ N(1, 0.1), r ~ N(0, 0.05).
    let spread = 2.0 * (0.1f64.powi(2) + 0.05f64.powi(2)).sqrt();
    check("gamma_up", &ps.gamma_up, 1.6, spread);
    check("gamma_down", &ps.gamma_down, 2.0, spread);
}

#[test]
fn weights_never_leave_the_bounds_of_any_model() {
    let with_noise = WriteNoiseParameters {
        write_noise_std: 5.0,
        apply_write_noise_on_set: true,
    };
    let mut devices: Vec<DeviceConfig> = DEVICE_TYPES
        .iter()
        .filter(|&&name| name != "IdealDevice")
        .map(|name| DeviceConfig::default_of(name).unwrap())
        .collect();
    devices.push(DeviceConfig::LinearStep(LinearStepParameters {
        gamma_up: 1.5,
        gamma_down: 1.5,
        write_noise: with_noise.clone(),
        ..LinearStepParameters::default()
    }));
    devices.push(DeviceConfig::ExpStep(ExpStepParameters {
        write_noise: with_noise,
        dw_min_std_add: 0.01,
        ..ExpStepParameters::default()
    }));
    for device in devices {
        let name = format!("{device:?}");
        let mut t = Tile::new(
            30,
            40,
            TileConfig {
                device,
                ..TileConfig::default()
            },
            9,
        )
        .unwrap();
        for call in 0..40 {
            let x = uniform(16 * 40, -1.0, 1.0, call);
            let d = uniform(16 * 30, -1.0, 1.0, call + 1000);
            t.update(
                Matrix::new(&x, 16, t.in_size()).unwrap(),
                Matrix::new(&d, 16, t.out_size()).unwrap(),
                1.0,
            )
            .unwrap();
            for layer in t.devices().layers() {
                let a = layer.arrays();
                let stored: &[f32] = match (&layer.persistent, &t.devices().cell) {
                    (Some(p), _) => p,
                    (None, UnitCell::Single(_)) => t.weights(),
                    (None, UnitCell::Vector(v)) => {
                        let k = v
                            .layers
                            .iter()
                            .position(|l| std::ptr::eq(l, layer))
                            .unwrap();
                        &v.weights[k]
                    }
                    (None, UnitCell::Transfer(c)) => {
                        let k = c
                            .arrays
                            .iter()
                            .position(|a| a.layers().iter().any(|l| std::ptr::eq(*l, layer)))
                            .unwrap();
                        &c.weights[k]
                    }
                    (None, UnitCell::OneSided(c)) => {
                        let k = c
                            .arrays
                            .iter()
                            .position(|a| a.layers().iter().any(|l| std::ptr::eq(*l, layer)))
                            .unwrap();
                        &c.weights[k]
                    }
                    (None, UnitCell::MixedPrecision(_)) => t.weights(),
                    (None, UnitCell::Ideal) => unreachable!(),
                };
                for (k, &w) in stored.iter().enumerate() {
                    assert!(
                        a.b_min[k] <= w && w <= a.b_max[k],
                        "{name}: device {k}: {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn write_noise_sits_on_the_persistent_weight() {
    let p = ExpStepParameters {
        pulsed: pulsed(0.3, 0.3, 0.0),
        write_noise: WriteNoiseParameters {
            write_noise_std: 4.0,
            apply_write_noise_on_set: true,
        },
        ..ExpStepParameters::default()
    };
    let sigma = 4.0 * 0.002;
    let mut t = tile(DeviceConfig::ExpStep(p.clone()), 10);
    let noise = |t: &Tile| -> Vec<f64> {
        let persistent = t.devices().layers()[0].persistent.as_ref().unwrap();
        t.weights()
            .iter()
            .zip(persistent)
            .map(|(a, b)| f64::from(*a) - f64::from(*b))
            .collect()
    };
    t.set_weights(Matrix::new(&vec![0.1; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert!(t.devices().layers()[0]
        .persistent
        .as_ref()
        .unwrap()
        .iter()
        .all(|&w| w == 0.1));
    assert_moments("on set", &noise(&t), 0.0, sigma * sigma);
    // Programming again draws new noise.
    let first = t.weights().to_vec();
    t.set_weights(Matrix::new(&vec![0.1; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert_ne!(first, t.weights());
    t.pulse(true).unwrap();
    assert_moments("after a pulse", &noise(&t), 0.0, sigma * sigma);
    // Without noise on set, the weights read are the programmed ones.
    let quiet = ExpStepParameters {
        write_noise: WriteNoiseParameters {
            write_noise_std: 4.0,
            apply_write_noise_on_set: false,
        },
        ..p
    };
    let mut t = tile(DeviceConfig::ExpStep(quiet), 10);
    t.set_weights(Matrix::new(&vec![0.1; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert!(t.weights().iter().all(|&w| w == 0.1));
}

#[test]
fn the_number_of_states_is_the_range_over_the_granularity() {
    // One pulse per call of a device without variation walks (w_max - w_min) / dw_min steps
    // from bound to bound: 1200 for Gokmen & Vlasov's device.
    for (dw_min, bound, states) in [(0.001, 0.6, 1200usize), (0.0002, 1.0, 10_000)] {
        let p = PulsedParameters {
            dw_min,
            dw_min_dtod: 0.0,
            dw_min_std: 0.0,
            up_down_dtod: 0.0,
            w_max: bound,
            w_min: -bound,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            ..PulsedParameters::default()
        };
        let config = DeviceConfig::ConstantStep(p);
        let mut t = Tile::new(
            1,
            1,
            TileConfig {
                device: config,
                ..TileConfig::default()
            },
            0,
        )
        .unwrap();
        t.set_weights(Matrix::new(&[-bound as f32], t.out_size(), t.in_size()).unwrap())
            .unwrap();
        let mut pulses = 0;
        while t.weights()[0] < bound as f32 && pulses < 2 * states {
            t.pulse(true).unwrap();
            pulses += 1;
        }
        assert!(
            (states - 1..=states + 1).contains(&pulses),
            "{pulses} pulses from bound to bound, expected {states}"
        );
    }
    // The granularity update management plans with, per model.
    let vector = DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
        devices: vec![
            DeviceConfig::ConstantStep(PulsedParameters {
                dw_min: 0.001,
                ..PulsedParameters::default()
            }),
            DeviceConfig::ConstantStep(PulsedParameters {
                dw_min: 0.003,
                ..PulsedParameters::default()
            }),
        ],
        ..VectorUnitCellParameters::default()
    });
    assert_eq!(vector.granularity(), Some(0.002));
    assert_eq!(DeviceConfig::default().granularity(), Some(0.001));
    assert_eq!(
        DeviceConfig::default_of("IdealDevice")
            .unwrap()
            .granularity(),
        None
    );
}

/// aihwkit's ReRAM exponential-step fit (`ReRamESPresetDevice`) without its noise: a down
/// step of 1.475 `dw_min` at `w = 0`, an up step of 1.097 `dw_min`.
fn reram_es(noise: bool) -> ExpStepParameters {
    ExpStepParameters {
        pulsed: PulsedParameters {
            dw_min: 0.00135,
            dw_min_dtod: if noise { 0.2 } else { 0.0 },
            dw_min_std: if noise { 5.0 } else { 0.0 },
            up_down: 0.259359,
            up_down_dtod: if noise { 0.05 } else { 0.0 },
            w_max: 1.0,
            w_min: -1.0,
            w_max_dtod: if noise { 0.3 } else { 0.0 },
            w_min_dtod: if noise { 0.3 } else { 0.0 },
            ..PulsedParameters::default()
        },
        write_noise: WriteNoiseParameters {
            write_noise_std: if noise { 75.0 } else { 0.0 },
            ..WriteNoiseParameters::default()
        },
        a: -0.5,
        b: -0.5,
        gamma_up: 5.0,
        gamma_down: 5.0,
        a_up: -1.18445,
        a_down: -0.081404,
        ..ExpStepParameters::default()
    }
}

/// Pulses per device of one update call with `x = 1`, `d = -1` (every device up) and
/// learning rate `lr`.
fn pulses_of_one_update(t: &mut Tile, lr: f32) -> f64 {
    let (rows, cols) = (t.out_size(), t.in_size());
    let before = t.pulses();
    t.update(
        Matrix::new(&vec![1.0; cols], 1, t.in_size()).unwrap(),
        Matrix::new(&vec![-1.0; rows], 1, t.out_size()).unwrap(),
        lr,
    )
    .unwrap();
    (t.pulses() - before) as f64 / (rows * cols) as f64
}

#[test]
fn update_management_plans_with_the_models_granularity() {
    // aihwkit's weight granularity (`calcWeightGranularity`): the exponential step's mean down
    // step at w = 0 (rpu_expstep_device.h), the power step's dw_min 0.5^pow_gamma
    // (rpu_powstep_device.h); dw_min would plan 0.68 times too many pulses for the ReRAM fit
    // and half (a quarter) too few for the power step with gamma 1 (2).
    let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() <= 1e-12 * b;
    let reram_g = 0.00135 * (1.0 - 0.259359) * (1.0 + 0.081404 * 2.5f64.exp());
    assert!((reram_g / 0.00135 - 1.475137).abs() < 1e-6);
    assert!(close(
        DeviceConfig::ExpStep(reram_es(true)).granularity(),
        reram_g
    ));
    let default_g = 0.001 * (1.0 - 0.36833 * (-12.78785f64 * 0.2425).exp());
    assert!(close(
        DeviceConfig::default_of("ExpStep").unwrap().granularity(),
        default_g
    ));
    // Without a positive down step at 0 it falls back to dw_min.
    let flat = ExpStepParameters {
        a_down: 2.0,
        b: 0.0,
        ..ExpStepParameters::default()
    };
    assert_eq!(DeviceConfig::ExpStep(flat).granularity(), Some(0.001));
    for (gamma, up_down, g) in [(1.0, 0.0, 0.0005), (2.0, 0.0, 0.00025), (1.6, 0.25, 0.0)] {
        let g = if g > 0.0 {
            g
        } else {
            0.001 * 0.5f64.powf(gamma)
        };
        let p = PowStepParameters {
            pow_gamma: gamma,
            pow_up_down: up_down,
            ..PowStepParameters::default()
        };
        assert!(
            close(DeviceConfig::PowStep(p).granularity(), g),
            "gamma {gamma}"
        );
    }
    let huge = PowStepParameters {
        pow_gamma: -2000.0,
        ..PowStepParameters::default()
    };
    assert_eq!(DeviceConfig::PowStep(huge).granularity(), Some(0.001));

    // The tile plans with it. Deterministic pulses, k = lr / granularity for x = d = 1:
    // BL = ceil(k) slots of probability k / BL each, round(BL (k / BL)) pulses.
    let quiet_pow = |gamma| {
        DeviceConfig::PowStep(PowStepParameters {
            pulsed: pulsed(0.0, 0.0, 0.0),
            pow_gamma: gamma,
            pow_gamma_dtod: 0.0,
            ..PowStepParameters::default()
        })
    };
    let deterministic = UpdateParameters {
        pulse_type: PulseType::DeterministicImplicit,
        ..UpdateParameters::default()
    };
    for (device, lr, pulses) in [
        (quiet_pow(1.0), 0.002, 2.0), // k = 2 (dw_min: 1)
        (quiet_pow(2.0), 0.002, 4.0), // k = 4 (dw_min: 1)
        (DeviceConfig::ExpStep(reram_es(false)), 0.0027, 1.0), // k = 1.36 (dw_min: 2)
        (
            DeviceConfig::ExpStep(reram_es(false)),
            (3.0 * reram_g) as f32,
            3.0,
        ),
    ] {
        let config = TileConfig {
            device,
            update: deterministic.clone(),
            ..TileConfig::default()
        };
        let mut t = Tile::new(8, 8, config, 3).unwrap();
        assert_eq!(pulses_of_one_update(&mut t, lr), pulses, "lr {lr}");
    }
    // Stochastic pulse trains at lr = dw_min on the ReRAM fit: BL = 1, p_x = p_d =
    // sqrt(dw_min / granularity), so a device gets dw_min / granularity = 0.678 pulses per
    // update on average (1 when planned with dw_min).
    let mut t = tile(DeviceConfig::ExpStep(reram_es(true)), 8);
    let per_update: Vec<f32> = (0..100)
        .map(|_| pulses_of_one_update(&mut t, 0.00135) as f32)
        .collect();
    let (mean, std) = mean_std(&per_update);
    let expected = 0.00135 / reram_g;
    let se = std / (per_update.len() as f64).sqrt();
    assert!(
        (mean - expected).abs() < 5.0 * se,
        "{mean} pulses per device and update, expected {expected} (se {se})"
    );
}

/// A cell of three constant-step devices with bounds +-0.6 (no spread, so that every device
/// takes the small weights programmed below).
fn unit_cell(policy: UpdatePolicy, first: u32, gamma: Vec<f64>) -> DeviceConfig {
    let device = |dw_min| {
        DeviceConfig::ConstantStep(PulsedParameters {
            dw_min,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            ..PulsedParameters::default()
        })
    };
    DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
        devices: vec![device(0.001), device(0.002), device(0.003)],
        gamma,
        update_policy: policy,
        first_update_idx: first,
    })
}

fn cell(t: &Tile) -> &rpusim::device::VectorCell {
    match &t.devices().cell {
        UnitCell::Vector(v) => v,
        _ => panic!("a unit cell"),
    }
}

/// Which devices of the cell changed between two snapshots of their weights.
fn changed(before: &[Vec<f32>], t: &Tile) -> Vec<usize> {
    (0..before.len())
        .filter(|&k| before[k] != cell(t).weights[k])
        .collect()
}

#[test]
fn a_unit_cell_reads_the_weighted_sum_of_its_devices() {
    let mut t = tile(unit_cell(UpdatePolicy::All, 0, vec![0.5, -1.0, 2.0]), 11);
    t.set_weights(
        Matrix::new(
            &uniform(ROWS * COLS, -0.3, 0.3, 1),
            t.out_size(),
            t.in_size(),
        )
        .unwrap(),
    )
    .unwrap();
    for call in 0..3 {
        let x = uniform(4 * COLS, -1.0, 1.0, call);
        let d = uniform(4 * ROWS, -1.0, 1.0, call + 9);
        t.update(
            Matrix::new(&x, 4, t.in_size()).unwrap(),
            Matrix::new(&d, 4, t.out_size()).unwrap(),
            0.1,
        )
        .unwrap();
        let v = cell(&t);
        for k in 0..ROWS * COLS {
            // Summed in device order, from 0.
            let mut expected = 0.0f32;
            for (g, w) in [0.5f32, -1.0, 2.0].iter().zip(&v.weights) {
                expected += g * w[k];
            }
            assert_eq!(t.weights()[k], expected);
        }
    }
    // The default weights are 1/n each, and the weights read back are the ones programmed.
    let mut t = tile(unit_cell(UpdatePolicy::All, 0, Vec::new()), 11);
    assert_eq!(cell(&t).gamma, vec![1.0f32 / 3.0; 3]);
    let w = uniform(ROWS * COLS, -0.01, 0.01, 2);
    t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
        .unwrap();
    for (a, b) in t.weights().iter().zip(&w) {
        assert!((a - b).abs() < 1e-8);
    }
}

#[test]
fn update_policies_pick_the_devices_they_promise() {
    // all: every device moves.
    let mut t = tile(unit_cell(UpdatePolicy::All, 1, Vec::new()), 12);
    let before = cell(&t).weights.clone();
    t.pulse(true).unwrap();
    assert_eq!(changed(&before, &t), vec![0, 1, 2]);

    // single_fixed: only first_update_idx, call after call; programming writes only it.
    let mut t = tile(unit_cell(UpdatePolicy::SingleFixed, 2, Vec::new()), 12);
    t.set_weights(Matrix::new(&vec![0.05; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert!(cell(&t).weights[0].iter().all(|&w| w == 0.0));
    assert!(cell(&t).weights[2].iter().all(|&w| w == 0.05));
    for _ in 0..3 {
        let before = cell(&t).weights.clone();
        t.pulse(false).unwrap();
        assert_eq!(changed(&before, &t), vec![2]);
    }

    // single_sequential: the next device each call, starting after first_update_idx (as aihwkit
    // advances before it updates); programming starts over.
    let mut t = tile(unit_cell(UpdatePolicy::SingleSequential, 1, Vec::new()), 12);
    let mut order = Vec::new();
    for call in 0..5 {
        if call == 3 {
            t.set_weights(Matrix::new(&vec![0.0; ROWS * COLS], t.out_size(), t.in_size()).unwrap())
                .unwrap();
        }
        let before = cell(&t).weights.clone();
        t.pulse(true).unwrap();
        order.extend(changed(&before, &t));
    }
    assert_eq!(order, vec![2, 0, 1, 2, 0]);

    // single_random: one device per call, each about equally often.
    let mut t = tile(unit_cell(UpdatePolicy::SingleRandom, 0, Vec::new()), 12);
    let mut counts = [0usize; 3];
    let calls = 300;
    for _ in 0..calls {
        let before = cell(&t).weights.clone();
        t.pulse(true).unwrap();
        let moved = changed(&before, &t);
        assert_eq!(moved.len(), 1);
        counts[moved[0]] += 1;
    }
    // Binomial(300, 1/3): mean 100, sd 8.2.
    assert!(
        counts.iter().all(|&c| (60..=140).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn unit_cell_devices_draw_their_own_parameters() {
    let t = tile(unit_cell(UpdatePolicy::All, 0, Vec::new()), 13);
    let v = cell(&t);
    let a = &v.layers[0].arrays().dw_up;
    let b = &v.layers[1].arrays().dw_up;
    let (ma, sa) = mean_std(a);
    let (mb, sb) = mean_std(b);
    let n = a.len() as f64;
    let cov = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - ma) * (f64::from(y) - mb))
        .sum::<f64>()
        / n;
    let correlation = cov / (sa * sb);
    assert!(
        correlation.abs() < 5.0 / n.sqrt(),
        "correlation {correlation}"
    );
    // Device 0 of a cell is drawn as a single device of the same seed would be.
    let DeviceConfig::VectorUnitCell(p) = unit_cell(UpdatePolicy::All, 0, Vec::new()) else {
        unreachable!()
    };
    let single = tile(p.devices[0].clone(), 13);
    assert_eq!(single.devices().arrays().unwrap(), v.layers[0].arrays());
}

#[test]
fn every_model_saves_and_continues_bit_identically() {
    let mut devices: Vec<DeviceConfig> = DEVICE_TYPES
        .iter()
        .map(|name| DeviceConfig::default_of(name).unwrap())
        .collect();
    devices.push(DeviceConfig::SoftBounds(SoftBoundsParameters {
        write_noise: WriteNoiseParameters {
            write_noise_std: 2.0,
            apply_write_noise_on_set: true,
        },
        ..SoftBoundsParameters::default()
    }));
    for policy in [UpdatePolicy::SingleSequential, UpdatePolicy::SingleRandom] {
        devices.push(unit_cell(policy, 1, vec![0.2, 0.3, 0.5]));
    }
    for device in devices {
        let name = format!("{device:?}");
        let config = TileConfig {
            device,
            update: UpdateParameters {
                pulse_type: PulseType::StochasticCompressed,
                ..UpdateParameters::default()
            },
            ..TileConfig::default()
        };
        let round = |t: &mut Tile, call: u64| {
            let x = uniform(5 * 7, -1.0, 1.0, call);
            let d = uniform(5 * 6, -1.0, 1.0, call + 50);
            t.update(
                Matrix::new(&x, 5, t.in_size()).unwrap(),
                Matrix::new(&d, 5, t.out_size()).unwrap(),
                0.2,
            )
            .unwrap();
            if t.devices().layers().is_empty() {
                return;
            }
            t.pulse(call.is_multiple_of(2)).unwrap();
        };
        let mut a = Tile::new(6, 7, config, 3).unwrap();
        a.set_weights(Matrix::new(&uniform(42, -0.3, 0.3, 5), a.out_size(), a.in_size()).unwrap())
            .unwrap();
        a.set_weights(Matrix::new(&uniform(42, -0.3, 0.3, 6), a.out_size(), a.in_size()).unwrap())
            .unwrap();
        for call in 0..3 {
            round(&mut a, call);
        }
        let mut b = Tile::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(a, b, "{name}");
        for call in 3..6 {
            round(&mut a, call);
            round(&mut b, call);
            assert_eq!(a.weights(), b.weights(), "{name}");
        }
        let w = uniform(42, -0.3, 0.3, 7);
        a.set_weights(Matrix::new(&w, a.out_size(), a.in_size()).unwrap())
            .unwrap();
        b.set_weights(Matrix::new(&w, b.out_size(), b.in_size()).unwrap())
            .unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes(), "{name}");
    }
}

#[test]
fn bad_device_configurations_name_the_parameter() {
    let cases: Vec<(DeviceConfig, &str)> = vec![
        (
            DeviceConfig::LinearStep(LinearStepParameters {
                gamma_up_dtod: -0.1,
                ..LinearStepParameters::default()
            }),
            "device.gamma_up_dtod",
        ),
        (
            DeviceConfig::LinearStep(LinearStepParameters {
                reverse_up: true,
                mult_noise: false,
                ..LinearStepParameters::default()
            }),
            "device.mult_noise",
        ),
        (
            DeviceConfig::SoftBounds(SoftBoundsParameters {
                write_noise: WriteNoiseParameters {
                    write_noise_std: -1.0,
                    apply_write_noise_on_set: true,
                },
                ..SoftBoundsParameters::default()
            }),
            "device.write_noise_std",
        ),
        (
            DeviceConfig::ExpStep(ExpStepParameters {
                gamma_up: f64::INFINITY,
                ..ExpStepParameters::default()
            }),
            "device.gamma_up",
        ),
        (
            DeviceConfig::PowStep(PowStepParameters {
                pow_gamma_dtod: -1.0,
                ..PowStepParameters::default()
            }),
            "device.pow_gamma_dtod",
        ),
        (
            DeviceConfig::PiecewiseStep(PiecewiseStepParameters {
                piecewise_down: vec![1.0, 2.0],
                ..PiecewiseStepParameters::default()
            }),
            "device.piecewise_down",
        ),
        (
            DeviceConfig::PiecewiseStep(PiecewiseStepParameters {
                piecewise_up: Vec::new(),
                piecewise_down: Vec::new(),
                ..PiecewiseStepParameters::default()
            }),
            "device.piecewise_up",
        ),
        (
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                devices: vec![
                    DeviceConfig::default(),
                    DeviceConfig::default_of("IdealDevice").unwrap(),
                ],
                ..VectorUnitCellParameters::default()
            }),
            "device.devices[1]",
        ),
        (
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                devices: vec![
                    DeviceConfig::default(),
                    DeviceConfig::ConstantStep(PulsedParameters {
                        dw_min: 0.0,
                        ..PulsedParameters::default()
                    }),
                ],
                ..VectorUnitCellParameters::default()
            }),
            "device.devices[1].dw_min",
        ),
        (
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                gamma: vec![1.0],
                ..VectorUnitCellParameters::default()
            }),
            "device.gamma",
        ),
        (
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                first_update_idx: 2,
                ..VectorUnitCellParameters::default()
            }),
            "device.first_update_idx",
        ),
        (
            DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
                devices: Vec::new(),
                ..VectorUnitCellParameters::default()
            }),
            "device.devices",
        ),
    ];
    for (device, name) in cases {
        let config = TileConfig {
            device,
            ..TileConfig::default()
        };
        let err = Tile::new(2, 2, config.clone(), 0).unwrap_err().to_string();
        assert!(err.starts_with(name), "{err} should name {name}");
        // Non-finite numbers have no JSON form (serde writes null).
        let json = config.to_json();
        if !json.contains("null") {
            let err = TileConfig::from_json(&json).unwrap_err().to_string();
            assert!(
                err.starts_with(name),
                "{err} should name {name} (from JSON)"
            );
        }
    }
    // The ideal device takes no pulses; a unit cell may not outgrow the largest tile.
    let mut ideal = tile(DeviceConfig::default_of("IdealDevice").unwrap(), 0);
    assert!(ideal
        .pulse(true)
        .unwrap_err()
        .to_string()
        .starts_with("device"));
    let big = TileConfig {
        device: unit_cell(UpdatePolicy::All, 0, Vec::new()),
        ..TileConfig::default()
    };
    let err = Tile::new(1 << 15, 1 << 14, big, 0).unwrap_err().to_string();
    assert!(err.starts_with("out_size * in_size"), "{err}");
}

/// Every entry of the table of device models (`DEVICE_TYPES` and all dispatch are generated
/// from it): its default configuration carries its tag, round-trips through JSON and
/// validates; a tile of it draws the devices of that tag (a single pulsed model), takes a
/// pulse, and comes back equal from its saved state.
#[test]
fn every_table_entry_round_trips() {
    // The tags are part of the JSON format: saved configurations and states name them.
    assert_eq!(
        DEVICE_TYPES,
        [
            "ConstantStep",
            "LinearStep",
            "SoftBounds",
            "ExpStep",
            "PowStep",
            "PiecewiseStep",
            "IdealDevice",
            "VectorUnitCell",
            "ReferenceUnitCell",
            "TransferCompound",
            "BufferedTransferCompound",
            "OneSidedUnitCell",
            "MixedPrecisionCompound",
        ]
    );
    for &name in DEVICE_TYPES {
        let device = DeviceConfig::default_of(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(device.type_name(), name);
        let back: DeviceConfig = serde_json::from_str(&device.to_json()).unwrap();
        assert_eq!(back, device, "{name}");
        let config = TileConfig {
            device: device.clone(),
            ..TileConfig::default()
        };
        config.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut t = Tile::new(6, 5, config, 3).unwrap();
        let pulsed = device.pulsed().is_some();
        match &t.devices().cell {
            UnitCell::Single(layer) => {
                assert!(pulsed, "{name}");
                assert_eq!(layer.model.type_name(), name);
                assert_eq!(device.devices_per_cross_point(), 1);
                assert!(device.granularity().unwrap() > 0.0, "{name}");
            }
            UnitCell::Vector(cell) => {
                assert!(!pulsed, "{name}");
                assert_eq!(cell.layers.len(), device.devices_per_cross_point());
            }
            UnitCell::Transfer(cell) => {
                assert!(!pulsed, "{name}");
                assert_eq!(cell.arrays.len(), device.devices_per_cross_point());
            }
            UnitCell::OneSided(cell) => {
                assert!(!pulsed, "{name}");
                assert_eq!(cell.arrays.len(), device.devices_per_cross_point());
                assert!(device.granularity().unwrap() > 0.0, "{name}");
            }
            UnitCell::MixedPrecision(cell) => {
                assert!(!pulsed, "{name}");
                assert!(cell.layer().is_some(), "{name}");
                assert_eq!(device.devices_per_cross_point(), 1);
                assert!(device.granularity().unwrap() > 0.0, "{name}");
            }
            UnitCell::Ideal => {
                assert!(!pulsed, "{name}");
                assert_eq!(device.devices_per_cross_point(), 0);
                assert_eq!(device.granularity(), None);
            }
        }
        if device.devices_per_cross_point() > 0 {
            // A compound pulses its fast array, which the default weights do not read.
            let pulsed_weights = |t: &Tile| match &t.devices().cell {
                UnitCell::Transfer(cell) => cell.weights[0].clone(),
                _ => t.weights().to_vec(),
            };
            let before = pulsed_weights(&t);
            t.pulse(true).unwrap();
            assert_ne!(
                pulsed_weights(&t),
                before,
                "{name}: a pulse moves the weights"
            );
        }
        let loaded = Tile::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(loaded.devices(), t.devices(), "{name}");
        assert_eq!(loaded.weights(), t.weights(), "{name}");
        assert_eq!(loaded.config(), t.config(), "{name}");
    }
    assert_eq!(DeviceConfig::default_of("Memristor"), None);
}

#[test]
fn configurations_round_trip_through_json_with_aihwkit_names() {
    for name in DEVICE_TYPES {
        let device = DeviceConfig::default_of(name).unwrap();
        let json = device.to_json();
        assert!(
            json.starts_with(&format!("{{\"type\":\"{name}\"")),
            "{json}"
        );
        let config = TileConfig {
            device,
            ..TileConfig::default()
        };
        assert_eq!(TileConfig::from_json(&config.to_json()).unwrap(), config);
    }
    let exp = DeviceConfig::default_of("ExpStep").unwrap().to_json();
    assert!(
        exp.contains("\"A_up\":0.00081") && exp.contains("\"write_noise_std\":0.0"),
        "{exp}"
    );
    let unknown = exp.replace("\"A_up\"", "\"a_up\"");
    let err = TileConfig::from_json(&format!(
        "{{\"device\":{unknown},\"forward\":{f},\"backward\":{f},\"update\":{u}}}",
        f = serde_json::to_string(&rpusim::IoParameters::default()).unwrap(),
        u = serde_json::to_string(&UpdateParameters::default()).unwrap(),
    ))
    .unwrap_err()
    .to_string();
    // The engine's name is aihwkit's: the misspelt field is refused (a missing one would take
    // its default).
    assert!(err.contains("unknown field `a_up`"), "{err}");
}

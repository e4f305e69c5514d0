//! The pulsed update against MODEL.md §3.3 and §4, and the device model against §5.

mod common;

use common::{mean_std, uniform};
use rpusim::{
    device::PulsedParameters, DeviceConfig, Matrix, PulseType, Tile, TileConfig, UpdateParameters,
};

/// Devices without variation: every pulse is exactly `dw_min` (up to `std` per pulse).
fn exact_devices(dw_min: f64, std: f64, bound: f64) -> DeviceConfig {
    DeviceConfig::ConstantStep(PulsedParameters {
        dw_min,
        dw_min_dtod: 0.0,
        dw_min_std: std,
        up_down_dtod: 0.0,
        w_max: bound,
        w_min: -bound,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    })
}

fn config(device: DeviceConfig, update: UpdateParameters) -> TileConfig {
    TileConfig {
        device,
        update,
        ..TileConfig::default()
    }
}

#[test]
fn mean_pulsed_update_is_the_gradient_step() {
    let (out, inp) = (4, 5);
    let x = uniform(inp, -1.0, 1.0, 1);
    let d = uniform(out, -0.1, 0.1, 2);
    let (lr, dw) = (0.01f32, 0.001f64);
    for update in [
        UpdateParameters::default(),
        UpdateParameters {
            update_management: false,
            update_bl_management: false,
            ..UpdateParameters::default()
        },
    ] {
        // Bounds far away: 4000 calls move a weight by up to 4.
        let mut t = Tile::new(out, inp, config(exact_devices(dw, 0.0, 10.0), update), 5).unwrap();
        let calls = 4000;
        for _ in 0..calls {
            t.update(
                Matrix::new(&x, 1, t.in_size()).unwrap(),
                Matrix::new(&d, 1, t.out_size()).unwrap(),
                lr,
            )
            .unwrap();
        }
        for i in 0..out {
            for j in 0..inp {
                let expected = -f64::from(lr) * f64::from(d[i]) * f64::from(x[j]);
                let mean = f64::from(t.weights()[i * inp + j]) / calls as f64;
                // Pulses per call are Bernoulli-like with mean |expected| / dw.
                let p = (expected.abs() / dw).min(1.0);
                let se = dw * (p * (1.0 - p) / calls as f64).sqrt();
                assert!(
                    (mean - expected).abs() < 5.0 * se + 1e-9,
                    "({i},{j}): mean {mean:e}, expected {expected:e}, se {se:e}"
                );
            }
        }
    }
}

#[test]
fn weights_never_leave_their_device_bounds() {
    let (out, inp, n) = (30, 40, 16);
    let mut t = Tile::new(out, inp, TileConfig::default(), 8).unwrap();
    let mut hit_bound = false;
    for call in 0..60 {
        let x = uniform(n * inp, -1.0, 1.0, call);
        let d = uniform(n * out, -1.0, 1.0, call + 1000);
        t.update(
            Matrix::new(&x, n, t.in_size()).unwrap(),
            Matrix::new(&d, n, t.out_size()).unwrap(),
            1.0,
        )
        .unwrap();
        let a = t.devices().arrays().unwrap();
        for (k, &w) in t.weights().iter().enumerate() {
            assert!(a.b_min[k] <= w && w <= a.b_max[k], "device {k}: {w}");
            hit_bound |= w == a.b_min[k] || w == a.b_max[k];
        }
    }
    assert!(
        hit_bound,
        "the test should drive some weights into their bounds"
    );
}

#[test]
fn float_update_is_exact() {
    let (out, inp, n) = (3, 4, 5);
    let update = UpdateParameters {
        pulse_type: PulseType::None,
        ..UpdateParameters::default()
    };
    let mut t = Tile::new(out, inp, config(exact_devices(0.001, 0.3, 0.6), update), 1).unwrap();
    let mut w = uniform(out * inp, -0.5, 0.5, 3);
    t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
        .unwrap();
    let x = uniform(n * inp, -1.0, 1.0, 4);
    let d = uniform(n * out, -1.0, 1.0, 5);
    let lr = 0.3f32;
    t.update(
        Matrix::new(&x, n, t.in_size()).unwrap(),
        Matrix::new(&d, n, t.out_size()).unwrap(),
        lr,
    )
    .unwrap();
    for b in 0..n {
        for i in 0..out {
            for j in 0..inp {
                let k = i * inp + j;
                w[k] = (w[k] - lr * d[b * out + i] * x[b * inp + j]).clamp(-0.6, 0.6);
            }
        }
    }
    assert_eq!(t.weights(), &w[..]);
}

#[test]
fn bl_management_caps_the_pulses_at_ceil_k() {
    // k = lr x_max d_max / dw_min = 0.25 * 1 * 0.01 / 0.001 = 2.5, so BL = 3.
    let (out, inp) = (20, 20);
    let x = vec![1.0f32; inp];
    let d = vec![0.01f32; out];
    let max_pulses = |ublm: bool| {
        let update = UpdateParameters {
            update_bl_management: ublm,
            ..UpdateParameters::default()
        };
        let mut t = Tile::new(out, inp, config(exact_devices(0.001, 0.0, 1.0), update), 2).unwrap();
        let mut most = 0u32;
        let mut total = 0.0f64;
        for _ in 0..200 {
            let before = t.weights().to_vec();
            t.update(
                Matrix::new(&x, 1, t.in_size()).unwrap(),
                Matrix::new(&d, 1, t.out_size()).unwrap(),
                0.25,
            )
            .unwrap();
            for (a, b) in before.iter().zip(t.weights()) {
                let pulses = ((a - b) / 0.001).round() as u32;
                most = most.max(pulses);
                total += f64::from(pulses);
            }
        }
        (most, total / (200.0 * (out * inp) as f64))
    };
    let (with, mean_with) = max_pulses(true);
    let (without, mean_without) = max_pulses(false);
    assert!(with <= 3, "UBLM allowed {with} pulses");
    assert!(
        without > 3,
        "without UBLM up to 31 pulses can fire, saw at most {without}"
    );
    // Both give on average k = 2.5 pulses.
    assert!((mean_with - 2.5).abs() < 0.05 && (mean_without - 2.5).abs() < 0.05);
}

#[test]
fn deterministic_implicit_fires_round_bl_pd_px() {
    // x = 1, d = 0.1, lr = 0.01, dw = 0.001: k = 1, BL = 1, p_x = p_d = 1: one pulse each,
    // so the spread of the change is the cycle-to-cycle spread of a single pulse.
    let (out, inp) = (100, 200);
    let update = UpdateParameters {
        pulse_type: PulseType::DeterministicImplicit,
        ..UpdateParameters::default()
    };
    let mut t = Tile::new(out, inp, config(exact_devices(0.001, 0.3, 1.0), update), 3).unwrap();
    t.update(
        Matrix::new(&vec![1.0; inp], 1, t.in_size()).unwrap(),
        Matrix::new(&vec![0.1; out], 1, t.out_size()).unwrap(),
        0.01,
    )
    .unwrap();
    let steps: Vec<f32> = t.weights().iter().map(|w| -w / 0.001).collect();
    let (mean, std) = mean_std(&steps);
    let n = steps.len() as f64;
    assert!(
        (mean - 1.0).abs() < 4.0 * 0.3 / n.sqrt(),
        "mean step {mean}"
    );
    assert!(
        (std - 0.3).abs() < 4.0 * 0.3 / (2.0 * n).sqrt(),
        "step spread {std}"
    );
    // Halving d halves p_d: round(1 * 0.5 * 1) = 0 (ties to even) — no pulse at all.
    let mut t = Tile::new(out, inp, t.config().clone(), 3).unwrap();
    let d: Vec<f32> = (0..out).map(|i| if i == 0 { 0.1 } else { 0.05 }).collect();
    t.update(
        Matrix::new(&vec![1.0; inp], 1, t.in_size()).unwrap(),
        Matrix::new(&d, 1, t.out_size()).unwrap(),
        0.01,
    )
    .unwrap();
    assert!(t.weights()[inp..].iter().all(|&w| w == 0.0));
    assert!(t.weights()[..inp].iter().all(|&w| w < 0.0));
}

#[test]
fn device_to_device_spreads_follow_the_configuration() {
    let p = PulsedParameters {
        dw_min: 0.002,
        dw_min_dtod: 0.3,
        up_down: 0.2,
        up_down_dtod: 0.05,
        w_max: 1.0,
        w_min: -0.8,
        w_max_dtod: 0.1,
        w_min_dtod: 0.2,
        ..PulsedParameters::default()
    };
    let t = Tile::new(
        200,
        250,
        config(DeviceConfig::ConstantStep(p), UpdateParameters::default()),
        4,
    )
    .unwrap();
    let a = t.devices().arrays().unwrap();
    let n = a.b_max.len() as f64;
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
    check("b_max", &a.b_max, 1.0, 0.1);
    check("b_min", &a.b_min, -0.8, 0.16);
    // up_down > 0 lowers the down step: dw_up = (gain + r) dw, dw_down = (gain - 0.2 - r) dw,
    // with gain ~ N(1, 0.3) and r ~ N(0, 0.05) independent.
    let spread = (0.3f64.powi(2) + 0.05f64.powi(2)).sqrt() * 0.002;
    check("dw_up", &a.dw_up, 0.002, spread);
    check("dw_down", &a.dw_down, 0.8 * 0.002, spread);
    assert!(a.b_min.iter().all(|&v| v <= 0.0) && a.b_max.iter().all(|&v| v >= 0.0));
}

#[test]
fn a_device_has_w_range_over_dw_min_states() {
    // Gokmen & Vlasov's device: dw_min 0.001 over [-0.6, 0.6] is 1200 states. Without any
    // variation, one pulse per call walks the device from bound to bound in 1200 calls.
    let update = UpdateParameters {
        pulse_type: PulseType::DeterministicImplicit,
        ..UpdateParameters::default()
    };
    let mut t = Tile::new(1, 1, config(exact_devices(0.001, 0.0, 0.6), update), 0).unwrap();
    t.set_weights(Matrix::new(&[-1.0], t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert_eq!(t.weights()[0], -0.6);
    let mut calls = 0;
    while t.weights()[0] < 0.6 && calls < 2000 {
        // d < 0, x > 0: the weight grows by one pulse.
        t.update(
            Matrix::new(&[1.0], 1, t.in_size()).unwrap(),
            Matrix::new(&[-0.1], 1, t.out_size()).unwrap(),
            0.01,
        )
        .unwrap();
        calls += 1;
    }
    assert!(
        (1199..=1201).contains(&calls),
        "{calls} pulses from bound to bound"
    );
}

#[test]
fn the_ideal_device_takes_the_exact_unbounded_step() {
    let (out, inp, n) = (3, 4, 5);
    let ideal = DeviceConfig::Ideal(rpusim::device::IdealParameters::default());
    let mut t = Tile::new(out, inp, config(ideal, UpdateParameters::default()), 1).unwrap();
    // No bounds: programming keeps large weights.
    let mut w = uniform(out * inp, -50.0, 50.0, 3);
    t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert_eq!(t.weights(), &w[..]);
    assert!(t.devices().arrays().is_none());
    let x = uniform(n * inp, -1.0, 1.0, 4);
    let d = uniform(n * out, -1.0, 1.0, 5);
    t.update(
        Matrix::new(&x, n, t.in_size()).unwrap(),
        Matrix::new(&d, n, t.out_size()).unwrap(),
        0.5,
    )
    .unwrap();
    for b in 0..n {
        for i in 0..out {
            for j in 0..inp {
                w[i * inp + j] -= 0.5 * d[b * out + i] * x[b * inp + j];
            }
        }
    }
    assert_eq!(t.weights(), &w[..]);
    let restored = Tile::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(restored, t);
}

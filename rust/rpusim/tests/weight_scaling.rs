//! Weight scaling (MODEL.md §3.4): mapping onto the device range, the digital scales in every
//! operation, re-mapping, and the learning-rate factors.

mod common;

use common::uniform;
use rpusim::device::PulsedParameters;
use rpusim::{DeviceConfig, IoParameters, MappingParameters, Matrix, PulseType, Tile, TileConfig};

/// Exact passes and the exact float update on devices with fixed bounds +-1.
fn config(omega: f64, columnwise: bool) -> TileConfig {
    let mut c = TileConfig {
        device: DeviceConfig::ConstantStep(PulsedParameters {
            w_max: 1.0,
            w_min: -1.0,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            ..PulsedParameters::default()
        }),
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        mapping: MappingParameters {
            weight_scaling_omega: omega,
            weight_scaling_columnwise: columnwise,
            ..MappingParameters::default()
        },
        ..TileConfig::default()
    };
    c.update.pulse_type = PulseType::None;
    c
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{k}] {x} vs {y}");
    }
}

#[test]
fn mapping_uses_the_configured_range_and_keeps_the_effective_weights() {
    let (out, inp) = (6, 9);
    // Small weights, rows of different size: 0.05 .. 0.3.
    let w: Vec<f32> = uniform(out * inp, -1.0, 1.0, 1)
        .iter()
        .enumerate()
        .map(|(k, v)| v * 0.05 * (1 + k / inp) as f32)
        .collect();
    for columnwise in [false, true] {
        let mut t = Tile::new(out, inp, config(0.8, columnwise), 3).unwrap();
        t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
            .unwrap();
        assert_close(&t.effective_weights(), &w, 1e-6);
        if columnwise {
            for row in t.weights().chunks(inp) {
                assert!((max_abs(row) - 0.8).abs() < 1e-6);
            }
        } else {
            assert!((max_abs(t.weights()) - 0.8).abs() < 1e-6);
            assert!(t.out_scales().iter().all(|&s| s == t.out_scales()[0]));
        }
    }
    // Without scaling the weights are programmed as they are.
    let mut t = Tile::new(out, inp, config(0.0, false), 3).unwrap();
    t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
        .unwrap();
    assert_eq!(t.weights(), &w[..]);
    assert!(t.out_scales().iter().all(|&s| s == 1.0));
}

#[test]
fn the_scales_act_in_every_operation() {
    let (out, inp, n) = (5, 7, 4);
    let w = uniform(out * inp, -0.1, 0.1, 2);
    let x = uniform(n * inp, -1.0, 1.0, 3);
    let d = uniform(n * out, -1.0, 1.0, 4);
    let mut scaled = Tile::new(out, inp, config(0.9, true), 5).unwrap();
    let mut plain = Tile::new(out, inp, config(0.0, false), 5).unwrap();
    scaled
        .set_weights(Matrix::new(&w, scaled.out_size(), scaled.in_size()).unwrap())
        .unwrap();
    plain
        .set_weights(Matrix::new(&w, plain.out_size(), plain.in_size()).unwrap())
        .unwrap();
    assert_close(
        &scaled
            .forward(Matrix::new(&x, n, scaled.in_size()).unwrap(), false)
            .unwrap(),
        &plain
            .forward(Matrix::new(&x, n, plain.in_size()).unwrap(), false)
            .unwrap(),
        1e-5,
    );
    assert_close(
        &scaled
            .backward(Matrix::new(&d, n, scaled.out_size()).unwrap())
            .unwrap(),
        &plain
            .backward(Matrix::new(&d, n, plain.out_size()).unwrap())
            .unwrap(),
        1e-5,
    );
    // The update divides the errors by the scales: SGD on the effective weights (a small
    // rate: the mapped weights sit at 0.9, near the bounds at 1).
    scaled
        .update(
            Matrix::new(&x, n, scaled.in_size()).unwrap(),
            Matrix::new(&d, n, scaled.out_size()).unwrap(),
            0.001,
        )
        .unwrap();
    plain
        .update(
            Matrix::new(&x, n, plain.in_size()).unwrap(),
            Matrix::new(&d, n, plain.out_size()).unwrap(),
            0.001,
        )
        .unwrap();
    assert_close(&scaled.effective_weights(), plain.weights(), 1e-5);
}

#[test]
fn lr_compensation_moves_the_mean_scale_into_the_learning_rate() {
    let (out, inp, n) = (5, 7, 4);
    let w = uniform(out * inp, -0.1, 0.1, 2);
    let x = uniform(n * inp, -1.0, 1.0, 3);
    let d = uniform(n * out, -0.1, 0.1, 4);
    for columnwise in [false, true] {
        let mut plain = Tile::new(out, inp, config(0.0, false), 5).unwrap();
        plain
            .set_weights(Matrix::new(&w, plain.out_size(), plain.in_size()).unwrap())
            .unwrap();
        plain
            .update(
                Matrix::new(&x, n, plain.in_size()).unwrap(),
                Matrix::new(&d, n, plain.out_size()).unwrap(),
                0.01,
            )
            .unwrap();
        for compensation in [false, true] {
            let mut c = config(0.9, columnwise);
            c.mapping.weight_scaling_lr_compensation = compensation;
            let mut t = Tile::new(out, inp, c, 5).unwrap();
            t.set_weights(Matrix::new(&w, t.out_size(), t.in_size()).unwrap())
                .unwrap();
            let before = t.weights().to_vec();
            t.update(
                Matrix::new(&x, n, t.in_size()).unwrap(),
                Matrix::new(&d, n, t.out_size()).unwrap(),
                0.01,
            )
            .unwrap();
            // Either way the expected update is SGD on the effective weights.
            assert_close(&t.effective_weights(), plain.weights(), 1e-5);
            // The analog step of row i is lr d x^T / alpha_i (with compensation the rate is
            // lr / mean(alpha) and the errors d mean(alpha) / alpha_i: mapping.rs tests those).
            let scales = t.out_scales().to_vec();
            for i in 0..out {
                for j in 0..inp {
                    let mut step = 0.0f64;
                    for b in 0..n {
                        step += f64::from(d[b * out + i]) * f64::from(x[b * inp + j]);
                    }
                    let expected =
                        f64::from(before[i * inp + j]) - 0.01 * step / f64::from(scales[i]);
                    let got = f64::from(t.weights()[i * inp + j]);
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "{columnwise} {compensation} {i} {j}"
                    );
                }
            }
        }
    }
}

#[test]
fn lr_scale_multiplies_the_learning_rate() {
    let (out, inp, n) = (3, 4, 2);
    let x = uniform(n * inp, -1.0, 1.0, 7);
    let d = uniform(n * out, -1.0, 1.0, 8);
    let mut c = config(0.0, false);
    c.mapping.lr_scale = 0.25;
    let mut scaled = Tile::new(out, inp, c, 1).unwrap();
    let mut plain = Tile::new(out, inp, config(0.0, false), 1).unwrap();
    scaled
        .update(
            Matrix::new(&x, n, scaled.in_size()).unwrap(),
            Matrix::new(&d, n, scaled.out_size()).unwrap(),
            0.4,
        )
        .unwrap();
    plain
        .update(
            Matrix::new(&x, n, plain.in_size()).unwrap(),
            Matrix::new(&d, n, plain.out_size()).unwrap(),
            0.1,
        )
        .unwrap();
    assert_eq!(scaled.weights(), plain.weights());
}

#[test]
fn remapping_restores_the_range_and_keeps_the_weights() {
    let (out, inp, n) = (4, 6, 8);
    let mut t = Tile::new(out, inp, config(0.5, false), 9).unwrap();
    t.set_weights(
        Matrix::new(
            &uniform(out * inp, -0.02, 0.02, 10),
            t.out_size(),
            t.in_size(),
        )
        .unwrap(),
    )
    .unwrap();
    // Training moves the analog weights away from the mapped range.
    for call in 0..5 {
        let x = uniform(n * inp, -1.0, 1.0, 20 + call);
        let d = uniform(n * out, -1.0, 1.0, 40 + call);
        t.update(
            Matrix::new(&x, n, t.in_size()).unwrap(),
            Matrix::new(&d, n, t.out_size()).unwrap(),
            0.001,
        )
        .unwrap();
    }
    let effective = t.effective_weights();
    assert!((max_abs(t.weights()) - 0.5).abs() > 0.01);
    t.remap().unwrap();
    assert!((max_abs(t.weights()) - 0.5).abs() < 1e-6);
    assert_close(&t.effective_weights(), &effective, 1e-6);
    // A restored tile keeps its scales.
    assert_eq!(Tile::from_bytes(&t.to_bytes()).unwrap(), t);
}

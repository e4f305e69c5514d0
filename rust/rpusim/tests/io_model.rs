//! The forward and backward periphery against the formulas of MODEL.md §2 and §3.1–3.2.

mod common;

use common::{mean_std, noiseless, tile_with_weights, uniform};
use rpusim::{
    device::PulsedParameters, BoundManagement, DeviceConfig, IoParameters, Matrix, NoiseManagement,
    Tile, TileConfig,
};

/// Devices with fixed, wide bounds, so that test weights are programmed exactly.
fn wide_devices() -> DeviceConfig {
    DeviceConfig::ConstantStep(PulsedParameters {
        w_max: 10.0,
        w_min: -10.0,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    })
}

fn tile(out: usize, inp: usize, forward: IoParameters, weights: &[f32]) -> Tile {
    let config = TileConfig {
        device: wide_devices(),
        forward: forward.clone(),
        backward: IoParameters {
            bound_management: BoundManagement::None,
            ..forward
        },
        ..TileConfig::default()
    };
    let mut t = Tile::new(out, inp, config, 11).unwrap();
    t.set_weights(Matrix::new(weights, out, inp).unwrap())
        .unwrap();
    t
}

fn identity(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|k| if k % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect()
}

#[test]
fn perfect_io_is_the_float_product() {
    let (out, inp, n) = (37, 53, 11);
    let mut t = tile_with_weights(
        out,
        inp,
        TileConfig {
            forward: IoParameters::perfect(),
            backward: IoParameters::perfect(),
            ..TileConfig::default()
        },
        4,
        0.5,
    );
    let w = t.weights().to_vec();
    let x = uniform(n * inp, -2.0, 2.0, 1);
    let d = uniform(n * out, -2.0, 2.0, 2);
    let y = t
        .forward(Matrix::new(&x, n, t.in_size()).unwrap(), false)
        .unwrap();
    let z = t
        .backward(Matrix::new(&d, n, t.out_size()).unwrap())
        .unwrap();
    for b in 0..n {
        for i in 0..out {
            let exact: f64 = (0..inp)
                .map(|j| f64::from(w[i * inp + j]) * f64::from(x[b * inp + j]))
                .sum();
            assert!(
                (f64::from(y[b * out + i]) - exact).abs() < 1e-5,
                "forward {b} {i}"
            );
        }
        for j in 0..inp {
            let exact: f64 = (0..out)
                .map(|i| f64::from(w[i * inp + j]) * f64::from(d[b * out + i]))
                .sum();
            assert!(
                (f64::from(z[b * inp + j]) - exact).abs() < 1e-5,
                "backward {b} {j}"
            );
        }
    }
}

#[test]
fn dac_and_adc_quantise_and_clip() {
    let io = IoParameters {
        noise_management: NoiseManagement::None,
        bound_management: BoundManagement::None,
        ..noiseless()
    };
    let (inp_step, out_step) = (io.inp_step(), io.out_step());
    let n = 64;
    let mut t = tile(n, n, io, &identity(n));
    let x = uniform(n, -1.5, 1.5, 3);
    let y = t
        .forward(Matrix::new(&x, 1, t.in_size()).unwrap(), false)
        .unwrap();
    for (xi, yi) in x.iter().zip(&y) {
        // Identity weights: the output is the DAC value, then the ADC value.
        let dac = ((f64::from(*xi) / inp_step).round() * inp_step).clamp(-1.0, 1.0);
        let adc = (dac / out_step).round() * out_step;
        assert!(
            (f64::from(*yi) - adc).abs() < 1e-5,
            "x {xi}: y {yi}, expected {adc}"
        );
        let grid = f64::from(*yi) / out_step;
        assert!(
            (grid - grid.round()).abs() < 1e-3,
            "{yi} is off the ADC grid"
        );
    }
    // A row of 16 ones and inputs at the bound: v = 16 saturates the ADC at 12.
    let mut sat = tile(1, 16, t.config().forward.clone(), &[1.0; 16]);
    assert_eq!(
        sat.forward(Matrix::new(&[1.0; 16], 1, sat.in_size()).unwrap(), false)
            .unwrap(),
        vec![12.0]
    );
}

#[test]
fn output_noise_has_the_configured_spread() {
    for sigma in [0.06f32, 0.2] {
        let io = IoParameters {
            out_noise: f64::from(sigma),
            out_res: 0.0,
            noise_management: NoiseManagement::None,
            ..IoParameters::default()
        };
        let (out, n) = (200, 500);
        let mut t = tile(out, 3, io, &vec![0.0; out * 3]);
        let y = t
            .forward(
                Matrix::new(&uniform(n * 3, -1.0, 1.0, 5), n, t.in_size()).unwrap(),
                false,
            )
            .unwrap();
        let (mean, std) = mean_std(&y);
        let count = y.len() as f64;
        let se_std = f64::from(sigma) / (2.0 * count).sqrt();
        assert!(
            mean.abs() < 4.0 * f64::from(sigma) / count.sqrt(),
            "mean {mean}"
        );
        assert!(
            (std - f64::from(sigma)).abs() < 4.0 * se_std,
            "std {std} vs {sigma}"
        );
        // Fresh noise for every output and sample: neighbours are uncorrelated.
        let r: f64 = y
            .windows(2)
            .map(|p| f64::from(p[0]) * f64::from(p[1]))
            .sum::<f64>()
            / (count - 1.0)
            / (std * std);
        assert!(r.abs() < 4.0 / count.sqrt(), "lag-1 correlation {r}");
    }
}

#[test]
fn input_and_weight_noise_have_their_spreads() {
    let k = 50;
    // Input noise through a row of ones: y = sum_j inp_noise N_j, std inp_noise sqrt(k).
    let io = IoParameters {
        inp_noise: 0.02,
        inp_res: 0.0,
        out_res: 0.0,
        out_noise: 0.0,
        noise_management: NoiseManagement::None,
        ..IoParameters::default()
    };
    let mut t = tile(1, k, io.clone(), &vec![1.0; k]);
    let n = 20_000;
    let y = t
        .forward(
            Matrix::new(&vec![0.0; n * k], n, t.in_size()).unwrap(),
            false,
        )
        .unwrap();
    let (_, std) = mean_std(&y);
    let expected = 0.02 * (k as f64).sqrt();
    assert!(
        (std - expected).abs() < 4.0 * expected / (2.0 * n as f64).sqrt(),
        "{std}"
    );
    // Weight noise on zero weights: y = w_noise ||x|| N.
    let io = IoParameters {
        inp_noise: 0.0,
        w_noise: 0.05,
        ..io
    };
    let mut t = tile(100, k, io, &vec![0.0; 100 * k]);
    let x: Vec<f32> = (0..k)
        .map(|j| if j % 2 == 0 { 0.5 } else { -0.3 })
        .collect();
    let norm = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt();
    let reps = 200;
    let y = t
        .forward(
            Matrix::new(&x.repeat(reps), reps, t.in_size()).unwrap(),
            false,
        )
        .unwrap();
    let (_, std) = mean_std(&y);
    let expected = 0.05 * norm;
    assert!(
        (std - expected).abs() < 4.0 * expected / (2.0 * y.len() as f64).sqrt(),
        "{std}"
    );
}

#[test]
fn noise_management_makes_the_output_scale_with_the_input() {
    let (out, inp) = (20, 30);
    let w = uniform(out * inp, -0.3, 0.3, 8);
    let x = uniform(inp, -0.05, 0.05, 9);
    let mut nm = tile(out, inp, noiseless(), &w);
    let y1 = nm
        .forward(Matrix::new(&x, 1, nm.in_size()).unwrap(), false)
        .unwrap();
    for c in [0.37f32, 2.0, 5.0] {
        let xc: Vec<f32> = x.iter().map(|v| v * c).collect();
        let yc = nm
            .forward(Matrix::new(&xc, 1, nm.in_size()).unwrap(), false)
            .unwrap();
        for (a, b) in y1.iter().zip(&yc) {
            assert!(
                (a * c - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "c {c}: {a} {b}"
            );
        }
    }
    // Without NM a small input drowns in the DAC steps and a large one is clipped.
    let mut plain = tile(
        out,
        inp,
        IoParameters {
            noise_management: NoiseManagement::None,
            ..noiseless()
        },
        &w,
    );
    let big: Vec<f32> = x.iter().map(|v| v * 60.0).collect();
    let y_big = plain
        .forward(Matrix::new(&big, 1, plain.in_size()).unwrap(), false)
        .unwrap();
    let exact: Vec<f32> = (0..out)
        .map(|i| (0..inp).map(|j| w[i * inp + j] * big[j]).sum())
        .collect();
    let err: f32 = y_big.iter().zip(&exact).map(|(a, b)| (a - b).abs()).sum();
    let with_nm: f32 = nm
        .forward(Matrix::new(&big, 1, inp).unwrap(), false)
        .unwrap()
        .iter()
        .zip(&exact)
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(
        err > 10.0 * with_nm,
        "clipped error {err}, NM error {with_nm}"
    );
}

#[test]
fn noise_management_variants() {
    let n = 4;
    let base = IoParameters {
        inp_res: 0.0,
        out_res: 0.0,
        ..noiseless()
    };
    // max: a non-positive maximum gives an exactly zero output.
    let mut t = tile(
        n,
        n,
        IoParameters {
            noise_management: NoiseManagement::Max,
            ..base.clone()
        },
        &identity(n),
    );
    assert_eq!(
        t.forward(
            Matrix::new(&[-1.0, -2.0, -0.5, -3.0], 1, t.in_size()).unwrap(),
            false
        )
        .unwrap(),
        vec![0.0; 4]
    );
    // abs_max of a zero input: exactly zero, no noise even with noise on.
    let mut t = tile(n, n, IoParameters::default(), &identity(n));
    assert_eq!(
        t.forward(Matrix::new(&[0.0; 4], 1, t.in_size()).unwrap(), false)
            .unwrap(),
        vec![0.0; 4]
    );
    // constant: inputs above nm_thres * inp_bound are clipped there.
    let constant = IoParameters {
        noise_management: NoiseManagement::Constant,
        nm_thres: 2.0,
        ..base.clone()
    };
    let mut t = tile(n, n, constant, &identity(n));
    assert_eq!(
        t.forward(
            Matrix::new(&[1.0, -3.0, 2.5, 0.5], 1, t.in_size()).unwrap(),
            false
        )
        .unwrap(),
        vec![1.0, -2.0, 2.0, 0.5]
    );
    // abs_max clipped at nm_thres.
    let thres = IoParameters {
        nm_thres: 1.5,
        ..base.clone()
    };
    let mut t = tile(n, n, thres, &identity(n));
    assert_eq!(
        t.forward(
            Matrix::new(&[1.0, -3.0, 0.5, 0.0], 1, t.in_size()).unwrap(),
            false
        )
        .unwrap(),
        vec![1.0, -1.5, 0.5, 0.0]
    );
    // average_abs_max: the running average (decay 0.5) sets the clip level.
    let avg = IoParameters {
        noise_management: NoiseManagement::AverageAbsMax,
        nm_decay: 0.5,
        ..base
    };
    let mut t = tile(n, n, avg, &identity(n));
    // First batch: abs-max 1 and 3, average 2, the running value starts there.
    let y = t
        .forward(
            Matrix::new(&[1.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0], 2, n).unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(y, vec![1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
    // Second batch: abs-max 4 -> 0.5 * 2 + 0.5 * 4 = 3.
    assert_eq!(
        t.forward(
            Matrix::new(&[4.0, 0.0, 0.0, 0.0], 1, t.in_size()).unwrap(),
            false
        )
        .unwrap()[0],
        3.0
    );
    // In test mode the average is used but not advanced.
    assert_eq!(
        t.forward(
            Matrix::new(&[10.0, 0.0, 0.0, 0.0], 1, t.in_size()).unwrap(),
            true
        )
        .unwrap()[0],
        3.0
    );
    assert_eq!(
        t.forward(
            Matrix::new(&[10.0, 0.0, 0.0, 0.0], 1, t.in_size()).unwrap(),
            true
        )
        .unwrap()[0],
        3.0
    );
}

#[test]
fn bound_management_rescues_saturated_outputs() {
    // v = 16 for inputs at the DAC bound: saturated at r = 1, fine at r = 2.
    let bm = IoParameters {
        out_noise: 0.0,
        ..IoParameters::default()
    };
    let mut t = tile(1, 16, bm.clone(), &[1.0; 16]);
    let y = t
        .forward(Matrix::new(&[1.0; 16], 1, t.in_size()).unwrap(), false)
        .unwrap()[0];
    // Within the quantisation error (the halved input 0.5 sits between two DAC steps).
    assert!((y - 16.0).abs() < 0.5, "{y}");
    // A product of 200 needs r = 32, beyond the limit r <= max_bm_res / inp_step = 15.75:
    // the last pass (r = 16) stays clipped, y = 12 * 16.
    let mut t = tile(1, 200, bm.clone(), &[1.0; 200]);
    assert_eq!(
        t.forward(Matrix::new(&[1.0; 200], 1, t.in_size()).unwrap(), false)
            .unwrap()[0],
        192.0
    );
    // With a looser resolution limit the same product is rescued.
    let loose = IoParameters {
        max_bm_res: 1.0,
        ..bm.clone()
    };
    let mut t = tile(1, 200, loose, &[1.0; 200]);
    let y = t
        .forward(Matrix::new(&[1.0; 200], 1, t.in_size()).unwrap(), false)
        .unwrap()[0];
    assert!((y - 200.0).abs() < 0.05 * 200.0, "{y}");
    // The backward pass never repeats, whatever its configuration says.
    let mut t = tile(16, 1, bm.clone(), &[1.0; 16]);
    let mut c = t.config().clone();
    c.backward.bound_management = BoundManagement::Iterative;
    t.set_config(c).unwrap();
    assert_eq!(
        t.backward(Matrix::new(&[1.0; 16], 1, t.out_size()).unwrap())
            .unwrap(),
        vec![12.0]
    );
    // Without bound management the forward pass clips.
    let none = IoParameters {
        bound_management: BoundManagement::None,
        ..bm
    };
    let mut t = tile(1, 16, none, &[1.0; 16]);
    assert_eq!(
        t.forward(Matrix::new(&[1.0; 16], 1, t.in_size()).unwrap(), false)
            .unwrap(),
        vec![12.0]
    );
}

/// Shard `s` of a batch split in `parts` equal parts draws the noise of those samples of the
/// whole batch: the parts' outputs, put together, are the whole batch's bits (forward and
/// backward, every noise source on, bound management repeating saturated samples), on the fast
/// kernels and on the reference.
#[test]
fn batch_shards_draw_the_noise_of_their_samples_in_the_whole_batch() {
    let (out, inp, n, parts) = (7, 9, 12, 3);
    let io = IoParameters {
        inp_noise: 0.05,
        w_noise: 0.02,
        out_bound: 2.0,
        ..IoParameters::default()
    };
    let weights = uniform(out * inp, -0.5, 0.5, 3);
    let whole = tile(out, inp, io, &weights);
    let x = uniform(n * inp, -1.0, 1.0, 4);
    let d = uniform(n * out, -1.0, 1.0, 5);
    let rows = n / parts;
    for fast in [true, false] {
        let pass = |t: &mut Tile, x: &[f32], d: &[f32], m: usize| {
            let x = Matrix::new(x, m, inp).unwrap();
            let d = Matrix::new(d, m, out).unwrap();
            if fast {
                (t.forward(x, false).unwrap(), t.backward(d).unwrap())
            } else {
                (
                    rpusim::reference::forward(t, x, false).unwrap(),
                    rpusim::reference::backward(t, d).unwrap(),
                )
            }
        };
        let (y, z) = pass(&mut whole.clone(), &x, &d, n);
        let (mut y_parts, mut z_parts) = (Vec::new(), Vec::new());
        for s in 0..parts {
            let mut part = whole.clone();
            part.set_batch_shard(s as u64);
            let (yp, zp) = pass(
                &mut part,
                &x[s * rows * inp..(s + 1) * rows * inp],
                &d[s * rows * out..(s + 1) * rows * out],
                rows,
            );
            y_parts.extend(yp);
            z_parts.extend(zp);
        }
        assert_eq!(y_parts, y, "forward (fast: {fast})");
        assert_eq!(z_parts, z, "backward (fast: {fast})");
        // Without the shard, a part draws the noise of the batch's first samples instead.
        let (y1, _) = pass(
            &mut whole.clone(),
            &x[rows * inp..2 * rows * inp],
            &d[..rows * out],
            rows,
        );
        assert_ne!(y1, y[rows * out..2 * rows * out]);
    }
}

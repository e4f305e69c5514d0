//! The per-device effects of every pulsed model (`device/effects.rs`): decay, diffusion and
//! reset against their formulas, the pulse counters against the pulses applied, and the
//! state of all of them through save and load.

mod common;

use common::{mean_std, tile_with_weights, uniform};
use rpusim::device::{IdealParameters, PulsedParameters, UpdatePolicy, VectorUnitCellParameters};
use rpusim::{reference, DeviceConfig, Matrix, Tile, TileArray, TileConfig};

/// A constant-step device without device-to-device spread of its bounds (`[-bound, bound]`)
/// and with the effects of `p`.
fn config(p: PulsedParameters, bound: f64) -> TileConfig {
    TileConfig {
        device: DeviceConfig::ConstantStep(PulsedParameters {
            w_max: bound,
            w_min: -bound,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            ..p
        }),
        ..TileConfig::default()
    }
}

/// An update call without samples: no pulses, only what follows every update call.
fn empty_update(tile: &mut Tile) {
    let none = Matrix::new(&[], 0, tile.in_size()).unwrap();
    let none_d = Matrix::new(&[], 0, tile.out_size()).unwrap();
    tile.update(none, none_d, 0.1).unwrap();
}

fn set_all(tile: &mut Tile, value: f32) {
    let w = vec![value; tile.out_size() * tile.in_size()];
    tile.set_weights(Matrix::new(&w, tile.out_size(), tile.in_size()).unwrap())
        .unwrap();
}

/// Decay after every update call: `w <- (w - b) (1 - 1 / lifetime) + b`, towards the reset
/// point, exactly (in float32, operation by operation); a lifetime below 1 resets at once.
#[test]
fn decay_follows_the_lifetime() {
    let p = PulsedParameters {
        lifetime: 40.0,
        reset: 0.1,
        ..PulsedParameters::default()
    };
    let mut tile = Tile::new(4, 5, config(p, 1.0), 3).unwrap();
    set_all(&mut tile, 0.5);
    let scale = (1.0 - 1.0 / 40.0f64) as f32;
    let mut expected = 0.5f32;
    for _ in 0..30 {
        empty_update(&mut tile);
        expected = (expected - 0.1) * scale + 0.1;
    }
    assert!(tile.weights().iter().all(|&w| w == expected), "{expected}");
    // 30 calls of lifetime 40: the distance to the reset point shrinks by e^(-30/40) or so.
    let ratio = f64::from(expected - 0.1) / 0.4;
    assert!(
        (ratio - (1.0 - 1.0 / 40.0f64).powi(30)).abs() < 1e-5,
        "{ratio}"
    );
    // A lifetime of at most one update call: the weight is at the reset point after one.
    let short = PulsedParameters {
        lifetime: 0.5,
        reset: -0.2,
        ..PulsedParameters::default()
    };
    let mut tile = Tile::new(3, 3, config(short, 1.0), 3).unwrap();
    set_all(&mut tile, 0.4);
    empty_update(&mut tile);
    assert!(tile.weights().iter().all(|&w| w == -0.2));
}

/// The lifetimes are drawn per device as `lifetime (1 + lifetime_dtod xi)`: their mean and
/// spread over 4096 devices, from the decay factors `1 - 1 / t`.
#[test]
fn lifetimes_spread_as_drawn() {
    let p = PulsedParameters {
        lifetime: 100.0,
        lifetime_dtod: 0.1,
        ..PulsedParameters::default()
    };
    let tile = Tile::new(64, 64, config(p, 1.0), 8).unwrap();
    let scales = tile.devices().layers()[0]
        .effects
        .decay_scales
        .clone()
        .unwrap();
    let lifetimes: Vec<f32> = scales.iter().map(|&s| 1.0 / (1.0 - s)).collect();
    let (mean, std) = mean_std(&lifetimes);
    let n = lifetimes.len() as f64;
    assert!((mean - 100.0).abs() < 4.0 * 10.0 / n.sqrt(), "{mean}");
    assert!((std - 10.0).abs() < 4.0 * 10.0 / (2.0 * n).sqrt(), "{std}");
}

/// Diffusion after every update call is a random walk: after `k` calls the weights spread
/// with variance `k diffusion^2` (no bound in reach), mean 0; the rates are drawn as
/// `|diffusion (1 + diffusion_dtod xi)|`.
#[test]
fn diffusion_variance_grows_with_the_calls() {
    let p = PulsedParameters {
        diffusion: 0.01,
        ..PulsedParameters::default()
    };
    let mut tile = Tile::new(64, 64, config(p, 10.0), 5).unwrap();
    let calls = 100;
    for _ in 0..calls {
        empty_update(&mut tile);
    }
    let (mean, std) = mean_std(tile.weights());
    let n = tile.weights().len() as f64;
    let var = std * std;
    let expected = calls as f64 * 0.01f64.powi(2);
    assert!(mean.abs() < 4.0 * expected.sqrt() / n.sqrt(), "{mean}");
    assert!(
        (var - expected).abs() < 4.0 * expected * (2.0 / n).sqrt(),
        "{var} vs {expected}"
    );
    // The rates of a spread diffusion.
    let spread = PulsedParameters {
        diffusion: 0.01,
        diffusion_dtod: 0.2,
        ..PulsedParameters::default()
    };
    let tile = Tile::new(64, 64, config(spread, 1.0), 6).unwrap();
    let rates = tile.devices().layers()[0]
        .effects
        .diffusion_rates
        .clone()
        .unwrap();
    let (mean, std) = mean_std(&rates);
    assert!((mean - 0.01).abs() < 4.0 * 0.002 / n.sqrt(), "{mean}");
    assert!(
        (std - 0.002).abs() < 4.0 * 0.002 / (2.0 * n).sqrt(),
        "{std}"
    );
}

/// A reset writes `reset + reset_dtod xi_device + reset_std xi_call`: over the devices, mean
/// `reset` and variance `reset_dtod^2 + reset_std^2`; two resets differ by the call's part
/// alone (variance `2 reset_std^2`). `reset_prob` resets that share of the devices, and the
/// columns wrap past the last.
#[test]
fn reset_spreads_around_the_reset_point() {
    let (mu, dtod, std) = (0.1, 0.05, 0.02);
    let p = PulsedParameters {
        reset: mu,
        reset_dtod: dtod,
        reset_std: std,
        ..PulsedParameters::default()
    };
    let mut tile = Tile::new(64, 64, config(p, 1.0), 7).unwrap();
    let n = (64 * 64) as f64;
    tile.reset_columns(0, 64, 1.0).unwrap();
    let first = tile.weights().to_vec();
    let (mean, sd) = mean_std(&first);
    let var = dtod * dtod + std * std;
    assert!((mean - mu).abs() < 4.0 * var.sqrt() / n.sqrt(), "{mean}");
    assert!((sd * sd - var).abs() < 4.0 * var * (2.0 / n).sqrt(), "{sd}");
    tile.reset_columns(0, 64, 1.0).unwrap();
    let diff: Vec<f32> = tile
        .weights()
        .iter()
        .zip(&first)
        .map(|(a, b)| a - b)
        .collect();
    let (_, sd) = mean_std(&diff);
    let var = 2.0 * std * std;
    assert!((sd * sd - var).abs() < 4.0 * var * (2.0 / n).sqrt(), "{sd}");
    // A third of the devices, at random.
    set_all(&mut tile, 0.5);
    tile.reset_columns(0, 64, 0.3).unwrap();
    let share = tile.weights().iter().filter(|&&w| w != 0.5).count() as f64 / n;
    assert!(
        (share - 0.3).abs() < 4.0 * (0.3 * 0.7 / n).sqrt(),
        "{share}"
    );
    // Columns 62, 63 and 0 only.
    set_all(&mut tile, 0.5);
    tile.reset_columns(62, 3, 1.0).unwrap();
    for (k, &w) in tile.weights().iter().enumerate() {
        assert_eq!(w != 0.5, [62, 63, 0].contains(&(k % 64)), "device {k}");
    }
    assert!(tile.reset_columns(64, 1, 1.0).is_err());
    let ideal_config = TileConfig {
        device: DeviceConfig::Ideal(IdealParameters::default()),
        ..TileConfig::default()
    };
    let mut ideal = Tile::new(2, 2, ideal_config, 1).unwrap();
    assert!(ideal.reset_columns(0, 1, 1.0).is_err());
}

/// The counters count every pulse applied, by direction, on the fast kernels and the
/// reference alike; a characterisation pulse up is one up pulse on every device.
#[test]
fn pulse_counts_add_up_to_the_pulses() {
    let p = PulsedParameters {
        count_pulses: true,
        ..PulsedParameters::default()
    };
    let (out, inp, n) = (24, 40, 16);
    let mut fast = tile_with_weights(out, inp, config(p, 1.0), 4, 0.3);
    let mut slow = fast.clone();
    assert_eq!(fast.pulse_counts(), Some(vec![0; 2 * out * inp]));
    let x = uniform(n * inp, -1.0, 1.0, 1);
    let d = uniform(n * out, -0.2, 0.2, 2);
    let (x, d) = (
        Matrix::new(&x, n, inp).unwrap(),
        Matrix::new(&d, n, out).unwrap(),
    );
    fast.update(x, d, 0.1).unwrap();
    reference::update(&mut slow, x, d, 0.1).unwrap();
    let counts = fast.pulse_counts().unwrap();
    assert_eq!(counts, slow.pulse_counts().unwrap());
    assert!(fast.pulses() > 0);
    assert_eq!(counts.iter().sum::<u64>(), fast.pulses());
    let (down, up) = counts.split_at(out * inp);
    assert!(down.iter().sum::<u64>() > 0 && up.iter().sum::<u64>() > 0);
    fast.pulse(true).unwrap();
    let after = fast.pulse_counts().unwrap();
    assert_eq!(&after[..out * inp], down);
    assert!(after[out * inp..].iter().zip(up).all(|(a, b)| *a == b + 1));
    // Without count_pulses there are none.
    let plain = Tile::new(2, 2, TileConfig::default(), 1).unwrap();
    assert_eq!(plain.pulse_counts(), None);
}

/// A unit cell counts per device that counts; a grid puts each array's counts in its block.
#[test]
fn pulse_counts_of_unit_cells_and_grids() {
    let counting = DeviceConfig::ConstantStep(PulsedParameters {
        count_pulses: true,
        ..PulsedParameters::default()
    });
    let cell = TileConfig {
        device: DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
            devices: vec![counting.clone(), DeviceConfig::default(), counting.clone()],
            update_policy: UpdatePolicy::SingleFixed,
            first_update_idx: 2,
            ..VectorUnitCellParameters::default()
        }),
        ..TileConfig::default()
    };
    let mut tile = Tile::new(3, 4, cell, 1).unwrap();
    tile.pulse(false).unwrap();
    let counts = tile.pulse_counts().unwrap();
    // Two counting devices; only device 2 took the pulse (down: the first plane).
    assert_eq!(counts.len(), 4 * 12);
    assert!(counts[..24].iter().all(|&c| c == 0));
    assert!(counts[24..36].iter().all(|&c| c == 1));
    assert!(counts[36..].iter().all(|&c| c == 0));
    let mut grid_config = TileConfig {
        device: counting,
        ..TileConfig::default()
    };
    grid_config.mapping.max_input_size = 4;
    grid_config.mapping.max_output_size = 2;
    let mut grid = TileArray::new(5, 7, grid_config, 3).unwrap();
    assert!(grid.tiles().len() > 1);
    grid.pulse(true).unwrap();
    let counts = grid.pulse_counts().unwrap();
    assert_eq!(counts.len(), 2 * 35);
    assert!(counts[..35].iter().all(|&c| c == 0));
    assert!(counts[35..].iter().all(|&c| c == 1));
    // A reset of the grid's columns 5, 6, 0 reaches the arrays that hold them.
    let w = vec![0.3; 35];
    grid.set_weights(Matrix::new(&w, 5, 7).unwrap()).unwrap();
    let before = grid.weights();
    grid.reset_columns(5, 3, 1.0).unwrap();
    for (k, (&v, &b)) in grid.weights().iter().zip(&before).enumerate() {
        assert_eq!(v != b, [5, 6, 0].contains(&(k % 7)), "weight {k}");
    }
}

/// The drawn effects, the counters and the reset counter are part of the state: a restored
/// tile continues bit for bit.
#[test]
fn effects_survive_save_and_load() {
    let p = PulsedParameters {
        diffusion: 0.002,
        diffusion_dtod: 0.1,
        lifetime: 30.0,
        lifetime_dtod: 0.1,
        reset: 0.05,
        reset_dtod: 0.01,
        count_pulses: true,
        ..PulsedParameters::default()
    };
    let (out, inp, n) = (6, 9, 8);
    let mut tile = tile_with_weights(out, inp, config(p, 1.0), 2, 0.3);
    let x = uniform(n * inp, -1.0, 1.0, 1);
    let d = uniform(n * out, -0.2, 0.2, 2);
    let (x, d) = (
        Matrix::new(&x, n, inp).unwrap(),
        Matrix::new(&d, n, out).unwrap(),
    );
    tile.update(x, d, 0.1).unwrap();
    tile.reset_columns(1, 2, 0.5).unwrap();
    let mut restored = Tile::from_bytes(&tile.to_bytes()).unwrap();
    assert_eq!(restored, tile);
    assert_eq!(restored.devices().resets, 1);
    for t in [&mut tile, &mut restored] {
        t.update(x, d, 0.1).unwrap();
        t.reset_columns(0, 9, 0.5).unwrap();
    }
    assert_eq!(restored, tile);
    assert_eq!(restored.to_bytes(), tile.to_bytes());
}

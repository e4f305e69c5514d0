//! States with a valid checksum but inconsistent content (issue 12, item 8): every field the
//! loader checks, forged one at a time, is refused with an error naming it; counters that
//! cannot advance are an error on the next call, not a wrap; and every state the engine writes
//! loads.

mod common;

use common::forge::{GridState, TileState};
use common::{tile_with_weights, uniform};
use rpusim::device::DEVICE_TYPES;
use rpusim::{DeviceConfig, Error, Matrix, Tile, TileArray, TileConfig};
use serde_json::json;

/// A tile of `config` with weights, after a few updates.
fn trained(config: TileConfig) -> Tile {
    let mut t = tile_with_weights(4, 6, config, 5, 0.3);
    for call in 0..3 {
        update(&mut t, call, 0.1);
    }
    t
}

/// One update of 5 samples.
fn update(t: &mut Tile, call: u64, lr: f32) {
    let (out, inp, n) = (t.out_size(), t.in_size(), 5);
    let x = uniform(n * inp, -1.0, 1.0, 100 + call);
    let d = uniform(n * out, -1.0, 1.0, 200 + call);
    t.update(
        Matrix::new(&x, n, inp).unwrap(),
        Matrix::new(&d, n, out).unwrap(),
        lr,
    )
    .unwrap();
}

/// A configuration whose device is `device` (JSON), the rest default.
fn with_device(device: serde_json::Value) -> TileConfig {
    TileConfig::from_json(&json!({ "device": device }).to_string()).unwrap()
}

/// `state` with `edit` applied, loaded.
fn load_forged(tile: &Tile, edit: impl FnOnce(&mut TileState)) -> rpusim::Result<Tile> {
    let mut state = TileState::parse(&tile.to_bytes());
    edit(&mut state);
    Tile::from_bytes(&state.to_bytes())
}

/// Asserts that `result` is a state error whose message contains `field`.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: rpusim::Result<T>, field: &str) {
    match result {
        Err(Error::State(message)) => {
            assert!(message.contains(field), "{field} not named in: {message}")
        }
        other => panic!("expected a state error naming {field}, got {other:?}"),
    }
}

#[test]
fn a_counter_that_cannot_advance_is_an_error_on_the_next_call_and_changes_nothing() {
    let tile = trained(TileConfig::default());
    let x = uniform(2 * 6, -1.0, 1.0, 1);
    let d = uniform(2 * 4, -1.0, 1.0, 2);
    let (x, d) = (
        Matrix::new(&x, 2, 6).unwrap(),
        Matrix::new(&d, 2, 4).unwrap(),
    );
    let mut t = load_forged(&tile, |s| {
        s.header["counters"] = json!([u64::MAX, u64::MAX, u64::MAX])
    })
    .unwrap();
    let before = t.to_bytes();
    assert_refused(t.forward(x, false), "counters.forward");
    assert_refused(t.forward(x, true), "counters.forward");
    assert_refused(t.backward(d), "counters.backward");
    assert_refused(t.update(x, d, 0.1), "counters.update");
    assert_refused(t.pulse(true), "counters.update");
    assert_eq!(t.to_bytes(), before, "a refused call changed the tile");
    // One below the largest value: one more call, then the error.
    let limit = u64::MAX - 1;
    let mut t = load_forged(&tile, |s| {
        s.header["counters"] = json!([limit, limit, limit])
    })
    .unwrap();
    t.forward(x, false).unwrap();
    t.backward(d).unwrap();
    t.update(x, d, 0.1).unwrap();
    assert_eq!(t.counters().update, u64::MAX);
    assert_refused(t.forward(x, false), "counters.forward");
    assert_refused(t.update(x, d, 0.1), "counters.update");
}

#[test]
fn a_grid_refuses_a_call_that_one_of_its_tiles_cannot_count_and_changes_nothing() {
    let mut config = TileConfig::default();
    config.mapping.max_input_size = 4;
    let mut grid = TileArray::new(4, 7, config, 3).unwrap();
    let w = uniform(4 * 7, -0.3, 0.3, 4);
    grid.set_weights(Matrix::new(&w, 4, 7).unwrap()).unwrap();
    let mut state = GridState::parse(&grid.to_bytes());
    let mut last = TileState::parse(&state.tiles[1]);
    last.header["counters"] = json!([u64::MAX, u64::MAX, u64::MAX]);
    state.tiles[1] = last.to_bytes();
    let mut grid = TileArray::from_bytes(&state.to_bytes()).unwrap();
    let before = grid.to_bytes();
    let x = uniform(3 * 7, -1.0, 1.0, 5);
    let d = uniform(3 * 4, -1.0, 1.0, 6);
    let (x, d) = (
        Matrix::new(&x, 3, 7).unwrap(),
        Matrix::new(&d, 3, 4).unwrap(),
    );
    assert_refused(grid.forward(x, false), "counters.forward");
    assert_refused(grid.backward(d), "counters.backward");
    assert_refused(grid.update(x, d, 0.1), "counters.update");
    assert_refused(grid.pulse(true), "counters.update");
    assert_eq!(
        grid.to_bytes(),
        before,
        "a refused call changed a tile of the grid"
    );
}

#[test]
fn the_pulse_count_never_wraps() {
    let tile = trained(TileConfig::default());
    let x = uniform(2 * 6, -1.0, 1.0, 1);
    let d = uniform(2 * 4, -1.0, 1.0, 2);
    let (x, d) = (
        Matrix::new(&x, 2, 6).unwrap(),
        Matrix::new(&d, 2, 4).unwrap(),
    );
    let mut t = load_forged(&tile, |s| s.header["pulses"] = json!(u64::MAX - 3)).unwrap();
    let before = t.to_bytes();
    assert_refused(t.update(x, d, 0.1), "pulses");
    assert_refused(t.pulse(false), "pulses");
    assert_eq!(t.to_bytes(), before);
    // A grid's count is the sum of its tiles': it must fit too.
    let mut config = TileConfig::default();
    config.mapping.max_input_size = 4;
    let grid = TileArray::new(4, 7, config, 3).unwrap();
    let mut state = GridState::parse(&grid.to_bytes());
    for tile in &mut state.tiles {
        let mut s = TileState::parse(tile);
        s.header["pulses"] = json!(u64::MAX / 2 + 1);
        *tile = s.to_bytes();
    }
    assert_refused(TileArray::from_bytes(&state.to_bytes()), "pulses");
}

#[test]
fn device_pulse_counts_beyond_the_pulses_applied_are_refused() {
    let config = with_device(json!({"type": "ConstantStep", "count_pulses": true}));
    let tile = trained(config);
    assert!(tile.pulses() > 0);
    let pulses = tile.pulses();
    load_forged(&tile, |_| {}).unwrap();
    assert_refused(
        load_forged(&tile, |s| s.counts("pulse_counts")[3] = pulses + 1),
        "pulse_counts",
    );
    assert_refused(
        load_forged(&tile, |s| s.counts("pulse_counts")[0] = u64::MAX),
        "pulse_counts",
    );
}

#[test]
fn device_counters_that_cannot_advance_are_an_error_on_the_next_call() {
    let config = with_device(json!({"type": "LinearStep", "write_noise_std": 1.0}));
    let tile = trained(config);
    let w = uniform(4 * 6, -0.3, 0.3, 9);
    let w = Matrix::new(&w, 4, 6).unwrap();
    let mut t = load_forged(&tile, |s| {
        s.header["device_counters"] = json!({"programs": u64::MAX, "unit_cell_index": 0})
    })
    .unwrap();
    let before = t.to_bytes();
    assert_refused(t.set_weights(w), "device_counters.programs");
    assert_refused(t.program_weights(w), "device_counters.programs");
    assert_eq!(t.to_bytes(), before);
    let mut t = load_forged(&tile, |s| {
        s.header["device_counters"] =
            json!({"programs": 1, "unit_cell_index": 0, "resets": u64::MAX})
    })
    .unwrap();
    let before = t.to_bytes();
    assert_refused(t.reset_columns(0, 2, 1.0), "device_counters.resets");
    assert_eq!(t.to_bytes(), before);
}

#[test]
fn a_running_average_outside_its_domain_is_refused() {
    let mut config = TileConfig::default();
    config.forward.noise_management = rpusim::NoiseManagement::AverageAbsMax;
    config.backward.noise_management = rpusim::NoiseManagement::AverageAbsMax;
    let mut tile = trained(config);
    let x = uniform(2 * 6, -1.0, 1.0, 1);
    tile.forward(Matrix::new(&x, 2, 6).unwrap(), false).unwrap();
    load_forged(&tile, |_| {}).unwrap();
    for bad in [json!(1e39), json!(-0.5)] {
        assert_refused(
            load_forged(&tile, |s| s.header["nm_running"][0] = bad.clone()),
            "nm_running[0]",
        );
        assert_refused(
            load_forged(&tile, |s| s.header["nm_running"][1] = bad.clone()),
            "nm_running[1]",
        );
    }
    // An average of zero is what all-zero inputs give: it loads.
    let zeros = [0.0f32; 12];
    tile.forward(Matrix::new(&zeros, 2, 6).unwrap(), false)
        .unwrap();
    let mut fresh = trained(tile.config().clone());
    fresh
        .forward(Matrix::new(&zeros, 2, 6).unwrap(), false)
        .unwrap();
    assert_eq!(Tile::from_bytes(&fresh.to_bytes()).unwrap(), fresh);
}

#[test]
fn weights_beyond_their_device_bounds_are_refused() {
    let tile = trained(TileConfig::default());
    let b_max = tile.devices().arrays().unwrap().b_max[2];
    assert_refused(
        load_forged(&tile, |s| s.array("weights")[2] = b_max + 1e-3),
        "weights",
    );
    // With write noise the weights read may be anywhere; the persistent ones are bounded.
    let noisy = trained(with_device(
        json!({"type": "LinearStep", "write_noise_std": 5.0}),
    ));
    let b_min = noisy.devices().arrays().unwrap().b_min[1];
    load_forged(&noisy, |s| s.array("weights")[1] = b_min - 1.0).unwrap();
    assert_refused(
        load_forged(&noisy, |s| s.array("persistent")[1] = b_min - 1e-3),
        "persistent",
    );
    // A unit cell: every device's weights within its bounds, and the tile's weights their
    // weighted sum.
    let cell = trained(with_device(json!({"type": "VectorUnitCell", "devices": [
        {"type": "ConstantStep"}, {"type": "LinearStep", "write_noise_std": 2.0}]})));
    assert_refused(
        load_forged(&cell, |s| s.array("0.weights")[0] = 2.0),
        "0.weights",
    );
    assert_refused(
        load_forged(&cell, |s| s.array("1.persistent")[0] = -2.0),
        "1.persistent",
    );
    assert_refused(
        load_forged(&cell, |s| s.array("weights")[3] += 1e-3),
        "weights",
    );
}

#[test]
fn drawn_device_arrays_outside_their_domain_are_refused() {
    let tile = trained(TileConfig::default());
    for (name, value) in [
        ("dw_up", -1e-4),
        ("dw_down", -1e-4),
        ("b_min", 0.1),
        ("b_max", -0.1),
    ] {
        assert_refused(load_forged(&tile, |s| s.array(name)[1] = value), name);
    }
    let pow = trained(with_device(json!({"type": "PowStep"})));
    for name in ["gamma_up", "gamma_down"] {
        assert_refused(load_forged(&pow, |s| s.array(name)[0] = -1.0), name);
    }
    let cell = trained(with_device(json!({"type": "VectorUnitCell"})));
    assert_refused(
        load_forged(&cell, |s| s.array("1.dw_up")[0] = -1.0),
        "1.dw_up",
    );
    let effects = trained(with_device(json!({"type": "ConstantStep",
        "diffusion": 0.01, "lifetime": 100.0})));
    assert_refused(
        load_forged(&effects, |s| s.array("diffusion_rates")[0] = -1.0),
        "diffusion_rates",
    );
    assert_refused(
        load_forged(&effects, |s| s.array("decay_scales")[0] = 1.5),
        "decay_scales",
    );
    assert_refused(
        load_forged(&tile, |s| s.array("out_scales")[0] = 0.0),
        "out_scales",
    );
    assert_refused(
        load_forged(&tile, |s| {
            s.header["device_counters"] = json!({"programs": 0, "unit_cell_index": 1})
        }),
        "unit_cell_index",
    );
}

#[test]
fn oversize_headers_are_refused_before_allocating() {
    let tile = trained(TileConfig::default());
    let state = TileState::parse(&tile.to_bytes());
    let header = serde_json::to_vec(&state.header).unwrap();
    assert_refused(
        Tile::from_bytes(&state.to_bytes_with_header(&header, u32::MAX)),
        "header length",
    );
    for (out, inp) in [(1u64 << 40, 1u64 << 40), (1 << 20, 1 << 20), (4, 1 << 40)] {
        let mut forged = state.clone();
        forged.header["out_size"] = json!(out);
        forged.header["in_size"] = json!(inp);
        assert_refused(Tile::from_bytes(&forged.to_bytes()), "out_size x in_size");
    }
}

/// Every device model (and with write noise, per-device effects, each unit-cell policy), after
/// many updates with large steps (the weights at their bounds), pulses, resets and passes:
/// every state the engine writes loads, equal.
#[test]
fn every_state_the_engine_writes_after_many_updates_loads() {
    let extras = [
        json!({}),
        json!({"write_noise_std": 3.0}),
        json!({"diffusion": 0.05, "lifetime": 20.0, "reset": 0.1, "reset_dtod": 0.05,
               "count_pulses": true}),
    ];
    let mut devices = Vec::new();
    for &name in DEVICE_TYPES {
        for extra in &extras {
            let mut device = serde_json::to_value(DeviceConfig::default_of(name).unwrap()).unwrap();
            if let Some(fields) = device.as_object_mut() {
                for (k, v) in extra.as_object().unwrap() {
                    fields.insert(k.clone(), v.clone());
                }
            }
            // Models without a field refuse it: they are tried without.
            if serde_json::from_value::<DeviceConfig>(device.clone()).is_ok() {
                devices.push(device);
            }
        }
    }
    for policy in ["all", "single_fixed", "single_sequential", "single_random"] {
        devices.push(json!({"type": "VectorUnitCell", "update_policy": policy,
            "first_update_idx": 1, "gamma": [0.7, -0.4, 1e30],
            "devices": [{"type": "LinearStep", "write_noise_std": 2.0},
                        {"type": "ExpStep", "count_pulses": true},
                        {"type": "PowStep", "diffusion": 0.02}]}));
    }
    // A one-sided pair with refreshes after every sample, effects and pulse counters.
    devices.push(json!({"type": "OneSidedUnitCell", "refresh_every": 1,
        "units_in_mbatch": false, "refresh_upper_thres": 0.3, "refresh_lower_thres": 0.05,
        "unit_cell_devices": [{"type": "SoftBounds", "diffusion": 0.02, "lifetime": 20.0,
                               "count_pulses": true}]}));
    assert!(
        devices.len() >= 20,
        "{} device configurations",
        devices.len()
    );
    for device in devices {
        for pulse_type in ["stochastic_compressed", "deterministic_implicit", "none"] {
            let mut config = with_device(device.clone());
            config.update = serde_json::from_value(json!({"pulse_type": pulse_type})).unwrap();
            config.forward.noise_management = rpusim::NoiseManagement::AverageAbsMax;
            let mut t = tile_with_weights(5, 7, config, 11, 2.0);
            let label = format!("{device} {pulse_type}");
            for call in 0..40 {
                update(&mut t, call, if call % 2 == 0 { 10.0 } else { 0.05 });
                if call % 7 == 0 {
                    let x = uniform(3 * 7, -3.0, 3.0, call);
                    t.forward(Matrix::new(&x, 3, 7).unwrap(), false).unwrap();
                    if !matches!(t.config().device, DeviceConfig::Ideal(_)) {
                        t.pulse(call % 2 == 0).unwrap();
                        t.reset_columns(call as usize % 7, 3, 0.5).unwrap();
                    }
                }
                let loaded = Tile::from_bytes(&t.to_bytes())
                    .unwrap_or_else(|e| panic!("{label}, after update {call}: {e}"));
                assert_eq!(loaded, t, "{label}");
            }
        }
    }
}

//! The one-sided unit cell (aihwkit's `OneSidedUnitCell`) against its step-by-step definition
//! (docs/model_notes.md, "One-sided unit cell") on a small tile whose devices and pulses are
//! exact: constant steps of 1/8 without any spread, implicit pulses without update
//! management (`A = B = 1`, so an error or input of magnitude 1 fires `desired_bl` pulses),
//! and perfect reads in the refresh.

mod common;

use common::forge::TileState;
use common::uniform;
use rpusim::device::{
    OneSidedCell, OneSidedCounters, OneSidedUnitCellParameters, PulsedParameters,
    SoftBoundsParameters, UnitCell, WriteNoiseParameters,
};
use rpusim::{
    DeviceConfig, Error, IoParameters, Matrix, PulseType, Tile, TileConfig, UpdateParameters,
};

const OUT: usize = 2;
const IN: usize = 2;
/// One pulse's step.
const DW: f32 = 0.125;
/// Pulses of an error and input of magnitude 1.
const BL: u32 = 4;

/// A constant-step device of step 1/8 in `[-4, 4]`, every spread 0, counting its pulses.
fn exact_device() -> DeviceConfig {
    DeviceConfig::ConstantStep(PulsedParameters {
        dw_min: f64::from(DW),
        dw_min_dtod: 0.0,
        dw_min_std: 0.0,
        up_down_dtod: 0.0,
        w_max: 4.0,
        w_min: -4.0,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        reset_std: 0.0,
        count_pulses: true,
        ..PulsedParameters::default()
    })
}

/// Implicit pulses, `desired_bl` of them for magnitudes 1 (the learning rate `DW * BL` makes
/// `A = B = 1`), no update management.
fn implicit(desired_bl: u32) -> UpdateParameters {
    UpdateParameters {
        pulse_type: PulseType::DeterministicImplicit,
        desired_bl,
        update_management: false,
        update_bl_management: false,
    }
}

fn cell_config(p: OneSidedUnitCellParameters) -> TileConfig {
    TileConfig {
        device: DeviceConfig::OneSidedUnitCell(p),
        update: implicit(BL),
        ..TileConfig::default()
    }
}

fn exact_cell(refresh_every: i64, units_in_mbatch: bool, write: UpdateParameters) -> TileConfig {
    cell_config(OneSidedUnitCellParameters {
        unit_cell_devices: vec![exact_device()],
        refresh_every,
        units_in_mbatch,
        refresh_forward: IoParameters::perfect(),
        refresh_update: write,
        ..OneSidedUnitCellParameters::default()
    })
}

fn cell(t: &Tile) -> &OneSidedCell {
    match &t.devices().cell {
        UnitCell::OneSided(c) => c,
        _ => panic!("a one-sided unit cell"),
    }
}

/// The weights `[[3.5, 0], [-1, 0.5]]`, then one update of four samples: three that lower
/// weight (0, 0) (`d x = 1`: device 0 of the pair takes 4 pulses each, 0.5), one that raises
/// weight (0, 1) (`d x = -1`: device 1 takes 4 pulses). Row 1 has no error.
fn program_and_update(config: TileConfig) -> Tile {
    let mut t = Tile::new(OUT, IN, config, 3).unwrap();
    t.set_weights(Matrix::new(&[3.5, 0.0, -1.0, 0.5], OUT, IN).unwrap())
        .unwrap();
    let x = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let d = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, -1.0, 0.0];
    t.update(
        Matrix::new(&x, 4, IN).unwrap(),
        Matrix::new(&d, 4, OUT).unwrap(),
        DW * BL as f32,
    )
    .unwrap();
    t
}

/// Programming splits a weight into its positive part (device 1) and negative part (device
/// 0); the weight read is `w_1 - w_0`.
#[test]
fn programming_splits_the_weight_into_two_positive_parts() {
    let t = program_and_update(exact_cell(0, true, UpdateParameters::default()));
    let mut fresh = Tile::new(OUT, IN, t.config().clone(), 3).unwrap();
    fresh
        .set_weights(Matrix::new(&[3.5, 0.0, -1.0, 0.5], OUT, IN).unwrap())
        .unwrap();
    let c = cell(&fresh);
    assert_eq!(c.weights[1], [3.5, 0.0, 0.0, 0.5]);
    assert_eq!(c.weights[0], [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(fresh.weights(), [3.5, 0.0, -1.0, 0.5]);
    // Each device is clipped to its bounds: 5 is programmed as 4.
    fresh
        .set_weights(Matrix::new(&[5.0, -5.0, 0.0, 0.0], OUT, IN).unwrap())
        .unwrap();
    assert_eq!(fresh.weights(), [4.0, -4.0, 0.0, 0.0]);
}

/// Without refresh: each pulse goes to the device of its direction, as a pulse that raises
/// that device's weight; the other device does not move.
#[test]
fn each_device_takes_the_pulses_of_one_direction_and_only_grows() {
    let t = program_and_update(exact_cell(0, true, UpdateParameters::default()));
    let c = cell(&t);
    assert_eq!(c.weights[1], [3.5, 0.5, 0.0, 0.5]);
    assert_eq!(c.weights[0], [1.5, 0.0, 1.0, 0.0]);
    assert_eq!(t.weights(), [2.0, 0.5, -1.0, 0.5]);
    assert_eq!(
        c.counters,
        OneSidedCounters {
            samples: 4,
            refreshed: 0,
            updates: 1,
            refreshes: 0,
        }
    );
    // Pulse counters, device 0 then device 1, each [lowered, raised]: only raising pulses.
    let n = OUT * IN;
    let counts = t.pulse_counts().unwrap();
    assert_eq!(&counts[..n], [0; 4]);
    assert_eq!(&counts[n..2 * n], [12, 0, 0, 0]);
    assert_eq!(&counts[2 * n..3 * n], [0; 4]);
    assert_eq!(&counts[3 * n..], [0, 4, 0, 0]);
    assert_eq!(t.pulses(), 16);
}

/// A refresh after every sample: after the third sample weight (0, 0) holds 3.5 and 1.5, the
/// larger above 0.75 w_max (3) and the smaller above 0.25 w_max (1): both devices are reset
/// (to 0) and the difference 2 is written onto device 1 by the refresh update (exactly, with
/// pulse type `none`). No other pair qualifies.
#[test]
fn a_refresh_resets_a_saturated_pair_and_writes_its_difference() {
    let none = UpdateParameters {
        pulse_type: PulseType::None,
        ..UpdateParameters::default()
    };
    for (every, units_in_mbatch, refreshes) in [(1, false, 4), (1, true, 1), (4, false, 1)] {
        let t = program_and_update(exact_cell(every, units_in_mbatch, none.clone()));
        let c = cell(&t);
        let case = format!("refresh_every {every}, units_in_mbatch {units_in_mbatch}");
        assert_eq!(c.weights[1], [2.0, 0.5, 0.0, 0.5], "{case}");
        assert_eq!(c.weights[0], [0.0, 0.0, 1.0, 0.0], "{case}");
        assert_eq!(t.weights(), [2.0, 0.5, -1.0, 0.5], "{case}");
        assert_eq!(
            c.counters,
            OneSidedCounters {
                samples: 4,
                refreshed: 1,
                updates: refreshes,
                refreshes,
            },
            "{case}"
        );
    }
    // A refresh that is not due by the end of the batch does not happen: every 5 samples.
    let t = program_and_update(exact_cell(5, false, none));
    assert_eq!(cell(&t).weights[0], [1.5, 0.0, 1.0, 0.0]);
    assert_eq!(cell(&t).counters.refreshes, 0);
}

/// The rewrite is open loop: a pulsed refresh update writes at most `desired_bl` pulses, here
/// 8 of 1/8 (`A = B = 1` with learning rate 1) for a difference of 2, so the weight read drops
/// from 2 to 1. The reset goes to each device's reset point with its spread.
#[test]
fn a_pulsed_rewrite_falls_short_of_a_large_difference() {
    let t = program_and_update(exact_cell(1, true, implicit(8)));
    let c = cell(&t);
    assert_eq!(c.weights[1], [1.0, 0.5, 0.0, 0.5]);
    assert_eq!(c.weights[0], [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(t.weights(), [1.0, 0.5, -1.0, 0.5]);
    let n = OUT * IN;
    assert_eq!(&t.pulse_counts().unwrap()[3 * n..], [8, 4, 0, 0]);
    // A reset point of 0.25 with a spread: both devices reset there (+- noise), then the
    // difference is written on top.
    let mut p = match exact_cell(1, true, implicit(8)).device {
        DeviceConfig::OneSidedUnitCell(p) => p,
        _ => unreachable!(),
    };
    if let DeviceConfig::ConstantStep(d) = &mut p.unit_cell_devices[0] {
        d.reset = 0.25;
        d.reset_std = 0.01;
    }
    let t = program_and_update(cell_config(p));
    let c = cell(&t);
    let (w0, w1) = (c.weights[0][0], c.weights[1][0]);
    assert!(
        (w0 - 0.25).abs() < 0.06 && w0 != 0.25,
        "device 0 reset to {w0}"
    );
    assert!(
        (w1 - 1.25).abs() < 0.06,
        "device 1 reset and rewritten to {w1}"
    );
}

/// A characterisation pulse up raises device 1 by one step, down raises device 0.
#[test]
fn a_pulse_goes_to_the_device_of_its_direction() {
    let mut t = Tile::new(OUT, IN, exact_cell(0, true, implicit(4)), 1).unwrap();
    t.pulse(true).unwrap();
    assert_eq!(cell(&t).weights[1], [DW; 4]);
    assert_eq!(t.weights(), [DW; 4]);
    t.pulse(false).unwrap();
    t.pulse(false).unwrap();
    assert_eq!(cell(&t).weights[0], [2.0 * DW; 4]);
    assert_eq!(t.weights(), [-DW; 4]);
    assert_eq!(cell(&t).counters.updates, 3);
}

/// aihwkit's names and defaults; the JSON is flat; the devices are drawn from the first
/// model, each on its own (two d2d addresses).
#[test]
fn defaults_and_json_are_aihwkits() {
    let p = OneSidedUnitCellParameters::default();
    assert_eq!(p.refresh_every, 0);
    assert!(p.units_in_mbatch);
    assert_eq!(p.refresh_upper_thres, 0.75);
    assert_eq!(p.refresh_lower_thres, 0.25);
    assert_eq!(p.refresh_forward, IoParameters::default());
    assert_eq!(p.refresh_update, UpdateParameters::default());
    assert!(!p.copy_inverted);
    assert_eq!(p.unit_cell_devices, vec![DeviceConfig::default()]);
    let json = r#"{"type": "OneSidedUnitCell", "refresh_every": 2,
        "unit_cell_devices": [{"type": "SoftBounds"}], "refresh_forward": {"out_noise": 0.0}}"#;
    let config: DeviceConfig = serde_json::from_str(json).unwrap();
    let DeviceConfig::OneSidedUnitCell(parsed) = &config else {
        panic!("{config:?}")
    };
    assert_eq!(parsed.refresh_every, 2);
    assert_eq!(parsed.refresh_forward.out_noise, 0.0);
    assert_eq!(config.devices_per_cross_point(), 2);
    let back: DeviceConfig = serde_json::from_str(&config.to_json()).unwrap();
    assert_eq!(back, config);
    let t = Tile::new(
        3,
        4,
        TileConfig {
            device: config,
            ..TileConfig::default()
        },
        7,
    )
    .unwrap();
    let layers = t.devices().layers();
    assert_eq!(layers.len(), 2);
    assert_ne!(layers[0].arrays().b_max, layers[1].arrays().b_max);
}

#[test]
fn bad_cells_are_errors_naming_the_field() {
    let bad = |p: OneSidedUnitCellParameters| cell_config(p).validate().unwrap_err().to_string();
    let base = OneSidedUnitCellParameters::default;
    let cases = [
        (
            OneSidedUnitCellParameters {
                unit_cell_devices: Vec::new(),
                ..base()
            },
            "device.unit_cell_devices: must hold 1 or 2",
        ),
        (
            OneSidedUnitCellParameters {
                unit_cell_devices: vec![DeviceConfig::default(); 3],
                ..base()
            },
            "device.unit_cell_devices: must hold 1 or 2",
        ),
        (
            OneSidedUnitCellParameters {
                unit_cell_devices: vec![
                    DeviceConfig::default(),
                    DeviceConfig::SoftBounds(SoftBoundsParameters::default()),
                ],
                ..base()
            },
            "device.unit_cell_devices[1]: must equal unit_cell_devices[0]",
        ),
        (
            OneSidedUnitCellParameters {
                unit_cell_devices: vec![DeviceConfig::Ideal(Default::default())],
                ..base()
            },
            "device.unit_cell_devices[0]",
        ),
        (
            OneSidedUnitCellParameters {
                refresh_every: -1,
                ..base()
            },
            "device.refresh_every: must be >= 0",
        ),
        (
            OneSidedUnitCellParameters {
                refresh_upper_thres: f64::NAN,
                ..base()
            },
            "device.refresh_upper_thres",
        ),
        (
            OneSidedUnitCellParameters {
                refresh_forward: IoParameters {
                    out_noise: -1.0,
                    ..IoParameters::default()
                },
                ..base()
            },
            "device.refresh_forward.out_noise",
        ),
        (
            OneSidedUnitCellParameters {
                refresh_update: UpdateParameters {
                    desired_bl: 0,
                    ..UpdateParameters::default()
                },
                ..base()
            },
            "device.refresh_update.desired_bl",
        ),
        (
            OneSidedUnitCellParameters {
                copy_inverted: true,
                ..base()
            },
            "device.copy_inverted: must be false",
        ),
        (
            OneSidedUnitCellParameters {
                unit_cell_devices: vec![DeviceConfig::SoftBounds(SoftBoundsParameters {
                    write_noise: WriteNoiseParameters {
                        write_noise_std: 1.0,
                        apply_write_noise_on_set: true,
                    },
                    ..SoftBoundsParameters::default()
                })],
                refresh_every: 1,
                ..base()
            },
            "device.unit_cell_devices[0].write_noise_std: must be 0 with refresh_every > 0",
        ),
    ];
    for (p, message) in cases {
        let err = bad(p);
        assert!(err.starts_with(message), "{message}: {err}");
    }
    let json = r#"{"type": "OneSidedUnitCell", "refresh_everyy": 1}"#;
    assert!(serde_json::from_str::<DeviceConfig>(json).is_err());
}

/// A tile of soft-bounds pairs with refreshes, diffusion and decay, trained a little.
fn trained() -> Tile {
    let device = DeviceConfig::SoftBounds(SoftBoundsParameters {
        pulsed: PulsedParameters {
            diffusion: 0.001,
            lifetime: 100.0,
            count_pulses: true,
            ..PulsedParameters::default()
        },
        ..SoftBoundsParameters::default()
    });
    let config = TileConfig {
        device: DeviceConfig::OneSidedUnitCell(OneSidedUnitCellParameters {
            unit_cell_devices: vec![device],
            refresh_every: 1,
            refresh_upper_thres: 0.3,
            refresh_lower_thres: 0.05,
            ..OneSidedUnitCellParameters::default()
        }),
        ..TileConfig::default()
    };
    let (out, inp, n) = (4, 5, 8);
    let mut t = Tile::new(out, inp, config, 11).unwrap();
    t.set_weights(Matrix::new(&uniform(out * inp, -0.4, 0.4, 1), out, inp).unwrap())
        .unwrap();
    for call in 0..30 {
        let x = uniform(n * inp, -1.0, 1.0, 10 + call);
        let d = uniform(n * out, -1.0, 1.0, 20 + call);
        t.update(
            Matrix::new(&x, n, inp).unwrap(),
            Matrix::new(&d, n, out).unwrap(),
            0.1,
        )
        .unwrap();
    }
    t
}

/// The state saves and loads (both devices, the counters), and the loaded tile continues with
/// the same bits.
#[test]
fn the_state_round_trips_and_continues_alike() {
    let mut t = trained();
    assert!(
        cell(&t).counters.refreshed > 0,
        "the refresh picked no pair"
    );
    let mut loaded = Tile::from_bytes(&t.to_bytes()).unwrap();
    assert_eq!(loaded, t);
    let (x, d) = (uniform(3 * 5, -1.0, 1.0, 5), uniform(3 * 4, -1.0, 1.0, 6));
    for tile in [&mut t, &mut loaded] {
        tile.update(
            Matrix::new(&x, 3, 5).unwrap(),
            Matrix::new(&d, 3, 4).unwrap(),
            0.1,
        )
        .unwrap();
    }
    assert_eq!(loaded.to_bytes(), t.to_bytes());
}

/// Forged states: a device beyond its bounds, weights that are not `w_1 - w_0`, counters of
/// refreshed devices beyond what the samples allow, counters of another model.
#[test]
fn forged_states_are_refused_naming_the_field() {
    let t = trained();
    let load = |edit: &dyn Fn(&mut TileState)| {
        let mut state = TileState::parse(&t.to_bytes());
        edit(&mut state);
        Tile::from_bytes(&state.to_bytes())
    };
    let refused = |result: rpusim::Result<Tile>, field: &str| match result {
        Err(Error::State(message)) => assert!(message.contains(field), "{field}: {message}"),
        other => panic!("expected a state error naming {field}, got {other:?}"),
    };
    refused(load(&|s| s.array("1.weights")[0] = 5.0), "1.weights");
    refused(load(&|s| s.array("weights")[2] += 1e-3), "weights");
    refused(
        load(&|s| s.header["device_counters"]["one_sided"]["refreshed"] = 1_000_000.into()),
        "device_counters.one_sided.refreshed",
    );
    refused(
        load(&|s| {
            s.header["device_counters"]
                .as_object_mut()
                .unwrap()
                .remove("one_sided");
        }),
        "counters",
    );
    // The counters of a one-sided cell in the state of a single device.
    let single = Tile::new(2, 2, TileConfig::default(), 1).unwrap();
    let mut state = TileState::parse(&single.to_bytes());
    state.header["device_counters"] = serde_json::json!({"programs": 0, "unit_cell_index": 0,
        "one_sided": {"samples": 0, "refreshed": 0, "updates": 0, "refreshes": 0}});
    refused(
        Tile::from_bytes(&state.to_bytes()),
        "device_counters.one_sided",
    );
}

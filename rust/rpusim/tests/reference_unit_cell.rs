//! The reference unit cell (aihwkit's `ReferenceUnitCell`) against its definition: a vector
//! cell of a device and its reference, `w = w_0 - w_1`, only device 0 pulsed and programmed.

mod common;

use common::uniform;
use rpusim::device::{
    LinearStepParameters, PulsedParameters, ReferenceUnitCellParameters, SoftBoundsParameters,
    UnitCell, UpdatePolicy, VectorCell,
};
use rpusim::{DeviceConfig, Matrix, Tile, TileConfig};

const OUT: usize = 2;
const IN: usize = 3;

fn tile(device: DeviceConfig, seed: u64) -> Tile {
    let config = TileConfig {
        device,
        ..TileConfig::default()
    };
    Tile::new(OUT, IN, config, seed).unwrap()
}

fn cell(t: &Tile) -> &VectorCell {
    match &t.devices().cell {
        UnitCell::Vector(v) => v,
        _ => panic!("a unit cell"),
    }
}

/// A device whose step depends on the weight, with cycle-to-cycle and d2d noise.
fn linear_step() -> DeviceConfig {
    DeviceConfig::LinearStep(LinearStepParameters {
        gamma_up: 0.3,
        gamma_down: 0.2,
        pulsed: PulsedParameters {
            dw_min: 0.01,
            ..PulsedParameters::default()
        },
        ..LinearStepParameters::default()
    })
}

/// The same calls on two tiles of the same seed.
fn run(tiles: &mut [&mut Tile]) {
    let w = uniform(OUT * IN, -0.4, 0.4, 1);
    for t in tiles.iter_mut() {
        t.set_weights(Matrix::new(&w, OUT, IN).unwrap()).unwrap();
    }
    for call in 0..6 {
        let n = 1 + call as usize % 3;
        let x = uniform(n * IN, -1.0, 1.0, 10 + call);
        let d = uniform(n * OUT, -1.0, 1.0, 20 + call);
        for t in tiles.iter_mut() {
            let (x, d) = (
                Matrix::new(&x, n, IN).unwrap(),
                Matrix::new(&d, n, OUT).unwrap(),
            );
            t.update(x, d, 0.2).unwrap();
            t.pulse(call % 2 == 0).unwrap();
        }
    }
}

/// Device 0 is drawn and pulsed as a single device of the same seed (same d2d address, same
/// pulse-noise sequence `[sample, row, 0]`), the reference device stays at 0, and the weight
/// read is `1 * w_0 + (-1) * w_1` after every call.
#[test]
fn the_weight_is_the_device_minus_its_reference() {
    // A second device of the same granularity (update management plans with their mean).
    let soft_bounds = DeviceConfig::SoftBounds(SoftBoundsParameters {
        pulsed: PulsedParameters {
            dw_min: 0.01,
            ..PulsedParameters::default()
        },
        ..SoftBoundsParameters::default()
    });
    for devices in [vec![linear_step()], vec![linear_step(), soft_bounds]] {
        let mut single = tile(linear_step(), 5);
        let mut reference = tile(
            DeviceConfig::ReferenceUnitCell(ReferenceUnitCellParameters {
                devices,
                ..ReferenceUnitCellParameters::default()
            }),
            5,
        );
        run(&mut [&mut single, &mut reference]);
        let v = cell(&reference);
        assert_eq!(v.layers.len(), 2);
        assert_eq!(v.gamma, vec![1.0, -1.0]);
        assert_eq!(v.layers[0], single.devices().layers()[0].clone());
        assert_eq!(v.weights[0], single.weights());
        assert!(v.weights[1].iter().all(|&w| w == 0.0));
        for k in 0..OUT * IN {
            let expected = (0.0f32 + v.weights[0][k]) - v.weights[1][k];
            assert_eq!(reference.weights()[k], expected);
        }
        assert_ne!(single.weights(), &uniform(OUT * IN, -0.4, 0.4, 1)[..]);
    }
}

/// One device given serves for both, each drawn on its own; the defaults are aihwkit's.
#[test]
fn one_device_is_drawn_twice_and_the_defaults_are_aihwkits() {
    let p = ReferenceUnitCellParameters::default();
    assert_eq!(p.gamma, vec![1.0, -1.0]);
    assert_eq!(p.update_policy, UpdatePolicy::SingleFixed);
    assert_eq!(p.first_update_idx, 0);
    let t = tile(
        DeviceConfig::ReferenceUnitCell(ReferenceUnitCellParameters {
            devices: vec![linear_step()],
            ..p
        }),
        7,
    );
    let v = cell(&t);
    assert_ne!(v.layers[0].arrays().dw_up, v.layers[1].arrays().dw_up);
    let json = r#"{"type": "ReferenceUnitCell", "devices": [{"type": "SoftBounds"}]}"#;
    let config: DeviceConfig = serde_json::from_str(json).unwrap();
    assert_eq!(config.devices_per_cross_point(), 2);
}

/// With `first_update_idx = 1` the reference device is the one programmed and pulsed: the
/// weight read is minus the value programmed.
#[test]
fn the_other_device_can_be_the_one_updated() {
    let mut t = tile(
        DeviceConfig::ReferenceUnitCell(ReferenceUnitCellParameters {
            first_update_idx: 1,
            ..ReferenceUnitCellParameters::default()
        }),
        3,
    );
    t.set_weights(Matrix::new(&[0.25; OUT * IN], OUT, IN).unwrap())
        .unwrap();
    assert!(t.weights().iter().all(|&w| w == -0.25));
    let before = cell(&t).weights.clone();
    t.pulse(true).unwrap();
    assert_eq!(cell(&t).weights[0], before[0]);
    assert_ne!(cell(&t).weights[1], before[1]);
}

#[test]
fn bad_cells_are_errors_naming_the_field() {
    let bad = |p: ReferenceUnitCellParameters| {
        let config = TileConfig {
            device: DeviceConfig::ReferenceUnitCell(p),
            ..TileConfig::default()
        };
        config.validate().unwrap_err().to_string()
    };
    let three = ReferenceUnitCellParameters {
        devices: vec![DeviceConfig::default(); 3],
        ..ReferenceUnitCellParameters::default()
    };
    assert!(bad(three).contains("device.devices: must hold 1 or 2 devices"));
    let none = ReferenceUnitCellParameters {
        devices: Vec::new(),
        ..ReferenceUnitCellParameters::default()
    };
    assert!(bad(none).contains("device.devices"));
    let gamma = ReferenceUnitCellParameters {
        gamma: vec![1.0],
        ..ReferenceUnitCellParameters::default()
    };
    assert!(bad(gamma).contains("device.gamma"));
    let index = ReferenceUnitCellParameters {
        first_update_idx: 2,
        ..ReferenceUnitCellParameters::default()
    };
    assert!(bad(index).contains("device.first_update_idx"));
    let ideal = ReferenceUnitCellParameters {
        devices: vec![DeviceConfig::Ideal(Default::default())],
        ..ReferenceUnitCellParameters::default()
    };
    assert!(bad(ideal).contains("device.devices[0]"));
    let json = r#"{"type": "ReferenceUnitCell", "unknown": 1}"#;
    assert!(serde_json::from_str::<DeviceConfig>(json).is_err());
}

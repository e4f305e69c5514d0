//! The memory estimate of a tile against what a built tile holds, for every device model
//! (issue 12, item 1).

use rpusim::device::{DeviceModel, VectorUnitCellParameters, DEVICE_TYPES};
use rpusim::{estimate_memory, DeviceConfig, Tile, TileArray, TileConfig};

/// Bytes of the per-device arrays a model keeps beside its saved ones.
fn derived_bytes(model: &DeviceModel) -> usize {
    4 * match model {
        DeviceModel::ExpStep(d) => d.c_up.len() + d.c_down.len(),
        DeviceModel::PowStep(d) => d.inv_range.len(),
        DeviceModel::PiecewiseStep(d) => d.node_scale.len(),
        _ => 0,
    }
}

/// What a tile holds: its saved state (weights, scales, every device array) and the arrays its
/// devices derive from them.
fn held_bytes(tile: &Tile) -> usize {
    let derived: usize = tile
        .devices()
        .layers()
        .iter()
        .map(|l| derived_bytes(&l.model))
        .sum();
    tile.to_bytes().len() + derived
}

fn configs() -> Vec<TileConfig> {
    let mut devices: Vec<DeviceConfig> = DEVICE_TYPES
        .iter()
        .map(|name| DeviceConfig::default_of(name).unwrap())
        .collect();
    devices.push(DeviceConfig::VectorUnitCell(VectorUnitCellParameters {
        devices: ["ExpStep", "PowStep", "LinearStep"]
            .iter()
            .map(|name| DeviceConfig::default_of(name).unwrap())
            .collect(),
        ..VectorUnitCellParameters::default()
    }));
    devices
        .into_iter()
        .map(|device| TileConfig {
            device,
            ..TileConfig::default()
        })
        .collect()
}

#[test]
fn the_estimate_is_what_a_tile_holds_for_every_model() {
    for config in configs() {
        for (rows, cols) in [(64, 96), (300, 200)] {
            let tile = Tile::new(rows, cols, config.clone(), 3).unwrap();
            let (estimate, held) = (
                Tile::estimate_memory(rows, cols, &config).unwrap() as f64,
                held_bytes(&tile) as f64,
            );
            let name = config.device.to_json();
            assert!(
                (held / estimate - 1.0).abs() < 0.1,
                "{name}: {held} of {estimate}"
            );
        }
    }
}

#[test]
fn a_grid_estimates_the_sum_of_its_arrays() {
    let mut config = TileConfig::default();
    config.mapping.max_input_size = 100;
    config.mapping.max_output_size = 70;
    let array = TileArray::new(150, 250, config.clone(), 1).unwrap();
    let sum: u64 = array
        .tiles()
        .iter()
        .map(|t| Tile::estimate_memory(t.out_size(), t.in_size(), &config).unwrap())
        .sum();
    assert_eq!(array.tiles().len(), 9);
    assert_eq!(estimate_memory(150, 250, &config).unwrap(), sum);
    let held: usize = array.tiles().iter().map(held_bytes).sum();
    assert!(
        (held as f64 / sum as f64 - 1.0).abs() < 0.1,
        "{held} of {sum}"
    );
}

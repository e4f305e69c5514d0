//! Bounded fuzzing of the two readers of outside data (issue 12): state bytes
//! (`Tile::from_bytes`, `TileArray::from_bytes`) and configuration documents
//! (`TileConfig::from_json`). Whatever they get, they never panic: they refuse it, or what they
//! accept works (a loaded tile saves to a state that loads back equal, and runs its
//! operations; a configuration validates and builds a tile). A fixed number of cases per
//! property keeps the suite to some seconds of `cargo test --release`.

mod common;

use std::sync::OnceLock;

use common::forge::{checksummed, recheck, TileState};
use common::{tile_with_weights, uniform};
use proptest::prelude::*;
use rpusim::device::DEVICE_TYPES;
use rpusim::{DeviceConfig, Error, Matrix, Tile, TileArray, TileConfig};
use serde_json::{json, Value};

const CASES: u32 = 1000;

/// Valid states to start from: several device models, with counters and effects, and a grid.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let devices = [
            json!({"type": "ConstantStep"}),
            json!({"type": "LinearStep", "write_noise_std": 1.0, "count_pulses": true}),
            json!({"type": "PowStep", "diffusion": 0.01, "lifetime": 50.0, "reset": 0.1}),
            json!({"type": "IdealDevice"}),
            json!({"type": "VectorUnitCell", "update_policy": "single_sequential"}),
        ];
        let mut states: Vec<Vec<u8>> = devices
            .iter()
            .map(|device| {
                let mut config = config_with(device.clone());
                config.forward.noise_management = rpusim::NoiseManagement::AverageAbsMax;
                let mut t = tile_with_weights(3, 4, config, 7, 0.5);
                run(&mut t).unwrap();
                t.to_bytes()
            })
            .collect();
        let mut config = TileConfig::default();
        config.mapping.max_input_size = 2;
        let mut grid = TileArray::new(2, 3, config, 9).unwrap();
        grid.update(
            Matrix::new(&[0.5, -0.2, 0.9], 1, 3).unwrap(),
            Matrix::new(&[0.3, -0.4], 1, 2).unwrap(),
            0.1,
        )
        .unwrap();
        states.push(grid.to_bytes());
        states
    })
}

fn config_with(device: Value) -> TileConfig {
    TileConfig::from_json(&json!({ "device": device }).to_string()).unwrap()
}

/// Forward, backward and update of two samples; the errors a loaded tile may give are those
/// of counters that cannot advance.
fn run(t: &mut Tile) -> rpusim::Result<()> {
    let (out, inp) = (t.out_size(), t.in_size());
    let x = uniform(2 * inp, -1.0, 1.0, 1);
    let d = uniform(2 * out, -1.0, 1.0, 2);
    let (x, d) = (Matrix::new(&x, 2, inp)?, Matrix::new(&d, 2, out)?);
    t.forward(x, false)?;
    t.backward(d)?;
    t.update(x, d, 0.1)
}

/// What a reader may answer: a refusal, or a tile (or grid) that works.
fn check_loaded(bytes: &[u8], header_untouched: bool) -> Result<(), TestCaseError> {
    if let Ok(tile) = Tile::from_bytes(bytes) {
        let saved = tile.to_bytes();
        // A header edited into another spelling of the same values saves in its own.
        if header_untouched {
            prop_assert_eq!(&saved, &bytes.to_vec());
        }
        let reloaded = Tile::from_bytes(&saved);
        prop_assert_eq!(reloaded.as_ref(), Ok(&tile));
        let mut t = tile;
        match run(&mut t) {
            Ok(()) | Err(Error::State(_)) => {}
            Err(e) => prop_assert!(false, "a loaded tile failed: {e}"),
        }
        prop_assert_eq!(Tile::from_bytes(&t.to_bytes()), Ok(t));
    }
    if let Ok(grid) = TileArray::from_bytes(bytes) {
        let saved = grid.to_bytes();
        prop_assert_eq!(TileArray::from_bytes(&saved), Ok(grid.clone()));
        let mut g = grid;
        let x = uniform(g.in_size(), -1.0, 1.0, 3);
        let d = uniform(g.out_size(), -1.0, 1.0, 4);
        let (x, d) = (
            Matrix::new(&x, 1, g.in_size()).unwrap(),
            Matrix::new(&d, 1, g.out_size()).unwrap(),
        );
        match g.forward(x, false).and_then(|_| g.update(x, d, 0.1)) {
            Ok(()) | Err(Error::State(_)) => {}
            Err(e) => prop_assert!(false, "a loaded grid failed: {e}"),
        }
    }
    Ok(())
}

/// Where the header of a tile state ends (its arrays start).
fn header_end(state: &[u8]) -> usize {
    16 + u32::from_le_bytes(state[12..16].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Random bytes, with the magic of a tile or a grid in front or not, checksummed or not.
    #[test]
    fn random_bytes(
        magic in prop_oneof![Just(&b""[..]), Just(&b"RPUSIM\0T"[..]), Just(&b"RPUSIM\0A"[..])],
        version in 0u32..5,
        body in proptest::collection::vec(any::<u8>(), 0..200),
        fix_checksum in any::<bool>(),
    ) {
        let mut bytes = magic.to_vec();
        if !magic.is_empty() {
            bytes.extend_from_slice(&version.to_le_bytes());
        }
        bytes.extend_from_slice(&body);
        if fix_checksum {
            bytes = checksummed(bytes);
        }
        check_loaded(&bytes, false)?;
    }

    /// A valid state cut short, its checksum made right for what is left or not.
    #[test]
    fn truncated_states(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(),
                        fix_checksum in any::<bool>()) {
        let state = which.get(seeds());
        let cut = &state[..at.index(state.len())];
        let bytes = if fix_checksum { recheck(cut) } else { cut.to_vec() };
        check_loaded(&bytes, false)?;
    }

    /// A valid state with bytes changed, its checksum made right, so that the content is read.
    #[test]
    fn edited_states(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let state = which.get(seeds());
        let mut bytes = state.clone();
        let body = bytes.len() - 4;
        let mut header_untouched = state.starts_with(b"RPUSIM\0T");
        for (at, value) in edits {
            let k = at.index(body);
            header_untouched &= k >= header_end(state) || bytes[k] == value;
            bytes[k] = value;
        }
        // An edit that leaves the byte as it was keeps the header as it was, too.
        header_untouched |= bytes == *state;
        check_loaded(&recheck(&bytes), header_untouched)?;
    }

    /// A valid tile state with one array value or header field replaced by a random one.
    #[test]
    fn forged_fields(
        which in 0usize..5,
        field in any::<prop::sample::Index>(),
        value in json_leaf(),
        float in any::<f32>(),
    ) {
        let mut state = TileState::parse(&seeds()[which]);
        let paths = leaf_paths(&state.header);
        let n_arrays = state.arrays.len();
        let k = field.index(paths.len() + n_arrays);
        if k < paths.len() {
            *state.header.pointer_mut(&paths[k]).unwrap() = value;
        } else {
            let values = &mut state.arrays[k - paths.len()].1;
            let i = field.index(values.len().max(1)).min(values.len().saturating_sub(1));
            if let Some(v) = values.get_mut(i) {
                *v = float;
            }
        }
        check_loaded(&state.to_bytes(), false)?;
    }

    /// A configuration document: the default one for a random device model with values
    /// replaced, fields removed and unknown fields added; perhaps cut short.
    #[test]
    fn configuration_documents(
        device in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(edit(), 0..6),
        cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
    ) {
        let mut document = serde_json::to_value(TileConfig {
            device: DeviceConfig::default_of(DEVICE_TYPES[device.index(DEVICE_TYPES.len())]).unwrap(),
            ..TileConfig::default()
        })
        .unwrap();
        for e in edits {
            e.apply(&mut document);
        }
        let mut text = document.to_string();
        if let Some(cut) = cut {
            text.truncate(cut.index(text.len() + 1));
            // A cut inside a multi-byte character is not a string: cut at the last one.
            while !text.is_char_boundary(text.len()) {
                text.pop();
            }
        }
        check_configuration(&text)?;
    }

    /// Arrays nested deeply, and other documents that are not objects.
    #[test]
    fn deep_and_odd_documents(depth in 0usize..3000, open in "[\\[{]", leaf in "[0-9a-z\"\\]}:,. -]{0,8}") {
        let text = format!("{}{leaf}", open.repeat(depth));
        check_configuration(&text)?;
        check_configuration(&format!("{{\"forward\": {}}}", "[".repeat(depth)))?;
    }
}

/// A configuration document is refused or gives a configuration that validates and builds a
/// tile (or refuses one, naming why) whose operations and state work.
fn check_configuration(text: &str) -> Result<(), TestCaseError> {
    let Ok(config) = TileConfig::from_json(text) else {
        return Ok(());
    };
    prop_assert_eq!(config.validate(), Ok(()));
    let reread = TileConfig::from_json(&config.to_json());
    prop_assert_eq!(reread.as_ref(), Ok(&config));
    match Tile::new(3, 4, config, 5) {
        Ok(mut t) => {
            let w = uniform(12, -0.5, 0.5, 6);
            t.set_weights(Matrix::new(&w, 3, 4).unwrap()).unwrap();
            run(&mut t).unwrap();
            prop_assert_eq!(Tile::from_bytes(&t.to_bytes()), Ok(t));
        }
        Err(Error::InvalidParameter { .. } | Error::OutOfMemory { .. }) => {}
        Err(e) => prop_assert!(false, "unexpected error building a tile: {e}"),
    }
    Ok(())
}

/// JSON pointers of every value of `v` that is not an object (array elements included).
fn leaf_paths(v: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    fn walk(v: &Value, at: String, paths: &mut Vec<String>) {
        match v {
            Value::Object(fields) => {
                for (k, item) in fields {
                    walk(item, format!("{at}/{k}"), paths);
                }
            }
            Value::Array(items) => {
                paths.push(at.clone());
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), paths);
                }
            }
            _ => paths.push(at),
        }
    }
    walk(v, String::new(), &mut paths);
    paths
}

/// JSON pointers of every object of `v`.
fn object_paths(v: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    fn walk(v: &Value, at: String, paths: &mut Vec<String>) {
        match v {
            Value::Object(fields) => {
                paths.push(at.clone());
                for (k, item) in fields {
                    walk(item, format!("{at}/{k}"), paths);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{at}/{i}"), paths);
                }
            }
            _ => {}
        }
    }
    walk(v, String::new(), &mut paths);
    paths
}

/// One change to a configuration document.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace a value (not an object) with another.
    Replace(prop::sample::Index, Value),
    /// Remove a field of an object.
    Remove(prop::sample::Index, prop::sample::Index),
    /// Add a field to an object (a known name of another section, or an unknown one).
    Add(prop::sample::Index, String, Value),
}

impl Edit {
    fn apply(self, document: &mut Value) {
        match self {
            Edit::Replace(at, value) => {
                let paths = leaf_paths(document);
                if !paths.is_empty() {
                    *document.pointer_mut(&paths[at.index(paths.len())]).unwrap() = value;
                }
            }
            Edit::Remove(at, field) => {
                let paths = object_paths(document);
                let object = document.pointer_mut(&paths[at.index(paths.len())]).unwrap();
                let fields = object.as_object_mut().unwrap();
                if !fields.is_empty() {
                    let key = field
                        .get(&fields.keys().cloned().collect::<Vec<_>>())
                        .clone();
                    fields.remove(&key);
                }
            }
            Edit::Add(at, name, value) => {
                let paths = object_paths(document);
                let object = document.pointer_mut(&paths[at.index(paths.len())]).unwrap();
                object.as_object_mut().unwrap().insert(name, value);
            }
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    let name = prop_oneof![
        Just("out_noise".to_string()),
        Just("devices".to_string()),
        Just("type".to_string()),
        Just("gamma".to_string()),
        Just("dw_min".to_string()),
        "[a-z_]{1,12}",
    ];
    prop_oneof![
        3 => (any::<prop::sample::Index>(), json_value()).prop_map(|(a, v)| Edit::Replace(a, v)),
        1 => (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, f)| Edit::Remove(a, f)),
        1 => (any::<prop::sample::Index>(), name, json_value())
            .prop_map(|(a, n, v)| Edit::Add(a, n, v)),
    ]
}

/// A JSON value that is not an object or array: numbers of every size and sign (huge,
/// negative, beyond float32, integers beyond 64 bits as floats), non-finite numbers spelled
/// as strings, strings, booleans, null.
fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|v| serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)),
        prop_oneof![
            Just(0.0f64),
            Just(-0.0),
            Just(1e-300),
            Just(1e38),
            Just(3.5e38),
            Just(-1e300),
            Just(1e300),
            Just(0.5),
            Just(-1.0),
            Just(2.0),
            Just(64.0),
            Just(1e19)
        ]
        .prop_map(Value::from),
        prop_oneof![
            Just("NaN"),
            Just("inf"),
            Just("-Infinity"),
            Just("1e39"),
            Just("")
        ]
        .prop_map(Value::from),
        "[a-z_]{0,10}".prop_map(Value::from),
    ]
}

/// A JSON value: a leaf, or an array or object of a few leaves (device lists, node lists).
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(
                (prop_oneof![Just("type".to_string()), "[a-z_]{1,8}"], inner),
                0..4
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            Just(json!({"type": "ConstantStep", "dw_min": -1.0})),
            Just(json!({"type": "VectorUnitCell", "devices": []})),
        ]
    })
}

//! Saving and restoring a tile's whole state; errors that leave the tile as it was.

mod common;

use common::forge::crc32;
use common::{bits, tile_with_weights, uniform};
use rpusim::{Error, Matrix, Tile, TileConfig};

fn train_round(t: &mut Tile, call: u64) -> Vec<u32> {
    let (out, inp, n) = (t.out_size(), t.in_size(), 5);
    let x = uniform(n * inp, -1.0, 1.0, call);
    let d = uniform(n * out, -0.2, 0.2, call + 7);
    let mut trace = bits(
        &t.forward(Matrix::new(&x, n, t.in_size()).unwrap(), false)
            .unwrap(),
    );
    trace.extend(bits(
        &t.backward(Matrix::new(&d, n, t.out_size()).unwrap())
            .unwrap(),
    ));
    t.update(
        Matrix::new(&x, n, t.in_size()).unwrap(),
        Matrix::new(&d, n, t.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    trace.extend(bits(t.weights()));
    trace
}

#[test]
fn a_restored_tile_continues_bit_identically() {
    let mut config = TileConfig::default();
    config.forward.noise_management = rpusim::NoiseManagement::AverageAbsMax;
    let mut a = tile_with_weights(13, 17, config, 3, 0.4);
    for call in 0..4 {
        train_round(&mut a, call);
    }
    let mut b = Tile::from_bytes(&a.to_bytes()).unwrap();
    assert_eq!(a, b);
    for call in 4..10 {
        assert_eq!(train_round(&mut a, call), train_round(&mut b, call));
    }
}

#[test]
fn corrupt_state_is_rejected() {
    let t = tile_with_weights(4, 5, TileConfig::default(), 1, 0.2);
    let good = t.to_bytes();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    assert!(matches!(Tile::from_bytes(&flipped), Err(Error::State(m)) if m.contains("checksum")));
    assert!(matches!(
        Tile::from_bytes(&good[..good.len() - 1]),
        Err(Error::State(_))
    ));
    assert!(matches!(Tile::from_bytes(b"garbage"), Err(Error::State(_))));
    assert!(matches!(Tile::from_bytes(&[]), Err(Error::State(_))));
    // A future format version (with a valid checksum) is refused by name.
    let mut future = good[..good.len() - 4].to_vec();
    future[8..12].copy_from_slice(&99u32.to_le_bytes());
    let crc = crc32(&future);
    future.extend_from_slice(&crc.to_le_bytes());
    let err = Tile::from_bytes(&future).unwrap_err().to_string();
    assert!(err.contains("version 99"), "{err}");
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut t = tile_with_weights(3, 4, TileConfig::default(), 2, 0.3);
    let before = t.to_bytes();
    let x = [0.1f32; 8];
    let d = [0.1f32; 6];
    let mut nan_x = x;
    nan_x[5] = f32::NAN;
    let mut inf_d = d;
    inf_d[1] = f32::INFINITY;
    fn m(v: &[f32], rows: usize, cols: usize) -> Matrix<'_> {
        Matrix::new(v, rows, cols).unwrap()
    }
    let (x, d, nan_x, inf_d) = (m(&x, 2, 4), m(&d, 2, 3), m(&nan_x, 2, 4), m(&inf_d, 2, 3));
    let cases: Vec<(&str, Result<(), Error>)> = vec![
        ("x", t.forward(m(&[0.1; 6], 2, 3), false).map(drop)),
        ("x", t.forward(nan_x, false).map(drop)),
        ("d", t.backward(m(&[0.1; 8], 2, 4)).map(drop)),
        ("d", t.backward(inf_d).map(drop)),
        ("x", t.update(m(&[0.1; 6], 2, 3), d, 0.1)),
        ("d", t.update(x, inf_d, 0.1)),
        ("d", t.update(x, m(&[0.1; 3], 1, 3), 0.1)),
        ("lr", t.update(x, d, -0.1)),
        ("lr", t.update(x, d, f32::NAN)),
        ("weights", t.set_weights(m(&[0.0; 12], 4, 3))),
        ("weights", t.set_weights(m(&[f32::NAN; 12], 3, 4))),
    ];
    for (name, result) in cases {
        let err = result.unwrap_err().to_string();
        assert!(err.starts_with(name), "{err} should name {name}");
    }
    let mut bad_config = t.config().clone();
    bad_config.update.desired_bl = 0;
    let err = t.set_config(bad_config).unwrap_err().to_string();
    assert!(err.contains("update.desired_bl"), "{err}");
    let mut other_device = t.config().clone();
    other_device.device = rpusim::DeviceConfig::Ideal(Default::default());
    assert!(t
        .set_config(other_device)
        .unwrap_err()
        .to_string()
        .starts_with("device"));
    assert_eq!(t.to_bytes(), before);
    assert!(Tile::new(0, 3, TileConfig::default(), 0)
        .unwrap_err()
        .to_string()
        .starts_with("out_size"));
}

#[test]
fn configuration_changes_apply_to_a_running_tile() {
    let mut t = tile_with_weights(3, 4, TileConfig::default(), 2, 0.3);
    let x = uniform(4, -1.0, 1.0, 1);
    let x = Matrix::new(&x, 1, 4).unwrap();
    let noisy = t.clone().forward(x, false).unwrap();
    let mut c = t.config().clone();
    c.forward = rpusim::IoParameters::perfect();
    t.set_config(c).unwrap();
    let exact = t.forward(x, false).unwrap();
    let w = t.weights();
    for i in 0..3 {
        let expected: f32 = (0..4).map(|j| w[i * 4 + j] * x.data()[j]).sum();
        assert!((exact[i] - expected).abs() < 1e-6);
    }
    assert_ne!(bits(&noisy), bits(&exact));
}

//! A weight matrix larger than one physical array: the grid of tiles against the same tiles
//! built and driven by hand (same seeds: same bits), and its state.

mod common;

use common::{bits, uniform};
use rpusim::device::PulsedParameters;
use rpusim::{split_sizes, tile_seed, DeviceConfig, Matrix, Tile, TileArray, TileConfig};

/// The default configuration with arrays of at most `max_out x max_in`, weight scaling per
/// array and some input noise (every noise source of every tile is in play).
fn config(max_out: usize, max_in: usize) -> TileConfig {
    let mut c = TileConfig::default();
    c.mapping.max_output_size = max_out;
    c.mapping.max_input_size = max_in;
    c.mapping.weight_scaling_omega = 0.6;
    c.forward.inp_noise = 0.01;
    c
}

/// Columns `cols` of the `n x width` batch `v`.
fn columns(v: &[f32], n: usize, width: usize, cols: std::ops::Range<usize>) -> Vec<f32> {
    (0..n)
        .flat_map(|b| {
            v[b * width + cols.start..b * width + cols.end]
                .iter()
                .copied()
        })
        .collect()
}

#[test]
fn a_grid_is_its_tiles_driven_by_hand() {
    let (out, inp, n, seed) = (300, 500, 16, 11);
    let c = config(128, 200);
    let (out_sizes, in_sizes) = (split_sizes(out, 128), split_sizes(inp, 200));
    assert_eq!((out_sizes.len(), in_sizes.len()), (3, 3));
    let mut array = TileArray::new(out, inp, c.clone(), seed).unwrap();
    assert_eq!(array.tiles().len(), 9);
    let w = uniform(out * inp, -0.05, 0.05, 1);
    array
        .set_weights(Matrix::new(&w, array.out_size(), array.in_size()).unwrap())
        .unwrap();
    // The same tiles by hand.
    let mut hand = Vec::new();
    for i in 0..3 {
        for j in 0..3 {
            let k = hand.len();
            let (rows, cols) = array.tile_block(k);
            assert_eq!((rows.len(), cols.len()), (out_sizes[i], in_sizes[j]));
            let mut t = Tile::new(rows.len(), cols.len(), c.clone(), tile_seed(seed, k)).unwrap();
            let block: Vec<f32> = rows
                .flat_map(|r| w[r * inp + cols.start..r * inp + cols.end].to_vec())
                .collect();
            t.set_weights(Matrix::new(&block, t.out_size(), t.in_size()).unwrap())
                .unwrap();
            hand.push(t);
        }
    }
    for call in 0..3u64 {
        let x = uniform(n * inp, -1.0, 1.0, 10 + call);
        let d = uniform(n * out, -0.1, 0.1, 20 + call);
        let y = array
            .forward(Matrix::new(&x, n, array.in_size()).unwrap(), false)
            .unwrap();
        let z = array
            .backward(Matrix::new(&d, n, array.out_size()).unwrap())
            .unwrap();
        array
            .update(
                Matrix::new(&x, n, array.in_size()).unwrap(),
                Matrix::new(&d, n, array.out_size()).unwrap(),
                0.05,
            )
            .unwrap();
        let mut y_hand = vec![0.0f32; n * out];
        let mut z_hand = vec![0.0f32; n * inp];
        for (k, t) in hand.iter_mut().enumerate() {
            let (rows, cols) = array.tile_block(k);
            let (start, j) = (k % 3 == 0, k / 3);
            let x_part = columns(&x, n, inp, cols.clone());
            let d_part = columns(&d, n, out, rows.clone());
            let y_part = t
                .forward(Matrix::new(&x_part, n, t.in_size()).unwrap(), false)
                .unwrap();
            for b in 0..n {
                for (r, &v) in rows.clone().zip(&y_part[b * rows.len()..]) {
                    // The tiles along the inputs are summed in their order.
                    if start {
                        y_hand[b * out + r] = v;
                    } else {
                        y_hand[b * out + r] += v;
                    }
                }
            }
            let z_part = t
                .backward(Matrix::new(&d_part, n, t.out_size()).unwrap())
                .unwrap();
            for b in 0..n {
                for (col, &v) in cols.clone().zip(&z_part[b * cols.len()..]) {
                    if j == 0 {
                        z_hand[b * inp + col] = v;
                    } else {
                        z_hand[b * inp + col] += v;
                    }
                }
            }
            t.update(
                Matrix::new(&x_part, n, t.in_size()).unwrap(),
                Matrix::new(&d_part, n, t.out_size()).unwrap(),
                0.05,
            )
            .unwrap();
        }
        assert_eq!(bits(&y), bits(&y_hand), "forward, call {call}");
        assert_eq!(bits(&z), bits(&z_hand), "backward, call {call}");
        for (k, t) in hand.iter().enumerate() {
            assert_eq!(&array.tiles()[k], t, "tile {k} after update {call}");
        }
    }
    assert_eq!(array.pulses(), hand.iter().map(Tile::pulses).sum::<u64>());
    assert!(array.pulses() > 0);
}

#[test]
fn a_matrix_within_the_limits_is_one_tile() {
    let (out, inp, n) = (40, 30, 8);
    let c = config(512, 512);
    let mut array = TileArray::new(out, inp, c.clone(), 3).unwrap();
    let mut tile = Tile::new(out, inp, c, 3).unwrap();
    let w = uniform(out * inp, -0.3, 0.3, 2);
    array
        .set_weights(Matrix::new(&w, array.out_size(), array.in_size()).unwrap())
        .unwrap();
    tile.set_weights(Matrix::new(&w, tile.out_size(), tile.in_size()).unwrap())
        .unwrap();
    let x = uniform(n * inp, -1.0, 1.0, 4);
    let d = uniform(n * out, -0.1, 0.1, 5);
    assert_eq!(
        bits(
            &array
                .forward(Matrix::new(&x, n, array.in_size()).unwrap(), false)
                .unwrap()
        ),
        bits(
            &tile
                .forward(Matrix::new(&x, n, tile.in_size()).unwrap(), false)
                .unwrap()
        )
    );
    array
        .update(
            Matrix::new(&x, n, array.in_size()).unwrap(),
            Matrix::new(&d, n, array.out_size()).unwrap(),
            0.1,
        )
        .unwrap();
    tile.update(
        Matrix::new(&x, n, tile.in_size()).unwrap(),
        Matrix::new(&d, n, tile.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    // Its state is the tile's state, byte for byte.
    assert_eq!(array.to_bytes(), tile.to_bytes());
    assert_eq!(TileArray::from_bytes(&tile.to_bytes()).unwrap(), array);
}

#[test]
fn weights_and_scales_of_a_grid() {
    let (out, inp) = (10, 9);
    // Bounds without device-to-device spread: every mapped weight fits.
    let mut c = config(4, 5);
    c.device = DeviceConfig::ConstantStep(PulsedParameters {
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    });
    let mut array = TileArray::new(out, inp, c, 1).unwrap();
    assert_eq!(array.tiles().len(), 3 * 2);
    let w = uniform(out * inp, -0.5, 0.5, 6);
    array
        .set_weights(Matrix::new(&w, array.out_size(), array.in_size()).unwrap())
        .unwrap();
    let effective = array.effective_weights();
    for (a, b) in effective.iter().zip(&w) {
        assert!((a - b).abs() < 1e-6);
    }
    // Each tile maps its own block onto omega.
    for t in array.tiles() {
        let max = t.weights().iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((max - 0.6).abs() < 1e-6);
    }
    // Split inputs: no row has one scale.
    assert!(array.out_scales().is_err());
    let rows_only = TileArray::new(out, inp, config(4, 0), 1).unwrap();
    assert_eq!(rows_only.out_scales().unwrap().len(), out);
    // Bad shapes are refused before any tile changes.
    let before = array.clone();
    let transposed = Matrix::new(&w, inp, out).unwrap();
    assert!(array.set_weights(transposed).is_err());
    assert!(array
        .forward(Matrix::new(&w[..8], 1, 8).unwrap(), false)
        .is_err());
    let mut x = vec![0.5; inp];
    x[3] = f32::NAN;
    assert!(array
        .update(
            Matrix::new(&x, 1, array.in_size()).unwrap(),
            Matrix::new(&[0.1; 10], 1, array.out_size()).unwrap(),
            0.1
        )
        .is_err());
    assert_eq!(array, before);
    assert_eq!(array.counters(), before.counters());
}

#[test]
fn a_grid_saves_loads_and_continues() {
    let (out, inp, n) = (20, 30, 4);
    let mut a = TileArray::new(out, inp, config(8, 16), 9).unwrap();
    a.set_weights(
        Matrix::new(&uniform(out * inp, -0.2, 0.2, 3), a.out_size(), a.in_size()).unwrap(),
    )
    .unwrap();
    let x = uniform(n * inp, -1.0, 1.0, 4);
    let d = uniform(n * out, -0.1, 0.1, 5);
    a.update(
        Matrix::new(&x, n, a.in_size()).unwrap(),
        Matrix::new(&d, n, a.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    let bytes = a.to_bytes();
    let mut b = TileArray::from_bytes(&bytes).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        bits(
            &a.forward(Matrix::new(&x, n, a.in_size()).unwrap(), false)
                .unwrap()
        ),
        bits(
            &b.forward(Matrix::new(&x, n, b.in_size()).unwrap(), false)
                .unwrap()
        )
    );
    a.update(
        Matrix::new(&x, n, a.in_size()).unwrap(),
        Matrix::new(&d, n, a.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    b.update(
        Matrix::new(&x, n, b.in_size()).unwrap(),
        Matrix::new(&d, n, b.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    assert_eq!(a.to_bytes(), b.to_bytes());
    // Truncated or flipped bytes are refused.
    for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
        assert!(TileArray::from_bytes(&bytes[..cut]).is_err());
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 4;
    assert!(TileArray::from_bytes(&flipped).is_err());
    // The split cannot change on a live array; other parameters can.
    let mut c = a.config().clone();
    c.mapping.max_input_size = 0;
    assert!(a.set_config(c).is_err());
    let mut c = a.config().clone();
    c.forward.out_noise = 0.0;
    a.set_config(c).unwrap();
    assert!(a
        .tiles()
        .iter()
        .all(|t| t.config().forward.out_noise == 0.0));
}

#[test]
fn every_array_marks_its_own_clipped_outputs() {
    // 1 x 4 weights on two arrays of two inputs, exact periphery with an output bound of 2:
    // array 0 gives 2 (marked: at 0.999 * 2 or beyond), array 1 gives 1.
    let mut c = TileConfig::default();
    c.mapping.max_input_size = 2;
    c.device = DeviceConfig::ConstantStep(PulsedParameters {
        w_max: 10.0,
        w_min: -10.0,
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    });
    for io in [&mut c.forward, &mut c.backward] {
        io.out_noise = 0.0;
        io.inp_res = 0.0;
        io.out_res = 0.0;
        io.bound_management = rpusim::BoundManagement::None;
        io.noise_management = rpusim::NoiseManagement::None;
    }
    c.forward.out_bound = 2.0;
    let mut array = TileArray::new(1, 4, c.clone(), 1).unwrap();
    array
        .set_weights(Matrix::new(&[1.0, 1.0, 0.5, 0.5], array.out_size(), array.in_size()).unwrap())
        .unwrap();
    let mut clipped = Vec::new();
    let mut y = [0.0f32];
    let (x, d) = (
        Matrix::new(&[1.0; 4], 1, 4).unwrap(),
        Matrix::new(&[1.0], 1, 1).unwrap(),
    );
    let any = array
        .forward_clipped_into(x, false, &mut y, Some(&mut clipped))
        .unwrap();
    assert!(any);
    assert_eq!(clipped, vec![vec![true], vec![false]]);
    assert_eq!(y, [3.0]);
    // The backward pass of array 0 loses the error, that of array 1 keeps it.
    let mut z = [0.0f32; 4];
    let masks: Vec<Matrix<bool>> = clipped
        .iter()
        .map(|m| Matrix::new(m, 1, 1).unwrap())
        .collect();
    array.backward_masked_into(d, &mut z, Some(&masks)).unwrap();
    assert_eq!(z, [0.0, 0.0, 0.5, 0.5]);
    array.backward_into(d, &mut z).unwrap();
    assert_eq!(z, [1.0, 1.0, 0.5, 0.5]);
    // Masks of the wrong number or shape are refused.
    assert!(array
        .backward_masked_into(d, &mut z, Some(&masks[..1]))
        .is_err());
    let wide = [Matrix::new(&[true, false], 1, 2).unwrap(); 2];
    assert!(array.backward_masked_into(d, &mut z, Some(&wide)).is_err());
    // Nothing is marked without an output bound.
    let mut unbounded = c;
    unbounded.forward = rpusim::IoParameters::perfect();
    let mut array = TileArray::new(1, 4, unbounded, 1).unwrap();
    array
        .set_weights(Matrix::new(&[1.0, 1.0, 0.5, 0.5], array.out_size(), array.in_size()).unwrap())
        .unwrap();
    let any = array
        .forward_clipped_into(x, false, &mut y, Some(&mut clipped))
        .unwrap();
    assert!(!any);
}

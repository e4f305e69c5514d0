//! The fast kernels give the bits of the plain reference implementation, over random shapes and
//! configurations (property tests), for forward, backward and update, call after call.

mod common;

use common::reference_check::{check, config_strategy};
use proptest::prelude::*;
use rpusim::{IoParameters, Matrix, Tile, TileConfig};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn small_tiles(
        out in 1usize..24,
        inp in 1usize..40,
        n in 0usize..9,
        config in config_strategy(),
        seed in any::<u64>(),
        lr in prop_oneof![Just(0.0f32), 0.001f32..0.5],
    ) {
        check(out, inp, n, config, seed, lr, 3);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Big enough for the parallel paths, odd sizes for every kernel remainder.
    #[test]
    fn parallel_tiles(
        out in 130usize..200,
        inp in 130usize..270,
        n in 20usize..40,
        config in config_strategy(),
        seed in any::<u64>(),
    ) {
        check(out, inp, n, config, seed, 0.05, 2);
    }
}

/// The default configuration with perfect forward and backward passes.
fn perfect_periphery() -> TileConfig {
    TileConfig {
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        ..TileConfig::default()
    }
}

/// Wide tiles with one to three samples: the backward product streams the rows of `W` in
/// chunks of columns, the forward product takes eight rows of one sample at a time.
#[test]
fn wide_tiles_with_few_samples() {
    for (out, inp, n) in [(37, 700, 1), (9, 530, 2), (130, 600, 3)] {
        check(out, inp, n, TileConfig::default(), 3 + n as u64, 0.05, 2);
        check(out, inp, n, perfect_periphery(), 5, 0.05, 2);
    }
}

/// Many more sample values than weights, as a convolution's patches: the products go over
/// blocks of samples (several blocks forward and backward at these sizes).
#[test]
fn many_samples_on_small_tiles() {
    for (out, inp, n) in [(48, 27, 3000), (5, 300, 700)] {
        check(out, inp, n, TileConfig::default(), 11 + n as u64, 0.02, 2);
        check(out, inp, n, perfect_periphery(), 13, 0.02, 1);
    }
}

#[test]
fn default_config_on_a_large_tile() {
    check(257, 301, 67, TileConfig::default(), 7, 0.02, 2);
}

#[test]
fn empty_batches_do_nothing_but_count() {
    let mut t = Tile::new(3, 4, TileConfig::default(), 1).unwrap();
    assert!(t
        .forward(Matrix::new(&[], 0, t.in_size()).unwrap(), false)
        .unwrap()
        .is_empty());
    assert!(t
        .backward(Matrix::new(&[], 0, t.out_size()).unwrap())
        .unwrap()
        .is_empty());
    t.update(
        Matrix::new(&[], 0, t.in_size()).unwrap(),
        Matrix::new(&[], 0, t.out_size()).unwrap(),
        0.1,
    )
    .unwrap();
    let c = t.counters();
    assert_eq!((c.forward, c.backward, c.update), (1, 1, 1));
}

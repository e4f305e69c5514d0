//! `Tile::update` on square tiles, batch 100, the default configuration, learning rate 0.01:
//! the setup of `bench/tile_bench.py`. `x1` has errors d uniform in [-0.1, 0.1] (one pulse for
//! the largest pair), `x10` ten times larger. Throughput: pulses applied per call (counted on
//! one call before timing), so the report reads in pulses per second.
//!
//! `cargo bench -p rpusim --bench update`; `RPUSIM_NUM_THREADS=1` for one thread.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{inputs, square_tile, BATCH, SIZES};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rpusim::{Matrix, TileConfig};

const LR: f32 = 0.01;

fn update(c: &mut Criterion) {
    let mut group = c.benchmark_group("update");
    // A call takes milliseconds to a second: the same number of calls in every sample.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let (x, d) = inputs(n);
        let d10: Vec<f32> = d.iter().map(|v| 10.0 * v).collect();
        for (name, d) in [("x1", &d), ("x10", &d10)] {
            let mut tile = square_tile(n, TileConfig::default());
            tile.update(
                Matrix::new(&x, BATCH, tile.in_size()).unwrap(),
                Matrix::new(d, BATCH, tile.out_size()).unwrap(),
                LR,
            )
            .unwrap();
            group
                .measurement_time(Duration::from_secs(if n < 1024 { 3 } else { 8 }))
                .throughput(Throughput::Elements(tile.pulses()));
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    tile.update(
                        Matrix::new(black_box(&x), BATCH, tile.in_size()).unwrap(),
                        Matrix::new(black_box(d), BATCH, tile.out_size()).unwrap(),
                        LR,
                    )
                    .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, update);
criterion_main!(benches);

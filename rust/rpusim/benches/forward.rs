//! `Tile::forward_into` and `Tile::backward_into` on square tiles, batch 100, inputs uniform
//! in [-1, 1] (forward) and [-0.1, 0.1] (backward), with the default periphery (`default`) and
//! with `IoParameters::perfect()` (`perfect`: the plain product). Throughput: multiply-adds
//! per call, `n * n * 100`.
//!
//! `cargo bench -p rpusim --bench forward`; `RPUSIM_NUM_THREADS=1` for one thread.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{inputs, square_tile, BATCH, SIZES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpusim::{IoParameters, Matrix, Tile, TileConfig};

/// One pass of a batch: the tile, its input, its output.
type Pass = fn(&mut Tile, &[f32], &mut [f32]);

fn forward(tile: &mut Tile, x: &[f32], y: &mut [f32]) {
    let x = Matrix::new(x, BATCH, tile.in_size()).unwrap();
    tile.forward_into(x, false, y).unwrap();
}

fn backward(tile: &mut Tile, d: &[f32], z: &mut [f32]) {
    let d = Matrix::new(d, BATCH, tile.out_size()).unwrap();
    tile.backward_into(d, z).unwrap();
}

fn configs() -> [(&'static str, TileConfig); 2] {
    let perfect = TileConfig {
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        ..TileConfig::default()
    };
    [("default", TileConfig::default()), ("perfect", perfect)]
}

fn passes(c: &mut Criterion) {
    for (direction, pass) in [("forward", forward as Pass), ("backward", backward)] {
        let mut group = c.benchmark_group(direction);
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        for n in SIZES {
            let (x, d) = inputs(n);
            let input = if direction == "forward" { x } else { d };
            let mut out = vec![0.0; BATCH * n];
            group
                .measurement_time(Duration::from_secs(if n < 1024 { 2 } else { 4 }))
                .throughput(Throughput::Elements((n * n * BATCH) as u64));
            for (name, config) in configs() {
                let mut tile = square_tile(n, config);
                group.bench_function(BenchmarkId::new(name, n), |b| {
                    b.iter(|| pass(&mut tile, black_box(&input), &mut out))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, passes);
criterion_main!(benches);

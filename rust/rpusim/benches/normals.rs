//! `Stream::fill_normals`: 65 536 standard normals from one sequence, at the instruction set
//! the kernels pick (`auto`, which `RPUSIM_ISA` caps) and at every level the CPU has, capped
//! with `set_max_isa`. Throughput: normals per call.
//!
//! `cargo bench -p rpusim --bench normals`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpusim::cpu::detected_isa;
use rpusim::rng::{Op, Purpose, Stream};
use rpusim::{set_max_isa, Isa};

const COUNT: usize = 65_536;

fn fill_normals(c: &mut Criterion) {
    let stream = Stream::new(42, Op::Forward, Purpose::OutputNoise, 0);
    let mut out = vec![0.0f32; COUNT];
    let mut group = c.benchmark_group("fill_normals");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(COUNT as u64));
    group.bench_function("auto", |b| {
        b.iter(|| stream.fill_normals(black_box([1, 2, 3]), &mut out))
    });
    let detected = detected_isa();
    for isa in Isa::ALL.into_iter().filter(|&i| i <= detected) {
        set_max_isa(isa);
        group.bench_function(BenchmarkId::from_parameter(isa.name()), |b| {
            b.iter(|| stream.fill_normals(black_box([1, 2, 3]), &mut out))
        });
    }
    set_max_isa(detected);
    group.finish();
}

criterion_group!(benches, fill_normals);
criterion_main!(benches);

//! The kernels under criterion: one group per dtype and size, throughput in bytes read +
//! written, every op on every instruction-set level of this CPU beside the copy of the same
//! bytes.
//!
//! ```text
//! cargo bench -p rectify --bench criterion                      # 4K, 64K and 1M elements
//! RECTIFY_BENCH_SIZES=16M cargo bench -p rectify --bench criterion -- 'float32'
//! cargo bench -p rectify --bench criterion -- --test            # run each once (CI)
//! ```
//!
//! criterion runs benchmarks one after another, so on a shared machine a neighbour's burst
//! lands on whichever row is running; `benches/throughput.rs` interleaves the rows round by
//! round for the ratios in BENCHMARKS.md. This one gives criterion's confidence intervals
//! and its comparison with the previous run (`target/criterion`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rectify::{Isa, Kink, Par, Ramp, ReluMask, bf16, f16};

mod common;
use common::{Sample, data, parse_size};

fn sizes() -> Vec<usize> {
    let spec = std::env::var("RECTIFY_BENCH_SIZES").unwrap_or_else(|_| "4K,64K,1M".into());
    spec.split(',').map(parse_size).collect()
}

fn group<T: Sample>(c: &mut Criterion, n: usize) {
    let e = (n * size_of::<T>()) as u64;
    let x = data::<T>(n, 5);
    let dy = data::<T>(n, 6);
    let mask = ReluMask::from_input(&x);
    let mut out = vec![T::from_f32(0.0); n];
    let mut work = x.clone();
    let leaky = Ramp::leaky(0.01).unwrap();
    let relu6 = Ramp::relu6();
    let mut g = c.benchmark_group(format!("{} {n}", T::DTYPE.name()));

    g.throughput(Throughput::Bytes(2 * e));
    g.bench_function("copy (copy_from_slice)", |b| b.iter(|| out.copy_from_slice(black_box(&x))));
    for isa in Isa::available() {
        // Every call of a row runs on this level and one thread.
        let on = |f: &mut dyn FnMut()| rectify::with_isa(isa, || rectify::with_par(Par::Seq, f)).unwrap();
        let l = isa.name();
        g.throughput(Throughput::Bytes(2 * e));
        g.bench_function(format!("relu out of place [{l}]"), |b| {
            b.iter(|| on(&mut || rectify::relu(black_box(&x), &mut out)))
        });
        g.bench_function(format!("leaky 0.01 out of place [{l}]"), |b| {
            b.iter(|| on(&mut || leaky.forward(black_box(&x), &mut out)))
        });
        g.bench_function(format!("relu6 out of place [{l}]"), |b| {
            b.iter(|| on(&mut || relu6.forward(black_box(&x), &mut out)))
        });
        g.bench_function(format!("relu backward from mask [{l}]"), |b| {
            b.iter(|| on(&mut || rectify::relu_backward_from_mask(&mask, black_box(&dy), &mut out)))
        });
        // In place: restore mixed signs first (the copy's bytes count too).
        g.throughput(Throughput::Bytes(4 * e));
        g.bench_function(format!("relu in place [{l}]"), |b| {
            b.iter(|| {
                work.copy_from_slice(&x);
                on(&mut || rectify::relu_inplace(black_box(&mut work)))
            })
        });
        g.throughput(Throughput::Bytes(3 * e));
        g.bench_function(format!("relu backward (x, dy -> dx) [{l}]"), |b| {
            b.iter(|| on(&mut || rectify::relu_backward(black_box(&x), &dy, &mut out)))
        });
        g.bench_function(format!("relu6 backward [{l}]"), |b| {
            b.iter(|| on(&mut || relu6.backward(black_box(&x), &dy, &mut out, Kink::Lower)))
        });
    }
    g.finish();
}

fn kernels(c: &mut Criterion) {
    for n in sizes() {
        group::<f32>(c, n);
        group::<f64>(c, n);
        group::<f16>(c, n);
        group::<bf16>(c, n);
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);

//! Throughput: the rectify kernels against `copy_from_slice` and a naive loop, and ReLU
//! against sigmoid and tanh. GB/s counts the bytes read plus the bytes written.

use std::hint::black_box;
use std::time::Instant;

use rectify::ReluMask;
use serde::Serialize;

/// One measured op at one size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchRow {
    /// Elements (f32).
    pub elements: usize,
    /// The op.
    pub op: &'static str,
    /// Bytes read plus written per call.
    pub bytes: usize,
    /// Median seconds per call.
    pub seconds: f64,
    /// `bytes / seconds / 1e9`.
    pub gb_per_s: f64,
    /// `gb_per_s` of this op over that of `copy_from_slice` at the same size.
    pub ratio_to_copy: f64,
}

/// The result of [`bench()`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchResult {
    /// Rounds per op (the median is reported).
    pub rounds: usize,
    /// The instruction-set level of the kernels.
    pub isa: String,
    /// The threads the kernels may use.
    pub threads: usize,
    /// Rows by size, then op.
    pub rows: Vec<BenchRow>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times each closure `rounds` times, interleaved (op 1, op 2, ..., op 1, op 2, ...), each
/// sample repeating the call enough to last a few hundred microseconds; returns the median
/// seconds per call of each.
pub fn time_interleaved(elements: usize, rounds: usize, ops: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let reps = (1usize << 22).div_ceil(elements.max(1)).clamp(1, 4096);
    let mut samples = vec![Vec::with_capacity(rounds); ops.len()];
    for op in ops.iter_mut() {
        op(); // warm up: page in and fill the caches
    }
    for _ in 0..rounds.max(1) {
        for (op, s) in ops.iter_mut().zip(&mut samples) {
            let t0 = Instant::now();
            for _ in 0..reps {
                op();
            }
            s.push(t0.elapsed().as_secs_f64() / reps as f64);
        }
    }
    samples.into_iter().map(median).collect()
}

fn input(n: usize) -> Vec<f32> {
    // Half negative, half positive, in a fixed pattern the branch predictor cannot learn.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Benchmarks f32 at each size in `sizes`: `copy_from_slice`, a naive scalar loop,
/// `rectify::relu` out of place and in place, `relu_backward` and `relu_backward_from_mask`.
pub fn bench(sizes: &[usize], rounds: usize) -> BenchResult {
    let mut rows = Vec::new();
    for &n in sizes {
        let x = input(n);
        let dy = input(n);
        let mut y = vec![0.0f32; n];
        let mut z = x.clone();
        let mut dx = vec![0.0f32; n];
        let mask = ReluMask::from_input(&x);
        let f = 4usize;
        let names =
            ["copy_from_slice", "naive loop", "relu", "relu_inplace", "relu_backward", "relu_backward_from_mask"];
        let bytes = [2 * n * f, 2 * n * f, 2 * n * f, 2 * n * f, 3 * n * f, 2 * n * f + n.div_ceil(8)];
        let times = {
            let (x, dy, y, z, dx, mask) = (&x, &dy, &mut y, &mut z, &mut dx, &mask);
            // Each op owns its output buffer for the duration: the closures borrow disjointly.
            let mut y2 = vec![0.0f32; n];
            let mut dx2 = vec![0.0f32; n];
            let mut copy = || y.copy_from_slice(black_box(x));
            let mut naive = || {
                for (o, &v) in y2.iter_mut().zip(black_box(x)) {
                    *o = if v > 0.0 { v } else { 0.0 };
                }
            };
            let mut y3 = vec![0.0f32; n];
            let mut relu = || rectify::relu(black_box(x), &mut y3);
            let mut relu_inplace = || rectify::relu_inplace(black_box(&mut *z));
            let mut backward = || rectify::relu_backward(black_box(x), dy, &mut *dx);
            let mut from_mask = || rectify::relu_backward_from_mask(black_box(mask), dy, &mut dx2);
            time_interleaved(
                n,
                rounds,
                &mut [&mut copy, &mut naive, &mut relu, &mut relu_inplace, &mut backward, &mut from_mask],
            )
        };
        let copy_gbps = bytes[0] as f64 / times[0] / 1e9;
        for ((op, b), t) in names.into_iter().zip(bytes).zip(times) {
            let g = b as f64 / t / 1e9;
            rows.push(BenchRow { elements: n, op, bytes: b, seconds: t, gb_per_s: g, ratio_to_copy: g / copy_gbps });
        }
        black_box((&y, &z, &dx));
    }
    BenchResult { rounds, isa: rectify::isa().to_string(), threads: rectify::current_par().threads(), rows }
}

/// Forward throughput of ReLU (`rectify::relu`), sigmoid and tanh (plain loops) on the same
/// f32 array of `n` elements, in GB/s (claim 3: ReLU is cheap).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivationThroughput {
    /// Elements.
    pub elements: usize,
    /// `rectify::relu` GB/s.
    pub relu: f64,
    /// Sigmoid GB/s.
    pub sigmoid: f64,
    /// Tanh GB/s.
    pub tanh: f64,
}

/// Measures [`ActivationThroughput`] with `rounds` interleaved rounds.
pub fn activation_throughput(n: usize, rounds: usize) -> ActivationThroughput {
    let x = input(n);
    let (mut a, mut b, mut c) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let mut relu = || rectify::relu(black_box(&x), &mut a);
    let mut sig = || {
        for (o, &v) in b.iter_mut().zip(black_box(&x)) {
            *o = 1.0 / (1.0 + (-v).exp());
        }
    };
    let mut tanh = || {
        for (o, &v) in c.iter_mut().zip(black_box(&x)) {
            *o = v.tanh();
        }
    };
    let t = time_interleaved(n, rounds, &mut [&mut relu, &mut sig, &mut tanh]);
    let g = |t: f64| (8 * n) as f64 / t / 1e9;
    ActivationThroughput { elements: n, relu: g(t[0]), sigmoid: g(t[1]), tanh: g(t[2]) }
}

//! What both benchmarks share: the input data and the size syntax.

use rectify::{bf16, f16};

/// A float dtype the benchmarks fill from f32 values.
pub trait Sample: rectify::Float {
    fn from_f32(v: f32) -> Self;
}

impl Sample for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Sample for f64 {
    fn from_f32(v: f32) -> Self {
        v.into()
    }
}

impl Sample for f16 {
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl Sample for bf16 {
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// `n` values with mixed signs in [-10, 10] (steps of 0.01), from a xorshift seeded by `seed`.
pub fn data<T: Sample>(n: usize, seed: u32) -> Vec<T> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            T::from_f32((s % 2001) as f32 / 100.0 - 10.0)
        })
        .collect()
}

/// An element count such as `4096`, `4K`, `1M` or `1G`.
pub fn parse_size(s: &str) -> usize {
    let s = s.trim();
    let (num, mul) = match s.as_bytes().last() {
        Some(b'K') => (&s[..s.len() - 1], 1 << 10),
        Some(b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().expect("sizes like 4K, 1M") * mul
}

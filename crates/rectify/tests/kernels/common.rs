//! Shared test machinery: levels, thread settings, value pools, bit comparison.

use rectify::{Isa, Par, bf16, f16};

/// Raw bits of a float, for exact comparison (NaN payloads and the sign of zero count).
pub trait Bits: rectify::Float {
    fn to_u64(self) -> u64;
    fn from_u64(b: u64) -> Self;
    fn from_f64_lossy(v: f64) -> Self;
    const BITS: u32;
}

impl Bits for f32 {
    fn to_u64(self) -> u64 {
        self.to_bits() as u64
    }
    fn from_u64(b: u64) -> Self {
        f32::from_bits(b as u32)
    }
    fn from_f64_lossy(v: f64) -> Self {
        v as f32
    }
    const BITS: u32 = 32;
}

impl Bits for f64 {
    fn to_u64(self) -> u64 {
        self.to_bits()
    }
    fn from_u64(b: u64) -> Self {
        f64::from_bits(b)
    }
    fn from_f64_lossy(v: f64) -> Self {
        v
    }
    const BITS: u32 = 64;
}

impl Bits for f16 {
    fn to_u64(self) -> u64 {
        self.to_bits() as u64
    }
    fn from_u64(b: u64) -> Self {
        f16::from_bits(b as u16)
    }
    fn from_f64_lossy(v: f64) -> Self {
        f16::from_f64(v)
    }
    const BITS: u32 = 16;
}

impl Bits for bf16 {
    fn to_u64(self) -> u64 {
        self.to_bits() as u64
    }
    fn from_u64(b: u64) -> Self {
        bf16::from_bits(b as u16)
    }
    fn from_f64_lossy(v: f64) -> Self {
        bf16::from_f64(v)
    }
    const BITS: u32 = 16;
}

/// The levels to test: every one this CPU has. Honours `RECTIFY_REQUIRE_ISA`.
pub fn levels() -> Vec<Isa> {
    if let Ok(required) = std::env::var("RECTIFY_REQUIRE_ISA")
        && !required.is_empty()
    {
        let isa = Isa::from_name(&required).unwrap_or_else(|| panic!("RECTIFY_REQUIRE_ISA={required}: unknown level"));
        assert!(
            isa.is_available(),
            "RECTIFY_REQUIRE_ISA={required}, but this CPU does not have {isa}: it would be skipped"
        );
    }
    Isa::available()
}

/// Runs `f` under every level and the given thread settings, with splitting forced even for
/// tiny inputs when threads are asked for.
pub fn on_every_level(pars: &[Par], mut f: impl FnMut(Isa, Par)) {
    for isa in levels() {
        for &par in pars {
            rectify::with_isa(isa, || rectify::with_par(par, || rectify::par::with_split_threshold(1, || f(isa, par))))
                .expect("level reported available");
        }
    }
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The next float up or down by one ulp (by bits; for finite non-zero values).
pub fn ulp_step<T: Bits>(v: T, up: bool) -> T {
    let b = v.to_u64();
    let sign = 1u64 << (T::BITS - 1);
    let positive = b & sign == 0;
    T::from_u64(if up == positive { b + 1 } else { b - 1 })
}

/// The contract's edge-case vector for a dtype, around threshold `t` and cap `m`.
pub fn edge_values<T: Bits>(t: f64, m: f64) -> Vec<T> {
    let sign = 1u64 << (T::BITS - 1);
    let (exp_mask, quiet) = match T::BITS {
        16 if T::DTYPE == rectify::DType::F16 => (0x7c00u64, 0x0200u64),
        16 => (0x7f80, 0x0040),
        32 => (0x7f80_0000, 0x0040_0000),
        _ => (0x7ff0_0000_0000_0000, 0x0008_0000_0000_0000),
    };
    let min_normal = exp_mask & !(exp_mask << 1); // lowest exponent bit
    let max_finite = (exp_mask - min_normal) | (min_normal - 1);
    let mut v = vec![
        T::from_u64(exp_mask | quiet | 5),        // +NaN with a payload
        T::from_u64(sign | exp_mask | quiet | 3), // -NaN with a payload
        T::from_u64(exp_mask | 1),                // signalling NaN
        T::from_u64(exp_mask),                    // +inf
        T::from_u64(sign | exp_mask),             // -inf
        T::from_u64(sign),                        // -0.0
        T::from_u64(0),                           // +0.0
        T::from_u64(1),                           // smallest subnormal
        T::from_u64(sign | 1),
        T::from_u64(min_normal), // smallest normal
        T::from_u64(sign | min_normal),
        T::from_f64_lossy(1.0),
        T::from_f64_lossy(-1.0),
        T::from_u64(max_finite), // largest finite
        T::from_u64(sign | max_finite),
    ];
    for p in [t, m] {
        if p.is_finite() {
            let p = T::from_f64_lossy(p);
            v.push(p);
            if p.to_u64() & !sign != 0 {
                v.push(ulp_step(p, true));
                v.push(ulp_step(p, false));
            }
        }
    }
    v
}

/// A pool of test inputs: the edge values, random bit patterns and random moderate values.
pub fn pool<T: Bits>(t: f64, m: f64, seed: u64) -> Vec<T> {
    let mut rng = Rng(seed);
    let mut v = edge_values::<T>(t, m);
    for _ in 0..64 {
        v.push(T::from_u64(rng.next_u64() >> (64 - T::BITS)));
    }
    for _ in 0..128 {
        let r = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        v.push(T::from_f64_lossy((r - 0.5) * 16.0));
    }
    v
}

/// Panics with a precise message when two results differ in any bit.
#[track_caller]
pub fn assert_bits_eq<T: Bits>(got: &[T], want: &[T], what: &dyn Fn() -> String) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.to_u64() != w.to_u64() {
            panic!("{}: element {i}: got {g:?} ({:#x}), want {w:?} ({:#x})", what(), g.to_u64(), w.to_u64());
        }
    }
}

//! Instruction-set levels and their entry points.
//!
//! | level | CPU features | chosen |
//! |---|---|---|
//! | `scalar` | the build's baseline (SSE2 on x86-64, NEON on aarch64) | always available |
//! | `v3` | x86-64-v3: AVX, AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE | at run time, once |
//! | `v4` | x86-64-v4: v3 + AVX-512 F/BW/CD/DQ/VL | at run time, once |
//!
//! Each level is a copy of the drivers in [`generic`] compiled under that level's
//! `#[target_feature]`. The attribute sits on the entry points only; everything they call is
//! `#[inline(always)]`, so the whole loop is generated for the level (an inner call that was
//! not inlined would fall back to the baseline and lose the vector width).

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod generic;
pub(crate) mod stream;

use crate::element::{Element, Float};
use crate::kernels::{Map1, Map2, Map3, Product};

/// Proof that an instruction-set level is available: only [`crate::dispatch`] makes one,
/// after checking the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Level(crate::dispatch::Isa);

impl Level {
    /// # Safety
    /// The CPU must support every feature of `isa`.
    pub(crate) const unsafe fn new_unchecked(isa: crate::dispatch::Isa) -> Level {
        Level(isa)
    }

    pub(crate) fn isa(self) -> crate::dispatch::Isa {
        self.0
    }

    /// x86-64-v3 where this is v4, else this level: for the drivers whose v3 code measured
    /// faster than v4's. Sound because a v4 `Level` exists only where
    /// `Isa::V4.is_available()`, which checks every v3 feature too.
    pub(crate) fn v3_for_v4(self) -> Level {
        match self.0 {
            crate::dispatch::Isa::V4 => Level(crate::dispatch::Isa::V3),
            _ => self,
        }
    }
}

/// The one list of drivers: generates each level's entry points (with its target
/// features) and the dispatching wrapper (one `match` on the level, outside the loop).
/// Drivers listed under `x86_bodies` use the explicit AVX2 bodies of [`generic::x86`] on v3
/// and v4 (AVX2 instructions are part of v4 too); those under `level_bodies` are drivers of
/// [`generic::x86`] written once for both levels, given what differs between them
/// ([`generic::x86::LevelBodies`]: AVX2 on v3, AVX-512 on v4).
macro_rules! drivers {
    (
        portable { $(fn $name:ident <$($g:ident : $b:path),*> ($($arg:ident : $ty:ty),*);)* }
        x86_bodies { $(fn $mname:ident <$($mg:ident : $mb:path),*> ($($marg:ident : $mty:ty),*);)* }
        level_bodies { $(fn $kname:ident <$($kg:ident : $kb:path),*> ($($karg:ident : $kty:ty),*);)* }
    ) => {
        drivers!(@level v3, V3, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt",
            portable { $(fn $name <$($g : $b),*> ($($arg : $ty),*);)* }
            x86_bodies { $(fn $mname <$($mg : $mb),*> ($($marg : $mty),*);)* }
            level_bodies { $(fn $kname <$($kg : $kb),*> ($($karg : $kty),*);)* });
        drivers!(@level v4, V4, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl",
            portable { $(fn $name <$($g : $b),*> ($($arg : $ty),*);)* }
            x86_bodies { $(fn $mname <$($mg : $mb),*> ($($marg : $mty),*);)* }
            level_bodies { $(fn $kname <$($kg : $kb),*> ($($karg : $kty),*);)* });
        $(drivers!(@dispatch $name <$($g : $b),*> ($($arg : $ty),*));)*
        $(drivers!(@dispatch $mname <$($mg : $mb),*> ($($marg : $mty),*));)*
        $(drivers!(@dispatch $kname <$($kg : $kb),*> ($($karg : $kty),*));)*
    };
    (@level $level:ident, $bodies:ident, $features:literal,
        portable { $(fn $name:ident <$($g:ident : $b:path),*> ($($arg:ident : $ty:ty),*);)* }
        x86_bodies { $(fn $mname:ident <$($mg:ident : $mb:path),*> ($($marg:ident : $mty:ty),*);)* }
        level_bodies { $(fn $kname:ident <$($kg:ident : $kb:path),*> ($($karg:ident : $kty:ty),*);)* }
    ) => {
        #[cfg(target_arch = "x86_64")]
        pub(crate) mod $level {
            use super::generic;
            use crate::element::{Element, Float};
            use crate::kernels::{Map1, Map2, Map3, Product};
            $(
                /// # Safety
                /// The CPU must support this level.
                #[target_feature(enable = $features)]
                pub(crate) unsafe fn $name<$($g: $b),*>($($arg: $ty),*) {
                    generic::$name($($arg),*)
                }
            )*
            $(
                /// # Safety
                /// The CPU must support this level.
                #[target_feature(enable = $features)]
                pub(crate) unsafe fn $mname<$($mg: $mb),*>($($marg: $mty),*) {
                    // SAFETY: this level includes x86-64-v3.
                    unsafe { generic::x86::$mname($($marg),*) }
                }
            )*
            $(
                /// # Safety
                /// The CPU must support this level.
                #[target_feature(enable = $features)]
                pub(crate) unsafe fn $kname<$($kg: $kb),*>($($karg: $kty),*) {
                    // SAFETY: the CPU supports this level, whose bodies these are.
                    unsafe { generic::x86::$kname::<generic::x86::$bodies, $($kg),*>($($karg),*) }
                }
            )*
        }
    };
    (@dispatch $name:ident <$($g:ident : $b:path),*> ($($arg:ident : $ty:ty),*)) => {
        #[inline]
        pub(crate) fn $name<$($g: $b),*>(level: Level, $($arg: $ty),*) {
            use crate::dispatch::Isa;
            match level.isa() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a `Level` of V3 exists only after the CPU was found to have it.
                Isa::V3 => unsafe { v3::$name($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: a `Level` of V4 exists only after the CPU was found to have it.
                Isa::V4 => unsafe { v4::$name($($arg),*) },
                _ => generic::$name($($arg),*),
            }
        }
    };
}

drivers! {
    portable {
        fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]);
        fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]);
        fn map3<T: Copy, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]);
        fn bias_relu_rows<T: Float>(a: &mut [T], bias: &[T]);
    }
    x86_bodies {
        fn relu_stream<T: Element>(x: &[T], y: &mut [T]);
        fn relu_with_mask_stream<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]);
        fn select_by_mask_stream<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]);
    }
    level_bodies {
        fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]);
        fn product_select_stream<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]);
        fn product_select_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]);
        fn product_select_inplace_spans<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]);
        fn prelu_planes<T: Float>(x: &[T], weight: &[T], run: usize, y: &mut [T]);
        fn prelu_backward_rows<T: Float, D: generic::PreluDx<T>>(x: &[T], dy: &[T], dx: &mut [T], planes: &D, acc: &mut [f64]);
        fn prelu_planes_inplace<T: Float>(weight: &[T], run: usize, x: &mut [T]);
        fn map1_inplace<T: Copy, K: Map1<T>>(k: &K, x: &mut [T]);
        fn map2_inplace<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]);
        fn relu_inplace<T: Element>(x: &mut [T]);
        fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]);
        fn map1_inplace_spans<T: Copy, K: Map1<T>>(k: &K, x: &mut [T]);
        fn map2_inplace_spans<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]);
        fn relu_inplace_spans<T: Element>(x: &mut [T]);
        fn relu_backward_inplace_spans<T: Element>(x: &[T], dy: &mut [T]);
        fn relu<T: Element>(x: &[T], y: &mut [T]);
        fn pack_positive<T: Element>(x: &[T], words: &mut [u64]);
        fn relu_with_mask<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]);
        fn select_by_mask<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]);
        fn select_by_mask_inplace<T: Element>(words: &[u64], dy: &mut [T]);
    }
}

/// Out-of-place calls whose arrays (the inputs and the output) add up to at least this
/// many bytes write with non-temporal stores (on v3 and v4), where regular stores pay a
/// read-for-ownership of every destination line: an output from 32 MiB for one input,
/// beyond the 32 MiB last-level cache of the project's Intel Xeon, where an output of 16
/// MiB still ran at copy speed with plain stores (and from 21.3 MiB for two inputs, whose
/// copy streamed faster there already in the L3: f32 at 256K elements 43.6 GB/s against
/// 32.9 with plain stores).
pub(crate) const STREAM_MIN_BYTES: usize = 64 << 20;

/// [`STREAM_MIN_BYTES`] on AMD CPUs: 12 MiB an output for one input, 8 MiB for two. On the
/// project's AMD EPYC (Zen 4, 32 MiB L3), `./scripts/bench`'s copies: 16 MiB of arrays
/// (f64, 1M elements, one in and one out) 62 GB/s with plain stores, 48 streamed; 24 MiB
/// (the same, two in and one out) 33 and 54-69; 32 MiB (f32, 4M, one in and one out) 31-32
/// and 42-46.
pub(crate) const STREAM_MIN_BYTES_AMD: usize = 24 << 20;

/// Whether walks beyond the caches prefetch ahead in this thread: where the streaming
/// drivers do (`stream::prefetches_ahead`; Intel), not on AMD.
pub(crate) fn prefetches_ahead() -> bool {
    #[cfg(target_arch = "x86_64")]
    return stream::prefetches_ahead();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The threshold of non-temporal stores on this machine ([`STREAM_MIN_BYTES`],
/// [`STREAM_MIN_BYTES_AMD`]).
pub(crate) fn stream_min_bytes() -> usize {
    if crate::dispatch::amd() { STREAM_MIN_BYTES_AMD } else { STREAM_MIN_BYTES }
}

macro_rules! stream_entry {
    ($name:ident, $features:literal, $inner:ident <$($g:ident : $b:path),*> ($($arg:ident : $ty:ty),*)) => {
        /// # Safety
        /// The CPU must support this level.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name<$($g: $b),*>($($arg: $ty),*) {
            // SAFETY: this level includes AVX.
            unsafe { stream::$inner($($arg),*) }
        }
    };
}

stream_entry!(map1_stream_v3, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt", map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]));
stream_entry!(map1_stream_v4, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl", map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]));
stream_entry!(map2_stream_v3, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt", map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]));
stream_entry!(map2_stream_v4, "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl", map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]));

/// [`map1`] with non-temporal stores where the level has them ([`stream::map1`]: steps
/// computed into an L1 temporary and streamed out by explicit AVX2 stores). (An earlier
/// driver let LLVM stream its AVX-512 vectors, as two halves each, and v4 ran v3's code
/// there; with the explicit stores v4's own is as fast or faster, measured on the AVX-512
/// Xeon at 16M and 64M elements: f32 leaky, ReLU6 equal, f16 ReLU6 20-21 -> 23-24 GB/s.)
pub(crate) fn map1_stream<T: Copy, K: Map1<T>>(level: Level, k: &K, x: &[T], y: &mut [T]) {
    use crate::dispatch::Isa;
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Level` of V3 exists only after the CPU was found to have it.
        Isa::V3 => unsafe { map1_stream_v3(k, x, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Level` of V4 exists only after the CPU was found to have it.
        Isa::V4 => unsafe { map1_stream_v4(k, x, y) },
        _ => map1(level, k, x, y),
    }
}

/// [`map2`] with non-temporal stores where the level has them, as [`map1_stream`] (v4's
/// own code: f32 ReLU6 backward at 16M and 64M elements 17-18 -> 20-22 GB/s against v3's,
/// the ramp backward with the `Mid` kink 13 -> 16-17).
pub(crate) fn map2_stream<T: Copy, K: Map2<T>>(level: Level, k: &K, a: &[T], b: &[T], out: &mut [T]) {
    use crate::dispatch::Isa;
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Level` of V3 exists only after the CPU was found to have it.
        Isa::V3 => unsafe { map2_stream_v3(k, a, b, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a `Level` of V4 exists only after the CPU was found to have it.
        Isa::V4 => unsafe { map2_stream_v4(k, a, b, out) },
        _ => map2(level, k, a, b, out),
    }
}

//! AVX-512 bodies for the 1-bit mask, one 64-element word at a time. Here the mask is the
//! instruction set's own: a compare writes a mask register (16 f32, 8 f64 or 32 16-bit
//! lanes, one bit each, in lane order), which moves to the word in one instruction, and a
//! word's bits load `dy` with zeroing (`vmovdqu32 zmm{k}{z}`), one instruction per vector.
//! The AVX2 bodies need 12 instructions to pack a word of f32 and 4 per vector to select.
//! Reached only through the v4 entry points; each body is checked against the portable one
//! by the tests.

#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::*;
use core::mem::size_of;

use half::{bf16, f16};

use crate::arch::avx2::{self, Convert16, Half};
use crate::arch::generic::SumLanes;
use crate::kernels::{Lanes, Product};

/// The bits `x > 0` (false for NaN) of 64 f32.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn pack_word_f32(x: &[f32; 64]) -> u64 {
    let mut w = 0u64;
    for (j, sixteen) in x.chunks_exact(16).enumerate() {
        // SAFETY: AVX-512F (caller); `sixteen` holds 16 f32; the ordered compare is false
        // for NaN.
        let bits = unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_loadu_ps(sixteen.as_ptr()), _mm512_setzero_ps()) };
        w |= u64::from(bits) << (16 * j);
    }
    w
}

/// The bits `x > 0` (false for NaN) of 64 f64.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn pack_word_f64(x: &[f64; 64]) -> u64 {
    let mut w = 0u64;
    for (j, eight) in x.chunks_exact(8).enumerate() {
        // SAFETY: AVX-512F (caller); `eight` holds 8 f64.
        let bits = unsafe { _mm512_cmp_pd_mask::<_CMP_GT_OQ>(_mm512_loadu_pd(eight.as_ptr()), _mm512_setzero_pd()) };
        w |= u64::from(bits) << (8 * j);
    }
    w
}

/// The bits `x > 0` of 64 raw 16-bit floats whose positive infinity has bits `inf`: as
/// signed integers, `0 < s <= inf` (positive NaNs are above `inf`).
///
/// # Safety
/// AVX-512BW must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn pack_word_16<T: Copy>(x: &[T; 64], inf: i16) -> u64 {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut w = 0u64;
    for (j, half) in x.chunks_exact(32).enumerate() {
        // SAFETY: AVX-512BW (caller); `half` holds 32 two-byte lanes.
        let bits = unsafe { above_zero_16(_mm512_loadu_si512(half.as_ptr().cast()), inf) };
        w |= u64::from(bits) << (32 * j);
    }
    w
}

/// The bits `x > 0` of 32 raw 16-bit floats whose positive infinity has bits `inf`: the
/// lanes `1 <= s <= inf` as unsigned integers, which is `s - 1 < inf` (wrapping, unsigned:
/// zero wraps to the top, the negative values and NaNs stay at or above `inf`). One
/// compare, on the one port that every compare into a mask register takes, where `0 < s`
/// and `s <= inf` took two (measured on the AVX-512 Xeon, forward with mask at 4K
/// elements: f16 123 -> 128 GB/s, bf16 122 -> 127; at 64K and 256K within noise, where the
/// loads and stores bound it).
///
/// # Safety
/// AVX-512BW must be available.
#[inline(always)]
unsafe fn above_zero_16(s: __m512i, inf: i16) -> u32 {
    // SAFETY: AVX-512BW (caller).
    unsafe { _mm512_cmplt_epu16_mask(_mm512_sub_epi16(s, _mm512_set1_epi16(1)), _mm512_set1_epi16(inf)) }
}

/// The `vfixupimm` table of ReLU: for each class of input (4 bits each, from bit 0: quiet
/// NaN, signalling NaN, zero of either sign, +1, -inf, +inf, negative, positive), what the
/// lane gets: `1` passes the input through unchanged (NaNs keep payload and sign, signalling
/// ones are not quieted), `8` gives +0.0. One instruction per vector for what is otherwise a
/// compare into a mask register and a zeroing move; measured on an AVX-512 Xeon, a plain
/// loop of f32 ReLU at 4K elements in L1: 318 -> 380 GB/s (the copy: 489; any one vector
/// instruction between the load and the store measured ~390 there).
const RELU_FIXUP: i32 = 0x1818_1811;

/// `y = relu(x)` for 64 f32: one `vfixupimmps` per vector.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn relu_word_f32(x: &[f32; 64], y: &mut [f32; 64]) {
    // Every load before the first store: a load after a store to an address 4 KiB apart
    // in its low bits waits for it (when `y` is just past `x`, the next load would). No
    // closure (`array::from_fn`): one compiled without AVX-512 would pass the vectors
    // through memory in another layout.
    // SAFETY: AVX-512F (caller); 4 x 16 f32 each side.
    unsafe {
        let mut v = [_mm512_setzero_ps(); 4];
        for (j, v) in v.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(x.as_ptr().add(16 * j));
        }
        for (j, v) in v.into_iter().enumerate() {
            _mm512_storeu_ps(y.as_mut_ptr().add(16 * j), relu_f32x16(v));
        }
    }
}

/// `y = relu(x)` for 64 f64: one `vfixupimmpd` per vector.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn relu_word_f64(x: &[f64; 64], y: &mut [f64; 64]) {
    // As in `relu_word_f32`, every load first.
    // SAFETY: AVX-512F (caller); 8 x 8 f64 each side.
    unsafe {
        let mut v = [_mm512_setzero_pd(); 8];
        for (j, v) in v.iter_mut().enumerate() {
            *v = _mm512_loadu_pd(x.as_ptr().add(8 * j));
        }
        for (j, v) in v.into_iter().enumerate() {
            _mm512_storeu_pd(y.as_mut_ptr().add(8 * j), relu_f64x8(v));
        }
    }
}

/// ReLU of 16 f32 by [`RELU_FIXUP`].
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn relu_f32x16(v: __m512) -> __m512 {
    // SAFETY: AVX-512F (caller).
    unsafe { _mm512_fixupimm_ps::<0>(v, v, _mm512_set1_epi32(RELU_FIXUP)) }
}

/// ReLU of 8 f64 by [`RELU_FIXUP`] (the table is the low 32 bits of each lane).
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn relu_f64x8(v: __m512d) -> __m512d {
    // SAFETY: AVX-512F (caller).
    unsafe { _mm512_fixupimm_pd::<0>(v, v, _mm512_set1_epi64(i64::from(RELU_FIXUP))) }
}

/// `y = relu(x)` and the mask word (`x > 0`) of 64 f32 in one pass: per vector one load,
/// two compares into mask registers (`!(x <= 0)` keeps NaN for the output, `x > 0` is the
/// bit) and a zeroing store. ([`RELU_FIXUP`] for the output measured 8% faster at 4K
/// elements and 7% slower at 64K and 256K, as in ReLU; the mask drivers have no size
/// switch.)
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_f32(x: &[f32; 64], y: &mut [f32; 64]) -> u64 {
    let mut w = 0u64;
    for (j, (x, y)) in x.chunks_exact(16).zip(y.chunks_exact_mut(16)).enumerate() {
        // SAFETY: AVX-512F (caller); 16 f32 each side.
        let bits = unsafe {
            let v = _mm512_loadu_ps(x.as_ptr());
            let keep = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(v, _mm512_setzero_ps());
            _mm512_storeu_ps(y.as_mut_ptr(), _mm512_maskz_mov_ps(keep, v));
            _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, _mm512_setzero_ps())
        };
        w |= u64::from(bits) << (16 * j);
    }
    w
}

/// As [`relu_mask_word_f32`] for 64 f64.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_f64(x: &[f64; 64], y: &mut [f64; 64]) -> u64 {
    let mut w = 0u64;
    for (j, (x, y)) in x.chunks_exact(8).zip(y.chunks_exact_mut(8)).enumerate() {
        // SAFETY: AVX-512F (caller); 8 f64 each side.
        let bits = unsafe {
            let v = _mm512_loadu_pd(x.as_ptr());
            let keep = _mm512_cmp_pd_mask::<_CMP_NLE_UQ>(v, _mm512_setzero_pd());
            _mm512_storeu_pd(y.as_mut_ptr(), _mm512_maskz_mov_pd(keep, v));
            _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, _mm512_setzero_pd())
        };
        w |= u64::from(bits) << (8 * j);
    }
    w
}

/// As [`relu_mask_word_f32`] for 64 raw 16-bit floats whose positive infinity has bits
/// `inf`: the output keeps the lanes above `0x8000 | inf` as signed integers (the positive
/// values and every NaN), the bit is `0 < s <= inf`.
///
/// # Safety
/// AVX-512BW must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_16<T: Copy>(x: &[T; 64], y: &mut [T; 64], inf: i16) -> u64 {
    debug_assert_eq!(size_of::<T>(), 2);
    // SAFETY: AVX-512BW (caller); 64 two-byte lanes each side, 32 per vector.
    unsafe {
        // Both loads before the stores: a store to `y` followed by a load of `x` 4 KiB
        // apart waits for it (4K aliasing; measured on the AVX-512 Xeon, bf16 at 64K
        // elements, where the two arrays had that offset: 62 -> 77-79 GB/s).
        let s = [_mm512_loadu_si512(x.as_ptr().cast()), _mm512_loadu_si512(x.as_ptr().add(32).cast())];
        let mut w = 0u64;
        for (j, &s) in s.iter().enumerate() {
            // As signed integers, the positive values and every NaN are above -inf's bits.
            let keep = _mm512_cmpgt_epi16_mask(s, _mm512_set1_epi16(inf | i16::MIN));
            _mm512_storeu_si512(y.as_mut_ptr().add(32 * j).cast(), _mm512_maskz_mov_epi16(keep, s));
            w |= u64::from(above_zero_16(s, inf)) << (32 * j);
        }
        w
    }
}

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 16, 32 or 64
/// bits: each vector of `dy` is loaded through its share of the word, zeroing the lanes
/// whose bit is clear.
///
/// # Safety
/// AVX-512F and AVX-512BW must be available; `T` must be 2, 4 or 8 bytes.
#[inline(always)]
pub(crate) unsafe fn select_word<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    let (dy, dx) = (dy.as_ptr(), dx.as_mut_ptr());
    // SAFETY: AVX-512F/BW (caller); in every arm the lanes are of `T`'s size, so the vectors
    // at 64-byte steps cover the 64 elements of each array exactly.
    unsafe {
        match size_of::<T>() {
            2 => {
                for j in 0..2 {
                    let g = _mm512_maskz_loadu_epi16((w >> (32 * j)) as u32, dy.cast::<i16>().add(32 * j));
                    _mm512_storeu_si512(dx.cast::<i16>().add(32 * j).cast(), g);
                }
            }
            4 => {
                for j in 0..4 {
                    let g = _mm512_maskz_loadu_epi32((w >> (16 * j)) as u16, dy.cast::<i32>().add(16 * j));
                    _mm512_storeu_si512(dx.cast::<i32>().add(16 * j).cast(), g);
                }
            }
            8 => {
                for j in 0..8 {
                    let g = _mm512_maskz_loadu_epi64((w >> (8 * j)) as u8, dy.cast::<i64>().add(8 * j));
                    _mm512_storeu_si512(dx.cast::<i64>().add(8 * j).cast(), g);
                }
            }
            _ => unreachable!("select_word: lanes of 2, 4 or 8 bytes"),
        }
    }
}

/// Sixteen f32 lanes in an AVX-512 register: the [`Convert16::V`] of the v4 converters.
///
/// Values exist only inside the v4 drivers (the type is crate-private and made only by the
/// converters' widening and [`Lanes::splat`] there), which run after x86-64-v4 was
/// detected; that is what makes the intrinsics below sound.
#[derive(Clone, Copy)]
pub(crate) struct F32x16(__m512);

impl core::ops::Add for F32x16 {
    type Output = F32x16;
    #[inline(always)]
    fn add(self, other: F32x16) -> F32x16 {
        // SAFETY: an F32x16 exists only where AVX-512F is available (see the type).
        F32x16(unsafe { _mm512_add_ps(self.0, other.0) })
    }
}

impl core::ops::Sub for F32x16 {
    type Output = F32x16;
    #[inline(always)]
    fn sub(self, other: F32x16) -> F32x16 {
        // SAFETY: an F32x16 exists only where AVX-512F is available (see the type).
        F32x16(unsafe { _mm512_sub_ps(self.0, other.0) })
    }
}

impl core::ops::Mul for F32x16 {
    type Output = F32x16;
    #[inline(always)]
    fn mul(self, other: F32x16) -> F32x16 {
        // SAFETY: an F32x16 exists only where AVX-512F is available (see the type).
        F32x16(unsafe { _mm512_mul_ps(self.0, other.0) })
    }
}

impl Lanes<f32> for F32x16 {
    #[inline(always)]
    fn splat(v: f32) -> F32x16 {
        // SAFETY: called only inside the v4 drivers (see the type).
        F32x16(unsafe { _mm512_set1_ps(v) })
    }
    #[inline(always)]
    fn if_eq(self, other: F32x16, then: F32x16, otherwise: F32x16) -> F32x16 {
        // SAFETY: an F32x16 exists only where AVX-512F is available (see the type). The
        // ordered compare is IEEE equality: -0.0 == +0.0, NaN equal to nothing.
        F32x16(unsafe {
            let equal = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(self.0, other.0);
            _mm512_mask_blend_ps(equal, otherwise.0, then.0)
        })
    }
}

/// The 16-bit floats' conversions of 16 lanes to and from f32 in one AVX-512 register.
pub(crate) trait Half512: Half {
    /// As [`Convert16::widen16`].
    ///
    /// # Safety
    /// x86-64-v4 must be available; `src` readable for 16 elements.
    unsafe fn widen16(src: *const Self) -> F32x16;
    /// As [`Convert16::narrow16`].
    ///
    /// # Safety
    /// x86-64-v4 must be available.
    unsafe fn narrow16(v: F32x16) -> __m256i;
    /// As [`Convert16::narrow16_unless_nan`].
    ///
    /// # Safety
    /// x86-64-v4 must be available.
    #[inline(always)]
    unsafe fn narrow16_unless_nan(v: F32x16) -> __m256i {
        // SAFETY: forwarded from the caller.
        unsafe { Self::narrow16(v) }
    }
    /// As [`Half512::narrow16`], with the instructions of AVX-512 BF16 where they give the
    /// same bits (default: [`Half512::narrow16`]).
    ///
    /// # Safety
    /// x86-64-v4 must be available, and for bf16 AVX-512 BF16.
    #[inline(always)]
    unsafe fn narrow16_native(v: F32x16) -> __m256i {
        // SAFETY: forwarded from the caller.
        unsafe { Self::narrow16(v) }
    }
    /// The ops of [`scale_f16`] (`DY` false: `out = x < 0 ? c * x : x`; true:
    /// `out = x > 0 ? dy : x is NaN ? +0.0 : c * dy`) on whole 512-bit registers of raw
    /// lanes, where the CPU has the extension that makes that give the bits of the f32 route
    /// (f16: multiplied in f16 with AVX-512 FP16, [`scale_f16`]; bf16: rounded with AVX-512
    /// BF16, [`scale_bf16`]); `false` (and nothing written) where it does not. Default:
    /// `false`.
    ///
    /// # Safety
    /// x86-64-v4 must be available; `x` (and with `DY`, `dy`) readable and `out` writable
    /// for `n` elements. `out` may be `x` or `dy` (each lane is read before it is written);
    /// otherwise they do not overlap.
    #[inline(always)]
    unsafe fn scale_native<const DY: bool>(c: f32, x: *const Self, dy: *const Self, out: *mut Self, n: usize) -> bool {
        let _ = (c, x, dy, out, n);
        false
    }
    /// PReLU backward of one channel plane of slope `c` in one pass ([`prelu_plane32`]):
    /// the slope gradient's terms into `lanes` as
    /// [`crate::arch::generic::add_terms_to_lanes`] and `dx = x > 0 ? dy : x is NaN ? +0.0
    /// : c * dy`. `far`: the plane lies beyond the caches, and the loop prefetches ahead.
    ///
    /// # Safety
    /// x86-64-v4 must be available; `x` starts on a plane's lane 0.
    #[inline(always)]
    unsafe fn prelu_plane(c: f32, x: &[Self], dy: &[Self], dx: &mut [Self], lanes: &mut SumLanes, far: bool) {
        // SAFETY: x86-64-v4 and a plane's lane 0 (caller).
        unsafe { prelu_plane32::<Self, PlainNarrow>(c, x, dy, dx, lanes, far) }
    }
    /// The PReLU slope gradient's terms of 16 widened lanes added to a plane's 16 lanes
    /// (`acc`: lanes 0-7, 8-15): `lane = x < 0 ? fma(x, dy, lane) : lane` in f64, as
    /// [`crate::arch::generic::add_terms_to_lanes_fma`] (default: that FMA, each half of
    /// the lanes widened to f64).
    ///
    /// # Safety
    /// x86-64-v4 must be available.
    #[inline(always)]
    unsafe fn add_terms16(x: F32x16, dy: F32x16, acc: &mut [__m512d; 2]) {
        // SAFETY: AVX-512F (caller).
        unsafe { add_terms16_by_fma(below_zero(x), x, dy, acc) }
    }
    /// [`Half512::scale_native`] for `k` where it is one of its two ops, told by its
    /// constants: a unary op whose negative inputs take the product (`DY` false, over `x`),
    /// or the binary `(x, dy)` one that passes `dy` above zero (`DY` true); `false`
    /// otherwise.
    ///
    /// # Safety
    /// As [`Half512::scale_native`]; `dy` is read only for a binary op.
    #[inline(always)]
    unsafe fn scale_op<K: Product<Self>>(k: &K, x: *const Self, dy: *const Self, out: *mut Self, n: usize) -> bool {
        let Some(c) = k.scale() else { return false };
        if K::NEGATIVE_TAKES_PRODUCT && !K::BINARY {
            // SAFETY: forwarded from the caller.
            unsafe { Self::scale_native::<false>(c, x, x, out, n) }
        } else if K::DY_ABOVE_ZERO && K::BINARY {
            // SAFETY: forwarded from the caller.
            unsafe { Self::scale_native::<true>(c, x, dy, out, n) }
        } else {
            false
        }
    }
}

impl Half512 for f16 {
    /// With AVX-512 FP16, for an f16 value `c`: then `c * x` is exact in f32 (11 by 11
    /// significant bits, magnitudes between 2^-48 and 2^32), so the f32 route rounds once,
    /// to nearest even, as `vmulph` does ([`scale_f16`]); a NaN comes out quieted with its
    /// payload either way.
    ///
    /// Below [`SCALE_F16_MIN_LEN`] lanes the f32 route stays: there the call, the checks
    /// and the masked head and tail cost more than the conversions.
    #[inline(always)]
    unsafe fn scale_native<const DY: bool>(c: f32, x: *const f16, dy: *const f16, out: *mut f16, n: usize) -> bool {
        if n < SCALE_F16_MIN_LEN {
            return false;
        }
        // SAFETY: x86-64-v4 includes F16C (caller). The round trip in two instructions:
        // `f16::from_f32` is a software conversion here, which a small PReLU plane feels.
        let (bits, exact) = unsafe {
            let narrow = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(c));
            (_mm_extract_epi16::<0>(narrow) as u16, _mm_cvtss_f32(_mm_cvtph_ps(narrow)) == c)
        };
        if !exact || !crate::dispatch::fp16_extension() {
            return false;
        }
        // SAFETY: x86-64-v4 (caller) and AVX-512 FP16, just detected; the n lanes as the
        // caller gives them.
        unsafe { scale_f16::<DY>(f16::from_bits(bits), x, dy, out, n) };
        true
    }
    /// The product of two f16 values is exact in f32 (11 by 11 significant bits,
    /// magnitudes between 2^-48 and 2^32), so it is multiplied there, where the lane is
    /// below zero (`+0.0` elsewhere: adding it leaves a sum that is never `-0.0`), and
    /// widened to f64 as a whole: one conversion of 16 lanes where the FMA takes two.
    #[inline(always)]
    unsafe fn add_terms16(x: F32x16, dy: F32x16, acc: &mut [__m512d; 2]) {
        // SAFETY: AVX-512F (caller).
        unsafe { add_to_halves(_mm512_maskz_mul_ps(below_zero(x), x.0, dy.0), acc) }
    }
    #[inline(always)]
    unsafe fn widen16(src: *const f16) -> F32x16 {
        // SAFETY: AVX-512F (caller); 16 two-byte lanes readable (caller).
        F32x16(unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(src.cast())) })
    }
    #[inline(always)]
    unsafe fn narrow16(v: F32x16) -> __m256i {
        // SAFETY: AVX-512F (caller). The F16C instruction on 16 lanes: it keeps a NaN's sign
        // and top payload bits and sets the quiet bit, as `narrow` does.
        unsafe { _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v.0) }
    }
}

/// `f32_to_bf16_bits` on 16 lanes, in the low 16 bits of each 32-bit lane, for lanes that
/// are not NaN: add 0x7fff plus the kept lsb and shift (ties to even).
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn bf16_bits16_unless_nan(v: F32x16) -> __m512i {
    // SAFETY: AVX-512F (caller).
    unsafe {
        let x = _mm512_castps_si512(v.0);
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(x), _mm512_set1_epi32(1));
        let bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb);
        _mm512_srli_epi32::<16>(_mm512_add_epi32(x, bias))
    }
}

impl Half512 for bf16 {
    #[inline(always)]
    unsafe fn widen16(src: *const bf16) -> F32x16 {
        // SAFETY: AVX-512F (caller); 16 two-byte lanes readable (caller). bf16 is the top
        // half of an f32.
        F32x16(unsafe {
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(src.cast()))))
        })
    }
    #[inline(always)]
    unsafe fn narrow16(v: F32x16) -> __m256i {
        // SAFETY: AVX-512F (caller). A NaN narrows to its top half with the quiet bit.
        unsafe {
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v.0, v.0);
            let quiet = _mm512_or_si512(_mm512_srli_epi32::<16>(_mm512_castps_si512(v.0)), _mm512_set1_epi32(0x40));
            _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(bf16_bits16_unless_nan(v), nan, quiet))
        }
    }
    #[inline(always)]
    unsafe fn narrow16_unless_nan(v: F32x16) -> __m256i {
        // SAFETY: AVX-512F (caller).
        unsafe { _mm512_cvtepi32_epi16(bf16_bits16_unless_nan(v)) }
    }
    /// `vcvtneps2bf16`: 16 lanes in one instruction, rounded to nearest even, a NaN to its
    /// top half with the quiet bit set, as `f32_to_bf16_bits`; but it reads a denormal
    /// input as zero, so 16 lanes with a denormal among them take the integer rounding
    /// (one `vfpclassps` tells).
    #[inline(always)]
    unsafe fn narrow16_native(v: F32x16) -> __m256i {
        // SAFETY: x86-64-v4 (AVX-512F/DQ) and AVX-512 BF16 (caller).
        unsafe {
            const DENORMAL: i32 = 0x20;
            if _mm512_fpclass_ps_mask::<DENORMAL>(v.0) != 0 {
                return Self::narrow16(v);
            }
            core::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(v.0))
        }
    }
    /// With AVX-512 BF16, for any slope: [`scale_bf16`] computes the f32 route's bits.
    #[inline(always)]
    unsafe fn scale_native<const DY: bool>(c: f32, x: *const bf16, dy: *const bf16, out: *mut bf16, n: usize) -> bool {
        if n < SCALE_BF16_MIN_LEN || !crate::dispatch::bf16_extension() {
            return false;
        }
        // SAFETY: x86-64-v4 (caller) and AVX-512 BF16, just detected; the n lanes as the
        // caller gives them.
        unsafe { scale_bf16::<DY>(c, x, dy, out, n) };
        true
    }
    /// The product of two bf16 values is exact in f32 wherever it comes out a normal
    /// number (8 by 8 significant bits), as it does for nearly all data: then it is
    /// multiplied there and widened as a whole, one conversion of 16 lanes where the FMA
    /// takes two (a lane not below zero adds `+0.0`, which leaves a sum that is never
    /// `-0.0`). 16 lanes with a product of zero, a denormal or infinity among those below
    /// zero (out of f32's range, or an input zero or infinite) take the FMA.
    #[inline(always)]
    unsafe fn add_terms16(x: F32x16, dy: F32x16, acc: &mut [__m512d; 2]) {
        // SAFETY: AVX-512F/DQ (caller).
        unsafe {
            let below = below_zero(x);
            let p = _mm512_maskz_mul_ps(below, x.0, dy.0);
            const ZERO_INFINITE_OR_DENORMAL: i32 = 0x02 | 0x04 | 0x08 | 0x10 | 0x20;
            if _mm512_mask_fpclass_ps_mask::<ZERO_INFINITE_OR_DENORMAL>(below, p) != 0 {
                add_terms16_by_fma(below, x, dy, acc)
            } else {
                add_to_halves(p, acc)
            }
        }
    }
    /// With AVX-512 BF16, the products narrow 32 at a time ([`Bf16Narrow`]).
    #[inline(always)]
    unsafe fn prelu_plane(c: f32, x: &[bf16], dy: &[bf16], dx: &mut [bf16], lanes: &mut SumLanes, far: bool) {
        if crate::dispatch::bf16_extension() {
            // SAFETY: x86-64-v4 (caller) and AVX-512 BF16 (just detected); a plane's lane 0.
            unsafe { prelu_plane_bf16(c, x, dy, dx, lanes, far) }
        } else {
            // SAFETY: x86-64-v4 and a plane's lane 0 (caller).
            unsafe { prelu_plane32::<bf16, PlainNarrow>(c, x, dy, dx, lanes, far) }
        }
    }
}

/// The shortest slice that [`scale_f16`] takes: f16 PReLU with 64 channels (throughput
/// bench, v4, one A/B run): planes of 64 elements 24-28 GB/s by the f32 route against
/// 17-22 with `vmulph`, 128 elements level (36-37 against 30-37), 256 elements 39-40
/// against 50-53, 1024 elements 44-45 against 80-82.
const SCALE_F16_MIN_LEN: usize = 128;

/// For f16, 32 lanes at a time in f16 with AVX-512 FP16 (`vmulph`), with no conversion
/// at all where the f32 route converts each lane twice, and the selects on the raw lanes
/// in mask registers ([`scale32`]).
///
/// # Safety
/// x86-64-v4 and AVX-512 FP16 must be available; the `n` lanes as for
/// [`Half512::scale_native`].
#[target_feature(
    enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512fp16"
)]
pub(crate) unsafe fn scale_f16<const DY: bool>(c: f16, x: *const f16, dy: *const f16, out: *mut f16, n: usize) {
    let scale = F16Scale(_mm512_castsi512_ph(_mm512_set1_epi16(c.to_bits() as i16)));
    // SAFETY: AVX-512 FP16/BW enabled here; the lanes from the caller.
    unsafe { scale32::<_, DY>(scale, x.cast(), dy.cast(), out.cast(), n) }
}

/// The shortest slice that [`scale_bf16`] takes, as [`SCALE_F16_MIN_LEN`].
const SCALE_BF16_MIN_LEN: usize = 128;

/// The ops of [`scale_f16`] for bf16, 32 lanes at a time, with AVX-512 BF16: the f32 route
/// of [`avx2::product_select_16`] (widen, multiply in f32, round once to bf16, select on
/// the raw lanes), with a whole 512-bit register of raw lanes per step instead of 16
/// widened ones ([`Bf16Scale`]). f32 leaky 0.01 on bf16 at 4K and 64K elements, in a
/// scratch loop on the AVX-512 Xeon: 58 GB/s, the 16-lane route 39.
///
/// # Safety
/// x86-64-v4 and AVX-512 BF16 must be available; the `n` lanes as for
/// [`Half512::scale_native`].
#[target_feature(
    enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512bf16"
)]
pub(crate) unsafe fn scale_bf16<const DY: bool>(c: f32, x: *const bf16, dy: *const bf16, out: *mut bf16, n: usize) {
    // SAFETY: AVX-512 BF16/BW enabled here; the lanes from the caller.
    unsafe { scale32::<_, DY>(Bf16Scale(_mm512_set1_ps(c)), x.cast(), dy.cast(), out.cast(), n) }
}

/// [`prelu_plane32`] for bf16 with AVX-512 BF16, in a function of its own compiled for it.
///
/// # Safety
/// x86-64-v4 and AVX-512 BF16 must be available; `x` starts on a plane's lane 0.
#[target_feature(
    enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512bf16"
)]
unsafe fn prelu_plane_bf16(c: f32, x: &[bf16], dy: &[bf16], dx: &mut [bf16], lanes: &mut SumLanes, far: bool) {
    // SAFETY: the features, enabled here; the plane (caller).
    unsafe { prelu_plane32::<bf16, Bf16Narrow>(c, x, dy, dx, lanes, far) }
}

/// How [`prelu_plane32`] rounds a step's 32 products to the type.
trait Narrow32<T> {
    /// The 32 lanes `lo` then `hi`, each rounded to `T` as [`Half512::narrow16`].
    ///
    /// # Safety
    /// x86-64-v4 and the implementation's extension must be available.
    unsafe fn narrow32(lo: F32x16, hi: F32x16) -> __m512i;
}

/// [`Narrow32`] by [`Half512::narrow16`], 16 lanes at a time.
struct PlainNarrow;

impl<T: Half512> Narrow32<T> for PlainNarrow {
    #[inline(always)]
    unsafe fn narrow32(lo: F32x16, hi: F32x16) -> __m512i {
        // SAFETY: x86-64-v4 (caller).
        unsafe { _mm512_inserti64x4::<1>(_mm512_castsi256_si512(T::narrow16(lo)), T::narrow16(hi)) }
    }
}

/// [`Narrow32`] for bf16 with AVX-512 BF16: `vcvtne2ps2bf16`, 32 lanes in lane order in
/// one instruction, where no product is a denormal (which it reads as zero); the integer
/// rounding otherwise, as [`Half512::narrow16_native`].
struct Bf16Narrow;

impl Narrow32<bf16> for Bf16Narrow {
    #[inline(always)]
    unsafe fn narrow32(lo: F32x16, hi: F32x16) -> __m512i {
        // SAFETY: x86-64-v4 and AVX-512 BF16 (caller).
        unsafe {
            const DENORMAL: i32 = 0x20;
            if _mm512_fpclass_ps_mask::<DENORMAL>(lo.0) | _mm512_fpclass_ps_mask::<DENORMAL>(hi.0) != 0 {
                return <PlainNarrow as Narrow32<bf16>>::narrow32(lo, hi);
            }
            core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi.0, lo.0))
        }
    }
}

/// PReLU backward of one channel plane of a 16-bit float, 32 lanes a step, in one pass:
/// both halves of a step widen once, for the slope gradient's terms (into the plane's 16
/// lanes, elements 0-15 of the step before 16-31, so that lane `i % 16` takes element `i`
/// in order, as [`crate::arch::generic::add_terms_to_lanes`]; [`Half512::add_terms16`])
/// and for `dx`'s products (`c * dy` in f32, rounded once by `N`), which the raw lanes
/// select ([`leaky_dx32`]). Where the plane lies beyond the caches (`far`), each step
/// prefetches its arrays' lines [`crate::arch::generic::PRELU_PREFETCH_AHEAD_BYTES`] ahead.
/// The last `n % 32` elements go through a zeroed copy (a `+0.0` has no term).
///
/// Measured on the 2-core AMD EPYC (Zen 4: AVX-512 with BF16, not FP16; a scratch loop of
/// `prelu_backward`, slope 0.25, 64 channels first, one thread, ns an element, A/B in one
/// session) against the pieces of [`crate::arch::generic::SUM_CHUNK_16`], each widened into
/// a buffer, its terms summed from there and its `dx` a call of its own: f16 4K 0.71-1.09
/// -> 0.37, 64K 0.30-0.32 -> 0.22, 256K and 1M 0.29-0.31 -> 0.21, 16M 0.39-0.40 -> 0.32;
/// bf16 4K 0.49-0.51 -> 0.44, 64K-1M 0.25-0.27 -> 0.24-0.25, 16M 0.37 -> 0.34-0.35 (with
/// its terms by FMA alone, as the pieces take them, bf16 ran level with the pieces).
///
/// # Safety
/// x86-64-v4 and `N`'s extension must be available; `x` starts on a plane's lane 0.
#[inline(always)]
unsafe fn prelu_plane32<T: Half512, N: Narrow32<T>>(
    c: f32,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    lanes: &mut SumLanes,
    far: bool,
) {
    let ahead = crate::arch::generic::PRELU_PREFETCH_AHEAD_BYTES / size_of::<T>();
    let n = dx.len().min(x.len()).min(dy.len());
    // SAFETY: x86-64-v4 (caller).
    let scale = unsafe { _mm512_set1_ps(c) };
    // SAFETY: AVX-512F (caller); the 16 lanes are 16 f64.
    let mut acc = unsafe { [_mm512_loadu_pd(lanes.as_ptr()), _mm512_loadu_pd(lanes.as_ptr().add(8))] };
    let whole = n - n % 32;
    for i in (0..whole).step_by(32) {
        if far {
            use crate::arch::generic::prefetch_piece;
            prefetch_piece(x, i + ahead, 32);
            prefetch_piece(dy, i + ahead, 32);
            prefetch_piece(dx, i + ahead, 32);
        }
        // SAFETY: the features (caller); i + 32 <= n.
        unsafe { prelu_step32::<T, N>(scale, x[i..].as_ptr(), dy[i..].as_ptr(), dx[i..].as_mut_ptr(), &mut acc) };
    }
    if whole < n {
        let zero = T::zero();
        let (mut x_rest, mut dy_rest, mut dx_rest) = ([zero; 32], [zero; 32], [zero; 32]);
        x_rest[..n - whole].copy_from_slice(&x[whole..n]);
        dy_rest[..n - whole].copy_from_slice(&dy[whole..n]);
        // SAFETY: the features (caller); the 32 lanes of the copies.
        unsafe { prelu_step32::<T, N>(scale, x_rest.as_ptr(), dy_rest.as_ptr(), dx_rest.as_mut_ptr(), &mut acc) };
        dx[whole..n].copy_from_slice(&dx_rest[..n - whole]);
    }
    // SAFETY: AVX-512F (caller).
    unsafe {
        _mm512_storeu_pd(lanes.as_mut_ptr(), acc[0]);
        _mm512_storeu_pd(lanes.as_mut_ptr().add(8), acc[1]);
    }
}

/// One step of [`prelu_plane32`]: 32 lanes at `x`, `dy`, `dx`; `scale` the slope in every
/// lane.
///
/// # Safety
/// x86-64-v4 and `N`'s extension must be available; 32 lanes readable at `x` and `dy` and
/// writable at `dx`.
#[inline(always)]
unsafe fn prelu_step32<T: Half512, N: Narrow32<T>>(
    scale: __m512,
    x: *const T,
    dy: *const T,
    dx: *mut T,
    acc: &mut [__m512d; 2],
) {
    // SAFETY: the features and the lanes (caller).
    unsafe {
        let (x_lo, x_hi) = (T::widen16(x), T::widen16(x.add(16)));
        let (dy_lo, dy_hi) = (T::widen16(dy), T::widen16(dy.add(16)));
        T::add_terms16(x_lo, dy_lo, acc);
        T::add_terms16(x_hi, dy_hi, acc);
        let products = N::narrow32(F32x16(_mm512_mul_ps(dy_lo.0, scale)), F32x16(_mm512_mul_ps(dy_hi.0, scale)));
        // The raw lanes load a second time (from L1): the widenings above read memory, which
        // spares them the extracts of the upper halves from these registers.
        let (s, g) = (_mm512_loadu_si512(x.cast()), _mm512_loadu_si512(dy.cast()));
        _mm512_storeu_si512(dx.cast(), leaky_dx32(s, g, products, T::INF));
    }
}

/// The leaky backward on 32 raw lanes of a 16-bit float whose +infinity has the bits
/// `inf`: `x > 0 ? dy : x is NaN ? +0.0 : p` (`s` the bits of `x`, `g` those of `dy`, `p`
/// the products `c * dy`).
///
/// # Safety
/// AVX-512 BW must be available.
#[inline(always)]
unsafe fn leaky_dx32(s: __m512i, g: __m512i, p: __m512i, inf: i16) -> __m512i {
    // SAFETY: AVX-512BW (caller).
    unsafe {
        let magnitude = _mm512_and_si512(s, _mm512_set1_epi16(0x7fff));
        let nan = _mm512_cmpgt_epi16_mask(magnitude, _mm512_set1_epi16(inf));
        let above = _mm512_cmpgt_epi16_mask(s, _mm512_setzero_si512());
        _mm512_maskz_mov_epi16(!nan, _mm512_mask_blend_epi16(above, p, g))
    }
}

/// One slope times 32 raw lanes of a 16-bit float, each product rounded once to the type,
/// in lane order: what [`scale32`] needs of the type.
trait Scale32: Copy {
    /// The bits of the type's +infinity.
    const INF: i16;
    /// # Safety
    /// AVX-512 BW and the type's extension (FP16, BF16) must be available.
    unsafe fn products(self, v: __m512i) -> __m512i;
}

/// The lanes of `x` below zero (false for NaN and -0.0): those with a slope-gradient term.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn below_zero(x: F32x16) -> __mmask16 {
    // SAFETY: AVX-512F (caller).
    unsafe { _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x.0, _mm512_setzero_ps()) }
}

/// [`Half512::add_terms16`] by f64 FMA: `lane = fma(x, dy, lane)` in the lanes of `below`
/// (lanes 0-7 in `acc[0]`, 8-15 in `acc[1]`).
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn add_terms16_by_fma(below: __mmask16, x: F32x16, dy: F32x16, acc: &mut [__m512d; 2]) {
    // SAFETY: AVX-512F (caller).
    unsafe {
        let ([x_lo, x_hi], [dy_lo, dy_hi]) = (halves_f64(x.0), halves_f64(dy.0));
        acc[0] = _mm512_mask3_fmadd_pd(x_lo, dy_lo, acc[0], below as __mmask8);
        acc[1] = _mm512_mask3_fmadd_pd(x_hi, dy_hi, acc[1], (below >> 8) as __mmask8);
    }
}

/// `acc += p` for 16 exact f32 terms widened to f64 (lanes 0-7 into `acc[0]`, 8-15 into
/// `acc[1]`).
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn add_to_halves(p: __m512, acc: &mut [__m512d; 2]) {
    // SAFETY: AVX-512F (caller).
    unsafe {
        let [lo, hi] = halves_f64(p);
        acc[0] = _mm512_add_pd(acc[0], lo);
        acc[1] = _mm512_add_pd(acc[1], hi);
    }
}

/// The low and the high 8 f32 lanes of `v` widened to f64.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn halves_f64(v: __m512) -> [__m512d; 2] {
    // SAFETY: AVX-512F (caller).
    unsafe {
        let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        [_mm512_cvtps_pd(_mm512_castps512_ps256(v)), _mm512_cvtps_pd(high)]
    }
}

/// An f16 slope for `vmulph`: the product of f16 values rounded once, as the f32 route
/// rounds it where the slope is an f16 value (see `Half512::scale_native` for f16).
#[derive(Clone, Copy)]
struct F16Scale(__m512h);

impl Scale32 for F16Scale {
    const INF: i16 = <f16 as Half>::INF;
    #[inline(always)]
    unsafe fn products(self, v: __m512i) -> __m512i {
        // SAFETY: AVX-512 FP16 (caller).
        unsafe { _mm512_castph_si512(_mm512_mul_ph(_mm512_castsi512_ph(v), self.0)) }
    }
}

/// A slope in f32 for bf16: the even lanes widen with a shift and the odd ones with an
/// `and` (where the 16-lane route takes a cross-lane `vpmovzxwd` each 16), both halves
/// round in one `vcvtne2ps2bf16` and go back into lane order in one `vpermw`. Same bits as
/// the f32 route: `vcvtne2ps2bf16` rounds to nearest even and quiets a NaN to its top half
/// as `f32_to_bf16_bits` does, and a step whose products hold a denormal (which the
/// instruction reads as zero) rounds with integer arithmetic instead.
#[derive(Clone, Copy)]
struct Bf16Scale(__m512);

impl Scale32 for Bf16Scale {
    const INF: i16 = <bf16 as Half>::INF;
    #[inline(always)]
    unsafe fn products(self, v: __m512i) -> __m512i {
        // SAFETY: AVX-512 BW/BF16 (caller).
        unsafe { bf16_products32(v, self.0) }
    }
}

/// The scale ops on 32 raw lanes a step: `DY` false, `out = x < 0 ? c * x : x` (NaN kept
/// with its bits, -0.0 to `c * -0.0`: the one compare of
/// [`Convert16::product_where_negative`]); `DY` true, `out = x > 0 ? dy : x is NaN ? +0.0
/// : c * dy` (the leaky backward). Stores start at the output's first cache line; the
/// head and the tail are masked.
///
/// # Safety
/// AVX-512 BW and `S`'s extension must be available; the `n` lanes as for
/// [`Half512::scale_native`].
#[inline(always)]
unsafe fn scale32<S: Scale32, const DY: bool>(scale: S, x: *const i16, dy: *const i16, out: *mut i16, n: usize) {
    // A head up to the output's first cache line, so that no store of 64 bytes straddles
    // two lines (nor, where the inputs are placed alike, any load); whole vectors; the rest.
    let head = out.align_offset(64).min(n).min(31);
    // Each step: the features (caller); the lanes from 0 below head <= n, 32 lanes from
    // i + 32 <= n, then the n - i < 32 lanes left, of x, out and (with DY, caller) dy.
    if head > 0 {
        // SAFETY: as just said.
        unsafe { scale32_step::<S, DY>(scale, x, dy, out, (1 << head) - 1) };
    }
    let mut i = head;
    while i + 32 <= n {
        // SAFETY: as above.
        unsafe { scale32_step::<S, DY>(scale, x.add(i), dy.add(i), out.add(i), !0) };
        i += 32;
    }
    if i < n {
        // SAFETY: as above.
        unsafe { scale32_step::<S, DY>(scale, x.add(i), dy.add(i), out.add(i), (1 << (n - i)) - 1) };
    }
}

/// One step of [`scale32`] over the lanes set in `active` (all 32 as plain loads and
/// stores, fewer masked; a masked-off lane neither faults nor is written). Every load comes
/// before the store, so `out` may be `x` or `dy`.
///
/// # Safety
/// AVX-512 BW and `S`'s extension must be available; the active lanes readable at `x` (and
/// at `dy` with `DY`) and writable at `out`.
#[inline(always)]
unsafe fn scale32_step<S: Scale32, const DY: bool>(
    scale: S,
    x: *const i16,
    dy: *const i16,
    out: *mut i16,
    active: __mmask32,
) {
    // SAFETY: the features and the active lanes (caller).
    unsafe {
        let load = |p: *const i16| {
            if active == !0 { _mm512_loadu_si512(p.cast()) } else { _mm512_maskz_loadu_epi16(active, p) }
        };
        let s = load(x);
        let r = if DY {
            let g = load(dy);
            leaky_dx32(s, g, scale.products(g), S::INF)
        } else {
            let p = scale.products(s);
            // The lanes ReLU keeps (above -inf's bits as signed integers) keep x; the
            // negative numbers take the product.
            let keep = _mm512_cmpgt_epi16_mask(s, _mm512_set1_epi16(S::INF | i16::MIN));
            _mm512_mask_blend_epi16(keep, p, s)
        };
        if active == !0 {
            _mm512_storeu_si512(out.cast(), r)
        } else if active != 0 {
            _mm512_mask_storeu_epi16(out, active, r)
        }
    }
}

/// `c * v` for 32 raw bf16 lanes, each rounded once to bf16 (`narrow(c * widen(v))`), in
/// lane order.
///
/// # Safety
/// AVX-512 BW and BF16 must be available.
#[inline(always)]
unsafe fn bf16_products32(v: __m512i, scale: __m512) -> __m512i {
    // SAFETY: AVX-512 BW/BF16 (caller).
    unsafe {
        // Lane 2j of the 32 is the low half of 32-bit lane j, lane 2j + 1 its high half.
        let high = _mm512_set1_epi32(0xffff_0000_u32 as i32);
        let even = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32::<16>(v)), scale);
        let odd = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_and_si512(v, high)), scale);
        const DENORMAL: i32 = 0x20;
        if _mm512_fpclass_ps_mask::<DENORMAL>(even) | _mm512_fpclass_ps_mask::<DENORMAL>(odd) != 0 {
            // Each product's bf16 in the top half of its 32 bits; the even ones shifted
            // down and the odd ones' top halves, merged bit by bit (0xac: `high ? odd : even`).
            let even = _mm512_srli_epi32::<16>(bf16_in_top_half(even));
            return _mm512_ternarylogic_epi32::<0xac>(high, even, bf16_in_top_half(odd));
        }
        // The even lanes' products in lanes 0..16 and the odd ones' in 16..32: lane 2j of
        // the result is lane j, lane 2j + 1 is lane 16 + j.
        let rounded = core::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(odd, even));
        const INTERLEAVE: [i16; 32] = {
            let mut idx = [0i16; 32];
            let mut j = 0;
            while j < 16 {
                idx[2 * j] = j as i16;
                idx[2 * j + 1] = 16 + j as i16;
                j += 1;
            }
            idx
        };
        _mm512_permutexvar_epi16(_mm512_loadu_si512(INTERLEAVE.as_ptr().cast()), rounded)
    }
}

/// `f32_to_bf16_bits` of 16 products of a bf16 and an f32, in the top half of each lane
/// (the low half is garbage): ties to even. A NaN needs no case of its own here: the
/// product of a NaN is that NaN quieted, and the default NaN of `0 * inf` is quiet, both
/// with a low half of zero (a bf16 widened has one), to which the rounding adds no carry.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn bf16_in_top_half(v: __m512) -> __m512i {
    // SAFETY: AVX-512F (caller).
    unsafe {
        let bits = _mm512_castps_si512(v);
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
        _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb))
    }
}

/// The lanes of 16 raw 16-bit floats whose positive infinity has bits `inf` that are NaN
/// (magnitude above `inf`), as a mask (one compare to a mask register where AVX2 needs a
/// compare and a 3-uop `vpblendvb` to use it).
///
/// # Safety
/// AVX-512BW/VL must be available.
#[inline(always)]
unsafe fn nan_lanes_16(s: __m256i, inf: i16) -> __mmask16 {
    // SAFETY: AVX-512BW/VL (caller).
    unsafe { _mm256_cmpgt_epi16_mask(_mm256_and_si256(s, _mm256_set1_epi16(0x7fff)), _mm256_set1_epi16(inf)) }
}

/// [`Convert16`] in one AVX-512 register: F16C's instructions on 16 lanes for f16, shifts
/// and integer rounding for bf16 ([`Half512`]).
pub(crate) struct Avx512Convert;

/// [`Avx512Convert`] with bf16 narrowing by AVX-512 BF16 ([`Half512::narrow16_native`]);
/// f16 as [`Avx512Convert`].
pub(crate) struct Avx512Bf16Convert;

/// The [`Convert16`] of a v4 converter from its narrowing.
macro_rules! convert16_v4 {
    ($converter:ty, $narrow:ident, $narrow_unless_nan:ident) => {
        impl<T: Half512> Convert16<T> for $converter {
            const PIECES_BY_MASKS: bool = true;
            type V = F32x16;
            type Mask = __mmask16;
            #[inline(always)]
            unsafe fn compare<const P: i32>(a: F32x16, b: F32x16) -> __mmask16 {
                // SAFETY: AVX-512F (caller).
                unsafe { _mm512_cmp_ps_mask::<P>(a.0, b.0) }
            }
            #[inline(always)]
            unsafe fn blend(m: __mmask16, otherwise: __m256i, then: __m256i) -> __m256i {
                // SAFETY: AVX-512BW/VL (caller).
                unsafe { _mm256_mask_blend_epi16(m, otherwise, then) }
            }
            #[inline(always)]
            unsafe fn widen16(src: *const T) -> F32x16 {
                // SAFETY: forwarded from the caller.
                unsafe { T::widen16(src) }
            }
            #[inline(always)]
            unsafe fn narrow16(v: F32x16) -> __m256i {
                // SAFETY: forwarded from the caller.
                unsafe { T::$narrow(v) }
            }
            #[inline(always)]
            unsafe fn narrow16_unless_nan(v: F32x16) -> __m256i {
                // SAFETY: forwarded from the caller.
                unsafe { T::$narrow_unless_nan(v) }
            }
            #[inline(always)]
            unsafe fn product_where_negative(s: __m256i, p: __m256i) -> __m256i {
                // SAFETY: AVX-512BW/VL (caller). The lanes ReLU keeps are those above
                // -inf's bits as signed integers, as in `avx2::keep_lanes_16`.
                unsafe {
                    let keep = _mm256_cmpgt_epi16_mask(s, _mm256_set1_epi16(T::INF | i16::MIN));
                    _mm256_mask_blend_epi16(keep, p, s)
                }
            }
            #[inline(always)]
            unsafe fn select_dy_above_zero(x: __m256i, dy: __m256i, p: __m256i) -> __m256i {
                // SAFETY: AVX-512BW/VL (caller).
                unsafe {
                    let above = _mm256_cmpgt_epi16_mask(x, _mm256_setzero_si256());
                    _mm256_maskz_mov_epi16(!nan_lanes_16(x, T::INF), _mm256_mask_blend_epi16(above, p, dy))
                }
            }
            #[cfg(test)]
            unsafe fn load(src: &[f32; 16]) -> F32x16 {
                // SAFETY: AVX-512F (caller); 16 f32 readable.
                F32x16(unsafe { _mm512_loadu_ps(src.as_ptr()) })
            }
            #[cfg(test)]
            unsafe fn store(v: F32x16, dst: &mut [f32; 16]) {
                // SAFETY: AVX-512F (caller); 16 f32 writable.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), v.0) }
            }
        }
    };
}

convert16_v4!(Avx512Convert, narrow16, narrow16_unless_nan);
convert16_v4!(Avx512Bf16Convert, narrow16_native, narrow16_native);

/// [`avx2::product_select_16`] with [`Avx512Bf16Convert`], in a function of its own
/// compiled for it: BF16 is not part of x86-64-v4, whose entry points are compiled without
/// it.
///
/// # Safety
/// x86-64-v4 and AVX-512 BF16 must be available.
#[target_feature(
    enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx512bf16"
)]
pub(crate) unsafe fn product_select_16_bf16<T: Half512, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    // SAFETY: every feature the converter needs is enabled here (caller).
    unsafe { avx2::product_select_16::<T, K, Avx512Bf16Convert>(k, a, b, out) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{LeakyBackward, SlopedUnit, fused};

    /// Every bf16 pattern in a shuffled order (so that a step of 32 mixes NaN, infinities,
    /// subnormals and normals), and that order reversed as `dy`.
    fn shuffled_patterns() -> (Vec<bf16>, Vec<bf16>) {
        shuffled(bf16::from_bits)
    }

    /// [`shuffled_patterns`] of any 16-bit type.
    fn shuffled<T: Copy>(from_bits: fn(u16) -> T) -> (Vec<T>, Vec<T>) {
        let mut x: Vec<T> = (0..=u16::MAX).map(from_bits).collect();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for i in (1..x.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            x.swap(i, (state >> 33) as usize % (i + 1));
        }
        let dy = x.iter().rev().copied().collect();
        (x, dy)
    }

    /// [`scale_bf16`] against the f32 route lane by lane, both ops, slopes that make
    /// subnormal products (1e-30, 2^-130), NaN ones (0 times infinity), products that
    /// round up to infinity (1e30) and plain ones, at every start offset within a vector
    /// and lengths around the step.
    #[test]
    fn scale_bf16_is_the_f32_route() {
        if !(crate::dispatch::Isa::V4.is_available() && crate::dispatch::bf16_extension()) {
            return;
        }
        let (x, dy) = shuffled_patterns();
        for c in [0.01_f32, 1e-30, 2f32.powi(-130), 0.0, -0.5, 3.0, 1e30, 0.333_333_34] {
            // The unary op is `SlopedUnit`, which takes slopes in (0, 1] only.
            let unary = SlopedUnit::fits(c);
            let sloped: Vec<bf16> = x.iter().map(|&v| fused(&SlopedUnit(c), v, v)).collect();
            let leaky: Vec<bf16> = x.iter().zip(&dy).map(|(&v, &g)| fused(&LeakyBackward(c), v, g)).collect();
            for start in (0..40).chain([1000]) {
                for len in [0, 1, 31, 32, 33, 95, 200, x.len() - start] {
                    let r = start..start + len;
                    let mut out = vec![bf16::from_bits(0x5555); len];
                    let first_difference = |want: &[bf16], out: &[bf16]| {
                        let i = want.iter().zip(out).position(|(w, o)| w.to_bits() != o.to_bits());
                        i.map(|i| {
                            (
                                start + i,
                                x[start + i].to_bits(),
                                dy[start + i].to_bits(),
                                out[i].to_bits(),
                                want[i].to_bits(),
                            )
                        })
                    };
                    if unary {
                        // SAFETY: v4 and AVX-512 BF16, just checked; dy as long as out.
                        unsafe {
                            scale_bf16::<false>(c, x[r.clone()].as_ptr(), x[r.clone()].as_ptr(), out.as_mut_ptr(), len)
                        };
                        let diff = first_difference(&sloped[r.clone()], &out);
                        assert_eq!(diff, None, "(index, x, dy, got, want) of x < 0 ? c * x : x, c = {c}, {r:?}");
                    }
                    // SAFETY: as above.
                    unsafe {
                        scale_bf16::<true>(c, x[r.clone()].as_ptr(), dy[r.clone()].as_ptr(), out.as_mut_ptr(), len)
                    };
                    let diff = first_difference(&leaky[r.clone()], &out);
                    assert_eq!(diff, None, "(index, x, dy, got, want) of the leaky backward, c = {c}, {r:?}");
                }
            }
        }
    }

    /// [`prelu_plane32`] with [`PlainNarrow`], compiled for x86-64-v4 (the route of v4
    /// CPUs without AVX-512 BF16, and f16's).
    ///
    /// # Safety
    /// x86-64-v4 must be available.
    #[target_feature(
        enable = "avx,avx2,fma,f16c,bmi1,bmi2,lzcnt,movbe,popcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
    )]
    unsafe fn plane_plain<T: Half512>(c: f32, x: &[T], dy: &[T], dx: &mut [T], lanes: &mut SumLanes, far: bool) {
        // SAFETY: v4 (caller).
        unsafe { prelu_plane32::<T, PlainNarrow>(c, x, dy, dx, lanes, far) }
    }

    /// A PReLU plane's one-pass loop: `prelu_plane32` with the arguments of
    /// [`Half512::prelu_plane`].
    type PlaneLoop<T> = unsafe fn(f32, &[T], &[T], &mut [T], &mut SumLanes, bool);

    /// A PReLU plane's one-pass loop against the portable walk: `dx` lane by lane as the
    /// leaky backward's `fused`, and the 16 lanes (carried in from a plane's earlier part)
    /// as `add_terms_to_lanes` (any NaN for a NaN), for slopes that make subnormal, infinite
    /// and plain products, from several starts, lengths around the step and the whole
    /// shuffled set of patterns, with and without the prefetches.
    fn plane_is_the_portable_walk<T: Half512>(from_bits: fn(u16) -> T, run: PlaneLoop<T>) {
        let (x, dy) = shuffled(from_bits);
        for c in [0.25_f32, 0.01, 1e-30, 2f32.powi(-130), 0.0, -0.5, 3.0, 1e30] {
            for (start, len) in [(0, 0), (3, 1), (5, 31), (7, 32), (9, 33), (64, 95), (100, 1000), (0, x.len())] {
                let (x, dy) = (&x[start..start + len], &dy[start..start + len]);
                let want_dx: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| fused(&LeakyBackward(c), v, g)).collect();
                let mut want_lanes: SumLanes = core::array::from_fn(|j| j as f64 - 7.5);
                crate::arch::generic::add_terms_to_lanes(x, dy, &mut want_lanes);
                for far in [false, true] {
                    let mut dx = vec![from_bits(0x5555); len];
                    let mut lanes: SumLanes = core::array::from_fn(|j| j as f64 - 7.5);
                    // SAFETY: the caller checked the features `run` needs.
                    unsafe { run(c, x, dy, &mut dx, &mut lanes, far) };
                    let i = want_dx.iter().zip(&dx).position(|(w, o)| w.bits() != o.bits());
                    let what = format!("c = {c}, {start}.., {len} elements, far {far}");
                    assert_eq!(i.map(|i| (i, x[i].bits(), dy[i].bits(), dx[i].bits())), None, "dx {what}");
                    for (j, (w, l)) in want_lanes.iter().zip(lanes).enumerate() {
                        assert!(
                            w.to_bits() == l.to_bits() || (w.is_nan() && l.is_nan()),
                            "lane {j}: {l} for {w}, {what}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn prelu_plane_is_the_portable_walk() {
        if !crate::dispatch::Isa::V4.is_available() {
            return;
        }
        plane_is_the_portable_walk(f16::from_bits, plane_plain::<f16>);
        plane_is_the_portable_walk(bf16::from_bits, plane_plain::<bf16>);
        if crate::dispatch::bf16_extension() {
            plane_is_the_portable_walk(bf16::from_bits, prelu_plane_bf16);
        }
    }
}

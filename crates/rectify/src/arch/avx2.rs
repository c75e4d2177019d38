//! Explicit AVX2 bodies for the 1-bit mask, where LLVM's vectorisation of the portable loop
//! falls short (it shifts 64-bit lanes by variable counts instead of using `movemask` and
//! constant bit tests). Reached only through the v3 and v4 entry points, via the per-type
//! hooks of the element trait; each body is checked against the portable one by the tests.

#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::*;
use core::mem::size_of;

use half::{bf16, f16};

use crate::arch::generic::{SumLanes, mask_bits, select_by_bits, unaligned_head};
use crate::arch::stream::{STREAM_ALIGN, for_each_stream_step, prefetch};
use crate::element::Float;
use crate::element::sealed::Sealed;
use crate::kernels::{Lanes, Piece, Pieces, Product};

/// Hides a compare mask from the optimiser. Without it LLVM sees `x & (x > 0)` stored back
/// to where `x` was loaded as "store zero where x <= 0" and emits a masked store
/// (`vmaskmovps`), 2-3x slower than a plain store on AMD cores when the signs are mixed.
/// The empty `asm!` only names the register, so the mask is an opaque value: a plain
/// `and` and a plain store follow.
#[inline]
#[target_feature(enable = "avx")]
fn opaque(mask: __m256i) -> __m256i {
    let mut mask = mask;
    // SAFETY: an empty asm block that reads and writes one register and nothing else.
    unsafe { core::arch::asm!("/* {0} */", inout(ymm_reg) mask, options(pure, nomem, nostack, preserves_flags)) };
    mask
}

/// All ones in the lanes of raw 16-bit floats that are NaN (magnitude above the bits `inf`
/// of positive infinity), zero elsewhere.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn nan_lanes_16(s: __m256i, inf: i16) -> __m256i {
    // SAFETY: AVX2 (caller).
    unsafe { _mm256_cmpgt_epi16(_mm256_and_si256(s, _mm256_set1_epi16(0x7fff)), _mm256_set1_epi16(inf)) }
}

/// The bits `x > 0` (false for NaN) of 64 f32.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn pack_word_f32(x: &[f32; 64]) -> u64 {
    // SAFETY: AVX2 (caller).
    let mut above = unsafe { [_mm256_setzero_ps(); 8] };
    for (above, eight) in above.iter_mut().zip(x.chunks_exact(8)) {
        // SAFETY: AVX2 (caller); `eight` holds 8 f32; the ordered compare is false for NaN.
        *above = unsafe { _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_loadu_ps(eight.as_ptr()), _mm256_setzero_ps()) };
    }
    // SAFETY: AVX2 (caller).
    unsafe { word_of_lanes_32(&above) }
}

/// The 64 bits of eight vectors of 32-bit lanes that are all ones or all zeros, lane `i` of
/// vector `j` at bit `8j + i`: per 32 lanes two saturating packs (which keep -1 and 0) to
/// bytes, one permute to put them back in order and one byte `movemask`; 12 instructions a
/// word where a `movemask_ps`, a shift and an or per vector take 22.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn word_of_lanes_32(lanes: &[__m256; 8]) -> u64 {
    // SAFETY: AVX2 (caller).
    unsafe {
        let lo = bits_of_lanes_32(lanes[0], lanes[1], lanes[2], lanes[3]);
        let hi = bits_of_lanes_32(lanes[4], lanes[5], lanes[6], lanes[7]);
        lo as u64 | (hi as u64) << 32
    }
}

/// [`word_of_lanes_32`] for four vectors (a function, not a closure: a closure that LLVM
/// does not inline is compiled without AVX2).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn bits_of_lanes_32(a: __m256, b: __m256, c: __m256, d: __m256) -> u32 {
    // SAFETY: AVX2 (caller).
    unsafe {
        let ab = _mm256_packs_epi32(_mm256_castps_si256(a), _mm256_castps_si256(b));
        let cd = _mm256_packs_epi32(_mm256_castps_si256(c), _mm256_castps_si256(d));
        // Each 128-bit half now holds four lanes of a, b, c and d in turn (the low half
        // lanes 0-3, the high half lanes 4-7); the permute interleaves the halves' dwords.
        let abcd = _mm256_packs_epi16(ab, cd);
        let ordered = _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_movemask_epi8(ordered) as u32
    }
}

/// The bits `x > 0` of 64 f64.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn pack_word_f64(x: &[f64; 64]) -> u64 {
    let mut w = 0u64;
    for (j, four) in x.chunks_exact(4).enumerate() {
        // SAFETY: AVX2 (caller); `four` holds 4 f64.
        let bits = unsafe {
            let v = _mm256_loadu_pd(four.as_ptr());
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(v, _mm256_setzero_pd()))
        };
        w |= (bits as u32 as u64) << (4 * j);
    }
    w
}

/// The bits `x > 0` of 64 raw 16-bit floats whose positive infinity has bits `inf`:
/// as signed integers, `0 < s <= inf` (positive NaNs are above `inf`).
///
/// # Safety
/// AVX2 and BMI2 must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn pack_word_16<T: Copy>(x: &[T; 64], inf: i16) -> u64 {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut w = 0u64;
    for (j, sixteen) in x.chunks_exact(16).enumerate() {
        // SAFETY: AVX2 + BMI2 (caller); `sixteen` holds 16 u16.
        let bits = unsafe {
            let s = _mm256_loadu_si256(sixteen.as_ptr().cast());
            let above_zero = _mm256_cmpgt_epi16(s, _mm256_setzero_si256());
            let not_above_inf = _mm256_cmpgt_epi16(_mm256_set1_epi16(inf.wrapping_add(1)), s);
            let m = _mm256_and_si256(above_zero, not_above_inf);
            // Two mask bits per 16-bit lane: keep every other one.
            _pext_u32(_mm256_movemask_epi8(m) as u32, 0x5555_5555)
        };
        w |= (bits as u64) << (16 * j);
    }
    w
}

/// `y = relu(x)` and the mask word (`x > 0`) of 64 f32 in one pass: per vector one load,
/// two compares (`!(x <= 0)` keeps NaN for the output, `x > 0` is the bit), an and and a
/// store; then the bits of the eight vectors packed at once ([`word_of_lanes_32`]).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_f32(x: &[f32; 64], y: &mut [f32; 64]) -> u64 {
    // SAFETY: AVX2 (caller).
    let mut above = unsafe { [_mm256_setzero_ps(); 8] };
    for ((above, x), y) in above.iter_mut().zip(x.chunks_exact(8)).zip(y.chunks_exact_mut(8)) {
        // SAFETY: AVX2 (caller); 8 f32 each side.
        *above = unsafe {
            let v = _mm256_loadu_ps(x.as_ptr());
            let keep = _mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_setzero_ps());
            _mm256_storeu_ps(y.as_mut_ptr(), _mm256_and_ps(v, keep));
            _mm256_cmp_ps::<_CMP_GT_OQ>(v, _mm256_setzero_ps())
        };
    }
    // SAFETY: AVX2 (caller).
    unsafe { word_of_lanes_32(&above) }
}

/// As [`relu_mask_word_f32`] for 64 f64.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_f64(x: &[f64; 64], y: &mut [f64; 64]) -> u64 {
    let mut w = 0u64;
    for (j, (x, y)) in x.chunks_exact(4).zip(y.chunks_exact_mut(4)).enumerate() {
        // SAFETY: AVX2 (caller); 4 f64 each side.
        let bits = unsafe {
            let v = _mm256_loadu_pd(x.as_ptr());
            let keep = _mm256_cmp_pd::<_CMP_NLE_UQ>(v, _mm256_setzero_pd());
            _mm256_storeu_pd(y.as_mut_ptr(), _mm256_and_pd(v, keep));
            _mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(v, _mm256_setzero_pd()))
        };
        w |= (bits as u32 as u64) << (4 * j);
    }
    w
}

/// As [`relu_mask_word_f32`] for 64 raw 16-bit floats whose positive infinity has bits
/// `inf`: the output keeps `s > 0` and NaN, the bit is `0 < s <= inf`.
///
/// # Safety
/// AVX2 and BMI2 must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn relu_mask_word_16<T: Copy>(x: &[T; 64], y: &mut [T; 64], inf: i16) -> u64 {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut w = 0u64;
    for (j, (x, y)) in x.chunks_exact(16).zip(y.chunks_exact_mut(16)).enumerate() {
        // SAFETY: AVX2 + BMI2 (caller); 16 two-byte lanes each side.
        let bits = unsafe {
            let (r, bits) = relu_bits_16(_mm256_loadu_si256(x.as_ptr().cast()), inf);
            _mm256_storeu_si256(y.as_mut_ptr().cast(), r);
            bits
        };
        w |= u64::from(bits) << (16 * j);
    }
    w
}

/// The lanes that ReLU keeps of 16 raw 16-bit floats whose positive infinity has bits
/// `inf`: the positive values and every NaN, which as signed integers are the lanes above
/// -inf's bits (`0x8000 | inf`; the negative NaNs are the negative patterns above it). +0.0
/// is in too, and is its own ReLU.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn keep_lanes_16(s: __m256i, inf: i16) -> __m256i {
    // SAFETY: AVX2 (caller).
    unsafe { _mm256_cmpgt_epi16(s, _mm256_set1_epi16(inf | i16::MIN)) }
}

/// ReLU of 16 raw 16-bit floats whose positive infinity has bits `inf` (the lanes of
/// [`keep_lanes_16`] kept, the rest +0.0), and their mask bits (`0 < s <= inf`).
///
/// # Safety
/// AVX2 and BMI2 must be available.
#[inline(always)]
unsafe fn relu_bits_16(s: __m256i, inf: i16) -> (__m256i, u32) {
    // SAFETY: AVX2 + BMI2 (caller).
    unsafe {
        let positive = _mm256_cmpgt_epi16(s, _mm256_setzero_si256());
        let above_inf = _mm256_cmpgt_epi16(s, _mm256_set1_epi16(inf));
        let finite_positive = _mm256_andnot_si256(above_inf, positive);
        // Two mask bits per 16-bit lane: keep every other one.
        let bits = _pext_u32(_mm256_movemask_epi8(finite_positive) as u32, 0x5555_5555);
        (_mm256_and_si256(s, keep_lanes_16(s, inf)), bits)
    }
}

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 32 bits: a
/// variable shift moves each lane's bit to its sign, an arithmetic shift spreads it over the
/// lane, and the result masks dy (four instructions per 8 lanes, the word broadcast once
/// per 32 lanes).
///
/// # Safety
/// AVX2 must be available; `T` must be of the lane size.
#[inline(always)]
pub(crate) unsafe fn select_word_32<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    debug_assert_eq!(size_of::<T>() * 8, 32);
    // SAFETY: AVX2 (caller); every access is to 8 lanes of a 64-lane array.
    unsafe {
        // Lane i of chunk j (bit 8j + i of a 32-bit half) shifts left by 31 - (8j + i).
        let shifts = [
            _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24),
            _mm256_setr_epi32(23, 22, 21, 20, 19, 18, 17, 16),
            _mm256_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8),
            _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0),
        ];
        for (h, (dx, dy)) in dx.chunks_exact_mut(32).zip(dy.chunks_exact(32)).enumerate() {
            let half = _mm256_set1_epi32((w >> (32 * h)) as u32 as i32);
            for (j, (dx, dy)) in dx.chunks_exact_mut(8).zip(dy.chunks_exact(8)).enumerate() {
                let keep = opaque(_mm256_srai_epi32::<31>(_mm256_sllv_epi32(half, shifts[j])));
                let g = _mm256_loadu_si256(dy.as_ptr().cast());
                _mm256_storeu_si256(dx.as_mut_ptr().cast(), _mm256_and_si256(keep, g));
            }
        }
    }
}

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 64 bits: as
/// [`select_word_32`], with a compare against zero to spread the sign (AVX2 has no 64-bit
/// arithmetic shift).
///
/// # Safety
/// AVX2 must be available; `T` must be of the lane size.
#[inline(always)]
pub(crate) unsafe fn select_word_64<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    debug_assert_eq!(size_of::<T>() * 8, 64);
    // SAFETY: AVX2 (caller); every access is to 4 lanes of a 64-lane array.
    unsafe {
        let word = _mm256_set1_epi64x(w as i64);
        let mut shift = _mm256_setr_epi64x(63, 62, 61, 60);
        let four = _mm256_set1_epi64x(4);
        for (dx, dy) in dx.chunks_exact_mut(4).zip(dy.chunks_exact(4)) {
            let keep = opaque(_mm256_cmpgt_epi64(_mm256_setzero_si256(), _mm256_sllv_epi64(word, shift)));
            let g = _mm256_loadu_si256(dy.as_ptr().cast());
            _mm256_storeu_si256(dx.as_mut_ptr().cast(), _mm256_and_si256(keep, g));
            shift = _mm256_sub_epi64(shift, four);
        }
    }
}

/// How a lane size spreads mask bits over four vectors, for [`select_by_mask_stream`].
pub(crate) trait MaskLanes {
    /// Lanes in four vectors: the bits one step takes.
    const STEP: usize;
    /// Lane bytes.
    const BYTES: usize;
    /// All ones in the lanes whose bit is set in the low `STEP` bits of `bits` (lane `k` of
    /// vector `j` reads bit `j * STEP / 4 + k`), zero elsewhere.
    ///
    /// # Safety
    /// AVX2 must be available.
    unsafe fn keep(bits: u64) -> [__m256i; 4];
}

/// Lanes of 16 bits: each lane's bit tested against a constant, as in [`select_word_16`].
pub(crate) struct Lanes16;
/// Lanes of 32 bits: a variable shift moves each lane's bit to its sign and an arithmetic
/// shift spreads it, as in [`select_word_32`].
pub(crate) struct Lanes32;
/// Lanes of 64 bits: a 64-bit variable shift and a compare, as in [`select_word_64`].
pub(crate) struct Lanes64;

// The three `keep`s spell out their four vectors: a closure here, if LLVM did not inline
// it, would be compiled without AVX2.
impl MaskLanes for Lanes16 {
    const STEP: usize = 64;
    const BYTES: usize = 2;
    #[inline(always)]
    unsafe fn keep(bits: u64) -> [__m256i; 4] {
        // SAFETY: AVX2 (caller).
        unsafe {
            let lane_bits =
                _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, i16::MIN);
            let (q0, q1, q2, q3) = (
                _mm256_set1_epi16(bits as u16 as i16),
                _mm256_set1_epi16((bits >> 16) as u16 as i16),
                _mm256_set1_epi16((bits >> 32) as u16 as i16),
                _mm256_set1_epi16((bits >> 48) as u16 as i16),
            );
            [
                _mm256_cmpeq_epi16(_mm256_and_si256(q0, lane_bits), lane_bits),
                _mm256_cmpeq_epi16(_mm256_and_si256(q1, lane_bits), lane_bits),
                _mm256_cmpeq_epi16(_mm256_and_si256(q2, lane_bits), lane_bits),
                _mm256_cmpeq_epi16(_mm256_and_si256(q3, lane_bits), lane_bits),
            ]
        }
    }
}

impl MaskLanes for Lanes32 {
    const STEP: usize = 32;
    const BYTES: usize = 4;
    #[inline(always)]
    unsafe fn keep(bits: u64) -> [__m256i; 4] {
        // SAFETY: AVX2 (caller).
        unsafe {
            let bits = _mm256_set1_epi32(bits as u32 as i32);
            // Bit 8j + k shifts to the sign of lane k of vector j.
            let (s0, s1, s2, s3) = (
                _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24),
                _mm256_setr_epi32(23, 22, 21, 20, 19, 18, 17, 16),
                _mm256_setr_epi32(15, 14, 13, 12, 11, 10, 9, 8),
                _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0),
            );
            [
                _mm256_srai_epi32::<31>(_mm256_sllv_epi32(bits, s0)),
                _mm256_srai_epi32::<31>(_mm256_sllv_epi32(bits, s1)),
                _mm256_srai_epi32::<31>(_mm256_sllv_epi32(bits, s2)),
                _mm256_srai_epi32::<31>(_mm256_sllv_epi32(bits, s3)),
            ]
        }
    }
}

impl MaskLanes for Lanes64 {
    const STEP: usize = 16;
    const BYTES: usize = 8;
    #[inline(always)]
    unsafe fn keep(bits: u64) -> [__m256i; 4] {
        // SAFETY: AVX2 (caller).
        unsafe {
            let bits = _mm256_set1_epi64x(bits as i64);
            let (s0, s1, s2, s3) = (
                _mm256_setr_epi64x(63, 62, 61, 60),
                _mm256_setr_epi64x(59, 58, 57, 56),
                _mm256_setr_epi64x(55, 54, 53, 52),
                _mm256_setr_epi64x(51, 50, 49, 48),
            );
            let zero = _mm256_setzero_si256();
            [
                _mm256_cmpgt_epi64(zero, _mm256_sllv_epi64(bits, s0)),
                _mm256_cmpgt_epi64(zero, _mm256_sllv_epi64(bits, s1)),
                _mm256_cmpgt_epi64(zero, _mm256_sllv_epi64(bits, s2)),
                _mm256_cmpgt_epi64(zero, _mm256_sllv_epi64(bits, s3)),
            ]
        }
    }
}

/// `dx = bit ? dy : zero` with streaming stores, in one pass, for outputs beyond the cache:
/// plain stores up to `dx`'s first cache line, then [`MaskLanes::STEP`] lanes at a time (in
/// the interleaved order of `for_each_stream_step!`) take their mask bits wherever they
/// start in the words, spread them over four vectors and stream the selected `dy` straight
/// out; plain stores for the tail. (Selecting
/// whole words into an L1 buffer and streaming that measured 1.1-1.5x slower from DRAM,
/// f32 at 16M-64M elements.)
///
/// # Safety
/// AVX2 must be available; `T` must be `L::BYTES` bytes, with all-zero bits for `zero`;
/// `words` must hold a bit for every element of `dx`.
#[inline(always)]
pub(crate) unsafe fn select_by_mask_stream<L: MaskLanes, T: Sealed>(words: &[u64], dy: &[T], dx: &mut [T]) {
    debug_assert_eq!(size_of::<T>(), L::BYTES);
    let n = dx.len().min(dy.len());
    let head = unaligned_head(dx, STREAM_ALIGN).min(n);
    select_by_bits(words, dy, dx, 0..head);
    let per_vector = L::STEP / 4;
    let tail = for_each_stream_step!(T, head, n, L::STEP, |i| {
        // SAFETY: AVX2 (caller). Every access is to lanes i..i + STEP <= n of dy and dx;
        // dx + i is line-aligned (after the head, in whole steps).
        unsafe {
            let keep = L::keep(mask_bits(words, i, L::STEP));
            for (j, keep) in keep.into_iter().enumerate() {
                let g = _mm256_loadu_si256(dy.as_ptr().add(i + per_vector * j).cast());
                _mm256_stream_si256(dx.as_mut_ptr().add(i + per_vector * j).cast(), _mm256_and_si256(keep, g));
            }
        }
    });
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence
    // before anything else reads dx.
    unsafe { _mm_sfence() };
    select_by_bits(words, dy, dx, tail..n);
}

/// One step of [`relu_with_mask_stream`]: `STEP` lanes of ReLU streamed out, and their mask
/// bits.
pub(crate) trait ReluMaskStep: Sealed {
    /// Lanes a step: four vectors.
    const STEP: usize;
    /// Computes `y[..STEP] = relu(x[..STEP])` with streaming stores and returns the bits
    /// `x > 0` in its low `STEP` bits.
    ///
    /// # Safety
    /// x86-64-v3 (AVX2, BMI2) must be available; `x` readable and `y` writable for `STEP`
    /// elements; `y` 32-byte aligned.
    unsafe fn relu_step(x: *const Self, y: *mut Self) -> u64;
}

impl ReluMaskStep for f32 {
    const STEP: usize = 32;
    #[inline(always)]
    unsafe fn relu_step(x: *const f32, y: *mut f32) -> u64 {
        // SAFETY: AVX2, four vectors of x and y, y aligned (caller).
        unsafe {
            let zero = _mm256_setzero_ps();
            let mut above = [zero; 4];
            for (j, above) in above.iter_mut().enumerate() {
                let v = _mm256_loadu_ps(x.add(8 * j));
                let keep = _mm256_cmp_ps::<_CMP_NLE_UQ>(v, zero);
                _mm256_stream_ps(y.add(8 * j), _mm256_and_ps(v, keep));
                *above = _mm256_cmp_ps::<_CMP_GT_OQ>(v, zero);
            }
            u64::from(bits_of_lanes_32(above[0], above[1], above[2], above[3]))
        }
    }
}

impl ReluMaskStep for f64 {
    const STEP: usize = 16;
    #[inline(always)]
    unsafe fn relu_step(x: *const f64, y: *mut f64) -> u64 {
        // SAFETY: AVX2, four vectors of x and y, y aligned (caller).
        unsafe {
            let zero = _mm256_setzero_pd();
            let mut bits = 0u64;
            for j in 0..4 {
                let v = _mm256_loadu_pd(x.add(4 * j));
                let keep = _mm256_cmp_pd::<_CMP_NLE_UQ>(v, zero);
                _mm256_stream_pd(y.add(4 * j), _mm256_and_pd(v, keep));
                bits |= (_mm256_movemask_pd(_mm256_cmp_pd::<_CMP_GT_OQ>(v, zero)) as u64) << (4 * j);
            }
            bits
        }
    }
}

/// 64 lanes of a 16-bit float a step, as [`relu_mask_word_16`].
macro_rules! relu_mask_step_16 {
    ($t:ty) => {
        impl ReluMaskStep for $t {
            const STEP: usize = 64;
            #[inline(always)]
            unsafe fn relu_step(x: *const $t, y: *mut $t) -> u64 {
                let mut bits = 0u64;
                for j in 0..4 {
                    // SAFETY: x86-64-v3 (AVX2, BMI2), four vectors of x and y, y aligned
                    // (caller).
                    unsafe {
                        let (r, b) = relu_bits_16(_mm256_loadu_si256(x.add(16 * j).cast()), <$t as Half>::INF);
                        _mm256_stream_si256(y.add(16 * j).cast(), r);
                        bits |= u64::from(b) << (16 * j);
                    }
                }
                bits
            }
        }
    };
}
relu_mask_step_16!(f16);
relu_mask_step_16!(bf16);

/// `y = relu(x)` and the mask of `x > 0` for the floats beyond the cache, in one pass with
/// streaming stores aligned to `y`: [`ReluMaskStep::STEP`] lanes a step (four vectors
/// computed and streamed out as in [`relu_mask_word_f32`], and their bits) in the
/// interleaved order of `for_each_stream_step!`, the bits or-ed into the mask words (cleared
/// first); plain stores for the elements before `y`'s first cache line and after the last
/// step. (Whole words through an L1 buffer and the `Streamer` measured ~1.3x slower from
/// DRAM, f32 at 64M elements.)
///
/// # Safety
/// x86-64-v3 (AVX2, BMI2) must be available; `words.len()` must be `y.len().div_ceil(64)`,
/// and `x` as long as `y`.
#[inline(always)]
pub(crate) unsafe fn relu_with_mask_stream<T: ReluMaskStep>(x: &[T], y: &mut [T], words: &mut [u64]) {
    let n = y.len().min(x.len());
    let head = unaligned_head(y, STREAM_ALIGN).min(n);
    // The steps come in the interleaved order, so each ors its bits into cleared words.
    words.fill(0);
    for i in 0..head {
        y[i] = x[i].relu_elem();
        words[i / 64] |= u64::from(x[i].is_positive()) << (i % 64);
    }
    let ahead = crate::arch::stream::prefetch_ahead::<T>();
    let tail = for_each_stream_step!(T, head, n, T::STEP, |i| {
        if let Some(ahead) = ahead
            && i + ahead + T::STEP <= n
        {
            prefetch(x[i + ahead..].as_ptr().cast(), T::STEP * size_of::<T>());
        }
        // SAFETY: AVX2 (caller); lanes i..i + STEP <= n of x and y; y + i is line-aligned
        // (after the head, in whole steps).
        let bits = unsafe { T::relu_step(x.as_ptr().add(i), y.as_mut_ptr().add(i)) };
        let (w, s) = (i / 64, i % 64);
        words[w] |= bits << s;
        if s > 64 - T::STEP {
            // The bits past the word's end start the next one.
            words[w + 1] |= bits >> (64 - s);
        }
    });
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence
    // before anything else reads y.
    unsafe { _mm_sfence() };
    for i in tail..n {
        y[i] = x[i].relu_elem();
        words[i / 64] |= u64::from(x[i].is_positive()) << (i % 64);
    }
}

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 16 bits.
///
/// # Safety
/// AVX2 must be available; `T` must be of the lane size.
#[inline(always)]
pub(crate) unsafe fn select_word_16<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    debug_assert_eq!(size_of::<T>() * 8, 16);
    // SAFETY: AVX2 (caller); every access is to 16 lanes of a 64-lane array.
    unsafe {
        let lane_bits =
            _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, i16::MIN);
        for (j, (dx, dy)) in dx.chunks_exact_mut(16).zip(dy.chunks_exact(16)).enumerate() {
            let half = _mm256_set1_epi16(((w >> (16 * j)) & 0xffff) as u16 as i16);
            let keep = opaque(_mm256_cmpeq_epi16(_mm256_and_si256(half, lane_bits), lane_bits));
            let g = _mm256_loadu_si256(dy.as_ptr().cast());
            _mm256_storeu_si256(dx.as_mut_ptr().cast(), _mm256_and_si256(keep, g));
        }
    }
}

/// `x = relu(x)` in place for f32: `x & (x > 0 or NaN)`, one compare and one and per vector,
/// every store a plain one.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_inplace_f32(x: &mut [f32]) {
    let mut chunks = x.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: AVX2 (caller); `c` holds 8 f32. NLE_UQ is true for x > 0 and for NaN.
        unsafe {
            let v = _mm256_loadu_ps(c.as_ptr());
            let keep =
                _mm256_castsi256_ps(opaque(_mm256_castps_si256(_mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_setzero_ps()))));
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_and_ps(v, keep));
        }
    }
    for v in chunks.into_remainder() {
        *v = Sealed::relu_elem(*v);
    }
}

/// `dy = x > 0 ? dy : +0.0` in place for f32.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_backward_inplace_f32(x: &[f32], dy: &mut [f32]) {
    let mut chunks = dy.chunks_exact_mut(8);
    let mut xs = x.chunks_exact(8);
    for (g, x) in (&mut chunks).zip(&mut xs) {
        // SAFETY: AVX2 (caller); both chunks hold 8 f32. GT_OQ is false for NaN.
        unsafe {
            let keep = _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_loadu_ps(x.as_ptr()), _mm256_setzero_ps());
            let keep = _mm256_castsi256_ps(opaque(_mm256_castps_si256(keep)));
            _mm256_storeu_ps(g.as_mut_ptr(), _mm256_and_ps(_mm256_loadu_ps(g.as_ptr()), keep));
        }
    }
    for (g, &x) in chunks.into_remainder().iter_mut().zip(xs.remainder()) {
        *g = if x > 0.0 { *g } else { 0.0 };
    }
}

/// `x = relu(x)` in place for f64: `x & (x > 0 or NaN)`, one compare and one and per vector,
/// every store a plain one.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_inplace_f64(x: &mut [f64]) {
    let mut chunks = x.chunks_exact_mut(4);
    for c in &mut chunks {
        // SAFETY: AVX2 (caller); `c` holds 4 f64. NLE_UQ is true for x > 0 and for NaN.
        unsafe {
            let v = _mm256_loadu_pd(c.as_ptr());
            let keep =
                _mm256_castsi256_pd(opaque(_mm256_castpd_si256(_mm256_cmp_pd::<_CMP_NLE_UQ>(v, _mm256_setzero_pd()))));
            _mm256_storeu_pd(c.as_mut_ptr(), _mm256_and_pd(v, keep));
        }
    }
    for v in chunks.into_remainder() {
        *v = Sealed::relu_elem(*v);
    }
}

/// `dy = x > 0 ? dy : +0.0` in place for f64.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn relu_backward_inplace_f64(x: &[f64], dy: &mut [f64]) {
    let mut chunks = dy.chunks_exact_mut(4);
    let mut xs = x.chunks_exact(4);
    for (g, x) in (&mut chunks).zip(&mut xs) {
        // SAFETY: AVX2 (caller); both chunks hold 8 f64. GT_OQ is false for NaN.
        unsafe {
            let keep = _mm256_cmp_pd::<_CMP_GT_OQ>(_mm256_loadu_pd(x.as_ptr()), _mm256_setzero_pd());
            let keep = _mm256_castsi256_pd(opaque(_mm256_castpd_si256(keep)));
            _mm256_storeu_pd(g.as_mut_ptr(), _mm256_and_pd(_mm256_loadu_pd(g.as_ptr()), keep));
        }
    }
    for (g, &x) in chunks.into_remainder().iter_mut().zip(xs.remainder()) {
        *g = if x > 0.0 { *g } else { 0.0 };
    }
}

/// `x = relu(x)` in place for a 16-bit float whose positive infinity has bits `inf`: keep
/// the lanes of [`keep_lanes_16`].
///
/// # Safety
/// AVX2 must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn relu_inplace_16<T: Sealed>(x: &mut [T], inf: i16) {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut chunks = x.chunks_exact_mut(16);
    for c in &mut chunks {
        // SAFETY: AVX2 (caller); `c` holds 16 two-byte lanes.
        unsafe {
            let s = _mm256_loadu_si256(c.as_ptr().cast());
            let keep = opaque(keep_lanes_16(s, inf));
            _mm256_storeu_si256(c.as_mut_ptr().cast(), _mm256_and_si256(s, keep));
        }
    }
    for v in chunks.into_remainder() {
        *v = v.relu_elem();
    }
}

/// `dy = x > 0 ? dy : +0.0` in place for 16-bit floats (`0 < s <= inf`).
///
/// # Safety
/// AVX2 must be available; `T` must be 2 bytes.
#[inline(always)]
pub(crate) unsafe fn relu_backward_inplace_16<T: Sealed>(x: &[T], dy: &mut [T], inf: i16) {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut chunks = dy.chunks_exact_mut(16);
    let mut xs = x.chunks_exact(16);
    for (g, x) in (&mut chunks).zip(&mut xs) {
        // SAFETY: AVX2 (caller); both chunks hold 16 two-byte lanes.
        unsafe {
            let s = _mm256_loadu_si256(x.as_ptr().cast());
            let above_zero = _mm256_cmpgt_epi16(s, _mm256_setzero_si256());
            let not_above_inf = _mm256_cmpgt_epi16(_mm256_set1_epi16(inf.wrapping_add(1)), s);
            let keep = opaque(_mm256_and_si256(above_zero, not_above_inf));
            let d = _mm256_loadu_si256(g.as_ptr().cast());
            _mm256_storeu_si256(g.as_mut_ptr().cast(), _mm256_and_si256(d, keep));
        }
    }
    for (g, x) in chunks.into_remainder().iter_mut().zip(xs.remainder()) {
        *g = if x.is_positive() { *g } else { T::zero() };
    }
}

/// Eight f32 lanes in an AVX register: the [`Lanes`] of the 16-bit float drivers.
///
/// Values exist only inside the v3/v4 drivers (the type is crate-private and made only by
/// [`Half::widen8`] and [`Lanes::splat`] there), which run after AVX2 was detected; that
/// is what makes the intrinsics below sound.
#[derive(Clone, Copy)]
pub(crate) struct F32x8(__m256);

impl core::ops::Add for F32x8 {
    type Output = F32x8;
    #[inline(always)]
    fn add(self, other: F32x8) -> F32x8 {
        // SAFETY: an F32x8 exists only where AVX is available (see the type).
        F32x8(unsafe { _mm256_add_ps(self.0, other.0) })
    }
}

impl core::ops::Sub for F32x8 {
    type Output = F32x8;
    #[inline(always)]
    fn sub(self, other: F32x8) -> F32x8 {
        // SAFETY: an F32x8 exists only where AVX is available (see the type).
        F32x8(unsafe { _mm256_sub_ps(self.0, other.0) })
    }
}

impl core::ops::Mul for F32x8 {
    type Output = F32x8;
    #[inline(always)]
    fn mul(self, other: F32x8) -> F32x8 {
        // SAFETY: an F32x8 exists only where AVX is available (see the type).
        F32x8(unsafe { _mm256_mul_ps(self.0, other.0) })
    }
}

impl Lanes<f32> for F32x8 {
    #[inline(always)]
    fn splat(v: f32) -> F32x8 {
        // SAFETY: called only inside the v3/v4 drivers (see the type).
        F32x8(unsafe { _mm256_set1_ps(v) })
    }
    #[inline(always)]
    fn if_eq(self, other: F32x8, then: F32x8, otherwise: F32x8) -> F32x8 {
        // SAFETY: an F32x8 exists only where AVX is available (see the type). The ordered
        // compare is IEEE equality: -0.0 == +0.0, NaN equal to nothing.
        F32x8(unsafe { _mm256_blendv_ps(otherwise.0, then.0, _mm256_cmp_ps::<_CMP_EQ_OQ>(self.0, other.0)) })
    }
}

/// Sixteen f32 lanes in two AVX registers, low lanes first: the [`Convert16::V`] of
/// [`Avx2Convert`]. Every operation is the [`F32x8`] one on each half.
#[derive(Clone, Copy)]
pub(crate) struct F32x8x2(F32x8, F32x8);

impl core::ops::Add for F32x8x2 {
    type Output = F32x8x2;
    #[inline(always)]
    fn add(self, other: F32x8x2) -> F32x8x2 {
        F32x8x2(self.0 + other.0, self.1 + other.1)
    }
}

impl core::ops::Sub for F32x8x2 {
    type Output = F32x8x2;
    #[inline(always)]
    fn sub(self, other: F32x8x2) -> F32x8x2 {
        F32x8x2(self.0 - other.0, self.1 - other.1)
    }
}

impl core::ops::Mul for F32x8x2 {
    type Output = F32x8x2;
    #[inline(always)]
    fn mul(self, other: F32x8x2) -> F32x8x2 {
        F32x8x2(self.0 * other.0, self.1 * other.1)
    }
}

impl Lanes<f32> for F32x8x2 {
    #[inline(always)]
    fn splat(v: f32) -> F32x8x2 {
        let half = F32x8::splat(v);
        F32x8x2(half, half)
    }
    #[inline(always)]
    fn if_eq(self, other: F32x8x2, then: F32x8x2, otherwise: F32x8x2) -> F32x8x2 {
        F32x8x2(self.0.if_eq(other.0, then.0, otherwise.0), self.1.if_eq(other.1, then.1, otherwise.1))
    }
}

/// The 16-bit floats' conversions of 8 lanes to and from f32 with AVX2 and F16C.
pub(crate) trait Half: Float<C = f32> {
    /// The bits of positive infinity (above them, as a magnitude: NaN).
    const INF: i16;
    /// The PReLU slope gradient's terms added to a plane's lanes at x86-64-v4
    /// ([`crate::arch::generic::add_terms_to_lanes_fma`]): f16 through [`prelu_lanes_16`];
    /// bf16 in a plain loop that widens by the shift alone, which vectorises at AVX-512
    /// width.
    ///
    /// # Safety
    /// x86-64-v4 must be available.
    unsafe fn prelu_lanes_v4(x: &[Self], dy: &[Self], lanes: &mut SumLanes);
    /// Widens 8 lanes, exactly for every non-NaN value (a NaN stays a NaN; arithmetic on it
    /// quiets it, as the per-lane widening does).
    ///
    /// # Safety
    /// AVX2 and F16C must be available; `src` readable for 8 elements.
    unsafe fn widen8(src: *const Self) -> F32x8;
    /// Narrows 16 lanes (`lo` then `hi`), round to nearest, ties to even: bitwise as
    /// `FloatSealed::narrow` on every input, NaN included.
    ///
    /// # Safety
    /// AVX2 and F16C must be available.
    // Implementations are inlined always, like every body here: not inlined, one would be
    // compiled without the caller's target features and its intrinsics would stay calls
    // (measured 25x slower).
    unsafe fn narrow16_bits(lo: F32x8, hi: F32x8) -> __m256i;
    /// As [`Half::narrow16_bits`] where the caller replaces every NaN lane afterwards: the
    /// bits of those lanes are unspecified, which spares bf16 its NaN handling.
    ///
    /// # Safety
    /// AVX2 and F16C must be available.
    #[inline(always)]
    unsafe fn narrow16_bits_unless_nan(lo: F32x8, hi: F32x8) -> __m256i {
        // SAFETY: forwarded from the caller.
        unsafe { Self::narrow16_bits(lo, hi) }
    }
}

/// How the 16-bit float drivers below turn 16 lanes of `T` into f32 lanes and back: in two
/// AVX registers ([`Avx2Convert`], x86-64-v3) or in one AVX-512 register
/// (`avx512::Avx512Convert`, and `avx512::Avx512Bf16Convert` where bf16 narrows with
/// AVX-512 BF16), each with the selects on the raw 16-bit lanes that its level does best.
pub(crate) trait Convert16<T: Half> {
    /// The 16 f32 lanes.
    type V: Lanes<f32>;
    /// Widens 16 lanes, exactly for every non-NaN value (a NaN stays a NaN; arithmetic on
    /// it quiets it, as the per-lane widening does).
    ///
    /// # Safety
    /// The converter's features must be available; `src` readable for 16 elements.
    unsafe fn widen16(src: *const T) -> Self::V;
    /// Narrows 16 lanes, round to nearest, ties to even: bitwise as `FloatSealed::narrow`
    /// on every input, NaN included.
    ///
    /// # Safety
    /// The converter's features must be available.
    unsafe fn narrow16(v: Self::V) -> __m256i;
    /// As [`Convert16::narrow16`] where the caller replaces every NaN lane afterwards (the
    /// bits of those lanes are unspecified).
    ///
    /// # Safety
    /// The converter's features must be available.
    #[inline(always)]
    unsafe fn narrow16_unless_nan(v: Self::V) -> __m256i {
        // SAFETY: forwarded from the caller.
        unsafe { Self::narrow16(v) }
    }
    /// Per lane of the raw bits `s` of 16 inputs: `p` where `s` is a negative number
    /// (-0.0 and -infinity included, NaN not), `s` elsewhere: `s` in the lanes ReLU keeps
    /// ([`keep_lanes_16`]: one compare), `p` in the others.
    ///
    /// # Safety
    /// The converter's features must be available.
    #[inline(always)]
    unsafe fn product_where_negative(s: __m256i, p: __m256i) -> __m256i {
        // SAFETY: AVX2 (caller).
        unsafe { _mm256_blendv_epi8(p, s, keep_lanes_16(s, T::INF)) }
    }
    /// Per lane of the raw bits `x`: `dy` where `x > 0` (as a signed integer, which is the
    /// float order or a positive NaN), `+0.0` where `x` is NaN, `p` elsewhere.
    ///
    /// # Safety
    /// The converter's features must be available.
    #[inline(always)]
    unsafe fn select_dy_above_zero(x: __m256i, dy: __m256i, p: __m256i) -> __m256i {
        // SAFETY: AVX2 (caller).
        unsafe {
            let above = _mm256_cmpgt_epi16(x, _mm256_setzero_si256());
            let r = _mm256_blendv_epi8(p, dy, above);
            _mm256_andnot_si256(nan_lanes_16(x, T::INF), r)
        }
    }
    /// Whether [`Product::pieces`] selects run by [`Convert16::compare`] masks here: on
    /// v4 the compares write mask registers and each blend is one instruction (f16 `Mid`
    /// backward at 64K: 21 -> 28.5 GB/s); on v3 each compare needs a pack and a permute
    /// to reach 16-bit lanes and each blend is a `vpblendvb`, and the masks ran 3-5%
    /// slower than the select over the narrowed lanes.
    const PIECES_BY_MASKS: bool;
    /// A mask of 16 lanes.
    type Mask: Copy;
    /// The lanes where `a P b` (`P` a `_CMP_*` predicate of `vcmpps`).
    ///
    /// # Safety
    /// The converter's features must be available.
    unsafe fn compare<const P: i32>(a: Self::V, b: Self::V) -> Self::Mask;
    /// `then` in the lanes of `m`, `otherwise` elsewhere, on 16-bit lanes.
    ///
    /// # Safety
    /// The converter's features must be available.
    unsafe fn blend(m: Self::Mask, otherwise: __m256i, then: __m256i) -> __m256i;
    /// 16 f32 lanes from memory: the tests' way to narrow arbitrary f32 patterns.
    ///
    /// # Safety
    /// The converter's features must be available.
    #[cfg(test)]
    unsafe fn load(src: &[f32; 16]) -> Self::V;
    /// The 16 f32 lanes to memory: the tests' way to read a widening.
    ///
    /// # Safety
    /// The converter's features must be available.
    #[cfg(test)]
    unsafe fn store(v: Self::V, dst: &mut [f32; 16]);
}

/// [`Convert16`] in two AVX registers: F16C for f16, shifts and integer rounding for bf16
/// ([`Half`]).
pub(crate) struct Avx2Convert;

impl<T: Half> Convert16<T> for Avx2Convert {
    const PIECES_BY_MASKS: bool = false;
    type V = F32x8x2;
    type Mask = __m256i;
    #[inline(always)]
    unsafe fn compare<const P: i32>(a: F32x8x2, b: F32x8x2) -> __m256i {
        // SAFETY: AVX2 (caller). The all-ones or zero 32-bit lanes pack to 16 bits as they
        // are.
        unsafe {
            let lo = _mm256_castps_si256(_mm256_cmp_ps::<P>(a.0.0, b.0.0));
            let hi = _mm256_castps_si256(_mm256_cmp_ps::<P>(a.1.0, b.1.0));
            _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(lo, hi))
        }
    }
    #[inline(always)]
    unsafe fn blend(m: __m256i, otherwise: __m256i, then: __m256i) -> __m256i {
        // SAFETY: AVX2 (caller).
        unsafe { _mm256_blendv_epi8(otherwise, then, m) }
    }
    #[inline(always)]
    unsafe fn widen16(src: *const T) -> F32x8x2 {
        // SAFETY: AVX2 and F16C, 16 elements readable (caller).
        unsafe { F32x8x2(T::widen8(src), T::widen8(src.add(8))) }
    }
    #[inline(always)]
    unsafe fn narrow16(v: F32x8x2) -> __m256i {
        // SAFETY: AVX2 and F16C (caller).
        unsafe { T::narrow16_bits(v.0, v.1) }
    }
    #[inline(always)]
    unsafe fn narrow16_unless_nan(v: F32x8x2) -> __m256i {
        // SAFETY: AVX2 and F16C (caller).
        unsafe { T::narrow16_bits_unless_nan(v.0, v.1) }
    }
    #[cfg(test)]
    unsafe fn load(src: &[f32; 16]) -> F32x8x2 {
        // SAFETY: AVX (caller); 16 f32 readable.
        unsafe { F32x8x2(F32x8(_mm256_loadu_ps(src.as_ptr())), F32x8(_mm256_loadu_ps(src.as_ptr().add(8)))) }
    }
    #[cfg(test)]
    unsafe fn store(v: F32x8x2, dst: &mut [f32; 16]) {
        // SAFETY: AVX (caller); 16 f32 writable.
        unsafe {
            _mm256_storeu_ps(dst.as_mut_ptr(), v.0.0);
            _mm256_storeu_ps(dst.as_mut_ptr().add(8), v.1.0);
        }
    }
}

impl Half for f16 {
    const INF: i16 = 0x7c00;
    #[inline(always)]
    unsafe fn prelu_lanes_v4(x: &[f16], dy: &[f16], lanes: &mut SumLanes) {
        // SAFETY: v4 (caller) includes v3.
        unsafe { prelu_lanes_16(x, dy, lanes) }
    }
    #[inline(always)]
    unsafe fn widen8(src: *const f16) -> F32x8 {
        // SAFETY: F16C (caller); 8 two-byte lanes readable (caller).
        F32x8(unsafe { _mm256_cvtph_ps(_mm_loadu_si128(src.cast())) })
    }
    #[inline(always)]
    unsafe fn narrow16_bits(lo: F32x8, hi: F32x8) -> __m256i {
        // SAFETY: F16C (caller). The instruction keeps a NaN's sign and top payload bits and
        // sets the quiet bit, as `narrow` does.
        unsafe {
            let lo = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(lo.0);
            let hi = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(hi.0);
            _mm256_set_m128i(hi, lo)
        }
    }
}

/// The PReLU slope gradient's terms of 16-bit floats added to a plane's lanes
/// ([`crate::arch::generic::add_terms_to_lanes_fma`]): 8 lanes at a time widened to f32 in
/// registers (F16C, a shift) into a buffer, then the f32 terms, which are the same values
/// (the widening is exact). Measured on the AVX-512 Xeon, PReLU backward, 64 channels
/// first, one thread, ns an element, against the plain loop's own widening (with the sums
/// of the time, in index order): f16 at 64K 0.91 -> 0.50 on v4, 1.61 -> 0.52 on v3; bf16
/// 0.87 -> 0.65 on v3, but 0.56 -> 0.61 on v4, where bf16 takes a loop of its own instead
/// ([`Half::prelu_lanes_v4`]).
///
/// # Safety
/// x86-64-v3 must be available.
#[inline(always)]
pub(crate) unsafe fn prelu_lanes_16<T: Half>(x: &[T], dy: &[T], lanes: &mut SumLanes) {
    // A whole number of lanes, so that each part starts on lane 0.
    const PART: usize = 8 * crate::arch::generic::SUM_LANES;
    let (mut wide_x, mut wide_dy) = ([0.0_f32; PART], [0.0_f32; PART]);
    for (x, dy) in x.chunks(PART).zip(dy.chunks(PART)) {
        let n = x.len().min(dy.len());
        let whole = n - n % 8;
        for at in (0..whole).step_by(8) {
            // SAFETY: v3 (caller); 8 lanes of `x` and `dy` at `at + 8 <= n`, 8 f32 of the
            // buffers at `at + 8 <= n <= PART`.
            unsafe {
                _mm256_storeu_ps(wide_x[at..].as_mut_ptr(), T::widen8(x[at..].as_ptr()).0);
                _mm256_storeu_ps(wide_dy[at..].as_mut_ptr(), T::widen8(dy[at..].as_ptr()).0);
            }
        }
        for at in whole..n {
            wide_x[at] = x[at].widen();
            wide_dy[at] = dy[at].widen();
        }
        crate::arch::generic::add_terms_to_lanes_fma(&wide_x[..n], &wide_dy[..n], lanes);
    }
}

/// `f32_to_bf16_bits` on 8 lanes, in the low 16 bits of each 32-bit lane: add 0x7fff plus
/// the kept lsb and shift (ties to even), or the top half with the quiet bit for NaN.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn bf16_bits8(v: F32x8) -> __m256i {
    // SAFETY: AVX2 (caller).
    unsafe {
        let top = _mm256_srli_epi32::<16>(_mm256_castps_si256(v.0));
        let nan = _mm256_or_si256(top, _mm256_set1_epi32(0x40));
        let is_nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v.0, v.0));
        _mm256_blendv_epi8(bf16_bits8_unless_nan(v), nan, is_nan)
    }
}

/// [`bf16_bits8`] for lanes that are not NaN (the bits of NaN lanes are unspecified).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn bf16_bits8_unless_nan(v: F32x8) -> __m256i {
    // SAFETY: AVX2 (caller).
    unsafe {
        let x = _mm256_castps_si256(v.0);
        let lsb = _mm256_and_si256(_mm256_srli_epi32::<16>(x), _mm256_set1_epi32(1));
        let bias = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb);
        _mm256_srli_epi32::<16>(_mm256_add_epi32(x, bias))
    }
}

/// 16 lanes of 16 bits from two vectors of 8 lanes of 32 bits (values below 2^16), in order.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn pack_halves(lo: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: AVX2 (caller). Every lane fits 16 bits, so the saturating pack keeps it; it
    // interleaves 64-bit quarters, which the permute puts back in order.
    unsafe { _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packus_epi32(lo, hi)) }
}

impl Half for bf16 {
    const INF: i16 = 0x7f80;
    /// The shift alone, without the quiet bit that the element's widening sets on a NaN
    /// (a compare and a masked `or` a vector): a term's NaN is any NaN, since the crate
    /// returns the canonical NaN for every NaN sum. Measured on the AVX-512 Xeon, PReLU
    /// backward of bf16, 64 channels first, one thread, ns an element, with the sums of the
    /// time (in index order): 4K 0.70 -> 0.63, 64K 0.56 -> 0.47, 1M 0.62 -> 0.52 (through
    /// [`prelu_lanes_16`]'s buffer: 0.61 at 64K).
    #[inline(always)]
    unsafe fn prelu_lanes_v4(x: &[bf16], dy: &[bf16], lanes: &mut SumLanes) {
        crate::arch::generic::add_to_lanes_with::<true, _, _>(x, dy, lanes, |v| {
            f32::from_bits(u32::from(v.to_bits()) << 16)
        });
    }
    #[inline(always)]
    unsafe fn widen8(src: *const bf16) -> F32x8 {
        // SAFETY: AVX2 (caller); 8 two-byte lanes readable (caller). bf16 is the top half
        // of an f32.
        F32x8(unsafe {
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(_mm_loadu_si128(src.cast()))))
        })
    }
    #[inline(always)]
    unsafe fn narrow16_bits(lo: F32x8, hi: F32x8) -> __m256i {
        // SAFETY: AVX2 (caller).
        unsafe { pack_halves(bf16_bits8(lo), bf16_bits8(hi)) }
    }
    #[inline(always)]
    unsafe fn narrow16_bits_unless_nan(lo: F32x8, hi: F32x8) -> __m256i {
        // SAFETY: AVX2 (caller).
        unsafe { pack_halves(bf16_bits8_unless_nan(lo), bf16_bits8_unless_nan(hi)) }
    }
}

/// `out = k(a, b)` for a 16-bit float op that multiplies, in one pass of 16 lanes at a
/// time: widen, product and narrow in registers ([`Convert16`]) into a 16-lane array
/// (which LLVM keeps in a register), then the op's select over it and the inputs' 16-bit
/// lanes, which LLVM turns into one vector body. (Products for a block of 128 first, then
/// the selects over the block, measured 20-40% slower: twice the loop overhead and the
/// inputs loaded twice.) The bits are those of the per-lane kernel: the conversions are
/// exact or round once to nearest even as `widen`/`narrow` do.
///
/// # Safety
/// AVX2, F16C and the features of `C` must be available.
#[inline(always)]
pub(crate) unsafe fn product_select_16<T: Half, K: Product<T>, C: Convert16<T>>(
    k: &K,
    a: &[T],
    b: &[T],
    out: &mut [T],
) {
    if K::NEGATIVE_TAKES_PRODUCT && !K::BINARY {
        // SAFETY: forwarded from the caller.
        return unsafe { negative_takes_product_16::<T, K, C>(k, a, out) };
    }
    if K::DY_ABOVE_ZERO {
        // SAFETY: forwarded from the caller.
        return unsafe { dy_above_zero_16::<T, K, C>(k, a, b, out) };
    }
    if let Some(pieces) = k.pieces().filter(|_| C::PIECES_BY_MASKS) {
        use Piece::Product;
        // SAFETY: forwarded from the caller.
        return unsafe {
            match (pieces.below, pieces.at_t, pieces.cap, pieces.at_m) {
                (Product, Product, true, Product) => pieces_16::<T, K, C, CAPPED_ALL_MULTIPLY>(k, &pieces, a, b, out),
                (Product, Product, false, _) => pieces_16::<T, K, C, ALL_MULTIPLY>(k, &pieces, a, b, out),
                _ => pieces_16::<T, K, C, ANY_PIECES>(k, &pieces, a, b, out),
            }
        };
    }
    let n = out.len().min(a.len()).min(b.len());
    let mut p = [T::zero(); 16];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: AVX2, F16C and C's features (caller); i + 16 <= n, the length of a, b
        // and out.
        unsafe {
            let wide_a = C::widen16(a.as_ptr().add(i));
            let wide_b = if K::BINARY { C::widen16(b.as_ptr().add(i)) } else { wide_a };
            let bits = C::narrow16(k.product(wide_a, wide_b));
            // One 32-byte store, so that the 32-byte loads of the selects that follow are
            // forwarded from it (two 16-byte stores under one 32-byte load stall the load
            // on AMD and Intel cores alike).
            _mm256_storeu_si256(p.as_mut_ptr().cast(), bits);
        }
        let (a, b, o) = (&a[i..i + 16], &b[i..i + 16], &mut out[i..i + 16]);
        for (((o, &a), &b), &p) in o.iter_mut().zip(a).zip(b).zip(&p) {
            *o = k.select(a, b, p);
        }
        i += 16;
    }
    for ((o, &a), &b) in out[i..n].iter_mut().zip(&a[i..n]).zip(&b[i..n]) {
        *o = crate::kernels::fused(k, a, b);
    }
}

/// `out = k(x)` for a unary op whose select takes the product exactly where `x` is a
/// negative number ([`Product::NEGATIVE_TAKES_PRODUCT`]), in one pass: widen, product and
/// narrow in registers, then one compare of the raw 16 bits of `x` picks each lane. The
/// other lanes keep `x`'s bits, a signalling NaN's included, so the product's NaN lanes
/// need no narrowing of their own. (The earlier shape, a `max` of product and `x` in f32
/// and the NaN lanes put back after narrowing, cost three more instructions per 16 lanes:
/// leaky out of place at 64K-256K on v4, f16 44-45 GB/s against 53-54 now, bf16 31-33
/// against 36-38, in one A/B run of the throughput bench.)
///
/// # Safety
/// AVX2, F16C and the features of `C` must be available.
#[inline(always)]
unsafe fn negative_takes_product_16<T: Half, K: Product<T>, C: Convert16<T>>(k: &K, x: &[T], out: &mut [T]) {
    let n = out.len().min(x.len());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: AVX2, F16C and C's features (caller); i + 16 <= n, the length of x and
        // out.
        unsafe {
            let src = x.as_ptr().add(i);
            let wide = C::widen16(src);
            // The product is NaN only where x is, and those lanes keep x.
            let p = C::narrow16_unless_nan(k.product(wide, wide));
            let s = _mm256_loadu_si256(src.cast());
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), C::product_where_negative(s, p));
        }
        i += 16;
    }
    for (o, &x) in out[i..n].iter_mut().zip(&x[i..n]) {
        *o = crate::kernels::fused(k, x, x);
    }
}

/// `dx = k(x, dy)` for a binary op of the shape [`Product::DY_ABOVE_ZERO`], in one pass:
/// widen `dy`, product, narrow in registers, then the selects on the raw 16 bits of `x`
/// (as a signed integer it is above zero exactly where the float is, or a positive NaN,
/// which the NaN test zeroes).
///
/// # Safety
/// AVX2, F16C and the features of `C` must be available.
#[inline(always)]
unsafe fn dy_above_zero_16<T: Half, K: Product<T>, C: Convert16<T>>(k: &K, x: &[T], dy: &[T], dx: &mut [T]) {
    let n = dx.len().min(x.len()).min(dy.len());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: AVX2, F16C and C's features (caller); i + 16 <= n, the length of x, dy
        // and dx.
        unsafe {
            let g = dy.as_ptr().add(i);
            let wide = C::widen16(g);
            // The product reads only dy (the shape's promise), so dy stands in for x.
            let p = C::narrow16(k.product(wide, wide));
            let s = _mm256_loadu_si256(x.as_ptr().add(i).cast());
            let r = C::select_dy_above_zero(s, _mm256_loadu_si256(g.cast()), p);
            _mm256_storeu_si256(dx.as_mut_ptr().add(i).cast(), r);
        }
        i += 16;
    }
    for ((o, &x), &g) in dx[i..n].iter_mut().zip(&x[i..n]).zip(&dy[i..n]) {
        *o = crate::kernels::fused(k, x, g);
    }
}

/// [`pieces_16`] for any [`Pieces`].
const ANY_PIECES: u8 = 0;
/// [`pieces_16`] for pieces with a cap where the lanes below `t`, at `t` and at `m` take
/// the product (the ramp backward with the `Mid` kink and a slope).
const CAPPED_ALL_MULTIPLY: u8 = 1;
/// [`pieces_16`] for pieces without a cap where the lanes below `t` and at `t` take the
/// product (the leaky backward with the `Mid` kink).
const ALL_MULTIPLY: u8 = 2;

/// `dx = k(x, dy)` for a binary op whose select is [`Pieces`], in one pass: widen `x` and
/// `dy`, product, narrow, then the pieces by compares of the widened `x` against the
/// widened `t` and `m` (exact, so in the order of the keys, and false for NaN) that pick
/// among `+0.0`, the raw bits of `dy` and the product, in mask registers on v4
/// ([`Convert16::PIECES_BY_MASKS`]). (The select over the narrowed lanes compares order
/// keys, four instructions each: the ramp backward with the `Mid` kink on v4, one A/B
/// run, f16 at 64K-256K 20-21 GB/s against 27-29 now, bf16 17-19 against 22-25.)
///
/// `SHAPE` ([`ANY_PIECES`] or a shape that `pieces` has) picks the blends: where every
/// kink multiplies, the lanes at and below `t` take the product in one blend, and no
/// piece is looked up in the loop. The compares at `t` and `m` that the product makes
/// for its factor are the compiler's to share with the blends.
///
/// # Safety
/// AVX2, F16C and the features of `C` must be available.
#[inline(always)]
unsafe fn pieces_16<T: Half, K: Product<T>, C: Convert16<T>, const SHAPE: u8>(
    k: &K,
    pieces: &Pieces<f32>,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
) {
    let n = dx.len().min(x.len()).min(dy.len());
    let (t, m) = (C::V::splat(pieces.t), C::V::splat(pieces.m));
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: AVX2, F16C and C's features (caller); i + 16 <= n, the length of x, dy
        // and dx.
        unsafe {
            let (wide_x, g) = (C::widen16(x.as_ptr().add(i)), dy.as_ptr().add(i));
            let p = C::narrow16(k.product(wide_x, C::widen16(g)));
            let (zero, g) = (_mm256_setzero_si256(), _mm256_loadu_si256(g.cast()));
            // Each blend by an ordered compare: a NaN `x` keeps the +0.0 it starts from.
            let r = match SHAPE {
                CAPPED_ALL_MULTIPLY => {
                    let r = C::blend(C::compare::<_CMP_LT_OQ>(wide_x, m), zero, g);
                    let r = C::blend(C::compare::<_CMP_LE_OQ>(wide_x, t), r, p);
                    C::blend(C::compare::<_CMP_EQ_OQ>(wide_x, m), r, p)
                }
                ALL_MULTIPLY => {
                    let r = C::blend(C::compare::<_CMP_GT_OQ>(wide_x, t), zero, g);
                    C::blend(C::compare::<_CMP_LE_OQ>(wide_x, t), r, p)
                }
                _ => {
                    let pick = |piece: Piece| match piece {
                        Piece::Zero => zero,
                        Piece::Dy => g,
                        Piece::Product => p,
                    };
                    // `dy` above `t` (and below `m`), then the pieces below `t`, at `t`
                    // and at `m` over it.
                    let above_t = if pieces.cap {
                        C::compare::<_CMP_LT_OQ>(wide_x, m)
                    } else {
                        C::compare::<_CMP_GT_OQ>(wide_x, t)
                    };
                    let mut r = C::blend(above_t, zero, g);
                    r = C::blend(C::compare::<_CMP_LT_OQ>(wide_x, t), r, pick(pieces.below));
                    r = C::blend(C::compare::<_CMP_EQ_OQ>(wide_x, t), r, pick(pieces.at_t));
                    if pieces.cap {
                        r = C::blend(C::compare::<_CMP_EQ_OQ>(wide_x, m), r, pick(pieces.at_m));
                    }
                    r
                }
            };
            _mm256_storeu_si256(dx.as_mut_ptr().add(i).cast(), r);
        }
        i += 16;
    }
    for ((o, &x), &g) in dx[i..n].iter_mut().zip(&x[i..n]).zip(&dy[i..n]) {
        *o = crate::kernels::fused(k, x, g);
    }
}

/// `y = relu(x)` for f32 with streaming stores, fused (load, compare, and, stream), in
/// steps of 256 bytes in the interleaved order of `for_each_stream_step!`: for outputs
/// beyond the last-level cache.
///
/// # Safety
/// AVX2 must be available; `x.len() == y.len()`.
#[inline(always)]
pub(crate) unsafe fn relu_stream_f32(x: &[f32], y: &mut [f32]) {
    const STEP: usize = 64;
    let n = y.len().min(x.len());
    let head = unaligned_head(y, STREAM_ALIGN).min(n);
    for (y, &x) in y[..head].iter_mut().zip(&x[..head]) {
        *y = x.relu_elem();
    }
    let tail = for_each_stream_step!(f32, head, n, STEP, |i| {
        for j in (0..STEP).step_by(8) {
            // SAFETY: AVX2 (caller); i + STEP <= n; y + i + j is 32-byte aligned (y + i is
            // line-aligned after the head, in whole steps).
            unsafe {
                let v = _mm256_loadu_ps(x.as_ptr().add(i + j));
                let keep = _mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_setzero_ps());
                _mm256_stream_ps(y.as_mut_ptr().add(i + j), _mm256_and_ps(v, keep));
            }
        }
    });
    for (y, &x) in y[tail..n].iter_mut().zip(&x[tail..n]) {
        *y = x.relu_elem();
    }
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence.
    unsafe { _mm_sfence() };
}

/// `y = relu(x)` for f64 with streaming stores, fused (load, compare, and, stream), in
/// steps of 256 bytes in the interleaved order of `for_each_stream_step!`: for outputs
/// beyond the last-level cache.
///
/// # Safety
/// AVX2 must be available; `x.len() == y.len()`.
#[inline(always)]
pub(crate) unsafe fn relu_stream_f64(x: &[f64], y: &mut [f64]) {
    const STEP: usize = 32;
    let n = y.len().min(x.len());
    let head = unaligned_head(y, STREAM_ALIGN).min(n);
    for (y, &x) in y[..head].iter_mut().zip(&x[..head]) {
        *y = x.relu_elem();
    }
    let tail = for_each_stream_step!(f64, head, n, STEP, |i| {
        for j in (0..STEP).step_by(4) {
            // SAFETY: AVX2 (caller); i + STEP <= n; y + i + j is 32-byte aligned (y + i is
            // line-aligned after the head, in whole steps).
            unsafe {
                let v = _mm256_loadu_pd(x.as_ptr().add(i + j));
                let keep = _mm256_cmp_pd::<_CMP_NLE_UQ>(v, _mm256_setzero_pd());
                _mm256_stream_pd(y.as_mut_ptr().add(i + j), _mm256_and_pd(v, keep));
            }
        }
    });
    for (y, &x) in y[tail..n].iter_mut().zip(&x[tail..n]) {
        *y = x.relu_elem();
    }
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence.
    unsafe { _mm_sfence() };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_v3() -> bool {
        crate::dispatch::Isa::V3.is_available()
    }

    /// The converters the machine can run, by name: each test runs every one of them
    /// through a function compiled with its features.
    #[derive(Clone, Copy, Debug)]
    enum Converter {
        Avx2,
        Avx512,
        Avx512Bf16,
    }

    fn converters() -> Vec<Converter> {
        let v4 = crate::dispatch::Isa::V4.is_available();
        let mut all = vec![Converter::Avx2];
        if v4 {
            all.push(Converter::Avx512);
        }
        if v4 && crate::dispatch::bf16_extension() {
            all.push(Converter::Avx512Bf16);
        }
        all
    }

    /// Narrows 16 f32 with `C`.
    ///
    /// # Safety
    /// `C`'s features must be available (the callers below are compiled with them).
    #[inline(always)]
    unsafe fn narrow_with<T: Half, C: Convert16<T>>(lanes: &[f32; 16]) -> [T; 16] {
        let mut out = [T::zero(); 16];
        // SAFETY: the caller's features; 16 elements written.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), C::narrow16(C::load(lanes))) };
        out
    }

    /// Widens 16 elements with `C`.
    ///
    /// # Safety
    /// `C`'s features must be available (the callers below are compiled with them).
    #[inline(always)]
    unsafe fn widen_with<T: Half, C: Convert16<T>>(src: &[T; 16]) -> [f32; 16] {
        let mut out = [0.0f32; 16];
        // SAFETY: the caller's features; 16 elements read.
        unsafe { C::store(C::widen16(src.as_ptr()), &mut out) };
        out
    }

    /// [`narrow_with`] and [`widen_with`] for one converter, through functions compiled
    /// with its features.
    impl Converter {
        fn narrow<T: crate::arch::avx512::Half512>(self, lanes: &[f32; 16]) -> [T; 16] {
            use crate::arch::avx512::{Avx512Bf16Convert, Avx512Convert};
            #[target_feature(enable = "avx2,f16c")]
            fn avx2<T: Half>(l: &[f32; 16]) -> [T; 16] {
                // SAFETY: AVX2 and F16C are enabled here.
                unsafe { narrow_with::<T, Avx2Convert>(l) }
            }
            #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
            fn avx512<T: crate::arch::avx512::Half512>(l: &[f32; 16]) -> [T; 16] {
                // SAFETY: the features of x86-64-v4 that the converter uses are enabled.
                unsafe { narrow_with::<T, Avx512Convert>(l) }
            }
            #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]
            fn avx512_bf16<T: crate::arch::avx512::Half512>(l: &[f32; 16]) -> [T; 16] {
                // SAFETY: as above, and AVX-512 BF16.
                unsafe { narrow_with::<T, Avx512Bf16Convert>(l) }
            }
            // SAFETY: `converters` lists only those whose features were detected.
            unsafe {
                match self {
                    Converter::Avx2 => avx2(lanes),
                    Converter::Avx512 => avx512(lanes),
                    Converter::Avx512Bf16 => avx512_bf16(lanes),
                }
            }
        }
        fn widen<T: crate::arch::avx512::Half512>(self, src: &[T; 16]) -> [f32; 16] {
            use crate::arch::avx512::{Avx512Bf16Convert, Avx512Convert};
            #[target_feature(enable = "avx2,f16c")]
            fn avx2<T: Half>(s: &[T; 16]) -> [f32; 16] {
                // SAFETY: AVX2 and F16C are enabled here.
                unsafe { widen_with::<T, Avx2Convert>(s) }
            }
            #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl")]
            fn avx512<T: crate::arch::avx512::Half512>(s: &[T; 16]) -> [f32; 16] {
                // SAFETY: the features of x86-64-v4 that the converter uses are enabled.
                unsafe { widen_with::<T, Avx512Convert>(s) }
            }
            #[target_feature(enable = "avx2,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")]
            fn avx512_bf16<T: crate::arch::avx512::Half512>(s: &[T; 16]) -> [f32; 16] {
                // SAFETY: as above, and AVX-512 BF16.
                unsafe { widen_with::<T, Avx512Bf16Convert>(s) }
            }
            // SAFETY: `converters` lists only those whose features were detected.
            unsafe {
                match self {
                    Converter::Avx2 => avx2(src),
                    Converter::Avx512 => avx512(src),
                    Converter::Avx512Bf16 => avx512_bf16(src),
                }
            }
        }
    }

    /// Every converter's narrowing of both 16-bit types against the per-lane one on all
    /// 2^32 f32 patterns (a dense sample in a debug build), NaN payloads and denormals
    /// included (AVX-512 BF16 reads a denormal as zero unless guarded).
    #[test]
    fn narrow16_matches_narrow_for_every_f32() {
        if !have_v3() {
            return;
        }
        /// Every 16 patterns from `start` in steps of `step`, narrowed by each converter.
        fn check<T: crate::arch::avx512::Half512>(start: u64, end: u64, step: u64, converters: &[Converter]) {
            let mut base = start;
            while base < end {
                let lanes: [f32; 16] = core::array::from_fn(|i| f32::from_bits((base + i as u64 * step) as u32));
                let expected = lanes.map(|f| T::narrow(f).bits());
                for &c in converters {
                    let out = c.narrow::<T>(&lanes);
                    for ((o, e), f) in out.iter().zip(&expected).zip(&lanes) {
                        assert_eq!(o.bits(), *e, "{:?} {c:?} from f32 bits {:#010x}", T::DTYPE, f.to_bits());
                    }
                }
                base += 16 * step;
            }
        }
        let step = if cfg!(debug_assertions) { 4093 } else { 1 };
        let all = converters();
        // Avx512Bf16 narrows f16 as Avx512 does: checked once.
        let for_f16: Vec<Converter> = all.iter().copied().filter(|c| !matches!(c, Converter::Avx512Bf16)).collect();
        std::thread::scope(|s| {
            for half_range in [0u64, 1 << 31] {
                let (all, for_f16) = (&all, &for_f16);
                s.spawn(move || {
                    let range = (half_range, half_range + (1 << 31));
                    check::<f16>(range.0, range.1, step, for_f16);
                    check::<bf16>(range.0, range.1, step, all);
                });
            }
        });
    }

    /// Every converter's widening of both 16-bit types against the per-lane one on all
    /// 2^16 patterns: bitwise for every non-NaN, a NaN for every NaN.
    #[test]
    fn widen16_matches_widen_for_every_pattern() {
        if !have_v3() {
            return;
        }
        fn check<T: crate::arch::avx512::Half512>(c: Converter) {
            for base in (0..=u16::MAX as u32).step_by(16) {
                let src: [T; 16] = core::array::from_fn(|i| T::from_bits_u64(u64::from(base) + i as u64));
                let out = c.widen(&src);
                for (o, s) in out.iter().zip(&src) {
                    if s.is_nan_elem() {
                        assert!(o.is_nan(), "{:?} {c:?} bits {:#06x}", T::DTYPE, s.bits());
                    } else {
                        assert_eq!(o.to_bits(), s.widen().to_bits(), "{:?} {c:?} bits {:#06x}", T::DTYPE, s.bits());
                    }
                }
            }
        }
        for c in converters() {
            check::<f16>(c);
            check::<bf16>(c);
        }
    }
}

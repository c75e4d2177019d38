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
        let bits = unsafe {
            let s = _mm512_loadu_si512(half.as_ptr().cast());
            let above_zero = _mm512_cmpgt_epi16_mask(s, _mm512_setzero_si512());
            _mm512_mask_cmple_epi16_mask(above_zero, s, _mm512_set1_epi16(inf))
        };
        w |= u64::from(bits) << (32 * j);
    }
    w
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
    let mut w = 0u64;
    for (j, (x, y)) in x.chunks_exact(32).zip(y.chunks_exact_mut(32)).enumerate() {
        // SAFETY: AVX-512BW (caller); 32 two-byte lanes each side.
        let bits = unsafe {
            let s = _mm512_loadu_si512(x.as_ptr().cast());
            // As signed integers, the positive values and every NaN are above -inf's bits.
            let keep = _mm512_cmpgt_epi16_mask(s, _mm512_set1_epi16(inf | i16::MIN));
            _mm512_storeu_si512(y.as_mut_ptr().cast(), _mm512_maskz_mov_epi16(keep, s));
            let positive = _mm512_cmpgt_epi16_mask(s, _mm512_setzero_si512());
            _mm512_mask_cmple_epi16_mask(positive, s, _mm512_set1_epi16(inf))
        };
        w |= u64::from(bits) << (32 * j);
    }
    w
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

//! Explicit AVX2 bodies for the 1-bit mask, where LLVM's vectorisation of the portable loop
//! falls short (it shifts 64-bit lanes by variable counts instead of using `movemask` and
//! constant bit tests). Reached only through the v3 and v4 entry points, via the per-type
//! hooks of the element trait; each body is checked against the portable one by the tests.

#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::*;
use core::mem::size_of;

use crate::element::sealed::Sealed;

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

/// The bits `x > 0` (false for NaN) of 64 f32.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
pub(crate) unsafe fn pack_word_f32(x: &[f32; 64]) -> u64 {
    let mut w = 0u64;
    for (j, eight) in x.chunks_exact(8).enumerate() {
        // SAFETY: AVX2 (caller); `eight` holds 8 f32; the ordered compare is false for NaN.
        let bits = unsafe {
            let v = _mm256_loadu_ps(eight.as_ptr());
            _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, _mm256_setzero_ps()))
        };
        w |= (bits as u32 as u64) << (8 * j);
    }
    w
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

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 32 bits.
///
/// # Safety
/// AVX2 must be available; `T` must be of the lane size.
#[inline(always)]
pub(crate) unsafe fn select_word_32<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    debug_assert_eq!(size_of::<T>() * 8, 32);
    // SAFETY: AVX2 (caller); every access is to 8 lanes of a 64-lane array.
    unsafe {
        let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        for (j, (dx, dy)) in dx.chunks_exact_mut(8).zip(dy.chunks_exact(8)).enumerate() {
            let byte = _mm256_set1_epi32(((w >> (8 * j)) & 0xff) as i32);
            let keep = opaque(_mm256_cmpeq_epi32(_mm256_and_si256(byte, lane_bits), lane_bits));
            let g = _mm256_loadu_si256(dy.as_ptr().cast());
            _mm256_storeu_si256(dx.as_mut_ptr().cast(), _mm256_and_si256(keep, g));
        }
    }
}

/// `dx = bit ? dy : 0` (all-zero bits where the bit is clear) for 64 lanes of 64 bits.
///
/// # Safety
/// AVX2 must be available; `T` must be of the lane size.
#[inline(always)]
pub(crate) unsafe fn select_word_64<T: Copy>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
    debug_assert_eq!(size_of::<T>() * 8, 64);
    // SAFETY: AVX2 (caller); every access is to 4 lanes of a 64-lane array.
    unsafe {
        let lane_bits = _mm256_setr_epi64x(1, 2, 4, 8);
        for (j, (dx, dy)) in dx.chunks_exact_mut(4).zip(dy.chunks_exact(4)).enumerate() {
            let nibble = _mm256_set1_epi64x(((w >> (4 * j)) & 0xf) as i64);
            let keep = opaque(_mm256_cmpeq_epi64(_mm256_and_si256(nibble, lane_bits), lane_bits));
            let g = _mm256_loadu_si256(dy.as_ptr().cast());
            _mm256_storeu_si256(dx.as_mut_ptr().cast(), _mm256_and_si256(keep, g));
        }
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
/// positive values and every NaN (`s > 0` or `|s| > inf` as signed 16-bit integers).
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
            let positive = _mm256_cmpgt_epi16(s, _mm256_setzero_si256());
            let magnitude = _mm256_and_si256(s, _mm256_set1_epi16(0x7fff));
            let nan = _mm256_cmpgt_epi16(magnitude, _mm256_set1_epi16(inf));
            let keep = opaque(_mm256_or_si256(positive, nan));
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

/// f16 to f32 with F16C, 8 lanes at a time (exact for every non-NaN value).
///
/// # Safety
/// F16C and AVX must be available; `T` must be 2 bytes (f16); `dst.len() == src.len()`.
#[inline(always)]
pub(crate) unsafe fn widen_f16<T: Sealed>(src: &[T], dst: &mut [f32]) {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut s = src.chunks_exact(8);
    let mut d = dst.chunks_exact_mut(8);
    for (s, d) in (&mut s).zip(&mut d) {
        // SAFETY: F16C (caller); 8 two-byte lanes in, 8 f32 out.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(s.as_ptr().cast()))) };
    }
    for (s, d) in s.remainder().iter().zip(d.into_remainder()) {
        // SAFETY: T is f16 (caller), two bytes; read its bits.
        let bits = unsafe { *(s as *const T).cast::<u16>() };
        *d = crate::element::f16_bits_to_f32(bits);
    }
}

/// f32 to f16 with F16C, round to nearest, ties to even, 8 lanes at a time.
///
/// # Safety
/// F16C and AVX must be available; `T` must be 2 bytes (f16); `dst.len() == src.len()`.
#[inline(always)]
pub(crate) unsafe fn narrow_f16<T: Sealed>(src: &[f32], dst: &mut [T]) {
    debug_assert_eq!(size_of::<T>(), 2);
    let mut s = src.chunks_exact(8);
    let mut d = dst.chunks_exact_mut(8);
    for (s, d) in (&mut s).zip(&mut d) {
        // SAFETY: F16C (caller); 8 f32 in, 8 two-byte lanes out.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(s.as_ptr()));
            _mm_storeu_si128(d.as_mut_ptr().cast(), h);
        }
    }
    for (s, d) in s.remainder().iter().zip(d.into_remainder()) {
        // SAFETY: T is f16 (caller), two bytes; write its bits.
        unsafe { *(d as *mut T).cast::<u16>() = crate::element::f32_to_f16_bits(*s) };
    }
}

/// `y = relu(x)` for f32 with streaming stores, fused (load, compare, and, stream): for
/// outputs beyond the last-level cache.
///
/// # Safety
/// AVX2 must be available; `x.len() == y.len()`.
#[inline(always)]
pub(crate) unsafe fn relu_stream_f32(x: &[f32], y: &mut [f32]) {
    let n = y.len().min(x.len());
    let misalign = (y.as_ptr() as usize) % 32;
    let head = if misalign == 0 { 0 } else { ((32 - misalign) / 4).min(n) };
    for (y, &x) in y[..head].iter_mut().zip(&x[..head]) {
        *y = x.relu_elem();
    }
    let mut i = head;
    while i + 8 <= n {
        // SAFETY: AVX2 (caller); i + 8 <= n; y + i is 32-byte aligned after the head.
        unsafe {
            let v = _mm256_loadu_ps(x.as_ptr().add(i));
            let keep = _mm256_cmp_ps::<_CMP_NLE_UQ>(v, _mm256_setzero_ps());
            _mm256_stream_ps(y.as_mut_ptr().add(i), _mm256_and_ps(v, keep));
        }
        i += 8;
    }
    for (y, &x) in y[i..n].iter_mut().zip(&x[i..n]) {
        *y = x.relu_elem();
    }
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence.
    unsafe { _mm_sfence() };
}

/// `y = relu(x)` for f64 with streaming stores, fused (load, compare, and, stream): for
/// outputs beyond the last-level cache.
///
/// # Safety
/// AVX2 must be available; `x.len() == y.len()`.
#[inline(always)]
pub(crate) unsafe fn relu_stream_f64(x: &[f64], y: &mut [f64]) {
    let n = y.len().min(x.len());
    let misalign = (y.as_ptr() as usize) % 32;
    let head = if misalign == 0 { 0 } else { ((32 - misalign) / 8).min(n) };
    for (y, &x) in y[..head].iter_mut().zip(&x[..head]) {
        *y = x.relu_elem();
    }
    let mut i = head;
    while i + 4 <= n {
        // SAFETY: AVX2 (caller); i + 4 <= n; y + i is 32-byte aligned after the head.
        unsafe {
            let v = _mm256_loadu_pd(x.as_ptr().add(i));
            let keep = _mm256_cmp_pd::<_CMP_NLE_UQ>(v, _mm256_setzero_pd());
            _mm256_stream_pd(y.as_mut_ptr().add(i), _mm256_and_pd(v, keep));
        }
        i += 4;
    }
    for (y, &x) in y[i..n].iter_mut().zip(&x[i..n]) {
        *y = x.relu_elem();
    }
    // SAFETY: SSE is part of every x86-64 baseline; the streaming stores need the fence.
    unsafe { _mm_sfence() };
}

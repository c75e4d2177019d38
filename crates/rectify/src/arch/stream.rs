//! Out-of-place drivers with non-temporal stores, for outputs larger than the last-level
//! cache: the output goes through a small cache-resident buffer and is then streamed to
//! memory, skipping the read-for-ownership of every destination line (measured +35-45% from
//! DRAM on the project's machines; 8x slower in L1, hence only for large outputs). The
//! element kernels are the same, so the bits are too.

#![cfg(target_arch = "x86_64")]

use core::arch::x86_64::{__m256i, _mm_sfence, _mm256_loadu_si256, _mm256_stream_si256};
use core::mem::size_of;

use super::generic;
use crate::kernels::{Map1, Map2};

/// Bytes computed into the buffer per block: well inside L1.
const BLOCK_BYTES: usize = 1024;

/// Copies `bytes` (a multiple of 32) from `src` to the 32-byte aligned `dst` with
/// streaming stores.
///
/// # Safety
/// AVX must be available; `src` readable and `dst` writable for `bytes` bytes; `dst`
/// 32-byte aligned; the two do not overlap.
#[inline(always)]
unsafe fn stream_copy(src: *const u8, dst: *mut u8, bytes: usize) {
    let mut i = 0;
    while i < bytes {
        // SAFETY: i + 32 <= bytes, so both accesses are in bounds; dst + i is aligned.
        unsafe { _mm256_stream_si256(dst.add(i).cast::<__m256i>(), _mm256_loadu_si256(src.add(i).cast::<__m256i>())) };
        i += 32;
    }
}

/// Splits `y` into an unaligned head, whole blocks and a tail; `body(start, out)` fills
/// `out` with the results for elements `start..start + out.len()`. Blocks are computed into
/// a buffer and streamed out.
///
/// # Safety
/// AVX must be available.
#[inline(always)]
unsafe fn by_blocks<T: Copy>(y: &mut [T], fill: T, mut body: impl FnMut(usize, &mut [T])) {
    let n = y.len();
    let misalign = (y.as_ptr() as usize) % 32;
    let head = if misalign == 0 { 0 } else { ((32 - misalign) / size_of::<T>()).min(n) };
    body(0, &mut y[..head]);
    let per_block = BLOCK_BYTES / size_of::<T>();
    let mut buf = vec![fill; per_block];
    let mut i = head;
    while i + per_block <= n {
        body(i, &mut buf);
        // SAFETY: AVX is available (caller); y[i..i + per_block] is in bounds and starts
        // 32-byte aligned (after the head); the buffer is a separate allocation.
        unsafe { stream_copy(buf.as_ptr().cast(), y.as_mut_ptr().add(i).cast(), BLOCK_BYTES) };
        i += per_block;
    }
    body(i, &mut y[i..]);
    // Streaming stores are weakly ordered: fence before anyone reads the output.
    // SAFETY: SSE is part of every x86-64 baseline.
    unsafe { _mm_sfence() };
}

/// # Safety
/// AVX must be available.
#[inline(always)]
pub(crate) unsafe fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    let Some(&fill) = x.first() else { return };
    // SAFETY: forwarded from the caller.
    unsafe { by_blocks(y, fill, |start, out| generic::map1(k, &x[start..start + out.len()], out)) }
}

/// # Safety
/// AVX must be available.
#[inline(always)]
pub(crate) unsafe fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    let Some(&fill) = a.first() else { return };
    // SAFETY: forwarded from the caller.
    unsafe {
        by_blocks(out, fill, |start, o| {
            let r = start..start + o.len();
            generic::map2(k, &a[r.clone()], &b[r], o)
        })
    }
}

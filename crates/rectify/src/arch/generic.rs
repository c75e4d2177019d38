//! The drivers: every loop of the crate, written once. They are `#[inline(always)]` so that
//! each instruction-set entry point in [`super`] compiles its own copy under its own
//! `#[target_feature]`, where the branch-free element kernels become vector code.

use crate::element::Element;
use crate::element::Float;
use crate::element::sealed::Sealed;
use crate::kernels::{Map1, Map2, Map3, bias_relu};

#[inline(always)]
pub(crate) fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = k.apply(x);
    }
}

/// In place, through a small buffer: written as `x[i] = k(x[i])`, LLVM would store only the
/// lanes that change, with masked stores (`vmaskmovps`), which are several times slower than
/// plain stores on AMD cores. Computing a block into the buffer and copying it back keeps
/// every store a plain one; the block stays in L1.
#[inline(always)]
pub(crate) fn map1_inplace<T: Copy, K: Map1<T>>(k: &K, x: &mut [T]) {
    const BLOCK: usize = 256;
    let Some(&fill) = x.first() else { return };
    let mut buf = [fill; BLOCK];
    for x in x.chunks_mut(BLOCK) {
        let out = &mut buf[..x.len()];
        map1(k, x, out);
        x.copy_from_slice(out);
    }
}

#[inline(always)]
pub(crate) fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = k.apply(a, b);
    }
}

/// `b = k(a, b)`: the backward writing dx over dy, through a buffer as [`map1_inplace`].
#[inline(always)]
pub(crate) fn map2_inplace<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
    const BLOCK: usize = 256;
    let Some(&fill) = b.first() else { return };
    let mut buf = [fill; BLOCK];
    for (a, b) in a.chunks(BLOCK).zip(b.chunks_mut(BLOCK)) {
        let out = &mut buf[..b.len()];
        map2(k, a, b, out);
        b.copy_from_slice(out);
    }
}

#[inline(always)]
pub(crate) fn map3<T: Copy, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = k.apply(a, b, c);
    }
}

/// Packs `x > 0` into bits, 64 elements a word, bit `i % 64` of word `i / 64`.
/// `words.len()` is `x.len().div_ceil(64)`; the unused bits of a last partial word are 0.
#[inline(always)]
pub(crate) fn pack_positive<T: Element>(x: &[T], words: &mut [u64]) {
    let mut chunks = x.chunks_exact(64);
    for (w, chunk) in words.iter_mut().zip(&mut chunks) {
        *w = pack_word(chunk);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        words[x.len() / 64] = pack_word(rest);
    }
}

#[inline(always)]
pub(crate) fn pack_word<T: Sealed>(chunk: &[T]) -> u64 {
    if let Ok(chunk) = <&[T; 64]>::try_from(chunk) {
        // Whole word: eight lanes at a time, each lane with a constant bit, which LLVM
        // turns into a vector compare, a mask with [1, 2, .., 128] and a horizontal or.
        let mut w = 0u64;
        for (j, eight) in chunk.chunks_exact(8).enumerate() {
            let mut byte = 0u64;
            for (k, x) in eight.iter().enumerate() {
                byte |= (x.is_positive() as u64) << k;
            }
            w |= byte << (8 * j);
        }
        return w;
    }
    chunk.iter().enumerate().fold(0u64, |w, (i, x)| w | (x.is_positive() as u64) << i)
}

/// ReLU forward writing y and the mask in one pass over memory: blocks of 512 elements
/// (2 KiB of f32) are computed and then packed while they are still in L1.
#[inline(always)]
pub(crate) fn relu_with_mask<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]) {
    const BLOCK: usize = 512;
    for ((x, y), words) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)).zip(words.chunks_mut(BLOCK / 64)) {
        map1(&crate::kernels::Relu, x, y);
        pack_positive(x, words);
    }
}

/// `dx = bit ? dy : +0.0`.
#[inline(always)]
pub(crate) fn select_by_mask<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
    for ((dx, dy), &w) in dx.chunks_mut(64).zip(dy.chunks(64)).zip(words) {
        select_word(w, dy, dx);
    }
}

#[inline(always)]
pub(crate) fn select_by_mask_inplace<T: Element>(words: &[u64], dy: &mut [T]) {
    for (dy, &w) in dy.chunks_mut(64).zip(words) {
        let mut g = [T::zero(); 64];
        let g = &mut g[..dy.len()];
        g.copy_from_slice(dy);
        select_word(w, g, dy);
    }
}

#[inline(always)]
pub(crate) fn select_word<T: Sealed>(w: u64, dy: &[T], dx: &mut [T]) {
    for (i, (dx, &dy)) in dx.iter_mut().zip(dy).enumerate() {
        *dx = if (w >> i) & 1 != 0 { dy } else { T::zero() };
    }
}

/// Fused `a = relu(a + bias[col])` over whole rows (`a.len()` a multiple of `bias.len()`).
#[inline(always)]
pub(crate) fn bias_relu_rows<T: Float>(a: &mut [T], bias: &[T]) {
    for row in a.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x = bias_relu(*x, b);
        }
    }
}

/// Drivers with explicit AVX2 bodies for x86-64-v3 and up, through the element type's
/// hooks: the mask (whole words; partial words take the portable code) and ReLU in place.
pub(crate) mod x86 {
    use core::mem::size_of;

    use super::{map1, pack_word, select_word};
    use crate::element::{Compute, Element, Float};
    use crate::kernels::{RampForward, RampForwardGivenSlope};
    use crate::op::RampParams;

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_inplace<T: Element>(x: &mut [T]) {
        // SAFETY: forwarded from the caller.
        unsafe { T::relu_inplace_v3(x) }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_stream<T: Element>(x: &[T], y: &mut [T]) {
        // SAFETY: forwarded from the caller.
        unsafe { T::relu_stream_v3(x, y) }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]) {
        // SAFETY: forwarded from the caller.
        unsafe { T::relu_backward_inplace_v3(x, dy) }
    }

    /// The ramp forward with a slope (`a != 0`). For 16-bit floats the products go through
    /// block conversions (F16C for f16) instead of per-lane emulated ones: widen a block,
    /// `a * (x - t)` in f32, narrow, then the selects. Every non-NaN lane is bitwise what
    /// the per-lane kernel gives (the conversions are exact / round to nearest even), and
    /// NaN lanes take `x` in both.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn ramp_forward_sloped<T: Float>(p: &RampParams<T>, x: &[T], y: &mut [T]) {
        if size_of::<T>() != 2 {
            return map1(&RampForward::<T, true>(*p), x, y);
        }
        const BLOCK: usize = 256;
        let mut wide = [<T::C as Compute>::ZERO; BLOCK];
        let mut slope = [T::zero(); BLOCK];
        for (x, y) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)) {
            let n = x.len();
            // SAFETY: forwarded from the caller.
            unsafe { T::widen_block_v3(x, &mut wide[..n]) };
            for w in &mut wide[..n] {
                *w = p.a * (*w - p.t);
            }
            // SAFETY: forwarded from the caller.
            unsafe { T::narrow_block_v3(&wide[..n], &mut slope[..n]) };
            super::map2(&RampForwardGivenSlope(*p), x, &slope[..n], y);
        }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn pack_positive<T: Element>(x: &[T], words: &mut [u64]) {
        let mut chunks = x.chunks_exact(64);
        for (w, chunk) in words.iter_mut().zip(&mut chunks) {
            let chunk: &[T; 64] = chunk.try_into().expect("chunks_exact(64)");
            // SAFETY: forwarded from the caller.
            *w = unsafe { T::pack_word_v3(chunk) };
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            words[x.len() / 64] = pack_word(rest);
        }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_with_mask<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]) {
        const BLOCK: usize = 512;
        for ((x, y), words) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)).zip(words.chunks_mut(BLOCK / 64)) {
            map1(&crate::kernels::Relu, x, y);
            // SAFETY: forwarded from the caller.
            unsafe { pack_positive(x, words) };
        }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
        for ((dx, dy), &w) in dx.chunks_mut(64).zip(dy.chunks(64)).zip(words) {
            match (<&mut [T; 64]>::try_from(&mut *dx), <&[T; 64]>::try_from(dy)) {
                // SAFETY: forwarded from the caller.
                (Ok(dx), Ok(dy)) => unsafe { T::select_word_v3(w, dy, dx) },
                _ => select_word(w, dy, dx),
            }
        }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask_inplace<T: Element>(words: &[u64], dy: &mut [T]) {
        for (dy, &w) in dy.chunks_mut(64).zip(words) {
            if let Ok(dy) = <&mut [T; 64]>::try_from(&mut *dy) {
                let g = *dy;
                // SAFETY: forwarded from the caller.
                unsafe { T::select_word_v3(w, &g, dy) }
            } else {
                let mut g = [T::zero(); 64];
                let g = &mut g[..dy.len()];
                g.copy_from_slice(dy);
                select_word(w, g, dy)
            }
        }
    }
}

/// ReLU in place (the portable level; v3 and up have explicit bodies in [`x86`]).
#[inline(always)]
pub(crate) fn relu_inplace<T: Element>(x: &mut [T]) {
    map1_inplace(&crate::kernels::Relu, x)
}

/// ReLU backward writing dx over dy (the portable level).
#[inline(always)]
pub(crate) fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]) {
    map2_inplace(&crate::kernels::ReluBackward, x, dy)
}

/// The ramp forward with a slope (the portable level; v3 and up convert 16-bit floats in
/// blocks, in [`x86`]).
#[inline(always)]
pub(crate) fn ramp_forward_sloped<T: Float>(p: &crate::op::RampParams<T>, x: &[T], y: &mut [T]) {
    map1(&crate::kernels::RampForward::<T, true>(*p), x, y)
}

/// ReLU out of place for outputs beyond the cache (the portable level has no streaming
/// stores).
#[inline(always)]
pub(crate) fn relu_stream<T: Element>(x: &[T], y: &mut [T]) {
    map1(&crate::kernels::Relu, x, y)
}

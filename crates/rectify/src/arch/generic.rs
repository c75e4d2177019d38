//! The drivers: every loop of the crate, written once. They are `#[inline(always)]` so that
//! each instruction-set entry point in [`super`] compiles its own copy under its own
//! `#[target_feature]`, where the branch-free element kernels become vector code.

use crate::element::Element;
use crate::element::Float;
use crate::element::sealed::Sealed;
use crate::kernels::{Fused, Map1, Map2, Map3, Product, Sloped, SlopedUnit, bias_relu};

/// Elements before the first `align`-byte aligned address of `y` (at most its length).
#[inline(always)]
pub(crate) fn unaligned_head<T>(y: &[T], align: usize) -> usize {
    let misalign = (y.as_ptr() as usize) % align;
    if misalign == 0 { 0 } else { ((align - misalign) / size_of::<T>()).min(y.len()) }
}

/// The alignment the out-of-place drivers give their output before the vector loop: a
/// vector store that straddles two cache lines costs two. Measured on an AVX-512 Xeon, f32
/// ReLU at 4K elements: 170 GB/s into an output 16 bytes past a line, 286 GB/s line-aligned
/// (64 bytes, so that 64-byte stores never straddle; 32-byte stores neither).
const OUT_ALIGN: usize = 64;

/// `y = k(x)`: the few elements before `y`'s first cache line, then the vector loop over
/// line-aligned stores.
#[inline(always)]
pub(crate) fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    let head = unaligned_head(y, OUT_ALIGN).min(x.len());
    let (x_head, x) = x.split_at(head);
    let (y_head, y) = y.split_at_mut(head);
    map1_loop(k, x_head, y_head);
    map1_loop(k, x, y);
}

/// The loop of [`map1`], for buffers and blocks whose alignment is the caller's business.
#[inline(always)]
pub(crate) fn map1_loop<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
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
        map1_loop(k, x, out);
        x.copy_from_slice(out);
    }
}

/// `out = k(a, b)`, the output line-aligned as in [`map1`].
#[inline(always)]
pub(crate) fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    let head = unaligned_head(out, OUT_ALIGN).min(a.len()).min(b.len());
    let (a_head, a) = a.split_at(head);
    let (b_head, b) = b.split_at(head);
    let (out_head, out) = out.split_at_mut(head);
    map2_loop(k, a_head, b_head, out_head);
    map2_loop(k, a, b, out);
}

/// The loop of [`map2`].
#[inline(always)]
pub(crate) fn map2_loop<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
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
        map2_loop(k, a, b, out);
        b.copy_from_slice(out);
    }
}

/// `out = k(a, b, c)`, the output line-aligned as in [`map1`].
#[inline(always)]
pub(crate) fn map3<T: Copy, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    let head = unaligned_head(out, OUT_ALIGN).min(a.len()).min(b.len()).min(c.len());
    let (a_head, a) = a.split_at(head);
    let (b_head, b) = b.split_at(head);
    let (c_head, c) = c.split_at(head);
    let (out_head, out) = out.split_at_mut(head);
    map3_loop(k, a_head, b_head, c_head, out_head);
    map3_loop(k, a, b, c, out);
}

/// The loop of [`map3`].
#[inline(always)]
pub(crate) fn map3_loop<T: Copy, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
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
        map1_loop(&crate::kernels::Relu, x, y);
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

    use super::{map1_loop, pack_word, select_word};
    use crate::arch::avx2;
    use crate::arch::stream::Streamer;
    use crate::element::sealed::Sealed;
    use crate::element::{Element, Float};
    use crate::kernels::{Product, Sloped, SlopedUnit};

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

    /// `out = k(a, b)` for an op that multiplies: through the element type's hook, where
    /// 16-bit floats convert whole vectors in hardware between the product and the selects.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
        // SAFETY: forwarded from the caller.
        unsafe { T::product_select_v3(k, a, b, out) }
    }

    /// PReLU over whole channel-first rows (`x.len()` a multiple of `run * weight.len()`):
    /// the planes of one call in one loop at this level, so that a small plane costs its
    /// elements and not a dispatch.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn prelu_planes<T: Float>(x: &[T], weight: &[T], run: usize, y: &mut [T]) {
        let planes = x.chunks_exact(run).zip(y.chunks_exact_mut(run)).zip(weight.iter().cycle());
        for ((x, y), w) in planes {
            let a = w.widen();
            if SlopedUnit::fits(a) {
                // SAFETY: forwarded from the caller.
                unsafe { T::product_select_v3(&SlopedUnit(a), x, x, y) }
            } else {
                // SAFETY: forwarded from the caller.
                unsafe { T::product_select_v3(&Sloped(a), x, x, y) }
            }
        }
    }

    /// [`prelu_planes`] in place.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn prelu_planes_inplace<T: Float>(weight: &[T], run: usize, x: &mut [T]) {
        for (x, w) in x.chunks_exact_mut(run).zip(weight.iter().cycle()) {
            let a = w.widen();
            if SlopedUnit::fits(a) {
                // SAFETY: forwarded from the caller.
                unsafe { product_select_inplace(&SlopedUnit(a), None, x) }
            } else {
                // SAFETY: forwarded from the caller.
                unsafe { product_select_inplace(&Sloped(a), None, x) }
            }
        }
    }

    /// [`product_select`] writing over `b` (`a` of `None`: a unary op over `b`).
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) {
        // The block loop of `map2_inplace`, around the element type's hook instead of a
        // per-element kernel; written out, since a closure defined here would be compiled
        // without this level's features and the AVX2 intrinsics inside it would stay calls
        // (measured 50x slower).
        const BLOCK: usize = 256;
        let Some(&fill) = b.first() else { return };
        let mut buf = [fill; BLOCK];
        for (i, b) in b.chunks_mut(BLOCK).enumerate() {
            let src = &mut buf[..b.len()];
            src.copy_from_slice(b);
            let src = &*src;
            let a = a.map_or(src, |a| &a[i * BLOCK..i * BLOCK + b.len()]);
            // SAFETY: forwarded from the caller.
            unsafe { T::product_select_v3(k, a, src, b) }
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

    /// `y = relu(x)` and the mask in one pass, a word at a time (the partial last word
    /// through the portable code).
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_with_mask<T: Sealed>(x: &[T], y: &mut [T], words: &mut [u64]) {
        let mut xs = x.chunks_exact(64);
        let mut ys = y.chunks_exact_mut(64);
        for ((x, y), w) in (&mut xs).zip(&mut ys).zip(words.iter_mut()) {
            let (x, y): (&[T; 64], &mut [T; 64]) = (x.try_into().expect("64"), y.try_into().expect("64"));
            // SAFETY: forwarded from the caller.
            *w = unsafe { T::relu_mask_word_v3(x, y) };
        }
        let (x, y) = (xs.remainder(), ys.into_remainder());
        if !x.is_empty() {
            map1_loop(&crate::kernels::Relu, x, y);
            words[words.len() - 1] = pack_word(x);
        }
    }

    /// [`relu_with_mask`] for outputs beyond the cache, with the element type's driver
    /// (the floats: one fused pass; the integers: [`relu_with_mask_stream_buffered`]).
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_with_mask_stream<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]) {
        // SAFETY: forwarded from the caller, who passes a word for every 64 elements.
        unsafe { T::relu_with_mask_stream_v3(x, y, words) }
    }

    /// [`relu_with_mask`] for outputs beyond the cache: each block of `y` is computed into
    /// a buffer in L1 and streamed out.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_with_mask_stream_buffered<T: Sealed>(x: &[T], y: &mut [T], words: &mut [u64]) {
        const BLOCK: usize = 512;
        let mut buf = [T::zero(); BLOCK];
        let mut out = Streamer::new(y, T::zero());
        for (x, words) in x.chunks(BLOCK).zip(words.chunks_mut(BLOCK / 64)) {
            let block = &mut buf[..x.len()];
            // SAFETY: forwarded from the caller (v3 includes AVX); the blocks add up to y.
            unsafe {
                relu_with_mask(x, block, words);
                out.push(block);
            }
        }
        out.finish();
    }

    /// [`select_by_mask`] for outputs beyond the cache: lanes of 16, 32 and 64 bits in one
    /// pass with streaming stores (`avx2::select_by_mask_stream`), bytes through a
    /// buffer as [`relu_with_mask_stream_buffered`].
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask_stream<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
        // Both: v3 includes AVX2 (caller); the lane size matches; every element type's zero
        // is all-zero bits (+0.0 or 0); the callers pass a bit for every element.
        match size_of::<T>() {
            // SAFETY: as above.
            2 => return unsafe { avx2::select_by_mask_stream::<avx2::Lanes16, T>(words, dy, dx) },
            // SAFETY: as above.
            4 => return unsafe { avx2::select_by_mask_stream::<avx2::Lanes32, T>(words, dy, dx) },
            // SAFETY: as above.
            8 => return unsafe { avx2::select_by_mask_stream::<avx2::Lanes64, T>(words, dy, dx) },
            _ => {}
        }
        const BLOCK: usize = 512;
        let mut buf = [T::zero(); BLOCK];
        let mut out = Streamer::new(dx, T::zero());
        for (dy, words) in dy.chunks(BLOCK).zip(words.chunks(BLOCK / 64)) {
            let block = &mut buf[..dy.len()];
            // SAFETY: forwarded from the caller (v3 includes AVX); the blocks add up to dx.
            unsafe {
                select_by_mask(words, dy, block);
                out.push(block);
            }
        }
        out.finish();
    }

    /// `dx = bit ? dy : +0.0` over whole words with the element type's AVX2 body (exact
    /// 64-element chunks, so no length checks in the loop), the partial last word through
    /// the portable code.
    ///
    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
        let mut dys = dy.chunks_exact(64);
        let mut dxs = dx.chunks_exact_mut(64);
        for ((dx, dy), &w) in (&mut dxs).zip(&mut dys).zip(words) {
            let (dx, dy): (&mut [T; 64], &[T; 64]) = (dx.try_into().expect("64"), dy.try_into().expect("64"));
            // SAFETY: forwarded from the caller.
            unsafe { T::select_word_v3(w, dy, dx) }
        }
        let (dy, dx) = (dys.remainder(), dxs.into_remainder());
        if !dx.is_empty() {
            select_word(words[words.len() - 1], dy, dx);
        }
    }

    /// # Safety
    /// x86-64-v3 must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask_inplace<T: Element>(words: &[u64], dy: &mut [T]) {
        let mut dys = dy.chunks_exact_mut(64);
        for (dy, &w) in (&mut dys).zip(words) {
            let dy: &mut [T; 64] = dy.try_into().expect("64");
            let g = *dy;
            // SAFETY: forwarded from the caller.
            unsafe { T::select_word_v3(w, &g, dy) }
        }
        let dy = dys.into_remainder();
        if !dy.is_empty() {
            let mut g = [T::zero(); 64];
            let g = &mut g[..dy.len()];
            g.copy_from_slice(dy);
            select_word(words[words.len() - 1], g, dy)
        }
    }
}

/// [`relu_with_mask`] for outputs beyond the cache (the portable level has no streaming
/// stores).
#[inline(always)]
pub(crate) fn relu_with_mask_stream<T: Element>(x: &[T], y: &mut [T], words: &mut [u64]) {
    relu_with_mask(x, y, words)
}

/// [`select_by_mask`] for outputs beyond the cache (the portable level has no streaming
/// stores).
#[inline(always)]
pub(crate) fn select_by_mask_stream<T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
    select_by_mask(words, dy, dx)
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

/// `out = k(a, b)` for an op that multiplies (the portable level: conversions per lane;
/// v3 and up convert 16-bit floats by vectors, in [`x86`]).
#[inline(always)]
pub(crate) fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    map2(&Fused(k), a, b, out)
}

/// PReLU over whole channel-first rows, plane by plane (the portable level).
#[inline(always)]
pub(crate) fn prelu_planes<T: Float>(x: &[T], weight: &[T], run: usize, y: &mut [T]) {
    let planes = x.chunks_exact(run).zip(y.chunks_exact_mut(run)).zip(weight.iter().cycle());
    for ((x, y), w) in planes {
        let a = w.widen();
        if SlopedUnit::fits(a) { product_select(&SlopedUnit(a), x, x, y) } else { product_select(&Sloped(a), x, x, y) }
    }
}

/// [`prelu_planes`] in place.
#[inline(always)]
pub(crate) fn prelu_planes_inplace<T: Float>(weight: &[T], run: usize, x: &mut [T]) {
    for (x, w) in x.chunks_exact_mut(run).zip(weight.iter().cycle()) {
        let a = w.widen();
        if SlopedUnit::fits(a) {
            product_select_inplace(&SlopedUnit(a), None, x)
        } else {
            product_select_inplace(&Sloped(a), None, x)
        }
    }
}

/// [`product_select`] writing over `b` (`a` of `None`: a unary op over `b`): the buffered
/// in-place drivers with the fused kernel.
#[inline(always)]
pub(crate) fn product_select_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) {
    match a {
        Some(a) => map2_inplace(&Fused(k), a, b),
        None => map1_inplace(&Fused(k), b),
    }
}

/// ReLU out of place for outputs beyond the cache (the portable level has no streaming
/// stores).
#[inline(always)]
pub(crate) fn relu_stream<T: Element>(x: &[T], y: &mut [T]) {
    map1(&crate::kernels::Relu, x, y)
}

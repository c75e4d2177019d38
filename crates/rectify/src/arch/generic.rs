//! The drivers: every loop of the crate, written once. They are `#[inline(always)]` so that
//! each instruction-set entry point in [`super`] compiles its own copy under its own
//! `#[target_feature]`, where the branch-free element kernels become vector code.

use crate::element::Element;
use crate::element::Float;
use crate::kernels::{Map1, Map2, Map3, bias_relu};

#[inline(always)]
pub(crate) fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = k.apply(x);
    }
}

#[inline(always)]
pub(crate) fn map1_inplace<T: Copy, K: Map1<T>>(k: &K, x: &mut [T]) {
    for x in x.iter_mut() {
        *x = k.apply(*x);
    }
}

#[inline(always)]
pub(crate) fn map2<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = k.apply(a, b);
    }
}

/// `b = k(a, b)`: the backward writing dx over dy.
#[inline(always)]
pub(crate) fn map2_inplace<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
    for (b, &a) in b.iter_mut().zip(a) {
        *b = k.apply(a, *b);
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
fn pack_word<T: Element>(chunk: &[T]) -> u64 {
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
fn select_word<T: Element>(w: u64, dy: &[T], dx: &mut [T]) {
    if dx.len() == 64 && dy.len() == 64 {
        // Whole word: a byte of the mask per eight lanes, each lane testing a constant bit
        // (a broadcast, an and and a compare per vector).
        for (j, (dx, dy)) in dx.chunks_exact_mut(8).zip(dy.chunks_exact(8)).enumerate() {
            let byte = (w >> (8 * j)) as u32 & 0xff;
            for (k, (dx, &dy)) in dx.iter_mut().zip(dy).enumerate() {
                *dx = if byte & (1 << k) != 0 { dy } else { T::zero() };
            }
        }
    } else {
        for (i, (dx, &dy)) in dx.iter_mut().zip(dy).enumerate() {
            *dx = if (w >> i) & 1 != 0 { dy } else { T::zero() };
        }
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

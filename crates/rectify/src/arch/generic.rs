//! The drivers: every loop of the crate, written once. They are `#[inline(always)]` so that
//! each instruction-set entry point in [`super`] compiles its own copy under its own
//! `#[target_feature]`, where the branch-free element kernels become vector code.

use core::ops::Range;

use crate::element::Element;
use crate::element::sealed::Sealed;
use crate::element::{Compute, Float};
use crate::kernels::{
    Fused, LOWER, LeakyBackward, MID, Map1, Map2, Map3, Product, Sloped, SlopedByBackward, SlopedUnit, UPPER,
    bias_relu, fused,
};
use crate::op::Kink;

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
pub(crate) const OUT_ALIGN: usize = 64;

/// `y = k(x)`: the few elements before `y`'s first cache line, then the vector loop over
/// line-aligned stores.
#[inline(always)]
pub(crate) fn map1<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    if K::HEAVY {
        // As in `map2`.
        return map1_loop(k, x, y);
    }
    let head = unaligned_head(y, OUT_ALIGN).min(x.len());
    let (x_head, x) = x.split_at(head);
    let (y_head, y) = y.split_at_mut(head);
    map1_head(k, x_head, y_head);
    map1_loop(k, x, y);
}

/// The head of [`map1`], out of line: inlined, LLVM vectorises this short loop as well as
/// the main one, and for some kernels the main loop then came out slower (f32 ramp backward
/// with the `Mid` kink at 64K: 45 -> 16 GB/s on v3). Out of line it runs at the baseline
/// level, which gives the same bits.
#[inline(never)]
fn map1_head<T: Copy, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    map1_loop(k, x, y)
}

/// [`map1_head`] for [`map2`].
#[inline(never)]
fn map2_head<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    map2_loop(k, a, b, out)
}

/// [`map1_head`] for [`map3`].
#[inline(never)]
fn map3_head<T: Copy, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    map3_loop(k, a, b, c, out)
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
    if K::HEAVY {
        // Compute-bound: the stores are not the limit, and the split loop came out slower
        // (f32 ramp backward with the `Mid` kink at 64K: 45 -> 16 GB/s on v3).
        return map2_loop(k, a, b, out);
    }
    let head = unaligned_head(out, OUT_ALIGN).min(a.len()).min(b.len());
    let (a_head, a) = a.split_at(head);
    let (b_head, b) = b.split_at(head);
    let (out_head, out) = out.split_at_mut(head);
    map2_head(k, a_head, b_head, out_head);
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
    map3_head(k, a_head, b_head, c_head, out_head);
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

/// `y = relu(x)`: [`map1`] of the ReLU kernel (the x86 levels' own is [`x86::relu`]).
#[inline(always)]
pub(crate) fn relu<T: Element>(x: &[T], y: &mut [T]) {
    map1(&crate::kernels::Relu, x, y)
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

/// Bits `i..i + n` of a mask (bit `i % 64` of word `i / 64` first) in the low bits, from
/// one word or two (the bits above them are unspecified); `n <= 64`, and every one of them
/// must be in `words`.
#[inline(always)]
pub(crate) fn mask_bits(words: &[u64], i: usize, n: usize) -> u64 {
    let (w, s) = (i / 64, i % 64);
    let low = words[w] >> s;
    if s > 64 - n { low | words[w + 1] << (64 - s) } else { low }
}

/// `dx[i] = bit i ? dy[i] : zero` over `range`, one element at a time (the heads and tails
/// of the streaming drivers).
#[inline(always)]
pub(crate) fn select_by_bits<T: Sealed>(words: &[u64], dy: &[T], dx: &mut [T], range: core::ops::Range<usize>) {
    for i in range {
        dx[i] = if (words[i / 64] >> (i % 64)) & 1 != 0 { dy[i] } else { T::zero() };
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

/// Elements of one channel plane that [`prelu_backward_with`] takes at a time, f32 and
/// f64 (a multiple of [`SUM_LANES`], so that each piece of a plane starts on lane 0).
pub(crate) const SUM_CHUNK: usize = 128;
/// [`SUM_CHUNK`] for f16 and bf16, whose `dx` takes a call of its own per piece: measured
/// on the AVX-512 Xeon (scratch loop of `prelu_backward`, 64 channels first, one thread,
/// ns an element), 128 against 256: f16 64K 0.46 -> 0.28-0.29, 256K 0.38 -> 0.27-0.29,
/// bf16 64K 0.32 -> 0.29; level at 16M, where 512 and 1024 ran slower (0.54-0.69).
pub(crate) const SUM_CHUNK_16: usize = 256;
/// The interleaved partial sums of one channel plane ([`crate::PRELU_SUM_LANES`]).
pub(crate) const SUM_LANES: usize = crate::prelu::PRELU_SUM_LANES;
const _: () = assert!(SUM_CHUNK.is_multiple_of(SUM_LANES) && SUM_CHUNK_16.is_multiple_of(SUM_LANES));

/// One term of the PReLU slope gradient: `x * dy` in f64 where `x < 0`, else `+0.0`.
#[inline(always)]
pub(crate) fn prelu_term<T: Float>(x: T, dy: T) -> f64 {
    let xc = x.widen();
    let p = xc.to_f64() * dy.widen().to_f64();
    if xc < T::C::ZERO { p } else { 0.0 }
}

/// A channel plane's [`SUM_LANES`] partial sums of the slope gradient.
pub(crate) type SumLanes = [f64; SUM_LANES];

/// `lanes[i % SUM_LANES] += prelu_term(x[i], dy[i])` for each `i` in order: vertical
/// additions, which the compiler turns into whole-register ones (two or four independent
/// chains of AVX-512 or AVX2 registers), from the terms in registers.
#[inline(always)]
pub(crate) fn add_terms_to_lanes<T: Float>(x: &[T], dy: &[T], lanes: &mut SumLanes) {
    add_to_lanes_with::<false, T, T>(x, dy, lanes, |v| v);
}

/// [`add_terms_to_lanes`] for levels with FMA: where the compute type is f32, a lane below
/// zero takes `fma(x, dy, lane)`, one instruction for the product and the sum with the
/// same bits (the product of two f32 is exact in f64, so rounding it first changes
/// nothing), and the other lanes keep their sum (the same as adding `+0.0` to a sum that
/// is never `-0.0`).
#[inline(always)]
pub(crate) fn add_terms_to_lanes_fma<T: Float>(x: &[T], dy: &[T], lanes: &mut SumLanes) {
    add_to_lanes_with::<true, T, T>(x, dy, lanes, |v| v);
}

/// [`add_terms_to_lanes`] (with `FMA`, [`add_terms_to_lanes_fma`]) of the elements widened
/// to `W` by `widen` (exactly, but for a NaN's payload).
#[inline(always)]
pub(crate) fn add_to_lanes_with<const FMA: bool, S: Copy, W: Float>(
    x: &[S],
    dy: &[S],
    lanes: &mut SumLanes,
    widen: impl Fn(S) -> W,
) {
    let (mut whole_x, mut whole_dy) = (x.chunks_exact(SUM_LANES), dy.chunks_exact(SUM_LANES));
    for (x, dy) in (&mut whole_x).zip(&mut whole_dy) {
        for (j, lane) in lanes.iter_mut().enumerate() {
            add_term(FMA, lane, widen(x[j]), widen(dy[j]));
        }
    }
    for ((lane, &x), &dy) in lanes.iter_mut().zip(whole_x.remainder()).zip(whole_dy.remainder()) {
        add_term(FMA, lane, widen(x), widen(dy));
    }
}

/// `lane += prelu_term(x, dy)`; with `fma` (a constant once inlined) and an f32 compute
/// type as [`add_terms_to_lanes_fma`] says.
#[inline(always)]
fn add_term<T: Float>(fma: bool, lane: &mut f64, x: T, dy: T) {
    if fma && size_of::<T::C>() == 4 {
        let xc = x.widen();
        let fused = xc.to_f64().mul_add(dy.widen().to_f64(), *lane);
        *lane = if xc < T::C::ZERO { fused } else { *lane };
    } else {
        *lane += prelu_term(x, dy);
    }
}

/// A piece of a plane of f32 or f64 in one loop: its terms into `lanes` (as
/// [`add_to_lanes_with`], with `fma` where the level has it) and its `dx` by `k` (as the
/// level's `product_select` of these types, `fused` lane by lane), so that `x` and `dy`
/// are loaded once and no call is made per piece: 10-20% faster in the caches than the
/// two loops (f32 and f64 at 64K), level beyond.
#[inline(always)]
fn lanes_and_dx<T: Float, K: Product<T>>(fma: bool, k: &K, x: &[T], dy: &[T], dx: &mut [T], lanes: &mut SumLanes) {
    let (mut whole_x, mut whole_dy) = (x.chunks_exact(SUM_LANES), dy.chunks_exact(SUM_LANES));
    let mut whole_dx = dx.chunks_exact_mut(SUM_LANES);
    for ((x, dy), dx) in (&mut whole_x).zip(&mut whole_dy).zip(&mut whole_dx) {
        for (j, lane) in lanes.iter_mut().enumerate() {
            add_term(fma, lane, x[j], dy[j]);
            dx[j] = fused(k, x[j], dy[j]);
        }
    }
    let (rest_x, rest_dy) = (whole_x.remainder(), whole_dy.remainder());
    for (j, dx) in whole_dx.into_remainder().iter_mut().enumerate() {
        add_term(fma, &mut lanes[j], rest_x[j], rest_dy[j]);
        *dx = fused(k, rest_x[j], rest_dy[j]);
    }
}

/// The sum of a plane's lanes: lane `j` takes lane `j + h` for `h` = 8, 4, 2, 1, and lane 0
/// is the sum (the order [`crate::prelu_backward`] documents). Written as halves of
/// halves, which the compiler keeps in registers (whole AVX-512 or AVX2 registers, then
/// their halves).
#[inline(always)]
pub(crate) fn fold_lanes(lanes: &SumLanes) -> f64 {
    const { assert!(SUM_LANES == 16) };
    let s8: [f64; 8] = core::array::from_fn(|j| lanes[j] + lanes[j + 8]);
    let s4: [f64; 4] = core::array::from_fn(|j| s8[j] + s8[j + 4]);
    let s2: [f64; 2] = core::array::from_fn(|j| s4[j] + s4[j + 2]);
    s2[0] + s2[1]
}

/// How a level adds the PReLU slope gradient's terms to a plane's lanes.
pub(crate) trait PreluTerms {
    /// Whether the level has FMA, which [`add_terms_to_lanes_fma`] uses.
    const FMA: bool;
    /// [`add_terms_to_lanes`]; `x` starts on a plane's lane 0.
    ///
    /// # Safety
    /// The implementing level's features must be available.
    unsafe fn add_to_lanes<T: Float>(x: &[T], dy: &[T], lanes: &mut SumLanes);
    /// A whole 16-bit plane's terms and `dx` (slope `a`) in one pass, where the level and
    /// the type have a loop for it (`FloatSealed::prelu_plane_v4`); `false` (nothing
    /// written) otherwise (default).
    ///
    /// # Safety
    /// The implementing level's features must be available; `x` starts on a plane's lane 0.
    #[inline(always)]
    unsafe fn plane<T: Float>(a: T::C, x: &[T], dy: &[T], dx: &mut [T], lanes: &mut SumLanes, far: bool) -> bool {
        let _ = (a, x, dy, dx, lanes, far);
        false
    }
}

/// [`PreluTerms`] in plain code.
pub(crate) struct PortableTerms;

impl PreluTerms for PortableTerms {
    const FMA: bool = false;
    #[inline(always)]
    unsafe fn add_to_lanes<T: Float>(x: &[T], dy: &[T], lanes: &mut SumLanes) {
        add_terms_to_lanes(x, dy, lanes);
    }
}

/// [`prelu_backward_with`] in plain code.
#[inline(always)]
pub(crate) fn prelu_backward_rows<T: Float, D: PreluDx<T>>(
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    planes: &D,
    acc: &mut [f64],
) {
    // SAFETY: the portable terms need no CPU feature.
    unsafe { prelu_backward_with::<PortableTerms, T, D>(x, dy, dx, planes, acc) }
}

/// What [`prelu_backward_with`] does with each piece of a channel-first plane once its
/// terms are computed, while the piece is in L1: PReLU's `dx`.
pub(crate) trait PreluDx<T: Float> {
    /// Elements of each channel's run per row: 1 for channel-last rows.
    fn run(&self) -> usize;
    /// The one-compare `dx` kernel of channel `channel`'s planes where it fits their slope
    /// and kink, for the walk that computes `dx` beside the terms.
    fn leaky_dx(&self, channel: usize) -> Option<LeakyBackward<T::C>>;
    /// `dx` of `x` and `dy`, a piece of channel `channel`'s run.
    fn piece(&self, channel: usize, x: &[T], dy: &[T], dx: &mut [T]);
    /// The slopes, one a channel, and the kink: channel-last rows (`run() == 1`) take
    /// each element's slope in the walk.
    fn slopes(&self) -> (&[T], Kink);
    /// Whether the arrays lie beyond the caches, where the walk prefetches each piece's
    /// `x`, `dy` and (where it is not streamed) `dx` ahead.
    fn far(&self) -> bool;
    /// Whether channel-first `dx` goes out with streaming stores, on the levels that have
    /// them ([`crate::arch::stream::DxStreamed`]).
    fn stream(&self) -> bool;
}

/// How far ahead of a piece [`prelu_backward_with`] prefetches the same plane's `x`, `dy`
/// and `dx` where [`PreluDx::far`]: the hardware prefetchers do not keep far enough ahead
/// of the walk (measured on the AVX-512 Xeon, f32, 64 channels first, ns an element: 16M
/// elements 1.25-1.34 -> 1.08-1.12, bf16 0.59-0.60 -> 0.46-0.48; 4M level; in the caches
/// the same prefetches cost up to 10%, measured with the walk of eight channels side by
/// side). The output too, where it is not streamed: a line fetched before the stores
/// arrive is written without waiting for its read. Not on AMD
/// ([`crate::arch::prefetches_ahead`]): on the project's AMD EPYC (Zen 4), one thread at
/// 16M elements, f64 ran 1.39-1.40 ns an element with the prefetches and 0.91-0.92
/// without, f32 0.52-0.53 and 0.48, f16 and bf16 level.
pub(crate) const PRELU_PREFETCH_AHEAD_BYTES: usize = 2048;

/// Prefetches the `len` elements of `s` from `at` on (a hint: any `at`, it never faults).
#[inline(always)]
pub(crate) fn prefetch_piece<T>(s: &[T], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    crate::arch::stream::prefetch(s.as_ptr().wrapping_add(at).cast(), len * size_of::<T>());
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (s, at, len);
}

/// PReLU backward over whole rows (`x.len()` a multiple of `acc.len() * planes.run()`):
/// `dx` by `planes`, and each channel plane's slope-gradient sum added to `acc` (one sum
/// per channel), in the order the crate documents: a plane's terms (`x * dy` in f64 where
/// `x < 0`) into [`SUM_LANES`] interleaved lanes, folded, and the planes' sums added row
/// after row. A channel-last row's planes are single elements, whose fold is the term.
///
/// A plane is walked in pieces of [`SUM_CHUNK`] ([`SUM_CHUNK_16`] for 16-bit types): each
/// piece's terms go into the lanes (vertical additions, independent chains, where one sum
/// a channel in index order was a chain of dependent additions at the adder's latency)
/// and its `dx` follows while the piece is in L1, so that one pass reads `x` and `dy`: in
/// the same loop for f32 and f64 planes whose slope takes the one-compare kernel, by
/// `planes` otherwise. Measured on the AVX-512 Xeon (a scratch loop of `prelu_backward`,
/// 64 channels first, one thread, ns an element) against the sums in index order, which
/// took eight channels side by side and transposed their terms in registers: f32 64K
/// 0.47-0.52 -> 0.25, 1M 0.71 -> 0.53-0.59, 16M 1.24-1.27 -> 1.12-1.15; f64 64K 0.65-0.80
/// -> 0.40-0.43; f16 16M 0.77-0.85 -> 0.53-0.57; bf16 64K 0.47-0.53 -> 0.34. Adding
/// `+0.0` for the other elements is the same as skipping them: a sum that starts at
/// `+0.0` is never `-0.0`.
///
/// A 16-bit plane of the one-compare kernel goes whole to [`PreluTerms::plane`] instead,
/// where the level has a loop that takes its terms and its `dx` in one pass (v4: widened
/// once for both, where the pieces widen for the terms and again in the `dx` call). So
/// does an f32 or f64 plane of that kernel to its loop where nothing is prefetched and
/// `dx` is written in place: the lanes stay in registers, where each piece stored and
/// reloaded them (measured on the project's AMD EPYC, Zen 4, one thread, f32 at 1M
/// elements 0.174-0.192 -> 0.162-0.169 ns an element in two sets of interleaved runs;
/// level at 4K and 64K).
///
/// # Safety
/// `C`'s level's features must be available.
#[inline(always)]
pub(crate) unsafe fn prelu_backward_with<C: PreluTerms, T: Float, D: PreluDx<T>>(
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    planes: &D,
    acc: &mut [f64],
) {
    let channels = acc.len();
    let row = channels * planes.run();
    if planes.run() == 1 {
        // Channel-last rows: one element per plane, whose fold is its term; the channels'
        // sums are independent chains already.
        let (weight, kink) = planes.slopes();
        debug_assert_eq!(weight.len(), row);
        match kink {
            Kink::Lower => last_rows::<T, LOWER>(C::FMA, x, dy, dx, weight, acc),
            Kink::Upper => last_rows::<T, UPPER>(C::FMA, x, dy, dx, weight, acc),
            Kink::Mid => last_rows::<T, MID>(C::FMA, x, dy, dx, weight, acc),
        }
        return;
    }
    // SAFETY: `C`'s level (caller).
    unsafe { prelu_planes_with::<C, T, D, _>(x, dy, &mut DxInPlace(dx), planes, acc) }
}

/// Channel-last PReLU backward rows in one loop: each element's term into its channel's
/// sum (`acc[c]`, row after row, as [`add_term`]: by FMA where `fma`) and its `dx` by its
/// channel's slope, so that `x` and `dy` are read once. Measured on the project's AMD EPYC
/// (Zen 4; a scratch loop, 64 channels last, one thread, v4, ns an element) against the
/// sums first and `dx` by a `map3` call per row after them: f32 at 64K 0.44-0.46 -> 0.31,
/// 1M 0.50 -> 0.37-0.38, 16M 1.05 -> 0.65-0.70; f64 0.70-0.73 -> 0.44, 1.10-1.17 ->
/// 0.61-0.65, 1.85 -> 1.14-1.18; f16 2.28 -> 1.52 at 64K and 2.7-2.8 -> 1.69 at 16M but
/// 1.50 -> 1.6-1.9 at 4K; bf16 0.92-0.94 -> 0.72, 1.28-1.35 -> 0.90-0.96, level at 4K. (The
/// 16-bit types convert lane by lane here: far from their channel-first planes.)
#[inline(always)]
fn last_rows<T: Float, const KINK: u8>(fma: bool, x: &[T], dy: &[T], dx: &mut [T], weight: &[T], acc: &mut [f64]) {
    let row = weight.len();
    let rows = x.chunks_exact(row).zip(dy.chunks_exact(row)).zip(dx.chunks_exact_mut(row));
    for ((x, dy), dx) in rows {
        for ((((&x, &dy), dx), &w), acc) in x.iter().zip(dy).zip(dx.iter_mut()).zip(weight).zip(acc.iter_mut()) {
            add_term(fma, acc, x, dy);
            *dx = SlopedByBackward::<KINK>.apply(x, w, dy);
        }
    }
}

/// Where [`prelu_planes_with`] writes `dx`: piece after piece, front to back.
pub(crate) trait DxPieces<T> {
    /// Whether `dx` is written where it lies, in pieces of any length; else through a
    /// buffer of [`SUM_CHUNK_16`] elements (streamed out).
    const IN_PLACE: bool;
    /// The slice to write `dx[range]` into: `range` starts where the last piece marked
    /// [`DxPieces::written`] ended (at 0 the first time), and is at most [`SUM_CHUNK_16`]
    /// long where not [`DxPieces::IN_PLACE`].
    fn piece(&mut self, range: Range<usize>) -> &mut [T];
    /// The slice that the last [`DxPieces::piece`] returned is written.
    fn written(&mut self);
    /// Prefetches the `len` elements of `dx` from `at` on, where they are written in place.
    fn prefetch(&self, at: usize, len: usize);
}

/// `dx` written where it lies.
pub(crate) struct DxInPlace<'a, T>(pub(crate) &'a mut [T]);

impl<T> DxPieces<T> for DxInPlace<'_, T> {
    const IN_PLACE: bool = true;
    #[inline(always)]
    fn piece(&mut self, range: Range<usize>) -> &mut [T] {
        &mut self.0[range]
    }
    #[inline(always)]
    fn written(&mut self) {}
    #[inline(always)]
    fn prefetch(&self, at: usize, len: usize) {
        prefetch_piece(self.0, at, len);
    }
}

/// The channel-first walk of [`prelu_backward_with`], its `dx` written through `out`
/// (streamed out where not [`DxPieces::IN_PLACE`]: in pieces, and not prefetched).
///
/// # Safety
/// `C`'s level's features must be available.
#[inline(always)]
pub(crate) unsafe fn prelu_planes_with<C: PreluTerms, T: Float, D: PreluDx<T>, O: DxPieces<T>>(
    x: &[T],
    dy: &[T],
    out: &mut O,
    planes: &D,
    acc: &mut [f64],
) {
    let channels = acc.len();
    let run = planes.run();
    let far = planes.far();
    let ahead = PRELU_PREFETCH_AHEAD_BYTES / size_of::<T>();
    let planes_of = |s: usize| (0..s).step_by(run);
    // The channels in turn, row after row (a counter, where a remainder per plane was a
    // division per plane).
    for (start, channel) in planes_of(x.len()).zip((0..channels).cycle()) {
        let mut lanes: SumLanes = [0.0; SUM_LANES];
        let leaky = planes.leaky_dx(channel);
        // A 16-bit plane of the one-compare kernel in one pass, where the level can (and
        // `dx` is written in place: streamed, it would take the pieces below).
        if let (2, Some(k), true) = (size_of::<T>(), &leaky, O::IN_PLACE) {
            let plane = start..start + run;
            let (x, dy) = (&x[plane.clone()], &dy[plane.clone()]);
            // SAFETY: `C`'s level (caller); the plane starts on its lane 0.
            if unsafe { C::plane(k.0, x, dy, out.piece(plane), &mut lanes, far) } {
                out.written();
                acc[channel] += fold_lanes(&lanes);
                continue;
            }
        }
        // f32 and f64 planes of the one-compare kernel in one loop, whole where nothing is
        // prefetched and `dx` is in place (the general kernel's selects do not vectorise in
        // it: a call of its own per piece).
        let leaky = if size_of::<T>() >= 4 { leaky } else { None };
        let chunk = match (size_of::<T>(), &leaky) {
            (2, _) => SUM_CHUNK_16,
            (_, Some(_)) if O::IN_PLACE && !far => run,
            _ => SUM_CHUNK,
        };
        for k in (0..run).step_by(chunk) {
            let len = chunk.min(run - k);
            let piece = start + k..start + k + len;
            if far {
                prefetch_piece(x, piece.start + ahead, len);
                prefetch_piece(dy, piece.start + ahead, len);
                out.prefetch(piece.start + ahead, len);
            }
            let (x, dy) = (&x[piece.clone()], &dy[piece.clone()]);
            let dx = out.piece(piece);
            match &leaky {
                Some(k) => lanes_and_dx(C::FMA, k, x, dy, dx, &mut lanes),
                None => {
                    // SAFETY: `C`'s level (caller).
                    unsafe { C::add_to_lanes(x, dy, &mut lanes) };
                    planes.piece(channel, x, dy, dx);
                }
            }
            out.written();
        }
        acc[channel] += fold_lanes(&lanes);
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

    use super::{map1_loop, mask_bits, pack_word, select_by_bits, unaligned_head};
    use crate::arch::stream::{
        Aligned, DxStreamed, STREAM_ALIGN, Streamer, for_each_stream_step, prefetch_step, stream_steps,
    };
    use crate::arch::{avx2, avx512};
    use crate::element::sealed::Sealed;
    use crate::element::{Element, Float};
    use crate::kernels::{Fused, Map1, Map2, Product, Sloped, SlopedUnit};

    /// Runs `$body` with `$i` the start of each 64-element step over `$n >= 64` elements of
    /// an output that is cache-line aligned from element `$head` on: a step at 0 if the head
    /// is not empty, the aligned steps, then a step ending at `$n` if elements are left; in
    /// increasing order, each step overlapping only earlier ones. A macro, not a function
    /// taking a closure: a closure defined outside the level's `#[target_feature]` function is
    /// compiled without its features when LLVM does not inline it; and an iterator over the
    /// starts (tried) ran the select 30% slower at 4K.
    macro_rules! for_each_step {
        ($n:expr, $head:expr, |$i:ident| $body:expr) => {{
            let (n, head): (usize, usize) = ($n, $head);
            let last = head + (n - head) / 64 * 64;
            if head > 0 {
                let $i = 0;
                $body
            }
            for $i in (head..last).step_by(64) {
                $body
            }
            if last < n {
                let $i = n - 64;
                $body
            }
        }};
    }

    /// What differs between the levels in the drivers written once for both: [`V3`] runs
    /// each element type's AVX2 bodies, [`V4`] the AVX-512 ones (compares into mask
    /// registers, zeroing loads, `vfixupimm`), where the type has them.
    pub(crate) trait LevelBodies {
        /// Whether `x[i] = k(x[i])` compiles to whole-vector stores at this level, so that
        /// the in-place drivers write straight back. With AVX-512 LLVM selects in mask
        /// registers and stores whole vectors; with AVX2 it stores only the lanes that
        /// change (`vmaskmovps`), several times slower on AMD cores, so v3 computes each
        /// block into a buffer and copies it back ([`super::map1_inplace`]).
        const STORES_WHOLE_VECTORS_IN_PLACE: bool;
        /// The mask word of `x > 0`.
        ///
        /// # Safety
        /// The level's features must be available.
        unsafe fn pack_word<T: Sealed>(x: &[T; 64]) -> u64;
        /// `y = relu(x)` and the mask word of `x > 0`.
        ///
        /// # Safety
        /// The level's features must be available.
        unsafe fn relu_mask_word<T: Sealed>(x: &[T; 64], y: &mut [T; 64]) -> u64;
        /// `dx[i] = bit i of w ? dy[i] : zero`.
        ///
        /// # Safety
        /// The level's features must be available.
        unsafe fn select_word<T: Sealed>(w: u64, dy: &[T; 64], dx: &mut [T; 64]);
        /// `y = relu(x)`, the whole slice.
        ///
        /// # Safety
        /// The level's features must be available.
        unsafe fn relu<T: Element>(x: &[T], y: &mut [T]);
        /// `out = k(a, b)` for an op that multiplies, the whole slices: the element type's
        /// hook at the level.
        ///
        /// # Safety
        /// The level's features must be available.
        unsafe fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]);
        /// `b = k(a, b)` straight over `b` where the element type can at this level
        /// ([`crate::element::sealed::FloatSealed::scale_inplace_v4`]); `false` where it
        /// cannot (default).
        ///
        /// # Safety
        /// The level's features must be available.
        #[inline(always)]
        unsafe fn scale_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) -> bool {
            let _ = (k, a, b);
            false
        }
    }

    /// x86-64-v3's [`LevelBodies`].
    pub(crate) struct V3;

    /// x86-64-v4's [`LevelBodies`].
    pub(crate) struct V4;

    impl LevelBodies for V3 {
        const STORES_WHOLE_VECTORS_IN_PLACE: bool = false;
        #[inline(always)]
        unsafe fn pack_word<T: Sealed>(x: &[T; 64]) -> u64 {
            // SAFETY: v3 (caller).
            unsafe { T::pack_word_v3(x) }
        }
        #[inline(always)]
        unsafe fn relu_mask_word<T: Sealed>(x: &[T; 64], y: &mut [T; 64]) -> u64 {
            // SAFETY: v3 (caller).
            unsafe { T::relu_mask_word_v3(x, y) }
        }
        #[inline(always)]
        unsafe fn select_word<T: Sealed>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
            // SAFETY: v3 (caller).
            unsafe { T::select_word_v3(w, dy, dx) }
        }
        #[inline(always)]
        unsafe fn relu<T: Element>(x: &[T], y: &mut [T]) {
            super::relu(x, y)
        }
        #[inline(always)]
        unsafe fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
            // SAFETY: v3 (caller).
            unsafe { T::product_select_v3(k, a, b, out) }
        }
    }

    impl super::PreluTerms for V3 {
        const FMA: bool = true;
        #[inline(always)]
        unsafe fn add_to_lanes<T: Float>(x: &[T], dy: &[T], lanes: &mut super::SumLanes) {
            // SAFETY: v3 (caller) includes x86-64-v3.
            unsafe { T::prelu_lanes_v3(x, dy, lanes) }
        }
    }

    impl super::PreluTerms for V4 {
        const FMA: bool = true;
        #[inline(always)]
        unsafe fn add_to_lanes<T: Float>(x: &[T], dy: &[T], lanes: &mut super::SumLanes) {
            // SAFETY: v4 (caller).
            unsafe { T::prelu_lanes_v4(x, dy, lanes) }
        }
        #[inline(always)]
        unsafe fn plane<T: Float>(
            a: T::C,
            x: &[T],
            dy: &[T],
            dx: &mut [T],
            lanes: &mut super::SumLanes,
            far: bool,
        ) -> bool {
            // SAFETY: v4 and a plane's lane 0 (caller).
            unsafe { T::prelu_plane_v4(a, x, dy, dx, lanes, far) }
        }
    }

    /// [`super::prelu_backward_with`] with the level's terms.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn prelu_backward_rows<B: LevelBodies + super::PreluTerms, T: Float, D: super::PreluDx<T>>(
        x: &[T],
        dy: &[T],
        dx: &mut [T],
        planes: &D,
        acc: &mut [f64],
    ) {
        if planes.stream() && planes.run() > 1 {
            // SAFETY: every x86 level with bodies has AVX (x86-64-v3 and up).
            let mut out = unsafe { DxStreamed::new(dx, T::zero()) };
            // SAFETY: the level (caller).
            unsafe { super::prelu_planes_with::<B, T, D, _>(x, dy, &mut out, planes, acc) };
            out.finish();
            return;
        }
        // SAFETY: the level (caller).
        unsafe { super::prelu_backward_with::<B, T, D>(x, dy, dx, planes, acc) }
    }

    impl LevelBodies for V4 {
        const STORES_WHOLE_VECTORS_IN_PLACE: bool = true;
        #[inline(always)]
        unsafe fn pack_word<T: Sealed>(x: &[T; 64]) -> u64 {
            // SAFETY: v4 (caller).
            unsafe { T::pack_word_v4(x) }
        }
        #[inline(always)]
        unsafe fn relu_mask_word<T: Sealed>(x: &[T; 64], y: &mut [T; 64]) -> u64 {
            // SAFETY: v4 (caller).
            unsafe { T::relu_mask_word_v4(x, y) }
        }
        #[inline(always)]
        unsafe fn select_word<T: Sealed>(w: u64, dy: &[T; 64], dx: &mut [T; 64]) {
            match size_of::<T>() {
                // SAFETY: v4 includes AVX-512F/BW (caller); lanes of 2, 4 or 8 bytes; every
                // element type's zero is all-zero bits (+0.0 or 0).
                2 | 4 | 8 => unsafe { avx512::select_word(w, dy, dx) },
                // SAFETY: v4 includes v3 (caller).
                _ => unsafe { T::select_word_v3(w, dy, dx) },
            }
        }
        #[inline(always)]
        unsafe fn relu<T: Element>(x: &[T], y: &mut [T]) {
            let n = y.len().min(x.len());
            if !T::RELU_WORD_V4 || n < 64 || n * size_of::<T>() > RELU_FIXUP_MAX_BYTES {
                return super::relu(x, y);
            }
            for_each_step!(n, unaligned_head(y, super::OUT_ALIGN), |i| {
                let x: &[T; 64] = x[i..i + 64].try_into().expect("64");
                let y: &mut [T; 64] = (&mut y[i..i + 64]).try_into().expect("64");
                // SAFETY: v4 (caller).
                unsafe { T::relu_word_v4(x, y) }
            });
        }
        #[inline(always)]
        unsafe fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
            // SAFETY: v4 (caller).
            unsafe { T::product_select_v4(k, a, b, out) }
        }
        #[inline(always)]
        unsafe fn scale_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) -> bool {
            // SAFETY: v4 (caller).
            unsafe { T::scale_inplace_v4(k, a, b) }
        }
    }

    /// The largest output that [`V4`]'s ReLU computes with `vfixupimm`: with `x` as large,
    /// both fit in a 32 KiB L1. Beyond L1 LLVM's compare-and-zero loop is faster (measured
    /// on an AVX-512 Xeon, f32 at 8K and 64K elements: 106 GB/s against 98); in L1 it is
    /// slower (f32 at 4K, `x` 16 bytes off `y`'s alignment: 230-239 against 272-280;
    /// aligned alike: 303-308 against 296-356, noisy).
    const RELU_FIXUP_MAX_BYTES: usize = 16 << 10;

    /// `y = relu(x)` with the level's body: on v4, for f32 and f64 in L1, one `vfixupimm` per
    /// vector in steps of 64 elements from `y`'s first cache line (a step at each end
    /// overlapping the aligned ones, which rewrites a few elements with the same values);
    /// otherwise [`super::map1`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu<L: LevelBodies, T: Element>(x: &[T], y: &mut [T]) {
        // SAFETY: forwarded from the caller.
        unsafe { L::relu(x, y) }
    }

    /// `x = k(x)` in place: straight back where the level stores whole vectors
    /// ([`LevelBodies::STORES_WHOLE_VECTORS_IN_PLACE`]; measured on an AVX-512 Xeon, v4, f32
    /// leaky and ReLU6 in place at 4K: 131-137 -> 210-213 GB/s, at 64K +7%), else through
    /// the buffer of [`super::map1_inplace`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn map1_inplace<L: LevelBodies, T: Copy, K: Map1<T>>(k: &K, x: &mut [T]) {
        if L::STORES_WHOLE_VECTORS_IN_PLACE {
            for x in x.iter_mut() {
                *x = k.apply(*x);
            }
        } else {
            super::map1_inplace(k, x)
        }
    }

    /// `b = k(a, b)` in place, as [`map1_inplace`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn map2_inplace<L: LevelBodies, T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
        if L::STORES_WHOLE_VECTORS_IN_PLACE {
            for (b, &a) in b.iter_mut().zip(a) {
                *b = k.apply(a, *b);
            }
        } else {
            super::map2_inplace(k, a, b)
        }
    }

    /// `x = relu(x)`: straight back on v4 (as [`map1_inplace`]), the element type's AVX2
    /// body on v3.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_inplace<L: LevelBodies, T: Element>(x: &mut [T]) {
        if L::STORES_WHOLE_VECTORS_IN_PLACE {
            // SAFETY: forwarded from the caller.
            return unsafe { map1_inplace::<L, T, _>(&crate::kernels::Relu, x) };
        }
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

    /// `dy = x > 0 ? dy : zero`: as [`relu_inplace`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_backward_inplace<L: LevelBodies, T: Element>(x: &[T], dy: &mut [T]) {
        if L::STORES_WHOLE_VECTORS_IN_PLACE {
            // SAFETY: forwarded from the caller.
            return unsafe { map2_inplace::<L, T, _>(&crate::kernels::ReluBackward, x, dy) };
        }
        // SAFETY: forwarded from the caller.
        unsafe { T::relu_backward_inplace_v3(x, dy) }
    }

    /// Runs `$body` with `$r` each range of the in-place array `$x` of `$elem` in the
    /// order that streams fastest from DRAM: the elements before its first cache line, its
    /// 256-byte steps in the interleaved order of `for_each_stream_step!`, the rest.
    /// Measured on the AVX-512 Xeon, f32 ReLU in place at 64M elements (a scratch loop):
    /// 16.7 GB/s in order, 25.6 with four spans.
    macro_rules! in_span_order {
        ($elem:ty, $x:expr, |$r:ident| $body:expr) => {{
            let n = $x.len();
            let head = unaligned_head($x, STREAM_ALIGN).min(n);
            let step = 256 / size_of::<$elem>();
            {
                let $r = 0..head;
                $body
            }
            let tail = for_each_stream_step!($elem, head, n, step, |i| {
                let $r = i..i + step;
                $body
            });
            let $r = tail..n;
            $body
        }};
    }

    /// [`map1_inplace`] for arrays beyond the cache, in the span order ([`in_span_order!`]).
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn map1_inplace_spans<L: LevelBodies, T: Copy, K: Map1<T>>(k: &K, x: &mut [T]) {
        // SAFETY: forwarded from the caller.
        in_span_order!(T, x, |r| unsafe { map1_inplace::<L, T, K>(k, &mut x[r]) })
    }

    /// [`map2_inplace`] in the span order, as [`map1_inplace_spans`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn map2_inplace_spans<L: LevelBodies, T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
        // SAFETY: forwarded from the caller.
        in_span_order!(T, b, |r| unsafe { map2_inplace::<L, T, K>(k, &a[r.clone()], &mut b[r]) })
    }

    /// [`relu_inplace`] in the span order, as [`map1_inplace_spans`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_inplace_spans<L: LevelBodies, T: Element>(x: &mut [T]) {
        // SAFETY: forwarded from the caller.
        in_span_order!(T, x, |r| unsafe { relu_inplace::<L, T>(&mut x[r]) })
    }

    /// [`relu_backward_inplace`] in the span order, as [`map1_inplace_spans`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_backward_inplace_spans<L: LevelBodies, T: Element>(x: &[T], dy: &mut [T]) {
        // SAFETY: forwarded from the caller.
        in_span_order!(T, dy, |r| unsafe { relu_backward_inplace::<L, T>(&x[r.clone()], &mut dy[r]) })
    }

    /// `out = k(a, b)` for an op that multiplies: through the element type's hook at the
    /// level, where 16-bit floats convert whole vectors in hardware between the product and
    /// the selects.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select<L: LevelBodies, T: Float, K: Product<T>>(
        k: &K,
        a: &[T],
        b: &[T],
        out: &mut [T],
    ) {
        // SAFETY: forwarded from the caller.
        unsafe { L::product_select(k, a, b, out) }
    }

    /// [`product_select`] for outputs beyond the cache, the hook computing each step
    /// ([`stream_steps!`]: 256-byte steps through an L1 temporary, streamed out four pages
    /// side by side, the inputs prefetched a group ahead). The inputs must be read in that
    /// order too, which is what keeps DRAM busy: computing whole 16 KiB groups in order and
    /// streaming them out in span order ran f16 leaky at 64M elements at 11.5 GB/s, as slow
    /// as plain stores. The hook computes the same elements, so the bits are those of
    /// [`product_select`].
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select_stream<L: LevelBodies, T: Float, K: Product<T>>(
        k: &K,
        a: &[T],
        b: &[T],
        out: &mut [T],
    ) {
        let Some(&fill) = a.first() else { return };
        let n = out.len().min(a.len()).min(b.len());
        let unary = a.as_ptr() == b.as_ptr();
        stream_steps!(
            T,
            out,
            n,
            fill,
            |at| {
                prefetch_step(a[at..].as_ptr().cast());
                if !unary {
                    prefetch_step(b[at..].as_ptr().cast());
                }
            },
            // SAFETY: forwarded from the caller.
            |r, dst| unsafe { L::product_select(k, &a[r.clone()], &b[r], dst) }
        );
    }

    /// PReLU over whole channel-first rows (`x.len()` a multiple of `run * weight.len()`):
    /// the planes of one call in one loop at this level, so that a small plane costs its
    /// elements and not a dispatch.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn prelu_planes<L: LevelBodies, T: Float>(x: &[T], weight: &[T], run: usize, y: &mut [T]) {
        let planes = x.chunks_exact(run).zip(y.chunks_exact_mut(run)).zip(weight.iter().cycle());
        if size_of::<T>() != 2 && run * size_of::<T>() >= PRELU_ALIGNED_PLANE_BYTES {
            for ((x, y), w) in planes {
                let a = w.widen();
                if SlopedUnit::fits(a) {
                    super::map1(&Fused(&SlopedUnit(a)), x, y)
                } else {
                    super::map1(&Fused(&Sloped(a)), x, y)
                }
            }
            return;
        }
        for ((x, y), w) in planes {
            let a = w.widen();
            if SlopedUnit::fits(a) {
                // SAFETY: forwarded from the caller.
                unsafe { L::product_select(&SlopedUnit(a), x, x, y) }
            } else {
                // SAFETY: forwarded from the caller.
                unsafe { L::product_select(&Sloped(a), x, x, y) }
            }
        }
    }

    /// The smallest f32/f64 PReLU plane that [`prelu_planes`] writes from its first cache
    /// line on, as [`super::map1`] does; below, the head costs more than the split stores.
    const PRELU_ALIGNED_PLANE_BYTES: usize = 1 << 10;

    /// [`prelu_planes`] in place.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn prelu_planes_inplace<L: LevelBodies, T: Float>(weight: &[T], run: usize, x: &mut [T]) {
        for (x, w) in x.chunks_exact_mut(run).zip(weight.iter().cycle()) {
            let a = w.widen();
            if SlopedUnit::fits(a) {
                // SAFETY: forwarded from the caller.
                unsafe { product_select_inplace::<L, T, _>(&SlopedUnit(a), None, x) }
            } else {
                // SAFETY: forwarded from the caller.
                unsafe { product_select_inplace::<L, T, _>(&Sloped(a), None, x) }
            }
        }
    }

    /// [`product_select`] writing over `b` (`a` of `None`: a unary op over `b`).
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select_inplace<L: LevelBodies, T: Float, K: Product<T>>(
        k: &K,
        a: Option<&[T]>,
        b: &mut [T],
    ) {
        // Straight over `b` where the type can: a copy into the buffer just before 64-byte
        // loads of it stalls on store forwarding (bf16 leaky 0.01 in place at 64K on v4,
        // the 32-lane body through the buffer: 38 GB/s, the 16-lane one 45).
        // SAFETY: forwarded from the caller.
        if unsafe { L::scale_inplace(k, a, b) } {
            return;
        }
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
            unsafe { L::product_select(k, a, src, b) }
        }
    }

    /// [`product_select_inplace`] for arrays beyond the cache: in the span order
    /// ([`in_span_order!`]), the inputs prefetched a group of spans ahead as
    /// [`product_select_stream`] does (f16 leaky in place at 64M elements on v4: 14.2 GB/s
    /// in order, 17.6 in the span order with the prefetch, the in-place copy 17.2).
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn product_select_inplace_spans<L: LevelBodies, T: Float, K: Product<T>>(
        k: &K,
        a: Option<&[T]>,
        b: &mut [T],
    ) {
        let ahead = crate::arch::stream::prefetch_ahead::<T>();
        let n = b.len();
        in_span_order!(T, b, |r| {
            if let Some(ahead) = ahead
                && r.end + ahead <= n
            {
                prefetch_step(b[r.start + ahead..].as_ptr().cast());
                if let Some(a) = a {
                    prefetch_step(a[r.start + ahead..].as_ptr().cast());
                }
            }
            // SAFETY: forwarded from the caller.
            unsafe { product_select_inplace::<L, T, K>(k, a.map(|a| &a[r.clone()]), &mut b[r]) }
        })
    }

    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn pack_positive<L: LevelBodies, T: Element>(x: &[T], words: &mut [u64]) {
        let mut chunks = x.chunks_exact(64);
        for (w, chunk) in words.iter_mut().zip(&mut chunks) {
            let chunk: &[T; 64] = chunk.try_into().expect("chunks_exact(64)");
            // SAFETY: forwarded from the caller.
            *w = unsafe { L::pack_word(chunk) };
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            words[x.len() / 64] = pack_word(rest);
        }
    }

    /// `y = relu(x)` and the mask in one pass, in steps of 64 elements from `y`'s first
    /// cache line as [`select_by_mask`] (with a step at the start and one at the end,
    /// overlapping the aligned ones); each step's 64 bits go into the mask at the step's
    /// place, into one word or across two.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn relu_with_mask<L: LevelBodies, T: Sealed>(x: &[T], y: &mut [T], words: &mut [u64]) {
        let n = y.len().min(x.len());
        if n < 64 {
            map1_loop(&crate::kernels::Relu, x, y);
            if n > 0 {
                words[0] = pack_word(&x[..n]);
            }
            return;
        }
        let head = unaligned_head(y, super::OUT_ALIGN);
        // The bits that the aligned steps put at the start of their next word wait in a
        // register, not in that word: an or into the word makes each step wait for the
        // previous step's store (measured on the AVX-512 Xeon, v4, at 4K elements: f16
        // 106-109 -> 119 GB/s, f32 130-133 -> 136; 64K and 256K unchanged).
        let mut carry = 0;
        if head > 0 {
            // SAFETY: forwarded from the caller; the first step, at 0.
            unsafe { relu_mask_step::<L, T>(x, y, words, 0) };
            carry = words[0] & ((1 << head) - 1);
        }
        let last = head + (n - head) / 64 * 64;
        for i in (head..last).step_by(64) {
            let xs: &[T; 64] = x[i..i + 64].try_into().expect("64");
            let ys: &mut [T; 64] = (&mut y[i..i + 64]).try_into().expect("64");
            // SAFETY: forwarded from the caller.
            let bits = unsafe { L::relu_mask_word(xs, ys) };
            // `i % 64` is `head` (below 64): the word of `i` takes the carry and the bits'
            // low part, the next word's start waits in the carry.
            words[i / 64] = carry | bits << head;
            carry = if head == 0 { 0 } else { bits >> (64 - head) };
        }
        if head > 0 && last / 64 < words.len() {
            words[last / 64] = carry;
        }
        if last < n {
            // SAFETY: forwarded from the caller; the steps before covered `0..last`.
            unsafe { relu_mask_step::<L, T>(x, y, words, n - 64) };
        }
    }

    /// One step of [`relu_with_mask`]: the 64 elements from `i`, their bits at bit `i % 64`
    /// of word `i / 64` on, and the rest of them at the start of the next word (clearing
    /// its other bits, for the later steps to fill; the last word's unused bits stay 0).
    /// The earlier steps left the first word's bits from `i % 64` on clear, or set as here
    /// (where they overlap this step), so an or puts them in.
    ///
    /// # Safety
    /// The level's features must be available; the steps before this one covered `0..i`.
    #[inline(always)]
    unsafe fn relu_mask_step<L: LevelBodies, T: Sealed>(x: &[T], y: &mut [T], words: &mut [u64], i: usize) {
        let x: &[T; 64] = x[i..i + 64].try_into().expect("64");
        let y: &mut [T; 64] = (&mut y[i..i + 64]).try_into().expect("64");
        // SAFETY: forwarded from the caller.
        let bits = unsafe { L::relu_mask_word(x, y) };
        let (w, shift) = (i / 64, i % 64);
        if shift == 0 {
            words[w] = bits;
        } else {
            words[w] |= bits << shift;
            words[w + 1] = bits >> (64 - shift);
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
        // On a cache line, as `stream::Aligned` says.
        let mut buf = Aligned([T::zero(); BLOCK]);
        let mut out = Streamer::new(y, T::zero());
        for (x, words) in x.chunks(BLOCK).zip(words.chunks_mut(BLOCK / 64)) {
            let block = &mut buf.0[..x.len()];
            // SAFETY: forwarded from the caller (v3 includes AVX); the blocks add up to y.
            unsafe {
                relu_with_mask::<V3, T>(x, block, words);
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
        // On a cache line, as `stream::Aligned` says.
        let mut buf = Aligned([T::zero(); BLOCK]);
        let mut out = Streamer::new(dx, T::zero());
        for (dy, words) in dy.chunks(BLOCK).zip(words.chunks(BLOCK / 64)) {
            let block = &mut buf.0[..dy.len()];
            // SAFETY: forwarded from the caller (v3 includes AVX); the blocks add up to dx.
            unsafe {
                select_by_mask::<V3, T>(words, dy, block);
                out.push(block);
            }
        }
        out.finish();
    }

    /// `dx = bit ? dy : +0.0` in steps of 64 elements from `dx`'s first cache line, so that
    /// no vector store of a step straddles two lines (one straddling 64-byte store costs two:
    /// measured 86 -> 105 GB/s for f32 at 64K on an AVX-512 Xeon). A step's bits are the
    /// mask's bits from its first element on, from one word or two. The elements before the
    /// first line and after the last aligned step go in one more step each, at the start and
    /// at the end, overlapping the aligned ones (a select writes the same value twice).
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask<L: LevelBodies, T: Element>(words: &[u64], dy: &[T], dx: &mut [T]) {
        let n = dx.len().min(dy.len());
        if n < 64 {
            return select_by_bits(words, dy, dx, 0..n);
        }
        for_each_step!(n, unaligned_head(dx, super::OUT_ALIGN), |i| {
            // SAFETY: forwarded from the caller; the steps are in bounds.
            unsafe { select_step::<L, T>(words, dy, dx, i) }
        });
    }

    /// One step of [`select_by_mask`]: the 64 elements from `i`.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    unsafe fn select_step<L: LevelBodies, T: Element>(words: &[u64], dy: &[T], dx: &mut [T], i: usize) {
        let dy: &[T; 64] = dy[i..i + 64].try_into().expect("64");
        let dx: &mut [T; 64] = (&mut dx[i..i + 64]).try_into().expect("64");
        // SAFETY: forwarded from the caller.
        unsafe { L::select_word(mask_bits(words, i, 64), dy, dx) }
    }

    /// [`select_by_mask`] writing over `dy`.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    pub(crate) unsafe fn select_by_mask_inplace<L: LevelBodies, T: Element>(words: &[u64], dy: &mut [T]) {
        let n = dy.len();
        if n < 64 {
            for (i, dy) in dy.iter_mut().enumerate() {
                *dy = if (words[i / 64] >> (i % 64)) & 1 != 0 { *dy } else { T::zero() };
            }
            return;
        }
        for_each_step!(n, unaligned_head(dy, super::OUT_ALIGN), |i| {
            // SAFETY: forwarded from the caller; the steps are in bounds.
            unsafe { select_step_inplace::<L, T>(words, dy, i) }
        });
    }

    /// One step of [`select_by_mask_inplace`]: the 64 elements from `i`.
    ///
    /// # Safety
    /// The level's features must be available.
    #[inline(always)]
    unsafe fn select_step_inplace<L: LevelBodies, T: Element>(words: &[u64], dy: &mut [T], i: usize) {
        let step: &mut [T; 64] = (&mut dy[i..i + 64]).try_into().expect("64");
        let g = *step;
        // SAFETY: forwarded from the caller.
        unsafe { L::select_word(mask_bits(words, i, 64), &g, step) }
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

/// The portable level's [`map1_inplace`] for arrays beyond the cache: the same (the span
/// order of the vector levels is for their memory traffic).
pub(crate) fn map1_inplace_spans<T: Copy, K: Map1<T>>(k: &K, x: &mut [T]) {
    map1_inplace(k, x)
}

/// As [`map1_inplace_spans`].
pub(crate) fn map2_inplace_spans<T: Copy, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
    map2_inplace(k, a, b)
}

/// As [`map1_inplace_spans`].
pub(crate) fn relu_inplace_spans<T: Element>(x: &mut [T]) {
    relu_inplace(x)
}

/// As [`map1_inplace_spans`].
pub(crate) fn relu_backward_inplace_spans<T: Element>(x: &[T], dy: &mut [T]) {
    relu_backward_inplace(x, dy)
}

/// `out = k(a, b)` for an op that multiplies (the portable level: conversions per lane;
/// v3 and up convert 16-bit floats by vectors, in [`x86`]).
#[inline(always)]
pub(crate) fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    map2(&Fused(k), a, b, out)
}

/// [`product_select`] for outputs beyond the cache (the portable level has no streaming
/// stores).
#[inline(always)]
pub(crate) fn product_select_stream<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    product_select(k, a, b, out)
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

/// [`product_select_inplace`] for arrays beyond the cache (the portable level walks in
/// order).
#[inline(always)]
pub(crate) fn product_select_inplace_spans<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) {
    product_select_inplace(k, a, b)
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

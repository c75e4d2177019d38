//! Calls a driver over slices: picks the level once, splits by [`crate::par`], runs.
//! Lengths are checked by the public functions before they get here.
//!
//! A call that stays on one thread (every call below the split threshold) allocates
//! nothing and goes straight to the driver: that keeps the per-call cost at a few
//! nanoseconds for short slices.

use core::mem::size_of;
use core::ops::Range;
use std::cell::Cell;

use crate::arch;
use crate::dispatch;
use crate::element::{Element, Float};
use crate::kernels::{Fused, Map1, Map2, Map3, Product};
use crate::par::{self, split_mut};

pub(crate) const GRAIN: usize = 64;

/// Calls on at most this many bytes per array run the portable loop inline: no level, no
/// thread plan, no call through a `#[target_feature]` entry point. The bits are the same on
/// every level, and at this size the fixed costs are the whole cost (`relu` of 16 f32
/// measured ~14 ns through the dispatch, a few ns inline).
const SHORT_BYTES: usize = 256;

#[inline(always)]
fn short<T>(len: usize) -> bool {
    len * size_of::<T>() <= SHORT_BYTES
}

thread_local! {
    static STREAM_MIN: Cell<usize> = Cell::new(arch::stream_min_bytes());
}

/// Whether an out-of-place output of `len` elements, computed from `inputs` arrays as
/// long, goes out with streaming stores ([`arch::STREAM_MIN_BYTES`]).
pub(crate) fn streams<T>(len: usize, inputs: usize) -> bool {
    len.saturating_mul(size_of::<T>()).saturating_mul(inputs + 1) >= STREAM_MIN.with(Cell::get)
}

/// In-place arrays from this size on (twice the L2 of the project's AVX-512 Xeon) are
/// walked in the streaming drivers' span order. Measured there by `./scripts/bench`, f32
/// at 4M elements (16 MiB): the in-place copy ceiling 24 GB/s in order, 39 in span order;
/// at 1M, 36 and 38.
const IN_PLACE_SPANS_MIN_BYTES: usize = 4 << 20;

/// Whether an in-place array of `len` elements is walked in the span order (from
/// [`IN_PLACE_SPANS_MIN_BYTES`], or the streaming threshold where a test lowered it below).
fn in_span_order<T>(len: usize) -> bool {
    len.saturating_mul(size_of::<T>()) >= STREAM_MIN.with(Cell::get).min(IN_PLACE_SPANS_MIN_BYTES)
}

/// Runs `f` with the streaming-store threshold (the bytes of all the arrays of a call;
/// also that of the in-place span order, per array) lowered to `bytes`, so that small
/// arrays take those paths too. For tests; results must not change.
#[doc(hidden)]
pub fn with_stream_threshold<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    crate::par::with_thread_local(&STREAM_MIN, bytes, f)
}

/// Runs `f` with the streaming drivers (and the in-place span order) walking `spans`
/// spans of 4 KiB side by side (1: in order) in the calls that this thread runs, instead of
/// the machine's choice (four on Intel, one on AMD). For tests; results must not change.
#[doc(hidden)]
pub fn with_stream_spans<R>(spans: usize, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    return crate::par::with_thread_local(&arch::stream::SPANS, spans.clamp(1, arch::stream::STREAM_SPANS), f);
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = spans;
        f()
    }
}

/// Runs `f(range, part)` over the parts of `out` (the matching ranges of the inputs are
/// `range`): straight on the calling thread when the call is below the split threshold,
/// else over a [`par::plan`].
#[inline(always)]
fn over<T: Send>(out: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    over_whole(GRAIN, out, f)
}

/// [`over`] for calls that write over their input, which split later, or never on AMD
/// ([`par::IN_PLACE_SPLIT_FACTOR`]).
#[inline(always)]
fn over_in_place<T: Send>(x: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    over_in_place_whole(GRAIN, x, f)
}

/// [`over`] with every split on a multiple of `grain` elements (whole rows of a call that
/// takes them so).
#[inline(always)]
pub(crate) fn over_whole<T: Send>(grain: usize, out: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    over_if(par::worth_splitting(out.len(), size_of::<T>()), grain, out, f)
}

/// [`over_in_place`] with every split on a multiple of `grain` elements.
#[inline(always)]
pub(crate) fn over_in_place_whole<T: Send>(grain: usize, x: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    over_if(par::worth_splitting_in_place(x.len(), size_of::<T>()), grain, x, f)
}

/// [`over`] where `split` says whether the call splits.
#[inline(always)]
fn over_if<T: Send>(split: bool, grain: usize, out: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    if !split {
        return f(0..out.len(), out);
    }
    over_threads(grain, out, f);
}

/// The threaded part of [`over`], kept out of line so the single-thread path stays small.
#[inline(never)]
fn over_threads<T: Send>(grain: usize, out: &mut [T], f: impl Fn(Range<usize>, &mut [T]) + Sync) {
    let ranges = par::plan(out.len(), size_of::<T>(), grain);
    let tasks: Vec<_> = split_mut(out, &ranges).into_iter().zip(ranges.iter().cloned()).collect();
    par::run(tasks, |(part, r)| f(r, part));
}

#[inline]
pub(crate) fn unary<T: Copy + Send + Sync, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    if short::<T>(y.len()) {
        return arch::generic::map1_loop(k, x, y);
    }
    let level = dispatch::level();
    let driver = if streams::<T>(y.len(), 1) { arch::map1_stream } else { arch::map1 };
    over(y, |r, y| driver(level, k, &x[r], y));
}

#[inline]
pub(crate) fn unary_inplace<T: Copy + Send + Sync, K: Map1<T>>(k: &K, x: &mut [T]) {
    if short::<T>(x.len()) {
        return arch::generic::map1_inplace(k, x);
    }
    let level = dispatch::level();
    if in_span_order::<T>(x.len()) {
        return over_in_place(x, |_, x| arch::map1_inplace_spans(level, k, x));
    }
    over_in_place(x, |_, x| arch::map1_inplace(level, k, x));
}

#[inline]
pub(crate) fn binary<T: Copy + Send + Sync, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    if short::<T>(out.len()) {
        return arch::generic::map2_loop(k, a, b, out);
    }
    let level = dispatch::level();
    let driver = if streams::<T>(out.len(), 2) { arch::map2_stream } else { arch::map2 };
    over(out, |r, out| driver(level, k, &a[r.clone()], &b[r], out));
}

#[inline]
pub(crate) fn binary_inplace<T: Copy + Send + Sync, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
    debug_assert_eq!(a.len(), b.len());
    if short::<T>(b.len()) {
        return arch::generic::map2_inplace(k, a, b);
    }
    let level = dispatch::level();
    if in_span_order::<T>(b.len()) {
        return over_in_place(b, |r, b| arch::map2_inplace_spans(level, k, &a[r], b));
    }
    over_in_place(b, |r, b| arch::map2_inplace(level, k, &a[r], b));
}

#[inline]
pub(crate) fn ternary<T: Copy + Send + Sync, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    if short::<T>(out.len()) {
        return arch::generic::map3_loop(k, a, b, c, out);
    }
    let level = dispatch::level();
    over(out, |r, out| arch::map3(level, k, &a[r.clone()], &b[r.clone()], &c[r], out));
}

#[inline]
pub(crate) fn relu_inplace<T: Element>(x: &mut [T]) {
    if short::<T>(x.len()) {
        return arch::generic::relu_inplace(x);
    }
    let level = dispatch::level();
    if in_span_order::<T>(x.len()) {
        return over_in_place(x, |_, x| arch::relu_inplace_spans(level, x));
    }
    over_in_place(x, |_, x| arch::relu_inplace(level, x));
}

#[inline]
pub(crate) fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]) {
    if short::<T>(dy.len()) {
        return arch::generic::relu_backward_inplace(x, dy);
    }
    let level = dispatch::level();
    if in_span_order::<T>(dy.len()) {
        return over_in_place(dy, |r, dy| arch::relu_backward_inplace_spans(level, &x[r], dy));
    }
    over_in_place(dy, |r, dy| arch::relu_backward_inplace(level, &x[r], dy));
}

/// `out = k(a, b)` for an op that multiplies (`b` is ignored by unary ops: pass `a`).
/// f32 and f64 take the generic drivers (streaming stores included); f16 and bf16 the
/// product-then-select drivers, which convert vectors in hardware on v3 and up.
pub(crate) fn product_select<T: Float, K: Product<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    if size_of::<T>() != 2 {
        return if K::BINARY { binary(&Fused(k), a, b, out) } else { unary(&Fused(k), a, out) };
    }
    if short::<T>(out.len()) {
        return arch::generic::product_select(k, a, b, out);
    }
    let level = dispatch::level();
    if streams::<T>(out.len(), if K::BINARY { 2 } else { 1 }) {
        return over(out, |r, out| arch::product_select_stream(level, k, &a[r.clone()], &b[r], out));
    }
    over(out, |r, out| arch::product_select(level, k, &a[r.clone()], &b[r], out));
}

/// [`product_select`] writing over `b`; `a` is `None` for a unary op (over `b` alone).
pub(crate) fn product_select_inplace<T: Float, K: Product<T>>(k: &K, a: Option<&[T]>, b: &mut [T]) {
    if size_of::<T>() != 2 {
        return match a {
            Some(a) => binary_inplace(&Fused(k), a, b),
            None => unary_inplace(&Fused(k), b),
        };
    }
    if short::<T>(b.len()) {
        return arch::generic::product_select_inplace(k, a, b);
    }
    let level = dispatch::level();
    if in_span_order::<T>(b.len()) {
        return over_in_place(b, |r, b| arch::product_select_inplace_spans(level, k, a.map(|a| &a[r]), b));
    }
    over_in_place(b, |r, b| arch::product_select_inplace(level, k, a.map(|a| &a[r]), b));
}

/// ReLU out of place: the level's ReLU driver (on v4, f32 and f64 take `vfixupimm`), or
/// fused streaming stores for large outputs.
#[inline]
pub(crate) fn relu<T: Element>(x: &[T], y: &mut [T]) {
    if short::<T>(y.len()) {
        return arch::generic::map1_loop(&crate::kernels::Relu, x, y);
    }
    let level = dispatch::level();
    if streams::<T>(y.len(), 1) {
        return over(y, |r, y| arch::relu_stream(level, &x[r], y));
    }
    over(y, |r, y| arch::relu(level, &x[r], y));
}

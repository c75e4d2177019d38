//! Calls a driver over slices: picks the level once, splits by [`crate::par`], runs.
//! Lengths are checked by the public functions before they get here.
//!
//! A call that stays on one thread (every call below the split threshold) allocates
//! nothing and goes straight to the driver: that keeps the per-call cost at a few
//! nanoseconds for short slices.

use core::mem::size_of;
use std::cell::Cell;

use crate::arch;
use crate::dispatch;
use crate::element::{Element, Float};
use crate::kernels::{Map1, Map2, Map3};
use crate::op::RampParams;
use crate::par::{self, split_mut};

pub(crate) const GRAIN: usize = 64;

thread_local! {
    static STREAM_MIN: Cell<usize> = const { Cell::new(arch::STREAM_MIN_BYTES) };
}

/// Whether an out-of-place output of `len` elements goes out with streaming stores.
fn streams<T>(len: usize) -> bool {
    len.saturating_mul(size_of::<T>()) >= STREAM_MIN.with(Cell::get)
}

/// Runs `f` with the streaming-store threshold lowered to `bytes`, so that small outputs
/// take that path too. For tests; results must not change.
#[doc(hidden)]
pub fn with_stream_threshold<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    crate::par::with_thread_local(&STREAM_MIN, bytes, f)
}

pub(crate) fn unary<T: Copy + Send + Sync, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    let level = dispatch::level();
    let driver = if streams::<T>(y.len()) { arch::map1_stream } else { arch::map1 };
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return driver(level, k, x, y);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(y, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(y, r)| driver(level, k, &x[r.clone()], y));
}

pub(crate) fn unary_inplace<T: Copy + Send + Sync, K: Map1<T>>(k: &K, x: &mut [T]) {
    let level = dispatch::level();
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return arch::map1_inplace(level, k, x);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    par::run(split_mut(x, &ranges), |x| arch::map1_inplace(level, k, x));
}

pub(crate) fn binary<T: Copy + Send + Sync, K: Map2<T>>(k: &K, a: &[T], b: &[T], out: &mut [T]) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    let level = dispatch::level();
    let driver = if streams::<T>(out.len()) { arch::map2_stream } else { arch::map2 };
    if !par::worth_splitting(out.len(), size_of::<T>()) {
        return driver(level, k, a, b, out);
    }
    let ranges = par::plan(out.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(out, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(out, r)| driver(level, k, &a[r.clone()], &b[r.clone()], out));
}

pub(crate) fn binary_inplace<T: Copy + Send + Sync, K: Map2<T>>(k: &K, a: &[T], b: &mut [T]) {
    debug_assert_eq!(a.len(), b.len());
    let level = dispatch::level();
    if !par::worth_splitting(b.len(), size_of::<T>()) {
        return arch::map2_inplace(level, k, a, b);
    }
    let ranges = par::plan(b.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(b, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(b, r)| arch::map2_inplace(level, k, &a[r.clone()], b));
}

pub(crate) fn ternary<T: Copy + Send + Sync, K: Map3<T>>(k: &K, a: &[T], b: &[T], c: &[T], out: &mut [T]) {
    let level = dispatch::level();
    if !par::worth_splitting(out.len(), size_of::<T>()) {
        return arch::map3(level, k, a, b, c, out);
    }
    let ranges = par::plan(out.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(out, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(out, r)| arch::map3(level, k, &a[r.clone()], &b[r.clone()], &c[r.clone()], out));
}

pub(crate) fn relu_inplace<T: Element>(x: &mut [T]) {
    let level = dispatch::level();
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return arch::relu_inplace(level, x);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    par::run(split_mut(x, &ranges), |x| arch::relu_inplace(level, x));
}

pub(crate) fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]) {
    let level = dispatch::level();
    if !par::worth_splitting(dy.len(), size_of::<T>()) {
        return arch::relu_backward_inplace(level, x, dy);
    }
    let ranges = par::plan(dy.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(dy, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(dy, r)| arch::relu_backward_inplace(level, &x[r.clone()], dy));
}

/// The ramp forward with a slope for 16-bit floats: block conversions on v3 and up.
pub(crate) fn ramp_forward_sloped<T: Float>(p: &RampParams<T>, x: &[T], y: &mut [T]) {
    let level = dispatch::level();
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return arch::ramp_forward_sloped(level, p, x, y);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(y, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(y, r)| arch::ramp_forward_sloped(level, p, &x[r.clone()], y));
}

/// [`ramp_forward_sloped`] in place, through an L2-sized copy of each block.
pub(crate) fn ramp_forward_sloped_inplace<T: Float>(p: &RampParams<T>, x: &mut [T]) {
    const BLOCK: usize = 1 << 14;
    let level = dispatch::level();
    let body = |x: &mut [T]| {
        let mut src = Vec::with_capacity(BLOCK.min(x.len()));
        for x in x.chunks_mut(BLOCK) {
            src.clear();
            src.extend_from_slice(x);
            arch::ramp_forward_sloped(level, p, &src, x);
        }
    };
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return body(x);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    par::run(split_mut(x, &ranges), body);
}

/// ReLU out of place: the generic driver, or fused streaming stores for large outputs.
pub(crate) fn relu<T: Element>(x: &[T], y: &mut [T]) {
    if !streams::<T>(y.len()) {
        return unary(&crate::kernels::Relu, x, y);
    }
    let level = dispatch::level();
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return arch::relu_stream(level, x, y);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(y, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(y, r)| arch::relu_stream(level, &x[r.clone()], y));
}

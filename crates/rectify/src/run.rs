//! Calls a driver over slices: picks the level once, splits by [`crate::par`], runs.
//! Lengths are checked by the public functions before they get here.
//!
//! A call that stays on one thread (every call below the split threshold) allocates
//! nothing and goes straight to the driver: that keeps the per-call cost at a few
//! nanoseconds for short slices.

use core::mem::size_of;

use crate::arch;
use crate::dispatch;
use crate::kernels::{Map1, Map2, Map3};
use crate::par::{self, split_mut};

pub(crate) const GRAIN: usize = 64;

pub(crate) fn unary<T: Copy + Send + Sync, K: Map1<T>>(k: &K, x: &[T], y: &mut [T]) {
    debug_assert_eq!(x.len(), y.len());
    let level = dispatch::level();
    if !par::worth_splitting(x.len(), size_of::<T>()) {
        return arch::map1(level, k, x, y);
    }
    let ranges = par::plan(x.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(y, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(y, r)| arch::map1(level, k, &x[r.clone()], y));
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
    if !par::worth_splitting(out.len(), size_of::<T>()) {
        return arch::map2(level, k, a, b, out);
    }
    let ranges = par::plan(out.len(), size_of::<T>(), GRAIN);
    let tasks: Vec<_> = split_mut(out, &ranges).into_iter().zip(&ranges).collect();
    par::run(tasks, |(out, r)| arch::map2(level, k, &a[r.clone()], &b[r.clone()], out));
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

//! The manifest of element kernels: each op written once, branch-free, as a function of
//! one element (or a few). The drivers in [`crate::arch`] run these over slices under each
//! instruction-set level, where LLVM turns the selects into vector compares and blends;
//! the tests compare every one of them with [`crate::reference`] on every level.

use crate::element::{Compute, Element, Float, Int};
use crate::op::{Kink, KinkFactor, RampParams};

/// An element-wise op of one input.
pub(crate) trait Map1<T>: Sync {
    fn apply(&self, x: T) -> T;
}

/// An element-wise op of two inputs (backward: `x`, `dy`).
pub(crate) trait Map2<T>: Sync {
    fn apply(&self, a: T, b: T) -> T;
}

/// An element-wise op of three inputs (`x`, a per-element slope, `dy`).
pub(crate) trait Map3<T>: Sync {
    fn apply(&self, a: T, b: T, c: T) -> T;
}

/// `max(x, 0)` with NaN kept and -0.0 sent to +0.0.
pub(crate) struct Relu;

impl<T: Element> Map1<T> for Relu {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        x.relu_elem()
    }
}

/// `x > 0 ? dy : +0.0` (the lower kink).
pub(crate) struct ReluBackward;

impl<T: Element> Map2<T> for ReluBackward {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        if x.is_positive() { dy } else { T::zero() }
    }
}

/// `relu(-x)`: the second half of CReLU.
pub(crate) struct NegRelu;

impl<T: Float> Map1<T> for NegRelu {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        x.negate().relu_elem()
    }
}

/// The general ramp forward.
pub(crate) struct RampForward<T: Float>(pub RampParams<T>);

impl<T: Float> Map1<T> for RampForward<T> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let p = &self.0;
        let xc = x.widen();
        let slope = if p.a_zero { T::zero() } else { T::narrow(p.a * (xc - p.t)) };
        let r = if xc > p.t { x } else { slope };
        let r = if p.cap && xc >= p.m { p.m_elem } else { r };
        if x.is_nan_elem() { x } else { r }
    }
}

#[inline(always)]
fn kink_value<T: Float>(k: &KinkFactor, dy: T) -> T {
    if k.is_zero {
        T::zero()
    } else if k.is_one {
        dy
    } else {
        T::narrow(<T::C as Compute>::from_f64(k.factor) * dy.widen())
    }
}

/// The general ramp backward from the input.
pub(crate) struct RampBackward<T: Float> {
    pub p: RampParams<T>,
    pub kink_t: KinkFactor,
    pub kink_m: KinkFactor,
}

impl<T: Float> RampBackward<T> {
    pub(crate) fn new(p: RampParams<T>, kink: Kink) -> Self {
        let i = KinkFactor::index(kink);
        RampBackward { kink_t: p.kink_t[i], kink_m: p.kink_m[i], p }
    }
}

impl<T: Float> Map2<T> for RampBackward<T> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        let p = &self.p;
        let xc = x.widen();
        let slope = if p.a_zero { T::zero() } else { T::narrow(p.a * dy.widen()) };
        let r = if xc == p.t { kink_value(&self.kink_t, dy) } else { slope };
        let r = if xc > p.t { dy } else { r };
        let r = if p.cap && xc == p.m { kink_value(&self.kink_m, dy) } else { r };
        let r = if p.cap && xc > p.m { T::zero() } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

/// The ramp backward from the output (`a >= 0`, `t >= 0`, lower kink).
pub(crate) struct RampBackwardFromOutput<T: Float>(pub RampParams<T>);

impl<T: Float> Map2<T> for RampBackwardFromOutput<T> {
    #[inline(always)]
    fn apply(&self, y: T, dy: T) -> T {
        let p = &self.0;
        let yc = y.widen();
        let scaled = T::narrow(p.a * dy.widen());
        // With a >= 1 an output of exactly zero can only come from the kink, whose lower
        // factor is 1; below it the slope applies.
        let slope = if p.a_ge_one && yc == T::C::ZERO { dy } else { scaled };
        let slope = if p.a_zero { T::zero() } else { slope };
        let r = if yc > p.t { dy } else { slope };
        let r = if p.cap && yc >= p.m { T::zero() } else { r };
        if y.is_nan_elem() { T::zero() } else { r }
    }
}

/// A slope per element (second operand): PReLU channel-last rows, RReLU training.
pub(crate) struct SlopedBy;

impl<T: Float> Map2<T> for SlopedBy {
    #[inline(always)]
    fn apply(&self, x: T, a: T) -> T {
        sloped(a.widen(), x)
    }
}

#[inline(always)]
fn sloped<T: Float>(a: T::C, x: T) -> T {
    let xc = x.widen();
    let slope = if a == T::C::ZERO { T::zero() } else { T::narrow(a * xc) };
    let r = if xc > T::C::ZERO { x } else { slope };
    if x.is_nan_elem() { x } else { r }
}

#[inline(always)]
fn sloped_backward<T: Float>(a: T::C, kink: Kink, x: T, dy: T) -> T {
    let xc = x.widen();
    let scaled = T::narrow(a * dy.widen());
    let slope = if a == T::C::ZERO { T::zero() } else { scaled };
    let at_kink = kink_value(&KinkFactor::new(kink.factor(a.to_f64(), 1.0)), dy);
    let r = if xc == T::C::ZERO { at_kink } else { slope };
    let r = if xc > T::C::ZERO { dy } else { r };
    if x.is_nan_elem() { T::zero() } else { r }
}

/// One slope for a run of elements (a PReLU channel-first plane, RReLU evaluation).
pub(crate) struct Sloped<C>(pub C);

impl<T: Float> Map1<T> for Sloped<T::C> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        sloped(self.0, x)
    }
}

/// Backward with one slope for a run of elements.
pub(crate) struct SlopedBackward<C> {
    pub a: C,
    pub kink: KinkFactor,
}

impl<C: Compute> SlopedBackward<C> {
    pub(crate) fn new(a: C, kink: Kink) -> Self {
        SlopedBackward { a, kink: KinkFactor::new(kink.factor(a.to_f64(), 1.0)) }
    }
}

impl<T: Float> Map2<T> for SlopedBackward<T::C> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        let xc = x.widen();
        let slope = if self.a == T::C::ZERO { T::zero() } else { T::narrow(self.a * dy.widen()) };
        let r = if xc == T::C::ZERO { kink_value(&self.kink, dy) } else { slope };
        let r = if xc > T::C::ZERO { dy } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

/// Backward with a slope per element: `(x, a, dy)`.
pub(crate) struct SlopedByBackward(pub Kink);

impl<T: Float> Map3<T> for SlopedByBackward {
    #[inline(always)]
    fn apply(&self, x: T, a: T, dy: T) -> T {
        sloped_backward(a.widen(), self.0, x, dy)
    }
}

/// PyTorch `threshold`: `x > th ? x : v`, NaN unchanged.
pub(crate) struct Threshold<T: Float> {
    pub th: T::C,
    pub value: T,
}

impl<T: Float> Map1<T> for Threshold<T> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let r = if x.widen() > self.th { x } else { self.value };
        if x.is_nan_elem() { x } else { r }
    }
}

/// `x > th ? dy : +0.0`.
pub(crate) struct ThresholdBackward<C>(pub C);

impl<T: Float> Map2<T> for ThresholdBackward<T::C> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        if x.widen() > self.0 { dy } else { T::zero() }
    }
}

/// CReLU backward from the two halves of dy: `(x, dy_pos, dy_neg)`.
pub(crate) struct CreluBackward;

impl<T: Float> Map3<T> for CreluBackward {
    #[inline(always)]
    fn apply(&self, x: T, dy_pos: T, dy_neg: T) -> T {
        let xc = x.widen();
        let r = if xc < T::C::ZERO { dy_neg.negate() } else { T::zero() };
        if xc > T::C::ZERO { dy_pos } else { r }
    }
}

/// `clamp(x, lo, hi)` for integers (clipped ReLU, quantized ReLU/ReLU6).
pub(crate) struct Clamp<T>(pub T, pub T);

impl<T: Int> Map1<T> for Clamp<T> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let r = if x < self.0 { self.0 } else { x };
        if r > self.1 { self.1 } else { r }
    }
}

/// `x + b` rounded to the dtype, then ReLU (the fused bias + ReLU, one element). A NaN
/// operand comes out unchanged (x's first), rather than whichever NaN the adder picks.
#[inline(always)]
pub(crate) fn bias_relu<T: Float>(x: T, b: T) -> T {
    let sum = T::narrow(x.widen() + b.widen());
    let sum = if b.is_nan_elem() { b } else { sum };
    let sum = if x.is_nan_elem() { x } else { sum };
    sum.relu_elem()
}

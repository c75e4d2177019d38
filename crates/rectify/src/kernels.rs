//! The manifest of element kernels: each op written once, branch-free, as a function of
//! one element (or a few). The drivers in [`crate::arch`] run these over slices under each
//! instruction-set level, where LLVM turns the selects into vector compares and blends;
//! the tests compare every one of them with [`crate::reference`] on every level.

use crate::element::sealed::Sealed;
use crate::element::{Compute, Float, Int};
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

impl<T: Sealed> Map1<T> for Relu {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        x.relu_elem()
    }
}

/// `x > 0 ? dy : +0.0` (the lower kink).
pub(crate) struct ReluBackward;

impl<T: Sealed> Map2<T> for ReluBackward {
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

/// The general ramp forward. `SLOPE` is false when `a == 0`: then no lane computes
/// `a * (x - t)`, and f16/bf16 never leave their 16-bit lanes.
pub(crate) struct RampForward<T: Float, const SLOPE: bool>(pub RampParams<T>);

impl<T: Float, const SLOPE: bool> Map1<T> for RampForward<T, SLOPE> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let p = &self.0;
        let k = x.key();
        let slope = if SLOPE && !p.a_zero { T::narrow(p.a * (x.widen() - p.t)) } else { T::zero() };
        let r = if k > p.t_key { x } else { slope };
        let r = if p.cap && k >= p.m_key { p.m_elem } else { r };
        if x.is_nan_elem() { x } else { r }
    }
}

/// The ramp forward with the slope part already computed (second operand): the selects of
/// [`RampForward`] on 16-bit lanes, after the products went through hardware conversions.
pub(crate) struct RampForwardGivenSlope<T: Float>(pub RampParams<T>);

impl<T: Float> Map2<T> for RampForwardGivenSlope<T> {
    #[inline(always)]
    fn apply(&self, x: T, slope: T) -> T {
        let p = &self.0;
        let k = x.key();
        let r = if k > p.t_key { x } else { slope };
        let r = if p.cap && k >= p.m_key { p.m_elem } else { r };
        if x.is_nan_elem() { x } else { r }
    }
}

/// A kink factor applied to `dy`: a select for 0 and 1, a multiply otherwise (only when
/// `MUL`, which the caller sets when some factor of the call multiplies).
#[inline(always)]
fn kink_value<T: Float, const MUL: bool>(k: &KinkFactor, dy: T) -> T {
    if k.is_zero {
        T::zero()
    } else if k.is_one || !MUL {
        dy
    } else {
        T::narrow(<T::C as Compute>::from_f64(k.factor) * dy.widen())
    }
}

/// The general ramp backward from the input. `MUL` is false when no piece multiplies
/// (`a == 0` and both kink factors are 0 or 1): then every lane is a select.
pub(crate) struct RampBackward<T: Float, const MUL: bool> {
    pub p: RampParams<T>,
    pub kink_t: KinkFactor,
    pub kink_m: KinkFactor,
}

/// Whether a [`RampBackward`] with these parameters and kink multiplies anywhere.
pub(crate) fn ramp_backward_multiplies<T: Float>(p: &RampParams<T>, kink: Kink) -> bool {
    let i = KinkFactor::index(kink);
    !p.a_zero || p.kink_t[i].multiplies() || (p.cap && p.kink_m[i].multiplies())
}

impl<T: Float, const MUL: bool> RampBackward<T, MUL> {
    pub(crate) fn new(p: RampParams<T>, kink: Kink) -> Self {
        debug_assert!(MUL || !ramp_backward_multiplies(&p, kink));
        let i = KinkFactor::index(kink);
        RampBackward { kink_t: p.kink_t[i], kink_m: p.kink_m[i], p }
    }
}

impl<T: Float, const MUL: bool> Map2<T> for RampBackward<T, MUL> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        let p = &self.p;
        let k = x.key();
        let slope = if MUL && !p.a_zero { T::narrow(p.a * dy.widen()) } else { T::zero() };
        let r = if k == p.t_key { kink_value::<T, MUL>(&self.kink_t, dy) } else { slope };
        let r = if k > p.t_key { dy } else { r };
        let r = if p.cap && k == p.m_key { kink_value::<T, MUL>(&self.kink_m, dy) } else { r };
        let r = if p.cap && k > p.m_key { T::zero() } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

/// The ramp backward from the output (`a >= 0`, `t >= 0`, lower kink); `SLOPE` as in
/// [`RampForward`].
pub(crate) struct RampBackwardFromOutput<T: Float, const SLOPE: bool>(pub RampParams<T>);

impl<T: Float, const SLOPE: bool> Map2<T> for RampBackwardFromOutput<T, SLOPE> {
    #[inline(always)]
    fn apply(&self, y: T, dy: T) -> T {
        let p = &self.0;
        let k = y.key();
        let slope = if SLOPE && !p.a_zero {
            let scaled = T::narrow(p.a * dy.widen());
            // With a >= 1 an output of exactly zero can only come from the kink, whose lower
            // factor is 1; below it the slope applies.
            if p.a_ge_one && k == T::zero().key() { dy } else { scaled }
        } else {
            T::zero()
        };
        let r = if k > p.t_key { dy } else { slope };
        let r = if p.cap && k >= p.m_key { T::zero() } else { r };
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
    let slope = if a == T::C::ZERO { T::zero() } else { T::narrow(a * x.widen()) };
    let r = if x.key() > T::zero().key() { x } else { slope };
    if x.is_nan_elem() { x } else { r }
}

#[inline(always)]
fn sloped_backward<T: Float, const KINK: u8>(a: T::C, x: T, dy: T) -> T {
    let k = x.key();
    let zero = T::zero().key();
    let one = <T::C as Compute>::from_f64(1.0);
    let scaled = T::narrow(a * dy.widen());
    let slope = if a == T::C::ZERO { T::zero() } else { scaled };
    // The kink factor between the slopes a (left) and 1 (right), per element and in the
    // compute type: min, max and (a + 1) * 0.5 give the same bits as in f64 rounded once
    // (the sum's double rounding through f64 is innocuous), and a NaN slope picks 1 for
    // `Lower` and `Upper` as `f64::min`/`max` do.
    let factor = match KINK {
        LOWER => {
            if a < one {
                a
            } else {
                one
            }
        }
        UPPER => {
            if a > one {
                a
            } else {
                one
            }
        }
        _ => (a + one) * <T::C as Compute>::from_f64(0.5),
    };
    let at_kink = if factor == T::C::ZERO {
        T::zero()
    } else if factor == one {
        dy
    } else {
        T::narrow(factor * dy.widen())
    };
    let r = if k == zero { at_kink } else { slope };
    let r = if k > zero { dy } else { r };
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
        let (k, zero) = (x.key(), T::zero().key());
        let slope = if self.a == T::C::ZERO { T::zero() } else { T::narrow(self.a * dy.widen()) };
        let r = if k == zero { kink_value::<T, true>(&self.kink, dy) } else { slope };
        let r = if k > zero { dy } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

/// The kink rule as a const parameter, so that per-element kink factors compile to straight
/// selects.
pub(crate) const LOWER: u8 = 0;
pub(crate) const UPPER: u8 = 1;
pub(crate) const MID: u8 = 2;

/// Backward with a slope per element: `(x, a, dy)`; `KINK` is [`LOWER`], [`UPPER`] or
/// [`MID`].
pub(crate) struct SlopedByBackward<const KINK: u8>;

impl<T: Float, const KINK: u8> Map3<T> for SlopedByBackward<KINK> {
    #[inline(always)]
    fn apply(&self, x: T, a: T, dy: T) -> T {
        sloped_backward::<T, KINK>(a.widen(), x, dy)
    }
}

/// PyTorch `threshold`: `x > th ? x : v`, NaN unchanged.
pub(crate) struct Threshold<T: Float> {
    /// The threshold rounded to the dtype, as an order key.
    pub th: T::Key,
    pub value: T,
}

impl<T: Float> Map1<T> for Threshold<T> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let r = if x.key() > self.th { x } else { self.value };
        if x.is_nan_elem() { x } else { r }
    }
}

/// `x > th ? dy : +0.0` (the threshold as an order key).
pub(crate) struct ThresholdBackward<K>(pub K);

impl<T: Float> Map2<T> for ThresholdBackward<T::Key> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        let r = if x.key() > self.0 { dy } else { T::zero() };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

/// CReLU backward from the two halves of dy: `(x, dy_pos, dy_neg)`.
pub(crate) struct CreluBackward;

impl<T: Float> Map3<T> for CreluBackward {
    #[inline(always)]
    fn apply(&self, x: T, dy_pos: T, dy_neg: T) -> T {
        let (k, zero) = (x.key(), T::zero().key());
        let r = if k < zero { dy_neg.negate() } else { T::zero() };
        let r = if k > zero { dy_pos } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
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

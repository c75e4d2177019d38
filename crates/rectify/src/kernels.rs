//! The manifest of element kernels: each op written once, branch-free, as a function of
//! one element (or a few). The drivers in [`crate::arch`] run these over slices under each
//! instruction-set level, where LLVM turns the selects into vector compares and blends;
//! the tests compare every one of them with [`crate::reference`] on every level.

use core::mem::size_of;
use core::ops::{Add, Mul, Sub};

use crate::element::sealed::{FloatSealed, Sealed};
use crate::element::{Compute, Float, Int};
use crate::op::{Kink, KinkFactor, RampParams};

/// An element-wise op of one input.
pub(crate) trait Map1<T>: Sync {
    /// Many instructions per element: drivers that would unroll the kernel over a fixed
    /// step (and spill) take a rolled loop instead.
    const HEAVY: bool = false;
    fn apply(&self, x: T) -> T;
}

/// An element-wise op of two inputs (backward: `x`, `dy`).
pub(crate) trait Map2<T>: Sync {
    /// As [`Map1::HEAVY`].
    const HEAVY: bool = false;
    fn apply(&self, a: T, b: T) -> T;
}

/// An element-wise op of three inputs (`x`, a per-element slope, `dy`).
pub(crate) trait Map3<T>: Sync {
    fn apply(&self, a: T, b: T, c: T) -> T;
}

/// Arithmetic in the compute type, on one lane or on a whole vector: the products of the
/// ops that multiply are written once over this trait and run on plain `f32`/`f64` values
/// (where LLVM vectorises the loop) or on explicit vectors (the 16-bit float drivers, which
/// convert with F16C or shifts in registers). `pub` in this private module only because
/// the sealed element trait names it (through [`Product`]); nothing outside can reach it.
pub trait Lanes<C>: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn splat(v: C) -> Self;
    /// Lane by lane `self == other ? then : otherwise`, with IEEE equality (-0.0 equals
    /// +0.0; NaN equals nothing).
    fn if_eq(self, other: Self, then: Self, otherwise: Self) -> Self;
}

impl<C: Compute> Lanes<C> for C {
    #[inline(always)]
    fn splat(v: C) -> Self {
        v
    }
    #[inline(always)]
    fn if_eq(self, other: Self, then: Self, otherwise: Self) -> Self {
        if self == other { then } else { otherwise }
    }
}

/// An op that multiplies, in two steps: [`Product::product`], the arithmetic in the compute
/// type on the widened inputs, and [`Product::select`], which picks each output from the
/// raw inputs and the product rounded once to the dtype. Every output is
/// `select(a, b, narrow(product(widen(a), widen(b))))` ([`fused`]); the split lets the
/// 16-bit float drivers convert whole vectors in hardware between the two steps. `pub` in
/// this private module for the same reason as [`Lanes`].
pub trait Product<T: FloatSealed>: Sync {
    /// Whether the op reads `b` (false: a unary op; drivers pass `a` again and skip it).
    const BINARY: bool;
    /// As [`Map1::HEAVY`].
    const HEAVY: bool = false;
    /// Whether, for a unary op, `select(x, x, p)` is `p` wherever `x` is a negative number
    /// (-0.0 and -infinity included) and `x` itself elsewhere (NaN included), and the
    /// product is NaN only where `x` is: then the 16-bit drivers pick each lane with one
    /// compare of `x`'s raw bits, instead of the select on the narrowed 16-bit lanes.
    const NEGATIVE_TAKES_PRODUCT: bool = false;
    /// Whether, for a binary op `(x, dy)`, the product reads only `dy` and
    /// `select(x, dy, p)` is `dy` where `x > 0`, `+0.0` where `x` is NaN and `p` elsewhere:
    /// then the 16-bit drivers compare the raw bits of `x` in registers, in one pass.
    const DY_ABOVE_ZERO: bool = false;
    /// `Some(c)` where the product is `c` times one input and reads nothing else: `a` for a
    /// [`Product::NEGATIVE_TAKES_PRODUCT`] op, `b` for a [`Product::DY_ABOVE_ZERO`] one.
    /// The f16 drivers then multiply in f16 where the CPU can and `c` is an f16 value, and
    /// the bf16 drivers take 32 raw lanes a step where the CPU has AVX-512 BF16 (the same
    /// bits; see `avx512::scale_f16` and `avx512::scale_bf16`).
    fn scale(&self) -> Option<T::C> {
        None
    }
    /// `Some` for a binary op `(x, dy)` whose select is [`Pieces`]: then the 16-bit
    /// drivers compare the widened `x` (which they widen for the product anyway) in f32
    /// registers and pick the pieces' raw 16-bit lanes by those masks, instead of the
    /// select's order-key compares on the 16-bit lanes.
    fn pieces(&self) -> Option<Pieces<T::C>> {
        None
    }
    fn product<V: Lanes<T::C>>(&self, a: V, b: V) -> V;
    fn select(&self, a: T, b: T, product: T) -> T;
}

/// What one piece of a [`Pieces`] select gives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// `+0.0`.
    Zero,
    /// `dy` itself, its bits unchanged.
    Dy,
    /// The product, rounded once.
    Product,
}

impl Piece {
    /// The piece of a kink factor: 0 and 1 select, any other multiplies.
    fn of_kink(k: &KinkFactor) -> Piece {
        if k.is_zero {
            Piece::Zero
        } else if k.is_one {
            Piece::Dy
        } else {
            Piece::Product
        }
    }
}

/// The select of the ramp backward by where `x` lies against the threshold `t` and the
/// cap `m` (values of the dtype, widened; `m` NaN without a cap), in this order, each
/// compare ordered (so a NaN `x` matches none and keeps the `+0.0` it starts from):
/// `dy` above `t`; `at_t` at `t`; `below` under `t`; with `cap`, `at_m` at `m` and `+0.0`
/// above it. `pub` in this private module for the same reason as [`Lanes`].
#[derive(Clone, Copy)]
pub struct Pieces<C> {
    pub t: C,
    pub m: C,
    pub cap: bool,
    pub below: Piece,
    pub at_t: Piece,
    pub at_m: Piece,
}

/// One element of a [`Product`] op, with per-lane conversions.
#[inline(always)]
pub(crate) fn fused<T: FloatSealed, K: Product<T>>(k: &K, a: T, b: T) -> T {
    k.select(a, b, T::narrow(k.product(a.widen(), b.widen())))
}

/// A [`Product`] op as an element kernel of one input (unary ops) or two.
pub(crate) struct Fused<'a, K>(pub &'a K);

impl<T: FloatSealed, K: Product<T>> Map1<T> for Fused<'_, K> {
    const HEAVY: bool = K::HEAVY;
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        fused(self.0, x, x)
    }
}

impl<T: FloatSealed, K: Product<T>> Map2<T> for Fused<'_, K> {
    const HEAVY: bool = K::HEAVY;
    #[inline(always)]
    fn apply(&self, a: T, b: T) -> T {
        fused(self.0, a, b)
    }
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
/// `a * (x - t)`, and f16/bf16 never leave their 16-bit lanes. `CAP` is false when there is
/// no cap (leaky, thresholded): then no lane compares against it. Both are type parameters
/// so that each shape gets a loop with only its own compares and blends.
pub(crate) struct RampForward<T: Float, const SLOPE: bool, const CAP: bool>(pub RampParams<T>);

impl<T: Float, const SLOPE: bool, const CAP: bool> Product<T> for RampForward<T, SLOPE, CAP> {
    const BINARY: bool = false;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, _: V) -> V {
        V::splat(self.0.a) * (x - V::splat(self.0.t))
    }
    #[inline(always)]
    fn select(&self, x: T, _: T, product: T) -> T {
        let p = &self.0;
        let k = x.key();
        let slope = if SLOPE && !p.a_zero { product } else { T::zero() };
        // `!(k <= t)` rather than `k > t`: where the key is the float, a NaN takes `x` here
        // and fails the cap's ordered compare, so it needs no select of its own.
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
        let r = if !(k <= p.t_key) { x } else { slope };
        let r = if CAP && k >= p.m_key { p.m_elem } else { r };
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { x } else { r }
    }
}

impl<T: Float, const SLOPE: bool, const CAP: bool> Map1<T> for RampForward<T, SLOPE, CAP> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        if SLOPE { fused(self, x, x) } else { self.select(x, x, T::zero()) }
    }
}

/// The ramp without a slope, with a cap, where the key is the float (f32, f64) and the cap
/// is above the threshold and not zero: `!(x <= t) ? min(m, x) : +0.0`. LLVM compiles the
/// `min` to `minps(m, x)`, which returns its second operand, `x`, for a NaN, and the
/// compare to an ordered one that a NaN fails, so NaN comes out as itself: a `min`, a compare
/// and an `and` per vector, where [`RampForward`] takes two compares, an `and` and a blend
/// (f32 ReLU6 at 4K). The conditions keep it exact: with `m == t` (after rounding) the cap
/// wins at `x == t`, and with `m == 0` the cap's `+0.0` must replace `x == -0.0`, which
/// `min` would keep.
pub(crate) struct CappedAbove<T: Float> {
    t_key: T::Key,
    m_elem: T,
}

impl<T: Float> CappedAbove<T> {
    pub(crate) fn new(p: &RampParams<T>) -> Option<Self> {
        let fits = T::KEY_UNORDERED_NAN && p.a_zero && p.cap && p.m_key > p.t_key && p.m_elem.to_f64() != 0.0;
        fits.then_some(CappedAbove { t_key: p.t_key, m_elem: p.m_elem })
    }
}

impl<T: Float> Map1<T> for CappedAbove<T> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let k = x.key();
        // The keys are the floats themselves here (see `new`), so LLVM sees `m < x ? m : x`,
        // the `minps(m, x)` pattern; a separate `m_key` field would hide that from it.
        let capped = if self.m_elem.key() < k { self.m_elem } else { x };
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
        if !(k <= self.t_key) { capped } else { T::zero() }
    }
}

/// A kink factor applied to `dy`: a select for 0 and 1, else the product (computed with
/// this factor for the lanes at the kink).
#[inline(always)]
fn kink_value<T: Float>(k: &KinkFactor, dy: T, product: T) -> T {
    // Two selects on loop-invariant flags (not an if-else chain), which keeps the loop
    // free of branches for the vectoriser.
    let v = if k.is_one { dy } else { product };
    if k.is_zero { T::zero() } else { v }
}

/// The general ramp backward from the input. `MUL` is false when no piece multiplies
/// (`a == 0` and both kink factors are 0 or 1): then every lane is a select. Otherwise the
/// product is `f * dy` with the lane's own factor: the cap's kink factor at `x == m`, the
/// threshold's at `x == t`, else `a` (only the lanes below `t` use it there). `CAP` as in
/// [`RampForward`]. `KINKS` says what the lanes at the kinks and below `t` take, where it
/// is known before the call ([`KINKS_MULTIPLY`], [`KINKS_MULTIPLY_ZERO_BELOW`]); with
/// [`KINKS_AT_RUN_TIME`] the selects test the kink factors' flags in the loop, which LLVM
/// keeps as selects of their own: the `Mid` kink, f32 at 64K, ran 7.3 GB/s on the portable
/// level and 48 on v3 that way, 13.1 and 57 with the flags as constants.
pub(crate) struct RampBackward<T: Float, const MUL: bool, const CAP: bool, const KINKS: u8 = KINKS_AT_RUN_TIME> {
    pub p: RampParams<T>,
    pub kink_t: KinkFactor,
    pub kink_m: KinkFactor,
}

/// [`RampBackward`]'s pieces by the kink factors' flags, tested per lane.
pub(crate) const KINKS_AT_RUN_TIME: u8 = 0;
/// [`RampBackward`] where the lanes at `t`, at `m` (with a cap) and below `t` all take the
/// product: the `Mid` kink with a slope that is not 0 or ±1.
pub(crate) const KINKS_MULTIPLY: u8 = 1;
/// [`RampBackward`] where the lanes at `t` and at `m` take the product and those below `t`
/// +0.0: the `Mid` kink without a slope (ReLU, ReLU6).
pub(crate) const KINKS_MULTIPLY_ZERO_BELOW: u8 = 2;

/// Whether a [`RampBackward`] with these parameters and kink multiplies anywhere.
pub(crate) fn ramp_backward_multiplies<T: Float>(p: &RampParams<T>, kink: Kink) -> bool {
    let i = KinkFactor::index(kink);
    !p.a_zero || p.kink_t[i].multiplies() || (p.cap && p.kink_m[i].multiplies())
}

/// The `KINKS` of a [`RampBackward`] that multiplies, with these parameters and kink.
pub(crate) fn ramp_backward_kinks<T: Float>(p: &RampParams<T>, kink: Kink) -> u8 {
    let i = KinkFactor::index(kink);
    if !(p.kink_t[i].multiplies() && (!p.cap || p.kink_m[i].multiplies())) {
        KINKS_AT_RUN_TIME
    } else if p.a_zero {
        KINKS_MULTIPLY_ZERO_BELOW
    } else {
        KINKS_MULTIPLY
    }
}

impl<T: Float, const MUL: bool, const CAP: bool, const KINKS: u8> RampBackward<T, MUL, CAP, KINKS> {
    pub(crate) fn new(p: RampParams<T>, kink: Kink) -> Self {
        debug_assert!(MUL || !ramp_backward_multiplies(&p, kink));
        debug_assert!(CAP || !p.cap);
        debug_assert!(KINKS == KINKS_AT_RUN_TIME || (MUL && KINKS == ramp_backward_kinks(&p, kink)));
        let i = KinkFactor::index(kink);
        RampBackward { kink_t: p.kink_t[i], kink_m: p.kink_m[i], p }
    }
}

impl<T: Float, const MUL: bool, const CAP: bool, const KINKS: u8> Product<T> for RampBackward<T, MUL, CAP, KINKS> {
    const BINARY: bool = true;
    const HEAVY: bool = MUL;
    fn pieces(&self) -> Option<Pieces<T::C>> {
        let p = &self.p;
        // The same pieces as `select`: t and m are the dtype's values widened, so the f32
        // compares order the lanes as the keys do.
        Some(Pieces {
            t: p.t,
            m: p.m,
            cap: CAP,
            below: if MUL && !p.a_zero { Piece::Product } else { Piece::Zero },
            at_t: Piece::of_kink(&self.kink_t),
            at_m: Piece::of_kink(&self.kink_m),
        })
    }
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, dy: V) -> V {
        let p = &self.p;
        let factor = x.if_eq(V::splat(p.t), V::splat(self.kink_t.compute()), V::splat(p.a));
        let factor = if CAP { x.if_eq(V::splat(p.m), V::splat(self.kink_m.compute()), factor) } else { factor };
        factor * dy
    }
    #[inline(always)]
    fn select(&self, x: T, dy: T, product: T) -> T {
        let p = &self.p;
        if KINKS != KINKS_AT_RUN_TIME && size_of::<T>() == size_of::<T::C>() {
            // f32 and f64, where the lanes at the kinks take the product: `x` compared as
            // the product compares it, so that the compiler shares the compares at `t` and
            // `m` between the two: on the keys, the same values in other registers, the
            // `Mid` kink's v4 loop kept six compares a vector, now four (project's AMD
            // EPYC, one thread, ns an element: f32 4K 0.148 -> 0.124, 64K 0.143 -> 0.125;
            // f64 4K 0.283 -> 0.222; level at 1M). The same pieces as below, each compare
            // ordered: a NaN `x` takes neither the product nor `dy`.
            let x = x.widen();
            let at_or_below_t = x <= p.t;
            let product_below = KINKS == KINKS_MULTIPLY;
            let takes_product = (if product_below { at_or_below_t } else { x == p.t }) || (CAP && x == p.m);
            // Not at or below `t` and below `m`: above `t`, and not NaN.
            let takes_dy = if CAP { !at_or_below_t && x < p.m } else { x > p.t };
            let r = if takes_dy { dy } else { T::zero() };
            return if takes_product { product } else { r };
        }
        let k = x.key();
        let (slope, at_t, at_m) = match KINKS {
            KINKS_MULTIPLY => (product, product, product),
            KINKS_MULTIPLY_ZERO_BELOW => (T::zero(), product, product),
            _ => (
                if MUL && !p.a_zero { product } else { T::zero() },
                kink_value(&self.kink_t, dy, product),
                kink_value(&self.kink_m, dy, product),
            ),
        };
        // Each piece by its own ordered compare, so that where the key is the float a NaN
        // matches none of them and keeps the +0.0 it starts from.
        let r = if k > p.t_key { dy } else { T::zero() };
        let r = if k == p.t_key { at_t } else { r };
        let r = if k < p.t_key { slope } else { r };
        let r = if CAP && k == p.m_key { at_m } else { r };
        let r = if CAP && k > p.m_key { T::zero() } else { r };
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { T::zero() } else { r }
    }
}

impl<T: Float, const MUL: bool, const CAP: bool, const KINKS: u8> Map2<T> for RampBackward<T, MUL, CAP, KINKS> {
    const HEAVY: bool = MUL;
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        if MUL { fused(self, x, dy) } else { self.select(x, dy, T::zero()) }
    }
}

/// The ramp backward from the output (`a >= 0`, `t >= 0`, lower kink); `SLOPE` and `CAP`
/// as in [`RampForward`].
pub(crate) struct RampBackwardFromOutput<T: Float, const SLOPE: bool, const CAP: bool>(pub RampParams<T>);

impl<T: Float, const SLOPE: bool, const CAP: bool> Product<T> for RampBackwardFromOutput<T, SLOPE, CAP> {
    const BINARY: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, _: V, dy: V) -> V {
        V::splat(self.0.a) * dy
    }
    #[inline(always)]
    fn select(&self, y: T, dy: T, product: T) -> T {
        let p = &self.0;
        let k = y.key();
        let slope = if SLOPE && !p.a_zero {
            // With a >= 1 an output of exactly zero can only come from the kink, whose lower
            // factor is 1; below it the slope applies.
            if p.a_ge_one & (k == T::zero().key()) { dy } else { product }
        } else {
            T::zero()
        };
        // As in `RampBackward`: a NaN key fails both ordered compares and keeps +0.0.
        let r = if k > p.t_key { dy } else { T::zero() };
        let r = if k <= p.t_key { slope } else { r };
        let r = if CAP && k >= p.m_key { T::zero() } else { r };
        if !T::KEY_UNORDERED_NAN && y.is_nan_elem() { T::zero() } else { r }
    }
}

impl<T: Float, const SLOPE: bool, const CAP: bool> Map2<T> for RampBackwardFromOutput<T, SLOPE, CAP> {
    #[inline(always)]
    fn apply(&self, y: T, dy: T) -> T {
        if SLOPE { fused(self, y, dy) } else { self.select(y, dy, T::zero()) }
    }
}

/// A slope per element (second operand): PReLU channel-last rows, RReLU training.
pub(crate) struct SlopedBy;

impl<T: Float> Product<T> for SlopedBy {
    const BINARY: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, a: V) -> V {
        a * x
    }
    #[inline(always)]
    fn select(&self, x: T, a: T, product: T) -> T {
        // The key of a NaN slope is never the key of zero, so a NaN slope multiplies.
        sloped_select(a.key() == T::zero().key(), x, product)
    }
}

impl<T: Float> Map2<T> for SlopedBy {
    #[inline(always)]
    fn apply(&self, x: T, a: T) -> T {
        fused(self, x, a)
    }
}

/// A binary [`Product`] op with its operands swapped: the in-place drivers write over the
/// second operand, which lets PReLU write over `x` with `(weight, x)`.
pub(crate) struct Swapped<'a, K>(pub &'a K);

impl<T: Float, K: Product<T>> Product<T> for Swapped<'_, K> {
    const BINARY: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, a: V, b: V) -> V {
        self.0.product(b, a)
    }
    #[inline(always)]
    fn select(&self, a: T, b: T, product: T) -> T {
        self.0.select(b, a, product)
    }
}

/// `x > 0 ? x : a * x` with the product given; `+0.0` for a zero slope, NaN kept.
#[inline(always)]
fn sloped_select<T: Float>(slope_is_zero: bool, x: T, product: T) -> T {
    let slope = if slope_is_zero { T::zero() } else { product };
    // As in `RampForward`: where the key is the float, the compare sends a NaN to `x`.
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
    let r = if !(x.key() <= T::zero().key()) { x } else { slope };
    if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { x } else { r }
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

impl<T: Float> Product<T> for Sloped<T::C> {
    const BINARY: bool = false;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, _: V) -> V {
        V::splat(self.0) * x
    }
    #[inline(always)]
    fn select(&self, x: T, _: T, product: T) -> T {
        sloped_select(self.0 == T::C::ZERO, x, product)
    }
}

impl<T: Float> Map1<T> for Sloped<T::C> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        fused(self, x, x)
    }
}

/// [`Sloped`] for a slope in `(0, 1]` (the leaky ReLU): there `x` is the larger of `x` and
/// `a * x` wherever the forward keeps `x`, `a * x` the larger below zero, and a tie has the
/// same bits either way (`a * ±0 = ±0`; equal non-zero floats are equal bitwise). Where the
/// key is the float the select is then one `p > x ? p : x`, which is `vmaxps` itself (it
/// returns its second operand, `x`, when either is NaN): one instruction instead of a
/// compare and a blend, which in L1 is the difference between 0.65x and 0.9x of a copy.
/// For the 16-bit floats the same facts make the select "the product wherever `x` is
/// negative" ([`Product::NEGATIVE_TAKES_PRODUCT`]): `a * x` rounds to a value in `[x, -0.0]`
/// there, which is the larger or ties with `x`'s own bits.
pub(crate) struct SlopedUnit<C>(pub C);

impl<T: Float> Product<T> for SlopedUnit<T::C> {
    const BINARY: bool = false;
    const NEGATIVE_TAKES_PRODUCT: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, _: V) -> V {
        V::splat(self.0) * x
    }
    fn scale(&self) -> Option<T::C> {
        Some(self.0)
    }
    #[inline(always)]
    fn select(&self, x: T, _: T, product: T) -> T {
        if T::KEY_UNORDERED_NAN {
            if product.key() > x.key() { product } else { x }
        } else {
            sloped_select(false, x, product)
        }
    }
}

impl<C: Compute> SlopedUnit<C> {
    /// Whether a slope is in `(0, 1]`.
    pub(crate) fn fits(a: C) -> bool {
        let a = a.to_f64();
        a > 0.0 && a <= 1.0
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

impl<T: Float> Product<T> for SlopedBackward<T::C> {
    const BINARY: bool = true;
    const HEAVY: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, x: V, dy: V) -> V {
        x.if_eq(V::splat(T::C::ZERO), V::splat(self.kink.compute()), V::splat(self.a)) * dy
    }
    #[inline(always)]
    fn select(&self, x: T, dy: T, product: T) -> T {
        let (k, zero) = (x.key(), T::zero().key());
        let slope = if self.a == T::C::ZERO { T::zero() } else { product };
        let r = if k == zero { kink_value(&self.kink, dy, product) } else { slope };
        let r = if k > zero { dy } else { r };
        if x.is_nan_elem() { T::zero() } else { r }
    }
}

impl<T: Float> Map2<T> for SlopedBackward<T::C> {
    const HEAVY: bool = true;
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        fused(self, x, dy)
    }
}

/// The leaky ReLU backward, from the input or from the output: `x > 0 ? dy : a * dy`,
/// `+0.0` for NaN `x`. It is the ramp backward (from either side) wherever the threshold is
/// zero, there is no cap and the lanes at zero take the slope too (see
/// [`LeakyBackward::fits`] and [`LeakyBackward::fits_from_output`]): one compare where
/// the general kernel keeps three, and one pass for the 16-bit floats.
pub(crate) struct LeakyBackward<C>(pub C);

impl<C: Compute> LeakyBackward<C> {
    /// Whether [`RampBackward`] with these parameters and kink is this kernel: threshold
    /// `±0.0`, no cap, and a kink factor at zero that multiplies and equals the slope, so
    /// that the product of every lane at or below zero is `a * dy`. (A factor of one would
    /// pass `dy` itself, a NaN's bits unquieted, so it must multiply.)
    pub(crate) fn fits<T: Float<C = C>>(p: &RampParams<T>, kink: Kink) -> bool {
        !p.cap && p.t.to_f64() == 0.0 && Self::kink_is_slope(p.a, p.kink_t[KinkFactor::index(kink)])
    }

    /// Whether a [`SlopedBackward`] (a PReLU plane) is this kernel.
    pub(crate) fn fits_sloped(k: &SlopedBackward<C>) -> bool {
        Self::kink_is_slope(k.a, k.kink)
    }

    /// A kink factor that multiplies and equals the slope (which is then neither zero nor
    /// NaN).
    fn kink_is_slope(a: C, kink: KinkFactor) -> bool {
        kink.multiplies() && kink.compute::<C>() == a
    }

    /// Whether [`RampBackwardFromOutput`] with these parameters is this kernel: threshold
    /// `±0.0`, no cap, `0 < a < 1` (an output of zero then came from below the kink).
    pub(crate) fn fits_from_output<T: Float<C = C>>(p: &RampParams<T>) -> bool {
        !p.cap && p.t.to_f64() == 0.0 && !p.a_zero && !p.a_ge_one
    }
}

impl<T: Float> Product<T> for LeakyBackward<T::C> {
    const BINARY: bool = true;
    const DY_ABOVE_ZERO: bool = true;
    #[inline(always)]
    fn product<V: Lanes<T::C>>(&self, _: V, dy: V) -> V {
        V::splat(self.0) * dy
    }
    fn scale(&self) -> Option<T::C> {
        Some(self.0)
    }
    #[inline(always)]
    fn select(&self, x: T, dy: T, product: T) -> T {
        // As in `RampBackward`: where the key is the float, a NaN fails both ordered
        // compares and keeps the +0.0 it starts from.
        let (k, zero) = (x.key(), T::zero().key());
        let r = if k > zero { dy } else { T::zero() };
        let r = if k <= zero { product } else { r };
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { T::zero() } else { r }
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
        // As in `RampForward`: where the key is the float, a NaN takes `x` here.
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
        let r = if !(x.key() <= self.th) { x } else { self.value };
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { x } else { r }
    }
}

/// `x > t ? x : below`, then `min(·, m)` when `CAP`, NaN kept, on the raw bits of a 16-bit
/// float, for `t >= 0`: the non-negative floats order as their bits read as `i16`, and every
/// negative one (-0.0 included) reads as a negative `i16`, below any such `t`. The compare
/// and the cap are then one integer instruction each, where the order key of
/// [`RampForward`] costs four (f16 ReLU6 at 4K: ~12 to ~6 instructions per 16 lanes). For
/// the ramp without a slope (`below` = +0.0; with a cap only where `m`'s bits differ from
/// `t`'s: on a tie the cap wins, which `min` would not see) and for `threshold` with
/// `th >= 0`.
pub(crate) struct AboveBits16<const CAP: bool> {
    t: i16,
    m: i16,
    below: i16,
    inf: i16,
}

impl<const CAP: bool> AboveBits16<CAP> {
    /// The bits of a 16-bit value as `i16`, `-0.0` read as `+0.0`.
    fn bits16<T: Float>(v: T) -> i16 {
        if v.to_f64() == 0.0 { 0 } else { v.bits() as u16 as i16 }
    }

    fn new<T: Float>(t: T, m: T, below: T) -> Option<Self> {
        if size_of::<T>() != 2 || t.is_nan_elem() || t.to_f64() < 0.0 {
            return None;
        }
        let (t, m) = (Self::bits16(t), Self::bits16(m));
        if CAP && m <= t {
            return None;
        }
        let inf = T::from_f64(f64::INFINITY).bits() as u16 as i16;
        Some(AboveBits16 { t, m, below: below.bits() as u16 as i16, inf })
    }

    /// The ramp forward without a slope (`CAP`: with its cap), where it applies.
    pub(crate) fn ramp<T: Float>(p: &RampParams<T>) -> Option<Self> {
        debug_assert!(p.a_zero && CAP == p.cap);
        Self::new(T::narrow(p.t), p.m_elem, T::zero())
    }
}

impl AboveBits16<false> {
    /// `threshold(x, th, value)`, where it applies.
    pub(crate) fn threshold<T: Float>(th: T, value: T) -> Option<Self> {
        Self::new(th, th, value)
    }
}

impl<T: Float, const CAP: bool> Map1<T> for AboveBits16<CAP> {
    #[inline(always)]
    fn apply(&self, x: T) -> T {
        let s = x.bits() as u16 as i16;
        let r = if s > self.t { s } else { self.below };
        let r = if CAP { r.min(self.m) } else { r };
        let r = if (s & 0x7fff) > self.inf { s } else { r };
        T::from_bits_u64(u64::from(r as u16))
    }
}

/// The ramp backward without a product (`a == 0`, kink factors 0 or 1) on the raw bits of
/// a 16-bit float, for `t >= 0`, as [`AboveBits16`]: `dy` above `t`, the kink's `dy` or
/// +0.0 at `t` (and at `m`), +0.0 below `t`, above `m` and for NaN. ReLU6's backward and
/// the clipped and thresholded ones; from the output too, which for `a == 0` is this with
/// the lower kink.
pub(crate) struct RampBackwardBits16<const CAP: bool> {
    t: i16,
    m: i16,
    /// Equality with `t` compares `x & eq_mask`: `0x7fff` when `t` is zero, so that -0.0
    /// is at the kink too; all ones otherwise.
    eq_mask: i16,
    inf: i16,
    dy_at_t: bool,
    dy_at_m: bool,
}

impl<const CAP: bool> RampBackwardBits16<CAP> {
    /// The backward from the input, where it applies.
    pub(crate) fn new<T: Float>(p: &RampParams<T>, kink: Kink) -> Option<Self> {
        debug_assert!(CAP == p.cap);
        if ramp_backward_multiplies(p, kink) {
            return None;
        }
        let i = KinkFactor::index(kink);
        let (kink_t, kink_m) = (p.kink_t[i], p.kink_m[i]);
        let bits = AboveBits16::<CAP>::ramp(p)?;
        let eq_mask = if bits.t == 0 { 0x7fff } else { -1 };
        Some(RampBackwardBits16 {
            t: bits.t,
            m: bits.m,
            eq_mask,
            inf: bits.inf,
            dy_at_t: kink_t.is_one,
            dy_at_m: kink_m.is_one,
        })
    }

    /// The backward from the output (`a == 0`), where it applies.
    pub(crate) fn from_output<T: Float>(p: &RampParams<T>) -> Option<Self> {
        Self::new(p, Kink::Lower)
    }
}

impl<T: Float, const CAP: bool> Map2<T> for RampBackwardBits16<CAP> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        let s = x.bits() as u16 as i16;
        let zero = T::zero();
        let r = if s > self.t { dy } else { zero };
        let r = if s & self.eq_mask == self.t { if self.dy_at_t { dy } else { zero } } else { r };
        let r = if CAP && s == self.m { if self.dy_at_m { dy } else { zero } } else { r };
        // Above the cap, or a positive NaN (above +inf); a negative NaN is below `t`.
        let above = if CAP { self.m } else { self.inf };
        if s > above { zero } else { r }
    }
}

/// `x > th ? dy : +0.0` (the threshold as an order key).
pub(crate) struct ThresholdBackward<K>(pub K);

impl<T: Float> Map2<T> for ThresholdBackward<T::Key> {
    #[inline(always)]
    fn apply(&self, x: T, dy: T) -> T {
        // Where the key is the float, the ordered compare already sends NaN to +0.0.
        let r = if x.key() > self.0 { dy } else { T::zero() };
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { T::zero() } else { r }
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
        if !T::KEY_UNORDERED_NAN && x.is_nan_elem() { T::zero() } else { r }
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

//! The specification as code: one scalar, obviously-correct definition per op, written
//! straight from the contract's tables with plain branches. Every fast path is tested
//! bitwise against these; nothing fast calls them.
//!
//! Public (but hidden from the docs) so that the integration tests, benchmarks and the
//! other crates of the workspace can compare against the same definitions.
#![allow(missing_docs)]

use crate::element::{Compute, Float, Int};
use crate::op::{Kink, Ramp};

/// A kink factor applied as the contract says: 0 gives +0.0, 1 gives dy unchanged.
pub fn apply_factor<T: Float>(factor: f64, dy: T) -> T {
    if factor == 0.0 {
        T::from_f64(0.0)
    } else if factor == 1.0 {
        dy
    } else {
        T::narrow(<T::C as Compute>::from_f64(factor) * dy.widen())
    }
}

pub fn relu<T: Float>(x: T) -> T {
    if x.is_nan_elem() || x.widen() > T::C::ZERO { x } else { T::from_f64(0.0) }
}

pub fn relu_backward<T: Float>(x: T, dy: T) -> T {
    if x.widen() > T::C::ZERO { dy } else { T::from_f64(0.0) }
}

pub fn ramp<T: Float>(r: &Ramp, x: T) -> T {
    let t = T::from_f64(r.threshold()).widen();
    let m = T::from_f64(r.max_value());
    let a = <T::C as Compute>::from_f64(r.negative_slope());
    let xc = x.widen();
    if x.is_nan_elem() {
        x
    } else if m.to_f64().is_finite() && xc >= m.widen() {
        m
    } else if xc > t {
        x
    } else if a.to_f64() == 0.0 {
        T::from_f64(0.0)
    } else {
        T::narrow(a * (xc - t))
    }
}

pub fn ramp_backward<T: Float>(r: &Ramp, x: T, dy: T, kink: Kink) -> T {
    let t = T::from_f64(r.threshold()).widen();
    let m = T::from_f64(r.max_value());
    let a = <T::C as Compute>::from_f64(r.negative_slope());
    let cap = m.to_f64().is_finite();
    let xc = x.widen();
    if x.is_nan_elem() || (cap && xc > m.widen()) {
        T::from_f64(0.0)
    } else if cap && xc == m.widen() {
        apply_factor(kink.factor(1.0, 0.0), dy)
    } else if xc > t {
        dy
    } else if xc == t {
        apply_factor(kink.factor(a.to_f64(), 1.0), dy)
    } else if a.to_f64() == 0.0 {
        T::from_f64(0.0)
    } else {
        T::narrow(a * dy.widen())
    }
}

/// Backward from the output y = ramp(x), with `Kink::Lower`; only for `a >= 0, t >= 0`.
pub fn ramp_backward_from_output<T: Float>(r: &Ramp, y: T, dy: T) -> T {
    let t = T::from_f64(r.threshold()).widen();
    let m = T::from_f64(r.max_value());
    let a = <T::C as Compute>::from_f64(r.negative_slope());
    let yc = y.widen();
    if y.is_nan_elem() || (m.to_f64().is_finite() && yc >= m.widen()) {
        T::from_f64(0.0)
    } else if yc > t {
        dy
    } else if a.to_f64() == 0.0 {
        T::from_f64(0.0)
    } else if a.to_f64() >= 1.0 && yc == T::C::ZERO {
        // y == 0 only at x == t when a >= 1: the lower kink factor there is 1.
        dy
    } else {
        T::narrow(a * dy.widen())
    }
}

/// Per-element slope op (PReLU, RReLU training): the ramp with t = 0, m = inf, slope `a`
/// given in the dtype's compute type.
pub fn sloped<T: Float>(a: T::C, x: T) -> T {
    if x.is_nan_elem() || x.widen() > T::C::ZERO {
        x
    } else if a.to_f64() == 0.0 {
        T::from_f64(0.0)
    } else {
        T::narrow(a * x.widen())
    }
}

pub fn sloped_backward<T: Float>(a: T::C, x: T, dy: T, kink: Kink) -> T {
    let xc = x.widen();
    if x.is_nan_elem() {
        T::from_f64(0.0)
    } else if xc > T::C::ZERO {
        dy
    } else if xc == T::C::ZERO {
        apply_factor(kink.factor(a.to_f64(), 1.0), dy)
    } else if a.to_f64() == 0.0 {
        T::from_f64(0.0)
    } else {
        T::narrow(a * dy.widen())
    }
}

/// PyTorch `threshold`: `x > th ? x : v`, NaN unchanged (th and v rounded to the dtype).
pub fn threshold<T: Float>(th: f64, v: f64, x: T) -> T {
    if x.is_nan_elem() || x.widen() > T::from_f64(th).widen() { x } else { T::from_f64(v) }
}

pub fn threshold_backward<T: Float>(th: f64, x: T, dy: T) -> T {
    if x.widen() > T::from_f64(th).widen() { dy } else { T::from_f64(0.0) }
}

/// One CReLU output pair: `(relu(x), relu(-x))`, `-x` being a sign flip.
pub fn crelu<T: Float>(x: T) -> (T, T) {
    (relu(x), relu(x.negate()))
}

/// CReLU backward: `dy_pos` where x > 0, `-dy_neg` where x < 0, else +0.0.
pub fn crelu_backward<T: Float>(x: T, dy_pos: T, dy_neg: T) -> T {
    let xc = x.widen();
    if xc > T::C::ZERO {
        dy_pos
    } else if xc < T::C::ZERO {
        dy_neg.negate()
    } else {
        T::from_f64(0.0)
    }
}

pub fn int_relu<T: Int>(x: T) -> T {
    if x > T::ZERO { x } else { T::ZERO }
}

pub fn int_clipped<T: Int>(x: T, m: T) -> T {
    x.clamp(T::ZERO, m)
}

/// `relu(x + b)` with the sum rounded to the dtype first; a NaN operand is kept as it is
/// (`x` if both are NaN).
pub fn bias_relu<T: Float>(x: T, b: T) -> T {
    if x.is_nan_elem() {
        x
    } else if b.is_nan_elem() {
        b
    } else {
        relu(T::narrow(x.widen() + b.widen()))
    }
}

/// The RReLU slope drawn for element `index` with `seed`: uniform in [lower, upper],
/// rounded to the dtype.
pub fn rrelu_slope<T: Float>(lower: f64, upper: f64, seed: u64, index: u64) -> T {
    let u = crate::rrelu::unit_interval(seed, index);
    let lo = <T::C as Compute>::from_f64(lower);
    let hi = <T::C as Compute>::from_f64(upper);
    T::narrow(lo + (hi - lo) * <T::C as Compute>::from_f64(u))
}

/// RReLU training forward of element `index`: the slope drawn for it, then [`sloped`].
pub fn rrelu_train<T: Float>(lower: f64, upper: f64, seed: u64, index: u64, x: T) -> T {
    let a: T = rrelu_slope(lower, upper, seed, index);
    sloped(a.widen(), x)
}

/// RReLU training backward of element `index`.
pub fn rrelu_train_backward<T: Float>(lower: f64, upper: f64, seed: u64, index: u64, x: T, dy: T, kink: Kink) -> T {
    let a: T = rrelu_slope(lower, upper, seed, index);
    sloped_backward(a.widen(), x, dy, kink)
}

/// PReLU forward with the element's channel slope `w`.
pub fn prelu<T: Float>(w: T, x: T) -> T {
    sloped(w.widen(), x)
}

/// PReLU backward (dx) with the element's channel slope `w`.
pub fn prelu_backward<T: Float>(w: T, x: T, dy: T, kink: Kink) -> T {
    sloped_backward(w.widen(), x, dy, kink)
}

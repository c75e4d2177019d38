//! The ops and their parameters, validated once at construction.

use crate::element::{Compute, Float};
use crate::error::Error;

/// Which one-sided derivative to use exactly at a kink (`x == threshold` or
/// `x == max_value`), where the function is not differentiable.
///
/// | rule | ReLU at 0 | leaky (0 <= a <= 1) at 0 | ReLU6 at 6 |
/// |---|---|---|---|
/// | `Lower` (default) | 0 | a | 0 |
/// | `Upper` | 1 | 1 | 1 |
/// | `Mid` | 0.5 | (a + 1) / 2 | 0.5 |
///
/// `Lower` reproduces PyTorch, TensorFlow and JAX. The factor is applied as a select: a factor
/// of 0 gives `+0.0` and a factor of 1 gives `dy` unchanged (NaN and infinities included);
/// any other factor multiplies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kink {
    /// The smaller of the two one-sided slopes.
    #[default]
    Lower,
    /// The larger of the two one-sided slopes.
    Upper,
    /// The mean of the two one-sided slopes.
    Mid,
}

impl Kink {
    /// The factor this rule picks between two one-sided slopes.
    pub fn factor(self, left: f64, right: f64) -> f64 {
        match self {
            Kink::Lower => left.min(right),
            Kink::Upper => left.max(right),
            Kink::Mid => (left + right) / 2.0,
        }
    }

    /// Parses `"lower"`, `"upper"` or `"mid"` (as the Python and command-line surfaces do).
    pub fn from_name(name: &str) -> Option<Kink> {
        match name {
            "lower" => Some(Kink::Lower),
            "upper" => Some(Kink::Upper),
            "mid" => Some(Kink::Mid),
            _ => None,
        }
    }

    /// The name accepted by [`Kink::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Kink::Lower => "lower",
            Kink::Upper => "upper",
            Kink::Mid => "mid",
        }
    }
}

/// The general ramp: the Keras `relu(x, negative_slope, threshold, max_value)`, of which
/// every member of the family is a special case.
///
/// ```text
///            NaN                  if x is NaN (same bits)
/// f(x) =     m                    if x >= m   (m finite)
///            x                    if t < x < m
///            +0.0                 if x <= t and a == 0
///            a * (x - t)          if x <= t and a != 0
/// ```
///
/// Parameters are `f64` and are checked once, here: `a` and `t` finite, `m` finite or `+inf`
/// and `m > t`. When the op runs on a dtype, `t` and `m` are rounded to that dtype (they are
/// values the input is compared with and the output takes), `a` to the compute type (f32 for
/// f16, bf16 and f32; f64 for f64). If that rounding makes `m == t` (a cap within one ulp of
/// the threshold in a narrow dtype), the cap wins: `x >= m` gives `m`. A cap that rounds to
/// infinity is no cap.
///
/// ```
/// use rectify::{Kink, Ramp};
///
/// let ramp = Ramp::new(0.1, 0.0, 6.0)?; // leaky below 0, capped at 6
/// let x = [-10.0_f32, -0.0, 0.5, 6.0, 7.0, f32::NAN];
/// let mut y = [0.0_f32; 6];
/// ramp.forward(&x, &mut y);
/// assert_eq!(&y[..5], &[-1.0, -0.0, 0.5, 6.0, 6.0]);
/// assert!(y[5].is_nan());
///
/// let dy = [1.0_f32; 6];
/// let mut dx = [9.0_f32; 6];
/// ramp.backward(&x, &dy, &mut dx, Kink::Lower);
/// assert_eq!(dx, [0.1, 0.1, 1.0, 0.0, 0.0, 0.0]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ramp {
    negative_slope: f64,
    threshold: f64,
    max_value: f64,
}

impl Default for Ramp {
    fn default() -> Self {
        Ramp::relu()
    }
}

pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64, Error> {
    if value.is_finite() { Ok(value) } else { Err(Error::NonFinite { name, value }) }
}

impl Ramp {
    /// The general ramp. Errors: a non-finite `negative_slope` or `threshold`; a NaN or
    /// `-inf` `max_value`; `max_value <= threshold`.
    pub fn new(negative_slope: f64, threshold: f64, max_value: f64) -> Result<Ramp, Error> {
        finite("negative_slope", negative_slope)?;
        finite("threshold", threshold)?;
        // `!(m > t)` also catches a NaN cap.
        #[allow(clippy::neg_cmp_op_on_partial_ord)] // the point: true for NaN
        if !(max_value > threshold) {
            return Err(Error::CapNotAboveThreshold { threshold, max_value });
        }
        Ok(Ramp { negative_slope, threshold, max_value })
    }

    /// `max(x, 0)`: a = 0, t = 0, m = +inf.
    pub const fn relu() -> Ramp {
        Ramp { negative_slope: 0.0, threshold: 0.0, max_value: f64::INFINITY }
    }

    /// Leaky ReLU: `x` for `x > 0`, else `a * x` (PyTorch's default `a` is 0.01).
    pub fn leaky(negative_slope: f64) -> Result<Ramp, Error> {
        Ramp::new(negative_slope, 0.0, f64::INFINITY)
    }

    /// ReLU6: `min(max(x, 0), 6)`.
    pub const fn relu6() -> Ramp {
        Ramp { negative_slope: 0.0, threshold: 0.0, max_value: 6.0 }
    }

    /// Clipped ReLU: `min(max(x, 0), m)`, `m > 0`.
    pub fn clipped(max_value: f64) -> Result<Ramp, Error> {
        Ramp::new(0.0, 0.0, max_value)
    }

    /// Thresholded ReLU (ONNX `ThresholdedRelu`): `x` for `x > t`, else 0.
    pub fn thresholded(threshold: f64) -> Result<Ramp, Error> {
        Ramp::new(0.0, threshold, f64::INFINITY)
    }

    /// The slope `a` below the threshold.
    pub fn negative_slope(&self) -> f64 {
        self.negative_slope
    }

    /// The threshold `t`.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The cap `m` (`+inf` for none).
    pub fn max_value(&self) -> f64 {
        self.max_value
    }

    /// Resolves the parameters for one dtype.
    pub(crate) fn params<T: Float>(&self) -> RampParams<T> {
        let a = <T::C as Compute>::from_f64(self.negative_slope);
        let t_elem = T::from_f64(self.threshold);
        let m_elem = T::from_f64(self.max_value);
        let cap = m_elem.to_f64().is_finite();
        let a64 = a.to_f64();
        RampParams {
            a,
            a_zero: a64 == 0.0,
            a_ge_one: a64 >= 1.0,
            t: t_elem.widen(),
            t_key: t_elem.key(),
            m_key: if cap { m_elem.key() } else { T::KEY_ABOVE_ALL },
            m: if cap { m_elem.widen() } else { <T::C as Compute>::from_f64(f64::NAN) },
            m_elem,
            cap,
            kink_t: [Kink::Lower, Kink::Upper, Kink::Mid].map(|k| KinkFactor::new(k.factor(a64, 1.0))),
            kink_m: [Kink::Lower, Kink::Upper, Kink::Mid].map(|k| KinkFactor::new(k.factor(1.0, 0.0))),
        }
    }

    /// Checks that the backward can be computed from the output with these parameters:
    /// `a >= 0` and `t >= 0` (then `y` tells the slope part, the kinks and the linear part
    /// apart), and always with [`Kink::Lower`].
    pub(crate) fn check_from_output(&self) -> Result<(), Error> {
        if self.negative_slope < 0.0 {
            return Err(Error::NotInvertibleFromOutput {
                reason: "a negative slope makes the output of the two sides overlap; use the input",
            });
        }
        if self.threshold < 0.0 {
            return Err(Error::NotInvertibleFromOutput {
                reason: "with a negative threshold the output of the two sides overlaps; use the input",
            });
        }
        Ok(())
    }
}

/// A kink factor, resolved so that kernels can select instead of multiply where the
/// contract says so.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KinkFactor {
    pub factor: f64,
    pub is_zero: bool,
    pub is_one: bool,
}

impl KinkFactor {
    pub(crate) fn new(factor: f64) -> KinkFactor {
        KinkFactor { factor, is_zero: factor == 0.0, is_one: factor == 1.0 }
    }

    /// Whether applying the factor takes a multiply (not a select).
    /// The factor in the compute type.
    #[inline(always)]
    pub(crate) fn compute<C: crate::element::Compute>(&self) -> C {
        C::from_f64(self.factor)
    }

    pub(crate) fn multiplies(&self) -> bool {
        !(self.is_zero || self.is_one)
    }

    pub(crate) fn index(kink: Kink) -> usize {
        match kink {
            Kink::Lower => 0,
            Kink::Upper => 1,
            Kink::Mid => 2,
        }
    }
}

/// A [`Ramp`]'s parameters resolved for one dtype `T`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RampParams<T: Float> {
    pub a: T::C,
    pub a_zero: bool,
    pub a_ge_one: bool,
    /// The threshold in the compute type (for `x - t`).
    pub t: T::C,
    /// The threshold and the cap as order keys (for the compares); without a cap `m_key`
    /// is above every element and `m` is NaN, so that the compares against them are false.
    pub t_key: T::Key,
    pub m_key: T::Key,
    /// The cap in the compute type (for the kink compare of the backward products).
    pub m: T::C,
    pub m_elem: T,
    pub cap: bool,
    pub kink_t: [KinkFactor; 3],
    pub kink_m: [KinkFactor; 3],
}

//! Integer ReLU variants ([`crate::relu`] covers plain ReLU for integers) and quantized
//! ReLU / ReLU6.

use crate::element::Int;
use crate::error::{Error, check_len};
use crate::kernels::Clamp;
use crate::run;

/// Clipped ReLU for integers: `y = clamp(x, 0, max)`.
///
/// # Errors
/// [`Error::OutOfRange`] if `max <= 0`.
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// let mut y = [0_i16; 4];
/// rectify::int::clipped_relu(&[-7, 3, 6, 200], &mut y, 6)?;
/// assert_eq!(y, [0, 3, 6, 6]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[track_caller]
pub fn clipped_relu<T: Int>(x: &[T], y: &mut [T], max: T) -> Result<(), Error> {
    let k = clamp_kernel(max)?;
    check_len("x", x.len(), "y", y.len());
    run::unary(&k, x, y);
    Ok(())
}

/// [`clipped_relu`] in place.
///
/// # Errors
/// As [`clipped_relu`].
pub fn clipped_relu_inplace<T: Int>(x: &mut [T], max: T) -> Result<(), Error> {
    let k = clamp_kernel(max)?;
    run::unary_inplace(&k, x);
    Ok(())
}

fn clamp_kernel<T: Int>(max: T) -> Result<Clamp<T>, Error> {
    if max <= T::ZERO {
        return Err(Error::OutOfRange { name: "max", value: format!("{max:?}"), expected: "greater than 0" });
    }
    Ok(Clamp(T::ZERO, max))
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// The 8-bit quantized types (`u8`, `i8`). Sealed.
pub trait Quantized: Int + sealed::Sealed {
    #[doc(hidden)]
    const MIN_I64: i64;
    #[doc(hidden)]
    const MAX_I64: i64;
    #[doc(hidden)]
    fn from_i64(v: i64) -> Self;
}

impl Quantized for u8 {
    const MIN_I64: i64 = u8::MIN as i64;
    const MAX_I64: i64 = u8::MAX as i64;
    fn from_i64(v: i64) -> Self {
        v as u8
    }
}

impl Quantized for i8 {
    const MIN_I64: i64 = i8::MIN as i64;
    const MAX_I64: i64 = i8::MAX as i64;
    fn from_i64(v: i64) -> Self {
        v as i8
    }
}

/// Affine quantization `real = scale * (q - zero_point)`; the ReLUs keep the input's scale
/// and zero point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    scale: f32,
    zero_point: i32,
}

impl QuantParams {
    /// Errors: a scale that is not finite and positive.
    pub fn new(scale: f32, zero_point: i32) -> Result<QuantParams, Error> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::OutOfRange {
                name: "scale",
                value: scale.to_string(),
                expected: "finite and greater than 0",
            });
        }
        Ok(QuantParams { scale, zero_point })
    }

    /// The scale.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The zero point.
    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }

    fn zero<Q: Quantized>(&self) -> Result<Q, Error> {
        let zp = self.zero_point as i64;
        if zp < Q::MIN_I64 || zp > Q::MAX_I64 {
            return Err(Error::OutOfRange {
                name: "zero_point",
                value: zp.to_string(),
                expected: "within the range of the quantized type",
            });
        }
        Ok(Q::from_i64(zp))
    }

    /// The quantized 6: `clamp(round(6 / scale) + zero_point)` to the type's range, the
    /// division in f64 and the rounding to nearest, ties to even.
    pub fn six<Q: Quantized>(&self) -> Result<Q, Error> {
        self.zero::<Q>()?;
        let q = (6.0 / self.scale as f64).round_ties_even() + self.zero_point as f64;
        Ok(Q::from_i64((q.min(Q::MAX_I64 as f64) as i64).clamp(Q::MIN_I64, Q::MAX_I64)))
    }
}

/// Quantized ReLU: `y = max(q, zero_point)`.
///
/// # Errors
/// [`Error::OutOfRange`] if the zero point does not fit the type.
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// use rectify::int::QuantParams;
/// let qp = QuantParams::new(0.1, 128)?;
/// let mut y = [0_u8; 3];
/// rectify::int::quantized_relu(&[100_u8, 128, 200], &mut y, qp)?;
/// assert_eq!(y, [128, 128, 200]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[track_caller]
pub fn quantized_relu<Q: Quantized>(x: &[Q], y: &mut [Q], qp: QuantParams) -> Result<(), Error> {
    let zp = qp.zero::<Q>()?;
    check_len("x", x.len(), "y", y.len());
    run::unary(&Clamp(zp, Q::from_i64(Q::MAX_I64)), x, y);
    Ok(())
}

/// Quantized ReLU6: `y = min(max(q, zero_point), six)` with `six` from [`QuantParams::six`].
///
/// # Errors
/// [`Error::OutOfRange`] if the zero point does not fit the type.
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// use rectify::int::QuantParams;
/// let qp = QuantParams::new(0.05, -10)?; // 6.0 is q = 110
/// let mut y = [0_i8; 3];
/// rectify::int::quantized_relu6(&[-100_i8, 0, 127], &mut y, qp)?;
/// assert_eq!(y, [-10, 0, 110]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[track_caller]
pub fn quantized_relu6<Q: Quantized>(x: &[Q], y: &mut [Q], qp: QuantParams) -> Result<(), Error> {
    let (zp, six) = (qp.zero::<Q>()?, qp.six::<Q>()?);
    check_len("x", x.len(), "y", y.len());
    run::unary(&Clamp(zp, six), x, y);
    Ok(())
}

/// [`quantized_relu`] in place.
///
/// # Errors
/// As [`quantized_relu`].
pub fn quantized_relu_inplace<Q: Quantized>(x: &mut [Q], qp: QuantParams) -> Result<(), Error> {
    let zp = qp.zero::<Q>()?;
    run::unary_inplace(&Clamp(zp, Q::from_i64(Q::MAX_I64)), x);
    Ok(())
}

/// [`quantized_relu6`] in place.
///
/// # Errors
/// As [`quantized_relu6`].
pub fn quantized_relu6_inplace<Q: Quantized>(x: &mut [Q], qp: QuantParams) -> Result<(), Error> {
    let (zp, six) = (qp.zero::<Q>()?, qp.six::<Q>()?);
    run::unary_inplace(&Clamp(zp, six), x);
    Ok(())
}

//! ReLU, the general ramp, `threshold` and CReLU over slices.

use crate::element::{Element, Float};
use crate::error::{Error, check_len};
use crate::kernels::{
    AboveBits16, CappedAbove, CreluBackward, KINKS_MULTIPLY, KINKS_MULTIPLY_ZERO_BELOW, LeakyBackward, Map1, Map2,
    NegRelu, Product, RampBackward, RampBackwardBits16, RampBackwardFromOutput, RampForward, Relu, ReluBackward,
    SlopedUnit, Threshold, ThresholdBackward, ramp_backward_kinks, ramp_backward_multiplies,
};
use crate::op::{Kink, Ramp, RampParams};
use crate::run;

/// Whether a ramp is a leaky ReLU whose forward is the [`SlopedUnit`] kernel: threshold
/// `+0.0` (then `a * (x - t)` is `a * x` bitwise, `-0.0` included), no cap, slope in `(0, 1]`.
fn leaky_unit<T: Float>(p: &crate::op::RampParams<T>) -> bool {
    use crate::element::Compute;
    !p.cap && p.t.to_f64().to_bits() == 0 && SlopedUnit::<T::C>::fits(p.a)
}

/// Where a one-input ramp kernel writes: `y` from `x`, or over `x`. Each `Ramp` method
/// and its in-place twin choose their kernel once, in a function over this.
trait UnaryOut<T: Float> {
    fn relu(self);
    fn map<K: Map1<T>>(self, k: &K);
    fn product<K: Product<T>>(self, k: &K);
}

impl<T: Float> UnaryOut<T> for (&[T], &mut [T]) {
    fn relu(self) {
        run::relu(self.0, self.1)
    }
    fn map<K: Map1<T>>(self, k: &K) {
        run::unary(k, self.0, self.1)
    }
    fn product<K: Product<T>>(self, k: &K) {
        run::product_select(k, self.0, self.0, self.1)
    }
}

impl<T: Float> UnaryOut<T> for &mut [T] {
    fn relu(self) {
        run::relu_inplace(self)
    }
    fn map<K: Map1<T>>(self, k: &K) {
        run::unary_inplace(k, self)
    }
    fn product<K: Product<T>>(self, k: &K) {
        run::product_select_inplace(k, None, self)
    }
}

/// As [`UnaryOut`] for the backward kernels of `(x or y, dy)`: `dx` apart, or over `dy`.
trait BinaryOut<T: Float> {
    fn relu_backward(self);
    fn map<K: Map2<T>>(self, k: &K);
    fn product<K: Product<T>>(self, k: &K);
}

impl<T: Float> BinaryOut<T> for (&[T], &[T], &mut [T]) {
    fn relu_backward(self) {
        run::binary(&ReluBackward, self.0, self.1, self.2)
    }
    fn map<K: Map2<T>>(self, k: &K) {
        run::binary(k, self.0, self.1, self.2)
    }
    fn product<K: Product<T>>(self, k: &K) {
        run::product_select(k, self.0, self.1, self.2)
    }
}

impl<T: Float> BinaryOut<T> for (&[T], &mut [T]) {
    fn relu_backward(self) {
        run::relu_backward_inplace(self.0, self.1)
    }
    fn map<K: Map2<T>>(self, k: &K) {
        run::binary_inplace(k, self.0, self.1)
    }
    fn product<K: Product<T>>(self, k: &K) {
        run::product_select_inplace(k, Some(self.0), self.1)
    }
}

/// `y = max(x, 0)`, element by element: NaN keeps its bits, `-0.0` and `-inf` give `+0.0`.
/// For integers, `max(x, 0)` (the identity for unsigned types).
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// let x = [-2.0_f32, -0.0, 0.0, 3.5, f32::INFINITY, f32::NEG_INFINITY];
/// let mut y = [1.0_f32; 6];
/// rectify::relu(&x, &mut y);
/// assert_eq!(y, [0.0, 0.0, 0.0, 3.5, f32::INFINITY, 0.0]);
/// assert!(y[1].is_sign_positive()); // relu(-0.0) is +0.0
///
/// let q = [-5_i8, 0, 7];
/// let mut r = [0_i8; 3];
/// rectify::relu(&q, &mut r);
/// assert_eq!(r, [0, 0, 7]);
/// ```
#[track_caller]
pub fn relu<T: Element>(x: &[T], y: &mut [T]) {
    check_len("x", x.len(), "y", y.len());
    run::relu(x, y);
}

/// [`relu`] in place.
///
/// ```
/// let mut x = [-1.0_f64, 2.0, f64::NAN];
/// rectify::relu_inplace(&mut x);
/// assert_eq!(&x[..2], &[0.0, 2.0]);
/// assert!(x[2].is_nan());
/// ```
pub fn relu_inplace<T: Element>(x: &mut [T]) {
    run::relu_inplace(x);
}

/// ReLU backward from the input, [`Kink::Lower`]: `dx = x > 0 ? dy : +0.0`. A masked
/// position gets `+0.0` even where `dy` is NaN or infinite (a select, not a product).
///
/// # Panics
/// If `x`, `dy` and `dx` differ in length.
///
/// ```
/// let x = [-1.0_f32, 0.0, 2.0, f32::NAN];
/// let dy = [f32::NAN, 5.0, 3.0, 1.0];
/// let mut dx = [7.0_f32; 4];
/// rectify::relu_backward(&x, &dy, &mut dx);
/// assert_eq!(dx, [0.0, 0.0, 3.0, 0.0]);
/// ```
#[track_caller]
pub fn relu_backward<T: Element>(x: &[T], dy: &[T], dx: &mut [T]) {
    check_len("x", x.len(), "dy", dy.len());
    check_len("dy", dy.len(), "dx", dx.len());
    run::binary(&ReluBackward, x, dy, dx);
}

/// [`relu_backward`] writing `dx` over `dy` (about 1.6x faster from DRAM than a third array).
///
/// # Panics
/// If `x` and `dy` differ in length.
///
/// ```
/// let x = [-1.0_f32, 2.0];
/// let mut g = [4.0_f32, 4.0];
/// rectify::relu_backward_inplace(&x, &mut g);
/// assert_eq!(g, [0.0, 4.0]);
/// ```
#[track_caller]
pub fn relu_backward_inplace<T: Element>(x: &[T], dy: &mut [T]) {
    check_len("x", x.len(), "dy", dy.len());
    run::relu_backward_inplace(x, dy);
}

/// ReLU backward from the output `y = relu(x)`: the same bits as from the input, since
/// `y > 0` exactly where `x > 0` (only [`Kink::Lower`] can be computed this way). This is
/// what makes an in-place forward legal in training.
///
/// # Panics
/// If `y`, `dy` and `dx` differ in length.
///
/// ```
/// let mut a = [-1.0_f32, 2.0];
/// rectify::relu_inplace(&mut a); // keep only the output
/// let mut dx = [0.0_f32; 2];
/// rectify::relu_backward_from_output(&a, &[1.0, 1.0], &mut dx);
/// assert_eq!(dx, [0.0, 1.0]);
/// ```
#[track_caller]
pub fn relu_backward_from_output<T: Element>(y: &[T], dy: &[T], dx: &mut [T]) {
    relu_backward(y, dy, dx);
}

/// [`RampBackward`] that multiplies, with its `KINKS` as constants where they are known
/// ([`ramp_backward_kinks`]).
fn ramp_backward_product<T: Float, const CAP: bool>(out: impl BinaryOut<T>, p: RampParams<T>, kink: Kink) {
    match ramp_backward_kinks(&p, kink) {
        KINKS_MULTIPLY => out.product(&RampBackward::<T, true, CAP, KINKS_MULTIPLY>::new(p, kink)),
        KINKS_MULTIPLY_ZERO_BELOW => {
            out.product(&RampBackward::<T, true, CAP, KINKS_MULTIPLY_ZERO_BELOW>::new(p, kink))
        }
        _ => out.product(&RampBackward::<T, true, CAP>::new(p, kink)),
    }
}

impl Ramp {
    fn is_relu(&self) -> bool {
        *self == Ramp::relu()
    }

    /// `y = ramp(x)` element by element (see the table on [`Ramp`]).
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    ///
    /// ```
    /// use rectify::Ramp;
    /// let relu6 = Ramp::relu6();
    /// let mut y = [0.0_f32; 4];
    /// relu6.forward(&[-1.0, 3.0, 6.0, 9.0], &mut y);
    /// assert_eq!(y, [0.0, 3.0, 6.0, 6.0]);
    /// ```
    #[track_caller]
    pub fn forward<T: Float>(&self, x: &[T], y: &mut [T]) {
        check_len("x", x.len(), "y", y.len());
        self.forward_to((x, y));
    }

    /// [`Ramp::forward`] in place.
    ///
    /// ```
    /// use rectify::Ramp;
    /// let mut x = [-2.0_f32, 0.5];
    /// Ramp::leaky(0.25)?.forward_inplace(&mut x);
    /// assert_eq!(x, [-0.5, 0.5]);
    /// # Ok::<(), rectify::Error>(())
    /// ```
    pub fn forward_inplace<T: Float>(&self, x: &mut [T]) {
        self.forward_to(x);
    }

    /// The kernel choice of [`Ramp::forward`] and [`Ramp::forward_inplace`].
    fn forward_to<T: Float>(&self, out: impl UnaryOut<T>) {
        if self.is_relu() {
            return out.relu();
        }
        let p = self.params::<T>();
        match (p.a_zero, p.cap) {
            (true, true) => match (AboveBits16::<true>::ramp(&p), CappedAbove::new(&p)) {
                (Some(k), _) => out.map(&k),
                (None, Some(k)) => out.map(&k),
                (None, None) => out.map(&RampForward::<T, false, true>(p)),
            },
            (true, false) => match AboveBits16::<false>::ramp(&p) {
                Some(k) => out.map(&k),
                None => out.map(&RampForward::<T, false, false>(p)),
            },
            (false, true) => out.product(&RampForward::<T, true, true>(p)),
            (false, false) if leaky_unit(&p) => out.product(&SlopedUnit(p.a)),
            (false, false) => out.product(&RampForward::<T, true, false>(p)),
        }
    }

    /// `dx = ramp'(x) * dy` as a select: `dy` on the linear part, `a * dy` below the
    /// threshold (`+0.0` if `a == 0`), `+0.0` above the cap and for NaN, and the `kink`
    /// rule exactly at `x == t` and `x == m`.
    ///
    /// # Panics
    /// If `x`, `dy` and `dx` differ in length.
    ///
    /// ```
    /// use rectify::{Kink, Ramp};
    /// let x = [0.0_f32, 0.0, 0.0];
    /// let dy = [1.0_f32; 3];
    /// let mut dx = [0.0_f32; 3];
    /// for (i, kink) in [Kink::Lower, Kink::Upper, Kink::Mid].into_iter().enumerate() {
    ///     Ramp::relu().backward(&x[i..i + 1], &dy[i..i + 1], &mut dx[i..i + 1], kink);
    /// }
    /// assert_eq!(dx, [0.0, 1.0, 0.5]);
    /// ```
    #[track_caller]
    pub fn backward<T: Float>(&self, x: &[T], dy: &[T], dx: &mut [T], kink: Kink) {
        check_len("x", x.len(), "dy", dy.len());
        check_len("dy", dy.len(), "dx", dx.len());
        self.backward_to((x, dy, dx), kink);
    }

    /// [`Ramp::backward`] writing `dx` over `dy`.
    ///
    /// # Panics
    /// If `x` and `dy` differ in length.
    ///
    /// ```
    /// use rectify::{Kink, Ramp};
    /// let mut g = [2.0_f32, 2.0];
    /// Ramp::relu6().backward_inplace(&[3.0, 7.0], &mut g, Kink::Lower);
    /// assert_eq!(g, [2.0, 0.0]);
    /// ```
    #[track_caller]
    pub fn backward_inplace<T: Float>(&self, x: &[T], dy: &mut [T], kink: Kink) {
        check_len("x", x.len(), "dy", dy.len());
        self.backward_to((x, dy), kink);
    }

    /// The kernel choice of [`Ramp::backward`] and [`Ramp::backward_inplace`].
    fn backward_to<T: Float>(&self, out: impl BinaryOut<T>, kink: Kink) {
        if self.is_relu() && kink == Kink::Lower {
            return out.relu_backward();
        }
        let p = self.params::<T>();
        match (ramp_backward_multiplies(&p, kink), p.cap) {
            (true, true) => ramp_backward_product::<T, true>(out, p, kink),
            (true, false) if LeakyBackward::fits(&p, kink) => out.product(&LeakyBackward(p.a)),
            (true, false) => ramp_backward_product::<T, false>(out, p, kink),
            (false, true) => match RampBackwardBits16::<true>::new(&p, kink) {
                Some(k) => out.map(&k),
                None => out.map(&RampBackward::<T, false, true>::new(p, kink)),
            },
            (false, false) => match RampBackwardBits16::<false>::new(&p, kink) {
                Some(k) => out.map(&k),
                None => out.map(&RampBackward::<T, false, false>::new(p, kink)),
            },
        }
    }

    /// The backward from the output `y = ramp(x)`, with [`Kink::Lower`]; bitwise equal to
    /// [`Ramp::backward`] from `x`.
    ///
    /// # Errors
    /// [`Error::NotInvertibleFromOutput`] when `y` cannot tell the pieces apart: a negative
    /// slope or a negative threshold.
    ///
    /// # Panics
    /// If `y`, `dy` and `dx` differ in length.
    ///
    /// ```
    /// use rectify::Ramp;
    /// let leaky = Ramp::leaky(0.5)?;
    /// let mut y = [-4.0_f32, 4.0];
    /// leaky.forward_inplace(&mut y);
    /// let mut dx = [0.0_f32; 2];
    /// leaky.backward_from_output(&y, &[1.0, 1.0], &mut dx)?;
    /// assert_eq!(dx, [0.5, 1.0]);
    /// assert!(Ramp::leaky(-0.5)?.backward_from_output(&y, &[1.0, 1.0], &mut dx).is_err());
    /// # Ok::<(), rectify::Error>(())
    /// ```
    #[track_caller]
    pub fn backward_from_output<T: Float>(&self, y: &[T], dy: &[T], dx: &mut [T]) -> Result<(), Error> {
        self.check_from_output()?;
        check_len("y", y.len(), "dy", dy.len());
        check_len("dy", dy.len(), "dx", dx.len());
        self.backward_from_output_to((y, dy, dx));
        Ok(())
    }

    /// [`Ramp::backward_from_output`] writing `dx` over `dy`.
    ///
    /// # Errors
    /// As [`Ramp::backward_from_output`].
    ///
    /// # Panics
    /// If `y` and `dy` differ in length.
    ///
    /// ```
    /// use rectify::Ramp;
    /// let mut a = [-1.0_f32, 3.0, 8.0];
    /// Ramp::relu6().forward_inplace(&mut a); // [0, 3, 6]: only the output is kept
    /// let mut g = [1.0_f32; 3];
    /// Ramp::relu6().backward_from_output_inplace(&a, &mut g)?;
    /// assert_eq!(g, [0.0, 1.0, 0.0]);
    /// # Ok::<(), rectify::Error>(())
    /// ```
    #[track_caller]
    pub fn backward_from_output_inplace<T: Float>(&self, y: &[T], dy: &mut [T]) -> Result<(), Error> {
        self.check_from_output()?;
        check_len("y", y.len(), "dy", dy.len());
        self.backward_from_output_to((y, dy));
        Ok(())
    }

    /// The kernel choice of [`Ramp::backward_from_output`] and its in-place twin (the
    /// parameters already checked).
    fn backward_from_output_to<T: Float>(&self, out: impl BinaryOut<T>) {
        let p = self.params::<T>();
        match (p.a_zero, p.cap) {
            (true, true) => match RampBackwardBits16::<true>::from_output(&p) {
                Some(k) => out.map(&k),
                None => out.map(&RampBackwardFromOutput::<T, false, true>(p)),
            },
            (true, false) => match RampBackwardBits16::<false>::from_output(&p) {
                Some(k) => out.map(&k),
                None => out.map(&RampBackwardFromOutput::<T, false, false>(p)),
            },
            (false, true) => out.product(&RampBackwardFromOutput::<T, true, true>(p)),
            (false, false) if LeakyBackward::fits_from_output(&p) => out.product(&LeakyBackward(p.a)),
            (false, false) => out.product(&RampBackwardFromOutput::<T, true, false>(p)),
        }
    }

    /// The forward of one value, with the same bits as the slice functions.
    ///
    /// ```
    /// use rectify::Ramp;
    /// assert_eq!(Ramp::relu6().eval(7.5_f64), 6.0);
    /// ```
    pub fn eval<T: Float>(&self, x: T) -> T {
        RampForward::<T, true, true>(self.params::<T>()).apply(x)
    }

    /// The backward of one value: `dx` for input `x` and upstream `dy`.
    ///
    /// ```
    /// use rectify::{Kink, Ramp};
    /// assert_eq!(Ramp::relu().derivative(0.0_f64, 1.0, Kink::Mid), 0.5);
    /// ```
    pub fn derivative<T: Float>(&self, x: T, dy: T, kink: Kink) -> T {
        RampBackward::<T, true, true>::new(self.params::<T>(), kink).apply(x, dy)
    }
}

/// PyTorch's `threshold`: `y = x > th ? x : value`, NaN unchanged. `th` and `value` are
/// rounded to the dtype.
///
/// # Errors
/// [`Error::NonFinite`] for a NaN `th` (an infinite one is allowed; a NaN `value` is
/// allowed too, it is data).
///
/// # Panics
/// If `x` and `y` differ in length.
///
/// ```
/// let mut y = [0.0_f32; 3];
/// rectify::threshold(&[0.5, 1.0, 2.0], 1.0, -1.0, &mut y)?;
/// assert_eq!(y, [-1.0, -1.0, 2.0]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[track_caller]
pub fn threshold<T: Float>(x: &[T], th: f64, value: f64, y: &mut [T]) -> Result<(), Error> {
    let k = threshold_kernel::<T>(th, value)?;
    check_len("x", x.len(), "y", y.len());
    match AboveBits16::threshold(T::from_f64(th), T::from_f64(value)) {
        Some(bits) => run::unary(&bits, x, y),
        None => run::unary(&k, x, y),
    }
    Ok(())
}

/// [`threshold`] in place.
///
/// # Errors
/// As [`threshold`].
pub fn threshold_inplace<T: Float>(x: &mut [T], th: f64, value: f64) -> Result<(), Error> {
    let k = threshold_kernel::<T>(th, value)?;
    match AboveBits16::threshold(T::from_f64(th), T::from_f64(value)) {
        Some(bits) => run::unary_inplace(&bits, x),
        None => run::unary_inplace(&k, x),
    }
    Ok(())
}

fn threshold_kernel<T: Float>(th: f64, value: f64) -> Result<Threshold<T>, Error> {
    if th.is_nan() {
        return Err(Error::NonFinite { name: "threshold", value: th });
    }
    Ok(Threshold { th: T::from_f64(th).key(), value: T::from_f64(value) })
}

/// The backward of [`threshold`]: `dx = x > th ? dy : +0.0`.
///
/// # Errors
/// [`Error::NonFinite`] for a NaN `th`.
///
/// # Panics
/// If `x`, `dy` and `dx` differ in length.
///
/// ```
/// let mut dx = [9.0_f32; 2];
/// rectify::threshold_backward(&[0.5, 2.0], 1.0, &[1.0, 1.0], &mut dx)?;
/// assert_eq!(dx, [0.0, 1.0]);
/// # Ok::<(), rectify::Error>(())
/// ```
#[track_caller]
pub fn threshold_backward<T: Float>(x: &[T], th: f64, dy: &[T], dx: &mut [T]) -> Result<(), Error> {
    if th.is_nan() {
        return Err(Error::NonFinite { name: "threshold", value: th });
    }
    check_len("x", x.len(), "dy", dy.len());
    check_len("dy", dy.len(), "dx", dx.len());
    run::binary(&ThresholdBackward(T::from_f64(th).key()), x, dy, dx);
    Ok(())
}

/// CReLU (TensorFlow `crelu` on the last axis): each row of `n` elements of `x` becomes a
/// row of `2n` in `y`, `[relu(x), relu(-x)]`, `-x` being a sign flip (so a NaN comes out
/// twice, once with its sign flipped).
///
/// # Panics
/// If `n == 0` with a non-empty `x`, if `x.len()` is not a multiple of `n`, or if
/// `y.len() != 2 * x.len()`.
///
/// ```
/// let x = [1.0_f32, -2.0, /* row 2 */ -3.0, 4.0];
/// let mut y = [0.0_f32; 8];
/// rectify::crelu(&x, 2, &mut y);
/// assert_eq!(y, [1.0, 0.0, 0.0, 2.0, /* row 2 */ 0.0, 4.0, 3.0, 0.0]);
/// ```
#[track_caller]
pub fn crelu<T: Float>(x: &[T], n: usize, y: &mut [T]) {
    check_rows(x.len(), n);
    check_len("2 * x", 2 * x.len(), "y", y.len());
    if x.is_empty() {
        return;
    }
    for (x, y) in x.chunks_exact(n).zip(y.chunks_exact_mut(2 * n)) {
        let (pos, neg) = y.split_at_mut(n);
        run::unary(&Relu, x, pos);
        run::unary(&NegRelu, x, neg);
    }
}

/// The backward of [`crelu`]: with `dy` rows of `2n` as `[dy_pos, dy_neg]`,
/// `dx = dy_pos` where `x > 0`, `-dy_neg` where `x < 0`, `+0.0` at 0 and for NaN.
///
/// # Panics
/// As [`crelu`], with `dy` in place of `y` and `dx.len() == x.len()`.
///
/// ```
/// let mut dx = [0.0_f32; 2];
/// rectify::crelu_backward(&[1.0, -2.0], 2, &[10.0, 20.0, 30.0, 40.0], &mut dx);
/// assert_eq!(dx, [10.0, -40.0]);
/// ```
#[track_caller]
pub fn crelu_backward<T: Float>(x: &[T], n: usize, dy: &[T], dx: &mut [T]) {
    check_rows(x.len(), n);
    check_len("2 * x", 2 * x.len(), "dy", dy.len());
    check_len("x", x.len(), "dx", dx.len());
    if x.is_empty() {
        return;
    }
    for ((x, dy), dx) in x.chunks_exact(n).zip(dy.chunks_exact(2 * n)).zip(dx.chunks_exact_mut(n)) {
        let (pos, neg) = dy.split_at(n);
        run::ternary(&CreluBackward, x, pos, neg, dx);
    }
}

#[track_caller]
pub(crate) fn check_rows(len: usize, n: usize) {
    if len == 0 {
        return;
    }
    assert!(n > 0 && len.is_multiple_of(n), "length mismatch: {len} elements do not form rows of {n}");
}

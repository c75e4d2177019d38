//! RReLU: a random slope per element while training, the mean slope in evaluation.

use crate::element::{Compute, Float};
use crate::error::{Error, check_len};
use crate::kernels::{LOWER, MID, SlopedBy, SlopedByBackward, UPPER};
use crate::op::{Kink, Ramp, finite};
use crate::run;

/// Randomized leaky ReLU (Xu et al. 2015; PyTorch `RReLU`). In training, each element's
/// slope is drawn uniformly from `[lower, upper]`; in evaluation the slope is their mean.
///
/// The draws are counter-based: the slope of element `i` depends only on `(seed, i)`, so a
/// seed reproduces a run bit for bit on every thread count and instruction set.
///
/// ```
/// use rectify::Rrelu;
/// let rrelu = Rrelu::new(0.1, 0.3)?;
/// let x = [-1.0_f32, 2.0, -3.0];
/// let (mut y, mut slopes) = ([0.0_f32; 3], [0.0_f32; 3]);
/// rrelu.forward_train(&x, &mut y, &mut slopes, 42);
/// assert!(slopes.iter().all(|&a| (0.1..=0.3).contains(&a)));
/// assert_eq!(y[0], -slopes[0]);
/// assert_eq!(y[1], 2.0);
///
/// let mut e = [0.0_f32; 3];
/// rrelu.forward_eval(&x, &mut e);
/// assert_eq!(e[0], -0.2);
/// # Ok::<(), rectify::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rrelu {
    lower: f64,
    upper: f64,
}

impl Default for Rrelu {
    /// PyTorch's defaults, `lower = 1/8`, `upper = 1/3`.
    fn default() -> Self {
        Rrelu { lower: 1.0 / 8.0, upper: 1.0 / 3.0 }
    }
}

impl Rrelu {
    /// Errors: a non-finite bound, or `lower > upper`.
    pub fn new(lower: f64, upper: f64) -> Result<Rrelu, Error> {
        finite("lower", lower)?;
        finite("upper", upper)?;
        if lower > upper {
            return Err(Error::EmptyRange { lower, upper });
        }
        Ok(Rrelu { lower, upper })
    }

    /// The lower bound.
    pub fn lower(&self) -> f64 {
        self.lower
    }

    /// The upper bound.
    pub fn upper(&self) -> f64 {
        self.upper
    }

    /// The leaky ReLU used in evaluation, slope `(lower + upper) / 2`.
    pub fn eval_ramp(&self) -> Ramp {
        Ramp::leaky((self.lower + self.upper) / 2.0).expect("the mean of two finite bounds is finite")
    }

    /// Writes the slope of each element: `slopes[i]` is the draw for element
    /// `first_index + i` (uniform in `[lower, upper]`, computed in the compute type and
    /// rounded to the dtype).
    pub fn draw_slopes<T: Float>(&self, seed: u64, first_index: u64, slopes: &mut [T]) {
        let lo = <T::C as Compute>::from_f64(self.lower);
        let span = <T::C as Compute>::from_f64(self.upper) - lo;
        for (i, a) in slopes.iter_mut().enumerate() {
            let u = <T::C as Compute>::from_f64(unit_interval(seed, first_index + i as u64));
            *a = T::narrow(lo + span * u);
        }
    }

    /// Training forward: draws the slopes into `slopes` and writes
    /// `y = x > 0 ? x : slopes[i] * x` (NaN kept).
    ///
    /// # Panics
    /// If `x`, `y` and `slopes` differ in length.
    #[track_caller]
    pub fn forward_train<T: Float>(&self, x: &[T], y: &mut [T], slopes: &mut [T], seed: u64) {
        check_len("x", x.len(), "y", y.len());
        check_len("x", x.len(), "slopes", slopes.len());
        self.draw_slopes(seed, 0, slopes);
        run::product_select(&SlopedBy, x, slopes, y);
    }

    /// Evaluation forward: leaky ReLU with slope `(lower + upper) / 2`.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    #[track_caller]
    pub fn forward_eval<T: Float>(&self, x: &[T], y: &mut [T]) {
        self.eval_ramp().forward(x, y);
    }

    /// Training backward with the slopes the forward drew: `dx = dy` for `x > 0`,
    /// `slopes[i] * dy` for `x < 0`, the `kink` rule at 0, `+0.0` for NaN.
    ///
    /// # Panics
    /// If `x`, `slopes`, `dy` and `dx` differ in length.
    ///
    /// ```
    /// use rectify::{Kink, Rrelu};
    /// let rrelu = Rrelu::default();
    /// let x = [-2.0_f32, 3.0];
    /// let (mut y, mut slopes) = ([0.0_f32; 2], [0.0_f32; 2]);
    /// rrelu.forward_train(&x, &mut y, &mut slopes, 7);
    /// let mut dx = [0.0_f32; 2];
    /// rrelu.backward_train(&x, &slopes, &[1.0, 1.0], &mut dx, Kink::Lower);
    /// assert_eq!(dx, [slopes[0], 1.0]);
    /// ```
    #[track_caller]
    pub fn backward_train<T: Float>(&self, x: &[T], slopes: &[T], dy: &[T], dx: &mut [T], kink: Kink) {
        check_len("x", x.len(), "slopes", slopes.len());
        check_len("x", x.len(), "dy", dy.len());
        check_len("dy", dy.len(), "dx", dx.len());
        match kink {
            Kink::Lower => run::ternary(&SlopedByBackward::<LOWER>, x, slopes, dy, dx),
            Kink::Upper => run::ternary(&SlopedByBackward::<UPPER>, x, slopes, dy, dx),
            Kink::Mid => run::ternary(&SlopedByBackward::<MID>, x, slopes, dy, dx),
        }
    }

    /// Evaluation backward (the leaky ReLU's).
    ///
    /// # Panics
    /// If `x`, `dy` and `dx` differ in length.
    #[track_caller]
    pub fn backward_eval<T: Float>(&self, x: &[T], dy: &[T], dx: &mut [T], kink: Kink) {
        self.eval_ramp().backward(x, dy, dx, kink);
    }
}

/// A uniform draw in `[0, 1)` with 24 random bits (exact in f32), from a SplitMix64 hash of
/// `(seed, index)`.
pub(crate) fn unit_interval(seed: u64, index: u64) -> f64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 40) as f64 * (1.0 / (1u64 << 24) as f64)
}

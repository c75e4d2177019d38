//! The one error type: every bad parameter, caught when it is given.

use core::fmt;

/// What went wrong with the parameters of an op. Length mismatches are not errors but
/// panics (as with `copy_from_slice`): they are bugs in the caller, not data.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter that must be finite was NaN or infinite.
    NonFinite {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// `max_value` must be greater than `threshold` (and not NaN).
    CapNotAboveThreshold {
        /// The threshold given.
        threshold: f64,
        /// The cap given.
        max_value: f64,
    },
    /// The RReLU range must satisfy `lower <= upper`.
    EmptyRange {
        /// The lower bound given.
        lower: f64,
        /// The upper bound given.
        upper: f64,
    },
    /// A parameter outside the values it may take (a quantization scale <= 0, a zero point
    /// outside the integer type, an integer cap <= 0, ...).
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given, as text.
        value: String,
        /// What it must be.
        expected: &'static str,
    },
    /// The backward cannot be computed from the output for these parameters or this kink:
    /// the output does not tell the needed inputs apart.
    NotInvertibleFromOutput {
        /// Why, in words.
        reason: &'static str,
    },
    /// A forced instruction-set level is not available on this CPU.
    IsaUnavailable {
        /// The level asked for.
        isa: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NonFinite { name, value } => {
                write!(f, "parameter `{name}` must be finite, got {value}")
            }
            Error::CapNotAboveThreshold { threshold, max_value } => write!(
                f,
                "max_value must be greater than threshold, got max_value = {max_value} and threshold = {threshold}"
            ),
            Error::EmptyRange { lower, upper } => {
                write!(f, "the slope range must have lower <= upper, got lower = {lower} and upper = {upper}")
            }
            Error::OutOfRange { name, value, expected } => {
                write!(f, "parameter `{name}` must be {expected}, got {value}")
            }
            Error::NotInvertibleFromOutput { reason } => {
                write!(f, "backward from the output is not defined here: {reason}")
            }
            Error::IsaUnavailable { isa } => {
                write!(f, "instruction-set level {isa} is not available on this CPU")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Panics with a message naming both lengths, the way `copy_from_slice` does.
#[track_caller]
#[inline]
pub(crate) fn check_len(what_a: &str, a: usize, what_b: &str, b: usize) {
    if a != b {
        len_mismatch(what_a, a, what_b, b);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn len_mismatch(what_a: &str, a: usize, what_b: &str, b: usize) -> ! {
    panic!("length mismatch: {what_a} has {a} elements but {what_b} has {b}")
}

//! The kernel tests: one binary, every op against `rectify::reference`, bit for bit, on every
//! instruction-set level this CPU has.
//!
//! `RECTIFY_REQUIRE_ISA=v3` (or `v4`) fails the run if that level is not available here, so
//! a CI machine that should have it proves that it ran.

mod common;
mod edge;
mod exhaustive;
#[cfg(feature = "ndarray")]
mod ndarray_ext;
mod props;
mod sweep;

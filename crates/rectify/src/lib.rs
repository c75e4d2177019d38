//! # rectify: the ReLU family, exact and fast
//!
//! Forward and backward of ReLU and its relatives — leaky, ReLU6 / clipped, thresholded,
//! PReLU, RReLU, `threshold`, CReLU and the general [`Ramp`] — over slices of `f32`, `f64`,
//! [`half::f16`], [`half::bf16`] and integers. Every path (each instruction-set level, each
//! thread count, in place or not) gives the same bits as a one-line scalar definition of
//! the contract below, and the tests prove it, exhaustively where the domain allows.
//!
//! ```
//! let x = [-1.5_f32, -0.0, 0.0, 2.0, f32::NAN];
//! let mut y = [0.0_f32; 5];
//! rectify::relu(&x, &mut y);
//! assert_eq!(&y[..4], &[0.0, 0.0, 0.0, 2.0]);
//! assert!(y[1].is_sign_positive()); // relu(-0.0) = +0.0
//! assert!(y[4].is_nan());           // NaN in, the same NaN out
//!
//! let dy = [1.0_f32; 5];
//! let mut dx = [0.0_f32; 5];
//! rectify::relu_backward(&x, &dy, &mut dx);
//! assert_eq!(dx, [0.0, 0.0, 0.0, 1.0, 0.0]); // 0 at the kink, 0 for NaN
//! ```
//!
//! ## The contract
//!
//! `Ramp { negative_slope: a, threshold: t, max_value: m }` covers the family:
//!
//! | input `x` | forward | backward `dx` |
//! |---|---|---|
//! | NaN | `x`, same bits | `+0.0` |
//! | `x > m` | `m` | `+0.0` |
//! | `x == m` | `m` | kink rule between 1 and 0 |
//! | `t < x < m` | `x` | `dy` |
//! | `x == t` | `a * (x - t)` (`+0.0` if `a == 0`) | kink rule between `a` and 1 |
//! | `x < t` | `a * (x - t)` (`+0.0` if `a == 0`) | `a * dy` (`+0.0` if `a == 0`) |
//!
//! - `relu(-0.0) = +0.0`, as JAX, NumPy `maximum(x, 0)`, ONNX and burn (PyTorch eager and
//!   TensorFlow give `-0.0`).
//! - NaN is never swallowed by a forward op (candle's CPU ReLU, oneDNN and cuDNN have all
//!   shipped kernels that map NaN to 0).
//! - Backward masks **select**: a masked position is `+0.0` even when `dy` is NaN or
//!   infinite (as PyTorch and JAX; TensorFlow and candle multiply and leak NaN).
//! - At a kink the [`Kink`] rule decides: `Lower` (default, = PyTorch/TF/JAX), `Upper`, `Mid`.
//! - No flush-to-zero: subnormals are ordinary numbers.
//! - f16 and bf16 compute in f32 and round once (to nearest, ties to even). `t` and `m` are
//!   rounded to the dtype, the slope `a` to the compute type.
//!
//! ## The ops
//!
//! | op | functions |
//! |---|---|
//! | ReLU | [`relu`], [`relu_inplace`], [`relu_backward`], [`relu_backward_inplace`], [`relu_backward_from_output`] |
//! | ReLU with a 1-bit mask | [`relu_with_mask`], [`relu_inplace_with_mask`], [`relu_backward_from_mask`], [`ReluMask`] |
//! | fused bias + ReLU | [`bias_relu`] |
//! | leaky, ReLU6, clipped, thresholded, general | [`Ramp`]: [`Ramp::forward`], [`Ramp::backward`], [`Ramp::backward_from_output`] |
//! | PReLU | [`prelu()`], [`prelu_inplace`], [`prelu_backward`] with [`ChannelLayout`] |
//! | RReLU | [`Rrelu`] |
//! | threshold | [`threshold`], [`threshold_backward`] |
//! | CReLU | [`crelu`], [`crelu_backward`] |
//! | integers | [`relu`] for `i8..i64`, `u8..u64`; [`int::clipped_relu`] |
//! | quantized `u8`/`i8` | [`int::quantized_relu`], [`int::quantized_relu6`] |
//! | ndarray | [`ndarray_ext::RectifyExt`] (feature `ndarray`) |
//!
//! ## Errors and panics
//!
//! Parameters are validated when they are given: a NaN slope, `max_value <= threshold`,
//! an empty RReLU range, a quantization scale `<= 0` are an [`Error`], never a panic
//! later. Slices of different lengths are a bug in the caller and panic with a message
//! naming both lengths, as `copy_from_slice` does (each function's `# Panics` says which).
//!
//! ## Instruction sets
//!
//! | level | x86-64 features | how it is chosen |
//! |---|---|---|
//! | `scalar` | the build's baseline (SSE2) | always available; also every non-x86 target |
//! | `v3` | AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE (x86-64-v3) | detected at run time, once |
//! | `v4` | v3 + AVX-512 F/BW/CD/DQ/VL (x86-64-v4) | detected at run time, once |
//!
//! Each op is written once, branch-free, in `kernels.rs`; the drivers in `arch/` are
//! compiled once per level under that level's `#[target_feature]`, where LLVM turns the
//! selects into vector compares and blends (f16 and bf16 compares stay in 16-bit lanes).
//! An op that multiplies is split in two: its product, written once over a private lane
//! trait (a plain `f32`/`f64`, or 16 f32 lanes in two AVX registers or one AVX-512
//! register), and its selects. For f16 and bf16 the v3 and v4 drivers widen 16 lanes at a
//! time in registers (F16C's instructions, on 8 lanes at v3 and 16 at v4; a shift for
//! bf16), compute the product in f32, round it once (the same instructions; integer
//! rounding for bf16, or on v4 where the CPU has AVX-512 BF16 its `vcvtneps2bf16`, which
//! gives the same bits except for denormal inputs, which it reads as zero: 16 lanes with
//! one among them take the integer rounding) and then select on the 16-bit lanes (in mask
//! registers on v4). On v4 with AVX-512 FP16, f16 ops whose product is an input times an
//! f16 value (the leaky and PReLU forward with such a slope in (0, 1], their backward with
//! any such slope; 128 elements or more) multiply in f16 itself, 32 lanes a `vmulph`: that
//! product is exact in f32, so the f32 route rounds it once, as `vmulph` does. With AVX-512
//! BF16, the same bf16 ops (the slope need not be a bf16 value) take 32 raw lanes a step: the even lanes widen by a
//! shift and the odd ones by an `and`, both halves round in one `vcvtne2ps2bf16` and go
//! back into lane order in one `vpermw` (a step with a denormal product rounds with
//! integer arithmetic). Both 32-lane bodies read each vector before they write it, so in
//! place they run straight over the array. Where LLVM's code falls short, the element types
//! carry explicit AVX2 bodies: the 1-bit mask (`movemask`, variable shifts) and ReLU in
//! place (plain stores where LLVM would emit slow masked ones; v3's other in-place drivers
//! go through a small buffer for the same reason). On v4 the float types' mask bodies are
//! AVX-512's own: a compare writes the bits to a mask register, and the bits load `dy`
//! with zeroing, one instruction a vector; f32/f64 ReLU out of place in L1 is one
//! `vfixupimm` a vector (the input's class picks pass-through or +0.0); in place, LLVM
//! selects in mask registers and stores whole vectors, so the drivers write straight back.
//! Out-of-place drivers first write the few elements before the output's first cache
//! line, so that no vector store straddles two lines (a straddling 64-byte store costs
//! two). Out-of-place outputs beyond the last-level cache (where the arrays of a call add up
//! to 64 MiB: an output of 32 MiB from one input, 21.3 MiB from two; on AMD CPUs from 24
//! MiB, where 24 MiB of a 32 MiB L3 already streamed faster) go out with non-temporal
//! stores, the mask ops included, in whole cache lines and in the order that streams
//! fastest on the machine (PReLU's backward streams the `dx` of f32 and f64 channel-first
//! planes in the order of its walk; its 16-bit planes are bound by their arithmetic). On
//! Intel that is the order glibc's `memcpy` uses for large copies: four 4 KiB spans of the
//! output side by side, 256 bytes of each in turn (`./scripts/bench`'s streaming copies on
//! the AVX-512 Xeon: 1.45x the in-order stream at 16M f32 elements, 1.09x at 256M);
//! in-place arrays from 4 MiB are walked in that order too. There every streaming driver
//! but ReLU's own and the backward from the mask (one compare a vector), and the 16-bit ops
//! that multiply in place, prefetch their inputs one group of spans ahead, so that the
//! compute of one step does not hold up the loads of the next (at 64M elements: f16 leaky
//! 0.57x -> 1.0x of the copy, the f32 ramp backward with the `Mid` kink 0.79x -> 0.93x, f16
//! ReLU with mask 0.82x -> 0.98x). On AMD the walk is in order and prefetches nothing: on
//! the AMD EPYC (Zen 4) the four spans streamed at 0.78-0.80x of the in-order copy, and the
//! prefetches held the two-input ops back (the f32 ReLU backward at 256M 0.70-0.74x of the
//! copy with them, 0.93-0.94x without).
//! Calls on at most 256 bytes an array skip the dispatch and run the portable loop inline (a
//! few ns for 16 f32). Nothing of this changes a bit of any result: the tests run every
//! level against the same reference.
//!
//! The best level is detected on the first call and cached; `RECTIFY_ISA=scalar|v3|v4`
//! forces one (a level the CPU lacks falls back to the best, with a warning on stderr);
//! [`with_isa`] forces one for a closure (tests use it to run every level). [`isa`] reports
//! the level in use and [`kernel_path`] what runs for a dtype. On aarch64 the `scalar`
//! level is compiled with NEON (the target's baseline); it is not tested on this project's
//! machines.
//!
//! ## Threads
//!
//! [`Par`] says how many threads a call may use; [`set_default_par`] sets the process-wide
//! default (initially `RECTIFY_NUM_THREADS`, clamped to the cores, or one per core) and
//! [`with_par`] overrides it for a closure. A call splits only when each thread gets at
//! least [`par::MIN_BYTES_PER_THREAD`] of its largest array; an in-place call (ReLU, its
//! backward, the family ops, PReLU, the backward from the mask, `bias_relu`) eight times
//! that, since its array is usually still cached, and on AMD CPUs never, since one core
//! already saturates in-place traffic there. Results are bitwise identical for every
//! thread count.
//!
//! ## Features
//!
//! - `ndarray`: the [`ndarray_ext::RectifyExt`] trait for ndarray 0.17 arrays.
//!
//! ## How it is tested
//!
//! `reference` holds the contract as one-line scalar functions with plain branches. The
//! integration tests run every op and dtype on every level the CPU has, at every length up
//! to `3 * 64 + 1`, every start offset up to 64, in place and out of place, every kink and
//! several thread counts, and compare bits; every f16 and bf16 pattern goes through every
//! op; every one of the 2^32 f32 patterns through `relu` and its backward; the edge-case
//! table of the contract is written out bit by bit; the invariants are property tests.
//! `RECTIFY_REQUIRE_ISA=v3` (or `v4`) makes the run fail if that level could not be tested.

#![deny(missing_docs)]

mod arch;
mod dispatch;
mod element;
mod error;
mod family;
pub mod int;
mod kernels;
mod mask;
#[cfg(feature = "ndarray")]
pub mod ndarray_ext;
mod op;
pub mod par;
mod prelu;
#[doc(hidden)]
pub mod reference;
mod rrelu;
mod run;

pub use half::{bf16, f16};

pub use dispatch::{Isa, isa, kernel_path, with_isa};
pub use element::{Compute, DType, Element, Float, Int};
pub use error::Error;
pub use family::{
    crelu, crelu_backward, relu, relu_backward, relu_backward_from_output, relu_backward_inplace, relu_inplace,
    threshold, threshold_backward, threshold_inplace,
};
pub use mask::{
    ReluMask, bias_relu, relu_backward_from_mask, relu_backward_from_mask_inplace, relu_inplace_with_mask,
    relu_with_mask,
};
pub use op::{Kink, Ramp};
pub use par::{Par, current_par, default_par, set_default_par, with_par};
pub use prelu::{
    ChannelLayout, PRELU_SUM_BLOCK, PRELU_SUM_LANES, prelu, prelu_backward, prelu_inplace, reference_weight_grad,
};
pub use rrelu::Rrelu;
#[doc(hidden)]
pub use run::{with_stream_spans, with_stream_threshold};

//! # rectify-lab: why ReLU won, measured
//!
//! A small, real MLP trainer on [`ndarray`]'s matrix product in which every activation
//! forward and backward goes through the [`rectify`] kernels (the fused `bias_relu` with its
//! 1-bit mask for ReLU layers, [`rectify::Ramp`] for leaky and ReLU6, [`rectify::prelu`] with
//! learned slopes); sigmoid and tanh are written here. Softmax cross-entropy, SGD with
//! momentum and Adam, He and Glorot init, mini-batches. One seed fixes a run bit for bit:
//! the lab has its own generator ([`rng`]), and neither ndarray's product (single-threaded
//! here) nor the rectify kernels (identical bits for any thread count) depend on threads.
//!
//! The experiments ([`experiment`](mod@experiment)) return plain serde structs, shared by the `rectify`
//! command, the tests and the docs. The figures ([`plot`]) are SVG and PNG, byte-identical
//! across runs, text drawn from an embedded font.
//!
//! Data ([`data`]): the UCI optical digits as shipped by scikit-learn (embedded, see
//! `data/NOTICE.md`), the two spirals from a seed, or any CSV `features...,label`.

pub mod bench;
pub mod data;
pub mod experiment;
pub mod net;
pub mod plot;
pub mod rng;
pub mod table;

pub use data::{DataError, DataSource, Dataset};
pub use experiment::{ExperimentResult, LabError, Progress, RunResult, TrainConfig, experiment};
pub use net::{Activation, Init, Mlp, OptimizerKind};

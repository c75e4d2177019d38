//! The MLP: dense layers on ndarray's matrix product, every activation forward and backward
//! through the rectify kernels (sigmoid and tanh are written here), softmax cross-entropy,
//! SGD with momentum and Adam.

use std::time::{Duration, Instant};

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rectify::{ChannelLayout, Kink, Ramp, ReluMask};
use serde::Serialize;

use crate::rng::Rng;

/// The element types the lab trains in: `f32` (the experiments) and `f64` (the gradient check).
pub trait Real:
    rectify::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Default
    + PartialOrd
    + core::ops::AddAssign
    + core::ops::SubAssign
    + core::ops::MulAssign
    + core::ops::Neg<Output = Self>
{
    /// From `f64`, rounded.
    fn of(v: f64) -> Self;
    /// To `f64`, exactly.
    fn f64(self) -> f64;
    /// `e^x`.
    fn exp(self) -> Self;
    /// `tanh(x)`.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            fn of(v: f64) -> Self {
                v as $t
            }
            fn f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
        }
    };
}
real!(f32);
real!(f64);

/// The negative slope of the lab's leaky ReLU (PyTorch's default).
pub const LEAKY_SLOPE: f64 = 0.01;
/// The initial PReLU slope (He et al. 2015).
pub const PRELU_INIT: f64 = 0.25;

/// The activation of the hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(x, 0)`: the fused `rectify::bias_relu` with the 1-bit mask.
    Relu,
    /// Leaky ReLU with slope [`LEAKY_SLOPE`]: `rectify::Ramp::leaky`.
    Leaky,
    /// `min(max(x, 0), 6)`: `rectify::Ramp::relu6`.
    Relu6,
    /// PReLU with one learned slope per unit: `rectify::prelu` / `prelu_backward`.
    Prelu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

impl Activation {
    /// Every activation, in the order of the reports.
    pub const ALL: [Activation; 6] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Leaky,
        Activation::Relu6,
        Activation::Prelu,
    ];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Leaky => "leaky",
            Activation::Relu6 => "relu6",
            Activation::Prelu => "prelu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }

    /// Parses [`Activation::name`].
    pub fn from_name(s: &str) -> Option<Activation> {
        Activation::ALL.into_iter().find(|a| a.name() == s)
    }

    /// Whether it is of the ReLU family (He init by default, exact zeros possible).
    pub fn is_rectifier(self) -> bool {
        !matches!(self, Activation::Sigmoid | Activation::Tanh)
    }

    /// The init this lab uses by default: He for the ReLU family, Glorot for sigmoid and tanh.
    pub fn default_init(self) -> Init {
        if self.is_rectifier() { Init::He } else { Init::Glorot }
    }

    fn ramp(self) -> Ramp {
        match self {
            Activation::Leaky => Ramp::leaky(LEAKY_SLOPE).expect("a finite slope"),
            Activation::Relu6 => Ramp::clipped(6.0).expect("6 > 0"),
            _ => Ramp::relu(),
        }
    }
}

/// Weight initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// He et al. 2015: normal with variance `2 / fan_in`.
    He,
    /// Glorot and Bengio 2010: uniform on `±sqrt(6 / (fan_in + fan_out))`.
    Glorot,
}

impl Init {
    /// Parses `"he"` or `"glorot"`.
    pub fn from_name(s: &str) -> Option<Init> {
        match s {
            "he" => Some(Init::He),
            "glorot" => Some(Init::Glorot),
            _ => None,
        }
    }
}

/// One dense layer: `y = act(x W + b)`; its gradient has the same shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T> {
    /// `inputs x outputs`, row-major.
    pub w: Array2<T>,
    /// One bias per output.
    pub b: Array1<T>,
    /// PReLU slopes, one per output (empty for the other activations and the output layer).
    pub slope: Array1<T>,
}

impl<T: Real> Dense<T> {
    fn zeros_like(&self) -> Dense<T> {
        Dense {
            w: Array2::zeros(self.w.raw_dim()),
            b: Array1::zeros(self.b.len()),
            slope: Array1::zeros(self.slope.len()),
        }
    }

    fn tensors(&self) -> [&[T]; 3] {
        [
            self.w.as_slice().expect("row-major"),
            self.b.as_slice().expect("contiguous"),
            self.slope.as_slice().expect("contiguous"),
        ]
    }

    fn tensors_mut(&mut self) -> [&mut [T]; 3] {
        [
            self.w.as_slice_mut().expect("row-major"),
            self.b.as_slice_mut().expect("contiguous"),
            self.slope.as_slice_mut().expect("contiguous"),
        ]
    }
}

/// A multi-layer perceptron: hidden layers with one activation, then a linear output layer
/// whose logits go to a softmax.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp<T> {
    /// The hidden layers followed by the output layer.
    pub layers: Vec<Dense<T>>,
    /// The hidden layers' activation.
    pub act: Activation,
}

/// What the forward pass keeps for the backward pass, and the activation time.
#[derive(Debug)]
pub struct Cache<T> {
    /// The input of each layer: `x`, then each hidden layer's output.
    pub inputs: Vec<Array2<T>>,
    /// The pre-activations of the hidden layers (empty for ReLU, which keeps only masks).
    pub pre: Vec<Array2<T>>,
    /// The 1-bit masks of ReLU layers.
    pub masks: Vec<ReluMask>,
    /// Time spent in activation forward and backward calls.
    pub act_time: Duration,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache { inputs: Vec::new(), pre: Vec::new(), masks: Vec::new(), act_time: Duration::ZERO }
    }
}

fn flat<T>(a: &Array2<T>) -> &[T] {
    a.as_slice().expect("row-major")
}

fn flat_mut<T>(a: &mut Array2<T>) -> &mut [T] {
    a.as_slice_mut().expect("row-major")
}

impl<T: Real> Mlp<T> {
    /// `inputs -> hidden x depth -> classes`, initialised from `rng` with `init`.
    pub fn new(
        inputs: usize,
        width: usize,
        depth: usize,
        classes: usize,
        act: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Self {
        let mut layers = Vec::with_capacity(depth + 1);
        let mut fan_in = inputs;
        for l in 0..=depth {
            let fan_out = if l == depth { classes } else { width };
            let w = Array2::from_shape_fn((fan_in, fan_out), |_| {
                T::of(match init {
                    Init::He => rng.normal() * (2.0 / fan_in as f64).sqrt(),
                    Init::Glorot => {
                        let r = (6.0 / (fan_in + fan_out) as f64).sqrt();
                        rng.uniform_in(-r, r)
                    }
                })
            });
            let slope_len = if act == Activation::Prelu && l < depth { fan_out } else { 0 };
            layers.push(Dense { w, b: Array1::zeros(fan_out), slope: Array1::from_elem(slope_len, T::of(PRELU_INIT)) });
            fan_in = fan_out;
        }
        Mlp { layers, act }
    }

    /// The number of hidden layers.
    pub fn depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// A gradient of the same shape, all zeros.
    pub fn zeros_like(&self) -> Vec<Dense<T>> {
        self.layers.iter().map(Dense::zeros_like).collect()
    }

    /// The forward pass; returns the logits and fills `cache`.
    pub fn forward(&self, x: ArrayView2<'_, T>, cache: &mut Cache<T>) -> Array2<T> {
        let depth = self.depth();
        cache.inputs.clear();
        cache.pre.clear();
        cache.masks.resize_with(depth, ReluMask::default);
        let mut h = x.to_owned();
        for layer in &self.layers[..depth] {
            let mut z = h.dot(&layer.w);
            let t0 = Instant::now();
            let y = match self.act {
                Activation::Relu => {
                    let l = cache.inputs.len();
                    rectify::bias_relu(
                        flat_mut(&mut z),
                        layer.b.as_slice().expect("contiguous"),
                        Some(&mut cache.masks[l]),
                    );
                    z
                }
                act => {
                    z += &layer.b;
                    let mut y = Array2::zeros(z.raw_dim());
                    match act {
                        Activation::Leaky | Activation::Relu6 => act.ramp().forward(flat(&z), flat_mut(&mut y)),
                        Activation::Prelu => rectify::prelu(
                            flat(&z),
                            layer.slope.as_slice().expect("contiguous"),
                            ChannelLayout::Last,
                            flat_mut(&mut y),
                        ),
                        Activation::Sigmoid => y.zip_mut_with(&z, |y, &z| *y = T::one() / (T::one() + (-z).exp())),
                        Activation::Tanh => y.zip_mut_with(&z, |y, &z| *y = z.tanh()),
                        Activation::Relu => unreachable!(),
                    }
                    cache.pre.push(z);
                    y
                }
            };
            cache.act_time += t0.elapsed();
            cache.inputs.push(h);
            h = y;
        }
        let out = &self.layers[depth];
        let logits = h.dot(&out.w) + &out.b;
        cache.inputs.push(h);
        logits
    }

    /// The backward pass from `dlogits` (the gradient of the loss with respect to the logits)
    /// into `grads` (overwritten).
    pub fn backward(&self, cache: &mut Cache<T>, dlogits: Array2<T>, grads: &mut [Dense<T>]) {
        let depth = self.depth();
        let mut d = dlogits;
        for l in (0..=depth).rev() {
            let layer = &self.layers[l];
            if l < depth {
                let t0 = Instant::now();
                match self.act {
                    Activation::Relu => rectify::relu_backward_from_mask_inplace(&cache.masks[l], flat_mut(&mut d)),
                    Activation::Leaky | Activation::Relu6 => {
                        self.act.ramp().backward_inplace(flat(&cache.pre[l]), flat_mut(&mut d), Kink::Lower)
                    }
                    Activation::Prelu => {
                        let mut dz = Array2::zeros(d.raw_dim());
                        rectify::prelu_backward(
                            flat(&cache.pre[l]),
                            layer.slope.as_slice().expect("contiguous"),
                            ChannelLayout::Last,
                            flat(&d),
                            flat_mut(&mut dz),
                            grads[l].slope.as_slice_mut().expect("contiguous"),
                            Kink::Lower,
                        );
                        d = dz;
                    }
                    Activation::Sigmoid => d.zip_mut_with(&cache.inputs[l + 1], |d, &y| *d *= y * (T::one() - y)),
                    Activation::Tanh => d.zip_mut_with(&cache.inputs[l + 1], |d, &y| *d *= T::one() - y * y),
                }
                cache.act_time += t0.elapsed();
            }
            grads[l].w = cache.inputs[l].t().dot(&d);
            grads[l].b = d.sum_axis(Axis(0));
            if l > 0 {
                d = d.dot(&layer.w.t());
            }
        }
    }

    /// Mean softmax cross-entropy over the batch, its gradient in `grads`, and the number of
    /// correct predictions.
    pub fn loss_and_grads(
        &self,
        x: ArrayView2<'_, T>,
        y: &[usize],
        cache: &mut Cache<T>,
        grads: &mut [Dense<T>],
    ) -> (f64, usize) {
        let logits = self.forward(x, cache);
        let (loss, correct, dlogits) = softmax_cross_entropy(&logits, y);
        self.backward(cache, dlogits, grads);
        (loss, correct)
    }

    /// The predicted class of each row of `x`.
    pub fn predict(&self, x: ArrayView2<'_, T>) -> Vec<usize> {
        let logits = self.forward(x, &mut Cache::default());
        logits.rows().into_iter().map(|r| argmax(r.iter().copied())).collect()
    }
}

fn argmax<T: Real>(it: impl Iterator<Item = T>) -> usize {
    let mut best = (0, None::<T>);
    for (i, v) in it.enumerate() {
        if best.1.is_none_or(|b| v > b) {
            best = (i, Some(v));
        }
    }
    best.0
}

/// Mean softmax cross-entropy of `logits` against the classes `y`: `(loss, correct, dlogits)`.
pub fn softmax_cross_entropy<T: Real>(logits: &Array2<T>, y: &[usize]) -> (f64, usize, Array2<T>) {
    let n = logits.nrows();
    let inv_n = T::of(1.0 / n as f64);
    let mut d = logits.clone();
    let mut loss = 0.0;
    let mut correct = 0;
    for (mut row, &c) in d.rows_mut().into_iter().zip(y) {
        let m = row.iter().copied().fold(row[0], |a, b| if b > a { b } else { a });
        if argmax(row.iter().copied()) == c {
            correct += 1;
        }
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.iter().copied().fold(T::of(0.0), |a, b| a + b);
        loss -= (row[c] / s).ln().f64();
        row.mapv_inplace(|v| v / s);
        row[c] -= T::one();
        row.mapv_inplace(|v| v * inv_n);
    }
    (loss / n as f64, correct, d)
}

/// The optimizer and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `v = momentum * v + g; p -= lr * v` (plain SGD with `momentum = 0`).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        momentum: f64,
    },
    /// Adam (Kingma and Ba 2015) with bias correction.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Added to the root of the second moment.
        eps: f64,
    },
}

impl OptimizerKind {
    /// `"sgd"` (momentum 0), `"momentum"` (SGD with momentum 0.9) or `"adam"` with the
    /// learning rate `lr` (or the defaults 0.02, 0.01, 0.001).
    pub fn from_name(s: &str, lr: Option<f64>) -> Option<OptimizerKind> {
        match s {
            "sgd" => Some(OptimizerKind::Sgd { lr: lr.unwrap_or(0.02), momentum: 0.0 }),
            "momentum" => Some(OptimizerKind::Sgd { lr: lr.unwrap_or(0.01), momentum: 0.9 }),
            "adam" => Some(OptimizerKind::Adam { lr: lr.unwrap_or(0.001), beta1: 0.9, beta2: 0.999, eps: 1e-8 }),
            _ => None,
        }
    }
}

/// The optimizer's state for one network.
#[derive(Clone, Debug)]
pub struct Optimizer<T> {
    kind: OptimizerKind,
    m: Vec<Vec<T>>,
    v: Vec<Vec<T>>,
    t: i32,
}

impl<T: Real> Optimizer<T> {
    /// Fresh state for `net`.
    pub fn new(kind: OptimizerKind, net: &Mlp<T>) -> Self {
        let zeros: Vec<Vec<T>> =
            net.layers.iter().flat_map(|l| l.tensors().map(|s| vec![T::of(0.0); s.len()])).collect();
        Optimizer { kind, m: zeros.clone(), v: zeros, t: 0 }
    }

    /// One update of `net` by `grads`.
    pub fn step(&mut self, net: &mut Mlp<T>, grads: &[Dense<T>]) {
        self.t += 1;
        let params = net.layers.iter_mut().flat_map(|l| l.tensors_mut());
        let gs = grads.iter().flat_map(|g| g.tensors());
        for (((p, g), m), v) in params.zip(gs).zip(&mut self.m).zip(&mut self.v) {
            match self.kind {
                OptimizerKind::Sgd { lr, momentum } => {
                    let (lr, mu) = (T::of(lr), T::of(momentum));
                    if momentum == 0.0 {
                        p.iter_mut().zip(g).for_each(|(p, &g)| *p -= lr * g);
                    } else {
                        for ((p, &g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
                            *m = mu * *m + g;
                            *p -= lr * *m;
                        }
                    }
                }
                OptimizerKind::Adam { lr, beta1, beta2, eps } => {
                    let c1 = 1.0 - beta1.powi(self.t);
                    let c2 = 1.0 - beta2.powi(self.t);
                    let (b1, b2, eps) = (T::of(beta1), T::of(beta2), T::of(eps));
                    let step = T::of(lr * c2.sqrt() / c1);
                    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                        *m = b1 * *m + (T::one() - b1) * g;
                        *v = b2 * *v + (T::one() - b2) * g * g;
                        *p -= step * *m / (v.sqrt() + eps);
                    }
                }
            }
        }
    }
}

/// The Frobenius norm of a slice, accumulated in f64.
pub fn norm<T: Real>(s: &[T]) -> f64 {
    s.iter().map(|v| v.f64() * v.f64()).sum::<f64>().sqrt()
}

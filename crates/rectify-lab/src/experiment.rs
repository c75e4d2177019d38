//! The experiments, as functions returning plain serde structs: the CLI prints them, the
//! tests assert on them and the docs quote them.

use std::time::Instant;

use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::data::{DataError, DataSource, Dataset};
use crate::net::{Activation, Cache, Init, Mlp, Optimizer, OptimizerKind, norm};
use crate::rng::Rng;

/// What to train.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainConfig {
    /// The data set.
    pub data: DataSource,
    /// The share of samples held out for the test set (a fixed split from `seed`).
    pub test_fraction: f64,
    /// The number of hidden layers.
    pub depth: usize,
    /// The units per hidden layer.
    pub width: usize,
    /// Passes over the training set.
    pub epochs: usize,
    /// Samples per mini-batch.
    pub batch: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// The init; `None` means each activation's default (He for the ReLU family, Glorot for
    /// sigmoid and tanh).
    pub init: Option<Init>,
    /// The seed of the split, the init and the batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The vanishing-gradient experiment of the tour: digits, depth 8, width 64, plain SGD.
    fn default() -> Self {
        TrainConfig {
            data: DataSource::Digits,
            test_fraction: 0.25,
            depth: 8,
            width: 64,
            epochs: 30,
            batch: 32,
            optimizer: OptimizerKind::Sgd { lr: 0.02, momentum: 0.0 },
            init: None,
            seed: 42,
        }
    }
}

/// A histogram of activation values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    /// The left edge of the first bin.
    pub lo: f64,
    /// The right edge of the last bin.
    pub hi: f64,
    /// Counts per bin of equal width.
    pub counts: Vec<u64>,
    /// Values exactly `0.0`, also counted in their bin.
    pub exact_zeros: u64,
    /// All values.
    pub total: u64,
}

impl Histogram {
    /// `bins` equal bins over the values' range.
    pub fn of(values: &[f32], bins: usize) -> Histogram {
        let lo = values.iter().fold(f64::INFINITY, |a, &b| a.min(b as f64));
        let hi = values.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let (lo, hi) = if lo.is_finite() && hi > lo { (lo, hi) } else { (lo.min(0.0) - 0.5, hi.max(0.0) + 0.5) };
        let mut counts = vec![0u64; bins];
        for &v in values {
            let i = (((v as f64 - lo) / (hi - lo)) * bins as f64) as usize;
            counts[i.min(bins - 1)] += 1;
        }
        let exact_zeros = values.iter().filter(|&&v| v == 0.0).count() as u64;
        Histogram { lo, hi, counts, exact_zeros, total: values.len() as u64 }
    }
}

/// The result of training one network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunResult {
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The init used.
    pub init: Init,
    /// Accuracy on the training set after the last epoch.
    pub train_accuracy: f64,
    /// Accuracy on the test set after the last epoch.
    pub test_accuracy: f64,
    /// Test accuracy before training (index 0) and after each epoch.
    pub test_accuracy_per_epoch: Vec<f64>,
    /// Mean training loss of each epoch.
    pub loss_per_epoch: Vec<f64>,
    /// Frobenius norm of the weight gradient of each layer (first hidden layer first, the
    /// output layer last), at initialisation, over the whole training set.
    pub grad_norm_per_layer: Vec<f64>,
    /// `grad_norm_per_layer` of the first layer.
    pub grad_first: f64,
    /// `grad_norm_per_layer` of the last (output) layer.
    pub grad_last: f64,
    /// `grad_first / grad_last`: about 1 when the gradient flows, tiny when it vanishes.
    pub grad_ratio: f64,
    /// Per hidden layer, the fraction of activations exactly zero on the test set after training.
    pub zero_fraction_per_layer: Vec<f64>,
    /// The mean of `zero_fraction_per_layer`.
    pub zero_fraction: f64,
    /// Per hidden layer, the units that are zero for every test sample after training.
    pub dead_units_per_layer: Vec<usize>,
    /// The sum of `dead_units_per_layer`.
    pub dead_units: usize,
    /// The last hidden layer's activations on the test set after training.
    pub histogram: Histogram,
    /// The share of the training time spent in activation forward and backward calls
    /// (wall clock, so it varies from run to run; not part of the reproducible numbers).
    pub activation_time_share: f64,
    /// Training wall time in seconds (varies from run to run).
    pub seconds: f64,
}

/// The progress of a run, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// The activation being trained.
    pub activation: Activation,
    /// Which run of how many.
    pub run: usize,
    /// The number of runs.
    pub runs: usize,
    /// Epochs done.
    pub epoch: usize,
    /// Epochs in all.
    pub epochs: usize,
}

/// An error of an experiment: bad data or bad parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum LabError {
    /// The data could not be loaded.
    Data(DataError),
    /// A parameter is out of range.
    Param(String),
}

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabError::Data(e) => e.fmt(f),
            LabError::Param(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LabError {}

impl From<DataError> for LabError {
    fn from(e: DataError) -> Self {
        LabError::Data(e)
    }
}

fn to_f32(x: &Array2<f64>) -> Array2<f32> {
    x.mapv(|v| v as f32)
}

fn accuracy(net: &Mlp<f32>, x: &Array2<f32>, y: &[usize]) -> f64 {
    let p = net.predict(x.view());
    p.iter().zip(y).filter(|(a, b)| a == b).count() as f64 / y.len().max(1) as f64
}

impl TrainConfig {
    fn check(&self) -> Result<(), LabError> {
        let bad = |m: String| Err(LabError::Param(m));
        if self.depth == 0 || self.depth > 64 {
            return bad(format!("depth must be 1..=64, got {}", self.depth));
        }
        if self.width == 0 || self.width > 4096 {
            return bad(format!("width must be 1..=4096, got {}", self.width));
        }
        if self.batch == 0 {
            return bad("batch must be at least 1".into());
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return bad(format!("test fraction must be in (0, 1), got {}", self.test_fraction));
        }
        let lr = match self.optimizer {
            OptimizerKind::Sgd { lr, .. } | OptimizerKind::Adam { lr, .. } => lr,
        };
        if !(lr > 0.0 && lr.is_finite()) {
            return bad(format!("learning rate must be positive and finite, got {lr}"));
        }
        Ok(())
    }
}

/// The data of an experiment, split.
#[derive(Clone, Debug)]
pub struct Split {
    /// The training set.
    pub train: Dataset,
    /// The test set.
    pub test: Dataset,
}

/// Loads and splits the data of `cfg`.
pub fn load(cfg: &TrainConfig) -> Result<Split, LabError> {
    cfg.check()?;
    let d = cfg.data.load(cfg.seed)?;
    let (train, test) = d.split(cfg.test_fraction, cfg.seed);
    Ok(Split { train, test })
}

/// Trains one network with `act` on `split` and measures it.
pub fn train_one(cfg: &TrainConfig, split: &Split, act: Activation, mut progress: impl FnMut(usize)) -> RunResult {
    let start = Instant::now();
    let init = cfg.init.unwrap_or(act.default_init());
    let (xtr, xte) = (to_f32(&split.train.x), to_f32(&split.test.x));
    let (ytr, yte) = (&split.train.y, &split.test.y);
    let mut rng = Rng::new(cfg.seed);
    let mut net = Mlp::<f32>::new(xtr.ncols(), cfg.width, cfg.depth, split.train.classes, act, init, &mut rng);
    let mut cache = Cache::default();
    let mut grads = net.zeros_like();

    // Gradient norms at initialisation, on the whole training set.
    net.loss_and_grads(xtr.view(), ytr, &mut cache, &mut grads);
    let grad_norm_per_layer: Vec<f64> = grads.iter().map(|g| norm(g.w.as_slice().expect("row-major"))).collect();

    let mut opt = Optimizer::new(cfg.optimizer, &net);
    let mut order: Vec<usize> = (0..ytr.len()).collect();
    let mut test_accuracy_per_epoch = vec![accuracy(&net, &xte, yte)];
    let mut loss_per_epoch = Vec::with_capacity(cfg.epochs);
    cache.act_time = Default::default();
    let mut train_time = std::time::Duration::ZERO;
    for epoch in 0..cfg.epochs {
        let t0 = Instant::now();
        rng.shuffle(&mut order);
        let mut loss = 0.0;
        for chunk in order.chunks(cfg.batch) {
            let xb = xtr.select(Axis(0), chunk);
            let yb: Vec<usize> = chunk.iter().map(|&i| ytr[i]).collect();
            let (l, _) = net.loss_and_grads(xb.view(), &yb, &mut cache, &mut grads);
            loss += l * chunk.len() as f64;
            opt.step(&mut net, &grads);
        }
        train_time += t0.elapsed();
        loss_per_epoch.push(loss / ytr.len() as f64);
        test_accuracy_per_epoch.push(accuracy(&net, &xte, yte));
        progress(epoch + 1);
    }
    let activation_time_share = cache.act_time.as_secs_f64() / train_time.as_secs_f64().max(1e-12);

    // Sparsity and dead units on the test set.
    let mut c = Cache::default();
    net.forward(xte.view(), &mut c);
    let hidden = &c.inputs[1..];
    let zero_fraction_per_layer: Vec<f64> =
        hidden.iter().map(|h| h.iter().filter(|&&v| v == 0.0).count() as f64 / h.len().max(1) as f64).collect();
    let dead_units_per_layer: Vec<usize> =
        hidden.iter().map(|h| h.columns().into_iter().filter(|c| c.iter().all(|&v| v == 0.0)).count()).collect();
    let last = hidden.last().expect("depth >= 1");
    let histogram = Histogram::of(last.as_slice().expect("row-major"), 40);

    let grad_first = grad_norm_per_layer[0];
    let grad_last = *grad_norm_per_layer.last().expect("layers");
    RunResult {
        activation: act,
        init,
        train_accuracy: accuracy(&net, &xtr, ytr),
        test_accuracy: *test_accuracy_per_epoch.last().expect("initial accuracy"),
        test_accuracy_per_epoch,
        loss_per_epoch,
        grad_first,
        grad_last,
        grad_ratio: grad_first / grad_last,
        grad_norm_per_layer,
        zero_fraction: zero_fraction_per_layer.iter().sum::<f64>() / zero_fraction_per_layer.len() as f64,
        zero_fraction_per_layer,
        dead_units: dead_units_per_layer.iter().sum(),
        dead_units_per_layer,
        histogram,
        activation_time_share,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The result of [`experiment`]: one run per activation on the same data, split and seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExperimentResult {
    /// The configuration.
    pub config: TrainConfig,
    /// The data set's name.
    pub data: String,
    /// Training samples.
    pub train_samples: usize,
    /// Test samples.
    pub test_samples: usize,
    /// Features per sample.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// One run per activation, in the order asked.
    pub runs: Vec<RunResult>,
}

impl ExperimentResult {
    /// The run of `act`, if it was trained.
    pub fn run(&self, act: Activation) -> Option<&RunResult> {
        self.runs.iter().find(|r| r.activation == act)
    }
}

/// The activations of the vanishing-gradient experiment, in table order.
pub const VANISH_ACTIVATIONS: [Activation; 4] =
    [Activation::Sigmoid, Activation::Relu, Activation::Leaky, Activation::Tanh];

/// Trains one network per activation with `cfg` (the vanishing-gradient experiment with
/// [`TrainConfig::default`] and [`VANISH_ACTIVATIONS`]). `progress` is called after every epoch.
pub fn experiment(
    cfg: &TrainConfig,
    activations: &[Activation],
    mut progress: impl FnMut(Progress),
) -> Result<ExperimentResult, LabError> {
    if activations.is_empty() {
        return Err(LabError::Param("no activation to train".into()));
    }
    let split = load(cfg)?;
    let runs = activations
        .iter()
        .enumerate()
        .map(|(i, &act)| {
            train_one(cfg, &split, act, |epoch| {
                progress(Progress { activation: act, run: i, runs: activations.len(), epoch, epochs: cfg.epochs })
            })
        })
        .collect();
    Ok(ExperimentResult {
        config: cfg.clone(),
        data: split.train.name.clone(),
        train_samples: split.train.len(),
        test_samples: split.test.len(),
        features: split.train.features(),
        classes: split.train.classes,
        runs,
    })
}

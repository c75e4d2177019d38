//! The command line, parsed by clap (everything about arguments lives here).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rectify: the ReLU family done exactly and fast. Start with `rectify tour`.
#[derive(Debug, Parser)]
#[command(name = "rectify", version, about, long_about = None)]
pub struct Cli {
    /// Output format on stdout: human tables or JSON.
    #[arg(long, value_enum, default_value_t = Format::Human, global = true)]
    pub format: Format,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Human tables or JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for people.
    Human,
    /// One JSON document.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The tour: ReLU and its derivative, the figures, the vanishing-gradient experiment on
    /// the digits, and the throughput (under a minute in release).
    Tour(TourArgs),
    /// The textbook figure of ReLU, sigmoid, leaky and ReLU6 with their derivatives (SVG, PNG).
    Plot(PlotArgs),
    /// The vanishing-gradient experiment: one deep net per activation, gradient norms per layer.
    Vanish(TrainArgs),
    /// Train networks and report accuracy, loss, gradients and sparsity.
    Train(TrainArgs),
    /// Values of f and f' on a range, for any op, parameters and kink rule.
    Table(TableArgs),
    /// Apply an op to a .npy file (f2, f4 or f8, either byte order, any shape and order).
    Apply(ApplyArgs),
    /// The backward of an op on .npy files: dx = f'(x) * dy (dy = 1 unless --dy).
    Grad(GradArgs),
    /// CPU features, the kernel path per dtype and the thread count.
    Info,
    /// Throughput in GB/s (bytes read + written) of the kernels against copy and a naive loop.
    Bench(BenchArgs),
}

/// Options of `tour`.
#[derive(Debug, Args)]
pub struct TourArgs {
    /// Where to write the figures.
    #[arg(long, default_value = "rectify-out")]
    pub out: PathBuf,
    /// The seed of the experiment.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Options of `plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Where to write activations.svg and activations.png.
    #[arg(long, default_value = "rectify-out")]
    pub out: PathBuf,
    /// The derivative taken at ReLU's kink: lower (0), upper (1) or mid (0.5).
    #[arg(long, default_value = "lower", value_parser = ["lower", "upper", "mid"])]
    pub kink: String,
}

/// Options of `train` and `vanish`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Hidden layers.
    #[arg(long, default_value_t = 8)]
    pub depth: usize,
    /// Units per hidden layer.
    #[arg(long, default_value_t = 64)]
    pub width: usize,
    /// Passes over the training set.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Activation(s), comma-separated: relu, leaky, relu6, prelu, sigmoid, tanh (default:
    /// sigmoid,relu,leaky,tanh for vanish, relu for train).
    #[arg(long, short, value_delimiter = ',')]
    pub activation: Vec<String>,
    /// The data: digits, spirals, or a path to a CSV of rows features...,label.
    #[arg(long, default_value = "digits")]
    pub data: String,
    /// The seed of the split, the init and the batch order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// sgd (plain), momentum (0.9) or adam.
    #[arg(long, default_value = "sgd", value_parser = ["sgd", "momentum", "adam"])]
    pub optimizer: String,
    /// Learning rate (default: 0.02 for sgd, 0.01 for momentum, 0.001 for adam).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Init: he or glorot (default: he for the ReLU family, glorot for sigmoid and tanh).
    #[arg(long, value_parser = ["he", "glorot"])]
    pub init: Option<String>,
    /// Share of the samples held out for testing.
    #[arg(long, default_value_t = 0.25)]
    pub test_fraction: f64,
    /// Where to write the plots.
    #[arg(long, default_value = "rectify-out")]
    pub out: PathBuf,
    /// Do not write plots.
    #[arg(long)]
    pub no_plots: bool,
}

/// Parameters of an op.
#[derive(Debug, Args, Clone)]
pub struct OpArgs {
    /// Negative slope (leaky, prelu, ramp).
    #[arg(long, allow_negative_numbers = true)]
    pub slope: Option<f64>,
    /// Threshold (thresholded, ramp).
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// Cap (clipped, ramp).
    #[arg(long, allow_negative_numbers = true)]
    pub max_value: Option<f64>,
    /// The derivative at a kink: lower, upper or mid.
    #[arg(long, default_value = "lower", value_parser = ["lower", "upper", "mid"])]
    pub kink: String,
}

/// Options of `table`.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// relu, leaky, relu6, clipped, thresholded, ramp, prelu, sigmoid or tanh.
    pub op: String,
    /// The parameters.
    #[command(flatten)]
    pub params: OpArgs,
    /// First x.
    #[arg(long, default_value_t = -2.0, allow_negative_numbers = true)]
    pub from: f64,
    /// Last x.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    pub to: f64,
    /// Number of points.
    #[arg(long, default_value_t = 9)]
    pub steps: usize,
}

/// Options of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The op (as for `table`).
    pub op: String,
    /// The input .npy.
    pub input: PathBuf,
    /// The output .npy (written to a temporary file, then renamed).
    pub output: PathBuf,
    /// The parameters.
    #[command(flatten)]
    pub params: OpArgs,
}

/// Options of `grad`.
#[derive(Debug, Args)]
pub struct GradArgs {
    /// The op (as for `table`).
    pub op: String,
    /// The forward input x (.npy).
    pub input: PathBuf,
    /// The output dx (.npy, written to a temporary file, then renamed).
    pub output: PathBuf,
    /// The upstream gradient dy (.npy of the same dtype and element count; default all ones).
    #[arg(long)]
    pub dy: Option<PathBuf>,
    /// The parameters.
    #[command(flatten)]
    pub params: OpArgs,
}

/// Options of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A tiny smoke run (4K and 64K elements, 3 rounds).
    #[arg(long)]
    pub quick: bool,
    /// Add 256M elements (needs about 4 GiB of memory).
    #[arg(long)]
    pub huge: bool,
    /// Rounds per op; the median is reported.
    #[arg(long, default_value_t = 9)]
    pub rounds: usize,
}

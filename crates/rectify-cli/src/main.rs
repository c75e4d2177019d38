//! `rectify`: a tour of ReLU with figures, experiments, `.npy` ops, info and benchmarks.
//!
//! Human tables go to stdout, diagnostics and the progress bar to stderr; `--format json`
//! prints one JSON document instead of the tables. Errors are one line on stderr and exit
//! code 1.

mod args;
mod npy;
mod ops;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use rectify::{DType, Kink};
use rectify_lab::experiment::{self, Progress, VANISH_ACTIVATIONS};
use rectify_lab::table::{Op, OpParams, Table};
use rectify_lab::{Activation, ExperimentResult, Init, OptimizerKind, TrainConfig, bench, plot};
use serde::Serialize;
use serde_json::json;

use args::{Cli, Command, Format};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rectify: error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res<T = ()> = Result<T, String>;

fn run(cli: Cli) -> Res {
    let fmt = cli.format;
    match cli.command {
        Command::Tour(a) => tour(fmt, &a.out, a.seed),
        Command::Plot(a) => {
            let kink = Kink::from_name(&a.kink).expect("clap checked the kink");
            let files = save(&plot::activation_figure(kink), &a.out, "activations")?;
            emit(fmt, &json!({ "figures": files }), || {
                files.iter().for_each(|f| println!("wrote {f}"));
            })
        }
        Command::Vanish(a) => train_cmd(fmt, &a, true),
        Command::Train(a) => train_cmd(fmt, &a, false),
        Command::Table(a) => {
            let t =
                rectify_lab::table::table(&a.op, op_params(&a.params), kink(&a.params.kink), a.from, a.to, a.steps)?;
            emit(fmt, &t, || print_table(&t))
        }
        Command::Apply(a) => {
            let op = Op::parse(&a.op, op_params(&a.params))?;
            let mut x = read_npy(&a.input)?;
            x.data = ops::apply(&op, &x.data);
            write_npy(&a.output, &x)?;
            emit(fmt, &json!({ "op": a.op, "input": a.input, "output": a.output, "shape": x.shape }), || {
                println!(
                    "{} {} -> {} ({:?} elements of {:?})",
                    a.op,
                    a.input.display(),
                    a.output.display(),
                    x.shape,
                    x.data.kind()
                )
            })
        }
        Command::Grad(a) => {
            let op = Op::parse(&a.op, op_params(&a.params))?;
            let mut x = read_npy(&a.input)?;
            let dy = a.dy.as_deref().map(read_npy).transpose()?;
            x.data = ops::grad(&op, &x.data, dy.as_ref().map(|d| &d.data), kink(&a.params.kink))?;
            write_npy(&a.output, &x)?;
            emit(fmt, &json!({ "op": a.op, "input": a.input, "output": a.output, "shape": x.shape }), || {
                println!(
                    "d{} {} -> {} ({:?} elements of {:?})",
                    a.op,
                    a.input.display(),
                    a.output.display(),
                    x.shape,
                    x.data.kind()
                )
            })
        }
        Command::Info => info(fmt),
        Command::Bench(a) => {
            let mut sizes = if a.quick { vec![4 << 10, 64 << 10] } else { vec![4 << 10, 64 << 10, 1 << 20, 16 << 20] };
            if a.huge {
                sizes.push(256 << 20);
            }
            let rounds = if a.quick { 3 } else { a.rounds.max(1) };
            eprintln!("bench: f32, sizes {sizes:?}, {rounds} interleaved rounds, median reported");
            let r = bench::bench(&sizes, rounds);
            emit(fmt, &r, || {
                println!(
                    "isa {}, {} thread(s), median of {} rounds; GB/s = bytes read + written",
                    r.isa, r.threads, r.rounds
                );
                println!("{:>10}  {:<26} {:>9}  {:>8}", "elements", "op", "GB/s", "vs copy");
                for row in &r.rows {
                    println!("{:>10}  {:<26} {:>9.2}  {:>7.2}x", row.elements, row.op, row.gb_per_s, row.ratio_to_copy);
                }
            })
        }
    }
}

fn emit<T: Serialize + ?Sized>(fmt: Format, value: &T, human: impl FnOnce()) -> Res {
    match fmt {
        Format::Json => {
            let s = serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))?;
            println!("{s}");
        }
        Format::Human => human(),
    }
    Ok(())
}

fn kink(s: &str) -> Kink {
    Kink::from_name(s).expect("clap checked the kink")
}

fn op_params(a: &args::OpArgs) -> OpParams {
    OpParams { slope: a.slope, threshold: a.threshold, max_value: a.max_value }
}

fn read_npy(path: &Path) -> Res<npy::Npy> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    npy::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_npy(path: &Path, a: &npy::Npy) -> Res {
    plot::write_atomic(path, &npy::write(a)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn save(fig: &plot::Figure, dir: &Path, name: &str) -> Res<Vec<String>> {
    let files = plot::save(fig, dir, name).map_err(|e| format!("cannot write figures to {}: {e}", dir.display()))?;
    Ok(files.iter().map(|p| p.display().to_string()).collect())
}

fn print_table(t: &Table) {
    println!("{} (kink rule: {})", t.op, t.kink);
    println!("{:>12}  {:>14}  {:>14}", "x", "f(x)", "f'(x)");
    for r in &t.rows {
        println!("{:>12}  {:>14}  {:>14}", fmt_num(r.x), fmt_num(r.f), fmt_num(r.df));
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 1e-4 && v.abs() < 1e6) {
        let s = format!("{v:.6}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "-0".into() } else { s.to_string() }
    } else {
        format!("{v:.4e}")
    }
}

/// A progress bar on stderr (redrawn in place on a terminal; one line per run otherwise).
struct Bar {
    tty: bool,
    start: Instant,
}

impl Bar {
    fn new() -> Bar {
        Bar { tty: std::io::stderr().is_terminal(), start: Instant::now() }
    }

    fn update(&mut self, p: Progress) {
        let done = p.run * p.epochs + p.epoch;
        let total = p.runs * p.epochs;
        let mut e = std::io::stderr().lock();
        if self.tty {
            let width = 30;
            let fill = done * width / total.max(1);
            let _ = write!(
                e,
                "\r[{}{}] {:>3}%  {:<8} epoch {:>3}/{}  {:.1}s ",
                "#".repeat(fill),
                ".".repeat(width - fill),
                done * 100 / total.max(1),
                p.activation.name(),
                p.epoch,
                p.epochs,
                self.start.elapsed().as_secs_f64()
            );
            if done == total {
                let _ = writeln!(e);
            }
        } else if p.epoch == p.epochs {
            let _ = writeln!(
                e,
                "trained {} ({}/{}), {} epochs, {:.1}s",
                p.activation.name(),
                p.run + 1,
                p.runs,
                p.epochs,
                self.start.elapsed().as_secs_f64()
            );
        }
        let _ = e.flush();
    }
}

fn train_config(a: &args::TrainArgs) -> Res<TrainConfig> {
    Ok(TrainConfig {
        data: rectify_lab::DataSource::parse(&a.data),
        test_fraction: a.test_fraction,
        depth: a.depth,
        width: a.width,
        epochs: a.epochs,
        batch: a.batch,
        optimizer: OptimizerKind::from_name(&a.optimizer, a.lr).expect("clap checked the optimizer"),
        init: a.init.as_deref().map(|s| Init::from_name(s).expect("clap checked the init")),
        seed: a.seed,
    })
}

fn activations(names: &[String], default: &[Activation]) -> Res<Vec<Activation>> {
    if names.is_empty() {
        return Ok(default.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Activation::from_name(n.trim()).ok_or_else(|| {
                format!("unknown activation {n:?} (expected {})", Activation::ALL.map(|a| a.name()).join(", "))
            })
        })
        .collect()
}

fn experiment_figures(r: &ExperimentResult, out: &Path) -> Res<Vec<String>> {
    let mut files = save(&plot::gradient_figure(r), out, "gradient-norms")?;
    files.extend(save(&plot::accuracy_figure(r), out, "accuracy")?);
    files.extend(save(&plot::histogram_figure(r), out, "activation-histogram")?);
    Ok(files)
}

fn train_cmd(fmt: Format, a: &args::TrainArgs, vanish: bool) -> Res {
    let cfg = train_config(a)?;
    let acts = activations(&a.activation, if vanish { &VANISH_ACTIVATIONS } else { &[Activation::Relu] })?;
    let mut bar = Bar::new();
    let r = experiment::experiment(&cfg, &acts, |p| bar.update(p)).map_err(|e| e.to_string())?;
    let files = if a.no_plots { Vec::new() } else { experiment_figures(&r, &a.out)? };
    emit(fmt, &json!({ "experiment": r, "figures": files }), || {
        print_experiment(&r, vanish);
        files.iter().for_each(|f| println!("wrote {f}"));
    })
}

fn print_experiment(r: &ExperimentResult, vanish: bool) {
    let c = &r.config;
    println!(
        "{}: {} train / {} test samples, {} features, {} classes; depth {}, width {}, {} epochs, batch {}, {}, seed {}",
        r.data,
        r.train_samples,
        r.test_samples,
        r.features,
        r.classes,
        c.depth,
        c.width,
        c.epochs,
        c.batch,
        match c.optimizer {
            OptimizerKind::Sgd { lr, momentum: 0.0 } => format!("SGD lr {lr}"),
            OptimizerKind::Sgd { lr, momentum } => format!("SGD lr {lr} momentum {momentum}"),
            OptimizerKind::Adam { lr, .. } => format!("Adam lr {lr}"),
        },
        c.seed
    );
    println!(
        "{:<8} {:>6} {:>8} {:>9}  {:>11} {:>11} {:>10}  {:>7} {:>5}  {:>8}",
        "act", "init", "test acc", "train acc", "|dW| first", "|dW| last", "first/last", "zeros", "dead", "act time"
    );
    for run in &r.runs {
        println!(
            "{:<8} {:>6} {:>8.3} {:>9.3}  {:>11.3e} {:>11.3e} {:>10.3e}  {:>6.1}% {:>5}  {:>7.0}%",
            run.activation.name(),
            match run.init {
                Init::He => "he",
                Init::Glorot => "glorot",
            },
            run.test_accuracy,
            run.train_accuracy,
            run.grad_first,
            run.grad_last,
            run.grad_ratio,
            100.0 * run.zero_fraction,
            run.dead_units,
            100.0 * run.activation_time_share
        );
    }
    println!(
        "|dW|: Frobenius norm of the weight gradient at init over the training set (first hidden layer, output layer); \
         zeros: activations exactly 0 on the test set; dead: units 0 for every test sample; act time: share of the \
         training step in activation forward+backward (wall clock)"
    );
    for run in r.runs.iter().filter(|run| run.zero_fraction > 0.0) {
        let zeros: Vec<String> = run.zero_fraction_per_layer.iter().map(|z| format!("{:.0}%", 100.0 * z)).collect();
        let dead: Vec<String> = run.dead_units_per_layer.iter().map(|d| d.to_string()).collect();
        println!(
            "{} sparsity per hidden layer (exact zeros): {}; dead units per layer (of {}): {}",
            run.activation.name(),
            zeros.join(" "),
            c.width,
            dead.join(" ")
        );
    }
    if vanish && let (Some(s), Some(relu)) = (r.run(Activation::Sigmoid), r.run(Activation::Relu)) {
        println!(
            "=> the sigmoid net's first-layer gradient is {:.0}x smaller than the ReLU net's ({:.1e} vs {:.1e}); \
             sigmoid reaches {:.1}% test accuracy, ReLU {:.1}%",
            relu.grad_first / s.grad_first,
            s.grad_first,
            relu.grad_first,
            100.0 * s.test_accuracy,
            100.0 * relu.test_accuracy
        );
    }
}

#[derive(Serialize)]
struct ThroughputLine {
    throughput: bench::ActivationThroughput,
    relu_over_sigmoid: f64,
    relu_over_tanh: f64,
}

fn tour(fmt: Format, out: &Path, seed: u64) -> Res {
    let human = fmt == Format::Human;
    let t0 = Instant::now();
    // 1. ReLU and its derivative.
    let t = rectify_lab::table::table("relu", OpParams::default(), Kink::Lower, -2.0, 2.0, 9)?;
    if human {
        println!("== 1. ReLU: f(x) = max(x, 0), f'(x) = 1 for x > 0, 0 for x < 0; at the kink x = 0 the rule");
        println!("      'lower' (PyTorch, TensorFlow, JAX) takes 0. Computed by the rectify kernels:");
        print_table(&t);
        println!();
    }
    // 2. The figures.
    let mut files = save(&plot::activation_figure(Kink::Lower), out, "activations")?;
    // 3. The vanishing-gradient experiment.
    let cfg = TrainConfig { seed, ..TrainConfig::default() };
    if human {
        println!("== 2. Vanishing gradients: depth 8, width 64, on the UCI digits, each activation from the same seed");
    }
    let mut bar = Bar::new();
    let r = experiment::experiment(&cfg, &VANISH_ACTIVATIONS, |p| bar.update(p)).map_err(|e| e.to_string())?;
    files.extend(experiment_figures(&r, out)?);
    if human {
        print_experiment(&r, true);
        println!();
    }
    // 4. Throughput.
    let tp = bench::activation_throughput(1 << 20, 7);
    let line =
        ThroughputLine { relu_over_sigmoid: tp.relu / tp.sigmoid, relu_over_tanh: tp.relu / tp.tanh, throughput: tp };
    let elapsed = t0.elapsed().as_secs_f64();
    emit(fmt, &json!({ "table": t, "experiment": r, "throughput": line, "figures": files, "seconds": elapsed }), || {
        println!(
            "== 3. Cheap: forward over 1M f32 (GB/s, read + write): rectify::relu {:.1}, sigmoid {:.1}, tanh {:.1} \
             (relu {:.0}x sigmoid, {:.0}x tanh)",
            line.throughput.relu,
            line.throughput.sigmoid,
            line.throughput.tanh,
            line.relu_over_sigmoid,
            line.relu_over_tanh
        );
        println!();
        println!(
            "figures in {}/: {}",
            out.display(),
            files.iter().map(|f| file_name(f)).collect::<Vec<_>>().join(", ")
        );
        eprintln!("tour done in {elapsed:.1}s");
    })
}

fn file_name(p: &str) -> String {
    PathBuf::from(p).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn info(fmt: Format) -> Res {
    let mut features: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => {$( if std::is_x86_feature_detected!($f) { features.push($f); } )*};
        }
        detect!(
            "sse2",
            "sse4.1",
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "bmi1",
            "bmi2",
            "lzcnt",
            "movbe",
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl",
            "avx512fp16",
            "avx512bf16"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            features.push("neon");
        }
    }
    let dtypes = [DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8, DType::U8, DType::I32, DType::I64];
    let paths: Vec<(String, String)> =
        dtypes.iter().map(|&d| (d.name().to_string(), rectify::kernel_path(d))).collect();
    let threads = rectify::default_par().threads();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let value = json!({
        "arch": std::env::consts::ARCH,
        "cpu_features": features,
        "isa": rectify::isa().to_string(),
        "kernel_paths": paths.iter().map(|(d, p)| json!({ "dtype": d, "path": p })).collect::<Vec<_>>(),
        "threads": threads,
        "cores": cores,
        "version": env!("CARGO_PKG_VERSION"),
    });
    emit(fmt, &value, || {
        println!("rectify {}  ({})", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH);
        println!("cpu features: {}", features.join(" "));
        println!("isa in use:   {}", rectify::isa());
        println!("threads:      {threads} (cores: {cores}; RECTIFY_NUM_THREADS to change)");
        println!("kernel path per dtype:");
        for (d, p) in &paths {
            println!("  {d:<9} {p}");
        }
    })
}

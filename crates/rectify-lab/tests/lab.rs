//! The lab's own checks: backprop against finite differences, reproducibility, the data.

use ndarray::Array2;
use rectify_lab::experiment::{self, VANISH_ACTIVATIONS};
use rectify_lab::net::{Activation, Cache, Mlp};
use rectify_lab::rng::Rng;
use rectify_lab::{DataSource, OptimizerKind, TrainConfig};

fn loss(net: &Mlp<f64>, x: &Array2<f64>, y: &[usize]) -> f64 {
    let mut g = net.zeros_like();
    net.loss_and_grads(x.view(), y, &mut Cache::default(), &mut g).0
}

fn elem(n: &mut Mlp<f64>, l: usize, t: usize, i: usize) -> &mut f64 {
    let layer = &mut n.layers[l];
    let s = match t {
        0 => layer.w.as_slice_mut(),
        1 => layer.b.as_slice_mut(),
        _ => layer.slope.as_slice_mut(),
    };
    &mut s.expect("contiguous")[i]
}

/// Backprop equals central finite differences in f64 for every weight, bias and PReLU slope
/// of a tiny net, for each activation (all are differentiable away from their kinks, and
/// random inputs keep every pre-activation far from a kink at this step size).
#[test]
#[allow(clippy::needless_range_loop)] // the indices name the parameter being checked
fn gradients_match_finite_differences() {
    for act in Activation::ALL {
        let mut rng = Rng::new(11);
        let init = act.default_init();
        let mut net = Mlp::<f64>::new(3, 5, 3, 4, act, init, &mut rng);
        // Biases and slopes away from their initial constants, so that they are really tested.
        for l in &mut net.layers {
            l.b.mapv_inplace(|_| rng.uniform_in(-0.3, 0.3));
            l.slope.mapv_inplace(|_| rng.uniform_in(0.05, 0.5));
        }
        let x = Array2::from_shape_fn((6, 3), |_| rng.uniform_in(-2.0, 2.0) * 2.0);
        let y = [0, 1, 2, 3, 1, 2];
        let mut grads = net.zeros_like();
        net.loss_and_grads(x.view(), &y, &mut Cache::default(), &mut grads);
        let h = 1e-6;
        let mut checked = 0;
        for l in 0..net.layers.len() {
            for t in 0..3 {
                let len = match t {
                    0 => net.layers[l].w.len(),
                    1 => net.layers[l].b.len(),
                    _ => net.layers[l].slope.len(),
                };
                for i in 0..len {
                    let mut plus = net.clone();
                    let mut minus = net.clone();
                    *elem(&mut plus, l, t, i) += h;
                    *elem(&mut minus, l, t, i) -= h;
                    let (vp, vm) = (*elem(&mut plus, l, t, i), *elem(&mut minus, l, t, i));
                    let numeric = (loss(&plus, &x, &y) - loss(&minus, &x, &y)) / (vp - vm);
                    let analytic = match t {
                        0 => grads[l].w.as_slice().unwrap()[i],
                        1 => grads[l].b.as_slice().unwrap()[i],
                        _ => grads[l].slope.as_slice().unwrap()[i],
                    };
                    assert!(
                        (numeric - analytic).abs() <= 1e-7 + 1e-5 * numeric.abs().max(analytic.abs()),
                        "{act:?} layer {l} tensor {t} [{i}]: backprop {analytic:e}, finite difference {numeric:e}"
                    );
                    checked += 1;
                }
            }
        }
        let slopes = if act == Activation::Prelu { 3 * 5 } else { 0 };
        assert_eq!(checked, 3 * 5 + 5 + 2 * (5 * 5 + 5) + 5 * 4 + 4 + slopes, "{act:?}");
    }
}

#[test]
fn a_seed_fixes_a_run_bit_for_bit() {
    let cfg = TrainConfig {
        data: DataSource::Spirals,
        depth: 3,
        width: 16,
        epochs: 3,
        optimizer: OptimizerKind::Adam { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
        ..TrainConfig::default()
    };
    let acts = [Activation::Relu, Activation::Prelu, Activation::Relu6];
    let a = experiment::experiment(&cfg, &acts, |_| {}).unwrap();
    let b = rectify::with_par(rectify::Par::Threads(2), || experiment::experiment(&cfg, &acts, |_| {}).unwrap());
    for (ra, rb) in a.runs.iter().zip(&b.runs) {
        assert_eq!(ra.test_accuracy_per_epoch, rb.test_accuracy_per_epoch);
        assert_eq!(
            ra.loss_per_epoch.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            rb.loss_per_epoch.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(ra.grad_norm_per_layer, rb.grad_norm_per_layer);
        assert_eq!(ra.histogram, rb.histogram);
    }
    let other = experiment::experiment(&TrainConfig { seed: 7, ..cfg.clone() }, &acts, |_| {}).unwrap();
    assert_ne!(a.runs[0].loss_per_epoch, other.runs[0].loss_per_epoch);
}

/// The tour's experiment at its defaults: the claims, on the digits (the same numbers the
/// CLI test checks through the binary).
#[test]
fn vanishing_gradient_claims_hold_on_digits() {
    let r = experiment::experiment(&TrainConfig::default(), &VANISH_ACTIVATIONS, |_| {}).unwrap();
    let s = r.run(Activation::Sigmoid).unwrap();
    let relu = r.run(Activation::Relu).unwrap();
    assert!(s.grad_first * 100.0 <= relu.grad_first, "{} vs {}", s.grad_first, relu.grad_first);
    assert!(relu.test_accuracy >= 0.9, "relu {}", relu.test_accuracy);
    assert!(s.test_accuracy <= 0.3, "sigmoid {}", s.test_accuracy);
    // Sigmoid: each layer shrinks the gradient (f' <= 0.25); ReLU keeps it of the same order.
    for w in s.grad_norm_per_layer.windows(2) {
        assert!(w[0] < w[1] / 2.0, "{:?}", s.grad_norm_per_layer);
    }
    let (lo, hi) = relu.grad_norm_per_layer.iter().fold((f64::MAX, 0.0f64), |(a, b), &g| (a.min(g), b.max(g)));
    assert!(hi / lo < 10.0, "{:?}", relu.grad_norm_per_layer);
    // Sparsity: ReLU zeros many activations exactly; the smooth ones none.
    assert!(relu.zero_fraction > 0.2, "{}", relu.zero_fraction);
    assert_eq!(s.zero_fraction, 0.0);
    assert_eq!(r.train_samples + r.test_samples, 1797);
}

#[test]
fn every_optimizer_and_init_trains_the_spirals() {
    for (opt, init) in
        [("sgd", rectify_lab::Init::He), ("momentum", rectify_lab::Init::Glorot), ("adam", rectify_lab::Init::He)]
    {
        let cfg = TrainConfig {
            data: DataSource::Spirals,
            depth: 3,
            width: 32,
            epochs: 40,
            batch: 16,
            optimizer: OptimizerKind::from_name(opt, if opt == "adam" { Some(0.01) } else { Some(0.1) }).unwrap(),
            init: Some(init),
            ..TrainConfig::default()
        };
        let r = experiment::experiment(&cfg, &[Activation::Relu], |_| {}).unwrap();
        let run = &r.runs[0];
        let (first, last) = (run.loss_per_epoch[0], *run.loss_per_epoch.last().unwrap());
        assert!(last < 0.6 * first, "{opt}: loss {first} -> {last}");
        assert!(run.train_accuracy > 0.7, "{opt}: train accuracy {}", run.train_accuracy);
        assert_eq!(run.init, init);
    }
}

//! Every op, every float dtype, every level, lengths 0..=3*64+1, start offsets 0..64, in place
//! and out of place, every kink, one and several threads: bitwise against the reference.

use rectify::reference as r;
use rectify::{ChannelLayout, Kink, Par, Ramp, ReluMask, Rrelu, bf16, f16};

use crate::common::{Bits, Rng, assert_bits_eq, on_every_level, pool};

const MAX_LEN: usize = 3 * 64 + 1;
const OFFSETS: usize = 64;
const PARS: [Par; 3] = [Par::Seq, Par::Threads(2), Par::Threads(3)];
const KINKS: [Kink; 3] = [Kink::Lower, Kink::Upper, Kink::Mid];

/// Offsets to sweep under a thread setting: all of them single-threaded, a few with threads
/// (each threaded call starts threads, which is slow).
fn offsets(par: Par) -> Vec<usize> {
    if par == Par::Seq { (0..OFFSETS).collect() } else { vec![0, 1, 17, 63] }
}

/// Lengths to sweep under a thread setting: all of them single-threaded; with threads, the
/// ones around each split point (every multiple of 64).
fn lengths(par: Par) -> Vec<usize> {
    if par == Par::Seq {
        (0..=MAX_LEN).collect()
    } else {
        (0..=MAX_LEN).filter(|n| matches!(n % 64, 0 | 1 | 63)).collect()
    }
}

/// The values a sweep slices: every pool value once, in a shuffled order, then random
/// picks. Drawing every element at random missed some edge values (a random draw of 257
/// from ~210 leaves a given value out one time in three), and with them the path under test.
fn source<T: Copy>(pool: &[T], seed: u64) -> Vec<T> {
    let mut rng = Rng(seed);
    let n = MAX_LEN + OFFSETS;
    let mut v: Vec<T> = pool.iter().copied().take(n).collect();
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
    while v.len() < n {
        v.push(pool[rng.below(pool.len())]);
    }
    v
}

pub fn sweep_unary<T: Bits>(
    name: &str,
    pool: &[T],
    forward: impl Fn(&[T], &mut [T]),
    inplace: impl Fn(&mut [T]),
    reference: impl Fn(T) -> T,
) {
    sweep_unary_indexed(name, pool, forward, inplace, |_, x| reference(x));
}

/// As [`sweep_unary`], with a reference that also sees the element's index in the slice.
pub fn sweep_unary_indexed<T: Bits>(
    name: &str,
    pool: &[T],
    forward: impl Fn(&[T], &mut [T]),
    inplace: impl Fn(&mut [T]),
    reference: impl Fn(usize, T) -> T,
) {
    let src = source(pool, 1);
    on_every_level(&PARS, |isa, par| {
        for off in offsets(par) {
            for len in lengths(par) {
                let x = &src[off..off + len];
                let want: Vec<T> = x.iter().enumerate().map(|(i, &v)| reference(i, v)).collect();
                let what = || format!("{name} {:?} on {isa} with {par:?}, len {len}, offset {off}", T::DTYPE);
                let y_off = (off * 7 + 3) % OFFSETS;
                let mut y = vec![T::from_u64(0x55); len + OFFSETS];
                forward(x, &mut y[y_off..y_off + len]);
                assert_bits_eq(&y[y_off..y_off + len], &want, &what);
                let mut z = src.clone();
                inplace(&mut z[off..off + len]);
                assert_bits_eq(&z[off..off + len], &want, &|| format!("{} (in place)", what()));
            }
        }
    });
}

pub fn sweep_binary<T: Bits>(
    name: &str,
    pool_x: &[T],
    pool_dy: &[T],
    backward: impl Fn(&[T], &[T], &mut [T]),
    inplace: impl Fn(&[T], &mut [T]),
    reference: impl Fn(T, T) -> T,
) {
    sweep_binary_indexed(name, pool_x, pool_dy, backward, inplace, |_, x, dy| reference(x, dy));
}

/// As [`sweep_binary`], with a reference that also sees the element's index in the slice.
pub fn sweep_binary_indexed<T: Bits>(
    name: &str,
    pool_x: &[T],
    pool_dy: &[T],
    backward: impl Fn(&[T], &[T], &mut [T]),
    inplace: impl Fn(&[T], &mut [T]),
    reference: impl Fn(usize, T, T) -> T,
) {
    let src_x = source(pool_x, 2);
    let src_dy = source(pool_dy, 3);
    on_every_level(&PARS, |isa, par| {
        for off in offsets(par) {
            for len in lengths(par) {
                let x = &src_x[off..off + len];
                let dy_off = (off * 5 + 1) % OFFSETS;
                let dy = &src_dy[dy_off..dy_off + len];
                let want: Vec<T> = x.iter().zip(dy).enumerate().map(|(i, (&x, &dy))| reference(i, x, dy)).collect();
                let what = || format!("{name} {:?} on {isa} with {par:?}, len {len}, offset {off}", T::DTYPE);
                let dx_off = (off * 7 + 3) % OFFSETS;
                let mut dx = vec![T::from_u64(0x55); len + OFFSETS];
                backward(x, dy, &mut dx[dx_off..dx_off + len]);
                assert_bits_eq(&dx[dx_off..dx_off + len], &want, &what);
                let mut g = src_dy.clone();
                inplace(x, &mut g[dy_off..dy_off + len]);
                assert_bits_eq(&g[dy_off..dy_off + len], &want, &|| format!("{} (dx over dy)", what()));
            }
        }
    });
}

fn dy_pool<T: Bits>() -> Vec<T> {
    let mut v: Vec<T> = [1.0, -1.0, f64::INFINITY, f64::NAN, -0.0, 0.5, -3.25, 1e-30, 65504.0]
        .into_iter()
        .map(T::from_f64_lossy)
        .collect();
    v.extend(pool::<T>(0.0, f64::INFINITY, 9));
    v
}

/// The ramps the sweeps cover: every named op and general ones, with slopes that are 0,
/// in (0, 1), 1, above 1 and negative, thresholds at, above and below 0, caps that are and
/// are not representable.
pub fn ramps() -> Vec<(&'static str, Ramp)> {
    vec![
        ("relu", Ramp::relu()),
        ("leaky 0.01", Ramp::leaky(0.01).unwrap()),
        ("leaky 1", Ramp::leaky(1.0).unwrap()),
        ("leaky 1.5", Ramp::leaky(1.5).unwrap()),
        // Slopes whose products underflow, or round back onto x, and a threshold of -0.0,
        // which is not the leaky kernel's +0.0 (x - (-0.0) turns -0.0 into +0.0).
        ("leaky 1e-30", Ramp::leaky(1e-30).unwrap()),
        ("leaky 0.99999994", Ramp::leaky(0.999_999_94).unwrap()),
        ("leaky 0.3 at -0", Ramp::new(0.3, -0.0, f64::INFINITY).unwrap()),
        ("leaky -0.5", Ramp::leaky(-0.5).unwrap()),
        // A slope that is an f16 value, whose products still round: f16 multiplies in f16
        // where the CPU has AVX-512 FP16.
        ("leaky 0.3330078125", Ramp::leaky(0.333_007_812_5).unwrap()),
        ("relu6", Ramp::relu6()),
        ("clipped 0.1", Ramp::clipped(0.1).unwrap()),
        // The cap and the threshold round to the same 16-bit value: the cap wins.
        ("clipped tie", Ramp::new(0.0, 1.0, 1.0001).unwrap()),
        // Caps at zero and below it, and a cap that rounds onto the threshold in f32 (not
        // in f64): the f32/f64 clipped kernel (`min`, compare, `and`) must not be chosen
        // for the first (the cap's +0.0 replaces -0.0) nor the tie.
        ("clipped -1 to 0", Ramp::new(0.0, -1.0, 0.0).unwrap()),
        ("clipped -2 to -0.5", Ramp::new(0.0, -2.0, -0.5).unwrap()),
        ("clipped f32 tie", Ramp::new(0.0, 1.0, 1.0 + 1e-12).unwrap()),
        ("thresholded 1", Ramp::thresholded(1.0).unwrap()),
        ("thresholded -0.5", Ramp::thresholded(-0.5).unwrap()),
        ("ramp 0.2 -1 3.5", Ramp::new(0.2, -1.0, 3.5).unwrap()),
        ("ramp 0.3 0.7 6", Ramp::new(0.3, 0.7, 6.0).unwrap()),
        ("ramp 2 1e-3 1e4", Ramp::new(2.0, 1e-3, 1e4).unwrap()),
    ]
}

fn ramp_family<T: Bits>() {
    let dys = dy_pool::<T>();
    for (name, ramp) in ramps() {
        let xs = pool::<T>(ramp.threshold(), ramp.max_value(), 7);
        sweep_unary(name, &xs, |x, y| ramp.forward(x, y), |x| ramp.forward_inplace(x), |x| r::ramp(&ramp, x));
        // The one-element forms.
        for &x in &xs {
            assert_eq!(ramp.eval(x).to_u64(), r::ramp(&ramp, x).to_u64(), "{name} eval({x:?})");
            for &dy in &dys {
                for kink in KINKS {
                    let (got, want) = (ramp.derivative(x, dy, kink), r::ramp_backward(&ramp, x, dy, kink));
                    assert_eq!(got.to_u64(), want.to_u64(), "{name} derivative({x:?}, {dy:?}, {kink:?})");
                }
            }
        }
        for kink in KINKS {
            sweep_binary(
                &format!("{name} backward {kink:?}"),
                &xs,
                &dys,
                |x, dy, dx| ramp.backward(x, dy, dx, kink),
                |x, g| ramp.backward_inplace(x, g, kink),
                |x, dy| r::ramp_backward(&ramp, x, dy, kink),
            );
        }
        if ramp.negative_slope() >= 0.0 && ramp.threshold() >= 0.0 {
            // From the output: sweep over outputs of the forward, and check against the
            // backward from the input as well.
            let ys: Vec<T> = xs.iter().map(|&x| r::ramp(&ramp, x)).collect();
            sweep_binary(
                &format!("{name} backward from output"),
                &ys,
                &dys,
                |y, dy, dx| ramp.backward_from_output(y, dy, dx).unwrap(),
                |y, g| ramp.backward_from_output_inplace(y, g).unwrap(),
                |y, dy| r::ramp_backward_from_output(&ramp, y, dy),
            );
            for &x in &xs {
                for &dy in &dys {
                    let y = r::ramp(&ramp, x);
                    let (from_x, from_y) =
                        (r::ramp_backward(&ramp, x, dy, Kink::Lower), r::ramp_backward_from_output(&ramp, y, dy));
                    assert_eq!(from_x.to_u64(), from_y.to_u64(), "{name} {:?}: x = {x:?}, dy = {dy:?}", T::DTYPE);
                }
            }
        } else {
            let mut dx = vec![T::from_u64(0); 1];
            assert!(ramp.backward_from_output(&xs[..1], &dys[..1], &mut dx).is_err(), "{name}");
        }
    }
}

#[test]
fn ramp_family_f32() {
    ramp_family::<f32>();
}

#[test]
fn ramp_family_f64() {
    ramp_family::<f64>();
}

#[test]
fn ramp_family_f16() {
    ramp_family::<f16>();
}

#[test]
fn ramp_family_bf16() {
    ramp_family::<bf16>();
}

fn relu_functions<T: Bits>() {
    let xs = pool::<T>(0.0, f64::INFINITY, 11);
    let dys = dy_pool::<T>();
    sweep_unary("relu()", &xs, |x, y| rectify::relu(x, y), |x| rectify::relu_inplace(x), r::relu);
    sweep_binary(
        "relu_backward()",
        &xs,
        &dys,
        |x, dy, dx| rectify::relu_backward(x, dy, dx),
        |x, g| rectify::relu_backward_inplace(x, g),
        r::relu_backward,
    );
    sweep_binary(
        "relu_backward_from_mask()",
        &xs,
        &dys,
        |x, dy, dx| {
            let mask = ReluMask::from_input(x);
            rectify::relu_backward_from_mask(&mask, dy, dx)
        },
        |x, g| {
            // The output at a start that varies with the length (every misalignment to a
            // cache line, over the sweep's lengths), as the kernels step from its first line.
            let y_off = (x.len() * 5 + 3) % 32;
            let mut y = vec![T::from_u64(0); x.len() + 32];
            let y = &mut y[y_off..y_off + x.len()];
            // Masks of the right length with every bit set: the kernels must write every
            // word (they reuse a training loop's mask without zeroing it first).
            let mut mask = ReluMask::from_words(vec![u64::MAX; x.len().div_ceil(64)], x.len());
            rectify::relu_with_mask(x, y, &mut mask);
            let want: Vec<T> = x.iter().map(|&v| r::relu(v)).collect();
            assert_bits_eq(y, &want, &|| format!("relu_with_mask output, len {}, y offset {y_off}", x.len()));
            let mut z = x.to_vec();
            let mut mask2 = ReluMask::from_words(vec![u64::MAX; x.len().div_ceil(64)], x.len());
            rectify::relu_inplace_with_mask(&mut z, &mut mask2);
            assert_bits_eq(&z, &want, &|| "relu_inplace_with_mask output".into());
            assert_eq!(mask, mask2);
            assert_eq!(mask, ReluMask::from_input(x));
            rectify::relu_backward_from_mask_inplace(&mask, g)
        },
        r::relu_backward,
    );
    let th = 0.5;
    let xs_th = pool::<T>(th, f64::INFINITY, 12);
    sweep_unary(
        "threshold(0.5, -2)",
        &xs_th,
        |x, y| rectify::threshold(x, th, -2.0, y).unwrap(),
        |x| rectify::threshold_inplace(x, th, -2.0).unwrap(),
        |x| r::threshold(th, -2.0, x),
    );
    sweep_binary(
        "threshold_backward(0.5)",
        &xs_th,
        &dys,
        |x, dy, dx| rectify::threshold_backward(x, th, dy, dx).unwrap(),
        |x, g| {
            let dy = g.to_vec();
            rectify::threshold_backward(x, th, &dy, g).unwrap()
        },
        |x, dy| r::threshold_backward(th, x, dy),
    );
    let rrelu = Rrelu::new(0.1, 0.4).unwrap();
    sweep_unary(
        "rrelu eval",
        &xs,
        |x, y| rrelu.forward_eval(x, y),
        |x| rrelu.eval_ramp().forward_inplace(x),
        |x| r::ramp(&rrelu.eval_ramp(), x),
    );
    sweep_unary_indexed(
        "rrelu train",
        &xs,
        |x, y| {
            let mut slopes = vec![T::from_u64(0); x.len()];
            rrelu.forward_train(x, y, &mut slopes, 99);
            for (i, &a) in slopes.iter().enumerate() {
                let want: T = r::rrelu_slope(0.1, 0.4, 99, i as u64);
                assert_eq!(a.to_u64(), want.to_u64(), "slope {i}");
            }
        },
        |x| {
            let mut slopes = vec![T::from_u64(0); x.len()];
            let x0 = x.to_vec();
            rrelu.forward_train(&x0, x, &mut slopes, 99);
        },
        |i, x| r::rrelu_train(0.1, 0.4, 99, i as u64, x),
    );
    for kink in KINKS {
        sweep_binary_indexed(
            &format!("rrelu train backward {kink:?}"),
            &xs,
            &dys,
            |x, dy, dx| {
                let mut slopes = vec![T::from_u64(0); x.len()];
                rrelu.draw_slopes(99, 0, &mut slopes);
                rrelu.backward_train(x, &slopes, dy, dx, kink)
            },
            |x, g| {
                let mut slopes = vec![T::from_u64(0); x.len()];
                rrelu.draw_slopes(99, 0, &mut slopes);
                let dy = g.to_vec();
                rrelu.backward_train(x, &slopes, &dy, g, kink)
            },
            |i, x, dy| r::rrelu_train_backward(0.1, 0.4, 99, i as u64, x, dy, kink),
        );
    }
}

#[test]
fn relu_functions_f32() {
    relu_functions::<f32>();
}

#[test]
fn relu_functions_f64() {
    relu_functions::<f64>();
}

#[test]
fn relu_functions_f16() {
    relu_functions::<f16>();
}

#[test]
fn relu_functions_bf16() {
    relu_functions::<bf16>();
}

fn prelu_family<T: Bits>() {
    let xs = pool::<T>(0.0, f64::INFINITY, 21);
    let dys = dy_pool::<T>();
    let src_x = source(&xs, 22);
    let src_dy = source(&dys, 23);
    // Every kind of slope (unit, zero, negative, steep, one) in turn; rows and planes long
    // enough for the vector bodies (16 lanes of a 16-bit float) and their tails.
    let weights: Vec<T> = [0.25, 0.0, -0.5, 1.5, 1.0].into_iter().cycle().take(40).map(T::from_f64_lossy).collect();
    for channels in [1usize, 3, 5, 20, 40] {
        let w = &weights[..channels];
        // Planes of 130 (one channel fits) for the f16 body that takes planes from 128.
        let layouts = [1, 7, 37, 130].map(|inner| ChannelLayout::First { inner });
        for layout in [ChannelLayout::Last].into_iter().chain(layouts) {
            let run = match layout {
                ChannelLayout::First { inner } => inner,
                ChannelLayout::Last => 1,
            };
            let row = channels * run;
            if row > MAX_LEN {
                continue;
            }
            let channel_of = |i: usize| (i / run) % channels;
            on_every_level(&PARS, |isa, par| {
                for off in offsets(par) {
                    for len in (0..=MAX_LEN).step_by(row) {
                        let what = || {
                            format!("prelu {:?} C={channels} {layout:?} on {isa} {par:?} len {len} off {off}", T::DTYPE)
                        };
                        let x = &src_x[off..off + len];
                        let dy = &src_dy[(off + 5) % OFFSETS..(off + 5) % OFFSETS + len];
                        let want: Vec<T> = x.iter().enumerate().map(|(i, &v)| r::prelu(w[channel_of(i)], v)).collect();
                        let mut y = vec![T::from_u64(0); len];
                        rectify::prelu(x, w, layout, &mut y);
                        assert_bits_eq(&y, &want, &what);
                        let mut z = x.to_vec();
                        rectify::prelu_inplace(&mut z, w, layout);
                        assert_bits_eq(&z, &want, &what);
                        for kink in KINKS {
                            let want_dx: Vec<T> = x
                                .iter()
                                .zip(dy)
                                .enumerate()
                                .map(|(i, (&x, &dy))| r::prelu_backward(w[channel_of(i)], x, dy, kink))
                                .collect();
                            let want_dw: Vec<T> = rectify::reference_weight_grad(x, dy, channels, layout)
                                .into_iter()
                                .map(T::from_f64_lossy)
                                .collect();
                            let mut dx = vec![T::from_u64(0); len];
                            let mut dw = vec![T::from_u64(0); channels];
                            rectify::prelu_backward(x, w, layout, dy, &mut dx, &mut dw, kink);
                            assert_bits_eq(&dx, &want_dx, &what);
                            assert_bits_eq(&dw, &want_dw, &|| format!("{} dweight", what()));
                        }
                    }
                }
            });
        }
    }
}

#[test]
fn prelu_f32() {
    prelu_family::<f32>();
}

#[test]
fn prelu_f64() {
    prelu_family::<f64>();
}

#[test]
fn prelu_f16() {
    prelu_family::<f16>();
}

#[test]
fn prelu_bf16() {
    prelu_family::<bf16>();
}

/// The slope gradient is summed in fixed blocks: large inputs split over threads give the
/// same bits as one thread.
#[test]
fn prelu_weight_gradient_is_the_same_for_every_thread_count() {
    let n = 3 * rectify::PRELU_SUM_BLOCK + 1000;
    let channels = 4;
    let mut rng = Rng(5);
    let x: Vec<f32> = (0..n * channels).map(|_| (rng.next_u64() % 2001) as f32 / 100.0 - 10.0).collect();
    let dy: Vec<f32> = (0..n * channels).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect();
    let w = [0.1f32, 0.2, 0.3, 0.4];
    let run = |par| {
        rectify::with_par(par, || {
            rectify::par::with_split_threshold(1, || {
                let mut dx = vec![0.0f32; x.len()];
                let mut dw = [0.0f32; 4];
                rectify::prelu_backward(&x, &w, ChannelLayout::Last, &dy, &mut dx, &mut dw, Kink::Lower);
                (dx, dw)
            })
        })
    };
    let (dx1, dw1) = run(Par::Seq);
    for threads in 2..=5 {
        let (dx, dw) = run(Par::Threads(threads));
        assert_eq!(
            dx1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(dw1.map(f32::to_bits), dw.map(f32::to_bits), "{threads} threads");
    }
    let want: Vec<f32> =
        rectify::reference_weight_grad(&x, &dy, 4, ChannelLayout::Last).into_iter().map(|v| v as f32).collect();
    assert_eq!(dw1.to_vec(), want);
}

/// The slope gradient's documented order shows: a plane's element `i` goes to lane
/// `i % 16`, so two terms of `big` and `-big` sixteen apart cancel in their lane before the
/// fifteen small terms in the other lanes are added; in index order the small terms would
/// be lost against `big` (a quarter of an ulp or less each) and the sum would be 0. The
/// pattern sits at every fourth offset of a plane of 600, so that it straddles every
/// boundary of the walk's pieces (and of any part within them), for every dtype, on every
/// level; a second row then adds its own plane's sum after the first's. And a lane adds
/// its own terms in index order: `big`, `-big` and a small term 16 apart keep the small
/// one, which any other order loses.
fn plane_sum_in_sixteen_lanes<T: Bits>(big: (f64, f64), small: (f64, f64)) {
    const RUN: usize = 600;
    let want = -15.0 * small.0.abs() * small.1;
    let t = |v: f64| T::from_f64_lossy(v);
    on_every_level(&PARS, |isa, par| {
        for at in (0..RUN - 16).step_by(4) {
            let mut x = vec![t(1.0); RUN];
            let mut dy = vec![t(1.0); RUN];
            (x[at], dy[at]) = (t(-big.0), t(big.1));
            (x[at + 16], dy[at + 16]) = (t(-big.0), t(-big.1));
            for i in at + 1..at + 16 {
                (x[i], dy[i]) = (t(-small.0), t(small.1));
            }
            let what = || format!("{:?} pattern at {at} on {isa} {par:?}", T::DTYPE);
            let dweight = |x: &[T], dy: &[T]| {
                let (mut dx, mut dw) = (vec![t(0.0); x.len()], [t(0.0)]);
                let layout = ChannelLayout::First { inner: RUN };
                rectify::prelu_backward(x, &[t(0.5)], layout, dy, &mut dx, &mut dw, Kink::Lower);
                dw[0].to_u64()
            };
            assert_eq!(dweight(&x, &dy), t(want).to_u64(), "one plane: {}", what());
            let (x2, dy2) = ([x, vec![t(-1.0); RUN]].concat(), [dy, vec![t(2.0); RUN]].concat());
            assert_eq!(dweight(&x2, &dy2), t(want - 2.0 * RUN as f64).to_u64(), "two rows: {}", what());
            // And a lane adds its terms in index order: `big`, `-big`, then a small one,
            // which survives; `big` with the small one first would lose it.
            if at + 32 < RUN {
                let (mut x, mut dy) = (vec![t(1.0); RUN], vec![t(1.0); RUN]);
                (x[at], dy[at]) = (t(-big.0), t(-big.1));
                (x[at + 16], dy[at + 16]) = (t(-big.0), t(big.1));
                (x[at + 32], dy[at + 32]) = (t(-small.0), t(small.1));
                let want = -small.0.abs() * small.1;
                assert_eq!(dweight(&x, &dy), t(want).to_u64(), "one lane in order: {}", what());
            }
        }
    });
}

#[test]
fn prelu_weight_gradient_sums_a_plane_in_sixteen_lanes() {
    // Terms of -+2^120 against -1 (f64: -+2^100 against -1); f16 -+2^30 against -2^-24,
    // which lands on a tie next to 2^30 (even: kept) and sums to a subnormal f16.
    plane_sum_in_sixteen_lanes::<f32>((2f64.powi(60), 2f64.powi(60)), (1.0, 1.0));
    plane_sum_in_sixteen_lanes::<f64>((2f64.powi(50), 2f64.powi(50)), (1.0, 1.0));
    plane_sum_in_sixteen_lanes::<bf16>((2f64.powi(60), 2f64.powi(60)), (1.0, 1.0));
    plane_sum_in_sixteen_lanes::<f16>((2f64.powi(15), 2f64.powi(15)), (2f64.powi(-12), 2f64.powi(-12)));
}

/// One channel-first row splits between threads by whole planes: dx and the slope
/// gradient are the bits of one thread and of the reference, for planes that are and are
/// not a whole number of cache lines, channel counts that leave a thread fewer planes, and
/// every kink, on every level.
#[test]
fn prelu_one_row_splits_by_channels_with_the_same_bits() {
    let mut rng = Rng(9);
    for (channels, inner) in [(13usize, 64usize), (40, 96), (9, 200), (3, 1000)] {
        let n = channels * inner;
        let x: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 100.0 - 10.0).collect();
        let dy: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect();
        let w: Vec<f32> = (0..channels).map(|c| [0.25, 0.0, -0.5, 1.5][c % 4]).collect();
        let layout = ChannelLayout::First { inner };
        let want_dw: Vec<u32> = rectify::reference_weight_grad(&x, &dy, channels, layout)
            .into_iter()
            .map(|v| (v as f32).to_bits())
            .collect();
        on_every_level(&PARS, |isa, par| {
            for kink in KINKS {
                let want_dx: Vec<u32> = x
                    .iter()
                    .zip(&dy)
                    .enumerate()
                    .map(|(i, (&x, &dy))| r::prelu_backward(w[i / inner], x, dy, kink).to_bits())
                    .collect();
                let (mut dx, mut dw) = (vec![0.0f32; n], vec![0.0f32; channels]);
                rectify::prelu_backward(&x, &w, layout, &dy, &mut dx, &mut dw, kink);
                let what = format!("C={channels} inner={inner} on {isa} {par:?} {kink:?}");
                assert_eq!(dx.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_dx, "dx {what}");
                assert_eq!(dw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want_dw, "dweight {what}");
            }
        });
    }
}

fn crelu_and_bias<T: Bits>() {
    let xs = pool::<T>(0.0, f64::INFINITY, 31);
    let dys = dy_pool::<T>();
    let src_x = source(&xs, 32);
    let src_dy: Vec<T> = source(&dys, 33).into_iter().chain(source(&dys, 34)).collect();
    let bias_src = source(&xs, 35);
    on_every_level(&PARS, |isa, par| {
        for n in [1usize, 2, 5, 64, 65] {
            for off in offsets(par) {
                for len in (0..=MAX_LEN).step_by(n) {
                    let what = || format!("crelu/bias_relu {:?} n={n} on {isa} {par:?} len {len} off {off}", T::DTYPE);
                    let x = &src_x[off..off + len];
                    let mut want = Vec::with_capacity(2 * len);
                    for row in x.chunks(n) {
                        want.extend(row.iter().map(|&v| r::crelu(v).0));
                        want.extend(row.iter().map(|&v| r::crelu(v).1));
                    }
                    let mut y = vec![T::from_u64(0); 2 * len];
                    rectify::crelu(x, n, &mut y);
                    assert_bits_eq(&y, &want, &what);

                    let dy = &src_dy[off..off + 2 * len];
                    let mut want_dx = Vec::with_capacity(len);
                    for (row, g) in x.chunks(n).zip(dy.chunks(2 * n)) {
                        want_dx.extend(row.iter().enumerate().map(|(j, &v)| r::crelu_backward(v, g[j], g[n + j])));
                    }
                    let mut dx = vec![T::from_u64(0); len];
                    rectify::crelu_backward(x, n, dy, &mut dx);
                    assert_bits_eq(&dx, &want_dx, &what);

                    let bias = &bias_src[off % 7..off % 7 + n];
                    let want_b: Vec<T> = x.iter().enumerate().map(|(i, &v)| r::bias_relu(v, bias[i % n])).collect();
                    let mut a = x.to_vec();
                    let mut mask = ReluMask::from_words(vec![u64::MAX; len.div_ceil(64)], len);
                    rectify::bias_relu(&mut a, bias, Some(&mut mask));
                    assert_bits_eq(&a, &want_b, &what);
                    assert_eq!(mask, ReluMask::from_input(&want_b), "{}", what());
                    let mut a2 = x.to_vec();
                    rectify::bias_relu(&mut a2, bias, None);
                    assert_bits_eq(&a2, &want_b, &what);
                }
            }
        }
    });
}

#[test]
fn crelu_and_bias_relu_f32() {
    crelu_and_bias::<f32>();
}

#[test]
fn crelu_and_bias_relu_f64() {
    crelu_and_bias::<f64>();
}

#[test]
fn crelu_and_bias_relu_f16() {
    crelu_and_bias::<f16>();
}

#[test]
fn crelu_and_bias_relu_bf16() {
    crelu_and_bias::<bf16>();
}

macro_rules! int_sweep {
    ($($name:ident: $t:ty),*) => {$(
        #[test]
        fn $name() {
            let mut rng = Rng(41);
            let edge = [<$t>::MIN, <$t>::MAX, 0 as $t, 1 as $t, (0 as $t).wrapping_sub(1), 6 as $t, 7 as $t, 5 as $t];
            let src: Vec<$t> = (0..MAX_LEN + OFFSETS)
                .map(|i| if i % 3 == 0 { edge[rng.below(edge.len())] } else { rng.next_u64() as $t })
                .collect();
            on_every_level(&PARS, |isa, par| {
                for off in offsets(par) {
                    for len in lengths(par) {
                        let x = &src[off..off + len];
                        let what = format!("{} on {isa} {par:?} len {len} off {off}", stringify!($t));
                        let mut y = vec![0 as $t; len];
                        rectify::relu(x, &mut y);
                        let want: Vec<$t> = x.iter().map(|&v| r::int_relu(v)).collect();
                        assert_eq!(y, want, "relu {what}");
                        let mut z = x.to_vec();
                        rectify::relu_inplace(&mut z);
                        assert_eq!(z, want, "relu_inplace {what}");
                        rectify::int::clipped_relu(x, &mut y, 6 as $t).unwrap();
                        let want: Vec<$t> = x.iter().map(|&v| r::int_clipped(v, 6 as $t)).collect();
                        assert_eq!(y, want, "clipped {what}");
                        let mut z = x.to_vec();
                        rectify::int::clipped_relu_inplace(&mut z, 6 as $t).unwrap();
                        assert_eq!(z, want, "clipped in place {what}");
                    }
                }
            });
            assert!(rectify::int::clipped_relu(&src[..1], &mut [0 as $t], 0 as $t).is_err());
        }
    )*};
}

int_sweep!(int_i8: i8, int_i16: i16, int_i32: i32, int_i64: i64, int_u8: u8, int_u16: u16, int_u32: u32, int_u64: u64);

/// The integers' backward and mask ops, with plain and with streaming stores (the mask
/// ops of one-byte lanes go through a buffer of 512 elements and a `Streamer`; the others
/// stream in one pass): lengths around a mask word, the buffer and a 4 KiB span, the output
/// at several offsets within a line.
macro_rules! int_mask_sweep {
    ($($name:ident: $t:ty),*) => {$(
        #[test]
        fn $name() {
            let mut rng = Rng(43);
            let edge = [<$t>::MIN, <$t>::MAX, 0 as $t, 1 as $t, (0 as $t).wrapping_sub(1)];
            let n_max = 5000;
            let pick = |rng: &mut Rng| if rng.below(3) == 0 { edge[rng.below(edge.len())] } else { rng.next_u64() as $t };
            let src_x: Vec<$t> = (0..n_max + 16).map(|_| pick(&mut rng)).collect();
            let src_dy: Vec<$t> = (0..n_max + 16).map(|_| pick(&mut rng)).collect();
            for threshold in [usize::MAX, 0] {
                rectify::with_stream_threshold(threshold, || on_every_level(&[Par::Seq, Par::Threads(2)], |isa, par| {
                    for len in [1usize, 63, 64, 65, 511, 512, 513, 1100, 4096 + 7, n_max] {
                        for off in [0usize, 1, 3, 8, 15] {
                            let (x, dy) = (&src_x[off..off + len], &src_dy[3..3 + len]);
                            let what = format!(
                                "{} on {isa} {par:?} len {len} off {off} stream threshold {threshold}",
                                stringify!($t)
                            );
                            let mut out = vec![0 as $t; len + 16];
                            let y = &mut out[(off * 5) % 16..(off * 5) % 16 + len];
                            let want_y: Vec<$t> = x.iter().map(|&v| r::int_relu(v)).collect();
                            let want_dx: Vec<$t> =
                                x.iter().zip(dy).map(|(&v, &g)| if v > 0 as $t { g } else { 0 as $t }).collect();
                            let mut mask = ReluMask::default();
                            rectify::relu_with_mask(x, y, &mut mask);
                            assert_eq!(y, &want_y[..], "relu_with_mask {what}");
                            assert_eq!(mask, ReluMask::from_input(x), "the mask of relu_with_mask {what}");
                            rectify::relu_backward_from_mask(&mask, dy, y);
                            assert_eq!(y, &want_dx[..], "relu_backward_from_mask {what}");
                            y.fill(7 as $t);
                            rectify::relu_backward(x, dy, y);
                            assert_eq!(y, &want_dx[..], "relu_backward {what}");
                        }
                    }
                }));
            }
        }
    )*};
}

int_mask_sweep!(
    int_mask_i8: i8,
    int_mask_i16: i16,
    int_mask_i32: i32,
    int_mask_i64: i64,
    int_mask_u8: u8,
    int_mask_u16: u16,
    int_mask_u32: u32,
    int_mask_u64: u64
);

#[test]
fn quantized_relu_and_relu6_on_every_input() {
    use rectify::int::{QuantParams, quantized_relu, quantized_relu6};
    for (scale, zp) in [(0.05f32, 0i32), (0.1, 128), (0.023_529_412, 3), (1.0, 255), (0.001, 10)] {
        let qp = QuantParams::new(scale, zp).unwrap();
        let x: Vec<u8> = (0..=255).collect();
        let six = ((6.0 / scale as f64).round_ties_even() + zp as f64).clamp(0.0, 255.0) as u8;
        on_every_level(&[Par::Seq], |isa, _| {
            let mut y = vec![0u8; 256];
            quantized_relu(&x, &mut y, qp).unwrap();
            assert_eq!(
                y,
                x.iter().map(|&q| q.max(zp as u8)).collect::<Vec<_>>(),
                "u8 relu scale {scale} zp {zp} on {isa}"
            );
            quantized_relu6(&x, &mut y, qp).unwrap();
            assert_eq!(
                y,
                x.iter().map(|&q| q.max(zp as u8).min(six)).collect::<Vec<_>>(),
                "u8 relu6 {scale} {zp} on {isa}"
            );
        });
    }
    for (scale, zp) in [(0.05f32, 0i32), (0.1, -128), (0.05, -10), (0.5, 127)] {
        let qp = QuantParams::new(scale, zp).unwrap();
        let x: Vec<i8> = (-128..=127).collect();
        let six = ((6.0 / scale as f64).round_ties_even() + zp as f64).clamp(-128.0, 127.0) as i8;
        let mut y = vec![0i8; 256];
        quantized_relu(&x, &mut y, qp).unwrap();
        assert_eq!(y, x.iter().map(|&q| q.max(zp as i8)).collect::<Vec<_>>());
        quantized_relu6(&x, &mut y, qp).unwrap();
        assert_eq!(y, x.iter().map(|&q| q.max(zp as i8).min(six)).collect::<Vec<_>>());
    }
    assert!(QuantParams::new(0.0, 0).is_err());
    assert!(QuantParams::new(f32::NAN, 0).is_err());
    assert!(quantized_relu(&[0u8], &mut [0u8], QuantParams::new(0.1, 300).unwrap()).is_err());
    assert!(quantized_relu6(&[0i8], &mut [0i8], QuantParams::new(0.1, -129).unwrap()).is_err());
}

/// PReLU with channel planes long enough that each is written from its output's first
/// cache line on (1 KiB and up for f32 and f64), around that size, every misalignment of
/// the output against the input, every slope kind, every level, out of place and in place.
fn prelu_long_planes<T: Bits>() {
    let xs = pool::<T>(0.0, f64::INFINITY, 61);
    let mut rng = Rng(62);
    let weights: Vec<T> = [0.25, 0.0, -0.5, 1.5, 1.0].into_iter().map(T::from_f64_lossy).collect();
    let first = 1024 / size_of::<T>();
    on_every_level(&PARS, |isa, par| {
        for inner in [first - 1, first, first + 7, 3 * first + 33] {
            let n = inner * weights.len();
            let x: Vec<T> = (0..n).map(|_| xs[rng.below(xs.len())]).collect();
            let want: Vec<T> = x.iter().enumerate().map(|(i, &v)| r::prelu(weights[i / inner], v)).collect();
            for off in [0usize, 1, 5, 15] {
                let what = || format!("prelu long planes {:?} on {isa} {par:?} inner {inner} y off {off}", T::DTYPE);
                let mut y = vec![T::from_u64(0x55); n + 16];
                let y = &mut y[off..off + n];
                rectify::prelu(&x, &weights, ChannelLayout::First { inner }, y);
                assert_bits_eq(y, &want, &what);
            }
            let mut z = x.clone();
            rectify::prelu_inplace(&mut z, &weights, ChannelLayout::First { inner });
            assert_bits_eq(&z, &want, &|| {
                format!("prelu long planes in place {:?} on {isa} {par:?} inner {inner}", T::DTYPE)
            });
        }
    });
}

#[test]
fn prelu_long_planes_f32() {
    prelu_long_planes::<f32>();
}

#[test]
fn prelu_long_planes_f64() {
    prelu_long_planes::<f64>();
}

#[test]
fn prelu_long_planes_f16() {
    prelu_long_planes::<f16>();
}

/// Large out-of-place outputs go through a buffer and streaming stores, four 4 KiB spans of
/// the output side by side (Intel) or in order (AMD), and large in-place arrays take the
/// same order; force those paths, in both orders, on lengths around a span and a group of
/// four (with steps and elements left over) and misaligned starts, the mask ops included.
fn streaming<T: Bits>() {
    let xs = pool::<T>(0.5, 4.0, 51);
    let dys = dy_pool::<T>();
    let block = 4096 / size_of::<T>();
    let mut rng = Rng(52);
    let n_max = 9 * block + 40;
    let src_x: Vec<T> = (0..n_max).map(|_| xs[rng.below(xs.len())]).collect();
    let src_dy: Vec<T> = (0..n_max).map(|_| dys[rng.below(dys.len())]).collect();
    rectify::with_stream_threshold(0, || {
        // Both orders of the spans, four side by side (Intel's) and in order (AMD's),
        // whichever this machine takes (a thread of `Par::Threads` may take its own).
        for spans in [4, 1] {
            rectify::with_stream_spans(spans, || streaming_in_order_of_spans::<T>(spans, &xs, &src_x, &src_dy))
        }
    });
}

/// [`streaming`] with the spans its caller set.
fn streaming_in_order_of_spans<T: Bits>(spans: usize, xs: &[T], src_x: &[T], src_dy: &[T]) {
    let block = 4096 / size_of::<T>();
    let mut rng = Rng(53);
    let ramp = Ramp::new(0.1, 0.5, 4.0).unwrap();
    let leaky = Ramp::leaky(0.01).unwrap();
    on_every_level(&[Par::Seq, Par::Threads(2)], |isa, par| {
        // (The 16-bit ops that multiply stream groups of four blocks: 4 and 8 blocks are
        // whole groups.)
        for len in
            [1, 31, block - 1, block, block + 1, 2 * block + 17, 3 * block, 4 * block + 16, 8 * block, 9 * block + 17]
        {
            for off in [0usize, 1, 3, 8, 15] {
                let x = &src_x[off..off + len];
                let dy = &src_dy[off..off + len];
                let what = || format!("streaming {:?} on {isa} {par:?}, {spans} spans len {len} off {off}", T::DTYPE);
                let mut y = vec![T::from_u64(0); len + 16];
                let y = &mut y[off % 7..off % 7 + len];
                ramp.forward(x, y);
                assert_bits_eq(y, &x.iter().map(|&v| r::ramp(&ramp, v)).collect::<Vec<_>>(), &what);
                leaky.forward(x, y);
                assert_bits_eq(y, &x.iter().map(|&v| r::ramp(&leaky, v)).collect::<Vec<_>>(), &what);
                rectify::relu(x, y);
                assert_bits_eq(y, &x.iter().map(|&v| r::relu(v)).collect::<Vec<_>>(), &what);
                ramp.backward(x, dy, y, Kink::Mid);
                let want: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| r::ramp_backward(&ramp, v, g, Kink::Mid)).collect();
                assert_bits_eq(y, &want, &what);
                rectify::relu_backward(x, dy, y);
                let want: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| r::relu_backward(v, g)).collect();
                assert_bits_eq(y, &want, &what);
                ramp.backward(x, dy, y, Kink::Upper);
                let want: Vec<T> =
                    x.iter().zip(dy).map(|(&v, &g)| r::ramp_backward(&ramp, v, g, Kink::Upper)).collect();
                assert_bits_eq(y, &want, &what);
                leaky.backward_from_output(x, dy, y).unwrap();
                let want: Vec<T> =
                    x.iter().zip(dy).map(|(&v, &g)| r::ramp_backward_from_output(&leaky, v, g)).collect();
                assert_bits_eq(y, &want, &what);
                let mut mask = ReluMask::default();
                rectify::relu_with_mask(x, y, &mut mask);
                assert_bits_eq(y, &x.iter().map(|&v| r::relu(v)).collect::<Vec<_>>(), &what);
                assert_eq!(mask, ReluMask::from_input(x), "{}", what());
                rectify::relu_backward_from_mask(&mask, dy, y);
                let want: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| r::relu_backward(v, g)).collect();
                assert_bits_eq(y, &want, &what);
                // In place, arrays this large walk the same span order.
                y.copy_from_slice(x);
                rectify::relu_inplace(y);
                assert_bits_eq(y, &x.iter().map(|&v| r::relu(v)).collect::<Vec<_>>(), &what);
                y.copy_from_slice(x);
                leaky.forward_inplace(y);
                assert_bits_eq(y, &x.iter().map(|&v| r::ramp(&leaky, v)).collect::<Vec<_>>(), &what);
                y.copy_from_slice(dy);
                rectify::relu_backward_inplace(x, y);
                let want: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| r::relu_backward(v, g)).collect();
                assert_bits_eq(y, &want, &what);
                y.copy_from_slice(dy);
                ramp.backward_inplace(x, y, Kink::Mid);
                let want: Vec<T> = x.iter().zip(dy).map(|(&v, &g)| r::ramp_backward(&ramp, v, g, Kink::Mid)).collect();
                assert_bits_eq(y, &want, &what);
            }
        }
        // PReLU streams channel planes of 4096 elements and more.
        let inner = 4096 + 5;
        let big_x: Vec<T> = (0..2 * inner + 8).map(|_| xs[rng.below(xs.len())]).collect();
        let w = [T::from_f64_lossy(0.25), T::from_f64_lossy(-1.5)];
        for off in [0usize, 1, 3] {
            let x = &big_x[off..off + 2 * inner];
            let mut y = vec![T::from_u64(0); 2 * inner + 8];
            let y = &mut y[(off + 1) % 8..(off + 1) % 8 + 2 * inner];
            rectify::prelu(x, &w, ChannelLayout::First { inner }, y);
            let want: Vec<T> = x.iter().enumerate().map(|(i, &v)| r::prelu(w[i / inner], v)).collect();
            assert_bits_eq(y, &want, &|| {
                format!("streaming prelu {:?} on {isa} {par:?}, {spans} spans off {off}", T::DTYPE)
            });
        }
        // PReLU backward streams the `dx` of channel-first f32 and f64 planes piece by
        // piece: planes shorter and longer than a piece and not whole pieces, one row
        // (split by channels) and several (split by blocks), `dx` at every offset within a
        // line, slopes of both `dx` kernels.
        let w = [0.25, -1.5, 0.0].map(T::from_f64_lossy);
        let dys = dy_pool::<T>();
        let long_x: Vec<T> = (0..8300).map(|_| xs[rng.below(xs.len())]).collect();
        let long_dy: Vec<T> = (0..8300).map(|_| dys[rng.below(dys.len())]).collect();
        for (channels, inner, rows) in [(3usize, 5usize, 7usize), (2, 131, 3), (3, 700, 1), (2, 4096 + 5, 1)] {
            let n = channels * inner * rows;
            let layout = ChannelLayout::First { inner };
            let w = &w[..channels];
            for off in [0usize, 1, 3, 8, 15] {
                let (x, dy) = (&long_x[off..off + n], &long_dy[3..3 + n]);
                let want_dw: Vec<T> = rectify::reference_weight_grad(x, dy, channels, layout)
                    .into_iter()
                    .map(T::from_f64_lossy)
                    .collect();
                for kink in KINKS {
                    let what = || {
                        format!(
                            "streaming prelu backward {:?} on {isa} {par:?}, {spans} spans, C={channels} inner={inner} \
                             rows={rows} off {off} {kink:?}",
                            T::DTYPE
                        )
                    };
                    let want: Vec<T> = x
                        .iter()
                        .zip(dy)
                        .enumerate()
                        .map(|(i, (&x, &dy))| r::prelu_backward(w[(i / inner) % channels], x, dy, kink))
                        .collect();
                    let mut dx = vec![T::from_u64(0); n + 16];
                    let dx = &mut dx[off * 5 % 16..off * 5 % 16 + n];
                    let mut dw = vec![T::from_u64(0); channels];
                    rectify::prelu_backward(x, w, layout, dy, dx, &mut dw, kink);
                    assert_bits_eq(dx, &want, &what);
                    assert_bits_eq(&dw, &want_dw, &|| format!("{} dweight", what()));
                }
            }
        }
    });
}

#[test]
fn streaming_stores_f32() {
    streaming::<f32>();
}

#[test]
fn streaming_stores_f64() {
    streaming::<f64>();
}

#[test]
fn streaming_stores_f16() {
    streaming::<f16>();
}

#[test]
fn streaming_stores_bf16() {
    streaming::<bf16>();
}

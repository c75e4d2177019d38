//! Exhaustive: every f16 and bf16 pattern through every op; every f32 pattern through
//! `relu` and `relu_backward` (dy = 1 and dy = NaN), on every level.

use rectify::reference as r;
use rectify::{Kink, Par, ReluMask, bf16, f16};

use crate::common::{Bits, assert_bits_eq, levels, on_every_level};
use crate::sweep::ramps;

/// A call this long fits in L1 (4 KiB of 16-bit floats, 12 KiB of f32), where the v4 ReLU
/// takes its own body.
const L1_CALL: usize = 3 << 10;

fn every_pattern<T: Bits>() -> Vec<T> {
    (0..=u16::MAX).map(|b| T::from_u64(b as u64)).collect()
}

fn all_16_bit_patterns<T: Bits>() {
    let x = every_pattern::<T>();
    let n = x.len();
    let dys: Vec<T> = [1.0, -1.0, f64::INFINITY, f64::NAN, -0.0, 0.3].into_iter().map(T::from_f64_lossy).collect();
    // Threads(2) with a tiny split threshold also runs every pattern through split calls.
    on_every_level(&[Par::Seq, Par::Threads(2)], |isa, par| {
        let what = |op: &str| format!("{op} {:?} on {isa} {par:?}", T::DTYPE);
        let mut y = vec![T::from_u64(0); n];
        rectify::relu(&x, &mut y);
        let want: Vec<T> = x.iter().map(|&v| r::relu(v)).collect();
        assert_bits_eq(&y, &want, &|| what("relu"));
        // Calls that fit in L1 take a driver of their own on some levels.
        y.fill(T::from_u64(0x55));
        for (x, y) in x.chunks(L1_CALL).zip(y.chunks_mut(L1_CALL)) {
            rectify::relu(x, y);
        }
        assert_bits_eq(&y, &want, &|| what("relu in L1-sized calls"));
        for (name, ramp) in ramps() {
            ramp.forward(&x, &mut y);
            let want: Vec<T> = x.iter().map(|&v| r::ramp(&ramp, v)).collect();
            assert_bits_eq(&y, &want, &|| what(name));
            let mut z = x.clone();
            ramp.forward_inplace(&mut z);
            assert_bits_eq(&z, &want, &|| format!("{} in place", what(name)));
            for &dy in &dys {
                let g = vec![dy; n];
                for kink in [Kink::Lower, Kink::Upper, Kink::Mid] {
                    ramp.backward(&x, &g, &mut y, kink);
                    let want: Vec<T> = x.iter().map(|&v| r::ramp_backward(&ramp, v, dy, kink)).collect();
                    assert_bits_eq(&y, &want, &|| format!("{} backward {kink:?} dy={dy:?}", what(name)));
                }
                if ramp.backward_from_output(&x, &g, &mut y).is_ok() {
                    // Every pattern as an output (most are not outputs of the ramp, but the
                    // kernel must still equal the reference on all of them).
                    let want: Vec<T> = x.iter().map(|&v| r::ramp_backward_from_output(&ramp, v, dy)).collect();
                    assert_bits_eq(&y, &want, &|| format!("{} from output dy={dy:?}", what(name)));
                }
            }
        }
        // Thresholds on both sides of zero, at both zeros and at both infinities (those at
        // or above +0.0 run on raw bits for 16-bit floats), out of place and in place.
        for (th, value) in
            [(0.5, -2.0), (0.0, 7.0), (-0.0, f64::NAN), (-1.5, 0.25), (f64::INFINITY, 1.0), (f64::NEG_INFINITY, 1.0)]
        {
            let want: Vec<T> = x.iter().map(|&v| r::threshold(th, value, v)).collect();
            rectify::threshold(&x, th, value, &mut y).unwrap();
            assert_bits_eq(&y, &want, &|| what(&format!("threshold({th}, {value})")));
            let mut z = x.clone();
            rectify::threshold_inplace(&mut z, th, value).unwrap();
            assert_bits_eq(&z, &want, &|| what(&format!("threshold({th}, {value}) in place")));
        }
        let mut y2 = vec![T::from_u64(0); 2 * n];
        rectify::crelu(&x, 256, &mut y2);
        for (i, &v) in x.iter().enumerate() {
            let (row, col) = (i / 256, i % 256);
            let (p, q) = r::crelu(v);
            assert_eq!(y2[row * 512 + col].to_u64(), p.to_u64(), "{}", what("crelu"));
            assert_eq!(y2[row * 512 + 256 + col].to_u64(), q.to_u64(), "{}", what("crelu"));
        }
        for w in [0.25, -0.5, 0.0] {
            let wt = [T::from_f64_lossy(w)];
            rectify::prelu(&x, &wt, rectify::ChannelLayout::Last, &mut y);
            assert_bits_eq(&y, &x.iter().map(|&v| r::prelu(wt[0], v)).collect::<Vec<_>>(), &|| what("prelu"));
        }
        // Every pattern under each kind of channel slope, in planes (the f16 body with
        // AVX-512 FP16 takes slopes in (0, 1]; 2^-10 sends small products to subnormals).
        let wt: Vec<T> = [0.25, 0.333_007_812_5, 2f64.powi(-10), 1.0, -0.5, 0.0, 1.5, 0.01]
            .into_iter()
            .map(T::from_f64_lossy)
            .collect();
        let inner = n / 64;
        let want: Vec<T> = x.iter().enumerate().map(|(i, &v)| r::prelu(wt[(i / inner) % wt.len()], v)).collect();
        rectify::prelu(&x, &wt, rectify::ChannelLayout::First { inner }, &mut y);
        assert_bits_eq(&y, &want, &|| what("prelu in planes"));
        let mut z = x.clone();
        rectify::prelu_inplace(&mut z, &wt, rectify::ChannelLayout::First { inner });
        assert_bits_eq(&z, &want, &|| what("prelu in planes, in place"));
        // Its backward: dy every pattern too (x read backwards), and the slope gradient of
        // each channel (planes of 1024: each walked in pieces, the lanes carried across).
        let g: Vec<T> = x.iter().rev().copied().collect();
        let mut dw = vec![T::from_u64(0); wt.len()];
        rectify::prelu_backward(&x, &wt, rectify::ChannelLayout::First { inner }, &g, &mut y, &mut dw, Kink::Lower);
        let want: Vec<T> = x
            .iter()
            .zip(&g)
            .enumerate()
            .map(|(i, (&v, &d))| r::prelu_backward(wt[(i / inner) % wt.len()], v, d, Kink::Lower))
            .collect();
        assert_bits_eq(&y, &want, &|| what("prelu backward in planes"));
        let want_dw: Vec<T> = rectify::reference_weight_grad(&x, &g, wt.len(), rectify::ChannelLayout::First { inner })
            .into_iter()
            .map(T::from_f64_lossy)
            .collect();
        assert_bits_eq(&dw, &want_dw, &|| what("prelu slope gradient in planes"));
        for &dy in &dys {
            let g = vec![dy; n];
            rectify::threshold_backward(&x, 0.5, &g, &mut y).unwrap();
            let want: Vec<T> = x.iter().map(|&v| r::threshold_backward(0.5, v, dy)).collect();
            assert_bits_eq(&y, &want, &|| format!("{} dy={dy:?}", what("threshold_backward")));
            // CReLU backward: rows of 256 with dy_pos = dy and dy_neg = -dy, so both halves show.
            let neg = T::from_u64(dy.to_u64() ^ (1 << (T::BITS - 1)));
            let g2: Vec<T> = (0..2 * n).map(|i| if (i / 256) % 2 == 0 { dy } else { neg }).collect();
            rectify::crelu_backward(&x, 256, &g2, &mut y);
            let want: Vec<T> = x.iter().map(|&v| r::crelu_backward(v, dy, neg)).collect();
            assert_bits_eq(&y, &want, &|| format!("{} dy={dy:?}", what("crelu_backward")));
            for kink in [Kink::Lower, Kink::Upper, Kink::Mid] {
                for w in [0.25, -0.5, 0.0, 1.0, 3.0] {
                    let wt = [T::from_f64_lossy(w)];
                    let mut dw = [T::from_u64(0)];
                    rectify::prelu_backward(&x, &wt, rectify::ChannelLayout::Last, &g, &mut y, &mut dw, kink);
                    let want: Vec<T> = x.iter().map(|&v| r::prelu_backward(wt[0], v, dy, kink)).collect();
                    assert_bits_eq(&y, &want, &|| format!("{} w={w} dy={dy:?} {kink:?}", what("prelu_backward")));
                    let want_dw = rectify::reference_weight_grad(&x, &g, 1, rectify::ChannelLayout::Last);
                    assert_eq!(dw[0].to_u64(), T::from_f64_lossy(want_dw[0]).to_u64(), "{}", what("prelu dweight"));
                }
                let rrelu = rectify::Rrelu::new(0.1, 0.4).unwrap();
                let mut slopes = vec![T::from_u64(0); n];
                rrelu.forward_train(&x, &mut y, &mut slopes, 7);
                let want: Vec<T> = (0..n).map(|i| r::rrelu_train(0.1, 0.4, 7, i as u64, x[i])).collect();
                assert_bits_eq(&y, &want, &|| what("rrelu train"));
                rrelu.backward_train(&x, &slopes, &g, &mut y, kink);
                let want: Vec<T> =
                    (0..n).map(|i| r::rrelu_train_backward(0.1, 0.4, 7, i as u64, x[i], dy, kink)).collect();
                assert_bits_eq(&y, &want, &|| format!("{} dy={dy:?} {kink:?}", what("rrelu train backward")));
            }
        }
        let mask = ReluMask::from_input(&x);
        let mut with_mask = ReluMask::default();
        rectify::relu_with_mask(&x, &mut y, &mut with_mask);
        assert_bits_eq(&y, &x.iter().map(|&v| r::relu(v)).collect::<Vec<_>>(), &|| what("relu_with_mask"));
        assert_eq!(with_mask, mask, "{}", what("relu_with_mask bits"));
        let g = vec![T::from_f64_lossy(1.0); n];
        rectify::relu_backward_from_mask(&mask, &g, &mut y);
        assert_bits_eq(&y, &x.iter().map(|&v| r::relu_backward(v, g[0])).collect::<Vec<_>>(), &|| what("mask"));
    });
}

#[test]
fn every_f16_pattern() {
    all_16_bit_patterns::<f16>();
}

#[test]
fn every_bf16_pattern() {
    all_16_bit_patterns::<bf16>();
}

/// All 2^32 f32 inputs of `relu` and of `relu_backward` with dy = 1 and dy = NaN, on every
/// level, split over two threads.
#[test]
fn every_f32_pattern_through_relu_and_its_backward() {
    const CHUNK: u64 = 1 << 22;
    const CHUNKS: u64 = (1u64 << 32) / CHUNK;
    let dy_nan = f32::from_bits(0x7fc0_1234);
    let workers = 2;
    std::thread::scope(|s| {
        for w in 0..workers {
            s.spawn(move || {
                let isas = levels();
                let mut x = vec![0f32; CHUNK as usize];
                let mut want = vec![0u32; CHUNK as usize];
                let mut y = vec![0f32; CHUNK as usize];
                let ones = vec![1.0f32; CHUNK as usize];
                let nans = vec![dy_nan; CHUNK as usize];
                for c in (w..CHUNKS).step_by(workers as usize) {
                    let base = (c * CHUNK) as u32;
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = f32::from_bits(base.wrapping_add(i as u32));
                    }
                    for &isa in &isas {
                        rectify::with_isa(isa, || {
                            rectify::with_par(Par::Seq, || {
                                for (w, &v) in want.iter_mut().zip(&x) {
                                    *w = r::relu(v).to_bits();
                                }
                                rectify::relu(&x, &mut y);
                                check(&y, &want, isa, "relu", base);
                                y.fill(0.5);
                                for (x, y) in x.chunks(L1_CALL).zip(y.chunks_mut(L1_CALL)) {
                                    rectify::relu(x, y);
                                }
                                check(&y, &want, isa, "relu in L1-sized calls", base);
                                let mut z = x.clone();
                                rectify::relu_inplace(&mut z);
                                check(&z, &want, isa, "relu_inplace", base);
                                for (dy, name) in [(&ones, "relu_backward dy=1"), (&nans, "relu_backward dy=NaN")] {
                                    for (w, &v) in want.iter_mut().zip(&x) {
                                        *w = r::relu_backward(v, dy[0]).to_bits();
                                    }
                                    rectify::relu_backward(&x, dy, &mut y);
                                    check(&y, &want, isa, name, base);
                                }
                            })
                        })
                        .unwrap();
                    }
                }
            });
        }
    });
}

fn check(got: &[f32], want: &[u32], isa: rectify::Isa, op: &str, base: u32) {
    if got.iter().zip(want).any(|(g, &w)| g.to_bits() != w) {
        let i = got.iter().zip(want).position(|(g, &w)| g.to_bits() != w).unwrap();
        panic!(
            "{op} on {isa}: input bits {:#010x}: got {:#010x}, want {:#010x}",
            base.wrapping_add(i as u32),
            got[i].to_bits(),
            want[i]
        );
    }
}

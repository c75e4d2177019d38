//! The ndarray extension: C, Fortran and strided layouts give the slice kernels' bits.

use ndarray::{Array, Array3, IxDyn, ShapeBuilder};
use rectify::ndarray_ext::RectifyExt;
use rectify::{Kink, Ramp};

fn bits(v: impl IntoIterator<Item = f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

fn sample(shape: (usize, usize, usize), fortran: bool) -> Array3<f32> {
    let n = shape.0 * shape.1 * shape.2;
    let values: Vec<f32> = (0..n).map(|i| [(i as f32 - 20.0) * 0.37, -0.0, f32::NAN, 6.0][i % 4]).collect();
    let a = Array::from_shape_vec(shape, values).unwrap();
    if fortran {
        let mut f = Array3::zeros(shape.f());
        f.assign(&a);
        f
    } else {
        a
    }
}

fn expected(x: &Array3<f32>, ramp: &Ramp) -> Vec<u32> {
    bits(x.iter().map(|&v| ramp.eval(v)))
}

#[test]
fn forward_in_every_layout_matches_the_element_rule() {
    let ramps = [Ramp::relu(), Ramp::leaky(0.1).unwrap(), Ramp::new(0.2, -1.0, 3.5).unwrap()];
    for fortran in [false, true] {
        let x = sample((3, 5, 7), fortran);
        for ramp in &ramps {
            let y = x.ramp(ramp);
            assert_eq!(y.shape(), x.shape());
            assert_eq!(bits(y.iter().copied()), expected(&x, ramp), "fortran {fortran}");
            // A strided view (every other row, reversed columns).
            let view = x.slice(ndarray::s![.., ..;2, ..;-1]);
            let yv = view.ramp(ramp);
            assert_eq!(bits(yv.iter().copied()), bits(view.iter().map(|&v| ramp.eval(v))));
            // In place, contiguous and strided.
            let mut z = x.clone();
            z.ramp_inplace(ramp);
            assert_eq!(bits(z.iter().copied()), expected(&x, ramp));
            let mut w = x.clone();
            w.slice_mut(ndarray::s![.., 1.., ..;3]).ramp_inplace(ramp);
            for ((idx, &got), &orig) in w.indexed_iter().zip(x.iter()) {
                let touched = idx.1 >= 1 && idx.2 % 3 == 0;
                let want = if touched { ramp.eval(orig) } else { orig };
                assert_eq!(got.to_bits(), want.to_bits(), "{idx:?}");
            }
        }
        assert_eq!(bits(x.relu().iter().copied()), expected(&x, &Ramp::relu()));
    }
}

#[test]
fn backward_in_every_layout_matches_the_element_rule() {
    let ramp = Ramp::relu6();
    for (fx, fd) in [(false, false), (true, true), (false, true)] {
        let x = sample((4, 3, 6), fx);
        let dy = sample((4, 3, 6), fd).mapv(|v| v * 0.5 + 1.0);
        for kink in [Kink::Lower, Kink::Upper, Kink::Mid] {
            let dx = x.ramp_backward(&dy, &ramp, kink);
            let want = bits(x.iter().zip(dy.iter()).map(|(&v, &g)| ramp.derivative(v, g, kink)));
            assert_eq!(bits(dx.iter().copied()), want, "layouts {fx} {fd} {kink:?}");
        }
        let dx = x.relu_backward(&dy);
        assert_eq!(
            bits(dx.iter().copied()),
            bits(x.iter().zip(dy.iter()).map(|(&v, &g)| if v > 0.0 { g } else { 0.0 }))
        );
    }
}

#[test]
fn dynamic_dimensions_work() {
    let x = Array::from_shape_vec(IxDyn(&[2, 2]), vec![-1.0f32, 2.0, -3.0, 4.0]).unwrap();
    assert_eq!(x.relu().into_raw_vec_and_offset().0, vec![0.0, 2.0, 0.0, 4.0]);
}

#[test]
#[should_panic(expected = "shape mismatch: x has shape [2, 3] but dy has shape [3, 2]")]
fn mismatched_shapes_panic_naming_both() {
    let x = Array::<f32, _>::zeros((2, 3));
    let dy = Array::<f32, _>::zeros((3, 2));
    let _ = x.ramp_backward(&dy, &Ramp::relu(), Kink::Lower);
}

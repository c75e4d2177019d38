//! An extension trait for ndarray 0.17 (feature `ndarray`).

use ndarray::{Array, ArrayRef, Dimension, ShapeBuilder, Zip};

use crate::element::Float;
use crate::kernels::{Map1, Map2, RampBackward, RampForward};
use crate::op::{Kink, Ramp};

mod sealed {
    pub trait Sealed {}
    impl<A, D> Sealed for ndarray::ArrayRef<A, D> {}
}

/// ReLU and the [`Ramp`] ops on any ndarray array, view or reference.
///
/// Contiguous arrays (C or Fortran order) go through the slice kernels, with their SIMD
/// levels and threads; other strides are computed element by element with the same kernels,
/// so the bits are the same either way. Results keep the input's memory order.
///
/// ```
/// use ndarray::array;
/// use rectify::ndarray_ext::RectifyExt;
/// use rectify::{Kink, Ramp};
///
/// let x = array![[-1.0_f32, 2.0], [3.0, -4.0]];
/// assert_eq!(x.relu(), array![[0.0, 2.0], [3.0, 0.0]]);
/// // A strided view works too.
/// assert_eq!(x.t().relu(), array![[0.0, 3.0], [2.0, 0.0]]);
///
/// let dy = array![[1.0_f32, 1.0], [1.0, 1.0]];
/// assert_eq!(x.ramp_backward(&dy, &Ramp::relu(), Kink::Lower), array![[0.0, 1.0], [1.0, 0.0]]);
///
/// let mut z = x.clone();
/// z.ramp_inplace(&Ramp::leaky(0.5)?);
/// assert_eq!(z, array![[-0.5, 2.0], [3.0, -2.0]]);
/// # Ok::<(), rectify::Error>(())
/// ```
pub trait RectifyExt<A: Float, D: Dimension>: sealed::Sealed {
    /// `max(x, 0)` into a new array.
    fn relu(&self) -> Array<A, D>;
    /// `max(x, 0)` in place.
    fn relu_inplace(&mut self);
    /// The ramp forward into a new array.
    fn ramp(&self, ramp: &Ramp) -> Array<A, D>;
    /// The ramp forward in place.
    fn ramp_inplace(&mut self, ramp: &Ramp);
    /// ReLU backward from this input: `dx = x > 0 ? dy : +0.0`.
    ///
    /// # Panics
    /// If the shapes differ.
    fn relu_backward(&self, dy: &ArrayRef<A, D>) -> Array<A, D>;
    /// The ramp backward from this input, with the `kink` rule.
    ///
    /// # Panics
    /// If the shapes differ.
    fn ramp_backward(&self, dy: &ArrayRef<A, D>, ramp: &Ramp, kink: Kink) -> Array<A, D>;
}

/// Builds an array of `x`'s shape and memory order from a contiguous result.
fn like<A, D: Dimension>(x: &ArrayRef<A, D>, data: Vec<A>) -> Array<A, D> {
    let fortran = !x.is_standard_layout() && x.t().is_standard_layout();
    let shape = x.raw_dim();
    let result = if fortran { Array::from_shape_vec(shape.f(), data) } else { Array::from_shape_vec(shape, data) };
    result.expect("the data has the array's length")
}

/// The memory-order slice of `x`, if `x` is C- or Fortran-contiguous.
fn contiguous<A, D: Dimension>(x: &ArrayRef<A, D>) -> Option<&[A]> {
    if x.is_standard_layout() || x.t().is_standard_layout() { x.as_slice_memory_order() } else { None }
}

#[track_caller]
fn check_shapes<A, D: Dimension>(x: &ArrayRef<A, D>, dy: &ArrayRef<A, D>) {
    assert!(x.shape() == dy.shape(), "shape mismatch: x has shape {:?} but dy has shape {:?}", x.shape(), dy.shape());
}

impl<A: Float, D: Dimension> RectifyExt<A, D> for ArrayRef<A, D> {
    fn relu(&self) -> Array<A, D> {
        self.ramp(&Ramp::relu())
    }

    fn relu_inplace(&mut self) {
        self.ramp_inplace(&Ramp::relu());
    }

    fn ramp(&self, ramp: &Ramp) -> Array<A, D> {
        match contiguous(self) {
            Some(x) => {
                let mut y = vec![A::zero(); x.len()];
                ramp.forward(x, &mut y);
                like(self, y)
            }
            None => {
                let k = RampForward::<A, true, true>(ramp.params::<A>());
                self.mapv(|x| k.apply(x))
            }
        }
    }

    fn ramp_inplace(&mut self, ramp: &Ramp) {
        match self.as_slice_memory_order_mut() {
            Some(x) => ramp.forward_inplace(x),
            None => {
                let k = RampForward::<A, true, true>(ramp.params::<A>());
                self.mapv_inplace(|x| k.apply(x));
            }
        }
    }

    fn relu_backward(&self, dy: &ArrayRef<A, D>) -> Array<A, D> {
        self.ramp_backward(dy, &Ramp::relu(), Kink::Lower)
    }

    #[track_caller]
    fn ramp_backward(&self, dy: &ArrayRef<A, D>, ramp: &Ramp, kink: Kink) -> Array<A, D> {
        check_shapes(self, dy);
        if let (Some(x), Some(g)) = (contiguous(self), contiguous(dy))
            && self.strides() == dy.strides()
        {
            let mut dx = vec![A::zero(); x.len()];
            ramp.backward(x, g, &mut dx, kink);
            return like(self, dx);
        }
        let k = RampBackward::<A, true, true>::new(ramp.params::<A>(), kink);
        Zip::from(self).and(dy).map_collect(|&x, &dy| k.apply(x, dy))
    }
}

//! `apply` and `grad` on `.npy` data: every op of the ReLU family through the rectify
//! kernels in the file's own dtype; sigmoid and tanh computed in f64 and rounded once.

use rectify::{ChannelLayout, Float, Kink, f16};
use rectify_lab::table::Op;

use crate::npy::Data;

trait Elem: Float + Copy {
    fn to64(self) -> f64;
    fn from64(v: f64) -> Self;
}

impl Elem for f16 {
    fn to64(self) -> f64 {
        self.to_f64()
    }
    fn from64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

impl Elem for f32 {
    fn to64(self) -> f64 {
        self as f64
    }
    fn from64(v: f64) -> Self {
        v as f32
    }
}

impl Elem for f64 {
    fn to64(self) -> f64 {
        self
    }
    fn from64(v: f64) -> Self {
        v
    }
}

fn forward<T: Elem>(op: &Op, x: &[T]) -> Vec<T> {
    let mut y = x.to_vec();
    match op {
        Op::Ramp(r) => r.forward(x, &mut y),
        Op::Prelu(a) => rectify::prelu(x, &[T::from64(*a)], ChannelLayout::Last, &mut y),
        Op::Sigmoid | Op::Tanh => y.iter_mut().for_each(|v| *v = T::from64(op.eval(v.to64()))),
    }
    y
}

fn backward<T: Elem>(op: &Op, x: &[T], dy: &[T], kink: Kink) -> Vec<T> {
    let mut dx = x.to_vec();
    match op {
        Op::Ramp(r) => r.backward(x, dy, &mut dx, kink),
        Op::Prelu(a) => {
            let mut dw = [T::from64(0.0)];
            rectify::prelu_backward(x, &[T::from64(*a)], ChannelLayout::Last, dy, &mut dx, &mut dw, kink)
        }
        Op::Sigmoid | Op::Tanh => {
            for ((d, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
                *d = T::from64(op.derivative(x.to64(), kink) * g.to64());
            }
        }
    }
    dx
}

/// `f(x)` elementwise, in the data's dtype.
pub fn apply(op: &Op, x: &Data) -> Data {
    match x {
        Data::F16(v) => Data::F16(forward(op, v)),
        Data::F32(v) => Data::F32(forward(op, v)),
        Data::F64(v) => Data::F64(forward(op, v)),
    }
}

/// `f'(x) * dy` elementwise (`dy` all ones when `None`); errors if `dy` differs in dtype or length.
pub fn grad(op: &Op, x: &Data, dy: Option<&Data>, kink: Kink) -> Result<Data, String> {
    if let Some(dy) = dy
        && (dy.kind() != x.kind() || dy.len() != x.len())
    {
        return Err(format!(
            "dy does not match x: {:?} of {} elements against {:?} of {}",
            dy.kind(),
            dy.len(),
            x.kind(),
            x.len()
        ));
    }
    Ok(match (x, dy) {
        (Data::F16(v), Some(Data::F16(d))) => Data::F16(backward(op, v, d, kink)),
        (Data::F16(v), _) => Data::F16(backward(op, v, &vec![f16::from_f64(1.0); v.len()], kink)),
        (Data::F32(v), Some(Data::F32(d))) => Data::F32(backward(op, v, d, kink)),
        (Data::F32(v), _) => Data::F32(backward(op, v, &vec![1.0; v.len()], kink)),
        (Data::F64(v), Some(Data::F64(d))) => Data::F64(backward(op, v, d, kink)),
        (Data::F64(v), _) => Data::F64(backward(op, v, &vec![1.0; v.len()], kink)),
    })
}

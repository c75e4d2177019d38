//! `rectify._rectify`: the native half of the Python package `rectify`.
//!
//! The public Python API lives in `python/rectify/__init__.py`, which normalises its
//! arguments (dtype, byte order, C order, `out=`, axes) and calls the functions here with
//! C-contiguous arrays. These functions check everything again — dtypes, shapes, lengths,
//! writability, overlap — before they call a kernel, so no input can make a kernel panic;
//! each kernel runs with the GIL released and inside `catch_unwind` as a last guard.
//! `relu` itself is a NumPy ufunc, made in the `ufunc` module.

use std::panic::{AssertUnwindSafe, catch_unwind};

use numpy::{
    BorrowError, Element as NpElement, IntoPyArray, PyArray1, PyArrayDescr, PyArrayDescrMethods, PyArrayDyn,
    PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArray, PyUntypedArrayMethods, dtype,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use rectify::{ChannelLayout, Float, Kink, Par, Ramp, ReluMask, Rrelu, bf16, f16};

mod ufunc;

/// The float dtypes the functions accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dt {
    F16,
    BF16,
    F32,
    F64,
}

/// The dtype of an array argument, or `TypeError` naming the dtype.
fn dtype_of(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Dt> {
    let py = a.py();
    let arr = a.cast::<PyUntypedArray>().map_err(|_| not_an_array(a, what))?;
    let d = arr.dtype();
    if d.is_equiv_to(&dtype::<f32>(py)) {
        Ok(Dt::F32)
    } else if d.is_equiv_to(&dtype::<f64>(py)) {
        Ok(Dt::F64)
    } else if d.is_equiv_to(&dtype::<f16>(py)) {
        Ok(Dt::F16)
    } else if d.typeobj().name()? == "bfloat16"
        && d.itemsize() == 2
        && d.is_native_byteorder() != Some(false)
        // rust-numpy finds the bf16 dtype as `numpy.dtype("bfloat16")` (and panics if that
        // fails): make sure that is this dtype before it is asked.
        && PyArrayDescr::new(py, "bfloat16").is_ok_and(|b| b.is_equiv_to(&d))
    {
        Ok(Dt::BF16)
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} has unsupported dtype {d}; expected float16, float32, float64 or bfloat16 (native byte order)"
        )))
    }
}

fn not_an_array(a: &Bound<'_, PyAny>, what: &str) -> PyErr {
    let ty = a.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("{what} must be a numpy.ndarray, got {ty}"))
}

/// Runs `$body` with `$T` the Rust type of the dtype.
macro_rules! dispatch {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            Dt::F16 => {
                type $T = f16;
                $body
            }
            Dt::BF16 => {
                type $T = bf16;
                $body
            }
            Dt::F32 => {
                type $T = f32;
                $body
            }
            Dt::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// An array argument of element type `T`, or `TypeError` naming both dtypes.
fn typed<'a, 'py, T: NpElement>(
    a: &'a Bound<'py, PyAny>,
    what: &str,
    like: &str,
) -> PyResult<&'a Bound<'py, PyArrayDyn<T>>> {
    match a.cast::<PyArrayDyn<T>>() {
        Ok(arr) => Ok(arr),
        Err(_) => match a.cast::<PyUntypedArray>() {
            Ok(u) => Err(PyTypeError::new_err(format!(
                "{what} has dtype {} but {like} has dtype {}",
                u.dtype(),
                dtype::<T>(a.py())
            ))),
            Err(_) => Err(not_an_array(a, what)),
        },
    }
}

fn ro<'py, T: NpElement>(a: &Bound<'py, PyAny>, what: &str, like: &str) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    typed::<T>(a, what, like)?
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("{what}: cannot read the array: {e}")))
}

fn rw<'py, T: NpElement>(a: &Bound<'py, PyAny>, what: &str, like: &str) -> PyResult<PyReadwriteArrayDyn<'py, T>> {
    typed::<T>(a, what, like)?.try_readwrite().map_err(|e| match e {
        BorrowError::NotWriteable => PyValueError::new_err(format!("{what} is read-only")),
        e => PyValueError::new_err(format!("{what}: cannot write the array (does it overlap an input?): {e}")),
    })
}

fn slice<'a, T: NpElement>(a: &'a PyReadonlyArrayDyn<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))
}

fn slice_mut<'a, T: NpElement>(a: &'a mut PyReadwriteArrayDyn<'_, T>, what: &str) -> PyResult<&'a mut [T]> {
    a.as_slice_mut().map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))
}

fn shape_str(s: &[usize]) -> String {
    match s {
        [n] => format!("({n},)"),
        _ => format!("({})", s.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// `ValueError` naming both shapes unless they are equal.
fn same_shape(a: &str, sa: &[usize], b: &str, sb: &[usize]) -> PyResult<()> {
    if sa == sb {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "shape mismatch: {a} has shape {} but {b} has shape {}",
            shape_str(sa),
            shape_str(sb)
        )))
    }
}

fn value_error(e: rectify::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs a kernel with the GIL released. The arguments were checked, so it does not panic;
/// if it ever did, Python gets a `RuntimeError`, never a `PanicException` or a crash.
fn run<R: Send>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> PyResult<R> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f))).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        PyRuntimeError::new_err(format!("rectify: internal error (please report): {msg}"))
    })
}

/// `out = f(x)` for two C-contiguous arrays of one dtype and shape.
fn unary<T: Float + NpElement, R: Send>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    f: impl FnOnce(&[T], &mut [T]) -> R + Send,
) -> PyResult<R> {
    let xr = ro::<T>(x, "x", "x")?;
    let mut yr = rw::<T>(out, "out", "x")?;
    same_shape("x", xr.shape(), "out", yr.shape())?;
    let xs = slice(&xr, "x")?;
    let ys = slice_mut(&mut yr, "out")?;
    run(py, || f(xs, ys))
}

/// `x = f(x)` in place.
fn inplace<T: Float + NpElement, R: Send>(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    f: impl FnOnce(&mut [T]) -> R + Send,
) -> PyResult<R> {
    let mut xr = rw::<T>(x, "x", "x")?;
    let xs = slice_mut(&mut xr, "x")?;
    run(py, || f(xs))
}

/// `dx = f(x, dy)` for three C-contiguous arrays of one dtype and shape.
fn binary<T: Float + NpElement, R: Send>(
    py: Python<'_>,
    (xn, x): (&str, &Bound<'_, PyAny>),
    dy: &Bound<'_, PyAny>,
    dx: &Bound<'_, PyAny>,
    f: impl FnOnce(&[T], &[T], &mut [T]) -> R + Send,
) -> PyResult<R> {
    let xr = ro::<T>(x, xn, "dy")?;
    let dyr = ro::<T>(dy, "dy", "dy")?;
    let mut dxr = rw::<T>(dx, "out", "dy")?;
    same_shape("dy", dyr.shape(), xn, xr.shape())?;
    same_shape("dy", dyr.shape(), "out", dxr.shape())?;
    let (xs, dys) = (slice(&xr, xn)?, slice(&dyr, "dy")?);
    let dxs = slice_mut(&mut dxr, "out")?;
    run(py, || f(xs, dys, dxs))
}

fn ramp_of(negative_slope: f64, threshold: f64, max_value: f64) -> PyResult<Ramp> {
    Ramp::new(negative_slope, threshold, max_value).map_err(value_error)
}

fn kink_of(name: &str) -> PyResult<Kink> {
    Kink::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("kink must be 'lower', 'upper' or 'mid', got {name:?}")))
}

/// `out = ramp(x)`.
#[pyfunction]
fn ramp(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    negative_slope: f64,
    threshold: f64,
    max_value: f64,
) -> PyResult<()> {
    let r = ramp_of(negative_slope, threshold, max_value)?;
    dispatch!(dtype_of(x, "x")?, T => unary::<T, _>(py, x, out, |x, y| r.forward(x, y)))
}

/// `x = ramp(x)` in place.
#[pyfunction]
fn ramp_(py: Python<'_>, x: &Bound<'_, PyAny>, negative_slope: f64, threshold: f64, max_value: f64) -> PyResult<()> {
    let r = ramp_of(negative_slope, threshold, max_value)?;
    dispatch!(dtype_of(x, "x")?, T => inplace::<T, _>(py, x, |x| r.forward_inplace(x)))
}

/// `out = ramp'(x) * dy` with the kink rule.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Keras parameters, the kink and three arrays
fn ramp_grad(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    negative_slope: f64,
    threshold: f64,
    max_value: f64,
    kink: &str,
) -> PyResult<()> {
    let r = ramp_of(negative_slope, threshold, max_value)?;
    let kink = kink_of(kink)?;
    dispatch!(dtype_of(dy, "dy")?, T => binary::<T, _>(py, ("x", x), dy, out, |x, dy, dx| r.backward(x, dy, dx, kink)))
}

/// [`ramp_grad`] writing the gradient over `dy`.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Keras parameters, the kink and two arrays
fn ramp_grad_(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    negative_slope: f64,
    threshold: f64,
    max_value: f64,
    kink: &str,
) -> PyResult<()> {
    let r = ramp_of(negative_slope, threshold, max_value)?;
    let kink = kink_of(kink)?;
    dispatch!(dtype_of(dy, "dy")?, T => {
        let xr = ro::<T>(x, "x", "dy")?;
        let mut dyr = rw::<T>(dy, "dy", "dy")?;
        same_shape("dy", dyr.shape(), "x", xr.shape())?;
        let xs = slice(&xr, "x")?;
        let dys = slice_mut(&mut dyr, "dy")?;
        run(py, || r.backward_inplace(xs, dys, kink))
    })
}

/// The ramp backward from the output `y` (lower kink).
#[pyfunction]
fn ramp_grad_from_output(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    negative_slope: f64,
    threshold: f64,
    max_value: f64,
) -> PyResult<()> {
    let r = ramp_of(negative_slope, threshold, max_value)?;
    dispatch!(dtype_of(dy, "dy")?, T => binary::<T, _>(py, ("y", y), dy, out, |y, dy, dx| r.backward_from_output(y, dy, dx)))?
        .map_err(value_error)
}

/// PyTorch `threshold`: `out = x > th ? x : value`.
#[pyfunction]
fn threshold(py: Python<'_>, x: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>, th: f64, value: f64) -> PyResult<()> {
    dispatch!(dtype_of(x, "x")?, T => unary::<T, _>(py, x, out, |x, y| rectify::threshold(x, th, value, y)))?
        .map_err(value_error)
}

/// [`threshold`] in place.
#[pyfunction]
fn threshold_(py: Python<'_>, x: &Bound<'_, PyAny>, th: f64, value: f64) -> PyResult<()> {
    dispatch!(dtype_of(x, "x")?, T => inplace::<T, _>(py, x, |x| rectify::threshold_inplace(x, th, value)))?
        .map_err(value_error)
}

/// `out = x > th ? dy : +0.0`.
#[pyfunction]
fn threshold_grad(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    th: f64,
) -> PyResult<()> {
    dispatch!(dtype_of(dy, "dy")?, T => binary::<T, _>(py, ("x", x), dy, out, |x, dy, dx| rectify::threshold_backward(x, th, dy, dx)))?
        .map_err(value_error)
}

/// The channel layout, checked so that the PReLU kernels cannot panic: `inner = None` is
/// channel-last, `Some(k)` channel-first with `k` elements per channel per outer index.
fn prelu_layout(len: usize, channels: usize, inner: Option<usize>) -> PyResult<ChannelLayout> {
    let layout = match inner {
        None => ChannelLayout::Last,
        Some(inner) => ChannelLayout::First { inner },
    };
    let run = inner.unwrap_or(1);
    let row = channels.checked_mul(run).unwrap_or(0);
    if row == 0 || !len.is_multiple_of(row) {
        return Err(PyValueError::new_err(format!(
            "shape mismatch: {len} elements are not whole rows of {channels} channels x {run} elements"
        )));
    }
    Ok(layout)
}

/// The slope argument of PReLU: a 1-D array of the input's dtype.
fn weight_of<'py, T: NpElement>(w: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let wr = ro::<T>(w, "weight", "x")?;
    if wr.ndim() != 1 {
        return Err(PyValueError::new_err(format!(
            "weight must be 1-D (one slope per channel), got shape {}",
            shape_str(wr.shape())
        )));
    }
    Ok(wr)
}

/// PReLU forward.
#[pyfunction]
#[pyo3(signature = (x, weight, out, inner))]
fn prelu(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    inner: Option<usize>,
) -> PyResult<()> {
    dispatch!(dtype_of(x, "x")?, T => {
        let wr = weight_of::<T>(weight)?;
        let w = slice(&wr, "weight")?;
        let xr = ro::<T>(x, "x", "x")?;
        let mut yr = rw::<T>(out, "out", "x")?;
        same_shape("x", xr.shape(), "out", yr.shape())?;
        let (xs, ys) = (slice(&xr, "x")?, slice_mut(&mut yr, "out")?);
        if xs.is_empty() {
            return Ok(());
        }
        let layout = prelu_layout(xs.len(), w.len(), inner)?;
        run(py, || rectify::prelu(xs, w, layout, ys))
    })
}

/// PReLU backward: writes `dx` and `dweight`.
#[pyfunction]
#[pyo3(signature = (dy, x, weight, dx, dweight, inner, kink))]
#[allow(clippy::too_many_arguments)] // five arrays, the layout and the kink
fn prelu_grad(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    weight: &Bound<'_, PyAny>,
    dx: &Bound<'_, PyAny>,
    dweight: &Bound<'_, PyAny>,
    inner: Option<usize>,
    kink: &str,
) -> PyResult<()> {
    let kink = kink_of(kink)?;
    dispatch!(dtype_of(x, "x")?, T => {
        let wr = weight_of::<T>(weight)?;
        let w = slice(&wr, "weight")?;
        let mut dwr = rw::<T>(dweight, "dweight", "x")?;
        same_shape("weight", wr.shape(), "dweight", dwr.shape())?;
        let dws = slice_mut(&mut dwr, "dweight")?;
        binary::<T, _>(py, ("x", x), dy, dx, |xs, dys, dxs| -> PyResult<()> {
            if xs.is_empty() {
                dws.iter_mut().for_each(|d| *d = Default::default());
                return Ok(());
            }
            let layout = prelu_layout(xs.len(), w.len(), inner)?;
            rectify::prelu_backward(xs, w, layout, dys, dxs, dws, kink);
            Ok(())
        })?
    })
}

fn rrelu_of(lower: f64, upper: f64) -> PyResult<Rrelu> {
    Rrelu::new(lower, upper).map_err(value_error)
}

/// RReLU training forward: draws the slopes into `slopes` and writes `out`.
#[pyfunction]
#[allow(clippy::too_many_arguments)] // three arrays, the range and the seed
fn rrelu_train(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    slopes: &Bound<'_, PyAny>,
    lower: f64,
    upper: f64,
    seed: u64,
) -> PyResult<()> {
    let r = rrelu_of(lower, upper)?;
    dispatch!(dtype_of(x, "x")?, T => {
        let mut sr = rw::<T>(slopes, "slopes", "x")?;
        let ss = slice_mut(&mut sr, "slopes")?;
        let n = ss.len();
        unary::<T, _>(py, x, out, |xs, ys| -> PyResult<()> {
            if n != xs.len() {
                return Err(PyValueError::new_err(format!("slopes has {n} elements but x has {}", xs.len())));
            }
            r.forward_train(xs, ys, ss, seed);
            Ok(())
        })?
    })
}

/// RReLU evaluation forward: leaky ReLU with slope `(lower + upper) / 2`.
#[pyfunction]
fn rrelu_eval(py: Python<'_>, x: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>, lower: f64, upper: f64) -> PyResult<()> {
    let r = rrelu_of(lower, upper)?;
    dispatch!(dtype_of(x, "x")?, T => unary::<T, _>(py, x, out, |x, y| r.forward_eval(x, y)))
}

/// RReLU backward: with the drawn `slopes` (training) or the mean slope (evaluation).
#[pyfunction]
#[pyo3(signature = (dy, x, slopes, out, lower, upper, kink))]
#[allow(clippy::too_many_arguments)] // four arrays, the range and the kink
fn rrelu_grad(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    slopes: Option<&Bound<'_, PyAny>>,
    out: &Bound<'_, PyAny>,
    lower: f64,
    upper: f64,
    kink: &str,
) -> PyResult<()> {
    let r = rrelu_of(lower, upper)?;
    let kink = kink_of(kink)?;
    dispatch!(dtype_of(dy, "dy")?, T => match slopes {
        None => binary::<T, _>(py, ("x", x), dy, out, |x, dy, dx| r.backward_eval(x, dy, dx, kink)),
        Some(slopes) => {
            let sr = ro::<T>(slopes, "slopes", "dy")?;
            let ss = slice(&sr, "slopes")?;
            binary::<T, _>(py, ("x", x), dy, out, |x, dy, dx| -> PyResult<()> {
                if ss.len() != x.len() {
                    return Err(PyValueError::new_err(format!(
                        "slopes has {} elements but x has {}",
                        ss.len(),
                        x.len()
                    )));
                }
                r.backward_train(x, ss, dy, dx, kink);
                Ok(())
            })?
        }
    })
}

/// Checks the CReLU geometry: `x` is whole rows of `n`, `out` twice as long.
fn crelu_rows(len: usize, n: usize, out_len: usize, out: &str) -> PyResult<()> {
    if len > 0 && (n == 0 || !len.is_multiple_of(n)) {
        return Err(PyValueError::new_err(format!("shape mismatch: {len} elements are not whole rows of {n}")));
    }
    if out_len != 2 * len {
        return Err(PyValueError::new_err(format!(
            "shape mismatch: {out} has {out_len} elements, expected {} (twice the input)",
            2 * len
        )));
    }
    Ok(())
}

/// CReLU on rows of `n`: `out` rows of `2n`.
#[pyfunction]
fn crelu(py: Python<'_>, x: &Bound<'_, PyAny>, out: &Bound<'_, PyAny>, n: usize) -> PyResult<()> {
    dispatch!(dtype_of(x, "x")?, T => {
        let xr = ro::<T>(x, "x", "x")?;
        let mut yr = rw::<T>(out, "out", "x")?;
        let (xs, ys) = (slice(&xr, "x")?, slice_mut(&mut yr, "out")?);
        crelu_rows(xs.len(), n, ys.len(), "out")?;
        run(py, || rectify::crelu(xs, n, ys))
    })
}

/// CReLU backward: `dy` rows of `2n`, `out` (dx) rows of `n`.
#[pyfunction]
fn crelu_grad(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    x: &Bound<'_, PyAny>,
    out: &Bound<'_, PyAny>,
    n: usize,
) -> PyResult<()> {
    dispatch!(dtype_of(x, "x")?, T => {
        let xr = ro::<T>(x, "x", "x")?;
        let dyr = ro::<T>(dy, "dy", "x")?;
        let mut dxr = rw::<T>(out, "out", "x")?;
        same_shape("x", xr.shape(), "out", dxr.shape())?;
        let (xs, dys, dxs) = (slice(&xr, "x")?, slice(&dyr, "dy")?, slice_mut(&mut dxr, "out")?);
        crelu_rows(xs.len(), n, dys.len(), "dy")?;
        run(py, || rectify::crelu_backward(xs, n, dys, dxs))
    })
}

/// ReLU forward that also returns the 1-bit mask of `x > 0` as packed `uint64` words.
#[pyfunction]
fn relu_with_mask<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    out: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let mask = dispatch!(dtype_of(x, "x")?, T => unary::<T, _>(py, x, out, |x, y| {
        let mut mask = ReluMask::default();
        rectify::relu_with_mask(x, y, &mut mask);
        mask
    }))?;
    Ok(mask.words().to_vec().into_pyarray(py))
}

/// ReLU backward from the packed mask of `n` elements.
#[pyfunction]
fn relu_grad_from_mask(
    py: Python<'_>,
    dy: &Bound<'_, PyAny>,
    words: &Bound<'_, PyAny>,
    n: usize,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let wr = ro::<u64>(words, "mask words", "uint64")?;
    let ws = slice(&wr, "mask words")?;
    if ws.len() != n.div_ceil(64) {
        return Err(PyValueError::new_err(format!(
            "the mask has {} words, which cannot hold {n} elements (expected {})",
            ws.len(),
            n.div_ceil(64)
        )));
    }
    let mask = ReluMask::from_words(ws.to_vec(), n);
    dispatch!(dtype_of(dy, "dy")?, T => {
        let dyr = ro::<T>(dy, "dy", "dy")?;
        let mut dxr = rw::<T>(out, "out", "dy")?;
        same_shape("dy", dyr.shape(), "out", dxr.shape())?;
        let (dys, dxs) = (slice(&dyr, "dy")?, slice_mut(&mut dxr, "out")?);
        if dys.len() != n {
            return Err(PyValueError::new_err(format!(
                "shape mismatch: the mask covers {n} elements but dy has {}",
                dys.len()
            )));
        }
        run(py, || rectify::relu_backward_from_mask(&mask, dys, dxs))
    })
}

/// Sets the number of threads the kernels may use (0: one per core; clamped to the cores).
#[pyfunction]
fn set_num_threads(n: usize) {
    rectify::set_default_par(if n == 1 { Par::Seq } else { Par::Threads(n) });
}

/// The number of threads the kernels may use.
#[pyfunction]
fn get_num_threads() -> usize {
    rectify::default_par().threads()
}

/// The instruction-set level the kernels use (`"scalar"`, `"v3"` or `"v4"`).
#[pyfunction]
fn isa() -> &'static str {
    rectify::isa().name()
}

#[pymodule]
#[pyo3(name = "_rectify")]
fn rectify_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("relu", ufunc::make_relu(m.py())?)?;
    m.add_function(wrap_pyfunction!(ufunc::_register_bfloat16_loop, m)?)?;
    m.add_function(wrap_pyfunction!(ramp, m)?)?;
    m.add_function(wrap_pyfunction!(ramp_, m)?)?;
    m.add_function(wrap_pyfunction!(ramp_grad, m)?)?;
    m.add_function(wrap_pyfunction!(ramp_grad_, m)?)?;
    m.add_function(wrap_pyfunction!(ramp_grad_from_output, m)?)?;
    m.add_function(wrap_pyfunction!(threshold, m)?)?;
    m.add_function(wrap_pyfunction!(threshold_, m)?)?;
    m.add_function(wrap_pyfunction!(threshold_grad, m)?)?;
    m.add_function(wrap_pyfunction!(prelu, m)?)?;
    m.add_function(wrap_pyfunction!(prelu_grad, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu_train, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu_eval, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu_grad, m)?)?;
    m.add_function(wrap_pyfunction!(crelu, m)?)?;
    m.add_function(wrap_pyfunction!(crelu_grad, m)?)?;
    m.add_function(wrap_pyfunction!(relu_with_mask, m)?)?;
    m.add_function(wrap_pyfunction!(relu_grad_from_mask, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(isa, m)?)?;
    Ok(())
}

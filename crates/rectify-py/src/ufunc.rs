//! `rectify.relu` as a genuine NumPy ufunc, made with NumPy's C API
//! (`PyUFunc_FromFuncAndData`), so that NumPy does the broadcasting, the casting, `out=`,
//! `where=`, the buffering of misaligned or byte-swapped data, and releases the GIL around
//! the loops. The loops call the rectify slice kernels on contiguous runs and a blocked
//! gather/kernel/scatter path on strided ones, so every path gives the kernels' bits.

use std::ffi::{CStr, c_char, c_int, c_long, c_ulong, c_void};
use std::mem::{align_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

use numpy::npyffi::{
    NPY_CASTING, NPY_TYPES, PY_ARRAY_API, PY_UFUNC_API, PyArray_Descr, PyArrayObject, PyUFunc_TypeResolutionFunc,
    PyUFuncGenericFunction, PyUFuncObject, npy_intp,
};
use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Elements gathered per block on the strided path.
const BLOCK: usize = 256;

/// `PyUFunc_None`: the ufunc has no identity (it is unary; `reduce` is meaningless).
const PY_UFUNC_NONE: c_int = -1;

const NAME: &CStr = c"relu";

const DOC: &CStr = c"Rectified linear unit, element by element: x for x > 0, else +0.0.

NaN comes out with the same bits (payload and sign kept); -0.0 and -inf give +0.0; +inf
stays +inf. For the integer dtypes this is max(x, 0) (the identity for unsigned ones).
float16 (and bfloat16, when ml_dtypes is installed) compute exactly, with no rounding.

A real numpy.ufunc: broadcasting, strided views, out=, where=, dtype= and in place
(out=x) all work as for np.maximum, and NumPy releases the GIL while it runs. An input
dtype that no loop takes (complex, object, strings, ...) is a TypeError naming it.

Examples
--------
>>> import numpy as np, rectify
>>> rectify.relu(np.array([-2.0, -0.0, 3.5], dtype=np.float32))
array([0. , 0. , 3.5], dtype=float32)
>>> x = np.array([-1.0, 2.0])
>>> _ = rectify.relu(x, out=x)   # in place
>>> x
array([0., 2.])";

/// The loop of one element type: `args = [in, out]`, `dimensions[0]` elements, byte
/// strides `steps = [is, os]`.
///
/// # Safety
/// Only NumPy calls this, with its ufunc loop convention: `args` points at two data
/// pointers, `dimensions` at the element count and `steps` at two byte strides, such that
/// `in + i * is` is a readable `T` and `out + i * os` a writable `T` for every `i < n`.
unsafe extern "C" fn relu_loop<T: rectify::Element>(
    args: *mut *mut c_char,
    dimensions: *mut npy_intp,
    steps: *mut npy_intp,
    _data: *mut c_void,
) {
    let invalid_before = fp::invalid_raised();
    let done = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the pointers are NumPy's loop arguments (see `# Safety`): two data
        // pointers, one count, two strides.
        let (input, output, n, is, os) = unsafe { (*args, *args.add(1), *dimensions, *steps, *steps.add(1)) };
        let n = usize::try_from(n).unwrap_or(0);
        // SAFETY: NumPy guarantees that the `n` strided elements are valid (see `# Safety`).
        unsafe { relu_strided::<T>(input.cast(), output.cast(), n, is, os) }
    }));
    // The kernels compare NaN with `<=`, which raises the "invalid" flag of the FPU; ReLU
    // itself raises no floating-point exception (as np.maximum), so clear it again unless
    // it was raised before the loop (NumPy turns the flag into a RuntimeWarning).
    if !invalid_before {
        fp::clear_invalid();
    }
    if done.is_err() {
        report_panic();
    }
}

/// The FPU's "invalid operation" flag of the calling thread, through C99 `<fenv.h>`.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
mod fp {
    use std::ffi::c_int;

    /// `FE_INVALID` on x86, x86-64 and aarch64.
    const FE_INVALID: c_int = 1;

    // SAFETY: C99 `<fenv.h>` functions with these signatures, in the C library that every
    // Linux Rust program links; they only touch the calling thread's FPU status.
    unsafe extern "C" {
        fn fetestexcept(excepts: c_int) -> c_int;
        fn feclearexcept(excepts: c_int) -> c_int;
    }

    pub(super) fn invalid_raised() -> bool {
        // SAFETY: reads the calling thread's floating-point status; no memory is touched.
        unsafe { fetestexcept(FE_INVALID) != 0 }
    }

    pub(super) fn clear_invalid() {
        // SAFETY: clears one flag of the calling thread's floating-point status.
        unsafe { feclearexcept(FE_INVALID) };
    }
}

/// Elsewhere the flag is left as the kernels set it (NumPy may warn on NaN input).
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))))]
mod fp {
    pub(super) fn invalid_raised() -> bool {
        true
    }

    pub(super) fn clear_invalid() {}
}

/// The body of [`relu_loop`].
///
/// # Safety
/// `input + i * is` must be a readable `T` and `output + i * os` a writable `T` for every
/// `i < n`; the two runs either are the same memory with the same stride or do not
/// overlap (NumPy copies operands that overlap otherwise).
unsafe fn relu_strided<T: rectify::Element>(input: *const u8, output: *mut u8, n: usize, is: isize, os: isize) {
    if n == 0 {
        return;
    }
    let size = size_of::<T>() as isize;
    let aligned = (input as usize).is_multiple_of(align_of::<T>()) && (output as usize).is_multiple_of(align_of::<T>());
    if is == size && os == size && aligned {
        let bytes = n * size_of::<T>();
        if ptr::eq(input, output) {
            // SAFETY: contiguous, aligned, `n` writable elements; in place is one slice.
            let x = unsafe { std::slice::from_raw_parts_mut(output.cast::<T>(), n) };
            rectify::relu_inplace(x);
            return;
        }
        let (i, o) = (input as usize, output as usize);
        if i + bytes <= o || o + bytes <= i {
            // SAFETY: contiguous, aligned, `n` elements each, and the two do not overlap.
            let (x, y) = unsafe {
                (
                    std::slice::from_raw_parts(input.cast::<T>(), n),
                    std::slice::from_raw_parts_mut(output.cast::<T>(), n),
                )
            };
            rectify::relu(x, y);
            return;
        }
    }
    // Strided (or partly overlapping, which NumPy does not send): gather a block, run the
    // kernel on it, scatter it. The same kernel, so the same bits.
    let mut buf = [T::default(); BLOCK];
    let mut start = 0;
    while start < n {
        let m = (n - start).min(BLOCK);
        for (k, b) in buf[..m].iter_mut().enumerate() {
            let at = (start + k) as isize;
            // SAFETY: element `start + k < n` of the input (see `# Safety`); unaligned reads
            // are allowed.
            *b = unsafe { ptr::read_unaligned(input.offset(at * is).cast::<T>()) };
        }
        rectify::relu_inplace(&mut buf[..m]);
        for (k, b) in buf[..m].iter().enumerate() {
            let at = (start + k) as isize;
            // SAFETY: element `start + k < n` of the output (see `# Safety`).
            unsafe { ptr::write_unaligned(output.offset(at * os).cast::<T>(), *b) };
        }
        start += m;
    }
}

/// A panic cannot cross the C boundary: set a Python error instead (NumPy checks for one
/// after the loop). No kernel called above panics for the lengths it is given.
#[cold]
fn report_panic() {
    let _ = catch_unwind(|| {
        Python::attach(|py| {
            PyRuntimeError::new_err("rectify.relu: internal error in the ufunc loop (please report)").restore(py)
        })
    });
}

type Loop = unsafe extern "C" fn(*mut *mut c_char, *mut npy_intp, *mut npy_intp, *mut c_void);

/// The loops, in NumPy's type order (the first one an input casts to safely wins).
fn loops() -> Vec<(NPY_TYPES, Loop)> {
    vec![
        (NPY_TYPES::NPY_BYTE, relu_loop::<i8>),
        (NPY_TYPES::NPY_UBYTE, relu_loop::<u8>),
        (NPY_TYPES::NPY_SHORT, relu_loop::<i16>),
        (NPY_TYPES::NPY_USHORT, relu_loop::<u16>),
        (NPY_TYPES::NPY_INT, relu_loop::<i32>),
        (NPY_TYPES::NPY_UINT, relu_loop::<u32>),
        (NPY_TYPES::NPY_LONG, relu_loop::<c_long>),
        (NPY_TYPES::NPY_ULONG, relu_loop::<c_ulong>),
        (NPY_TYPES::NPY_LONGLONG, relu_loop::<i64>),
        (NPY_TYPES::NPY_ULONGLONG, relu_loop::<u64>),
        (NPY_TYPES::NPY_HALF, relu_loop::<rectify::f16>),
        (NPY_TYPES::NPY_FLOAT, relu_loop::<f32>),
        (NPY_TYPES::NPY_DOUBLE, relu_loop::<f64>),
    ]
}

/// Makes the `relu` ufunc.
pub(crate) fn make_relu(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let loops = loops();
    let ntypes = loops.len();
    // NumPy keeps these pointers for the life of the ufunc: leak them (once per import).
    let funcs: &'static mut [PyUFuncGenericFunction] = Box::leak(loops.iter().map(|&(_, f)| Some(f)).collect());
    let data: &'static mut [*mut c_void] = Box::leak(vec![ptr::null_mut(); ntypes].into_boxed_slice());
    let types: &'static mut [c_char] = Box::leak(loops.iter().flat_map(|&(t, _)| [t as c_char, t as c_char]).collect());
    // SAFETY: the three tables have `ntypes` entries (two type codes per loop: one input,
    // one output) and live forever; the name and doc are static C strings; every loop
    // follows the ufunc loop convention for its type.
    let ufunc = unsafe {
        PY_UFUNC_API.PyUFunc_FromFuncAndData(
            py,
            funcs.as_mut_ptr(),
            data.as_mut_ptr(),
            types.as_mut_ptr(),
            ntypes as c_int,
            1,
            1,
            PY_UFUNC_NONE,
            NAME.as_ptr(),
            DOC.as_ptr(),
            0,
        )
    };
    // SAFETY: a new reference or null with a Python error set.
    let ufunc = unsafe { Bound::from_owned_ptr_or_err(py, ufunc) }?;
    // SAFETY: `ufunc` is the ufunc object that `PyUFunc_FromFuncAndData` just made.
    unsafe { install_type_resolver(ufunc.as_ptr().cast::<PyUFuncObject>()) };
    Ok(ufunc)
}

/// What the message of an unsupported input dtype lists as supported.
const SUPPORTED: &str = "float16, float32, float64, bfloat16 with ml_dtypes, bool and the integer types";

/// NumPy's `PyUFunc_TypeResolutionFunc`, with the casting rule as the C `int` that it is.
///
/// rust-numpy types that argument as its Rust enum `NPY_CASTING`, which lists the values 0
/// to 4 only, while NumPy 2.4 also passes `NPY_SAME_VALUE_CASTING` (`4 | 64`) for
/// `casting="same_value"`: a Rust enum holding a value it does not list is undefined
/// behaviour, a `c_int` is not. Both are 4 bytes passed the same way by the C ABI (the C
/// `enum` is an `int`), so a pointer of one type may be stored and called as the other.
type TypeResolver = unsafe extern "C" fn(
    *mut PyUFuncObject,
    c_int,
    *mut *mut PyArrayObject,
    *mut pyo3::ffi::PyObject,
    *mut *mut PyArray_Descr,
) -> c_int;

/// The type resolver that NumPy gave the ufunc (`PyUFunc_DefaultTypeResolver`), which
/// [`relu_type_resolver`] calls. Set once, before the first call can happen.
static NUMPY_TYPE_RESOLVER: OnceLock<TypeResolver> = OnceLock::new();

/// The type number of `ml_dtypes.bfloat16` once its loop is registered, else -1.
static BFLOAT16_TYPENUM: AtomicI32 = AtomicI32::new(-1);

/// Replaces the ufunc's type resolver by [`relu_type_resolver`], which calls NumPy's and
/// only rewrites its `TypeError` for an input dtype that no loop takes, so that the
/// message names that dtype. If the ufunc has no resolver, or another one than the one
/// stored already (not possible with one NumPy in the process), it is left as it is.
///
/// The field: `PyUFuncObject.type_resolver` of NumPy's `ufuncobject.h`
/// (`PyUFunc_TypeResolutionFunc *type_resolver;`), a public field of the struct since NumPy
/// 1.7 and still in 2.x at the same place (after `core_signature`); rust-numpy's
/// `PyUFuncObject` mirrors that struct up to and past this field. NumPy 2.x still calls
/// it: the dispatcher falls back to `legacy_promote_using_legacy_type_resolver` when no
/// loop of a legacy ufunc matches the inputs exactly, which is where its "ufunc 'relu' not
/// supported for the input types" `TypeError` comes from.
///
/// # Safety
/// `ufunc` must point at a live ufunc object made by `PyUFunc_FromFuncAndData`, that no
/// other thread uses yet (the caller has just made it and holds the GIL).
unsafe fn install_type_resolver(ufunc: *mut PyUFuncObject) {
    // SAFETY: `ufunc` is a live `PyUFuncObject` (see `# Safety`) whose layout is rust-numpy's
    // (checked against NumPy 2.x's header, see above); nobody else reads it yet.
    let slot = unsafe { ptr::addr_of_mut!((*ufunc).fields.type_resolver) };
    // SAFETY: the field is initialised (by `PyUFunc_FromFuncAndData`) and aligned; the
    // transmute types the same nullable function pointer as the C function it is (see
    // `TypeResolver`).
    let numpy_resolver =
        unsafe { std::mem::transmute::<PyUFunc_TypeResolutionFunc, Option<TypeResolver>>(slot.read()) };
    let Some(numpy_resolver) = numpy_resolver else {
        return;
    };
    let stored = *NUMPY_TYPE_RESOLVER.get_or_init(|| numpy_resolver);
    if !std::ptr::fn_addr_eq(stored, numpy_resolver) {
        return;
    }
    let ours: Option<TypeResolver> = Some(relu_type_resolver);
    // SAFETY: the field holds a nullable pointer to a function of that C signature; ours has
    // that signature with `casting` as `c_int` (see `TypeResolver`), and both `Option`s of
    // function pointers are one nullable pointer. The ufunc is not shared yet, so nothing
    // reads the field while it is written.
    unsafe { slot.write(std::mem::transmute::<Option<TypeResolver>, PyUFunc_TypeResolutionFunc>(ours)) };
}

/// The ufunc's type resolver: NumPy's, whose `TypeError` is replaced by one naming the
/// input dtype when no loop takes that dtype (the original error becomes its `__cause__`).
/// Any other outcome (success, another error, an error about `out=`, `dtype=` or
/// `casting=` for a supported input) is NumPy's, unchanged.
///
/// # Safety
/// Only NumPy calls this, as a `PyUFunc_TypeResolutionFunc`, with the GIL held: `operands`
/// points at `nargs` array pointers whose first (the input) is a live array.
unsafe extern "C" fn relu_type_resolver(
    ufunc: *mut PyUFuncObject,
    casting: c_int,
    operands: *mut *mut PyArrayObject,
    type_tup: *mut pyo3::ffi::PyObject,
    out_dtypes: *mut *mut PyArray_Descr,
) -> c_int {
    let Some(&numpy_resolver) = NUMPY_TYPE_RESOLVER.get() else {
        // Not reachable: the resolver is stored before this one is installed.
        report_error("rectify.relu: internal error: no type resolver (please report)");
        return -1;
    };
    // SAFETY: NumPy's own resolver, called with the arguments NumPy passed to this one.
    let rc = unsafe { numpy_resolver(ufunc, casting, operands, type_tup, out_dtypes) };
    if rc != -1 || operands.is_null() {
        return rc;
    }
    // SAFETY: `operands[0]` is the input array (see `# Safety`), alive for this call.
    let input = unsafe { *operands };
    let done = catch_unwind(AssertUnwindSafe(|| Python::attach(|py| name_unsupported_dtype(py, input))));
    if done.is_err() {
        report_error("rectify.relu: internal error in the type resolver (please report)");
    }
    rc
}

/// With NumPy's resolver's error set: replaces a `TypeError` by one naming the input's
/// dtype, if no loop of the ufunc takes that dtype; leaves any other error as it is.
fn name_unsupported_dtype(py: Python<'_>, input: *mut PyArrayObject) {
    let Some(err) = PyErr::take(py) else {
        return;
    };
    if input.is_null() || !err.is_instance_of::<PyTypeError>(py) {
        err.restore(py);
        return;
    }
    // SAFETY: a live array (see `relu_type_resolver`); borrowed for this call only.
    let input = unsafe { Bound::from_borrowed_ptr(py, input.cast::<pyo3::ffi::PyObject>()) };
    let dtype = match input.getattr("dtype").and_then(|d| d.cast_into::<PyArrayDescr>().map_err(PyErr::from)) {
        Ok(dtype) => dtype,
        Err(_) => {
            err.restore(py);
            return;
        }
    };
    if is_supported(py, &dtype) {
        err.restore(py);
        return;
    }
    let name = dtype.str().map(|s| s.to_string()).unwrap_or_else(|_| "?".to_owned());
    let ours = PyTypeError::new_err(format!("rectify.relu: unsupported dtype {name} (supported: {SUPPORTED})"));
    ours.set_cause(py, Some(err));
    ours.restore(py);
}

/// Whether a loop of the ufunc takes `dtype`: it is the registered bfloat16, or it casts
/// safely to one of the built-in loops' types (NumPy's resolver casts inputs at most
/// safely, whatever `casting=` says).
fn is_supported(py: Python<'_>, dtype: &Bound<'_, PyArrayDescr>) -> bool {
    let bf16 = BFLOAT16_TYPENUM.load(Ordering::Relaxed);
    if bf16 >= 0 && dtype.num() == bf16 {
        return true;
    }
    loops().iter().any(|&(typenum, _)| {
        // SAFETY: a built-in type number; a new reference or null with an error set.
        let to = unsafe { PY_ARRAY_API.PyArray_DescrFromType(py, typenum as c_int) };
        // SAFETY: a new reference (or null).
        let Some(to) = (unsafe { Bound::<PyAny>::from_owned_ptr_or_opt(py, to.cast()) }) else {
            let _ = PyErr::take(py);
            return false;
        };
        // SAFETY: two live descriptors; the function only reads them.
        let can = unsafe {
            PY_ARRAY_API.PyArray_CanCastTypeTo(
                py,
                dtype.as_dtype_ptr(),
                to.as_ptr().cast::<PyArray_Descr>(),
                NPY_CASTING::NPY_SAFE_CASTING,
            )
        };
        can != 0
    })
}

/// Sets a Python `RuntimeError` unless an error is set already (never unwinds).
#[cold]
fn report_error(message: &'static str) {
    let _ = catch_unwind(|| {
        Python::attach(|py| {
            if PyErr::occurred(py) {
                return;
            }
            PyRuntimeError::new_err(message).restore(py)
        })
    });
}

/// Adds a bfloat16 loop to the `relu` ufunc, given the dtype `ml_dtypes.bfloat16`.
#[pyfunction]
pub(crate) fn _register_bfloat16_loop(
    py: Python<'_>,
    ufunc: &Bound<'_, PyAny>,
    dtype: &Bound<'_, PyArrayDescr>,
) -> PyResult<()> {
    let typenum = dtype.num();
    let is_ours = ufunc.getattr("__name__")?.extract::<String>()? == "relu"
        && ufunc.get_type().name()? == "ufunc"
        && ufunc.getattr("nin")?.extract::<usize>()? == 1;
    let is_bf16 = dtype.typeobj().name()? == "bfloat16" && dtype.itemsize() == 2;
    if !is_ours || !is_bf16 || typenum < NPY_TYPES::NPY_USERDEF as c_int {
        return Err(PyValueError::new_err("expected rectify.relu and the dtype ml_dtypes.bfloat16"));
    }
    let arg_types: &'static mut [c_int; 2] = Box::leak(Box::new([typenum, typenum]));
    // SAFETY: `ufunc` is a ufunc object (checked above: NumPy's ufunc type, one input);
    // `arg_types` lists one type number per operand and lives forever; the loop follows the
    // ufunc loop convention for bfloat16, which is 2 bytes like `rectify::bf16`.
    let rc = unsafe {
        PY_UFUNC_API.PyUFunc_RegisterLoopForType(
            py,
            ufunc.as_ptr().cast::<PyUFuncObject>(),
            typenum,
            Some(relu_loop::<rectify::bf16>),
            arg_types.as_mut_ptr(),
            ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(PyErr::fetch(py));
    }
    BFLOAT16_TYPENUM.store(typenum, Ordering::Relaxed);
    Ok(())
}

"""rectify: the ReLU family, exact and fast, for NumPy arrays.

``rectify.relu`` is a genuine :class:`numpy.ufunc` (broadcasting, ``out=``, ``where=``, in
place with ``out=x``, strided views, scalars). The other functions take arrays of any
shape of dtype float16, float32, float64, or bfloat16 (from the ``ml_dtypes`` package),
C-ordered or not, and an optional ``out=``. Every kernel runs with the GIL released and
gives the same bits as the Rust crate ``rectify``:

- ``relu(-0.0)`` is ``+0.0``; a NaN comes out with the same bits (payload and sign).
- A backward *selects*: a masked position gets ``+0.0`` even when ``dy`` is NaN or inf.
- At a kink the derivative is chosen by ``kink="lower"`` (default; PyTorch/TF/JAX),
  ``"upper"`` or ``"mid"``.
- float16 and bfloat16 compute in float32 and round once.

>>> import numpy as np, rectify
>>> rectify.relu(np.array([-1.0, -0.0, 2.0]))
array([0., 0., 2.])
>>> rectify.leaky_relu(np.array([-2.0, 3.0], dtype=np.float32), negative_slope=0.5)
array([-1.,  3.], dtype=float32)

Errors: an unsupported dtype is a ``TypeError`` naming it; arrays whose shapes do not
match are a ``ValueError`` naming both shapes; impossible parameters (a NaN slope,
``max_value <= threshold``, ``lower > upper``, ...) are a ``ValueError``; a read-only
``out`` is a ``ValueError``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import _rectify as _r

__all__ = [
    "ReluMask",
    "clipped_relu",
    "clipped_relu_",
    "crelu",
    "crelu_grad",
    "get_num_threads",
    "isa",
    "leaky_relu",
    "leaky_relu_",
    "leaky_relu_grad",
    "prelu",
    "prelu_",
    "prelu_grad",
    "ramp",
    "ramp_",
    "ramp_grad",
    "ramp_grad_from_output",
    "relu",
    "relu6",
    "relu6_",
    "relu6_grad",
    "relu_",
    "relu_grad",
    "relu_grad_from_mask",
    "relu_grad_from_output",
    "relu_with_mask",
    "rrelu",
    "rrelu_grad",
    "set_num_threads",
    "threshold",
    "threshold_",
    "threshold_grad",
    "thresholded_relu",
    "thresholded_relu_",
]

try:
    from importlib.metadata import version as _version

    __version__ = _version("rectify")
except Exception:  # pragma: no cover - not installed as a distribution
    __version__ = "0.0.0"

#: The ufunc: ``relu(x, /, out=None, *, where=True, ...)``.
relu = _r.relu

_FLOATS = ("float16", "float32", "float64", "bfloat16")

try:
    import ml_dtypes as _ml_dtypes
except ImportError:  # bfloat16 is optional
    _ml_dtypes = None

#: ``numpy.dtype(ml_dtypes.bfloat16)`` when ``ml_dtypes`` is installed, else ``None``.
bfloat16 = None if _ml_dtypes is None else np.dtype(_ml_dtypes.bfloat16)
if bfloat16 is not None:
    _r._register_bfloat16_loop(relu, bfloat16)


# --------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------


def _input(fn: str, x, name: str = "x") -> np.ndarray:
    """``x`` as a C-contiguous, aligned, native-order array of a float dtype."""
    a = x if type(x) is np.ndarray else np.asarray(x)
    dt = a.dtype
    if dt.name not in _FLOATS:
        raise TypeError(
            f"rectify.{fn}: {name} has unsupported dtype {dt}; "
            "expected float16, float32, float64 or bfloat16"
        )
    if not dt.isnative:
        a = a.astype(dt.newbyteorder("="))
    flags = a.flags
    if not (flags.c_contiguous and flags.aligned):
        a = np.array(a, order="C", copy=True)
    return a


def _shape(s) -> str:
    return str(tuple(s))


def _same(fn: str, a: np.ndarray, na: str, b: np.ndarray, nb: str) -> None:
    if a.dtype != b.dtype:
        raise TypeError(f"rectify.{fn}: {na} has dtype {a.dtype} but {nb} has dtype {b.dtype}")
    if a.shape != b.shape:
        raise ValueError(
            f"rectify.{fn}: shape mismatch: {na} has shape {_shape(a.shape)} but {nb} has shape {_shape(b.shape)}"
        )


def _output(fn: str, shape, dtype, out, inputs, name: str = "out"):
    """Where to write: ``(array, target)``; ``target`` is the user's ``out`` to copy the
    result into when the kernel cannot write it directly (non-contiguous, another byte
    order, or overlapping an input), else ``None``."""
    if out is None:
        return np.empty(shape, dtype), None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"rectify.{fn}: {name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype.name != dtype.name:
        raise TypeError(f"rectify.{fn}: {name} has dtype {out.dtype} but the result has dtype {dtype}")
    if out.shape != tuple(shape):
        raise ValueError(
            f"rectify.{fn}: shape mismatch: {name} has shape {_shape(out.shape)} "
            f"but the result has shape {_shape(shape)}"
        )
    if not out.flags.writeable:
        raise ValueError(f"rectify.{fn}: {name} is read-only")
    flags = out.flags
    if (
        flags.c_contiguous
        and flags.aligned
        and out.dtype.isnative
        and type(out) is np.ndarray
        and not any(np.may_share_memory(out, i) for i in inputs)
    ):
        return out, None
    return np.empty(shape, dtype), out


def _finish(result: np.ndarray, target, out):
    if target is not None:
        target[...] = result
        return target
    if out is None and result.ndim == 0:
        return result[()]
    return result


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides


def _unary(fn: str, x, out, call, call_inplace=None):
    x = _input(fn, x)
    if (
        call_inplace is not None
        and type(out) is np.ndarray
        and out.dtype == x.dtype
        and out.shape == x.shape
        and out.flags.writeable
        and out.flags.c_contiguous
        and _same_memory(out, x)
    ):
        call_inplace(out)
        return out
    o, target = _output(fn, x.shape, x.dtype, out, (x,))
    call(x, o)
    return _finish(o, target, out)


def _inplace(fn: str, x, call) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"rectify.{fn}: x must be a numpy.ndarray, got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError(f"rectify.{fn}: x is read-only")
    if x.dtype.name not in _FLOATS:
        raise TypeError(
            f"rectify.{fn}: x has unsupported dtype {x.dtype}; expected float16, float32, float64 or bfloat16"
        )
    f = x.flags
    if f.c_contiguous and f.aligned and x.dtype.isnative and type(x) is np.ndarray:
        call(x)
    else:
        tmp = _input(fn, x)
        if tmp is x or np.may_share_memory(tmp, x):
            tmp = tmp.copy()
        call(tmp)
        x[...] = tmp
    return x


def _binary(fn: str, dy, x, out, call, xname: str = "x", call_inplace=None):
    dy = _input(fn, dy, "dy")
    x = _input(fn, x, xname)
    _same(fn, dy, "dy", x, xname)
    if (
        call_inplace is not None
        and type(out) is np.ndarray
        and out.dtype == dy.dtype
        and out.shape == dy.shape
        and out.flags.writeable
        and out.flags.c_contiguous
        and _same_memory(out, dy)
        and not np.may_share_memory(out, x)
    ):
        call_inplace(out, x)  # out=dy: the kernel writes over dy
        return out
    o, target = _output(fn, dy.shape, dy.dtype, out, (dy, x))
    call(dy, x, o)
    return _finish(o, target, out)


def _kink(kink: str) -> str:
    if kink not in ("lower", "upper", "mid"):
        raise ValueError(f"kink must be 'lower', 'upper' or 'mid', got {kink!r}")
    return kink


def _axis(fn: str, axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"rectify.{fn}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


# --------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------


def ramp(x, negative_slope: float = 0.0, threshold: float = 0.0, max_value: float = math.inf, out=None):
    """The general ramp (the Keras ``relu`` parameters), element by element.

    ``x`` for ``threshold < x < max_value``; ``max_value`` for ``x >= max_value``;
    ``negative_slope * (x - threshold)`` for ``x <= threshold`` (``+0.0`` when the slope is
    0); NaN unchanged. ``max_value > threshold`` is required (``ValueError`` otherwise).

    >>> import numpy as np, rectify
    >>> rectify.ramp(np.array([-10.0, 0.5, 7.0]), negative_slope=0.1, max_value=6.0)
    array([-1. ,  0.5,  6. ])
    """
    return _ramp("ramp", x, negative_slope, threshold, max_value, out)


def _ramp(fn: str, x, negative_slope, threshold, max_value, out):
    """The ramp forward; errors name the public function ``fn``."""
    a, t, m = float(negative_slope), float(threshold), float(max_value)
    return _unary(
        fn,
        x,
        out,
        lambda x, o: _r.ramp(x, o, a, t, m),
        lambda o: _r.ramp_(o, a, t, m),
    )


def leaky_relu(x, negative_slope: float = 0.01, out=None):
    """Leaky ReLU: ``x`` for ``x > 0``, else ``negative_slope * x`` (PyTorch's default 0.01).

    >>> import numpy as np, rectify
    >>> rectify.leaky_relu(np.array([-2.0, 3.0]), 0.5)
    array([-1.,  3.])
    """
    return _ramp("leaky_relu", x, negative_slope, 0.0, math.inf, out)


def relu6(x, out=None):
    """ReLU6: ``min(max(x, 0), 6)``; NaN unchanged.

    >>> import numpy as np, rectify
    >>> rectify.relu6(np.array([-1.0, 3.0, 9.0]))
    array([0., 3., 6.])
    """
    return _ramp("relu6", x, 0.0, 0.0, 6.0, out)


def clipped_relu(x, max_value: float, out=None):
    """Clipped ReLU: ``min(max(x, 0), max_value)``, ``max_value > 0``.

    >>> import numpy as np, rectify
    >>> rectify.clipped_relu(np.array([-1.0, 0.5, 2.0]), 1.0)
    array([0. , 0.5, 1. ])
    """
    return _ramp("clipped_relu", x, 0.0, 0.0, max_value, out)


def thresholded_relu(x, threshold: float = 1.0, out=None):
    """Thresholded ReLU (ONNX ``ThresholdedRelu``): ``x`` for ``x > threshold``, else 0
    (NaN is kept, where ONNX sends it to 0).

    >>> import numpy as np, rectify
    >>> rectify.thresholded_relu(np.array([0.5, 1.0, 2.0]))
    array([0., 0., 2.])
    """
    return _ramp("thresholded_relu", x, 0.0, threshold, math.inf, out)


def threshold(x, th: float, value: float, out=None):
    """PyTorch ``threshold``: ``x`` where ``x > th``, else ``value``; NaN unchanged.

    >>> import numpy as np, rectify
    >>> rectify.threshold(np.array([0.5, 1.0, 2.0]), 1.0, -1.0)
    array([-1., -1.,  2.])
    """
    th, value = float(th), float(value)
    return _unary(
        "threshold",
        x,
        out,
        lambda x, o: _r.threshold(x, o, th, value),
        lambda o: _r.threshold_(o, th, value),
    )


def _prelu_geometry(fn: str, x: np.ndarray, weight, axis: int):
    """The slopes as a 1-D array of ``x``'s dtype, and ``inner`` for the kernel (``None``:
    one slope per element of the last axis)."""
    w = _input(fn, weight, "weight")
    if w.dtype != x.dtype:
        raise TypeError(f"rectify.{fn}: weight has dtype {w.dtype} but x has dtype {x.dtype}")
    if w.ndim != 1:
        raise ValueError(f"rectify.{fn}: weight must be 1-D (one slope per channel), got shape {_shape(w.shape)}")
    if w.size == 1:
        # One slope for everything (PyTorch's num_parameters=1): one channel.
        return w, (None if x.size <= 1 else x.size)
    if x.ndim < 2 and axis == 1:
        raise ValueError(
            f"rectify.{fn}: shape mismatch: x of shape {_shape(x.shape)} has no channel axis 1, "
            f"so weight must have shape (1,), got {_shape(w.shape)}"
        )
    ax = _axis(fn, axis, x.ndim) if x.ndim else 0
    channels = x.shape[ax] if x.ndim else 1
    if w.size != channels:
        raise ValueError(
            f"rectify.{fn}: shape mismatch: weight has shape {_shape(w.shape)} but x of shape "
            f"{_shape(x.shape)} has {channels} channels on axis {axis}"
        )
    inner = math.prod(x.shape[ax + 1 :])
    return w, (None if inner == 1 else inner)


def prelu(x, weight, axis: int = 1, out=None):
    """PReLU: ``x`` for ``x > 0``, else ``weight[c] * x`` with ``c`` the index on ``axis``
    (``axis=1``: PyTorch's NCHW channel dimension; ``axis=-1``: channel-last). A weight of
    shape ``(1,)`` is one slope for every element; inputs with fewer than 2 dimensions have
    one channel under the default ``axis=1``, as in PyTorch.

    >>> import numpy as np, rectify
    >>> x = np.array([[-1.0, -1.0], [2.0, -4.0]])
    >>> rectify.prelu(x, np.array([0.1, 0.5]))
    array([[-0.1, -0.5],
           [ 2. , -2. ]])
    """
    x = _input("prelu", x)
    w, inner = _prelu_geometry("prelu", x, weight, axis)
    o, target = _output("prelu", x.shape, x.dtype, out, (x, w))
    _r.prelu(x, w, o, inner)
    return _finish(o, target, out)


def rrelu(
    x,
    lower: float = 1.0 / 8.0,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    seed: int | None = None,
    out=None,
):
    """Randomized leaky ReLU (PyTorch ``RReLU``).

    In evaluation (``training=False``, the default) this is ``leaky_relu`` with slope
    ``(lower + upper) / 2`` and returns ``y``.

    In training it draws one slope per element uniformly in ``[lower, upper]`` and returns
    the pair ``(y, slopes)``: ``slopes`` (same shape and dtype as ``x``) is what
    ``rrelu_grad`` needs. The draw of element ``i`` depends only on ``(seed, i)``, so a seed
    reproduces the result bit for bit on any thread count; ``seed=None`` takes a fresh one
    from ``os.urandom``.

    >>> import numpy as np, rectify
    >>> rectify.rrelu(np.array([-1.0, 2.0]), 0.1, 0.3)
    array([-0.2,  2. ])
    >>> y, slopes = rectify.rrelu(np.array([-1.0, 2.0]), training=True, seed=7)
    >>> bool(y[0] == -slopes[0])
    True
    """
    lower, upper = float(lower), float(upper)
    if not training:
        return _unary("rrelu", x, out, lambda x, o: _r.rrelu_eval(x, o, lower, upper))
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little")
    seed = int(seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"rectify.rrelu: seed must be in [0, 2**64), got {seed}")
    x = _input("rrelu", x)
    o, target = _output("rrelu", x.shape, x.dtype, out, (x,))
    slopes = np.empty_like(x)
    _r.rrelu_train(x, o, slopes, lower, upper, seed)
    return _finish(o, target, out), slopes


def crelu(x, axis: int = -1, out=None):
    """CReLU (TensorFlow ``crelu``): ``concatenate([relu(x), relu(-x)], axis)``, so the
    result is twice as long on ``axis``. ``-x`` is a sign flip: a NaN comes out twice.

    >>> import numpy as np, rectify
    >>> rectify.crelu(np.array([[1.0, -2.0]]))
    array([[1., 0., 0., 2.]])
    """
    x = _input("crelu", x)
    if x.ndim == 0:
        x = x.reshape(1)
    ax = _axis("crelu", axis, x.ndim)
    xm = np.ascontiguousarray(np.moveaxis(x, ax, -1))
    n = xm.shape[-1]
    ym = np.empty(xm.shape[:-1] + (2 * n,), x.dtype)
    result_shape = x.shape[:ax] + (2 * n,) + x.shape[ax + 1 :]
    if out is not None:
        _output("crelu", result_shape, x.dtype, out, ())
    _r.crelu(xm, ym, n)
    y = np.moveaxis(ym, -1, ax)
    if out is not None:
        out[...] = y
        return out
    return y if ax == x.ndim - 1 else np.ascontiguousarray(y)


# --------------------------------------------------------------------------------------
# In place
# --------------------------------------------------------------------------------------


def relu_(x: np.ndarray) -> np.ndarray:
    """``relu`` in place (``relu(x, out=x)``); returns ``x``.

    >>> import numpy as np, rectify
    >>> x = np.array([-1.0, 2.0])
    >>> rectify.relu_(x)
    array([0., 2.])
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"rectify.relu_: x must be a numpy.ndarray, got {type(x).__name__}")
    if not x.flags.writeable:
        raise ValueError("rectify.relu_: x is read-only")
    return relu(x, out=x)


def ramp_(x: np.ndarray, negative_slope: float = 0.0, threshold: float = 0.0, max_value: float = math.inf):
    """``ramp`` in place; returns ``x``."""
    a, t, m = float(negative_slope), float(threshold), float(max_value)
    return _inplace("ramp_", x, lambda o: _r.ramp_(o, a, t, m))


def _ramp_inplace(fn: str, x, negative_slope, threshold, max_value):
    """The ramp forward in place; errors name the public function ``fn``."""
    a, t, m = float(negative_slope), float(threshold), float(max_value)
    return _inplace(fn, x, lambda o: _r.ramp_(o, a, t, m))


def leaky_relu_(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """``leaky_relu`` in place; returns ``x``.

    >>> import numpy as np, rectify
    >>> x = np.array([-2.0, 3.0])
    >>> rectify.leaky_relu_(x, 0.5)
    array([-1.,  3.])
    """
    return _ramp_inplace("leaky_relu_", x, negative_slope, 0.0, math.inf)


def relu6_(x: np.ndarray) -> np.ndarray:
    """``relu6`` in place; returns ``x``."""
    return _ramp_inplace("relu6_", x, 0.0, 0.0, 6.0)


def clipped_relu_(x: np.ndarray, max_value: float) -> np.ndarray:
    """``clipped_relu`` in place; returns ``x``."""
    return _ramp_inplace("clipped_relu_", x, 0.0, 0.0, max_value)


def thresholded_relu_(x: np.ndarray, threshold: float = 1.0) -> np.ndarray:
    """``thresholded_relu`` in place; returns ``x``."""
    return _ramp_inplace("thresholded_relu_", x, 0.0, threshold, math.inf)


def threshold_(x: np.ndarray, th: float, value: float) -> np.ndarray:
    """``threshold`` in place; returns ``x``."""
    th, value = float(th), float(value)
    return _inplace("threshold_", x, lambda o: _r.threshold_(o, th, value))


def prelu_(x: np.ndarray, weight, axis: int = 1) -> np.ndarray:
    """``prelu`` in place; returns ``x``."""

    def call(o):
        w, inner = _prelu_geometry("prelu_", o, weight, axis)
        tmp = np.empty_like(o)
        _r.prelu(o, w, tmp, inner)
        o[...] = tmp

    if not isinstance(x, np.ndarray):
        raise TypeError(f"rectify.prelu_: x must be a numpy.ndarray, got {type(x).__name__}")
    return _inplace("prelu_", x, call)


# --------------------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------------------


def ramp_grad(
    dy,
    x,
    negative_slope: float = 0.0,
    threshold: float = 0.0,
    max_value: float = math.inf,
    kink: str = "lower",
    out=None,
):
    """The gradient of ``ramp`` with respect to ``x``, as a select: ``dy`` on the linear part,
    ``negative_slope * dy`` below the threshold (``+0.0`` when the slope is 0), ``+0.0``
    above the cap and where ``x`` is NaN, and the ``kink`` rule exactly at the threshold
    and at the cap. ``dy`` and ``x`` must have the same shape and dtype.

    >>> import numpy as np, rectify
    >>> rectify.ramp_grad(np.ones(3), np.array([-1.0, 0.0, 7.0]), 0.1, max_value=6.0)
    array([0.1, 0.1, 0. ])
    """
    return _ramp_grad("ramp_grad", dy, x, negative_slope, threshold, max_value, kink, out)


def _ramp_grad(fn: str, dy, x, negative_slope, threshold, max_value, kink, out):
    """The ramp backward; errors name the public function ``fn``."""
    a, t, m, k = float(negative_slope), float(threshold), float(max_value), _kink(kink)
    return _binary(
        fn,
        dy,
        x,
        out,
        lambda dy, x, o: _r.ramp_grad(dy, x, o, a, t, m, k),
        call_inplace=lambda dy, x: _r.ramp_grad_(dy, x, a, t, m, k),
    )


def relu_grad(dy, x, kink: str = "lower", out=None):
    """ReLU backward from the input: ``dy`` where ``x > 0``, else ``+0.0`` (even where ``dy``
    is NaN or inf). At ``x == 0``: ``kink="lower"`` gives 0 (PyTorch/TF/JAX), ``"upper"``
    gives ``dy``, ``"mid"`` gives ``dy / 2``.

    >>> import numpy as np, rectify
    >>> rectify.relu_grad(np.array([np.nan, 5.0, 3.0]), np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 3.])
    """
    return _ramp_grad("relu_grad", dy, x, 0.0, 0.0, math.inf, kink, out)


def leaky_relu_grad(dy, x, negative_slope: float = 0.01, kink: str = "lower", out=None):
    """The gradient of ``leaky_relu``."""
    return _ramp_grad("leaky_relu_grad", dy, x, negative_slope, 0.0, math.inf, kink, out)


def relu6_grad(dy, x, kink: str = "lower", out=None):
    """The gradient of ``relu6``."""
    return _ramp_grad("relu6_grad", dy, x, 0.0, 0.0, 6.0, kink, out)


def ramp_grad_from_output(
    dy, y, negative_slope: float = 0.0, threshold: float = 0.0, max_value: float = math.inf, out=None
):
    """The gradient of ``ramp`` from its output ``y`` (the lower kink rule), bitwise equal to
    ``ramp_grad`` from the input. Needs ``negative_slope >= 0`` and ``threshold >= 0``
    (``ValueError`` otherwise: the output cannot tell the pieces apart)."""
    a, t, m = float(negative_slope), float(threshold), float(max_value)
    return _binary(
        "ramp_grad_from_output",
        dy,
        y,
        out,
        lambda dy, y, o: _r.ramp_grad_from_output(dy, y, o, a, t, m),
        xname="y",
    )


def relu_grad_from_output(dy, y, out=None):
    """ReLU backward from the output ``y = relu(x)``: the same bits as ``relu_grad(dy, x)``
    (``y > 0`` exactly where ``x > 0``), so the forward may run in place.

    >>> import numpy as np, rectify
    >>> y = rectify.relu(np.array([-1.0, 2.0]))
    >>> rectify.relu_grad_from_output(np.ones(2), y)
    array([0., 1.])
    """
    return ramp_grad_from_output(dy, y, 0.0, 0.0, math.inf, out=out)


def threshold_grad(dy, x, th: float, out=None):
    """The gradient of ``threshold``: ``dy`` where ``x > th``, else ``+0.0``."""
    th = float(th)
    return _binary("threshold_grad", dy, x, out, lambda dy, x, o: _r.threshold_grad(dy, x, o, th))


def prelu_grad(dy, x, weight, axis: int = 1, kink: str = "lower"):
    """PReLU backward: returns ``(dx, dweight)``. ``dx`` is ``dy`` for ``x > 0``,
    ``weight[c] * dy`` for ``x < 0`` and the kink rule at 0; ``dweight[c]`` is the sum of
    ``x * dy`` over the channel's elements with ``x < 0``, taken in float64 in a fixed
    order (the same bits on any thread count) and rounded once: each plane (one channel's
    run within one row; one element for ``axis=-1``) into 16 interleaved partial sums
    (element ``i`` into sum ``i % 16``), folded as sum ``j`` plus sum ``j + h`` for
    ``h`` = 8, 4, 2, 1, the planes' sums added row after row within blocks of as many
    whole rows as fit in 16384 elements (at least one), the blocks' sums in order.

    >>> import numpy as np, rectify
    >>> dx, dw = rectify.prelu_grad(np.ones((2, 2)), np.array([[-2.0, 3.0], [-4.0, 5.0]]), np.array([0.5, 0.25]))
    >>> dx
    array([[0.5, 1. ],
           [0.5, 1. ]])
    >>> dw
    array([-6.,  0.])
    """
    k = _kink(kink)
    dy = _input("prelu_grad", dy, "dy")
    x = _input("prelu_grad", x)
    _same("prelu_grad", dy, "dy", x, "x")
    w, inner = _prelu_geometry("prelu_grad", x, weight, axis)
    dx = np.empty_like(x)
    dw = np.empty_like(w)
    _r.prelu_grad(dy, x, w, dx, dw, inner, k)
    return dx, dw


def rrelu_grad(dy, x, slopes=None, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0, kink: str = "lower", out=None):
    """RReLU backward. With ``slopes`` (from ``rrelu(..., training=True)``): ``dy`` for
    ``x > 0``, ``slopes * dy`` for ``x < 0``, the kink rule at 0. Without: the gradient of
    the evaluation-mode leaky ReLU with slope ``(lower + upper) / 2``."""
    lower, upper, k = float(lower), float(upper), _kink(kink)
    if slopes is None:
        return _binary("rrelu_grad", dy, x, out, lambda dy, x, o: _r.rrelu_grad(dy, x, None, o, lower, upper, k))
    s = _input("rrelu_grad", slopes, "slopes")

    def call(dy, x, o):
        _same("rrelu_grad", x, "x", s, "slopes")
        _r.rrelu_grad(dy, x, s, o, lower, upper, k)

    return _binary("rrelu_grad", dy, x, out, call)


def crelu_grad(dy, x, axis: int = -1, out=None):
    """CReLU backward: with ``dy = concatenate([dy_pos, dy_neg], axis)``, ``dy_pos`` where
    ``x > 0``, ``-dy_neg`` where ``x < 0``, ``+0.0`` at 0 and for NaN."""
    dy = _input("crelu_grad", dy, "dy")
    x = _input("crelu_grad", x)
    if x.ndim == 0:
        x = x.reshape(1)
    if dy.dtype != x.dtype:
        raise TypeError(f"rectify.crelu_grad: dy has dtype {dy.dtype} but x has dtype {x.dtype}")
    ax = _axis("crelu_grad", axis, x.ndim)
    want = x.shape[:ax] + (2 * x.shape[ax],) + x.shape[ax + 1 :]
    if dy.shape != want:
        raise ValueError(
            f"rectify.crelu_grad: shape mismatch: dy has shape {_shape(dy.shape)} but x has shape "
            f"{_shape(x.shape)} (dy must have shape {_shape(want)})"
        )
    xm = np.ascontiguousarray(np.moveaxis(x, ax, -1))
    dym = np.ascontiguousarray(np.moveaxis(dy, ax, -1))
    dxm = np.empty_like(xm)
    _r.crelu_grad(dym, xm, dxm, xm.shape[-1])
    dx = np.moveaxis(dxm, -1, ax)
    if out is not None:
        _output("crelu_grad", x.shape, x.dtype, out, ())
        out[...] = dx
        return out
    return np.ascontiguousarray(dx)


# --------------------------------------------------------------------------------------
# The 1-bit mask
# --------------------------------------------------------------------------------------


class ReluMask:
    """Where ``x > 0``, one bit per element (bit ``i % 64`` of word ``i // 64``, in the C
    order of ``shape``); NaN, zeros and negatives are 0.

    Keeping this instead of the forward's input or output for the backward saves memory:
    ``ceil(n / 64) * 8`` bytes instead of ``n * itemsize``, 32x less than a float32 array
    (16x for float16/bfloat16, 64x for float64).

    Attributes: ``words`` (a 1-D ``uint64`` array) and ``shape`` (a tuple).
    """

    __slots__ = ("shape", "words")

    def __init__(self, words: np.ndarray, shape) -> None:
        shape = tuple(int(s) for s in shape)
        words = np.ascontiguousarray(words, dtype=np.uint64)
        n = math.prod(shape)
        if words.ndim != 1 or words.size != (n + 63) // 64:
            raise ValueError(
                f"ReluMask: {words.size} words of shape {_shape(words.shape)} cannot hold a mask of shape {_shape(shape)}"
            )
        self.words = words
        self.shape = shape

    @property
    def size(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes held by the bits."""
        return self.words.nbytes

    def count_nonzero(self) -> int:
        """The number of set bits (elements with ``x > 0``)."""
        return int(np.unpackbits(self.words.view(np.uint8)).sum())

    def to_bool(self) -> np.ndarray:
        """The mask as a boolean array of ``shape``."""
        bits = np.unpackbits(self.words.view(np.uint8), bitorder="little")[: self.size]
        return bits.astype(bool).reshape(self.shape)

    def __repr__(self) -> str:
        return f"ReluMask(shape={self.shape}, nbytes={self.nbytes})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReluMask):
            return NotImplemented
        return self.shape == other.shape and bool(np.array_equal(self.words, other.words))

    __hash__ = None  # type: ignore[assignment]


def relu_with_mask(x, out=None):
    """ReLU forward that also returns the 1-bit mask of ``x > 0``: ``(y, mask)``.

    >>> import numpy as np, rectify
    >>> y, mask = rectify.relu_with_mask(np.array([-1.0, 2.0, -3.0, 4.0], dtype=np.float32))
    >>> y
    array([0., 2., 0., 4.], dtype=float32)
    >>> rectify.relu_grad_from_mask(np.ones(4, dtype=np.float32), mask)
    array([0., 1., 0., 1.], dtype=float32)
    >>> mask.nbytes
    8
    """
    x = _input("relu_with_mask", x)
    o, target = _output("relu_with_mask", x.shape, x.dtype, out, (x,))
    words = _r.relu_with_mask(x, o)
    return _finish(o, target, out), ReluMask(words, x.shape)


def relu_grad_from_mask(dy, mask: ReluMask, out=None):
    """ReLU backward from the mask of ``relu_with_mask``: ``dy`` where the bit is set, else
    ``+0.0``; bitwise equal to ``relu_grad(dy, x)``."""
    if not isinstance(mask, ReluMask):
        raise TypeError(f"rectify.relu_grad_from_mask: mask must be a rectify.ReluMask, got {type(mask).__name__}")
    dy = _input("relu_grad_from_mask", dy, "dy")
    if dy.shape != mask.shape:
        raise ValueError(
            f"rectify.relu_grad_from_mask: shape mismatch: dy has shape {_shape(dy.shape)} "
            f"but the mask has shape {_shape(mask.shape)}"
        )
    o, target = _output("relu_grad_from_mask", dy.shape, dy.dtype, out, (dy,))
    _r.relu_grad_from_mask(dy, mask.words, mask.size, o)
    return _finish(o, target, out)


# --------------------------------------------------------------------------------------
# Threads and the machine
# --------------------------------------------------------------------------------------


def set_num_threads(n: int) -> None:
    """Sets how many threads a kernel call may use (``0``: one per core; clamped to the
    number of cores). A call splits only when every thread gets at least 8 MiB of its
    largest array; the results are the same bits for every thread count. The initial value
    comes from ``RECTIFY_NUM_THREADS``, else one per core."""
    n = int(n)
    if n < 0:
        raise ValueError(f"rectify.set_num_threads: n must be >= 0, got {n}")
    _r.set_num_threads(n)


def get_num_threads() -> int:
    """How many threads a kernel call may use."""
    return _r.get_num_threads()


def isa() -> str:
    """The instruction-set level the kernels use: ``"scalar"``, ``"v3"`` (AVX2) or ``"v4"``
    (AVX-512)."""
    return _r.isa()

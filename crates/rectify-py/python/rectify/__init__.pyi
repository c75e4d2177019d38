"""Type stubs of the Python package ``rectify`` (see ``__init__.py`` for the docs)."""

from typing import Final, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

_Kink = Literal["lower", "upper", "mid"]

__version__: str
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

#: The ufunc: ``relu(x, /, out=None, *, where=True, casting='same_kind', order='K',
#: dtype=None, subok=True)``; loops for float16, float32, float64 (bfloat16 with
#: ml_dtypes) and the integer types.
relu: Final[np.ufunc]

#: ``numpy.dtype(ml_dtypes.bfloat16)`` when ml_dtypes is installed, else ``None``.
bfloat16: np.dtype[np.generic] | None

# Forward (any shape; float16, float32, float64, bfloat16). A 0-d input without ``out``
# gives a NumPy scalar, like a ufunc.
def ramp(
    x: ArrayLike,
    negative_slope: float = 0.0,
    threshold: float = 0.0,
    max_value: float = ...,
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
def leaky_relu(
    x: ArrayLike, negative_slope: float = 0.01, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def relu6(x: ArrayLike, out: NDArray[np.floating] | None = None) -> NDArray[np.floating]: ...
def clipped_relu(x: ArrayLike, max_value: float, out: NDArray[np.floating] | None = None) -> NDArray[np.floating]: ...
def thresholded_relu(
    x: ArrayLike, threshold: float = 1.0, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def threshold(x: ArrayLike, th: float, value: float, out: NDArray[np.floating] | None = None) -> NDArray[np.floating]: ...
def prelu(
    x: ArrayLike, weight: ArrayLike, axis: int = 1, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
@overload
def rrelu(
    x: ArrayLike,
    lower: float = ...,
    upper: float = ...,
    training: Literal[False] = False,
    seed: int | None = None,
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
@overload
def rrelu(
    x: ArrayLike,
    lower: float = ...,
    upper: float = ...,
    *,
    training: Literal[True],
    seed: int | None = None,
    out: NDArray[np.floating] | None = None,
) -> tuple[NDArray[np.floating], NDArray[np.floating]]: ...
@overload
def rrelu(
    x: ArrayLike,
    lower: float,
    upper: float,
    training: Literal[True],
    seed: int | None = None,
    out: NDArray[np.floating] | None = None,
) -> tuple[NDArray[np.floating], NDArray[np.floating]]: ...
def crelu(x: ArrayLike, axis: int = -1, out: NDArray[np.floating] | None = None) -> NDArray[np.floating]: ...

# In place (return their argument)
def relu_(x: NDArray[np.generic]) -> NDArray[np.generic]: ...
def ramp_(
    x: NDArray[np.floating], negative_slope: float = 0.0, threshold: float = 0.0, max_value: float = ...
) -> NDArray[np.floating]: ...
def leaky_relu_(x: NDArray[np.floating], negative_slope: float = 0.01) -> NDArray[np.floating]: ...
def relu6_(x: NDArray[np.floating]) -> NDArray[np.floating]: ...
def clipped_relu_(x: NDArray[np.floating], max_value: float) -> NDArray[np.floating]: ...
def thresholded_relu_(x: NDArray[np.floating], threshold: float = 1.0) -> NDArray[np.floating]: ...
def threshold_(x: NDArray[np.floating], th: float, value: float) -> NDArray[np.floating]: ...
def prelu_(x: NDArray[np.floating], weight: ArrayLike, axis: int = 1) -> NDArray[np.floating]: ...

# Backward (dy and x: same shape and dtype)
def ramp_grad(
    dy: ArrayLike,
    x: ArrayLike,
    negative_slope: float = 0.0,
    threshold: float = 0.0,
    max_value: float = ...,
    kink: _Kink = "lower",
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
def relu_grad(
    dy: ArrayLike, x: ArrayLike, kink: _Kink = "lower", out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def leaky_relu_grad(
    dy: ArrayLike,
    x: ArrayLike,
    negative_slope: float = 0.01,
    kink: _Kink = "lower",
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
def relu6_grad(
    dy: ArrayLike, x: ArrayLike, kink: _Kink = "lower", out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def ramp_grad_from_output(
    dy: ArrayLike,
    y: ArrayLike,
    negative_slope: float = 0.0,
    threshold: float = 0.0,
    max_value: float = ...,
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
def relu_grad_from_output(
    dy: ArrayLike, y: ArrayLike, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def threshold_grad(
    dy: ArrayLike, x: ArrayLike, th: float, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...
def prelu_grad(
    dy: ArrayLike, x: ArrayLike, weight: ArrayLike, axis: int = 1, kink: _Kink = "lower"
) -> tuple[NDArray[np.floating], NDArray[np.floating]]: ...
def rrelu_grad(
    dy: ArrayLike,
    x: ArrayLike,
    slopes: ArrayLike | None = None,
    lower: float = ...,
    upper: float = ...,
    kink: _Kink = "lower",
    out: NDArray[np.floating] | None = None,
) -> NDArray[np.floating]: ...
def crelu_grad(
    dy: ArrayLike, x: ArrayLike, axis: int = -1, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...

# The 1-bit mask
class ReluMask:
    words: NDArray[np.uint64]
    shape: tuple[int, ...]
    def __init__(self, words: ArrayLike, shape: tuple[int, ...]) -> None: ...
    @property
    def size(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def count_nonzero(self) -> int: ...
    def to_bool(self) -> NDArray[np.bool_]: ...
    def __eq__(self, other: object) -> bool: ...

def relu_with_mask(
    x: ArrayLike, out: NDArray[np.floating] | None = None
) -> tuple[NDArray[np.floating], ReluMask]: ...
def relu_grad_from_mask(
    dy: ArrayLike, mask: ReluMask, out: NDArray[np.floating] | None = None
) -> NDArray[np.floating]: ...

# Threads and the machine
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def isa() -> Literal["scalar", "v3", "v4"]: ...

"""The native module. Not a public API: use ``rectify``. Every array argument must be a
C-contiguous ``numpy.ndarray`` of one float dtype (``out`` arrays writable, not
overlapping the inputs); each function checks that and raises TypeError/ValueError."""

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "_register_bfloat16_loop",
    "crelu",
    "crelu_grad",
    "get_num_threads",
    "isa",
    "prelu",
    "prelu_grad",
    "ramp",
    "ramp_",
    "ramp_grad",
    "ramp_grad_",
    "ramp_grad_from_output",
    "relu",
    "relu_grad_from_mask",
    "relu_with_mask",
    "rrelu_eval",
    "rrelu_grad",
    "rrelu_train",
    "set_num_threads",
    "threshold",
    "threshold_",
    "threshold_grad",
]

relu: np.ufunc

def _register_bfloat16_loop(ufunc: np.ufunc, dtype: np.dtype[np.generic]) -> None: ...
def ramp(x: NDArray[np.generic], out: NDArray[np.generic], negative_slope: float, threshold: float, max_value: float) -> None: ...
def ramp_(x: NDArray[np.generic], negative_slope: float, threshold: float, max_value: float) -> None: ...
def ramp_grad(
    dy: NDArray[np.generic],
    x: NDArray[np.generic],
    out: NDArray[np.generic],
    negative_slope: float,
    threshold: float,
    max_value: float,
    kink: str,
) -> None: ...
def ramp_grad_(
    dy: NDArray[np.generic], x: NDArray[np.generic], negative_slope: float, threshold: float, max_value: float, kink: str
) -> None: ...
def ramp_grad_from_output(
    dy: NDArray[np.generic],
    y: NDArray[np.generic],
    out: NDArray[np.generic],
    negative_slope: float,
    threshold: float,
    max_value: float,
) -> None: ...
def threshold(x: NDArray[np.generic], out: NDArray[np.generic], th: float, value: float) -> None: ...
def threshold_(x: NDArray[np.generic], th: float, value: float) -> None: ...
def threshold_grad(dy: NDArray[np.generic], x: NDArray[np.generic], out: NDArray[np.generic], th: float) -> None: ...
def prelu(x: NDArray[np.generic], weight: NDArray[np.generic], out: NDArray[np.generic], inner: int | None) -> None: ...
def prelu_grad(
    dy: NDArray[np.generic],
    x: NDArray[np.generic],
    weight: NDArray[np.generic],
    dx: NDArray[np.generic],
    dweight: NDArray[np.generic],
    inner: int | None,
    kink: str,
) -> None: ...
def rrelu_train(
    x: NDArray[np.generic], out: NDArray[np.generic], slopes: NDArray[np.generic], lower: float, upper: float, seed: int
) -> None: ...
def rrelu_eval(x: NDArray[np.generic], out: NDArray[np.generic], lower: float, upper: float) -> None: ...
def rrelu_grad(
    dy: NDArray[np.generic],
    x: NDArray[np.generic],
    slopes: NDArray[np.generic] | None,
    out: NDArray[np.generic],
    lower: float,
    upper: float,
    kink: str,
) -> None: ...
def crelu(x: NDArray[np.generic], out: NDArray[np.generic], n: int) -> None: ...
def crelu_grad(dy: NDArray[np.generic], x: NDArray[np.generic], out: NDArray[np.generic], n: int) -> None: ...
def relu_with_mask(x: NDArray[np.generic], out: NDArray[np.generic]) -> NDArray[np.uint64]: ...
def relu_grad_from_mask(dy: NDArray[np.generic], words: NDArray[np.uint64], n: int, out: NDArray[np.generic]) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def isa() -> str: ...

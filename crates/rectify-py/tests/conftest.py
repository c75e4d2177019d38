"""Shared helpers: the dtypes under test, bit views, the contract's edge-case vector and
NumPy references of every op, written from ../shared/SEMANTICS.md."""

from __future__ import annotations

import math

import numpy as np
import pytest

try:
    import ml_dtypes
except ImportError:  # bfloat16 tests are skipped
    ml_dtypes = None

FLOATS = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
if ml_dtypes is not None:
    FLOATS.append(np.dtype(ml_dtypes.bfloat16))

UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
# (exponent bits, mantissa bits)
LAYOUT = {"float16": (5, 10), "bfloat16": (8, 7), "float32": (8, 23), "float64": (11, 52)}


@pytest.fixture(params=FLOATS, ids=lambda d: d.name)
def dtype(request):
    return request.param


def bits(a) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(UINT[a.dtype.itemsize])


def from_bits(dt, b) -> np.ndarray:
    dt = np.dtype(dt)
    return np.array(b, dtype=UINT[dt.itemsize]).view(dt)


def assert_bits(got, want) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    g, w = bits(got), bits(want)
    if not np.array_equal(g, w):
        bad = np.flatnonzero(g.ravel() != w.ravel())[:8]
        raise AssertionError(
            f"{bad.size} bit mismatches, first at {bad.tolist()}: "
            f"got {[hex(int(v)) for v in g.ravel()[bad]]}, want {[hex(int(v)) for v in w.ravel()[bad]]}"
        )


def comp(dt):
    """The compute type: float64 for float64, float32 for the rest."""
    return np.float64 if np.dtype(dt) == np.float64 else np.float32


def widen(x):
    with np.errstate(all="ignore"):
        return x.astype(comp(x.dtype))


def narrow(c, dt):
    with np.errstate(all="ignore"):
        return np.asarray(c).astype(dt)


def elem(v, dt):
    """A parameter rounded to the dtype."""
    with np.errstate(all="ignore"):
        return np.array([v], dtype=np.float64).astype(dt)[0:1]


def isnan(x):
    return np.isnan(widen(x))


def neighbours(dt, v):
    """``v`` rounded to the dtype and its two neighbours, as bit patterns."""
    dt = np.dtype(dt)
    sign = 1 << (dt.itemsize * 8 - 1)
    b = int(bits(elem(v, dt))[0])
    if b == 0 or b == sign:
        return [sign | 1, b, 1]
    if b & sign:
        return [b + 1, b, b - 1]
    return [b - 1, b, b + 1]


def edge_vector(dt, t=0.0, m=6.0) -> np.ndarray:
    """The contract's edge cases: NaNs (payload, negative, signalling), infinities, zeros,
    smallest subnormal and normal, +-1, the cap m and the threshold t with their
    neighbours, the largest finite."""
    dt = np.dtype(dt)
    e, mb = LAYOUT[dt.name]
    sign = 1 << (dt.itemsize * 8 - 1)
    expall = ((1 << e) - 1) << mb
    quiet = 1 << (mb - 1)
    one = int(bits(elem(1.0, dt))[0])
    pats = [
        expall | quiet | 0x5,  # +NaN with a payload
        sign | expall | quiet,  # -NaN
        expall | 0x3,  # signalling NaN
        sign | expall | 0x1,  # negative signalling NaN
        expall,  # +inf
        sign | expall,  # -inf
        sign,  # -0.0
        0,  # +0.0
        1,  # smallest subnormal
        sign | 1,
        1 << mb,  # smallest normal
        sign | (1 << mb),
        one,
        sign | one,
        expall - 1,  # largest finite
        sign | (expall - 1),
    ]
    if math.isfinite(m):
        pats += neighbours(dt, m)
    pats += neighbours(dt, t)
    return from_bits(dt, pats)


def sample_vector(dt, t=0.0, m=6.0, n=2000, seed=0) -> np.ndarray:
    """The edge vector, then random values around t and m (some exactly on them)."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(n) * 4.0
    r[::17] = t
    if math.isfinite(m):
        r[::13] = m
    with np.errstate(all="ignore"):
        return np.concatenate([edge_vector(dt, t, m), r.astype(dt)])


def gradients(dt) -> np.ndarray:
    """The contract's upstream gradients: 1, -1, +inf, NaN, -0.0 (and 0.5)."""
    return np.array([1.0, -1.0, np.inf, np.nan, -0.0, 0.5]).astype(dt)


def grid(x, dy):
    """Every pair of (x, dy): two flat arrays of len(x) * len(dy)."""
    return np.repeat(x, dy.size), np.tile(dy, x.size)


# ------------------------------------------------------------------------------------
# References (plain NumPy, branch by branch as in the contract's tables)
# ------------------------------------------------------------------------------------

KINK = {
    "lower": lambda l, r: min(l, r),
    "upper": lambda l, r: max(l, r),
    "mid": lambda l, r: (l + r) / 2.0,
}


def ref_relu(x):
    zero = np.zeros_like(x)
    return np.where(isnan(x) | (widen(x) > 0), x, zero)


def ref_ramp(x, a=0.0, t=0.0, m=math.inf):
    dt, c = x.dtype, comp(x.dtype)
    xc = widen(x)
    tc = widen(elem(t, dt))[0]
    me = elem(m, dt)
    ac = c(a)
    with np.errstate(all="ignore"):
        slope = np.zeros_like(x) if float(ac) == 0.0 else narrow(ac * (xc - tc), dt)
    r = np.where(xc > tc, x, slope)
    mc = widen(me)[0]
    if np.isfinite(mc):
        r = np.where(xc >= mc, np.broadcast_to(me, x.shape), r)
    return np.where(isnan(x), x, r)


def kink_value(factor, dy):
    if factor == 0.0:
        return np.zeros_like(dy)
    if factor == 1.0:
        return dy.copy()
    with np.errstate(all="ignore"):
        return narrow(comp(dy.dtype)(factor) * widen(dy), dy.dtype)


def ref_ramp_grad(dy, x, a=0.0, t=0.0, m=math.inf, kink="lower"):
    dt, c = x.dtype, comp(x.dtype)
    xc = widen(x)
    tc = widen(elem(t, dt))[0]
    mc = widen(elem(m, dt))[0]
    ac = c(a)
    a64 = float(ac)
    zero = np.zeros_like(dy)
    with np.errstate(all="ignore"):
        slope = zero if a64 == 0.0 else narrow(ac * widen(dy), dt)
    r = np.where(xc == tc, kink_value(KINK[kink](a64, 1.0), dy), slope)
    r = np.where(xc > tc, dy, r)
    if np.isfinite(mc):
        r = np.where(xc == mc, kink_value(KINK[kink](1.0, 0.0), dy), r)
        r = np.where(xc > mc, zero, r)
    return np.where(isnan(x), zero, r)


def ref_sloped(x, a):
    """x > 0 ? x : a * x, per element slopes ``a`` (of x's dtype), NaN kept."""
    xc, ac = widen(x), widen(np.broadcast_to(a, x.shape).astype(x.dtype))
    with np.errstate(all="ignore"):
        slope = np.where(ac == 0, np.zeros_like(x), narrow(ac * xc, x.dtype))
    r = np.where(xc > 0, x, slope)
    return np.where(isnan(x), x, r)


def ref_sloped_grad(dy, x, a, kink="lower"):
    """The per-element-slope backward (PReLU, RReLU training)."""
    dt, c = x.dtype, comp(x.dtype)
    a = np.broadcast_to(a, x.shape).astype(dt)
    xc, ac = widen(x), widen(a)
    a64 = ac.astype(np.float64)
    zero = np.zeros_like(dy)
    f = {"lower": np.minimum(a64, 1.0), "upper": np.maximum(a64, 1.0), "mid": (a64 + 1.0) / 2.0}[kink]
    with np.errstate(all="ignore"):
        at_kink = np.where(f == 0, zero, np.where(f == 1, dy, narrow(f.astype(c) * widen(dy), dt)))
        slope = np.where(a64 == 0, zero, narrow(ac * widen(dy), dt))
    r = np.where(xc == 0, at_kink, slope)
    r = np.where(xc > 0, dy, r)
    return np.where(isnan(x), zero, r)


def negate(x):
    """Flip the sign bit (exact, NaN included)."""
    sign = 1 << (x.dtype.itemsize * 8 - 1)
    return (bits(x) ^ UINT[x.dtype.itemsize](sign)).view(x.dtype).reshape(x.shape)

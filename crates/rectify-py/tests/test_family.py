"""The functions with parameters, forward and backward, bitwise against the NumPy
references of conftest.py, on the contract's edge-case vector and random data, every
dtype, C-ordered and strided inputs, out=, out=x and in place."""

import math

import numpy as np
import pytest
from conftest import (
    assert_bits,
    edge_vector,
    gradients,
    grid,
    negate,
    ref_ramp,
    ref_ramp_grad,
    ref_relu,
    ref_sloped,
    ref_sloped_grad,
    sample_vector,
)

import rectify

INF = math.inf

# (negative_slope, threshold, max_value)
PARAMS = [
    (0.0, 0.0, INF),
    (0.01, 0.0, INF),
    (0.0, 0.0, 6.0),
    (0.0, 0.0, 2.5),
    (0.0, 1.0, INF),
    (0.1, -0.5, 3.0),
    (-0.3, 0.25, INF),
    (1.5, 0.0, 6.0),
    (1.0, 0.0, INF),
]

KINKS = ["lower", "upper", "mid"]


def vec(dtype, a, t, m, n=2000):
    return sample_vector(dtype, t=t, m=(m if math.isfinite(m) else 6.0), n=n)


@pytest.mark.parametrize("a,t,m", PARAMS)
def test_ramp_forward(dtype, a, t, m):
    x = vec(dtype, a, t, m)
    want = ref_ramp(x, a, t, m)
    assert_bits(rectify.ramp(x, a, t, m), want)
    # non-contiguous input, strided out
    assert_bits(rectify.ramp(x[::2], a, t, m), want[::2])
    out = np.empty(2 * x.size, dtype)
    r = rectify.ramp(x, a, t, m, out=out[::2])
    assert_bits(out[::2], want)
    assert np.shares_memory(r, out)
    # out=x (in place through the out argument) and ramp_
    y = x.copy()
    assert rectify.ramp(y, a, t, m, out=y) is y
    assert_bits(y, want)
    z = x.copy()
    assert rectify.ramp_(z, a, t, m) is z
    assert_bits(z, want)
    w = x.copy()
    rectify.ramp_(w[::3], a, t, m)
    assert_bits(w[::3], want[::3])
    assert_bits(w[1::3], x[1::3])


def test_named_forwards(dtype):
    x = sample_vector(dtype, t=1.0, m=6.0)
    assert_bits(rectify.leaky_relu(x), ref_ramp(x, 0.01))
    assert_bits(rectify.leaky_relu(x, 0.2), ref_ramp(x, 0.2))
    assert_bits(rectify.leaky_relu(x, 0.0), ref_relu(x))
    assert_bits(rectify.relu6(x), ref_ramp(x, 0.0, 0.0, 6.0))
    assert_bits(rectify.clipped_relu(x, 2.0), ref_ramp(x, 0.0, 0.0, 2.0))
    assert_bits(rectify.thresholded_relu(x), ref_ramp(x, 0.0, 1.0))
    assert_bits(rectify.thresholded_relu(x, 0.5), ref_ramp(x, 0.0, 0.5))
    for fn, args in [
        (rectify.leaky_relu_, (0.2,)),
        (rectify.relu6_, ()),
        (rectify.clipped_relu_, (2.0,)),
        (rectify.thresholded_relu_, (0.5,)),
    ]:
        y = x.copy()
        assert fn(y, *args) is y
    y = x.copy()
    rectify.leaky_relu_(y, 0.2)
    assert_bits(y, ref_ramp(x, 0.2))


def test_leaky_of_negative_zero_is_negative_zero(dtype):
    y = rectify.leaky_relu(np.array([-0.0], dtype), 0.5)
    assert np.signbit(y.astype(np.float32))[0]


def test_any_shape(dtype):
    x = sample_vector(dtype, n=4000)[: 2 * 3 * 4 * 5].reshape(2, 3, 4, 5)
    assert_bits(rectify.leaky_relu(x, 0.1), ref_ramp(x, 0.1))
    assert_bits(rectify.leaky_relu(x.transpose(3, 1, 0, 2), 0.1), ref_ramp(x.transpose(3, 1, 0, 2).copy(), 0.1))
    s = rectify.relu6(np.array(7.0, dtype))
    assert float(s) == 6.0
    assert rectify.leaky_relu(np.empty((0, 3), dtype)).shape == (0, 3)


@pytest.mark.parametrize("a,t,m", PARAMS)
@pytest.mark.parametrize("kink", KINKS)
def test_ramp_grad(dtype, a, t, m, kink):
    x0 = edge_vector(dtype, t, m if math.isfinite(m) else 6.0)
    x, dy = grid(x0, gradients(dtype))
    want = ref_ramp_grad(dy, x, a, t, m, kink)
    assert_bits(rectify.ramp_grad(dy, x, a, t, m, kink=kink), want)
    # random data too, strided inputs, out=, out=dy
    xr = vec(dtype, a, t, m)
    dyr = sample_vector(dtype, n=xr.size - 22 + 0, seed=5)[: xr.size]
    want = ref_ramp_grad(dyr, xr, a, t, m, kink)
    assert_bits(rectify.ramp_grad(dyr[::-1], xr[::-1], a, t, m, kink), want[::-1])
    g = dyr.copy()
    assert rectify.ramp_grad(g, xr, a, t, m, kink, out=g) is g  # in place over dy
    assert_bits(g, want)
    h = np.zeros(2 * dyr.size, dtype)
    h[::2] = dyr
    rectify.ramp_grad(h[::2], xr, a, t, m, kink, out=h[::2])  # strided out=dy
    assert_bits(h[::2], want)


def test_named_grads(dtype):
    x0 = edge_vector(dtype, 0.0, 6.0)
    x, dy = grid(x0, gradients(dtype))
    for kink in KINKS:
        assert_bits(rectify.relu_grad(dy, x, kink=kink), ref_ramp_grad(dy, x, kink=kink))
        assert_bits(rectify.relu6_grad(dy, x, kink=kink), ref_ramp_grad(dy, x, 0.0, 0.0, 6.0, kink))
        assert_bits(rectify.leaky_relu_grad(dy, x, 0.2, kink=kink), ref_ramp_grad(dy, x, 0.2, 0.0, INF, kink))
    # select, not multiply: NaN and inf upstream gradients vanish where masked
    g = rectify.relu_grad(np.array([np.nan, np.inf], dtype), np.array([-1.0, 0.0], dtype))
    assert_bits(g, np.zeros(2, dtype))


@pytest.mark.parametrize("a,t,m", [p for p in PARAMS if p[0] >= 0 and p[1] >= 0])
def test_grad_from_output_equals_grad_from_input(dtype, a, t, m):
    x0 = edge_vector(dtype, t, m if math.isfinite(m) else 6.0)
    x, dy = grid(x0, gradients(dtype))
    y = rectify.ramp(x, a, t, m)
    assert_bits(rectify.ramp_grad_from_output(dy, y, a, t, m), rectify.ramp_grad(dy, x, a, t, m))
    if (a, t, m) == (0.0, 0.0, INF):
        assert_bits(rectify.relu_grad_from_output(dy, y), rectify.relu_grad(dy, x))


def test_grad_from_output_refuses_negative_slope(dtype):
    x = np.ones(3, dtype)
    with pytest.raises(ValueError, match="output"):
        rectify.ramp_grad_from_output(x, x, -0.5)


def ref_threshold(x, th, value):
    dt = x.dtype
    from conftest import elem, isnan, widen

    r = np.where(widen(x) > widen(elem(th, dt))[0], x, np.broadcast_to(elem(value, dt), x.shape))
    return np.where(isnan(x), x, r)


def test_threshold(dtype):
    x = sample_vector(dtype, t=1.0)
    want = ref_threshold(x, 1.0, -2.0)
    assert_bits(rectify.threshold(x, 1.0, -2.0), want)
    assert_bits(rectify.threshold(x[::2], 1.0, -2.0), want[::2])
    y = x.copy()
    assert rectify.threshold_(y, 1.0, -2.0) is y
    assert_bits(y, want)
    xs, dy = grid(edge_vector(dtype, 1.0), gradients(dtype))
    from conftest import elem, widen

    gw = np.where(widen(xs) > widen(elem(1.0, dtype))[0], dy, np.zeros_like(dy))
    assert_bits(rectify.threshold_grad(dy, xs, 1.0), gw)


def prelu_ref_slopes(x, w, axis):
    shape = [1] * x.ndim
    shape[axis] = w.size
    return np.broadcast_to(w.reshape(shape), x.shape)


def ref_prelu_dweight(x, dy, axis):
    """The slope gradient in the order rectify documents: each plane (one channel's run
    within one row) into 16 interleaved lanes, lane j then adding lane j + h for
    h = 8, 4, 2, 1; the planes' sums added row after row (one block: these inputs are
    shorter than rectify's PRELU_SUM_BLOCK)."""
    ax = axis % x.ndim
    shape = (int(np.prod(x.shape[:ax])), x.shape[ax], -1)
    sums = []
    with np.errstate(all="ignore"):
        xm = x.astype(np.float64).reshape(shape)
        dm = dy.astype(np.float64).reshape(shape)
        for c in range(xm.shape[1]):
            total = np.float64(0.0)
            for row in range(xm.shape[0]):
                lanes = np.zeros(16)
                for i, (xv, dv) in enumerate(zip(xm[row, c], dm[row, c])):
                    if xv < 0:
                        lanes[i % 16] += xv * dv
                for h in (8, 4, 2, 1):
                    lanes[:h] += lanes[h : 2 * h]
                total += lanes[0]
            sums.append(total)
    return np.array(sums, dtype=np.float64)


@pytest.mark.parametrize("axis", [1, -1, 0, 2])
def test_prelu(dtype, axis):
    rng = np.random.default_rng(3)
    x = sample_vector(dtype, n=400)[: 2 * 3 * 4 * 5].reshape(2, 3, 4, 5)
    c = x.shape[axis]
    w = (rng.uniform(-0.5, 0.5, c)).astype(dtype)
    w[0] = 0
    a = prelu_ref_slopes(x, w, axis)
    want = ref_sloped(x, a)
    assert_bits(rectify.prelu(x, w, axis=axis), want)
    assert_bits(rectify.prelu(np.asfortranarray(x), w, axis=axis), want)
    y = x.copy()
    assert rectify.prelu_(y, w, axis=axis) is y
    assert_bits(y, want)
    # backward, every kink
    dy = sample_vector(dtype, n=400, seed=9)[: x.size].reshape(x.shape)
    with np.errstate(all="ignore"):
        dy = np.where(np.isnan(dy.astype(np.float32)), np.ones_like(dy), dy)
    for kink in KINKS:
        dx, dw = rectify.prelu_grad(dy, x, w, axis=axis, kink=kink)
        assert_bits(dx, ref_sloped_grad(dy, x, a, kink))
        # dweight: the sum over x < 0 of x * dy in float64, in the documented order,
        # rounded once
        with np.errstate(all="ignore"):
            want_dw = ref_prelu_dweight(x, dy, axis).astype(dtype)
        assert_bits(dw, want_dw)


def test_prelu_weight_of_one_and_one_dim(dtype):
    x = sample_vector(dtype, n=100)[:50]
    w = np.array([0.25], dtype)
    assert_bits(rectify.prelu(x, w), ref_sloped(x, np.broadcast_to(w, x.shape)))
    dx, dw = rectify.prelu_grad(np.ones_like(x), x, w)
    assert dw.shape == (1,)
    with pytest.raises(ValueError, match="shape"):
        rectify.prelu(x, np.ones(3, dtype))


def test_prelu_channel_sum_in_fixed_order_float64():
    # Exactly representable sums: the result must be exact.
    x = -np.arange(1, 4 * 3 * 5 + 1, dtype=np.float64).reshape(4, 3, 5)
    dy = np.ones_like(x)
    _, dw = rectify.prelu_grad(dy, x, np.full(3, 0.1))
    np.testing.assert_array_equal(dw, [np.sum(x[:, c, :]) for c in range(3)])


def test_rrelu(dtype):
    x = sample_vector(dtype)
    lo, hi = 0.125, 1.0 / 3.0
    assert_bits(rectify.rrelu(x, lo, hi), rectify.leaky_relu(x, (lo + hi) / 2))
    y, s = rectify.rrelu(x, lo, hi, training=True, seed=123)
    assert s.dtype == x.dtype and s.shape == x.shape
    sf = s.astype(np.float64)
    assert np.all((sf >= np.float64(np.array(lo).astype(dtype))) & (sf <= np.float64(np.array(hi).astype(dtype))))
    assert_bits(y, ref_sloped(x, s))
    y2, s2 = rectify.rrelu(x, lo, hi, training=True, seed=123)
    assert_bits(y2, y)
    assert_bits(s2, s)
    _, s3 = rectify.rrelu(x, lo, hi, training=True, seed=124)
    assert not np.array_equal(s3, s)
    _, s4 = rectify.rrelu(x, lo, hi, training=True)  # a fresh seed
    assert s4.shape == x.shape
    dy = np.ones_like(x)
    for kink in KINKS:
        assert_bits(rectify.rrelu_grad(dy, x, s, lo, hi, kink=kink), ref_sloped_grad(dy, x, s, kink))
        assert_bits(rectify.rrelu_grad(dy, x, None, lo, hi, kink=kink), rectify.leaky_relu_grad(dy, x, (lo + hi) / 2, kink))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_crelu(dtype, axis):
    x = sample_vector(dtype, n=100)[: 4 * 6].reshape(4, 6)
    want = np.concatenate([ref_relu(x), ref_relu(negate(x))], axis=axis)
    assert_bits(rectify.crelu(x, axis=axis), want)
    assert_bits(rectify.crelu(x[:, ::2], axis=axis), np.concatenate([ref_relu(x[:, ::2]), ref_relu(negate(x[:, ::2]))], axis=axis))
    out = np.empty(want.shape, dtype)
    assert rectify.crelu(x, axis=axis, out=out) is out
    assert_bits(out, want)
    # backward: dy_pos where x > 0, -dy_neg where x < 0, +0.0 at 0 and NaN
    dy = sample_vector(dtype, n=100, seed=4)[: want.size].reshape(want.shape)
    n = x.shape[axis]
    pos, neg = np.split(dy, [n], axis=axis)
    from conftest import widen

    xc = widen(x)
    ref = np.where(xc > 0, pos, np.where(xc < 0, negate(neg), np.zeros_like(x)))
    assert_bits(rectify.crelu_grad(dy, x, axis=axis), ref)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000, 4097])
def test_mask(dtype, n):
    x = sample_vector(dtype, n=n + 30)[-n:]
    y, mask = rectify.relu_with_mask(x)
    assert_bits(y, ref_relu(x))
    assert mask.shape == x.shape and mask.size == n
    assert mask.nbytes == 8 * ((n + 63) // 64)
    from conftest import widen

    np.testing.assert_array_equal(mask.to_bool(), widen(x) > 0)
    assert mask.count_nonzero() == int(np.sum(widen(x) > 0))
    dy = sample_vector(dtype, n=n + 30, seed=8)[-n:]
    assert_bits(rectify.relu_grad_from_mask(dy, mask), rectify.relu_grad(dy, x))
    m2 = x.reshape(1, n)
    _, mask2 = rectify.relu_with_mask(m2)
    assert mask2.shape == (1, n)
    assert mask2 == rectify.ReluMask(mask.words, (1, n))


def test_mask_saves_memory():
    x = np.ones(1 << 20, np.float32)
    _, mask = rectify.relu_with_mask(x)
    assert mask.nbytes * 32 == x.nbytes


def test_out_overlapping_input_is_still_right(dtype):
    x = sample_vector(dtype, n=300)
    want = ref_ramp(x[::-1], 0.1)
    y = x.copy()
    rectify.leaky_relu(y[::-1], 0.1, out=y)  # out overlaps a reversed view of itself
    assert_bits(y, want)


def test_non_native_byte_order():
    x = np.array([-1.0, 2.0, np.nan], dtype=">f4")
    y = rectify.leaky_relu(x, 0.5)
    np.testing.assert_array_equal(y[:2], [-0.5, 2.0])
    assert y.dtype == np.float32

"""rectify.relu, the ufunc: bits against the reference, every dtype, broadcasting, strides,
out=, where=, in place, scalars, integers."""

import warnings

import numpy as np
import pytest
from conftest import FLOATS, assert_bits, bits, edge_vector, ml_dtypes, ref_relu, sample_vector

import rectify


def test_is_a_numpy_ufunc():
    assert isinstance(rectify.relu, np.ufunc)
    assert rectify.relu.nin == 1 and rectify.relu.nout == 1
    for sig in ("e->e", "f->f", "d->d"):
        assert sig in rectify.relu.types
    assert "Examples" in rectify.relu.__doc__


def test_edge_vector_bitwise(dtype):
    x = edge_vector(dtype)
    y = rectify.relu(x)
    assert_bits(y, ref_relu(x))
    # relu(-0.0) = +0.0, relu(-inf) = +0.0, NaN payloads kept.
    assert not np.signbit(y[6].astype(np.float32))
    assert bits(y[:4]).tolist() == bits(x[:4]).tolist()


@pytest.mark.parametrize("n", [0, 1, 7, 64, 65, 1000, 4099])
def test_lengths(dtype, n):
    x = sample_vector(dtype, n=n)[-n:] if n else np.empty(0, dtype)
    assert_bits(rectify.relu(x), ref_relu(x))


def test_no_warning_for_nan(dtype):
    x = edge_vector(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            rectify.relu(x)
            rectify.relu(x[::2])
            rectify.relu(x, out=x.copy())


def test_strided_and_reversed(dtype):
    x = sample_vector(dtype, n=3000)
    for view in (x[::3], x[::-1], x[1::2][::-1]):
        assert_bits(rectify.relu(view), ref_relu(np.ascontiguousarray(view)))
    m = x[: 40 * 50].reshape(40, 50)
    assert_bits(rectify.relu(m.T), ref_relu(np.ascontiguousarray(m.T)))
    assert_bits(rectify.relu(m[:, ::7]), ref_relu(np.ascontiguousarray(m[:, ::7])))


def test_strided_out(dtype):
    x = sample_vector(dtype, n=500)
    out = np.zeros(2 * x.size, dtype)
    r = rectify.relu(x, out=out[::2])
    assert r.base is out or r is out[::2] or np.shares_memory(r, out)
    assert_bits(out[::2], ref_relu(x))
    assert np.all(bits(out[1::2]) == 0)


def test_broadcasting(dtype):
    x = sample_vector(dtype, n=60)[:64]
    out = np.empty((3, x.size), dtype)
    rectify.relu(x[None, :], out=out)
    for row in out:
        assert_bits(row, ref_relu(x))


def test_in_place_out_is_x(dtype):
    x = sample_vector(dtype, n=5000)
    want = ref_relu(x)
    y = x.copy()
    r = rectify.relu(y, out=y)
    assert r is y
    assert_bits(y, want)
    z = x.copy()
    rectify.relu(z[::2], out=z[::2])
    assert_bits(z[::2], want[::2])
    assert_bits(z[1::2], x[1::2])


def test_relu_underscore_in_place(dtype):
    x = sample_vector(dtype)
    y = x.copy()
    assert rectify.relu_(y) is y
    assert_bits(y, ref_relu(x))


def test_where(dtype):
    x = sample_vector(dtype, n=100)
    cond = np.arange(x.size) % 3 == 0
    out = np.full(x.size, 7, dtype)
    rectify.relu(x, out=out, where=cond)
    assert_bits(out[cond], ref_relu(x[cond]))
    assert np.all(out[~cond].astype(np.float32) == 7)


def test_scalars():
    assert rectify.relu(-1.0) == 0.0 and isinstance(rectify.relu(-1.0), np.float64)
    z = rectify.relu(np.float32(-0.0))
    assert isinstance(z, np.float32) and not np.signbit(z)
    assert rectify.relu(np.float16(3.5)) == np.float16(3.5)
    nan = np.frombuffer(np.uint32(0x7FC0_1234).tobytes(), np.float32)[0]
    assert np.float32(rectify.relu(nan)).view(np.uint32) == 0x7FC0_1234
    assert rectify.relu(-np.inf) == 0.0 and rectify.relu(np.inf) == np.inf


@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64])
def test_integers_as_np_maximum(dt):
    info = np.iinfo(dt)
    x = np.array([info.min, info.min + 1, -1 if info.min else 0, 0, 1, info.max], dtype=dt)
    y = rectify.relu(x)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y, np.maximum(x, 0).astype(dt))


def test_large_threaded_matches():
    # 40 MB of float32: large enough that the kernel splits over threads.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_000_000).astype(np.float32)
    x[::1001] = np.nan
    x[::997] = -0.0
    assert_bits(rectify.relu(x), ref_relu(x))


def test_matches_np_maximum_but_for_nan_bits_and_zero():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(10_000)
    np.testing.assert_array_equal(rectify.relu(x), np.maximum(x, 0))


@pytest.mark.skipif(ml_dtypes is None, reason="ml_dtypes is not installed")
def test_bfloat16_loop():
    bf = np.dtype(ml_dtypes.bfloat16)
    assert rectify.bfloat16 == bf
    x = edge_vector(bf)
    y = rectify.relu(x)
    assert y.dtype == bf
    assert_bits(y, ref_relu(x))
    assert_bits(rectify.relu(x[::2]), ref_relu(x[::2]))


def test_all_float_dtypes_listed():
    assert {d.name for d in FLOATS} >= {"float16", "float32", "float64"}


def test_ufunc_docstring_examples_run():
    import doctest

    test = doctest.DocTestParser().get_doctest(rectify.relu.__doc__, {}, "rectify.relu", None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert test.examples and runner.failures == 0


def test_stubs_match_the_runtime(tmp_path):
    """The .pyi stubs name every public function with the runtime's signature (mypy's
    stubtest; skipped where mypy is not installed)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("mypy")
    env = {**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy-cache")}
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "rectify"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr

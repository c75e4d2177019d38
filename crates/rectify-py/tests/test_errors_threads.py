"""Bad input gives the right Python exception (never a Rust panic), the native layer
checks what the Python layer checks, and calls from several threads at once agree."""

import threading

import numpy as np
import pytest

import rectify
from rectify import _rectify as native


def test_wrong_dtype_is_type_error_naming_it():
    with pytest.raises(TypeError, match="int64"):
        rectify.leaky_relu(np.arange(4))
    with pytest.raises(TypeError, match="complex128"):
        rectify.ramp(np.ones(3, complex))
    with pytest.raises(TypeError, match="int32"):
        rectify.relu_grad(np.ones(3), np.arange(3, dtype=np.int32))
    with pytest.raises(TypeError, match="float32"):
        rectify.relu_grad(np.ones(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="float32"):
        rectify.leaky_relu(np.ones(3), out=np.ones(3, np.float32))
    with pytest.raises(TypeError, match="<U1"):
        rectify.relu(np.array(["a"]))
    with pytest.raises(TypeError, match="uint8"):
        rectify.relu6_(np.zeros(3, np.uint8))


@pytest.mark.parametrize(
    "name, call",
    [
        ("leaky_relu", lambda: rectify.leaky_relu(np.arange(4))),
        ("relu6", lambda: rectify.relu6(np.arange(4))),
        ("clipped_relu", lambda: rectify.clipped_relu(np.arange(4), 2.0)),
        ("thresholded_relu", lambda: rectify.thresholded_relu(np.arange(4))),
        ("leaky_relu_", lambda: rectify.leaky_relu_(np.arange(4))),
        ("relu6_", lambda: rectify.relu6_(np.arange(4))),
        ("relu_grad", lambda: rectify.relu_grad(np.ones(3), np.ones(4))),
        ("leaky_relu_grad", lambda: rectify.leaky_relu_grad(np.ones(3), np.ones(4))),
        ("relu6_grad", lambda: rectify.relu6_grad(np.ones(3), np.ones(4))),
    ],
)
def test_errors_name_the_function_that_was_called(name, call):
    with pytest.raises((TypeError, ValueError), match=rf"^rectify\.{name}: "):
        call()


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: np.ones(3, np.complex64), "complex64"),
        (lambda: np.ones(3, np.complex128), "complex128"),
        (lambda: np.array([object(), 1], dtype=object), "object"),
        (lambda: np.array(["a", "bc"]), "<U2"),
        (lambda: np.array([b"a"]), "|S1"),
        (lambda: np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
        (lambda: np.array([1], dtype="timedelta64[s]"), "timedelta64[s]"),
        (lambda: np.ones(3, np.longdouble), str(np.dtype(np.longdouble))),
        (lambda: np.zeros(2, dtype=[("a", np.float32)]), "[('a', '<f4')]"),
        (lambda: 1.0 + 2.0j, "complex128"),
        (lambda: "text", "<U4"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_relu_ufunc_wrong_dtype_is_type_error_naming_it(make, name):
    x = make()
    with pytest.raises(TypeError, match="^rectify.relu: unsupported dtype ") as info:
        rectify.relu(x)
    assert name in str(info.value)
    assert "float32" in str(info.value)  # the supported ones are listed
    # NumPy's own error stays attached as the cause.
    assert isinstance(info.value.__cause__, TypeError)
    # The same through out=, where= and in place.
    if isinstance(x, np.ndarray):
        with pytest.raises(TypeError, match="unsupported dtype") as info:
            rectify.relu(x, out=np.empty(x.shape))
        assert name in str(info.value)
        with pytest.raises(TypeError, match="unsupported dtype") as info:
            rectify.relu(x, out=np.empty(x.shape), where=np.ones(x.shape, bool))
        assert name in str(info.value)
        with pytest.raises(TypeError, match="unsupported dtype") as info:
            rectify.relu(x, out=x)
        assert name in str(info.value)
        with pytest.raises(TypeError, match="unsupported dtype") as info:
            rectify.relu.resolve_dtypes((x.dtype, None))
        assert name in str(info.value)


def test_relu_ufunc_supported_inputs_keep_numpys_errors_and_results():
    # Still a genuine ufunc after the type resolver was replaced.
    assert isinstance(rectify.relu, np.ufunc)
    # bool and integers resolve as before (bool through the int8 loop).
    assert rectify.relu(np.array([True, False])).dtype == np.int8
    assert rectify.relu(np.array([-3, 4], np.int16)).tolist() == [0, 4]
    # Mixed-precision and Python scalars go through NumPy's resolver unchanged.
    assert rectify.relu(-2) == 0
    assert rectify.relu(np.float32(-1.5)) == 0
    assert rectify.relu(np.array([-1.0, 2.0]), dtype=np.float32).dtype == np.float32
    # An output that the result cannot be cast to is NumPy's error, not ours: the input
    # dtype is supported.
    with pytest.raises(TypeError) as info:
        rectify.relu(np.ones(3), out=np.empty(3, np.int32))
    assert "unsupported dtype" not in str(info.value)
    # A casting rule that rules out the needed cast of a supported input: NumPy's error.
    with pytest.raises(TypeError) as info:
        rectify.relu(np.ones(3, bool), casting="no")
    assert "unsupported dtype" not in str(info.value)
    # The error is raised again and again (nothing cached by the failure).
    for _ in range(3):
        with pytest.raises(TypeError, match="complex64"):
            rectify.relu(np.ones(2, np.complex64))
    np.testing.assert_array_equal(rectify.relu(np.array([-1.0, 2.0])), [0.0, 2.0])


def test_relu_ufunc_bfloat16_is_supported_when_ml_dtypes_is_there():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x = np.array([-1.0, 2.0], dtype=ml_dtypes.bfloat16)
    y = rectify.relu(x)
    assert y.dtype == ml_dtypes.bfloat16
    assert y.astype(np.float32).tolist() == [0.0, 2.0]


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        rectify.relu_grad(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        rectify.leaky_relu(np.ones((3, 2)), out=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        rectify.crelu_grad(np.ones((2, 5)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        rectify.prelu(np.ones((2, 3)), np.ones(4))
    _, mask = rectify.relu_with_mask(np.ones(10))
    with pytest.raises(ValueError, match=r"\(11,\).*\(10,\)"):
        rectify.relu_grad_from_mask(np.ones(11), mask)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: rectify.ramp(x, max_value=-1.0),
        lambda x: rectify.ramp(x, threshold=2.0, max_value=2.0),
        lambda x: rectify.leaky_relu(x, float("nan")),
        lambda x: rectify.clipped_relu(x, 0.0),
        lambda x: rectify.thresholded_relu(x, float("inf")),
        lambda x: rectify.rrelu(x, 0.5, 0.1),
        lambda x: rectify.rrelu(x, 0.1, float("inf"), training=True, seed=1),
        lambda x: rectify.rrelu(x, training=True, seed=-1),
        lambda x: rectify.threshold(x, float("nan"), 0.0),
        lambda x: rectify.relu_grad(x, x, kink="left"),
        lambda x: rectify.ramp_grad_from_output(x, x, threshold=-1.0),
        lambda x: rectify.crelu(x, axis=3),
        lambda x: rectify.set_num_threads(-1),
    ],
)
def test_impossible_parameters_are_value_errors(call):
    with pytest.raises(ValueError):
        call(np.ones(4))


def test_read_only_out():
    x = np.ones(4)
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        rectify.relu(x, out=ro)
    with pytest.raises(ValueError, match="read-only"):
        rectify.leaky_relu(x, out=ro)
    with pytest.raises(ValueError, match="read-only"):
        rectify.relu_grad(x, x, out=ro)
    with pytest.raises(ValueError, match="read-only"):
        rectify.leaky_relu_(ro)
    with pytest.raises(ValueError, match="read-only"):
        rectify.relu_(ro)


def test_native_layer_checks_on_its_own():
    """The Rust functions, called directly with what the Python layer would never pass,
    raise ordinary exceptions: no PanicException, no crash."""
    x = np.ones(12)
    with pytest.raises(ValueError, match="shape"):
        native.prelu(x, np.ones(5), np.empty(12), 2)
    with pytest.raises(ValueError, match="shape"):
        native.prelu(x, np.ones(3), np.empty(12), 0)
    with pytest.raises(ValueError):
        native.prelu(x, np.ones((3, 1)), np.empty(12), None)
    with pytest.raises(ValueError, match="shape"):
        native.prelu(x, np.ones(3), np.empty(12), 2**63)  # channels * inner overflows
    with pytest.raises(ValueError, match="shape"):
        native.prelu_grad(x, x, np.ones(5), np.empty(12), np.empty(5), None, "lower")
    with pytest.raises(ValueError, match="shape"):
        native.prelu_grad(x, x, np.ones(3), np.empty(12), np.empty(2), None, "lower")
    with pytest.raises(ValueError, match="shape"):
        native.crelu(x, np.empty(12), 3)
    with pytest.raises(ValueError, match="shape"):
        native.crelu(x, np.empty(24), 5)
    with pytest.raises(ValueError, match="shape"):
        native.crelu(x, np.empty(24), 0)
    with pytest.raises(ValueError, match="shape"):
        native.crelu_grad(np.empty(20), x, np.empty(12), 3)
    with pytest.raises(ValueError, match="words"):
        native.relu_grad_from_mask(x, np.zeros(5, np.uint64), 12, np.empty(12))
    with pytest.raises(ValueError, match="mask"):
        native.relu_grad_from_mask(x, np.zeros(1, np.uint64), 10, np.empty(12))
    with pytest.raises(ValueError, match="contiguous"):
        native.ramp(x[::2], np.empty(6), 0.0, 0.0, float("inf"))
    with pytest.raises(ValueError):
        native.ramp(x, x, 0.0, 0.0, float("inf"))  # out aliases x
    with pytest.raises(ValueError, match="shape"):
        native.ramp(x, np.empty(11), 0.0, 0.0, float("inf"))
    with pytest.raises(ValueError, match="elements"):
        native.rrelu_train(x, np.empty(12), np.empty(3), 0.1, 0.2, 1)
    with pytest.raises(ValueError, match="elements"):
        native.rrelu_grad(x, x, np.ones(3), np.empty(12), 0.1, 0.2, "lower")
    with pytest.raises(TypeError, match="ndarray"):
        native.ramp([1.0], np.empty(1), 0.0, 0.0, float("inf"))
    with pytest.raises(TypeError, match="float32"):
        native.ramp(x, np.empty(12, np.float32), 0.0, 0.0, float("inf"))
    with pytest.raises(ValueError, match="kink"):
        native.ramp_grad(x, x, np.empty(12), 0.0, 0.0, float("inf"), "nope")
    with pytest.raises(ValueError):
        native.ramp_grad_(x, x, 0.0, 0.0, float("inf"), "lower")  # dy aliases x
    with pytest.raises(ValueError, match="shape"):
        native.ramp_grad_(x, np.ones(5), 0.0, 0.0, float("inf"), "lower")


def test_mask_type_checks():
    with pytest.raises(TypeError):
        rectify.relu_grad_from_mask(np.ones(3), np.ones(3))
    with pytest.raises(ValueError):
        rectify.ReluMask(np.zeros(3, np.uint64), (10,))


def test_num_threads_round_trip():
    before = rectify.get_num_threads()
    try:
        rectify.set_num_threads(1)
        assert rectify.get_num_threads() == 1
        rectify.set_num_threads(0)
        assert rectify.get_num_threads() >= 1
        rectify.set_num_threads(10_000)
        assert 1 <= rectify.get_num_threads() <= 10_000
    finally:
        rectify.set_num_threads(before)
    assert rectify.isa() in ("scalar", "v3", "v4")


def test_threads_thread_counts_give_same_bits():
    rng = np.random.default_rng(11)
    x = rng.standard_normal(6_000_000).astype(np.float32)
    before = rectify.get_num_threads()
    try:
        rectify.set_num_threads(1)
        one = (rectify.relu(x), rectify.leaky_relu(x, 0.1), rectify.prelu_grad(np.ones_like(x), x, np.array([0.2], np.float32))[1])
        rectify.set_num_threads(0)
        many = (rectify.relu(x), rectify.leaky_relu(x, 0.1), rectify.prelu_grad(np.ones_like(x), x, np.array([0.2], np.float32))[1])
    finally:
        rectify.set_num_threads(before)
    for a, b in zip(one, many):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_calls_from_many_python_threads():
    rng = np.random.default_rng(12)
    inputs = [rng.standard_normal(200_000).astype(np.float32) for _ in range(8)]
    want = [
        (rectify.relu(x), rectify.leaky_relu(x, 0.2), rectify.relu_grad(x, x), rectify.relu_with_mask(x)[1].words)
        for x in inputs
    ]
    errors = []
    results = [None] * len(inputs)

    def work(i):
        try:
            x = inputs[i]
            for _ in range(20):
                got = (rectify.relu(x), rectify.leaky_relu(x, 0.2), rectify.relu_grad(x, x), rectify.relu_with_mask(x)[1].words)
            results[i] = got
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, exp in zip(results, want):
        for g, e in zip(got, exp):
            assert np.array_equal(g.view(np.uint8), e.view(np.uint8))


def test_shared_input_from_many_threads():
    """Many threads reading one array at once (shared read borrows) is fine."""
    x = np.random.default_rng(13).standard_normal(100_000)
    want = rectify.leaky_relu(x, 0.3)
    out = [None] * 6

    def work(i):
        out[i] = rectify.leaky_relu(x, 0.3)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for o in out:
        np.testing.assert_array_equal(o, want)

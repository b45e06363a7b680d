import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

import fastgd
from fastgd import losses

from . import reference as ref
from .conftest import TOL


def _points(name, dtype):
    """(pred, target) grids that cover each loss's domain, edges included."""
    rng = np.random.default_rng(3)
    if name in ("mse", "mae", "huber"):
        p = np.concatenate([rng.normal(0, 3, 2000), [0.0, 1.0, -1.0, 1e30, -1e30]])
        t = np.concatenate([rng.normal(0, 3, 2000), [0.0, 2.0, 0.0, 0.0, 1.0]])
    elif name == "log_loss":
        p = np.concatenate([rng.uniform(0, 1, 2000), [0.0, 1.0, 1e-30, 1 - 1e-12, 0.5]])
        t = np.concatenate([rng.choice([0.0, 1.0, 0.3], 2000), [0.0, 1.0, 1.0, 0.0, 0.5]])
    elif name == "logistic":
        p = np.concatenate([rng.normal(0, 10, 2000), [0.0, 40.0, -40.0, 700.0, -700.0]])
        t = np.concatenate([rng.choice([0.0, 1.0, 0.3], 2000), [0.5, 1.0, 0.0, 1.0, 0.0]])
    else:  # cross_entropy
        p = np.concatenate([rng.uniform(0, 2, 2000), [0.0, 1.0, 1e-30, 0.5, 2.0]])
        t = np.concatenate([rng.choice([1.0, 0.5, 0.0], 2000), [1.0, 1.0, 1.0, 0.0, 1.0]])
    return p.astype(dtype), t.astype(dtype)


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_value_grad_hess_match_reference(name, dtype):
    loss = fastgd.get_loss(name)
    p, t = _points(name, dtype)
    expected = ref.loss(name, p, t, loss.param, dtype)
    # sigmoid(z) - t with a fractional t cancels in any arithmetic: an O(eps) absolute error
    grad_tol = dict(TOL[dtype], atol=4 * np.finfo(dtype).eps) if name == "logistic" else TOL[dtype]
    tols = (TOL[dtype], grad_tol, TOL[dtype])
    for part, exp, tol in zip((loss.value, loss.grad, loss.hess), expected, tols, strict=True):
        got = part(p, t)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, ref.rounded(exp, dtype), err_msg=part.__name__, **tol)
    v, g = loss.value_and_grad(p, t)
    np.testing.assert_allclose(v, ref.rounded(expected[0], dtype), **TOL[dtype])
    np.testing.assert_allclose(g, ref.rounded(expected[1], dtype), **grad_tol)


@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
def test_huber_delta(delta):
    loss = fastgd.get_loss("huber", delta=delta)
    p, t = _points("huber", np.float64)
    for got, exp in zip(loss.value_and_grad(p, t), ref.loss("huber", p, t, delta, np.float64)[:2], strict=True):
        np.testing.assert_allclose(got, exp.astype(float), rtol=1e-13)
    assert losses.huber.with_params(delta=delta) == loss


def _interior(name):
    """Points away from kinks and clips, for finite differences."""
    rng = np.random.default_rng(4)
    if name in ("log_loss", "cross_entropy"):
        return rng.uniform(0.05, 0.95, 200), rng.choice([0.0, 1.0, 0.3], 200)
    p, t = rng.normal(0, 2, 200), rng.normal(0, 2, 200)
    if name == "logistic":
        t = rng.uniform(0, 1, 200)
    if name in ("mae", "huber"):  # keep clear of |p - t| in {0, delta}
        r = p - t
        p = np.where(np.abs(np.abs(r) - 1) < 0.05, p + 0.2, p)
        p = np.where(np.abs(p - t) < 0.05, p + 0.2, p)
    return p, t


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_derivatives_against_finite_differences(name):
    loss = fastgd.get_loss(name)
    p, t = _interior(name)
    h = 1e-6
    fd_grad = (loss.value(p + h, t) - loss.value(p - h, t)) / (2 * h)
    np.testing.assert_allclose(loss.grad(p, t), fd_grad, rtol=1e-6, atol=1e-7)
    fd_hess = (loss.grad(p + h, t) - loss.grad(p - h, t)) / (2 * h)
    np.testing.assert_allclose(loss.hess(p, t), fd_hess, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_cost_is_mean_or_sum_of_losses(name, dtype):
    loss = fastgd.get_loss(name)
    p, t = _points(name, dtype)
    p, t = np.tile(p, 5), np.tile(t, 5)  # several reduction blocks
    values = ref.loss(name, p, t, loss.param, dtype)[0]
    finite = np.isfinite(ref.rounded(values, dtype))
    p, t, values = p[finite], t[finite], values[finite]
    mean = loss.cost(p, t)
    assert mean.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(mean, np.mean(values), rtol=rtol)
    np.testing.assert_allclose(loss.cost(p, t, reduction="sum"), np.sum(values), rtol=rtol)


def test_cost_does_not_depend_on_thread_count():
    import numba

    p = np.random.default_rng(5).normal(size=100_003)
    before = losses.mse.cost(p, 0.5)
    numba.set_num_threads(1)
    try:
        assert losses.mse.cost(p, 0.5) == before
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_logistic_is_stable_for_huge_logits():
    z = np.array([-1e308, -1e300, -800.0, -40.0, 40.0, 800.0, 1e300, 1e308])
    y1, y0 = np.ones_like(z), np.zeros_like(z)
    v1, g1 = losses.logistic.value_and_grad(z, y1)
    v0, g0 = losses.logistic.value_and_grad(z, y0)
    assert np.isfinite(v1).all() and np.isfinite(v0).all()
    np.testing.assert_allclose(v1, ref.rounded(ref.loss("logistic", z, y1, 0, np.float64)[0], float), rtol=1e-15)
    assert v1[4] == pytest.approx(np.exp(-40.0), rel=1e-15)  # no cancellation: log1p(exp(-z)) kept
    assert g1[4] == pytest.approx(-np.exp(-40.0), rel=1e-15)
    np.testing.assert_array_equal(g1[z < 0], -1.0)
    np.testing.assert_array_equal(g0[z > 100], 1.0)


def test_log_loss_at_the_clip_is_finite_and_documented():
    p = np.array([0.0, 1.0])
    v = losses.log_loss.value(p, [1.0, 0.0])
    eps = np.finfo(float).eps
    np.testing.assert_allclose(v, -np.log(eps), rtol=1e-12)  # both clipped to eps from the edge
    assert np.isfinite(losses.log_loss.grad(p, [1.0, 0.0])).all()
    assert np.isfinite(losses.log_loss.value(np.float32(0), np.float32(1)))


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_nan_propagates(name):
    loss = fastgd.get_loss(name)
    for part in (loss.value, loss.grad, loss.hess):
        assert np.isnan(part(np.nan, 0.5)), part.__name__
    v, g = loss.value_and_grad(np.nan, 0.5)
    assert np.isnan(v) and np.isnan(g)


def test_conventions_at_kinks():
    assert losses.mae.grad(1.0, 1.0) == 0.0
    assert losses.huber.hess(2.0, 1.0) == 1.0  # |r| == delta counts as inside
    assert losses.huber.grad(5.0, 1.0) == 1.0


def test_broadcasting_dtypes_and_shapes():
    p = np.linspace(-1, 1, 3).reshape(3, 1)
    t = np.arange(4.0)
    assert losses.mse.value(p, t).shape == (3, 4)
    np.testing.assert_array_equal(losses.mse.value(p, t), (p - t) ** 2)
    np.testing.assert_array_equal(losses.mse.value(2.0, t), (2.0 - t) ** 2)  # scalar pred
    assert losses.mse.value([1, 2], [0, 0]).dtype == np.float64  # lists of ints
    f32 = np.ones(3, np.float32)
    assert losses.mse.value(f32).dtype == np.float32  # default target keeps float32
    assert losses.mse.value(f32, 0.5).dtype == np.float32
    assert losses.mse.value(f32, np.ones(3)).dtype == np.float64  # float64 array wins
    assert isinstance(losses.mse.value(1.0, 0.0), np.float64)
    assert losses.cross_entropy.value(0.5) == pytest.approx(np.log(2))  # default target 1
    strided = np.arange(10.0)[::2]
    np.testing.assert_array_equal(losses.mae.value(strided, 1.0), np.abs(strided - 1.0))


def test_out_argument():
    p = np.arange(6.0).reshape(2, 3)
    out = np.empty((2, 3))
    assert losses.mse.grad(p, 1.0, out=out) is out
    np.testing.assert_array_equal(out, 2 * (p - 1.0))
    ov, og = np.empty(6), np.empty(6)
    v, g = losses.mse.value_and_grad(p.ravel(), 0.0, out=(ov, og))
    assert v is ov and g is og
    with pytest.raises(ValueError, match=r"out has shape \(3,\) and dtype float64; this call needs shape \(2, 3\)"):
        losses.mse.value(p, out=np.empty(3))
    with pytest.raises(ValueError, match="dtype float32"):
        losses.mse.value(p, out=np.empty((2, 3), np.float32))
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        losses.mse.value(p, out=[0.0] * 6)
    with pytest.raises(ValueError, match="C-contiguous"):
        losses.mse.value(p[:, :1], out=np.empty((4, 2))[::2, :1])


def test_empty_inputs():
    assert losses.mse.value(np.empty(0)).shape == (0,)
    v, g = losses.logistic.value_and_grad(np.empty((0, 3)), 1.0)
    assert v.shape == g.shape == (0, 3)
    assert losses.mse.cost(np.empty(0), reduction="sum") == 0.0
    with pytest.raises(ValueError, match="empty input is undefined"):
        losses.mse.cost(np.empty(0))


def test_error_non_numeric():
    with pytest.raises(TypeError, match="pred must be real numbers"):
        losses.mse.value(["a", "b"])
    with pytest.raises(TypeError, match="target must be real numbers"):
        losses.mse.value([1.0], target=np.array([1 + 2j]))
    with pytest.raises(TypeError, match="pred must be a number or an array"):
        losses.mse.value([[1.0], [1.0, 2.0]])


def test_error_shapes_do_not_broadcast():
    with pytest.raises(ValueError, match=r"pred has shape \(3,\) and target has shape \(4,\)"):
        losses.mse.value(np.zeros(3), np.zeros(4))


def test_error_log_loss_out_of_range():
    with pytest.raises(ValueError, match=r"pred must be probabilities in \[0.0, 1.0\]; 2 of 4 .* index \(0, 1\)"):
        losses.log_loss.value([[0.5, 1.5], [-0.1, 0.3]], 1.0)
    with pytest.raises(ValueError, match=r"target must be labels or probabilities .* 1 of 3 .* index \(2,\)"):
        losses.log_loss.value([0.5, 0.5, 0.5], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="target must be labels"):
        losses.logistic.grad([0.5], [-1.0])
    with pytest.raises(ValueError, match="pred must be probabilities"):
        losses.cross_entropy.value([-0.5])


def test_error_bad_parameters_and_names():
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        fastgd.get_loss("huber", delta=0.0)
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        fastgd.get_loss("huber", delta=np.nan)
    with pytest.raises(TypeError, match="delta must be a real number"):
        fastgd.get_loss("huber", delta="1")
    with pytest.raises(ValueError, match="unknown loss 'l2'; valid names are: cross_entropy, huber, log_loss"):
        fastgd.get_loss("l2")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fastgd.get_loss("mse", delta=1.0)
    with pytest.raises(TypeError, match="loss must be a name"):
        fastgd.get_loss(3)
    # a Loss built directly is checked as get_loss checks it
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        losses.Loss("huber", -1.0)
    with pytest.raises(ValueError, match="unknown loss 'nope'"):
        losses.Loss("nope")
    with pytest.raises(ValueError, match="loss 'mse' takes no parameter"):
        losses.Loss("mse", 3.0)
    with pytest.raises(TypeError, match="loss name must be a str"):
        losses.Loss(None)
    assert losses.Loss("huber", 2).param == 2.0 and isinstance(losses.Loss("huber", 2).param, float)
    with pytest.raises(ValueError, match="unknown reduction 'max'"):
        losses.mse.cost([1.0], reduction="max")
    assert fastgd.get_loss(losses.mae) is losses.mae


def test_loss_objects_in_users_njit_code():
    mse = losses.mse  # a global: its parameter is frozen into the compiled code

    @njit
    def total(loss, pred, target):
        s = 0.0
        for i in range(pred.size):
            v, g = loss.value_and_grad(pred[i], target)
            s += v + g + loss.hess(pred[i], target) + mse.value(pred[i], target)
        return s

    p = np.array([0.0, 1.5, 4.0])
    huber = fastgd.get_loss("huber", delta=0.5)
    expected = float(np.sum(huber.value(p, 1.0) + huber.grad(p, 1.0) + huber.hess(p, 1.0) + mse.value(p, 1.0)))
    assert total(huber, p, 1.0) == pytest.approx(expected, rel=1e-15)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-10, 10))
def test_mse_grad_is_linear(p, t, a):
    g = losses.mse.grad(np.array([p, p + a]), t)
    assert g[1] - g[0] == pytest.approx(2 * ((p + a) - p), abs=1e-6 * max(1.0, abs(p)))


@given(st.floats(0, 1), st.floats(-1e300, 1e300), st.floats(0, 1))
def test_log_losses_nonnegative(p, z, t):
    assert losses.log_loss.value(p, t) >= 0
    assert losses.logistic.value(z, t) >= 0


def test_agrees_with_the_numpy_baselines_the_benchmarks_use():
    z = np.random.default_rng(8).normal(0, 5, 10_000)
    y = (z > 0.5).astype(float)
    # the baseline's logaddexp(0, z) - y*z cancels (absolute error ~ eps*|z|); fastgd's does not
    for got, base in zip(losses.logistic.value_and_grad(z, y), ref.np_logistic_vg(z, y), strict=True):
        np.testing.assert_allclose(got, base, rtol=1e-10, atol=1e-14)
    for got, base in zip(losses.mse.value_and_grad(z, y), ref.np_mse_vg(z, y), strict=True):
        np.testing.assert_array_equal(got, base)
    s, g = ref.np_sigmoid_vg(z)
    np.testing.assert_allclose(fastgd.activations.sigmoid.value(z), s, rtol=1e-14)
    np.testing.assert_allclose(fastgd.activations.sigmoid.grad(z), g, rtol=1e-10, atol=2e-16)  # 1 - s cancels there


def test_cross_entropy_refuses_negative_targets():
    with pytest.raises(ValueError, match=r"target must be non-negative in \[0.0, inf\]"):
        losses.cross_entropy.value(0.5, -1.0)
    assert losses.cross_entropy.value(0.5, 2.0) == pytest.approx(-2 * np.log(0.5), rel=1e-15)


def test_logistic_at_infinite_logits_is_its_limit():
    z, t = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf]), np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    np.testing.assert_array_equal(losses.logistic.value(z, t), [0.0, 0.0, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(losses.logistic.grad(z, t), [0.0, 0.0, 1.0, -1.0, 0.5])
    v, g = losses.logistic.value_and_grad(z, t)
    np.testing.assert_array_equal(v, [0.0, 0.0, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, -1.0, 0.5])
    assert np.isnan(losses.logistic.value(np.nan, 1.0))


@pytest.mark.parametrize("part", ["value", "grad", "hess"])
def test_out_overlapping_the_input_gives_the_right_result(part):
    f = getattr(losses.huber, part)
    a = np.linspace(-3, 3, 7)
    want = f(a[:-1], 0.5)
    b = a.copy()
    got = f(b[:-1], 0.5, out=b[1:])  # the output starts one element after the input
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(b[1:], want)
    b = a.copy()
    f(b[1:], b[:-1], out=b[:-1])  # the output is the target, element for element
    np.testing.assert_array_equal(b[:-1], f(a[1:], a[:-1]))
    b = a.copy()
    f(b, 0.5, out=b)  # in place
    np.testing.assert_array_equal(b, f(a, 0.5))


def test_value_and_grad_out_overlaps():
    a = np.arange(6.0)
    with pytest.raises(ValueError, match=r"out\[0\] and out\[1\] share memory"):
        losses.mse.value_and_grad(a[:3], out=(a[3:], a[3:]))
    b = a.copy()
    val, grad = losses.mse.value_and_grad(b[:5], 1.0, out=(b[1:], np.empty(5)))
    np.testing.assert_array_equal(val, (a[:5] - 1) ** 2)
    np.testing.assert_array_equal(grad, 2 * (a[:5] - 1))
    x = np.linspace(-2, 2, 5)
    y = x.copy()
    fastgd.activations.sigmoid.value(y[:-1], out=y[1:])
    np.testing.assert_array_equal(y[1:], fastgd.activations.sigmoid.value(x[:-1]))
    y = x.copy()
    fastgd.special.exp(y[1:], out=y[:-1])
    np.testing.assert_array_equal(y[:-1], fastgd.special.exp(x[1:]))


def test_a_loss_sum_has_the_same_bits_compiled_and_loaded_from_the_cache(tmp_path):
    # numba optimizes a cached parallel kernel apart from the copy compiled in the process;
    # a reassociated sum once differed between the two in its last bit (huber, 4096 elements)
    script = (
        "import numpy as np\n"
        "from fastgd import _kernels, losses\n"
        "rng = np.random.default_rng(3)\n"
        "x, t = rng.normal(0, 5, 4096), (rng.uniform(size=4096) > 0.5).astype(float)\n"
        "for name in ('huber', 'logistic', 'mse'):\n"
        "    loss = losses.get_loss(name)\n"
        "    for n in (4096, 3 * 4096 + 5):\n"
        "        xn, tn = np.resize(x, n), np.resize(t, n)\n"
        "        print(repr(_kernels.loss_sum(loss, xn, tn)), repr(_kernels.loss_sum.serial(loss, xn, tn)))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)  # compiled, then loaded from the cache
    ]
    assert runs[0] == runs[1]
    for line in runs[0].splitlines():
        parallel, serial = line.split()
        assert parallel == serial


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", losses.LOSS_NAMES)
def test_small_inputs_run_serially_with_the_same_bits(name, dtype):
    # below SERIAL_BELOW elements the kernels run on the calling thread (no parallel launch)
    from fastgd._jit import SERIAL_BELOW

    loss = losses.get_loss(name)
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, SERIAL_BELOW) if loss.spec.pred_range else rng.normal(0, 5, SERIAL_BELOW)
    x, t = x.astype(dtype), (rng.uniform(size=SERIAL_BELOW) > 0.5).astype(dtype)
    for part in ("value", "grad", "hess"):
        f = getattr(loss, part)
        np.testing.assert_array_equal(f(x[:-1], t[:-1]), f(x, t)[:-1])  # serial, then parallel
    v_small, g_small = loss.value_and_grad(x[:-1], t[:-1])
    v, g = loss.value_and_grad(x, t)
    np.testing.assert_array_equal(v_small, v[:-1])
    np.testing.assert_array_equal(g_small, g[:-1])
    from fastgd import _kernels

    assert _kernels.loss_sum.serial(loss, x, t) == _kernels.loss_sum(loss, x, t)

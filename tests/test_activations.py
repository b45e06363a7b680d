import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

import fastgd
from fastgd import activations

from . import reference as ref
from .conftest import TOL


def _grid(dtype):
    rng = np.random.default_rng(6)
    lim = 100.0 if dtype == np.float32 else 800.0
    z = np.concatenate([rng.normal(0, 4, 3000), np.linspace(-lim, lim, 2001), [0.0, -0.0, 1e-30, -1e-30]])
    return z.astype(dtype)


@pytest.mark.parametrize("name", activations.ACTIVATION_NAMES)
def test_value_grad_hess_match_reference(name, dtype):
    act = fastgd.get_activation(name)
    z = _grid(dtype)
    for part, exp in zip((act.value, act.grad, act.hess), ref.activation(name, z, act.param), strict=True):
        got = part(z)
        assert got.dtype == dtype and got.shape == z.shape
        # sigmoid's hess s(1-s)(1-2s) cancels in the reference near 0, not in fastgd: compare absolutely
        tol = dict(TOL[dtype], atol=1e-17 if dtype == np.float64 else 1e-8) if part == act.hess else TOL[dtype]
        np.testing.assert_allclose(got, ref.rounded(exp, dtype), err_msg=part.__name__, **tol)


@pytest.mark.parametrize("name", activations.ACTIVATION_NAMES)
def test_derivatives_against_finite_differences(name):
    act = fastgd.get_activation(name)
    z = np.random.default_rng(7).normal(0, 3, 300)
    z = np.where(np.abs(z) < 0.01, 0.5, z)  # clear of the ReLU kink
    h = 1e-6
    np.testing.assert_allclose(act.grad(z), (act.value(z + h) - act.value(z - h)) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(act.hess(z), (act.grad(z + h) - act.grad(z - h)) / (2 * h), rtol=1e-5, atol=1e-7)


def test_sigmoid_derivative_peaks_at_a_quarter():
    z = np.linspace(-50, 50, 100_001)
    g = activations.sigmoid.grad(z)
    assert g.max() == 0.25 and g[50_000] == 0.25 and (g <= 0.25).all()


def test_relu_and_leaky_relu_conventions():
    z = np.array([-2.0, 0.0, 3.0, -np.inf, np.nan])
    np.testing.assert_array_equal(activations.relu.value(z), [0, 0, 3, 0, np.nan])
    np.testing.assert_array_equal(activations.relu.grad(z), [0, 0, 1, 0, np.nan])
    leaky = fastgd.get_activation("leaky_relu", alpha=0.1)
    np.testing.assert_array_equal(leaky.grad(z), [0.1, 0.1, 1, 0.1, np.nan])
    np.testing.assert_array_equal(leaky.value(z), [-0.2, 0.0, 3.0, -np.inf, np.nan])
    assert fastgd.get_activation("leaky_relu", alpha=0.0).value(-np.inf) == 0.0


@pytest.mark.parametrize("name", activations.ACTIVATION_NAMES)
def test_nan_propagates_and_infinities_are_finite_where_they_should_be(name):
    act = fastgd.get_activation(name)
    for part in (act.value, act.grad, act.hess):
        assert np.isnan(part(np.nan)), part.__name__
    z = np.array([-1e308, 1e308])
    assert np.isfinite(act.grad(z)).all() and np.isfinite(act.hess(z)).all()


def test_tanh_derivative_has_no_cancellation():
    z = np.array([20.0, 300.0])
    expected = ref.rounded(ref.activation("tanh", z, 0)[1], float)
    np.testing.assert_allclose(activations.tanh.grad(z), expected, rtol=1e-14)
    assert activations.tanh.grad(300.0) > 0


def test_shapes_dtypes_out_and_errors():
    assert activations.relu.value([[1, -1]]).dtype == np.float64
    assert activations.sigmoid.grad(np.float32(0)).dtype == np.float32
    out = np.empty(3, np.float32)
    assert activations.softplus.value(np.zeros(3, np.float32), out=out) is out
    assert activations.tanh.value(np.empty((2, 0))).shape == (2, 0)
    with pytest.raises(TypeError, match="z must be real numbers"):
        activations.relu.value("x")
    with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
        fastgd.get_activation("leaky_relu", alpha=-0.1)
    with pytest.raises(ValueError, match="unknown activation 'gelu'; valid names are: identity, leaky_relu, relu"):
        fastgd.get_activation("gelu")
    with pytest.raises(TypeError, match="unexpected parameter"):
        fastgd.get_activation("relu", alpha=0.1)
    assert activations.leaky_relu.with_params(alpha=0.2).param == 0.2


def test_activation_objects_in_users_njit_code():
    @njit
    def chain(act, z):
        return act.value(z) + act.grad(z) + act.hess(z)

    for name in activations.ACTIVATION_NAMES:
        act = fastgd.get_activation(name)
        expected = float(act.value(0.3) + act.grad(0.3) + act.hess(0.3))
        assert chain(act, 0.3) == pytest.approx(expected, rel=1e-15), name


@given(st.floats(-700, 700))
def test_sigmoid_symmetry_and_range(z):
    s = activations.sigmoid.value(np.array([z, -z]))
    assert 0 <= s[0] <= 1 and s[0] + s[1] == pytest.approx(1.0, abs=2e-16)
    g = activations.sigmoid.grad(np.array([z, -z]))
    assert g[0] == g[1] and 0 <= g[0] <= 0.25

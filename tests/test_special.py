import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

import fastgd
from fastgd import special

from . import reference as ref

DTYPES = [np.float64, np.float32]
# the accuracy each function promises in its docstring (max ulp)
MAX_ULP = {"exp": 1, "log": 1, "log1p": 2, "sigmoid": 3, "softplus": 3, "log_sigmoid": 3}


def _domain(name, dtype, n=400_001):
    """Dense grid over the whole domain plus random samples and the edges."""
    rng = np.random.default_rng(0)
    fi = np.finfo(dtype)
    if name == "exp":
        hi = 89.0 if dtype == np.float32 else 710.0
        lo = -104.0 if dtype == np.float32 else -746.0
        x = np.concatenate([np.linspace(lo, hi, n), rng.uniform(-1, 1, n), np.geomspace(fi.tiny, 1, 1000)])
    elif name == "log":
        x = np.concatenate(
            [np.exp(rng.uniform(np.log(fi.smallest_subnormal), np.log(fi.max), n)), np.linspace(0.5, 2, n)]
        )
    elif name == "log1p":
        t = np.geomspace(fi.smallest_subnormal, 1, n // 4)
        x = np.concatenate([t, -t[t < 1], np.geomspace(1, fi.max / 4, n // 4), np.linspace(-0.999, 3, n)])
    else:
        lim = 110.0 if dtype == np.float32 else 760.0
        x = np.concatenate([np.linspace(-lim, lim, n), rng.normal(0, 5, n)])
    return x.astype(dtype)


@pytest.mark.jit_numerics
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MAX_ULP))
def test_ulp_accuracy_over_the_domain(name, dtype):
    x = _domain(name, dtype)
    got = getattr(special, name)(x)
    expect = ref.SPECIAL[name](x)
    assert got.dtype == dtype
    finite = np.isfinite(ref.rounded(expect, dtype))
    err = ref.ulp_error(got[finite], expect[finite])
    assert err.max() <= MAX_ULP[name], (name, x[finite][np.argmax(err)], float(err.max()))
    # outside the finite range: the same inf/0 as the correctly rounded result
    np.testing.assert_array_equal(got[~finite], ref.rounded(expect[~finite], dtype))


@pytest.mark.jit_numerics
@pytest.mark.parametrize("dtype", DTYPES)
def test_float32_exhaustive_sample_of_bit_patterns(dtype):
    if dtype == np.float64:
        bits = np.random.default_rng(1).integers(0, 2**64, 500_000, dtype=np.uint64)
        x = bits.view(np.float64)
    else:
        x = np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = x[np.isfinite(x)]
    for name in ("exp", "log", "log1p"):
        got = getattr(special, name)(x)
        expect = ref.SPECIAL[name](x)
        r = ref.rounded(expect, dtype)
        ok = np.isfinite(r) & (r != 0)
        assert ref.ulp_error(got[ok], expect[ok]).max() <= MAX_ULP[name], name
        same = (got[~ok] == r[~ok]) | (np.isnan(got[~ok]) & np.isnan(r[~ok]))
        assert same.all(), (name, x[~ok][~same][:5])


def test_against_mpmath_at_random_points():
    mpmath.mp.prec = 120
    rng = np.random.default_rng(2)
    x = rng.uniform(-700, 700, 300)
    got = special.exp(x)
    for xi, gi in zip(x, got, strict=True):
        exact = float(mpmath.exp(mpmath.mpf(xi)))
        assert abs(gi - exact) <= np.spacing(exact)
    y = np.exp(rng.uniform(-700, 700, 300))
    for yi, gi in zip(y, special.log(y), strict=True):
        exact = float(mpmath.log(mpmath.mpf(yi)))
        assert abs(gi - exact) <= np.spacing(abs(exact))


@pytest.mark.jit_numerics
@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values(dtype):
    inf, nan = dtype(np.inf), dtype(np.nan)
    x = np.array([0.0, 1.0, inf, -inf, nan], dtype=dtype)
    np.testing.assert_array_equal(special.exp(x), [1.0, ref.rounded(ref.exp(1), dtype), inf, 0.0, nan])
    np.testing.assert_array_equal(
        special.log(np.array([1.0, 0.0, -0.0, inf, -1.0, nan], dtype)), [0.0, -inf, -inf, inf, nan, nan]
    )
    np.testing.assert_array_equal(
        special.log1p(np.array([0.0, -1.0, inf, -2.0, nan], dtype)), [0.0, -inf, inf, nan, nan]
    )
    assert np.signbit(special.log1p(dtype(-0.0)))
    np.testing.assert_array_equal(special.sigmoid(np.array([0.0, inf, -inf, nan], dtype)), [0.5, 1.0, 0.0, nan])
    np.testing.assert_array_equal(special.softplus(np.array([inf, -inf, nan], dtype)), [inf, 0.0, nan])


@pytest.mark.parametrize("dtype", DTYPES)
def test_overflow_and_underflow_thresholds(dtype):
    fi = np.finfo(dtype)
    big = np.log(ref.ld(fi.max))  # exp overflows just above this
    small = np.log(ref.ld(fi.smallest_subnormal) / 2)  # and rounds to 0 just below this
    above = np.nextafter(dtype(big), dtype(np.inf))
    below = np.nextafter(dtype(small), dtype(-np.inf))
    assert special.exp(above) == np.inf and np.isfinite(special.exp(dtype(big) - dtype(0.01)))
    assert special.exp(below) == 0 and special.exp(dtype(small) + dtype(0.5)) > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_overflow_for_huge_arguments(dtype):
    x = np.array([-np.finfo(dtype).max, -1e30, 1e30, np.finfo(dtype).max], dtype=dtype)
    np.testing.assert_array_equal(special.softplus(x), np.maximum(x, 0))
    np.testing.assert_array_equal(special.log_sigmoid(x), np.minimum(x, 0))
    np.testing.assert_array_equal(special.sigmoid(x), [0, 0, 1, 1])


def test_array_api():
    assert special.exp([0, 1]).dtype == np.float64  # ints promote
    assert special.exp(np.float32(1)).dtype == np.float32
    out = np.empty((2, 3))
    res = special.sigmoid(np.zeros((2, 3)), out=out)
    assert res is out and (out == 0.5).all()
    assert special.log(np.empty((0, 4))).shape == (0, 4)
    with pytest.raises(TypeError, match="x must be real numbers"):
        special.exp(["a"])
    with pytest.raises(ValueError, match="out has shape"):
        special.exp(np.zeros(3), out=np.empty(4))


@pytest.mark.jit_numerics
def test_callable_from_users_njit_code():
    @njit
    def f(x):
        return fastgd.special.exp(x) + fastgd.special.log1p(x) + fastgd.special.sigmoid(x)

    assert f(0.5) == pytest.approx(np.exp(0.5) + np.log1p(0.5) + 1 / (1 + np.exp(-0.5)), rel=1e-15)
    assert isinstance(f(np.float32(0.5)), float)  # numba returns Python floats


@given(st.floats(-700, 700))
def test_sigmoid_in_unit_interval_and_symmetric(x):
    s, sm = special.sigmoid(np.array([x, -x]))
    assert 0 <= s <= 1 and 0 <= sm <= 1
    assert s + sm == pytest.approx(1.0, abs=2e-16)


@given(st.floats(-1e300, 1e300))
def test_softplus_bounds(x):
    sp = special.softplus(x)
    assert sp >= max(x, 0.0) and sp <= max(x, 0.0) + np.log(2) + 1e-15

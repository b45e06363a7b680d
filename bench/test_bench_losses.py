"""Elementwise losses: fused value+grad, fastgd vs NumPy (and JAX), 10^3 .. 10^7 elements."""

import numpy as np
import pytest
from conftest import HAVE_JAX, impls

import fastgd
from fastgd._baselines import jax_elementwise

SIZES = [10**3, 10**4, 10**5, 10**6, 10**7]
CASES = ["logistic_vg", "sigmoid_vg", "mse_vg"]


def _data(n, dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, n).astype(dtype)
    return z, (z > 0.3).astype(dtype)


def _fastgd(case, out=None):
    """fastgd's call; with ``out`` (two preallocated arrays) it writes in place."""
    if case in ("logistic_vg", "mse_vg"):
        loss = fastgd.losses.logistic if case == "logistic_vg" else fastgd.losses.mse
        return lambda z, y: loss.value_and_grad(z, y, out=out)
    sig = fastgd.activations.sigmoid
    if out is None:
        return lambda z, y: (sig.value(z), sig.grad(z))
    return lambda z, y: (sig.value(z, out=out[0]), sig.grad(z, out=out[1]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"1e{int(np.log10(n))}")
@pytest.mark.parametrize("impl", impls() + ["fastgd_out"])
@pytest.mark.parametrize("case", CASES)
def test_loss_kernels(benchmark, baselines, case, impl, n, dtype):
    z, y = _data(n, dtype)
    if impl == "numpy":
        base = baselines[case]
        fn = (lambda z, y: base(z)) if case == "sigmoid_vg" else base
    elif impl == "fastgd":
        fn = _fastgd(case)
    elif impl == "fastgd_out":  # outputs preallocated: no page faults on fresh memory
        fn = _fastgd(case, out=(np.empty_like(z), np.empty_like(z)))
    else:
        import jax.numpy as jnp

        fn, z, y = jax_elementwise(case), jnp.asarray(z), jnp.asarray(y)
    fn(z, y)  # warm-up: compile (or load the cache) outside the timing
    benchmark.group = f"{case} n={n:.0e} {dtype}"
    benchmark.extra_info.update(case=case, impl=impl, n=n, dtype=dtype)
    out = benchmark(fn, z, y)
    assert np.isfinite(np.asarray(out[1])).all()


def test_jax_present_when_expected():
    # documents which peers this run compared against (bench extra installs jax)
    assert isinstance(HAVE_JAX, bool)

"""Batched descent: grid 1000 w0 x 1000 lr x 100 steps, fastgd vs NumPy (and JAX)."""

import numpy as np
import pytest
from conftest import impls

import fastgd
from fastgd._baselines import jax_sweep

M = K = 1000
STEPS = 100
X, TARGET = 1.0, 0.2


def _grid(dtype):
    return np.linspace(-5, 5, M).astype(dtype), np.geomspace(1e-4, 0.45, K).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("impl", impls() + ["fastgd_progress"])
@pytest.mark.parametrize("act", ["identity", "sigmoid"])
def test_descent_sweep(benchmark, baselines, act, impl, dtype):
    w0, lr = _grid(dtype)
    if impl == "numpy":

        def fn(w0, lr):
            return baselines["sweep"](act, w0, lr, STEPS, x=X, target=TARGET)
    elif impl in ("fastgd", "fastgd_progress"):
        progress = impl == "fastgd_progress"  # the tqdm bar's cost (tqdm is in the bench extra)
        if progress:
            pytest.importorskip("tqdm")

        def fn(w0, lr):
            return fastgd.descend("mse", w0, lr, steps=STEPS, x=X, target=TARGET, activation=act, progress=progress).w
    else:
        import jax.numpy as jnp

        fn, w0, lr = jax_sweep(act, STEPS, X, TARGET), jnp.asarray(w0), jnp.asarray(lr)
    fn(w0, lr)  # warm-up
    benchmark.group = f"descent mse-{act} {M}x{K}x{STEPS} {dtype}"
    benchmark.extra_info.update(case=f"descent_{act}", impl=impl, n=M * K * STEPS, dtype=dtype)
    w = np.asarray(benchmark(fn, w0, lr))
    assert w.shape == (M, K) and np.isfinite(w).all()

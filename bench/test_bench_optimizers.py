"""Optimizers: Adam fits and sweeps, fastgd against JAX + optax (and fastgd's own gd on the same problem).

- logistic regression, 100 000 x 32, 64 learning rates, 100 full-batch steps, float64, no costs:
  fastgd ``method="adam"`` against ``inject_hyperparams(optax.adam)`` with a learning rate per
  model in one batched GEMM (``jit``, ``lax.fori_loop``), and against fastgd's gd time;
- the MSE sweep with Adam, 1000 w0 x 1000 lr x 1000 steps, against ``vmap`` of a
  ``fori_loop`` per run with optax's adam.

Every implementation gets a warm-up call before it is timed.
"""

import numpy as np
import pytest
from conftest import HAVE_OPTAX

import fastgd
from fastgd._baselines import jax_optax_fit, jax_optax_sweep

N, D, K, STEPS = 100_000, 32, 64, 100
M = L = 1000
SWEEP_STEPS = 1000
X0, TARGET = 1.0, 0.2


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = (X @ rng.normal(size=D) + rng.normal(size=N) > 0).astype(float)
    return X, y, np.geomspace(1e-4, 0.3, K)


FIT_IMPLS = ["fastgd", "fastgd_gd"] + (["jax"] if HAVE_OPTAX else [])


@pytest.mark.parametrize("impl", FIT_IMPLS)
def test_adam_fit(benchmark, impl):
    X, y, lr = _problem()
    if impl == "jax":
        import jax.numpy as jnp

        fn, args = jax_optax_fit(STEPS, "adam"), (jnp.asarray(X), jnp.asarray(y), jnp.asarray(lr))
    else:
        method = "adam" if impl == "fastgd" else "gd"

        def fn(X, y, lr):
            return fastgd.fit(X, y, lr, steps=STEPS, method=method, record_every=0)

        args = (X, y, lr)
    fn(*args)  # warm-up: compile, load the cache, fault the pages
    benchmark.group = f"adam fit logistic {N}x{D} K={K} steps={STEPS}"
    benchmark.extra_info.update(
        case=f"adam fit {N}x{D} K={K} x{STEPS}, no costs", impl=impl, n=N, dtype="float64",
        gflop=4 * N * D * K * STEPS / 1e9,
    )  # fmt: skip
    benchmark.pedantic(fn, args=args, rounds=3, iterations=1)


SWEEP_IMPLS = ["fastgd"] + (["jax"] if HAVE_OPTAX else [])


@pytest.mark.parametrize("impl", SWEEP_IMPLS)
def test_adam_sweep(benchmark, impl):
    w0, lr = np.linspace(-5, 5, M), np.geomspace(1e-4, 0.45, L)
    if impl == "jax":
        import jax.numpy as jnp

        fn, w0, lr = jax_optax_sweep(SWEEP_STEPS, X0, TARGET, "adam"), jnp.asarray(w0), jnp.asarray(lr)
    else:

        def fn(w0, lr):
            return fastgd.descend("mse", w0, lr, steps=SWEEP_STEPS, x=X0, target=TARGET, method="adam").w

    fn(w0, lr)  # warm-up
    benchmark.group = f"adam descent mse {M}x{L}x{SWEEP_STEPS} float64"
    benchmark.extra_info.update(case="descent_adam", impl=impl, n=M * L * SWEEP_STEPS, dtype="float64")
    w = np.asarray(benchmark.pedantic(fn, args=(w0, lr), rounds=3, iterations=1))
    assert w.shape == (M, L) and np.isfinite(w).all()

"""Logistic regression for 64 learning rates at once: n=1e5, D=32, 100 full-batch steps, float64."""

import numpy as np
import pytest
from conftest import impls

import fastgd
from fastgd._baselines import jax_fit

N, D, K, STEPS = 100_000, 32, 64, 100


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D))
    y = (X @ rng.normal(size=D) + rng.normal(size=N) > 0).astype(float)
    return X, y, np.geomspace(1e-3, 10, K)


@pytest.mark.parametrize("impl", impls())
def test_fit_lr_grid(benchmark, baselines, impl):
    X, y, lr = _problem()
    if impl == "numpy":
        def fn(X, y, lr):
            return baselines["fit_batched"](X, y, lr, STEPS)
    elif impl == "fastgd":
        def fn(X, y, lr):
            return fastgd.fit(X, y, lr, steps=STEPS, record_every=0)
    else:
        import jax.numpy as jnp

        fn, X, y, lr = jax_fit(STEPS), jnp.asarray(X), jnp.asarray(y), jnp.asarray(lr)
    fastgd.fit(X[:500], y[:500], lr, steps=2) if impl == "fastgd" else None  # warm-up (compile)
    benchmark.group = f"fit logistic n={N} D={D} K={K} steps={STEPS}"
    benchmark.extra_info.update(case="fit_logistic", impl=impl, n=N, dtype="float64",
                                gflop=4 * N * D * K * STEPS / 1e9)
    benchmark.pedantic(fn, args=(X, y, lr), rounds=3, iterations=1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_lr_grid_sklearn_loop(benchmark):
    """The usual grid search: scikit-learn's SGDClassifier once per learning rate, 5 epochs each."""
    sklearn = pytest.importorskip("sklearn")  # in the test and bench extras
    from sklearn.linear_model import SGDClassifier

    X, y, lr = _problem()

    def loop(X, y, lr):
        return [SGDClassifier(loss="log_loss", penalty=None, learning_rate="constant", eta0=rate, max_iter=5,
                              tol=None, random_state=0).fit(X, y) for rate in lr]

    benchmark.group = f"fit logistic n={N} D={D} K={K} steps={STEPS}"
    benchmark.extra_info.update(case="fit_logistic", impl=f"sklearn_sgd_loop ({sklearn.__version__})", n=N,
                                dtype="float64")
    models = benchmark.pedantic(loop, args=(X, y, lr), rounds=1, iterations=1)
    assert len(models) == K

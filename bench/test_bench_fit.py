"""Learning-rate grid fits of logistic regression, float64: fastgd against JAX (and NumPy, scikit-learn).

- full batch at five sizes, with the cost of every model at every step (``record_every=1``,
  against the JAX peer that also computes it) and without (``record_every=0``);
- mini-batch SGD (batch 64, learning rates 1e-3 .. 10, some of which diverge) at 300,
  3 000 and 30 000 steps: time per step should be flat;
- the SGD and the smallest fit again while two busy processes keep both cores loaded.

Every implementation gets a warm-up call (compile, cache load) before it is timed.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import HAVE_JAX, impls

import fastgd
from fastgd._baselines import jax_fit, jax_sgd

# (n, D, learning rates, steps); the largest also against NumPy and scikit-learn
SIZES = [(569, 30, 32, 500), (5_000, 20, 16, 200), (20_000, 32, 32, 100), (100_000, 32, 64, 100)]
N, D, K, STEPS = SIZES[-1]
SGD = dict(n=100_000, D=32, K=64, batch=64)
SGD_STEPS = [300, 3_000, 30_000]
DGEMM_CASE = "dgemm 2048x2048 (NumPy's BLAS, every core)"  # bench/report.py reads the peak from it


def _problem(n, D, K, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = (X @ rng.normal(size=D) + rng.normal(size=n) > 0).astype(float)
    return X, y, np.geomspace(1e-3, 10, K)


def _fit_fn(impl, steps, record_every, baselines):
    if impl == "numpy":
        return lambda X, y, lr: baselines["fit_batched"](X, y, lr, steps, with_cost=bool(record_every))
    if impl == "fastgd":
        return lambda X, y, lr: fastgd.fit(X, y, lr, steps=steps, record_every=record_every)
    return jax_fit(steps, with_cost=bool(record_every))


def _inputs(impl, X, y, lr):
    if impl != "jax":
        return X, y, lr
    import jax.numpy as jnp

    return jnp.asarray(X), jnp.asarray(y), jnp.asarray(lr)


# NumPy only at the largest size without costs (its row of the table): 23 s a call
FIT_CASES = [
    (size, impl, rec)
    for size in SIZES
    for rec in (1, 0)
    for impl in impls()
    if impl != "numpy" or (size[0], rec) == (N, 0)
]


@pytest.mark.parametrize(
    "size, impl, record_every",
    FIT_CASES,
    ids=[f"{s[0]}x{s[1]}-{impl}-{'costs' if rec else 'nocosts'}" for s, impl, rec in FIT_CASES],
)
def test_fit_lr_grid(benchmark, baselines, size, impl, record_every):
    n, D, K, steps = size
    X, y, lr = _problem(n, D, K)
    fn, args = _fit_fn(impl, steps, record_every, baselines), _inputs(impl, X, y, lr)
    fn(*args)  # warm-up: compile, load the cache, fault the pages
    costs = "costs every step" if record_every else "no costs"
    benchmark.group = f"fit logistic {n}x{D} K={K} steps={steps}, {costs}"
    benchmark.extra_info.update(
        case=f"fit {n}x{D} K={K} x{steps}, {costs}", impl=impl, n=n, dtype="float64", gflop=4 * n * D * K * steps / 1e9
    )
    benchmark.pedantic(fn, args=args, rounds=3 if n >= N else 7, iterations=1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_lr_grid_sklearn_loop(benchmark):
    """The usual grid search: scikit-learn's SGDClassifier once per learning rate, 5 epochs each."""
    sklearn = pytest.importorskip("sklearn")  # in the test and bench extras
    from sklearn.linear_model import SGDClassifier

    X, y, lr = _problem(N, D, K)

    def loop(X, y, lr):
        return [
            SGDClassifier(
                loss="log_loss", penalty=None, learning_rate="constant", eta0=rate, max_iter=5, tol=None, random_state=0
            ).fit(X, y)
            for rate in lr
        ]

    benchmark.group = f"fit logistic {N}x{D} K={K} steps={STEPS}, no costs"
    benchmark.extra_info.update(
        case=f"fit {N}x{D} K={K} x{STEPS}, no costs",
        impl=f"sklearn_sgd_loop ({sklearn.__version__})",
        n=N,
        dtype="float64",
    )
    models = benchmark.pedantic(loop, args=(X, y, lr), rounds=1, iterations=1)
    assert len(models) == K


def _sgd_fn(impl, steps):
    if impl == "fastgd":
        return lambda X, y, lr: fastgd.fit(X, y, lr, steps=steps, batch_size=SGD["batch"], record_every=0)
    return jax_sgd(steps, SGD["batch"])


def _time_sgd(benchmark, impl, steps, label, rounds=5):
    X, y, lr = _problem(SGD["n"], SGD["D"], SGD["K"])
    fn, args = _sgd_fn(impl, steps), _inputs(impl, X, y, lr)
    fn(*args)  # warm-up
    benchmark.group = f"SGD {SGD['n']}x{SGD['D']} K={SGD['K']} batch {SGD['batch']} x{steps}{label}"
    benchmark.extra_info.update(
        case=f"SGD batch {SGD['batch']} x{steps}{label}", impl=impl, n=SGD["n"], dtype="float64", steps=steps
    )
    benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1)


# fastgd at every length (time per step should be flat), the JAX peer at the target's 3 000 steps
SGD_CASES = [("fastgd", steps) for steps in SGD_STEPS] + ([("jax", 3_000)] if HAVE_JAX else [])


@pytest.mark.parametrize("impl, steps", SGD_CASES, ids=[f"{impl}-{steps}" for impl, steps in SGD_CASES])
def test_sgd_lr_grid(benchmark, impl, steps):
    _time_sgd(benchmark, impl, steps, "")


@pytest.fixture
def busy_cores():
    """Two processes spinning on the CPU while the test runs, ended by the pids started here."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("case", ["sgd", "small"])
@pytest.mark.parametrize("impl", ["fastgd"] + (["jax"] if HAVE_JAX else []))
def test_under_load(benchmark, busy_cores, impl, case):
    """The same work while other processes keep every core busy (the report shows each slowdown)."""
    if case == "sgd":
        _time_sgd(benchmark, impl, 3_000, ", under load", rounds=3)
        return
    n, D, K, steps = SIZES[0]
    X, y, lr = _problem(n, D, K)
    fn, args = _fit_fn(impl, steps, 1, None), _inputs(impl, X, y, lr)
    fn(*args)
    benchmark.group = f"fit logistic {n}x{D} K={K} steps={steps}, costs every step, under load"
    benchmark.extra_info.update(
        case=f"fit {n}x{D} K={K} x{steps}, costs every step, under load", impl=impl, n=n, dtype="float64"
    )
    benchmark.pedantic(fn, args=args, rounds=5, iterations=1)


def test_dgemm_peak(benchmark):
    """NumPy's BLAS on a large square product: the machine's practical float64 peak, for the GFLOP/s lines."""
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(2048, 2048)), rng.normal(size=(2048, 2048))
    A @ B  # warm-up: threads started, pages faulted
    benchmark.group = "dgemm 2048 float64"
    benchmark.extra_info.update(case=DGEMM_CASE, impl="numpy", n=2048, dtype="float64", gflop=2 * 2048**3 / 1e9)
    benchmark.pedantic(np.matmul, args=(A, B), rounds=5, iterations=1)

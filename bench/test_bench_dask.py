"""Fits on a Dask cluster: fastgd against dask-glm and batched Dask-array gd, and against fastgd in memory.

Logistic regression, 200 000 x 32 float64 in chunks of 50 000 rows, persisted on a
``LocalCluster`` of 2 single-threaded worker processes before timing; 16 learning rates,
20 full-batch gd steps (the cost recorded every step).  dask-glm's ``gradient_descent``
fits one model (20 iterations, each with its backtracking line search); the batched
Dask-array peer fits the 16 models with one GEMM per chunk and step.  Every
implementation gets a warm-up call.
"""

import numpy as np
import pytest

import fastgd
from fastgd import _dask
from fastgd._baselines import dask_fit_batched, dask_glm_fit, have_dask_glm

pytest.importorskip("distributed", reason="needs the dask extra (dask, distributed)")

N, D, K, STEPS, CHUNK = 200_000, 32, 16, 20, 50_000
CASE = f"dask fit {N}x{D}, {K} lr x{STEPS} (LocalCluster 2x1, chunks {CHUNK})"


@pytest.fixture(scope="module")
def problem():
    import dask.array as da
    import distributed

    lr = np.geomspace(1e-3, 10, K)
    with (
        _dask.local_cluster(2) as cluster,
        distributed.Client(cluster) as client,
    ):
        rng = da.random.default_rng(0)  # the data made on the workers, then a copy here for the in-memory fit
        dX = rng.normal(size=(N, D), chunks=(CHUNK, D))
        dy = ((dX @ np.linspace(-1, 1, D) + rng.normal(size=N, chunks=CHUNK)) > 0).astype(float)
        dX, dy = client.persist([dX, dy])
        X, y = client.compute([dX, dy], sync=True)
        yield X, y, lr, dX, dy


NO_GLM = pytest.mark.skipif(not have_dask_glm(), reason="dask-glm is in the bench extra only")
IMPLS = ["fastgd-dask", "fastgd-memory", "dask-batched", pytest.param("dask-glm", marks=NO_GLM)]


@pytest.mark.parametrize("impl", IMPLS)
def test_dask_fit(benchmark, problem, impl):
    X, y, lr, dX, dy = problem
    fn, args = {
        "fastgd-dask": (lambda X, y: fastgd.fit(X, y, lr, steps=STEPS), (dX, dy)),
        "fastgd-memory": (lambda X, y: fastgd.fit(X, y, lr, steps=STEPS), (X, y)),
        "dask-batched": (lambda X, y: dask_fit_batched(STEPS)(X, y, lr), (dX, dy)),
        "dask-glm": (lambda X, y: dask_glm_fit(STEPS)(X, y), (dX, dy)),  # imports dask-glm only when run
    }[impl]
    out = fn(*args)  # warm-up: compile, workers' imports
    if impl.startswith("fastgd"):
        assert np.isfinite(out.coef).all() and out.n_steps.max() == STEPS
    benchmark.group = CASE
    models = 1 if impl == "dask-glm" else K
    benchmark.extra_info.update(case=CASE, impl=impl, n=N, dtype="float64", models=models)
    benchmark.pedantic(fn, args=args, rounds=3, iterations=1)


def test_dask_batched_peer_fits_what_fastgd_fits(problem):
    """The peer's coefficients equal fastgd's (it is the same work), so its time is comparable."""
    X, y, lr, dX, dy = problem
    W, b = dask_fit_batched(5)(dX, dy, lr)
    res = fastgd.fit(X, y, lr, steps=5, l2=0.0, tol=None)
    np.testing.assert_allclose(W.T, res.coef, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b, res.intercept, rtol=1e-10, atol=1e-14)

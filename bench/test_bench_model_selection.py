"""A cross-validated grid search in one pass: fastgd against the same work in JAX and NumPy, and GridSearchCV.

Breast cancer (569 x 30, standardised), 16 learning rates x 4 L2 strengths, 5 stratified
folds plus the refit: 384 logistic models, 200 full-batch gd steps, float64.  The JAX
peer weights the rows by fold masks inside one batched GEMM (``jit`` + ``fori_loop``).
scikit-learn's ``GridSearchCV(LogisticRegression)`` searches the same C values on the
same folds (lbfgs to convergence: other work, reported for its time and its best score).
"""

import numpy as np
import pytest
from conftest import HAVE_JAX
from sklearn.preprocessing import StandardScaler

import fastgd
from fastgd import model_selection as ms
from fastgd._baselines import cv_columns, jax_cv_fit

LR = np.geomspace(1e-3, 10, 16)
L2 = np.array([0.0, 1e-4, 1e-3, 1e-2])
GRID_LR, GRID_L2 = np.repeat(LR, L2.size), np.tile(L2, LR.size)  # fastgd's grid order: lr slowest
STEPS, FOLDS = 200, 5
CASE = f"cv search 569x30, 16 lr x 4 l2 x ({FOLDS} folds + refit) x{STEPS}"


def _problem():
    data = fastgd.datasets.breast_cancer()
    X, y = StandardScaler().fit_transform(data.X), (data.y == np.unique(data.y)[1]).astype(float)
    return X, y, *_folds(X, y)


def _folds(X, y):
    """The stratified folds, and their training masks (FOLDS + 1, n) with the refit's row of ones last."""
    pairs = ms.kfold(X.shape[0], FOLDS, seed=0, labels=y)
    masks = np.zeros((FOLDS + 1, X.shape[0]))
    for f, (train, _) in enumerate(pairs):
        masks[f, train] = 1
    masks[FOLDS] = 1  # the refit
    return pairs, masks


def _held_out_accuracy(W, b, X, y, pairs):
    """Mean over folds of each grid point's held-out accuracy, from (D, models) columns grid-major."""
    F = len(pairs)
    acc = np.zeros((W.shape[1] // (F + 1), F))
    for f, (_, test) in enumerate(pairs):
        Z = X[test] @ W[:, f :: F + 1] + b[f :: F + 1]
        acc[:, f] = ((Z > 0) == (y[test, None] > 0.5)).mean(axis=0)
    return acc.mean(axis=1).max()


IMPLS = ["fastgd", "numpy"] + (["jax"] if HAVE_JAX else [])


@pytest.mark.parametrize("impl", IMPLS)
def test_cv_grid_search(benchmark, baselines, impl):
    X, y, pairs, masks = _problem()
    if impl == "fastgd":
        fn, args = lambda X, y: fastgd.fit(X, y, LR, l2=L2, steps=STEPS, cv=pairs, record_every=0), (X, y)
    else:
        if impl == "jax":
            import jax.numpy as jnp

            fn = jax_cv_fit(STEPS)
            args = tuple(jnp.asarray(a) for a in (X, y, *cv_columns(GRID_LR, GRID_L2, masks)))
        else:
            fn, args = baselines["cv_fit"], (X, y, GRID_LR, GRID_L2, masks, STEPS)
    out = fn(*args)  # warm-up
    if impl == "fastgd":
        best = float(np.nanmax(out.mean_cv_score))
    else:
        W, b = (np.asarray(a) for a in out)
        best = _held_out_accuracy(W, b, X, y, pairs)
    benchmark.group = CASE
    benchmark.extra_info.update(case=CASE, impl=impl, n=X.shape[0], dtype="float64", best_accuracy=best)
    benchmark.pedantic(fn, args=args, rounds=5 if impl != "numpy" else 3, iterations=1)


def test_cv_grid_search_sklearn(benchmark):
    """GridSearchCV(LogisticRegression) over C = 1 / (l2 n_train) (C = inf for l2 = 0), the same folds."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y, pairs, _ = _problem()
    n_train = pairs[0][0].size
    grid = {"C": [*(1 / (L2[L2 > 0] * n_train)), np.inf]}  # C = inf: no penalty
    search = GridSearchCV(LogisticRegression(max_iter=10_000), grid, cv=pairs)
    search.fit(X, y)
    benchmark.group = CASE
    benchmark.extra_info.update(
        case=CASE, impl=f"sklearn_gridsearchcv ({sklearn.__version__})", n=X.shape[0], dtype="float64",
        best_accuracy=float(search.best_score_),
    )  # fmt: skip
    benchmark.pedantic(search.fit, args=(X, y), rounds=3, iterations=1)


# ---------------------------------------------------------------- multiclass: digits, the softmax model
MC_CASE = f"cv search digits 1797x64x10 classes, 16 lr x 4 l2 x ({FOLDS} folds + refit) x{STEPS}"
MC_LR = np.geomspace(1e-3, 10, 16)


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    sd = X.std(0)
    X = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)  # standardised (constant pixels left at 0)
    return X, y, *_folds(X, y)


def _multinomial_accuracy(W, b, X, y, pairs, K):
    """Best mean held-out accuracy from (D, models x K) columns, models grid-major then folds."""
    F = len(pairs)
    P = W.shape[1] // K
    Wm, bm = W.reshape(X.shape[1], P, K), b.reshape(P, K)
    acc = np.zeros((P // (F + 1), F))
    for f, (_, test) in enumerate(pairs):
        Z = np.einsum("nd,dpk->npk", X[test], Wm[:, f :: F + 1]) + bm[f :: F + 1]
        acc[:, f] = (Z.argmax(axis=2) == y[test, None]).mean(axis=0)
    return acc.mean(axis=1).max()


@pytest.mark.parametrize("impl", IMPLS)
def test_multiclass_cv_grid_search(benchmark, baselines, impl):
    X, y, pairs, masks = _digits()
    onehot = np.eye(10)[y]
    lr_m, l2_m = np.repeat(MC_LR, L2.size), np.tile(L2, MC_LR.size)
    if impl == "fastgd":
        fn, args = lambda X, y: fastgd.fit(X, y, MC_LR, l2=L2, steps=STEPS, cv=pairs, record_every=0), (X, y)
    elif impl == "jax":
        import jax.numpy as jnp

        from fastgd._baselines import jax_multinomial_cv_fit

        fn = jax_multinomial_cv_fit(STEPS)
        args = tuple(jnp.asarray(a) for a in (X, onehot, *cv_columns(lr_m, l2_m, masks)))
    else:
        fn, args = baselines["multinomial_cv_fit"], (X, onehot, lr_m, l2_m, masks, STEPS)
    out = fn(*args)  # warm-up
    if impl == "fastgd":
        best = float(np.nanmax(out.mean_cv_score))
    else:
        W, b = (np.asarray(a) for a in out)
        best = _multinomial_accuracy(W, b, X, y, pairs, 10)
    benchmark.group = MC_CASE
    benchmark.extra_info.update(case=MC_CASE, impl=impl, n=X.shape[0], dtype="float64", best_accuracy=best)
    benchmark.pedantic(fn, args=args, rounds=3 if impl != "numpy" else 1, iterations=1)


def test_multiclass_cv_grid_search_sklearn(benchmark):
    """GridSearchCV(LogisticRegression) (multinomial, lbfgs) over C = 1 / (l2 n_train), the same folds."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y, pairs, _ = _digits()
    n_train = pairs[0][0].size
    grid = {"C": [*(1 / (L2[L2 > 0] * n_train)), np.inf]}
    search = GridSearchCV(LogisticRegression(max_iter=10_000), grid, cv=pairs)
    search.fit(X, y)
    benchmark.group = MC_CASE
    benchmark.extra_info.update(
        case=MC_CASE, impl=f"sklearn_gridsearchcv ({sklearn.__version__})", n=X.shape[0], dtype="float64",
        best_accuracy=float(search.best_score_),
    )  # fmt: skip
    benchmark.pedantic(search.fit, args=(X, y), rounds=1, iterations=1)

"""The multinomial (softmax) model: three classes or more, fitted in the same pass as every other model."""

import numba
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss

import fastgd
from fastgd import _engine

from . import reference as ref


def _standardized(loader):
    X, y = loader(return_X_y=True)
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0), y


def _blobs(n=240, D=5, K=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    X = rng.normal(size=(n, D)) + rng.normal(size=(K, D))[y]
    return X.astype(dtype), y


# ---------------------------------------------------------------- against independent references
@pytest.mark.parametrize("method", ["gd", "nesterov", "adam"])
def test_trajectories_equal_a_numpy_transcription(method):
    X, y = _blobs()
    lrs, l2s = [0.05, 0.5], [0.0, 0.1]
    for steps in (1, 10, 200):
        res = fastgd.fit(X, y, lrs, l2=l2s, steps=steps, method=method)
        coef, inter, hist = ref.multinomial_fit(X, y, 4, lrs, l2s, steps, method=method)
        assert res.coef.shape == (4, 4, 5) and res.intercept.shape == (4, 4)
        np.testing.assert_allclose(res.coef, coef, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(res.intercept, inter, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(res.cost_history, hist, rtol=1e-10)
        np.testing.assert_allclose(res.final_cost, hist[:, -1], rtol=1e-10)


def test_mini_batches_follow_the_same_stream():
    X, y = _blobs(n=150)
    res = fastgd.fit(X, y, [0.1, 1.0], steps=40, batch_size=32, seed=5)
    batches = ref.batches(5, X.shape[0], 32, 41)
    coef, inter, hist = ref.multinomial_fit(X, y, 4, [0.1, 1.0], 0.0, 40, batches=batches)
    np.testing.assert_allclose(res.coef, coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.cost_history, hist, rtol=1e-10)


def _whole_data_cost(X, y, coef, intercept, l2):
    logp = ref.log_softmax(X @ coef.T + intercept)
    return -logp[np.arange(y.size), y].mean() + 0.5 * l2 * (coef * coef).sum()


@pytest.mark.parametrize("stop", [None, "tol", "diverged", "early"])
def test_mini_batch_results_read_every_model_not_every_class(stop):
    # final_cost numbered W's rows (models x classes) as models: IndexError on every reader of it
    import copy
    import pickle

    X, y = _blobs(n=150)
    kw = {"tol": dict(tol=1e9), "diverged": dict(max_abs_w=1e-3), "early": dict(validation=0.3, early_stopping=True,
          patience=1, record_every=2)}.get(stop, {})  # fmt: skip
    res = fastgd.fit(X, y, [0.1, 1.0], l2=0.01, steps=20, batch_size=32, seed=1, **kw)
    assert res.final_cost.shape == (2,)
    rows = np.arange(y.size) if stop != "early" else None
    if rows is not None:  # the cost on the whole data at the final coefficients
        want = [_whole_data_cost(X, y, res.coef[m], res.intercept[m], 0.01) for m in range(2)]
        np.testing.assert_allclose(res.final_cost, want, rtol=1e-10)
    if stop != "diverged":
        assert res.best in (0, 1)
        assert res.predict(X[:5]).shape == (5,)
    assert res.to_pandas().shape[0] == 2
    for again in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res)):
        np.testing.assert_array_equal(again.final_cost, res.final_cost)


def test_gradient_matches_finite_differences():
    X, y = _blobs(n=60, D=3, K=3)
    lr, l2 = 0.3, 0.05
    res = fastgd.fit(X, y, lr, l2=l2, steps=1)  # one gd step from 0: coef = -lr * grad(0)
    grad = -np.concatenate([res.coef[0], res.intercept[0][:, None]], axis=1) / lr

    def cost(theta):
        W, b = theta[:, :3], theta[:, 3]
        return -ref.log_softmax(X @ W.T + b)[np.arange(60), y].mean() + 0.5 * l2 * (W * W).sum()

    h = 1e-6
    fd = np.zeros((3, 4))
    for k in range(3):
        for a in range(4):
            e = np.zeros((3, 4))
            e[k, a] = h
            fd[k, a] = (cost(e) - cost(-e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("loader, l2", [(load_wine, 0.02), (load_digits, 0.01)])
def test_converged_models_equal_scikit_learn_multinomial(loader, l2):
    X, y = _standardized(loader)
    n = X.shape[0]
    res = fastgd.fit(X, y, [1.0], l2=l2, steps=20000, method="nesterov", tol=1e-11)
    assert res.converged[0]
    sk = LogisticRegression(C=1 / (l2 * n), solver="newton-cholesky", tol=1e-13, max_iter=100).fit(X, y)
    scale = np.abs(sk.coef_).max()
    np.testing.assert_allclose(res.coef[0], sk.coef_, rtol=0, atol=1e-6 * scale)
    centred = res.intercept[0] - res.intercept[0].mean()  # the intercepts' softmax invariance
    np.testing.assert_allclose(centred, sk.intercept_ - sk.intercept_.mean(), rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(res.predict_proba(X, 0), sk.predict_proba(X), rtol=0, atol=1e-6)
    assert np.array_equal(res.predict(X, 0), sk.predict(X))


def test_newton_converges_in_a_few_steps_to_scikit_learn():
    X, y = _standardized(load_wine)
    n = X.shape[0]
    res = fastgd.fit(X, y, [1.0], l2=0.02, steps=60, method="newton", tol=1e-10)
    assert res.converged[0] and res.n_steps[0] < 20
    sk = LogisticRegression(C=1 / (0.02 * n), solver="newton-cholesky", tol=1e-13, max_iter=100).fit(X, y)
    np.testing.assert_allclose(res.coef[0], sk.coef_, rtol=0, atol=1e-6 * np.abs(sk.coef_).max())
    np.testing.assert_allclose(res.predict_proba(X, 0), sk.predict_proba(X), atol=1e-6)
    # no L2: every feature's common shift across the classes is free too (made definite the same
    # way); the coefficients are not unique there, the probabilities are
    Xb, yb = _blobs(n=300, D=3, K=3, seed=4)
    free = fastgd.fit(Xb, yb, [1.0], steps=60, method="newton", tol=1e-10)
    assert free.converged[0] and free.n_steps[0] < 30
    sk0 = LogisticRegression(C=np.inf, tol=1e-13, max_iter=10000).fit(Xb, yb)
    np.testing.assert_allclose(free.predict_proba(Xb, 0), sk0.predict_proba(Xb), atol=1e-6)
    one = fastgd.fit(X, y, [0.5], l2=0.02, steps=1, method="newton")
    coef, inter, _ = ref.multinomial_newton(X, y, 3, 0.5, 0.02)
    np.testing.assert_allclose(one.coef[0], coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(one.intercept[0], inter, rtol=1e-10, atol=1e-13)


def test_fold_models_equal_separate_fits_for_every_method():
    X, y = _blobs(n=200, K=3)
    from fastgd import model_selection as ms

    pairs = ms.kfold(200, 4, seed=0, labels=y)
    for method in ("gd", "momentum", "newton"):
        res = fastgd.fit(X, y, [0.3], l2=0.01, steps=8, cv=pairs, method=method)
        for f, (train, _) in enumerate(pairs):
            alone = fastgd.fit(X[train], y[train], [0.3], l2=0.01, steps=8, method=method)
            np.testing.assert_allclose(res.cv_coef[:, f], alone.coef, rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(res.cv_intercept[:, f], alone.intercept, rtol=1e-10, atol=1e-13)


def test_huge_logits_give_finite_losses_and_probabilities():
    X, y = _blobs(n=40, D=2, K=3)
    X = X * 1e4  # after one step at lr 1 the logits are of order 1e8
    res = fastgd.fit(X, y, [1.0], steps=1)
    logits = X @ res.coef[0].T + res.intercept[0]
    assert np.abs(logits).max() > 1e4
    want = -ref.log_softmax(logits)[np.arange(40), y].mean()
    assert np.isfinite(res.final_cost).all() and not res.diverged[0]
    np.testing.assert_allclose(res.final_cost[0], want, rtol=1e-10)
    p = res.predict_proba(X, 0)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


# ---------------------------------------------------------------- the engine's invariants
def test_every_path_gives_the_same_bits(monkeypatch):
    X, y = _blobs(n=9000, D=6, K=3)  # more than one chunk of rows
    args = dict(lr=[0.1, 0.3, 1.0], l2=[0.0, 0.01], steps=15, method="adam")
    runs = {}
    for mode in ("sets", "rows"):
        monkeypatch.setattr(_engine, "MODE", mode)
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            try:
                runs[mode, threads] = fastgd.fit(X, y, **args)
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    first = next(iter(runs.values()))
    for res in runs.values():
        assert np.array_equal(res.coef, first.coef) and np.array_equal(res.cost_history, first.cost_history)


def test_a_diverging_model_stops_alone_with_every_class():
    X, y = _blobs()
    res = fastgd.fit(X * 100, y, [1e-4, 1e3], steps=50, max_abs_w=1e3)
    assert res.diverged.tolist() == [False, True]
    assert np.abs(res.coef[1]).max() <= 1e3 and res.n_steps[1] < 50
    alone = fastgd.fit(X * 100, y, [1e-4], steps=50, max_abs_w=1e3)
    assert np.array_equal(res.coef[0], alone.coef[0])  # the other model is untouched


def test_float32_stays_float32_and_close_to_float64():
    X, y = _blobs(dtype=np.float32)
    r32 = fastgd.fit(X, y, [0.1, 0.5], steps=100)
    r64 = fastgd.fit(X.astype(np.float64), y, [0.1, 0.5], steps=100)
    assert r32.coef.dtype == np.float32 and r32.predict_proba(X, 0).dtype == np.float32
    np.testing.assert_allclose(r32.coef, r64.coef, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- results and held-out scores
def test_labels_shapes_and_table():
    X, y = _blobs(K=3)
    names = np.array(["ant", "bee", "cat"])[y]
    res = fastgd.fit(X, names, [0.1, 1.0], steps=100)
    assert res.classes.tolist() == ["ant", "bee", "cat"] and res.multiclass
    assert set(res.predict(X)) <= {"ant", "bee", "cat"}
    assert res.predict_proba(X).shape == (X.shape[0], 3)
    df = res.to_pandas()
    assert "cat:intercept" in df.columns and "ant:w4" in df.columns
    np.testing.assert_array_equal(df["bee:w0"], res.coef[:, 1, 0])


def test_cross_validation_scores_each_fold_model_as_scikit_learn_does():
    X, y = _standardized(load_iris)
    res = fastgd.fit(X, y, [0.1, 1.0], l2=0.01, steps=300, cv=3, seed=1, scoring="neg_log_loss")
    from fastgd import model_selection as ms

    for f, (train, test) in enumerate(ms.kfold(X.shape[0], 3, seed=1, labels=y)):
        alone = fastgd.fit(X[train], y[train], [0.1, 1.0], l2=0.01, steps=300)
        np.testing.assert_allclose(res.cv_coef[:, f], alone.coef, rtol=1e-10, atol=1e-13)
        for m in range(2):
            want = -log_loss(y[test], alone.predict_proba(X[test], m), labels=[0, 1, 2])
            np.testing.assert_allclose(res.cv_score[m, f], want, rtol=1e-10)
    acc = fastgd.fit(X, y, [1.0], l2=0.01, steps=300, validation=0.3, seed=2)
    train, test = ms.holdout(X.shape[0], 0.3, 2, y)
    alone = fastgd.fit(X[train], y[train], [1.0], l2=0.01, steps=300)
    assert acc.val_score[0] == accuracy_score(y[test], alone.predict(X[test], 0))


def test_early_stopping_and_checkpoints_keep_every_class(tmp_path):
    X, y = _blobs(n=300)
    kw = dict(steps=60, cv=3, early_stopping=True, patience=3, record_every=5, method="adam")
    whole = fastgd.fit(X, y, [0.05, 5.0], **kw)
    path = tmp_path / "run.ckpt"
    fastgd.fit(X, y, [0.05, 5.0], checkpoint=path, checkpoint_every=10, **{**kw, "steps": 20})
    resumed = fastgd.fit(X, y, [0.05, 5.0], checkpoint=tmp_path / "other.ckpt", checkpoint_every=10, **kw)
    assert np.array_equal(whole.cv_coef, resumed.cv_coef) and whole.cv_coef.shape == (2, 3, 4, 5)


# ---------------------------------------------------------------- what it refuses
@pytest.mark.parametrize(
    "change, match",
    [
        (dict(loss="log_loss"), "exactly two classes for loss 'log_loss'.*multinomial"),
        (dict(activation="sigmoid"), "multinomial.*activation=None"),
        (dict(method="newton", X=np.ones((30, 400))), "newton.*3 classes x 401 coefficients.*at most 1024"),
        (dict(loss="mse", y=np.array(["a", "b", "c"] * 10)), "y must be real numbers"),
    ],
)
def test_what_the_multinomial_model_refuses(change, match):
    X, y = _blobs(n=30, K=3)
    kw = dict(X=X, y=y, lr=0.1, steps=5) | change
    with pytest.raises((ValueError, TypeError), match=match):
        fastgd.fit(**kw)


def test_one_class_is_refused():
    with pytest.raises(ValueError, match="at least two classes"):
        fastgd.fit(np.ones((5, 2)), np.zeros(5), 0.1)


def test_dask_arrays_say_the_multinomial_model_is_not_there_yet():
    da = pytest.importorskip("dask.array")
    X, y = _blobs(n=40, K=3)
    with pytest.raises(ValueError, match="3 classes; the multinomial model is not available for Dask"):
        fastgd.fit(da.from_array(X, chunks=20), da.from_array(y, chunks=20), 0.1, steps=2)

"""Held-out scores: the splitters and scorers of fastgd.model_selection, and fit(validation=, cv=)."""

import numpy as np
import pytest
from sklearn import metrics
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, ShuffleSplit, cross_val_score

import fastgd
import fastgd.special
from fastgd import model_selection as ms
from fastgd._baselines import NUMPY_BASELINES


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _data(n=300, D=4, seed=0, classify=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    t = X @ rng.normal(size=D) + 0.5 * rng.normal(size=n)
    return X, ((t > 0).astype(float) if classify else t)


# ---------------------------------------------------------------- splitters
@pytest.mark.parametrize("n, k", [(10, 2), (11, 3), (100, 7), (5, 5)])
def test_kfold_partitions_the_rows_into_near_equal_folds(n, k):
    pairs = ms.kfold(n, k, seed=3)
    tests = np.concatenate([te for _, te in pairs])
    assert np.array_equal(np.sort(tests), np.arange(n))  # each row held out exactly once
    sizes = [te.size for _, te in pairs]
    assert max(sizes) - min(sizes) <= 1
    for train, test in pairs:
        assert np.array_equal(np.union1d(train, test), np.arange(n)) and np.intersect1d(train, test).size == 0
    again = ms.kfold(n, k, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, again, strict=True))
    other = ms.kfold(n, k, seed=4)
    assert n < 6 or not all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, other, strict=True))


def test_stratified_kfold_keeps_each_class_share_within_one_row():
    labels = np.repeat([0, 1, 2], [50, 31, 9])
    pairs = ms.kfold(labels.size, 4, seed=0, labels=labels)
    sizes = [te.size for _, te in pairs]
    assert max(sizes) - min(sizes) <= 1
    for _, test in pairs:
        for c, count in zip([0, 1, 2], [50, 31, 9], strict=True):
            assert abs(np.sum(labels[test] == c) - count / 4) < 1


def test_holdout_is_stratified_and_disjoint():
    labels = np.repeat([0, 1], [80, 20])
    train, test = ms.holdout(100, 0.25, seed=1, labels=labels)
    assert test.size == 25 and train.size == 75 and np.intersect1d(train, test).size == 0
    assert np.sum(labels[test] == 1) == 5
    train, test = ms.holdout(10, 0.01, seed=1)
    assert test.size == 1  # at least one row held out


def _X(n):
    return np.zeros((n, 2))


@pytest.mark.parametrize(
    "cv, match",
    [
        (1, "between 2 and"),
        (11, "between 2 and"),
        ([(np.arange(5), np.arange(4, 8))], "both its train and test"),
        ([(np.arange(5), np.array([5, 10]))], "outside"),
        ([(np.array([0, 0, 1]), np.array([5]))], "repeats"),
        ([(np.arange(5), np.array([], int))], "empty"),
        ([(np.arange(5.0), np.array([6]))], "row indices"),
        ([(np.arange(5),)], "pair"),
    ],
)
def test_bad_folds_are_refused_naming_cv(cv, match):
    with pytest.raises(ValueError, match=match):
        ms.resolve_cv(cv, _X(10), None, 0, None)


def test_cv_of_the_wrong_kind_is_a_type_error():
    for cv in (True, "5", 2.5):
        with pytest.raises(TypeError, match="cv must be"):
            ms.resolve_cv(cv, _X(10), None, 0, None)


def test_a_fold_without_a_class_in_training_is_refused():
    labels = np.array([0, 0, 0, 0, 1, 0, 0, 0])
    with pytest.raises(ValueError, match=r"fold 0 leaves class\(es\) \[1\]"):
        ms.resolve_cv([(np.arange(4), np.arange(4, 8))], _X(8), labels, 0, labels)


def test_splitters_and_index_lists_are_used_as_given():
    X = _X(20)
    pairs = ms.resolve_cv(KFold(4), X, None, 0, None)
    assert [te.tolist() for _, te in pairs] == [te.tolist() for _, te in KFold(4).split(X)]
    masks = ms.exclusion_masks(20, pairs)
    for f, (train, _) in enumerate(pairs):
        skipped = np.flatnonzero((masks >> f) & 1)
        assert np.array_equal(skipped, np.setdiff1d(np.arange(20), train))
    boolean = np.zeros(20, bool)
    boolean[:5] = True
    pairs = ms.resolve_cv([(~boolean, boolean)], X, None, 0, None)
    assert pairs[0][1].tolist() == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- scorers
def test_scores_equal_scikit_learn_metrics():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    yc = (rng.random(300) < 0.4).astype(float)
    yr = X @ [1.0, -1.0, 0.5] + rng.normal(size=300)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    logistic, ident = fastgd.get_loss("logistic"), fastgd.get_activation("identity")
    prob = fastgd.special.sigmoid
    rows = np.arange(0, 300, 3)
    for name, fn in [
        ("accuracy", lambda p, t: metrics.accuracy_score(t, p >= 0.5)),
        ("neg_log_loss", lambda p, t: -metrics.log_loss(t, p, labels=[0, 1])),
    ]:
        got = ms.scores(name, logistic, ident, X, yc, W, b, prob, rows)
        want = [fn(prob(X[rows] @ w + c), yc[rows]) for w, c in zip(W, b, strict=True)]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    mse = fastgd.get_loss("mse")
    for name, fn in [
        ("r2", metrics.r2_score),
        ("neg_mean_squared_error", lambda t, p: -metrics.mean_squared_error(t, p)),
        ("neg_mean_absolute_error", lambda t, p: -metrics.mean_absolute_error(t, p)),
        ("loss", lambda t, p: -np.mean((p - t) ** 2)),
    ]:
        got = ms.scores(name, mse, ident, X, yr, W, b, None, rows)
        want = [fn(yr[rows], X[rows] @ w + c) for w, c in zip(W, b, strict=True)]
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_r2_of_a_constant_target_follows_scikit_learn():
    X, y = np.ones((4, 1)), np.full(4, 2.0)
    got = ms.scores("r2", fastgd.get_loss("mse"), fastgd.get_activation("identity"), X, y, np.array([[1.0], [0.0]]),
                    np.array([1.0, 0.0]), None)  # fmt: skip
    assert got.tolist() == [metrics.r2_score(y, X[:, 0] * 1 + 1), metrics.r2_score(y, X[:, 0] * 0)]


def test_scoring_names_are_checked_against_the_model():
    assert ms.check_scoring(None, True) == "accuracy" and ms.check_scoring(None, False) == "r2"
    with pytest.raises(ValueError, match="needs a classifier"):
        ms.check_scoring("accuracy", False)
    with pytest.raises(ValueError, match="scoring must be one of"):
        ms.check_scoring("f1", True)
    for name in ("r2", "neg_mean_squared_error", "neg_mean_absolute_error"):  # on logits they would be nonsense
        assert ms.check_scoring(name, False) == name
        with pytest.raises(ValueError, match="this model is a classifier"):
            ms.check_scoring(name, True)
    assert ms.check_scoring("loss", True) == "loss" == ms.check_scoring("loss", False)


@pytest.mark.parametrize("scoring", ["r2", "neg_mean_squared_error", "neg_mean_absolute_error"])
@pytest.mark.parametrize("classes", [2, 3])
def test_fit_refuses_a_regression_scoring_for_a_classifier(scoring, classes):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 2)), np.arange(60) % classes
    with pytest.raises(ValueError, match="this model is a classifier"):
        fastgd.fit(X, y, [0.1], cv=3, scoring=scoring, steps=2)
    with pytest.raises(ValueError, match="this model is a classifier"):
        fastgd.fit(X, y, [0.1], validation=0.3, scoring=scoring, steps=2)


# ---------------------------------------------------------------- fit(cv=)
FOLD_CASES = [("logistic", m) for m in ("gd", "momentum", "newton", "adam")] + [("mse", "gd"), ("mse", "newton")]
# mini-batches: the refit models against a plain fit (a fold's batches are not a separate fit's)
FOLD_CASES = [(*case, None) for case in FOLD_CASES] + [("logistic", "gd", 16), ("mse", "adam", 16)]


@pytest.mark.parametrize("loss, method, batch_size", FOLD_CASES)
def test_each_fold_model_equals_a_fit_on_its_training_rows(loss, method, batch_size):
    X, y = _data(classify=loss == "logistic")
    lr = [0.5, 1.0] if method == "newton" else [0.01, 0.1]
    kw = dict(loss=loss, method=method, l2=[0.0, 0.05], steps=60, seed=2)
    res = fastgd.fit(X, y, lr, cv=4, batch_size=batch_size, **kw)
    pairs = ms.kfold(X.shape[0], 4, seed=2, labels=y if loss == "logistic" else None)
    assert res.cv_coef.shape == (4, 4, 4) and res.cv_score.shape == (4, 4)
    if batch_size is None:
        for f, (train, _) in enumerate(pairs):
            alone = fastgd.fit(X[train], y[train], lr, **kw)
            np.testing.assert_allclose(res.cv_coef[:, f], alone.coef, rtol=1e-10, atol=1e-13)
            np.testing.assert_allclose(res.cv_intercept[:, f], alone.intercept, rtol=1e-10, atol=1e-13)
    everything = fastgd.fit(X, y, lr, batch_size=batch_size, **kw)  # the refit models: every row, in the same pass
    np.testing.assert_array_equal(res.coef, everything.coef)
    np.testing.assert_array_equal(res.final_cost, everything.final_cost)
    np.testing.assert_array_equal(res.cost_history, everything.cost_history)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_a_fold_model_never_reads_its_held_out_rows(batch_size):
    X, y = _data()
    pairs = ms.kfold(X.shape[0], 3, seed=0, labels=y)
    res = fastgd.fit(X, y, [0.05, 0.5], cv=pairs, batch_size=batch_size, steps=40)
    X2, y2 = X.copy(), y.copy()
    test0 = pairs[0][1]
    X2[test0] *= 1e30  # absurd held-out rows of fold 0: its model must not notice
    y2[test0] = 1 - y2[test0]
    other = fastgd.fit(X2, y2, [0.05, 0.5], cv=pairs, batch_size=batch_size, steps=40)
    np.testing.assert_array_equal(other.cv_coef[:, 0], res.cv_coef[:, 0])
    np.testing.assert_array_equal(other.cv_intercept[:, 0], res.cv_intercept[:, 0])
    assert not np.array_equal(other.cv_coef[:, 1], res.cv_coef[:, 1])


def test_cv_scores_equal_cross_val_score_of_logistic_regression():
    X, y = _standardized(load_breast_cancer)
    n = X.shape[0]
    folds = list(KFold(5, shuffle=True, random_state=0).split(X))
    Cs = [0.1, 1.0]
    res = fastgd.fit(X, y, 1.0, l2=[1 / (C * (n * 4 / 5)) for C in Cs], method="newton", steps=100, tol=1e-12,
                     cv=folds, scoring="neg_log_loss")  # fmt: skip
    assert res.cv_n_steps.max() < 100 and not res.cv_diverged.any()
    for r in range(len(Cs)):
        # each fold's l2 matches C for that fold's own row count
        want = []
        for train, test in folds:
            model = LogisticRegression(C=1 / (res.l2[r] * train.size), tol=1e-12, max_iter=10_000)
            model.fit(X[train], y[train])
            want.append(-metrics.log_loss(y[test], model.predict_proba(X[test])))
        np.testing.assert_allclose(res.cv_score[r], want, rtol=1e-6)
    assert res.best == int(np.argmax(res.mean_cv_score))


def test_cv_scores_equal_cross_val_score_of_ridge():
    X, y = _standardized(load_diabetes)
    folds = list(KFold(4, shuffle=True, random_state=1).split(X))
    ntr = folds[0][0].size
    alphas = [0.5, 20.0]
    l2 = [2 * a / ntr for a in alphas]
    res = fastgd.fit(X, y, 1.0, loss="mse", l2=l2, method="newton", steps=5, cv=folds,
                     scoring="neg_mean_squared_error")  # fmt: skip
    for r in range(2):
        want = [
            cross_val_score(Ridge(alpha=l2[r] * train.size / 2), X, y, cv=[(train, test)],
                            scoring="neg_mean_squared_error")[0]
            for train, test in folds
        ]  # fmt: skip
        np.testing.assert_allclose(res.cv_score[r], want, rtol=1e-6)


def test_validation_fraction_fits_on_the_other_rows_and_ranks_by_the_score():
    X, y = _data(n=400)
    res = fastgd.fit(X, y, [1e-3, 0.3], steps=50, validation=0.25, seed=5)
    train, test = ms.holdout(400, 0.25, seed=5, labels=y)
    alone = fastgd.fit(X[train], y[train], [1e-3, 0.3], steps=50)
    np.testing.assert_allclose(res.coef, alone.coef, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.final_cost, alone.final_cost, rtol=1e-10)
    want = [metrics.accuracy_score(y[test], alone.predict(X[test], m)) for m in range(2)]
    np.testing.assert_allclose(res.val_score, want)
    assert res.cv_score is None and res.scoring == "accuracy"
    assert res.best == int(np.argmax(res.val_score))
    assert {"val_score"} <= set(res.to_pandas().columns)


def test_validation_set_given_as_data():
    X, y = _data(n=400)
    labels = np.where(y > 0, "yes", "no")
    res = fastgd.fit(X[:300], labels[:300], [0.1, 1.0], steps=30, validation=(X[300:], labels[300:]),
                     scoring="neg_log_loss")  # fmt: skip
    alone = fastgd.fit(X[:300], labels[:300], [0.1, 1.0], steps=30)
    np.testing.assert_array_equal(res.coef, alone.coef)
    want = [-metrics.log_loss(labels[300:], alone.predict_proba(X[300:], m)) for m in range(2)]
    np.testing.assert_allclose(res.val_score, want, rtol=1e-12)
    with pytest.raises(ValueError, match="labels the training y lacks: \\['maybe'\\]"):
        fastgd.fit(X[:300], labels[:300], 0.1, steps=3, validation=(X[300:], np.full(100, "maybe")))
    with pytest.raises(ValueError, match="validation's X has 2 features"):
        fastgd.fit(X[:300], labels[:300], 0.1, steps=3, validation=(X[300:, :2], labels[300:]))


def test_a_diverged_fold_model_is_flagged_and_spoils_nothing():
    X, y = _data(classify=False)
    res = fastgd.fit(X, y, [0.1, 1e6], loss="mse", steps=30, cv=3)
    assert res.cv_diverged[1].all() and not res.cv_diverged[0].any()
    assert np.isnan(res.cv_score[1]).all() and np.isfinite(res.cv_score[0]).all()
    assert res.best == 0
    alone = fastgd.fit(X, y, [0.1], loss="mse", steps=30, cv=3)
    np.testing.assert_array_equal(alone.cv_coef[0], res.cv_coef[0])


def test_refit_false_averages_the_fold_models():
    X, y = _data()
    res = fastgd.fit(X, y, [0.05, 0.5], steps=40, cv=3, refit=False, record_every=10)
    np.testing.assert_allclose(res.coef, res.cv_coef.mean(axis=1))
    np.testing.assert_array_equal(res.n_steps, res.cv_n_steps.max(axis=1))
    z = X @ res.coef.T + res.intercept
    want = np.mean(np.logaddexp(0, z) - y[:, None] * z, axis=0)
    np.testing.assert_allclose(res.final_cost, want, rtol=1e-12)
    assert res.cost_history.shape == (2, 5)


def test_best_refuses_to_compare_costs_of_different_l2():
    X, y = _data()
    res = fastgd.fit(X, y, [0.05, 0.5], l2=[0.0, 0.1], steps=10)
    with pytest.raises(ValueError, match="different l2 strengths"):
        _ = res.best
    with_cv = fastgd.fit(X, y, [0.05, 0.5], l2=[0.0, 0.1], steps=10, cv=3)
    assert with_cv.best == int(np.nanargmax(with_cv.mean_cv_score))


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(cv=3, validation=0.2), ValueError, "not both"),
        (dict(scoring="accuracy"), ValueError, "needs held-out data"),
        (dict(cv=3, loss="mse", scoring="accuracy"), ValueError, "needs a classifier"),
        (dict(validation=1.5), ValueError, "strictly between 0 and 1"),
        (dict(validation=0.0), ValueError, "strictly between 0 and 1"),
        (dict(validation=True), TypeError, "validation must be"),
        (dict(validation="0.2"), TypeError, "validation must be"),
        (dict(cv=3, batch_size=250), ValueError, "larger than the smallest fold"),
        (dict(cv=ShuffleSplit(2, test_size=0.5, random_state=0), refit="yes"), TypeError, "refit"),
    ],
)
def test_bad_held_out_options_are_refused_before_any_work(kw, error, match):
    X, y = _data()
    with pytest.raises(error, match=match):
        fastgd.fit(X, y, 0.1, steps=5, **kw)


def test_the_benchmarks_numpy_baseline_fits_the_same_fold_models():
    X, y = _data()
    pairs = ms.kfold(X.shape[0], 3, seed=0, labels=y)
    masks = np.zeros((4, X.shape[0]))
    for f, (train, _) in enumerate(pairs):
        masks[f, train] = 1
    masks[3] = 1
    lr, l2 = np.array([0.05, 0.5]), np.array([0.0, 0.01])
    res = fastgd.fit(X, y, lr, l2=l2, cv=pairs, steps=30, record_every=0)
    W, b = NUMPY_BASELINES["cv_fit"](X, y, np.repeat(lr, 2), np.tile(l2, 2), masks, 30)
    np.testing.assert_allclose(W.T.reshape(4, 4, -1)[:, :3], res.cv_coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(W.T.reshape(4, 4, -1)[:, 3], res.coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(b.reshape(4, 4)[:, :3], res.cv_intercept, rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- early stopping
def _overfitting(n=160, D=40, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    return X, (X[:, 0] + 2 * rng.normal(size=n) > 0).astype(float)


def test_early_stopping_keeps_the_coefficients_of_the_best_check():
    X, y = _overfitting()
    kw = dict(validation=0.3, seed=1, l2=0.0)
    res = fastgd.fit(X, y, 2.0, steps=2000, early_stopping=True, patience=3, record_every=20, **kw)
    assert res.stopped_early[0] and not res.converged[0]
    stop = int(res.n_steps[0])
    assert stop % 20 == 0 and stop < 2000
    # the same fit, stopped by hand at every check up to the stop: the best held-out loss wins
    checks = range(20, stop + 1, 20)
    fits = [fastgd.fit(X, y, 2.0, steps=s, scoring="loss", **kw) for s in checks]
    losses = [-f.val_score[0] for f in fits]
    best = int(np.argmin(losses))
    assert stop == list(checks)[best] + 3 * 20  # patience checks without improvement
    np.testing.assert_array_equal(res.coef[0], fits[best].coef[0])
    np.testing.assert_array_equal(res.intercept[0], fits[best].intercept[0])
    np.testing.assert_allclose(res.final_cost[0], fits[best].final_cost[0], rtol=1e-12)


def test_early_stopping_with_folds_stops_fold_models_only():
    X, y = _overfitting()
    res = fastgd.fit(X, y, [0.01, 2.0], steps=600, cv=3, early_stopping=True, patience=2, record_every=20)
    assert res.cv_stopped_early.shape == (2, 3) and res.cv_stopped_early[1].all()
    assert (res.cv_n_steps[1] < 600).all() and (res.n_steps == 600).all()  # the refits have no held-out rows
    assert not res.stopped_early.any()
    plain = fastgd.fit(X, y, [0.01, 2.0], steps=600, cv=3, record_every=20)
    np.testing.assert_array_equal(res.coef, plain.coef)


@pytest.mark.parametrize("steps, every", [(100, 10), (95, 10), (0, 1), (0, 5), (1, 1)])
@pytest.mark.parametrize("held", [dict(cv=3), dict(validation=0.3)])
def test_models_that_improve_at_every_check_are_not_flagged_as_stopped_early(steps, every, held):
    # the last check was repeated at the same coefficients and counted as no improvement
    X, y = _data(n=300, D=3)
    res = fastgd.fit(X, y, [0.01, 0.05], steps=steps, early_stopping=True, patience=1, record_every=every, **held)
    if "cv" in held:
        assert not res.cv_stopped_early.any() and (res.cv_n_steps == steps).all()
    assert not res.stopped_early.any() and (res.n_steps == steps).all()
    plain = fastgd.fit(X, y, [0.01, 0.05], steps=steps, record_every=every, **held)
    np.testing.assert_array_equal(res.coef, plain.coef)  # nothing stopped: the same models


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(early_stopping=True), "needs held-out rows"),
        (dict(early_stopping=True, validation=(np.zeros((3, 4)), [0, 1, 0])), "needs held-out rows"),
        (dict(early_stopping=True, cv=3, record_every=0), "record_every >= 1"),
        (dict(early_stopping=True, cv=3, patience=0), "patience"),
    ],
)
def test_bad_early_stopping_options(kw, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        fastgd.fit(X, y, 0.1, steps=5, **kw)

"""fastgd.sklearn: scikit-learn's own estimator checks, and the estimators inside scikit-learn's tools."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import estimator_checks_generator

import fastgd
from fastgd.sklearn import DEFAULT_LRS, GDClassifier, GDClassifierCV, GDRegressor, GDRegressorCV

# every check scikit-learn has for these estimators runs, but these (with the reason)
NOT_RUN = {
    "check_array_api_input": "fastgd's kernels take NumPy arrays; array-API inputs (CuPy, torch) are not supported",
}
ESTIMATORS = [GDClassifier(), GDRegressor(), GDClassifierCV(), GDRegressorCV()]
CHECKS = [
    pytest.param(est, check, id=f"{type(est).__name__}-{check.func.__name__}")
    for est0 in ESTIMATORS
    for est, check in estimator_checks_generator(est0, legacy=True, mark=None)
    if check.func.__name__ not in NOT_RUN
]


# the checks fit on small random data for the default steps: scikit-learn's own suite silences
# its iterative solvers' ConvergenceWarning the same way
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("estimator, check", CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_every_estimator_gets_the_checks():
    names = {p.values[1].func.__name__ for p in CHECKS}
    assert {"check_fit_idempotent", "check_classifiers_train", "check_regressors_train"} <= names
    assert len(CHECKS) > 4 * 40


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_classifier_equals_logistic_regression_at_convergence():
    X, y = _cancer()
    n = X.shape[0]
    model = GDClassifier(lr=1.0, l2=1 / n, method="newton", steps=100, tol=1e-12).fit(X, y)
    sk = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    assert model.coef_.shape == sk.coef_.shape == (1, 30) and model.intercept_.shape == sk.intercept_.shape == (1,)
    np.testing.assert_allclose(model.coef_, sk.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, sk.intercept_, rtol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), atol=1e-8)
    np.testing.assert_allclose(model.decision_function(X), sk.decision_function(X), rtol=1e-6, atol=1e-6)
    assert model.converged_ and not model.diverged_ and model.n_iter_ < 100


def test_regressor_equals_ridge():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n = X.shape[0]
    model = GDRegressor(lr=1.0, l2=2 * 3.0 / n, method="newton", steps=5).fit(X, y)
    sk = Ridge(alpha=3.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, sk.coef_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), sk.predict(X), rtol=1e-8)
    assert model.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-10)


def test_cv_estimator_is_the_one_pass_search():
    X, y = _cancer()
    folds = list(KFold(4, shuffle=True, random_state=0).split(X))
    model = GDClassifierCV(lrs=[0.01, 0.1, 1.0], l2s=[0.0, 1e-3], cv=folds, steps=100, tol=None).fit(X, y)
    res = fastgd.fit(X, y, [0.01, 0.1, 1.0], l2=[0.0, 1e-3], cv=folds, steps=100)
    assert model.best_index_ == res.best and model.best_params_ == res.best_params
    np.testing.assert_array_equal(model.coef_, res.coef[res.best][None, :])
    cvr = model.cv_results_
    np.testing.assert_array_equal(cvr["mean_test_score"], res.mean_cv_score)
    np.testing.assert_array_equal(cvr["split2_test_score"], res.cv_score[:, 2])
    assert cvr["params"][res.best] == model.best_params_ and cvr["rank_test_score"][res.best] == 1
    assert sorted(cvr["rank_test_score"]) == sorted(pd.Series(-res.mean_cv_score).rank(method="first").astype(int))
    assert model.best_score_ == res.mean_cv_score[res.best] and model.n_splits_ == 4
    default = GDRegressorCV().get_params()["lrs"]
    assert default is None and DEFAULT_LRS.size == 11


def test_multiclass_classifier_equals_multinomial_logistic_regression():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n = X.shape[0]
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    model = GDClassifier(lr=1.0, l2=0.05, method="newton", steps=50, tol=1e-12).fit(X, names)
    sk = LogisticRegression(C=1 / (0.05 * n), solver="newton-cholesky", tol=1e-13, max_iter=100).fit(X, names)
    assert model.classes_.tolist() == sorted(set(names)) and model.coef_.shape == (3, 13)
    np.testing.assert_allclose(model.coef_, sk.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.intercept_ - model.intercept_.mean(), sk.intercept_ - sk.intercept_.mean(),
                               atol=1e-7)  # fmt: skip
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), atol=1e-8)
    assert np.array_equal(model.predict(X), sk.predict(X)) and model.decision_function(X).shape == (n, 3)
    assert model.converged_ and model.n_iter_ < 50
    search = GDClassifierCV(lrs=[0.1, 1.0], l2s=[1e-3, 1e-2], cv=3, steps=200, tol=None).fit(X, names)
    assert search.coef_.shape == (3, 13) and search.best_score_ > 0.9
    assert (
        cross_val_score(make_pipeline(StandardScaler(), GDClassifier(lr=0.5, steps=200, tol=None)), X, y, cv=3).min()
        > 0.9
    )


def test_in_a_pipeline_in_cross_val_score_and_in_grid_search():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), GDClassifier(lr=0.5, steps=300, tol=None))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.93
    grid = GridSearchCV(pipe, {"gdclassifier__lr": [0.01, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_ == {"gdclassifier__lr": 1.0}
    assert grid.score(X, y) > 0.95


def test_labels_feature_names_and_errors():
    X, y = _cancer()
    frame = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    labels = np.where(y == 1, "benign", "malignant")
    model = GDClassifier(lr=0.5, steps=100, tol=None).fit(frame, labels)
    assert model.classes_.tolist() == ["benign", "malignant"] and model.n_features_in_ == 3
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]
    assert set(model.predict(frame)) <= {"benign", "malignant"}
    with pytest.raises(ValueError, match="needs at least two classes and y has 1 class"):
        GDClassifier().fit(X, np.zeros(y.size))
    with pytest.raises(ValueError, match="X has 2 features, but GDClassifier is expecting 3"):
        GDClassifier(lr=0.5, steps=10, tol=None).fit(X[:, :3], y).predict(X[:, :2])


def test_a_diverged_or_unconverged_model_warns_as_scikit_learn_does():
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = _cancer()
    with pytest.warns(ConvergenceWarning, match="diverged after"):  # it used to end silently with a 0.135 score
        model = GDClassifier(lr=10, loss="mse", steps=200).fit(X * 1e4, y)
    assert model.diverged_
    with pytest.warns(ConvergenceWarning, match="did not converge: .* tol=1e-06 for all steps=5"):
        GDClassifier(lr=0.1, steps=5).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="GDRegressorCV did not converge"):
        GDRegressorCV(lrs=[0.01], steps=3, cv=2).fit(X, X[:, 0] + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GDClassifier(lr=0.1, steps=5, tol=None).fit(X, y)  # fixed steps: nothing to warn about
        model = GDClassifier(lr=1.0, method="newton", steps=50).fit(X, y)  # converged
    assert model.converged_


def test_a_fitted_estimator_keeps_no_reference_to_x():
    # it kept the whole FitResult, whose deferred mini-batch cost pass held the engine and X
    import gc
    import weakref

    X, y = _cancer()
    X = np.ascontiguousarray(X)  # float64 and C-ordered: validated and fitted without a copy
    alive = weakref.ref(X)
    model = GDClassifier(lr=0.1, steps=20, batch_size=32, tol=None).fit(X, y)
    proba = model.predict_proba(X[:5])
    del X
    gc.collect()
    assert alive() is None
    assert proba.shape == (5, 2) and model.coef_.shape == (1, 30)

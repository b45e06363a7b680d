"""scikit-learn estimators on fastgd's fit engine (the ``sklearn`` extra: ``pip install fastgd[sklearn]``).

* :class:`GDClassifier`, :class:`GDRegressor`: one model, the options of :func:`fastgd.fit`
  as constructor arguments; they work in a ``Pipeline``, ``cross_val_score`` and
  ``GridSearchCV``.
* :class:`GDClassifierCV`, :class:`GDRegressorCV`: a grid of learning rates x L2
  strengths searched by cross-validation in one pass over the data (every grid point
  and fold is a model of the same :func:`fastgd.fit` call), like ``LogisticRegressionCV``:
  ``best_params_``, ``cv_results_`` (read like ``GridSearchCV``'s) and the best grid
  point refitted on all rows.

Classifiers take two labels (logistic regression) or more (the multinomial model).  A
fitted model that diverged, or did not reach ``tol`` within ``steps``, gives scikit-learn's
``ConvergenceWarning``; ``tol=None`` runs the steps without that check.

Examples
--------
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from fastgd.sklearn import GDClassifierCV
>>> X, y = load_breast_cancer(return_X_y=True)
>>> model = make_pipeline(StandardScaler(), GDClassifierCV(lrs=[0.1, 1.0], l2s=[0.0, 1e-3], steps=200, tol=None))
>>> float(model.fit(X, y).score(X, y)) > 0.95
True
"""

import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError:  # pragma: no cover - exercised without the extra only
    raise ImportError("fastgd.sklearn needs scikit-learn >= 1.6: pip install 'fastgd[sklearn]'") from None

from .fit import fit as _fit
from .fit import softmax
from .special import sigmoid

_DTYPES = (np.float64, np.float32)
DEFAULT_LRS = np.geomspace(1e-5, 1.0, 11)  # the CV estimators' grid: wide enough for unscaled features


class _GD(BaseEstimator):
    """What the four estimators share: validation, the call to ``fastgd.fit``, prediction."""

    _classifier = False

    def _options(self):
        return dict(
            loss=self.loss,
            activation=self.activation,
            steps=self.steps,
            tol=self.tol,
            fit_intercept=self.fit_intercept,
            method=self.method,
            schedule=self.schedule,
            batch_size=self.batch_size,
            seed=self.seed,
            record_every=0,
        )

    def _data(self, X, y):
        X, y = validate_data(self, X, y, dtype=_DTYPES, y_numeric=not self._classifier)
        if not X.flags.writeable:  # numba compiles its kernels per array type: no read-only variants
            X = X.copy()
        if self._classifier:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if self.classes_.size < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least two classes and y has {self.classes_.size} class."
                )
        return X, y

    def _store(self, res, m):
        coef, intercept = res.coef[m], res.intercept[m]
        if self._classifier and not res.multiclass:  # scikit-learn's binary shapes: (1, n_features) and (1,)
            coef, intercept = coef[None, :], np.reshape(intercept, 1)
        self.coef_ = coef.copy()  # (n_classes, n_features) for three classes or more
        self.intercept_ = intercept.copy() if np.ndim(intercept) else float(intercept)
        self.n_iter_ = int(res.n_steps[m])
        self.converged_ = bool(res.converged[m])
        self.diverged_ = bool(res.diverged[m])
        # what prediction needs of the fit, and nothing that refers to X (a FitResult may)
        self._loss_fn, self._activation, self._multiclass = res.loss_fn, res.activation, res.multiclass
        self._warn_unconverged()

    def _warn_unconverged(self):
        """A ConvergenceWarning, as scikit-learn's solvers give, for a kept model that diverged or did not converge."""
        name = type(self).__name__
        if self.diverged_:
            warnings.warn(
                f"{name} diverged after {self.n_iter_} steps: its coefficients or cost left the finite range, and it "
                "kept the last finite coefficients, which predict poorly. Lower the learning rate, or standardize X "
                "(sklearn.preprocessing.StandardScaler).",
                ConvergenceWarning,
                stacklevel=3,
            )
        elif self.tol is not None and not self.converged_:
            warnings.warn(
                f"{name} did not converge: the gradient's norm stayed above tol={self.tol:g} for all "
                f"steps={self.steps}. Raise steps or the learning rate, standardize X, or pass tol=None to run a "
                "fixed number of steps without this check.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _output(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_DTYPES, reset=False)
        if self._multiclass:  # the logits, (n, n_classes)
            return X @ self.coef_.T.astype(X.dtype) + self.intercept_.astype(X.dtype)
        coef, intercept = self.coef_.reshape(-1), np.reshape(self.intercept_, -1)[0]  # a classifier's (1, D), (1,)
        return self._activation.value(X @ coef.astype(X.dtype) + X.dtype.type(intercept))


class _Classify(ClassifierMixin):
    _classifier = True

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in the order of ``classes_`` (softmax for 3 or more)."""
        check_is_fitted(self)
        out = self._output(X)
        if self._multiclass:
            return softmax(out)
        if self._loss_fn.spec.link == "sigmoid":
            p1 = sigmoid(out)
        else:
            p1 = np.clip(out, 0, 1)
        return np.column_stack([1 - p1, p1])

    def decision_function(self, X):
        """The log-odds of ``classes_[1]``: the logit ``X @ coef_ + intercept_`` for the logistic loss.

        For three classes or more, the logits ``X @ coef_.T + intercept_``, (n, n_classes).
        """
        check_is_fitted(self)
        if self._loss_fn.spec.link == "sigmoid" or self._multiclass:
            return self._output(X)
        p = np.clip(self.predict_proba(X)[:, 1], np.finfo(np.float64).tiny, 1 - np.finfo(np.float64).epsneg)
        return np.log(p) - np.log1p(-p)

    def predict(self, X):
        """The most probable label."""
        check_is_fitted(self)
        if self._multiclass:
            return self.classes_[np.argmax(self._output(X), axis=1)]
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


class _Regress(RegressorMixin):
    def predict(self, X):
        """The model's output ``act(X @ coef_ + intercept_)``."""
        return self._output(X)


class _Single(_GD):
    def __init__(
        self,
        lr=0.1,
        l2=0.0,
        *,
        loss="logistic",
        activation=None,
        steps=1000,
        tol=1e-6,
        fit_intercept=True,
        method="gd",
        schedule=None,
        batch_size=None,
        seed=None,
    ):
        self.lr, self.l2, self.loss, self.activation, self.steps = lr, l2, loss, activation, steps
        self.tol, self.fit_intercept, self.method, self.schedule = tol, fit_intercept, method, schedule
        self.batch_size, self.seed = batch_size, seed

    def fit(self, X, y):
        """Fit one model with :func:`fastgd.fit`; returns self."""
        X, y = self._data(X, y)
        self._store(_fit(X, y, float(self.lr), l2=float(self.l2), **self._options()), 0)
        return self


class GDClassifier(_Classify, _Single):
    """Classifier fitted by gradient descent (``loss="logistic"``: logistic regression, multinomial for 3+ classes).

    Parameters are those of :func:`fastgd.fit` for one model (``lr``, ``l2`` scalars).
    ``l2 = 1 / (C n)`` is ``LogisticRegression``'s ``C``.

    Attributes
    ----------
    coef_ : ndarray (1, n_features), or (n_classes, n_features) for three classes or more
        scikit-learn's shapes (``LogisticRegression``, ``SGDClassifier``).
    intercept_ : ndarray (1,), or (n_classes,)
    classes_ : ndarray (n_classes,)
    n_iter_ : int
    converged_, diverged_ : bool
    n_features_in_, feature_names_in_
        As scikit-learn sets them.

    See Also
    --------
    sklearn.linear_model.LogisticRegression, sklearn.linear_model.SGDClassifier
    """


class GDRegressor(_Regress, _Single):
    """Regressor fitted by gradient descent (``loss="mse"``: linear or ridge regression).

    ``l2 = 2 alpha / n`` is ``Ridge``'s ``alpha``.  Attributes as :class:`GDClassifier`'s,
    without ``classes_``, and with ``Ridge``'s shapes: ``coef_`` (n_features,) and a float
    ``intercept_``.

    See Also
    --------
    sklearn.linear_model.Ridge, sklearn.linear_model.SGDRegressor
    """

    def __init__(
        self,
        lr=0.1,
        l2=0.0,
        *,
        loss="mse",
        activation=None,
        steps=1000,
        tol=1e-6,
        fit_intercept=True,
        method="gd",
        schedule=None,
        batch_size=None,
        seed=None,
    ):
        super().__init__(lr, l2, loss=loss, activation=activation, steps=steps, tol=tol, fit_intercept=fit_intercept,
                         method=method, schedule=schedule, batch_size=batch_size, seed=seed)  # fmt: skip


class _Searched(_GD):
    def __init__(
        self,
        lrs=None,
        l2s=(0.0,),
        *,
        cv=5,
        scoring=None,
        loss="logistic",
        activation=None,
        steps=1000,
        tol=1e-6,
        fit_intercept=True,
        method="gd",
        schedule=None,
        batch_size=None,
        seed=None,
    ):
        self.lrs, self.l2s, self.cv, self.scoring = lrs, l2s, cv, scoring
        self.loss, self.activation, self.steps = loss, activation, steps
        self.tol, self.fit_intercept, self.method, self.schedule = tol, fit_intercept, method, schedule
        self.batch_size, self.seed = batch_size, seed

    def fit(self, X, y):
        """Fit every (lr, l2, fold) model and the refits in one :func:`fastgd.fit` call; keep the best."""
        X, y = self._data(X, y)
        lrs = DEFAULT_LRS if self.lrs is None else np.atleast_1d(np.asarray(self.lrs, float))
        l2s = np.atleast_1d(np.asarray(self.l2s, float))
        res = _fit(X, y, lrs, l2=l2s, cv=self.cv, scoring=self.scoring, **self._options())
        best = res.best
        if best is None:
            raise ValueError("every model diverged in every fold; lower the learning rates (lrs).")
        scores = res.cv_score
        mean = res.mean_cv_score
        ranked = np.where(np.isnan(mean), -np.inf, mean)
        self.cv_results_ = {
            "params": [{"lr": float(a), "l2": float(b)} for a, b in zip(res.lr, res.l2, strict=True)],
            "param_lr": res.lr.astype(float),
            "param_l2": res.l2.astype(float),
            **{f"split{f}_test_score": scores[:, f] for f in range(scores.shape[1])},
            "mean_test_score": mean,
            "std_test_score": scores.std(axis=1),
            "rank_test_score": 1 + np.argsort(np.argsort(-ranked, kind="stable"), kind="stable"),
            "n_iter": res.cv_n_steps,
        }
        self.best_index_ = int(best)
        self.best_params_ = {"lr": float(res.lr[best]), "l2": float(res.l2[best])}
        self.best_score_ = float(mean[best])
        self.scoring_ = res.scoring
        self.n_splits_ = scores.shape[1]
        self._store(res, best)
        return self


class GDClassifierCV(_Classify, _Searched):
    """Classifier (multinomial for 3+ classes) whose lr x l2 grid is searched by cross-validation in one pass.

    Parameters
    ----------
    lrs, l2s : array_like
        The grid (every pair is a grid point); ``lrs=None`` is ``DEFAULT_LRS``, eleven
        learning rates from 1e-5 to 1 (log-spaced).
    cv : int, splitter or list of (train, test)
        As :func:`fastgd.fit`'s ``cv`` (an int: stratified K-fold, shuffled with ``seed``).
    scoring : str, optional
        As :func:`fastgd.fit`'s (default accuracy).
    loss, activation, steps, tol, fit_intercept, method, schedule, batch_size, seed
        As :class:`GDClassifier`'s.

    Attributes
    ----------
    best_params_ : dict
    best_score_ : float
    best_index_ : int
    cv_results_ : dict
        ``params``, ``param_lr``, ``param_l2``, ``split{k}_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score`` (as ``GridSearchCV``) and ``n_iter``.
    coef_, intercept_, classes_, n_iter_
        Of the best grid point, refitted on all rows in the same pass.

    See Also
    --------
    sklearn.linear_model.LogisticRegressionCV, sklearn.model_selection.GridSearchCV
    """


class GDRegressorCV(_Regress, _Searched):
    """Regressor whose lr x l2 grid is searched by cross-validation, every fold in one pass (default r2).

    Parameters and attributes as :class:`GDClassifierCV`'s, without ``classes_``.

    See Also
    --------
    sklearn.linear_model.RidgeCV, sklearn.model_selection.GridSearchCV
    """

    def __init__(
        self,
        lrs=None,
        l2s=(0.0,),
        *,
        cv=5,
        scoring=None,
        loss="mse",
        activation=None,
        steps=1000,
        tol=1e-6,
        fit_intercept=True,
        method="gd",
        schedule=None,
        batch_size=None,
        seed=None,
    ):
        super().__init__(lrs, l2s, cv=cv, scoring=scoring, loss=loss, activation=activation, steps=steps, tol=tol,
                         fit_intercept=fit_intercept, method=method, schedule=schedule, batch_size=batch_size,
                         seed=seed)  # fmt: skip

"""Fit many linear / logistic / single-neuron models at once: a learning-rate grid search.

The seed's second article: log loss, the cost as the mean of the losses, gradient
descent on ``w`` and ``b``, learning rates too small or too large, and the ideal
step from the inverse Hessian -- for a real dataset and a grid of learning rates
(and L2 strengths), all fitted in the same pass over the data.
"""

import functools
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import _checkpoint, _dask, _engine, _monitor, _progress, _results
from . import _validation as v
from . import model_selection as ms
from .activations import Activation, get_activation
from .losses import Loss, get_loss
from .optimizers import get_optimizer, hyperparameter_grid, model_grid
from .schedules import Schedule, get_schedule
from .special import sigmoid


class _Deferred:
    """A value computed on first use; what computing it needed is released then (and before pickling)."""

    def __init__(self, fn):
        self._fn, self._value = fn, None

    @classmethod
    def of(cls, value):
        out = cls(None)
        out._value = value
        return out

    def __call__(self):
        if self._fn is not None:
            self._value, self._fn = self._fn(), None
        return self._value

    def __getstate__(self):
        return {"_fn": None, "_value": self()}

    def __repr__(self):
        return "<computed on first access>" if self._fn is not None else repr(self._value)


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`: one row per model, every combination of the grid axes.

    Models are ordered lr-major: the learning rate varies slowest, then l2, then each
    hyperparameter array in the optimizer's order (``m = k * R + r`` for lr and l2 alone).

    Attributes
    ----------
    coef : ndarray (P, D), or (P, C, D) for C >= 3 classes
    intercept : ndarray (P,), or (P, C)
        For C >= 3 classes each model is multinomial: ``softmax(X @ coef[m].T + intercept[m])``.
    lr, l2 : ndarray (P,)
        Each model's learning rate and L2 strength; ``lr_grid`` (K,) and ``l2_grid`` (R,)
        are the grid they come from.
    cost_history : ndarray (P, steps // record_every + 1) or None
        The cost (mean loss + L2 term) at steps 0, record_every, ...; with mini-batches,
        the batch's cost.  After a model stopped, its entries are its final cost.
    record_every : int
        Steps between two entries of ``cost_history``.
    final_cost : ndarray (P,)
        The cost on the whole data at the final coefficients.  For mini-batch fits it
        takes a pass over the whole data, made on first access (``best``, ``to_pandas()``
        and the CLI's table ask for it), so a fit whose costs are never read does not pay
        for it; on Dask arrays that pass is made before ``fit`` returns.
    n_steps : ndarray (P,) of int64
    converged, diverged : ndarray (P,) of bool
    loss_fn, activation : Loss, Activation
        The model's loss and activation, as validated.
    classes : ndarray or None
        For classifiers, the labels in sorted order: two are mapped to 0 and 1, three or
        more are the multinomial model's classes (``coef[:, k]`` is ``classes[k]``'s).
    feature_names : list of str or None
        Column names when X was a DataFrame; prediction on a DataFrame reorders its columns by them.
    method : str
        The optimizer.
    params : dict of str to ndarray (P,)
        Every model's grid coordinates: ``lr``, ``l2`` and each hyperparameter of the
        optimizer (``params["b1"]``...), whether it was a grid axis or a scalar.
    schedule : Schedule or None
        The learning-rate schedule (model m's rate at step t is ``lr[m] * schedule(t)``).
    scoring : str or None
        The held-out score's name (see :mod:`fastgd.model_selection`), when there is one.
    val_score : ndarray (P,) or None
        With ``validation=``: each model's score on the held-out rows (NaN where it diverged).
    cv_score : ndarray (P, F) or None
        With ``cv=``: each grid point's score on each fold's held-out rows, fitted on that
        fold's training rows (NaN where that fold's model diverged); ``mean_cv_score`` (P,)
        is its mean over the folds.
    cv_coef, cv_intercept : ndarray (P, F, D) and (P, F) (with a class axis after F for C >= 3), or None
        The fold models' coefficients; ``cv_n_steps`` and ``cv_diverged`` (P, F) their
        steps and statuses.
    stopped_early, cv_stopped_early : ndarray (P,) and (P, F) of bool, or None
        With ``early_stopping=True``: the models stopped by it.
    """

    coef: np.ndarray
    intercept: np.ndarray
    lr: np.ndarray
    l2: np.ndarray
    lr_grid: np.ndarray
    l2_grid: np.ndarray
    cost_history: np.ndarray | None
    _final_cost: _Deferred = field(repr=False)  # see the final_cost property
    n_steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss_fn: Loss
    activation: Activation
    classes: np.ndarray | None = None
    feature_names: list | None = None
    record_every: int = 1
    method: str = "gd"
    params: dict = field(default_factory=dict)
    schedule: Schedule | None = None
    scoring: str | None = None
    val_score: np.ndarray | None = None
    cv_score: np.ndarray | None = None
    cv_coef: np.ndarray | None = None
    cv_intercept: np.ndarray | None = None
    cv_n_steps: np.ndarray | None = None
    cv_diverged: np.ndarray | None = None
    stopped_early: np.ndarray | None = None
    cv_stopped_early: np.ndarray | None = None

    @property
    def mean_cv_score(self):
        """Each grid point's mean held-out score over the folds (None without ``cv=``)."""
        return None if self.cv_score is None else self.cv_score.mean(axis=1)

    @property
    def held_out_score(self):
        """The score that ranks models: ``val_score``, ``mean_cv_score`` or None."""
        return self.val_score if self.val_score is not None else self.mean_cv_score

    @property
    def final_cost(self):
        """The cost of every model on the whole data at its final coefficients (see the class docstring)."""
        return self._final_cost()

    @property
    def comparable(self):
        """True where ``best`` may compare every model: a held-out score ranks them, or they share one ``l2``."""
        return self.held_out_score is not None or np.unique(self.l2).size <= 1

    @property
    def best(self):
        """Index of the best model among those that did not diverge (None if all did).

        With a held-out score (``validation=`` or ``cv=``) the highest score; without
        one, the lowest final cost, which compares models of one ``l2`` only: models of
        different ``l2`` minimise different costs, and ``best`` raises a ValueError
        saying so.  Ties go to the model with fewer steps, then to the lower index: the
        rule of ``DescentResult.best()`` and of the ``fastgd fit`` table.
        """
        score = self.held_out_score
        if score is not None:
            with np.errstate(invalid="ignore"):
                return _results.best_index(-score, self.diverged, self.n_steps)
        if not self.comparable:
            raise ValueError(
                "these models have different l2 strengths, so their final costs measure different objectives "
                "and the lowest is not the best model; fit with validation= or cv= to rank them by a held-out "
                "score, or compare models of one l2 (res.l2 == value)."
            )
        return _results.best_index(self.final_cost, self.diverged, self.n_steps)

    @property
    def best_lr(self):
        """Learning rate of the best model."""
        best = self.best
        return None if best is None else float(self.lr[best])

    @property
    def best_params(self):
        """The best model's grid coordinates, ``{"lr": ..., "l2": ..., "b1": ...}`` (None if all diverged)."""
        best = self.best
        return None if best is None else {name: float(values[best]) for name, values in self.params.items()}

    @property
    def multiclass(self):
        """True for the multinomial model (three or more classes)."""
        return self.coef.ndim == 3

    def decision_function(self, X, model=None):
        """``act(X @ w + b)`` for one model (default: the best); the logits (n, C) of a multinomial model."""
        if model is None:
            m = self.best
            if m is None:
                raise ValueError("every model diverged; pass model= explicitly to use one anyway.")
        else:
            m = v.integer(model, "model", minimum=0, maximum=self.coef.shape[0] - 1)
        X, _ = _as_matrix(_by_name(X, self.feature_names), self.coef.dtype)
        D = self.coef.shape[-1]
        if X.shape[1] != D:
            raise ValueError(f"X has {X.shape[1]} features; the models were fitted on {D}.")
        if self.multiclass:
            return X @ self.coef[m].T + self.intercept[m]
        return self.activation.value(X @ self.coef[m] + self.intercept[m])

    def predict_proba(self, X, model=None):
        """Class probabilities (n, C), columns in the order of ``classes`` (logistic: sigmoid of the output).

        A multinomial model's are the softmax of its logits, computed shifted by each row's
        largest logit (no overflow).
        """
        if self.classes is None:
            raise ValueError(f"predict_proba needs a classifier; this fit used loss {self.loss_fn.name!r}.")
        if self.multiclass:
            return softmax(self.decision_function(X, model))
        p1 = _probability(self.loss_fn, self.decision_function(X, model))
        return np.column_stack([1 - p1, p1])

    def predict(self, X, model=None):
        """Predictions: the model's output, or for classifiers the most probable label."""
        if self.classes is None:
            return self.decision_function(X, model)
        if self.multiclass:
            return self.classes[np.argmax(self.decision_function(X, model), axis=1)]
        return self.classes[(self.predict_proba(X, model)[:, 1] >= 0.5).astype(int)]

    def to_pandas(self):
        """One row per model: a column per grid axis (lr, l2, hyperparameters), final_cost, ..., coefficients."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        names = self.feature_names or [f"w{j}" for j in range(self.coef.shape[-1])]
        axes = self.params or {"lr": self.lr, "l2": self.l2}
        scores = {}
        if self.val_score is not None:
            scores["val_score"] = self.val_score
        if self.cv_score is not None:
            scores["mean_cv_score"] = self.mean_cv_score
            scores.update({f"cv_score_{f}": self.cv_score[:, f] for f in range(self.cv_score.shape[1])})
        df = pd.DataFrame(
            {
                **axes,
                **scores,
                "final_cost": self.final_cost,
                "n_steps": self.n_steps,
                "converged": self.converged,
                "diverged": self.diverged,
            }
        )
        if not self.multiclass:
            df["intercept"] = self.intercept
            return pd.concat([df, pd.DataFrame(self.coef, columns=names)], axis=1)
        # a multinomial model: an intercept and coefficients per class, named "class:feature"
        per_class = [f"{c}:{name}" for c in self.classes for name in ["intercept", *names]]
        W = np.concatenate([self.intercept[:, :, None], self.coef], axis=2).reshape(len(df), -1)
        return pd.concat([df, pd.DataFrame(W, columns=per_class)], axis=1)


def _by_name(X, names):
    """A DataFrame's columns in the order ``names`` (those fitted on), found by name; refused where names lack.

    Anything without columns, or a fit without names, is taken as it is, in the fitted order.
    """
    if names is None or not hasattr(X, "columns"):
        return X
    given = [str(c) for c in X.columns]
    if given == names:
        return X
    more = " ..." if len(names) > 5 else ""
    missing = [c for c in names if c not in given]
    if missing or len(set(given)) != len(given):
        extra = [c for c in given if c not in names]
        raise ValueError(
            f"X's columns are not those the models were fitted on: missing {missing[:5]!r}, unexpected "
            f"{extra[:5]!r}. Pass a DataFrame with the columns {names[:5]!r}{more} (any order), or a plain "
            "array in that order."
        )
    if len(given) != len(names):
        raise ValueError(f"X has {len(given)} columns; the models were fitted on {len(names)}: {names[:5]!r}{more}.")
    by_name = dict(zip(given, X.columns, strict=True))
    return X[[by_name[c] for c in names]]  # reordered by name, as they were fitted


def softmax(z):
    """Rows of logits (n, C) to probabilities: exp of ``model_selection.log_softmax`` (no logit overflows)."""
    return np.exp(ms.log_softmax(z, axis=1))


def _probability(loss, out):
    """P(class 1) from the model's output: the sigmoid of a logit (``logistic``), else the output clipped to [0, 1]."""
    return sigmoid(out) if loss.spec.link == "sigmoid" else np.clip(out, 0, 1)


def _as_matrix(X, dtype=None):
    names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    arr = v.float_array(X, "X")
    if arr.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features); got shape {arr.shape}. Use X.reshape(-1, 1) for a single feature."
        )
    return np.ascontiguousarray(arr, dtype=dtype or arr.dtype), names


def _check_finite_matrix(X, name):
    # fast path without an n x D temporary: a finite sum means every entry is finite
    # (an overflowing sum of finite entries only sends us to the exact scan below)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum(dtype=np.float64)):
            return
    bad = ~np.isfinite(X)
    count = int(np.count_nonzero(bad))
    if count:
        where = np.unravel_index(int(np.argmax(bad)), X.shape)
        raise ValueError(
            f"{name} has {count} NaN or infinite entries, the first at {tuple(int(i) for i in where)}; "
            f"drop or impute them first."
        )


def _label_kind(x):
    if x is None or (isinstance(x, numbers.Real) and x != x):
        return "missing"
    if isinstance(x, (numbers.Number, np.bool_)):
        return "number"
    return "string" if isinstance(x, (str, bytes)) else type(x).__name__


def _labels(y, arr):
    """Class labels of one kind: refuse missing ones (NaN, None) and numbers mixed with strings, naming y."""
    if arr.dtype.kind == "f":
        missing = np.isnan(arr)
    elif arr.dtype == object or (arr.dtype.kind in "US" and not isinstance(y, np.ndarray)):
        # a list such as [1, "a"] arrives as strings: look at the labels as given
        given = np.asarray(list(y) if arr.dtype != object else arr, dtype=object)
        kinds = np.array([_label_kind(x) for x in given], dtype=object)
        missing = kinds == "missing"
        found = sorted(set(kinds[~missing].tolist()))
        if len(found) > 1:
            examples = ", ".join(repr(given[np.argmax(kinds == k)]) for k in found)
            raise ValueError(
                f"y mixes labels of different kinds ({', '.join(found)}: e.g. {examples}); "
                f"labels must be all numbers or all strings. Recode them, e.g. y.astype(str)."
            )
    else:
        return arr
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing labels (NaN or None), the first at index "
            f"{int(np.argmax(missing))}; a missing label is not a class. Drop those rows or fill them."
        )
    return arr


def _validation_set(validation, loss, dtype, D, classes, names=None):
    """``validation=(X_val, y_val)``, checked against the training data: (X_val, y_val coded as y).

    A DataFrame X_val's columns are taken by the training data's column ``names``.
    """
    if len(validation) != 2:
        raise ValueError("validation must be a fraction in (0, 1) or a pair (X_val, y_val).")
    Xv, _ = _as_matrix(_by_name(validation[0], names), dtype)
    if Xv.shape[1] != D:
        raise ValueError(f"validation's X has {Xv.shape[1]} features; X has {D}.")
    if Xv.shape[0] == 0:
        raise ValueError("validation's X has no rows.")
    _check_finite_matrix(Xv, "validation's X")
    if classes is None:
        return Xv, _as_target(validation[1], loss, dtype, Xv.shape[0])[0]
    yv = np.asarray(validation[1])
    if yv.ndim != 1 or yv.size != Xv.shape[0]:
        raise ValueError(f"validation's y must be 1-D with {Xv.shape[0]} labels; got shape {yv.shape}.")
    yv = _labels(validation[1], yv)
    unseen = np.setdiff1d(np.unique(yv), classes)
    if unseen.size:
        raise ValueError(
            f"validation's y has labels the training y lacks: {unseen[:10].tolist()!r}; "
            f"a model cannot predict a class it never saw."
        )
    return Xv, _codes(yv, classes, dtype)


def _as_target(y, loss, dtype, n):
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {arr.shape}.")
    if arr.size != n:
        raise ValueError(f"X has {n} rows and y has {arr.size}; they must match.")
    if not loss.is_classifier:
        if arr.dtype == object:  # numbers in an object array (a pandas object column): as floats, or refused
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"y must be numbers for loss {loss.name!r}; it holds {arr[:3].tolist()!r}...") from None
        out = v.float_array(arr, "y").astype(dtype)
        _check_finite_matrix(out.reshape(-1, 1), "y")
        return out, None
    arr = _labels(y, arr)
    _refuse_continuous(arr, loss)
    classes = _classes(arr)
    if classes.size < 2:
        raise ValueError(
            f"y must hold at least two classes for loss {loss.name!r}; found {classes.size}"
            f"{': ' + repr(classes.tolist()) if classes.size else ''}. A classifier needs two labels or more."
        )
    if classes.size > 2 and not loss.spec.multiclass:
        raise ValueError(
            f"y must hold exactly two classes for loss {loss.name!r}; found {classes.size}"
            f"{': ' + repr(classes[:10].tolist()) if classes.size < 20 else ''}. "
            f"For more classes use loss='logistic' or 'cross_entropy' (the multinomial model)."
        )
    return _codes(arr, classes, dtype), classes


def _refuse_continuous(labels, loss):
    """Refuse float labels that are not all whole numbers (scikit-learn's "continuous" target type).

    Each distinct value would otherwise become a class of a huge softmax, fitted without a word.
    """
    if labels.dtype.kind != "f" or not labels.size:
        return
    with np.errstate(invalid="ignore"):
        frac = ~np.isfinite(labels) | (labels != np.floor(labels))  # an infinite label is no class either
    if frac.any():
        first = int(np.argmax(frac))
        raise ValueError(
            f"y looks continuous (y[{first}] = {float(labels[first])!r} is not a whole number), but loss "
            f"{loss.name!r} reads y as class labels: every distinct value would be a class. For regression pass a "
            f"regression loss such as loss='mse' (or 'huber', 'mae'); for classification pass the class labels."
        )


def _classes(labels):
    """np.unique(labels); two numeric labels (the common case) found in a few passes, without np.unique's sort.

    The sort was a fifth of a short fit's fixed cost (0.5 ms of 2.7 for 10^5 rows).
    """
    if labels.dtype.kind in "biuf" and labels.size:
        lo, hi = labels.min(), labels.max()
        if ((labels == lo) | (labels == hi)).all():  # no NaN here (_labels): every label is lo or hi
            return np.unique(np.array([lo, hi], labels.dtype))
    return np.unique(labels)


def _codes(labels, classes, dtype):
    """Labels as the engine reads them: 0/1 for two classes, else each label's index in ``classes``."""
    if classes.size == 2:
        return (labels == classes[1]).astype(dtype)
    return np.searchsorted(classes, labels).astype(dtype)


NEWTON_MAX = 1024  # coefficients of a multinomial model that Newton's method takes (its Hessian: 8 MiB)


def _outputs(classes, act, opt, D):
    """K, the linear predictors a model has: the classes of a multinomial model, else 1; refuse what it lacks."""
    if classes is None or classes.size == 2:
        return 1
    if act.name != "identity":
        raise ValueError(
            f"y has {classes.size} classes, so the model is multinomial: softmax of X @ W^T + b, with no "
            f"activation; got activation={act.name!r}. Pass activation=None."
        )
    K, A = int(classes.size), D + 1
    if opt.uses_hessian and K * A > NEWTON_MAX:
        raise ValueError(
            f"method={opt.name!r} for the multinomial model needs a Hessian of ({K} classes x {A} coefficients)^2 "
            f"per model; at most {NEWTON_MAX} coefficients a model are allowed ({K * A} here). Use a first-order "
            "method such as 'nesterov' or 'adam', or fewer features."
        )
    return K


def fit(
    X,
    y,
    lr,
    *,
    loss="logistic",
    activation=None,
    steps=1000,
    tol=None,
    l2=0.0,
    fit_intercept=True,
    method="gd",
    schedule=None,
    momentum=None,
    b1=None,
    b2=None,
    eps=None,
    decay=None,
    weight_decay=None,
    initial_accumulator_value=None,
    batch_size=None,
    seed=None,
    validation=None,
    cv=None,
    scoring=None,
    refit=True,
    early_stopping=False,
    patience=10,
    record_every=1,
    max_abs_w=None,
    max_history_bytes=None,
    progress=False,
    checkpoint=None,
    checkpoint_every=50,
):
    """Fit one model per (learning rate, L2 strength) pair, all in the same pass over the data.

    The model is ``a = act(X @ w + b)`` and the cost ``mean(loss(a, y)) + (l2 / 2) * ||w||^2``
    (the intercept is not penalised), so ``l2 = 1 / (C * n)`` is scikit-learn's ``C`` for
    ``LogisticRegression`` and ``l2 = 2 * alpha / n`` is ``Ridge``'s ``alpha`` with ``loss="mse"``.

    Parameters
    ----------
    X : array_like or DataFrame, shape (n, D)
        float32 data is fitted in float32.  Column names are kept for display.  A Dask
        array or DataFrame (the ``dask`` extra) is fitted on the current
        ``dask.distributed`` client, or Dask's default scheduler without one: each step
        a task per worker sums its chunks' gradients with the same fused kernel, and the
        client updates the models; X stays on the workers.  Equal to the in-memory fit
        to rounding (the sums are split by chunks), bitwise equal from run to run and
        for any number of workers.  X chunked across columns is rechunked to whole rows,
        and y to X's row chunks; unknown chunk sizes are refused.  ``cv`` and
        ``validation`` work as in memory (the folds are made from y on the client; a
        splitter object is refused); ``method="newton"`` is not available on Dask yet.
        See the Dask page of the documentation.
    y : array_like or Series, shape (n,)
        Targets; for ``logistic``, ``log_loss`` and ``cross_entropy`` class labels (sorted
        in ``result.classes``): two are mapped to 0 and 1; three or more (``logistic`` and
        ``cross_entropy``, no activation) fit the multinomial model, ``softmax(X @ W^T + b)``
        with loss ``-log softmax(z)_y``, every class of every model in the same pass
        (``coef`` (P, C, D); Newton up to ``NEWTON_MAX`` coefficients a model; not on Dask
        yet).  With a Dask X, a Dask array or Series, or a NumPy array (split to X's chunks).
    lr : float or array_like (K,)
        Learning rates (>= 0).
    loss : str or Loss
        ``"logistic"`` (logistic regression on logits, the stable form), ``"mse"`` (linear
        regression), or any loss with any activation (a single neuron).
    activation : str, Activation or None
        Applied to ``X @ w + b``; None is the identity.
    steps : int
        Maximum number of updates, at most 10**12.
    tol : float, optional
        A model has converged, and stops, when the Euclidean norm of its gradient
        (coefficients and intercept) is at most ``tol``.
    l2 : float or array_like (R,)
        L2 strengths (>= 0); every (lr, l2) pair is a model.
    fit_intercept : bool
    method : {"gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "newton"}
        The optimizer, as optax defines it (the formulas are in :mod:`fastgd.optimizers`).
        ``"newton"`` steps by the inverse of the exact Hessian ``X^T S X / n + l2 I`` (the seed's
        ideal step), solved per model by Cholesky; where it is not positive definite that
        model takes a gd step.  ``lr=1`` is the pure Newton step.
    schedule : Schedule, str or None
        A learning-rate multiplier from :mod:`fastgd.schedules` (or its CLI syntax, such as
        ``"cosine:500"``): model m's rate at step t is ``lr[m] * schedule(t)``.
    momentum, b1, b2, eps, decay, weight_decay, initial_accumulator_value : float or array_like, optional
        The optimizer's hyperparameters (None: optax's default for the method): ``momentum``
        for momentum and nesterov; ``b1, b2, eps`` for adam and adamw, plus ``weight_decay``
        for adamw; ``decay, eps`` for rmsprop; ``initial_accumulator_value, eps`` for adagrad.
        ``momentum, b1, b2, decay`` lie in [0, 1), ``eps > 0``, the others ``>= 0``.  An array
        is a grid axis: every (lr, l2, hyperparameters) combination is a model.  Giving one to
        a method that does not use it is an error.
    batch_size : int, optional
        Mini-batch SGD: each step uses the next ``batch_size`` rows of a shuffle of the data
        (reshuffled every epoch; a batch may span two epochs), the same for every model, so
        learning rates are compared fairly and reruns are identical.  Memory O(n), work
        O(batch_size) a step.  At most the number of rows (with ``cv=`` or ``validation=``,
        of the smallest fold's training rows): a larger batch is refused, not clipped as
        scikit-learn's MLP does, since a batch of every row is full-batch descent, which
        ``batch_size=None`` runs without the shuffle.
    seed : int, optional
        Seed (>= 0) of that shuffle (None means 0).  Epoch ``e``'s order is a pure function
        of (seed, e): a splitmix64-driven Fisher-Yates shuffle, the same on every machine.
        Also seeds the splits of ``validation=`` and ``cv=`` (NumPy's ``default_rng``).
    validation : float or (X_val, y_val), optional
        Score every model on held-out data (``val_score``), which then ranks them
        (``best``).  A fraction in (0, 1) holds out that share of the rows (stratified for
        classifiers, seeded by ``seed``): the models are fitted on the other rows only,
        and ``final_cost`` is over those.  A pair is a separate validation set.
    cv : int, splitter or list of (train_idx, test_idx), optional
        Cross-validation in the same pass: every (grid point, fold) is its own model,
        fitted on the fold's training rows (its cost is the mean over those rows, so it
        equals ``fit(X[train], y[train], ...)``) and scored on its held-out rows
        (``cv_score``, ``mean_cv_score``, which rank the grid points).  An int K is K
        folds, stratified for classifiers, shuffled with ``seed``; a scikit-learn splitter
        (anything with ``split(X, y)``) or an explicit list of index pairs is used as
        given.  At most 63 folds; X is never copied.
    scoring : str, optional
        The held-out score, scikit-learn's names, higher is better: ``"accuracy"``
        (classifiers' default), ``"neg_log_loss"``, ``"r2"`` (regression's default),
        ``"neg_mean_squared_error"``, ``"neg_mean_absolute_error"``, ``"loss"`` (minus the
        mean held-out loss, no L2 term).  Needs ``validation=`` or ``cv=``.
    refit : bool
        With ``cv=``: also fit every grid point on all rows, in that same pass; those are
        ``coef`` and ``intercept`` (and their statuses, costs and history).  With
        ``refit=False``, ``coef`` and ``intercept`` are the means of the fold models'
        (as ``LogisticRegressionCV`` gives), ``final_cost`` is theirs on all rows,
        ``cost_history`` is the folds' mean, ``n_steps`` the most steps of a fold,
        ``converged`` true where every fold converged and ``diverged`` where any diverged.
    early_stopping : bool
        With ``validation=FRAC`` or ``cv=``: every ``record_every`` steps, each fold model's
        mean held-out loss (the fitted loss, no L2 term) is computed; a model stops when it
        has not improved for ``patience`` checks (``stopped_early``, ``cv_stopped_early``),
        and every fold model ends with the coefficients of its best check.  The refit
        models, which have no held-out rows, run their steps.
    patience : int
        Checks without improvement before a model stops (>= 1).
    record_every : int
        Record the cost every this many steps (0: no history).
    max_abs_w : float, optional
        A model whose coefficients leave this bound, or become NaN, or whose cost does,
        has diverged: it stops with its last good coefficients.  Default and maximum
        ``finfo(dtype).max ** 0.25``.
    max_history_bytes : int, optional
        Refuse a cost history larger than this; default a quarter of the available memory.
    progress : bool
        Show a tqdm progress bar over the steps (needs tqdm, the ``progress`` extra).  The
        whole step loop runs compiled, in calls of about 0.1 s, so the bar (and Ctrl-C)
        answers between them.
    checkpoint : str or os.PathLike, optional
        A file that holds the fit's complete state (coefficients, optimizer state, step,
        statuses, history so far, early stopping's best coefficients; the mini-batch stream
        is a pure function of seed and step), written atomically every
        ``checkpoint_every`` steps and at the end.  Calling ``fit`` again with the same
        arguments, data and checkpoint resumes from it, and ends bitwise equal to a fit
        never interrupted; a finished checkpoint returns its result without a step.  A
        checkpoint written by a fit with other arguments or data is refused
        (``ValueError``), never reused.
    checkpoint_every : int
        Steps between checkpoints (>= 1).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np, fastgd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = (X @ [1.0, -2.0, 0.5] + 0.3 * rng.normal(size=200) > 0).astype(int)
    >>> res = fastgd.fit(X, y, lr=[0.01, 0.1, 1.0], steps=300)
    >>> res.best_lr
    1.0
    >>> float((res.predict(X) == y).mean()) > 0.9
    True

    See Also
    --------
    sklearn.linear_model.LogisticRegression, sklearn.linear_model.Ridge, sklearn.linear_model.SGDClassifier
    """
    loss = get_loss(loss)
    act = get_activation("identity" if activation is None else activation)
    opt = get_optimizer(method)
    steps = v.steps(steps)
    record_every = v.integer(record_every, "record_every", minimum=0)
    on_dask = _dask.is_dask(X) or _dask.is_dask(y)
    if on_dask:
        X, y, names, classes, y_small = _dask_inputs(X, y, loss)
    else:
        X, names = _as_matrix(X)
    n, D = X.shape
    if n == 0 or D == 0:
        raise ValueError(f"X is empty (shape {X.shape}); fit needs at least one row and one column.")
    dtype = X.dtype
    if not on_dask:
        _check_finite_matrix(X, "X")
        y, classes = _as_target(y, loss, dtype, n)
    K = _outputs(classes, act, opt, D)
    lr_grid = v.learning_rates(lr, dtype)
    l2_grid = v.vector(l2, "l2")
    v.nonnegative(l2_grid, "l2")
    v.check_finite(l2_grid, "l2")
    l2_grid = v.in_dtype(l2_grid, dtype, "l2")
    fit_intercept = v.boolean(fit_intercept, "fit_intercept")
    tol = v.tolerance(tol, dtype)
    hp_axes = hyperparameter_grid(
        opt, dtype, momentum=momentum, b1=b1, b2=b2, eps=eps, decay=decay, weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
    )  # fmt: skip
    schedule = get_schedule(schedule)
    if batch_size is not None:
        batch_size = v.integer(batch_size, "batch_size", minimum=1)
        if batch_size > n:
            raise ValueError(f"batch_size must be between 1 and the number of rows ({n}); got {batch_size}.")
    seed = None if seed is None else v.integer(seed, "seed", minimum=0)
    bound = v.weight_bound(max_abs_w, dtype)
    checkpoint, checkpoint_every = _checkpoint_args(checkpoint, checkpoint_every)
    if on_dask:
        _dask_supports(opt, cv)
        # the folds are made here as in memory (the same rows, so the same models): from the
        # targets, n values, and a stand-in of X's shape (stride 0: no memory)
        needs_y = validation is not None and not isinstance(validation, (tuple, list)) or cv is not None
        y_here = _dask.compute(y)[0] if needs_y and classes is not None else np.zeros(n, dtype)
        X_shape = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=(n, D), strides=(0, 0))
        held = _HeldOut(X_shape, y_here, loss, classes, validation, cv, scoring, refit, seed, batch_size, names)
    else:
        held = _HeldOut(X, y, loss, classes, validation, cv, scoring, refit, seed, batch_size, names)
    held.early(early_stopping, patience, record_every)

    params, hp = model_grid([("lr", lr_grid), ("l2", l2_grid), *hp_axes], hp_axes, dtype)
    G = params["lr"].size
    per = held.models_per_point
    P = G * per
    # coefficients, optimizer state (2 rows a model), gradient and scratch: about 6 (D+1)-rows a model
    coefs = f"{D + 1} coefficients" if K == 1 else f"{K} classes x {D + 1} coefficients"
    v.memory_fits(P * K * (D + 1) * 6 * dtype.itemsize, f"a grid of {P} models x {coefs}", "shrink the grid")
    lr_m, l2_m = params["lr"], params["l2"]
    if record_every:
        n_rec = steps // record_every + 1
        v.history_fits(n_rec * P * dtype.itemsize, max_history_bytes, f"{n_rec} records x {P} models")
    engine = functools.partial(_dask.DaskRun, y_small=y_small) if on_dask else _engine.Run
    run = engine(
        loss if K == 1 else _engine.src.SOFTMAX,
        None if act.name == "identity" else act,
        opt,
        X,
        y,
        np.repeat(lr_m, per),
        np.repeat(l2_m, per),
        np.repeat(hp, per, axis=0),
        folds=held.folds(G),
        schedule=schedule,
        fit_intercept=fit_intercept,
        steps=steps,
        tol=tol,
        bound=bound,
        batch_size=batch_size,
        seed=seed,
        record_every=record_every,
        outputs=K,
    )
    checks = [] if held.stopper is None else [(held.check, record_every)]
    saver = None
    if checkpoint is not None:
        digest = _checkpoint.fingerprint(run.identity() + [("early", (held.early_stopping, held.patience))])
        saver = _checkpoint.Saver(checkpoint, digest, checkpoint_every, held.state)
        state = _checkpoint.load(checkpoint, digest, required=(*run.STATE, "step"))
        if state is not None:
            run.load_state(state)
            held.load_state(state, run)
        checks.append((saver, checkpoint_every))
    go = functools.partial(run.run, *checks)
    if progress and P:
        _progress.run_with_bar(go, run.progress, steps + 1, "step", per=run.progress.size)
    else:
        go()
    if saver is not None:
        saver(run)  # the finished state: calling fit again returns this result without a step
    changed = held.finish(run)
    history = run.history if record_every else None
    stopped = (run.status != _monitor.RUNNING).any()
    if batch_size is not None and not (record_every and stopped) and not on_dask:
        final_cost = _Deferred(run.final_cost)  # a whole-data pass, made when first asked for
        # (on Dask it is made now: the client that holds the data may be gone when it is asked for)
    else:
        final_cost = _Deferred.of(run.final_cost(changed))
        _monitor.fill_stopped(history, run.stopped_at, record_every, final_cost())
    prob = functools.partial(_probability, loss)
    if on_dask:
        scorer = functools.partial(run.scores, act=act, prob=prob)
    else:
        scorer = functools.partial(ms.scores, loss=loss, act=act, X=X, y=y, prob=prob)
    out = held.results(run, G, history, final_cost, D, dtype, scorer, loss, act, l2_m)
    return FitResult(
        **out,
        lr=lr_m,
        l2=l2_m,
        lr_grid=lr_grid,
        l2_grid=l2_grid,
        loss_fn=loss,
        activation=act,
        classes=classes,
        feature_names=names,
        record_every=record_every,
        method=opt.name,
        params=params,
        schedule=schedule,
    )


def _checkpoint_args(checkpoint, every):
    every = v.integer(every, "checkpoint_every", minimum=1)
    return (None if checkpoint is None else _checkpoint.check_path(checkpoint)), every


def _dask_inputs(X, y, loss):
    """A Dask X and y validated, converted and persisted: (X, y, names, classes, whether every |y| is small).

    X and y are persisted first (one read of their source), then checked in one pass.
    """
    X, y, names = _dask.inputs(X, y, lambda a: v.float_array(np.empty(0, a.dtype), "X").dtype)
    dtype = X.dtype
    if not loss.is_classifier:
        if y.dtype == object or v.float_array(np.empty(0, y.dtype), "y").dtype.kind != "f":
            raise TypeError(f"y must be numbers for loss {loss.name!r}; got dtype {y.dtype}.")
        y = y.astype(dtype)
    X, y = _dask.persist(X, y)
    z_max = float(np.finfo(dtype).max) ** 0.25
    if loss.is_classifier:  # each chunk's labels; the 0/1 targets are finite and small
        checks = (y.map_blocks(np.unique, dtype=y.dtype).reshape(-1), 0, True)
    else:
        checks = ((~_dask.isfinite(y)).sum(), (abs(y) <= z_max).all())
    bad_x, *checked = _dask.compute((~_dask.isfinite(X)).sum(), *checks)
    classes = None
    if loss.is_classifier:
        labels, bad_y, small = checked
        _, classes = _as_target(np.unique(labels), loss, dtype, np.unique(labels).size)
        if classes.size > 2:
            raise ValueError(
                f"y has {classes.size} classes; the multinomial model is not available for Dask arrays yet "
                "(binary labels only there). Compute X and y into memory for a multiclass fit."
            )
        (y,) = _dask.persist((y == classes[1]).astype(dtype))
    else:
        bad_y, small = checked
    for name, bad in (("X", bad_x), ("y", bad_y)):
        if bad:
            raise ValueError(f"{name} has {int(bad)} NaN or infinite entries; drop or impute them first.")
    return X, y, names, classes, bool(small)


def _dask_supports(opt, cv):
    """Refuse, before any work, what fits on Dask arrays do not do yet."""
    if opt.uses_hessian:
        raise ValueError(
            f"method={opt.name!r} is not available for Dask arrays (its Hessian would be another pass per model); "
            "use a first-order method such as 'gd' or 'adam', or compute X into memory."
        )
    if hasattr(cv, "split"):
        raise ValueError(
            "cv= as a splitter object is not available for Dask arrays (its split(X, y) would need X in memory); "
            "pass cv=K or a list of (train_idx, test_idx) pairs."
        )


class _HeldOut:
    """What ``validation=`` and ``cv=`` add to a fit: the folds' models, masks and scores.

    Each grid point has ``models_per_point`` models in a row of the engine: one per fold
    (fold f), then the one fitted on all rows (``_source.ALL``) where there is one.
    """

    def __init__(self, X, y, loss, classes, validation, cv, scoring, refit, seed, batch_size, names=None):
        n = X.shape[0]
        classifier = classes is not None
        labels = y if classifier else None
        refit = v.boolean(refit, "refit")
        self.pairs, self.val, self.scoring, self.refit, self.holdout = [], None, None, True, False
        self.stopper = None
        if validation is not None and cv is not None:
            raise ValueError("give validation= or cv=, not both: cv's folds hold out their own rows.")
        if validation is None and cv is None:
            if scoring is not None:
                raise ValueError("scoring= needs held-out data: pass validation= or cv= too.")
            return
        self.scoring = ms.check_scoring(scoring, classifier)
        if cv is not None:
            self.pairs = ms.resolve_cv(cv, X, y, seed, labels)
            self.refit = refit
        elif isinstance(validation, (tuple, list)):
            self.val = _validation_set(validation, loss, X.dtype, X.shape[1], classes, names)
        else:
            if isinstance(validation, (bool, np.bool_)) or not isinstance(validation, numbers.Real):
                raise TypeError(
                    "validation must be a fraction in (0, 1) or a pair (X_val, y_val); "
                    f"got {type(validation).__name__}."
                )
            if not 0 < validation < 1:
                raise ValueError(f"validation must be a fraction strictly between 0 and 1; got {validation!r}.")
            if n < 2:
                raise ValueError("validation= needs at least two rows: one to fit and one to hold out.")
            self.pairs = [ms.holdout(n, float(validation), seed, labels)]
            self.refit, self.holdout = False, True
            if classifier:
                ms.resolve_cv(self.pairs, X, y, seed, labels)  # the same check: both classes in training
        if batch_size is not None and self.pairs:
            smallest = min(train.size for train, _ in self.pairs)
            if batch_size > smallest:
                raise ValueError(
                    f"batch_size ({batch_size}) is larger than the smallest fold's training rows ({smallest}); "
                    f"use batch_size <= {smallest}."
                )
        self.n = n

    def early(self, early_stopping, patience, record_every):
        """Validate early stopping's options (the stopper itself starts with the run)."""
        self.early_stopping = v.boolean(early_stopping, "early_stopping")
        self.patience = v.integer(patience, "patience", minimum=1)
        self.checked = -1  # the updates the last check's coefficients had
        if not self.early_stopping:
            return
        if not self.pairs:
            raise ValueError(
                "early_stopping=True needs held-out rows of X: pass validation=FRAC or cv=K "
                "(a separate validation set is scored after the fit only)."
            )
        if record_every < 1:
            raise ValueError("early_stopping=True checks every record_every steps; use record_every >= 1.")
        self.stopper = True  # replaced by the monitor in check()

    def check(self, run):
        """One early-stopping check: each running fold model's mean loss on its held-out rows.

        A check at coefficients already checked is skipped: the run reaches step ``steps + 1``
        (the last cost) without an update, and ``finish`` checks once more, and counting the
        same coefficients again as a check without improvement stopped models that improved
        at every check.
        """
        if self.stopper is True:
            watched = np.flatnonzero(run.folds < _engine.src.ALL)
            self.stopper = _monitor.EarlyStopping(run.model_W(), watched, self.patience)
        updates = min(run.step, run.steps)
        if updates == self.checked:
            return
        self.checked = updates
        live = np.flatnonzero(run.status == _monitor.RUNNING)
        watched = live[run.folds[live] < _engine.src.ALL]
        for f, (_, test) in enumerate(self.pairs):
            models = watched[run.folds[watched] == f]
            if models.size:
                held = run.model_losses(test, models, every_row=True) / test.size
                self.stopper.update(models, held, run.model_W(), run.status, run.stopped_at, run.step)

    def state(self):
        """Early stopping's arrays for a checkpoint (none before its first check)."""
        if not isinstance(self.stopper, _monitor.EarlyStopping):
            return {}
        return {**self.stopper.state(), "stop_checked": np.array(self.checked, np.int64)}

    def load_state(self, state, run):
        """Early stopping's arrays back from a checkpoint, where it had made a check."""
        if self.stopper is not None and "stop_best" in state:
            names = ["stop_" + k for k in _monitor.EarlyStopping.STATE] + ["stop_checked"]
            missing = [k for k in names if k not in state]
            if missing:
                raise ValueError(f"the checkpoint is damaged: it lacks {', '.join(missing)}; delete it and fit again.")
            self.checked = int(state["stop_checked"])
            watched = np.flatnonzero(run.folds < _engine.src.ALL)
            self.stopper = _monitor.EarlyStopping(run.model_W(), watched, self.patience)
            self.stopper.load_state(state)

    def finish(self, run):
        """After the run: a last check at the final coefficients, then every fold model's best put back."""
        if self.stopper is None:
            return None
        self.check(run)  # skipped where the last check saw these coefficients
        return self.stopper.restore(run.model_W())

    @property
    def models_per_point(self):
        return len(self.pairs) + (1 if self.refit else 0)

    def folds(self, G):
        if not self.pairs:
            return None
        ids = list(range(len(self.pairs))) + ([_engine.src.ALL] if self.refit else [])
        return ms.exclusion_masks(self.n, self.pairs), np.tile(np.array(ids, np.int64), G)

    def results(self, run, G, history, final_cost, D, dtype, scorer, loss, act, l2):
        """The FitResult fields that depend on the folds: coefficients, statuses, costs, scores.

        ``scorer(scoring, W, b, rows)``: the models' scores on rows of the data (``ms.scores``).
        """
        per = self.models_per_point
        W = run.W.reshape(G, per, *(() if run.K == 1 else (run.K,)), D + 1)  # (G, per[, K], D + 1)
        n_steps = run.n_steps.reshape(G, per)
        status = run.status.reshape(G, per)
        hist = None if history is None else history.reshape(G, per, -1)
        if self.refit or self.holdout:  # the last model of each point: all rows, no folds, or the one split
            out = {
                "coef": W[:, -1, ..., :D].copy(),
                "intercept": W[:, -1, ..., D].copy(),
                "cost_history": None if hist is None else hist[:, -1].copy(),
                "_final_cost": _Deferred(lambda: final_cost().reshape(G, per)[:, -1].copy()),
                "n_steps": n_steps[:, -1].copy(),
                "converged": status[:, -1] == _monitor.CONVERGED,
                "diverged": status[:, -1] == _monitor.DIVERGED,
            }
        else:
            coef, intercept = W[:, :, ..., :D].mean(axis=1), W[:, :, ..., D].mean(axis=1)
            penalty = 0.5 * l2 * (coef.astype(np.float64) ** 2).reshape(G, -1).sum(axis=1)
            cost = -scorer("loss", W=coef, b=intercept, rows=None) + penalty
            out = {
                "coef": coef,
                "intercept": intercept,
                "cost_history": None if hist is None else hist.mean(axis=1),
                "_final_cost": _Deferred.of(cost.astype(dtype)),
                "n_steps": n_steps.max(axis=1),
                "converged": (status == _monitor.CONVERGED).all(axis=1),
                "diverged": (status == _monitor.DIVERGED).any(axis=1),
            }
        out["scoring"] = self.scoring
        if self.stopper is not None:
            early = status == _monitor.STOPPED_EARLY
            F = len(self.pairs)
            if self.holdout:
                out["stopped_early"] = early[:, 0]
            else:  # the refit models run their steps; without them, a point stopped where all its folds did
                out["stopped_early"] = np.zeros(G, bool) if self.refit else early[:, :F].all(axis=1)
                out["cv_stopped_early"] = early[:, :F]
        if self.scoring is None:
            return out

        def score(rows, Wm, bad, on=scorer):
            return np.where(bad, np.nan, on(self.scoring, W=Wm[..., :D], b=Wm[..., D], rows=rows))

        if self.val is not None:
            Xv, yv = self.val
            prob = functools.partial(_probability, loss)
            on_val = functools.partial(ms.scores, loss=loss, act=act, X=Xv, y=yv, prob=prob)
            out["val_score"] = score(None, W[:, -1], out["diverged"], on_val)
            return out
        F = len(self.pairs)
        cv_div = status[:, :F] == _monitor.DIVERGED
        cv_score = np.column_stack([score(te, W[:, f], cv_div[:, f]) for f, (_, te) in enumerate(self.pairs)])
        if self.holdout:
            out["val_score"] = cv_score[:, 0]
            return out
        out.update(
            cv_score=cv_score,
            cv_coef=W[:, :F, ..., :D].copy(),
            cv_intercept=W[:, :F, ..., D].copy(),
            cv_n_steps=n_steps[:, :F].copy(),
            cv_diverged=cv_div,
        )
        return out

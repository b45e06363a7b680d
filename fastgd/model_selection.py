"""Held-out scores for a grid search: validation splits, cross-validation folds and scorers.

:func:`fastgd.fit` fits every (grid point, fold) as its own model in the same pass
over X: a fold's model skips its held-out rows in the gradient, so it equals a
``fit`` on that fold's training rows alone, and is then scored on its held-out
rows.  This module turns ``validation=`` and ``cv=`` into folds (lists of
``(train, test)`` row indices) and computes the scores.

Scores follow scikit-learn's names and sign convention, higher is better:

| scoring | meaning |
| --- | --- |
| ``"accuracy"`` | fraction of held-out labels predicted (classifiers' default) |
| ``"neg_log_loss"`` | minus the mean log loss of the predicted probabilities |
| ``"r2"`` | coefficient of determination (regression's default) |
| ``"neg_mean_squared_error"`` | minus the mean squared error |
| ``"neg_mean_absolute_error"`` | minus the mean absolute error |
| ``"loss"`` | minus the mean held-out value of the fitted loss (no L2 term) |

``accuracy`` and ``neg_log_loss`` need a classifier, and the three regression scores a
regression: a classifier's output is a logit, not a prediction of y, so either mismatch
is refused with a ValueError.
"""

import numbers

import numpy as np

from ._source import ALL

MAX_FOLDS = ALL  # a row's exclusion mask is one int64, a bit per fold
SCORINGS = ("accuracy", "neg_log_loss", "r2", "neg_mean_squared_error", "neg_mean_absolute_error", "loss")
CLASSIFIER_ONLY = ("accuracy", "neg_log_loss")
# a classifier's output is a logit (or a probability): these would score it against the 0/1 codes
REGRESSION_ONLY = ("r2", "neg_mean_squared_error", "neg_mean_absolute_error")
_ROWS_PER_PASS = 2**16  # held-out rows scored per product: memory O(this x models)


def kfold(n, k, seed=None, labels=None):
    """K folds of ``range(n)`` as ``[(train, test), ...]``, shuffled with ``seed``; stratified by ``labels`` if given.

    Stratified: each class's rows, shuffled, are dealt to the folds in turn (each class
    starting where the last one stopped), so fold sizes differ by at most one and each
    class's share of a fold differs from its share of the data by at most one row.

    Examples
    --------
    >>> from fastgd.model_selection import kfold
    >>> [test.tolist() for _, test in kfold(6, 3, seed=0)]
    [[3, 4], [0, 2], [1, 5]]

    See Also
    --------
    sklearn.model_selection.KFold, sklearn.model_selection.StratifiedKFold
    """
    rng = np.random.default_rng(0 if seed is None else seed)
    fold_of = np.empty(n, np.int64)
    if labels is None:
        perm = rng.permutation(n)
        fold_of[perm] = np.arange(n) % k
    else:
        start = 0
        for c in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == c))
            fold_of[rows] = (start + np.arange(rows.size)) % k
            start = (start + rows.size) % k
    return [(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)]


def holdout(n, fraction, seed=None, labels=None):
    """One split ``(train, test)`` holding out ``round(fraction * n)`` rows (at least 1), stratified by ``labels``.

    See Also
    --------
    sklearn.model_selection.train_test_split
    """
    n_test = min(n - 1, max(1, int(round(fraction * n))))
    rng = np.random.default_rng(0 if seed is None else seed)
    if labels is None:
        test = rng.permutation(n)[:n_test]
    else:  # each class's share of the held-out rows as close to its share of the data as whole rows allow
        classes, counts = np.unique(labels, return_counts=True)
        quota = np.floor(counts * n_test / n).astype(np.int64)
        rest = counts * n_test / n - quota
        quota[np.argsort(-rest, kind="stable")[: n_test - quota.sum()]] += 1
        test = np.concatenate(
            [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota, strict=True)]
        )
    mask = np.zeros(n, bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _index_array(idx, n, name):
    arr = np.asarray(idx)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"{name} is a boolean mask of shape {arr.shape}; it must have shape ({n},).")
        arr = np.flatnonzero(arr)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of row indices; got dtype {arr.dtype}, shape {arr.shape}.")
    arr = arr.astype(np.int64)
    if arr.size == 0:
        raise ValueError(f"{name} is empty; every fold needs training and held-out rows.")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} has indices outside [0, {n}) (from {arr.min()} to {arr.max()}); X has {n} rows.")
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{name} repeats row indices; each row may appear once in a fold's train or test set.")
    return arr


def resolve_cv(cv, X, y, seed, labels):
    """``cv=`` as a list of ``(train, test)`` index arrays, checked; ``labels`` (or None) stratify an int ``cv``."""
    n = X.shape[0]
    if isinstance(cv, (bool, np.bool_, str, bytes)):
        raise TypeError(f"cv must be an int (the number of folds), a splitter or a list of (train, test); got {cv!r}.")
    if isinstance(cv, numbers.Integral):
        k = int(cv)
        if n < 2:
            raise ValueError(f"cross-validation needs at least 2 rows; X has {n} sample(s).")
        if not 2 <= k <= min(n, MAX_FOLDS):
            raise ValueError(f"cv must be between 2 and {min(n, MAX_FOLDS)} folds for {n} rows; got {k}.")
        pairs = kfold(n, k, seed, labels)
    else:
        if hasattr(cv, "split"):
            try:
                pairs = list(cv.split(X, y))
            except Exception as err:  # a splitter's own complaint, named as such
                raise ValueError(f"cv's split(X, y) failed: {err}") from err
        elif isinstance(cv, (list, tuple)):
            pairs = list(cv)
        else:
            raise TypeError(
                f"cv must be an int, an object with a split(X, y) method (a scikit-learn splitter) or a list "
                f"of (train_idx, test_idx) pairs; got {type(cv).__name__}."
            )
        if not 1 <= len(pairs) <= MAX_FOLDS:
            raise ValueError(f"cv must give between 1 and {MAX_FOLDS} folds; it gave {len(pairs)}.")
        out = []
        for f, pair in enumerate(pairs):
            if len(pair) != 2:
                raise ValueError(f"cv's fold {f} is not a (train_idx, test_idx) pair.")
            train = _index_array(pair[0], n, f"cv's fold {f} train indices")
            test = _index_array(pair[1], n, f"cv's fold {f} test indices")
            both = np.intersect1d(train, test)
            if both.size:
                raise ValueError(
                    f"cv's fold {f} has {both.size} rows in both its train and test indices (the first: "
                    f"{int(both[0])}); a held-out row must not be trained on."
                )
            out.append((train, test))
        pairs = out
    if labels is not None:
        classes = np.unique(labels)
        for f, (train, _) in enumerate(pairs):
            seen = np.unique(labels[train])
            if seen.size < classes.size:
                missing = np.setdiff1d(classes, seen)
                raise ValueError(
                    f"cv's fold {f} leaves class(es) {missing.tolist()!r} out of its training rows; "
                    f"use fewer folds or stratified folds (cv=int is stratified)."
                )
    return pairs


def exclusion_masks(n, pairs):
    """(n,) int64: bit f set where row i is not among fold f's training rows (what the kernels skip)."""
    excl = np.zeros(n, np.int64)
    for f, (train, _) in enumerate(pairs):
        keep = np.zeros(n, bool)
        keep[train] = True
        excl[~keep] |= np.int64(1) << np.int64(f)
    return excl


def check_scoring(scoring, classifier):
    """The scoring name, validated against the model kind (None: accuracy or r2)."""
    if scoring is None:
        return "accuracy" if classifier else "r2"
    if not isinstance(scoring, str) or scoring not in SCORINGS:
        raise ValueError(f"scoring must be one of {', '.join(SCORINGS)}; got {scoring!r}.")
    if scoring in CLASSIFIER_ONLY and not classifier:
        raise ValueError(
            f"scoring={scoring!r} needs a classifier (a loss such as 'logistic'); use 'r2', "
            f"'neg_mean_squared_error', 'neg_mean_absolute_error' or 'loss' for regression."
        )
    if scoring in REGRESSION_ONLY and classifier:
        raise ValueError(
            f"scoring={scoring!r} scores a regression's predictions; this model is a classifier (its loss reads y "
            f"as class labels). Use 'accuracy', 'neg_log_loss' or 'loss', or a regression loss such as 'mse'."
        )
    return scoring


def _row_scores(scoring, loss, out, p1, y):
    """Per-row terms whose mean is the score (before r2's normalisation); out (n, P) is act(X w + b)."""
    yc = y[:, None]
    if scoring == "accuracy":
        return ((p1 >= 0.5) == (yc > 0.5)).astype(np.float64)
    if scoring == "neg_log_loss":
        eps = np.finfo(p1.dtype).eps  # scikit-learn's clip
        p = np.clip(p1, eps, 1 - eps)
        return yc * np.log(p) + (1 - yc) * np.log1p(-p)
    if scoring == "loss":
        return -loss.value(out, np.broadcast_to(yc, out.shape))
    if scoring in ("neg_mean_squared_error", "r2"):
        return -((out - yc) ** 2)
    return -np.abs(out - yc)  # neg_mean_absolute_error


def log_softmax(Z, axis=-1):
    """Log-softmax of logits along ``axis``, shifted by their maximum: no overflow, no log of 0."""
    mx = Z.max(axis=axis, keepdims=True)
    return Z - mx - np.log(np.exp(Z - mx).sum(axis=axis, keepdims=True))


def _multinomial_row_scores(scoring, Z, y):
    """Per-row terms of a multinomial model's score: Z (n, P, C) logits, y (n,) class codes."""
    code = y.astype(np.int64)
    if scoring == "accuracy":
        return (np.argmax(Z, axis=2) == code[:, None]).astype(np.float64)
    picked = np.broadcast_to(code[:, None, None], (Z.shape[0], Z.shape[1], 1))
    log_p = np.take_along_axis(log_softmax(Z, axis=2), picked, 2)[..., 0]
    if scoring == "loss":
        return log_p
    eps = np.finfo(np.float64).eps  # neg_log_loss: scikit-learn's clip of the probability
    return np.log(np.clip(np.exp(log_p), eps, 1 - eps))


def scores(scoring, loss, act, X, y, W, b, prob, rows=None):
    """Each model's score on the rows ``rows`` (None: all) of (X, y): W (P, D), b (P,).

    A multinomial model has W (P, C, D), b (P, C) and y as class codes 0 .. C - 1.

    ``prob(out)`` maps outputs to P(class 1).  Computed in float64, ``_ROWS_PER_PASS``
    rows at a time: no copy of X.  ``score_parts`` and ``combine_parts`` give the same
    score from row sets scored apart (a Dask X's chunks).
    """
    return finish_scores(scoring, score_parts(scoring, loss, act, X, y, W, b, prob, rows))


def score_parts(scoring, loss, act, X, y, W, b, prob, rows=None):
    """What ``finish_scores`` needs of some rows: (the row terms' sums (P,), rows, mean y, squares about it)."""
    rows = np.arange(X.shape[0]) if rows is None else rows
    n = rows.size
    total = np.zeros(W.shape[0])
    multi = W.ndim == 3
    Wt = W.reshape(-1, W.shape[-1]).T.astype(np.float64)
    b = b.reshape(-1).astype(np.float64)
    for r0 in range(0, n, _ROWS_PER_PASS):
        Xb = X[rows[r0 : r0 + _ROWS_PER_PASS]].astype(np.float64)
        yb = y[rows[r0 : r0 + _ROWS_PER_PASS]].astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            if multi:
                Z = (Xb @ Wt + b).reshape(Xb.shape[0], W.shape[0], W.shape[1])
                total += _multinomial_row_scores(scoring, Z, yb).sum(axis=0)
                continue
            out = act.value(Xb @ Wt + b)
            p1 = prob(out) if scoring in CLASSIFIER_ONLY else None
            total += _row_scores(scoring, loss, out, p1, yb).sum(axis=0)
    if scoring != "r2" or n == 0:
        return total, n, 0.0, 0.0
    yd = y[rows].astype(np.float64)
    mean = float(yd.mean())
    return total, n, mean, float(((yd - mean) ** 2).sum())  # two passes: no cancellation


def combine_parts(*parts):
    """``score_parts`` of disjoint row sets, as of their union (left to right; Chan et al.'s update of the squares)."""
    total, n, mean, m2 = parts[0]
    total = total.copy()
    for t, k, mk, m2k in parts[1:]:
        total += t
        if k:
            both = n + k
            delta = mk - mean
            mean, m2 = mean + delta * k / both, m2 + m2k + delta * delta * n * k / both
            n = both
    return total, n, mean, m2


def finish_scores(scoring, parts):
    """The scores from ``score_parts``: the mean of the row terms, or r2 = 1 - SS_res / SS_tot."""
    total, n, _, ss_tot = parts
    if scoring != "r2":
        return total / n
    if ss_tot == 0:  # scikit-learn's r2_score: 1 for a perfect fit of a constant target, else 0
        return np.where(total == 0, 1.0, 0.0)
    return 1 + total / ss_tot

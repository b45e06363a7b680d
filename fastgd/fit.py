"""Fit many linear / logistic / single-neuron models at once: a learning-rate grid search.

The seed's second article: log loss, the cost as the mean of the losses, gradient
descent on ``w`` and ``b``, learning rates too small or too large, and the ideal
step from the inverse Hessian -- for a real dataset and a grid of learning rates
(and L2 strengths), all fitted in the same pass over the data.
"""

from dataclasses import dataclass

import numpy as np

from . import _kernels_fit as kf
from . import _progress
from . import _validation as v
from .activations import Activation, get_activation
from .losses import Loss, get_loss
from .special import sigmoid

METHODS = ("gd", "momentum", "newton")
CLASSIFIERS = ("logistic", "log_loss", "cross_entropy")


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit`: one row per model, models ordered lr-major (m = k * R + r).

    Attributes
    ----------
    coef : ndarray (P, D)
    intercept : ndarray (P,)
    lr, l2 : ndarray (P,)
        Each model's learning rate and L2 strength; ``lr_grid`` (K,) and ``l2_grid`` (R,)
        are the grid they come from.
    cost_history : ndarray (P, steps // record_every + 1) or None
        The cost (mean loss + L2 term) at steps 0, record_every, ...; with mini-batches,
        the batch's cost.  A stopped model repeats its last value.
    record_every : int
        Steps between two entries of ``cost_history``.
    final_cost : ndarray (P,)
        The cost on the whole data at the final coefficients.
    n_steps : ndarray (P,) of int64
    converged, diverged : ndarray (P,) of bool
    loss_fn, activation : Loss, Activation
        The model's loss and activation, as validated.
    classes : ndarray or None
        For classifiers, the two labels mapped to 0 and 1 (in that order).
    feature_names : list of str or None
        Column names when X was a DataFrame.
    """

    coef: np.ndarray
    intercept: np.ndarray
    lr: np.ndarray
    l2: np.ndarray
    lr_grid: np.ndarray
    l2_grid: np.ndarray
    cost_history: np.ndarray | None
    final_cost: np.ndarray
    n_steps: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss_fn: Loss
    activation: Activation
    classes: np.ndarray | None = None
    feature_names: list | None = None
    record_every: int = 1

    @property
    def best(self):
        """Index of the model with the lowest final cost among those that did not diverge (None if all did)."""
        cost = np.where(self.diverged | ~np.isfinite(self.final_cost), np.inf, self.final_cost)
        return None if not np.isfinite(cost).any() else int(np.argmin(cost))

    @property
    def best_lr(self):
        """Learning rate of the best model."""
        best = self.best
        return None if best is None else float(self.lr[best])

    def decision_function(self, X, model=None):
        """``act(X @ w + b)`` for one model (default: the best)."""
        m = self.best if model is None else model
        if m is None:
            raise ValueError("every model diverged; pass model= explicitly to use one anyway.")
        X, _ = _as_matrix(X, self.coef.dtype)
        if X.shape[1] != self.coef.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features; the models were fitted on {self.coef.shape[1]}.")
        return self.activation.value(X @ self.coef[m] + self.intercept[m])

    def predict_proba(self, X, model=None):
        """Class probabilities, shape (n, 2), for classifiers (logistic: sigmoid of the output)."""
        if self.classes is None:
            raise ValueError(f"predict_proba needs a classifier; this fit used loss {self.loss_fn.name!r}.")
        out = self.decision_function(X, model)
        p1 = sigmoid(out) if self.loss_fn.name == "logistic" else np.clip(out, 0, 1)
        return np.column_stack([1 - p1, p1])

    def predict(self, X, model=None):
        """Predictions: the model's output, or for classifiers the more probable label."""
        if self.classes is None:
            return self.decision_function(X, model)
        return self.classes[(self.predict_proba(X, model)[:, 1] >= 0.5).astype(int)]

    def to_pandas(self):
        """One row per model: lr, l2, final_cost, n_steps, converged, diverged, intercept, coefficients."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        names = self.feature_names or [f"w{j}" for j in range(self.coef.shape[1])]
        df = pd.DataFrame({"lr": self.lr, "l2": self.l2, "final_cost": self.final_cost, "n_steps": self.n_steps,
                           "converged": self.converged, "diverged": self.diverged, "intercept": self.intercept})
        return pd.concat([df, pd.DataFrame(self.coef, columns=names)], axis=1)


def _as_matrix(X, dtype=None):
    names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    arr = v.float_array(X, "X")
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {arr.shape}. Use X.reshape(-1, 1) "
                         f"for a single feature.")
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
        raise ValueError(f"{name} has {count} NaN or infinite entries, the first at {tuple(int(i) for i in where)}; "
                         f"drop or impute them first.")


def _as_target(y, loss, dtype, n):
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {arr.shape}.")
    if arr.size != n:
        raise ValueError(f"X has {n} rows and y has {arr.size}; they must match.")
    if loss.name not in CLASSIFIERS:
        out = v.float_array(arr, "y").astype(dtype)
        _check_finite_matrix(out.reshape(-1, 1), "y")
        return out, None
    classes = np.unique(arr)
    if classes.size != 2:
        raise ValueError(f"y must hold exactly two classes for loss {loss.name!r}; found {classes.size}"
                         f"{': ' + repr(classes[:10].tolist()) if classes.size < 20 else ''}. "
                         f"Binary classification only: recode the labels.")
    return (arr == classes[1]).astype(dtype), classes


def fit(X, y, lr, *, loss="logistic", activation=None, steps=1000, tol=None, l2=0.0, fit_intercept=True,
        method="gd", momentum=0.9, batch_size=None, seed=None, record_every=1, max_abs_w=None, progress=False):
    """Fit one model per (learning rate, L2 strength) pair, all in the same pass over the data.

    The model is ``a = act(X @ w + b)`` and the cost ``mean(loss(a, y)) + (l2 / 2) * ||w||^2``
    (the intercept is not penalised), so ``l2 = 1 / (C * n)`` is scikit-learn's ``C`` for
    ``LogisticRegression`` and ``l2 = 2 * alpha / n`` is ``Ridge``'s ``alpha`` with ``loss="mse"``.

    Parameters
    ----------
    X : array_like or DataFrame, shape (n, D)
        float32 data is fitted in float32.  Column names are kept for display.
    y : array_like or Series, shape (n,)
        Targets; for ``logistic``, ``log_loss`` and ``cross_entropy`` two distinct labels,
        mapped to 0 and 1 in sorted order (``result.classes``).
    lr : float or array_like (K,)
        Learning rates (>= 0).
    loss : str or Loss
        ``"logistic"`` (logistic regression on logits, the stable form), ``"mse"`` (linear
        regression), or any loss with any activation (a single neuron).
    activation : str, Activation or None
        Applied to ``X @ w + b``; None is the identity.
    steps : int
        Maximum number of updates.
    tol : float, optional
        A model has converged, and stops, when the Euclidean norm of its gradient
        (coefficients and intercept) is at most ``tol``.
    l2 : float or array_like (R,)
        L2 strengths (>= 0); every (lr, l2) pair is a model.
    fit_intercept : bool
    method : {"gd", "momentum", "newton"}
        ``"newton"`` steps by the inverse of the exact Hessian ``X^T S X / n + l2 I`` (the seed's
        ideal step), solved per model by Cholesky; where it is not positive definite that
        model takes a gd step.  ``lr=1`` is the pure Newton step.
    momentum : float
        Heavy-ball coefficient in [0, 1) for ``method="momentum"``.
    batch_size : int, optional
        Mini-batch SGD: each step uses the next ``batch_size`` rows of a shuffle of the data
        (reshuffled every epoch), the same for every model, so learning rates are compared
        fairly and reruns are identical.
    seed : int, optional
        Seed of that shuffle (None means 0).
    record_every : int
        Record the cost every this many steps (0: no history).
    max_abs_w : float, optional
        A model whose coefficients leave this bound, or become NaN, or whose cost does,
        has diverged: it stops with its last good coefficients.  Default
        ``finfo(dtype).max ** 0.25``.
    progress : bool
        Show a tqdm progress bar over the steps (needs tqdm, the ``progress`` extra).

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
    v.choice(method, METHODS, "method")
    steps = v.integer(steps, "steps", minimum=0)
    record_every = v.integer(record_every, "record_every", minimum=0)
    X, names = _as_matrix(X)
    n, D = X.shape
    if n == 0 or D == 0:
        raise ValueError(f"X is empty (shape {X.shape}); fit needs at least one row and one column.")
    _check_finite_matrix(X, "X")
    dtype = X.dtype
    y, classes = _as_target(y, loss, dtype, n)
    lr_grid = v.vector(lr, "lr").astype(dtype)
    v.nonnegative(lr_grid, "lr")
    v.check_finite(lr_grid, "lr")
    l2_grid = v.vector(l2, "l2").astype(dtype)
    v.nonnegative(l2_grid, "l2")
    v.check_finite(l2_grid, "l2")
    tol = None if tol is None else v.real_param(tol, "tol", minimum=0.0, strict=False)
    momentum = v.real_param(momentum, "momentum", minimum=0.0, strict=False)
    if momentum >= 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
    if batch_size is not None:
        batch_size = v.integer(batch_size, "batch_size", minimum=1)
        if batch_size > n:
            raise ValueError(f"batch_size must be between 1 and the number of rows ({n}); got {batch_size}.")
    bound = v.max_safe_abs(dtype) if max_abs_w is None else v.real_param(
        max_abs_w, "max_abs_w", minimum=0.0, strict=True)

    K, R = lr_grid.size, l2_grid.size
    P = K * R
    lr_m, l2_m = np.repeat(lr_grid, R), np.tile(l2_grid, K)
    act_arg = None if act.name == "identity" else act
    state = _State(loss, act_arg, X, y, lr_m, l2_m, fit_intercept, dtype)
    schedule = _Schedule(n, batch_size, seed)

    status = np.zeros(P, np.int8)
    n_steps = np.zeros(P, np.int64)
    history = [] if record_every else None
    V = np.zeros((D, P), dtype)
    Vb = np.zeros(P, dtype)
    bar = _progress.bar(steps, "step") if progress else None
    for s in range(steps + 1):
        if bar is not None and s:
            bar.update()
        rows = schedule.rows(s)
        recording = bool(record_every) and s % record_every == 0
        live = status == kf.RUNNING
        cost, finite, gW, gb = state.gradients(rows, want_cost=recording or s == steps, live=live)
        if recording:
            history.append(cost)
        if s == steps:
            break
        status[live & ~finite] = kf.DIVERGED
        if tol is not None:
            gnorm = np.sqrt(np.sum(gW.astype(np.float64) ** 2, axis=0) + gb.astype(np.float64) ** 2)
            status[(status == kf.RUNNING) & (gnorm <= tol)] = kf.CONVERGED
        live = status == kf.RUNNING
        if not live.any():
            break
        if method == "newton":
            dW, db = state.newton(rows, gW, gb, live)
        elif method == "momentum":
            dW, db = momentum * V + gW, momentum * Vb + gb
        else:
            dW, db = gW, gb
        with np.errstate(all="ignore"):  # a diverging model is flagged below, never warned about
            Wn = state.W - lr_m * dW
            bn = state.b - lr_m * db
            ok = np.all(np.abs(Wn) <= bound, axis=0) & (np.abs(bn) <= bound)
        status[live & ~ok] = kf.DIVERGED
        take = live & ok
        state.W[:, take] = Wn[:, take]
        state.b[take] = bn[take]
        if method == "momentum":
            V[:, take], Vb[take] = dW[:, take], db[take]
        n_steps[take] += 1
    if bar is not None:
        bar.close()
    if history is not None:  # models stopped early: repeat their last record
        history += [history[-1]] * (steps // record_every + 1 - len(history))
    if batch_size is not None:  # the whole data's cost, not the last batch's
        cost = state.gradients(np.arange(n), want_cost=True)[0]
    elif cost is None:  # every model stopped at a step without the losses: their cost now
        cost = state.gradients(rows, want_cost=True)[0]
    final_cost = cost
    return FitResult(
        coef=state.W.T.copy(), intercept=state.b.copy(), lr=lr_m, l2=l2_m, lr_grid=lr_grid, l2_grid=l2_grid,
        cost_history=None if history is None else np.array(history).T.copy(), final_cost=final_cost,
        n_steps=n_steps, converged=status == kf.CONVERGED, diverged=status == kf.DIVERGED, loss_fn=loss,
        activation=act, classes=classes, feature_names=names, record_every=record_every,
    )


class _State:
    """The coefficients of every model and the scratch of the kernels."""

    def __init__(self, loss, act, X, y, lr_m, l2_m, fit_intercept, dtype):
        D, P = X.shape[1], lr_m.size
        self.loss, self.act, self.X, self.y = loss, act, X, y
        self.l2_m, self.fit_intercept = l2_m, fit_intercept
        self.W = np.zeros((D, P), dtype)
        self.b = np.zeros(P, dtype)
        self.G_acc = np.empty((kf.NCHUNKS, D, P), dtype)
        self.gb_acc = np.empty((kf.NCHUNKS, P), dtype)
        self.cost_acc = np.empty((kf.NCHUNKS, P), dtype)
        self.Xbuf = np.empty((kf.NCHUNKS, D, kf.BLOCK), dtype)
        self.Zbuf = np.empty((kf.NCHUNKS, P, kf.BLOCK), dtype)
        self.Ybuf = np.empty((kf.NCHUNKS, kf.BLOCK), dtype)
        z_max = v.max_safe_abs(dtype)
        self.z2_max = z_max * z_max
        self.y_small = bool(np.all(np.abs(y) <= z_max))

    def gradients(self, rows, want_cost, live=None):
        """(cost or None, cost is finite, dcost/dW, dcost/db) of every model over ``rows``.

        Without ``want_cost`` the kernel skips the loss values (for the log losses, a log
        per row and model: a third of a step) and sums z^2 instead.  If that sum is at
        most ``finfo.max ** 0.5`` every |z| is at most ``finfo.max ** 0.25`` and, with
        |y| as small, every loss is finite (the largest, MSE's, is below 5 finfo.max ** 0.5);
        otherwise the pass is run again with the losses.  Only the ``live`` models count
        (a diverged model's last weights may be near the bound: no reason to slow the rest).
        """
        n = rows.size
        exact = want_cost or not self.y_small  # the losses themselves, not the z^2 proof
        kf.grad_pass(self.loss, self.act, exact, self.X, self.y, rows,
                     np.ascontiguousarray(self.W.T), self.b, self.G_acc, self.gb_acc, self.cost_acc,
                     self.Xbuf, self.Zbuf, self.Ybuf)
        with np.errstate(all="ignore"):
            penalty = 0.5 * self.l2_m * np.sum(self.W * self.W, axis=0)
            if exact:
                cost = self.cost_acc.sum(axis=0) / n + penalty
                finite = np.isfinite(cost)
            else:
                small = self.cost_acc.sum(axis=0) <= self.z2_max
                if not np.all(small if live is None else small | ~live):  # a huge or NaN z: check exactly
                    return self.gradients(rows, want_cost=True)
                cost, finite = None, np.isfinite(penalty)
            gW = self.G_acc.sum(axis=0) / n + self.l2_m * self.W
            gb = self.gb_acc.sum(axis=0) / n if self.fit_intercept else np.zeros_like(self.b)
        return cost, finite, gW, gb

    def newton(self, rows, gW, gb, live):
        """Newton directions, with the gradient itself where the Hessian is not positive definite."""
        dW, db = np.empty_like(gW), np.empty_like(gb)
        ok = np.zeros(gb.size, np.bool_)
        kf.newton_directions(self.loss, self.act, self.X, self.y, rows, self.W, self.b, self.l2_m, gW, gb,
                             self.fit_intercept, live, dW, db, ok)
        dW[:, ~ok], db[~ok] = gW[:, ~ok], gb[~ok]
        return dW, db


class _Schedule:
    """Rows used at each step: all of them, or mini-batches of a seeded shuffle shared by every model."""

    def __init__(self, n, batch_size, seed):
        self.n, self.batch_size = n, batch_size
        self.all = np.arange(n)
        self.rng = np.random.default_rng(0 if seed is None else seed)
        self.order = np.empty(0, np.int64)

    def rows(self, step):
        if self.batch_size is None:
            return self.all
        start = step * self.batch_size
        while self.order.size < start + self.batch_size:
            self.order = np.concatenate([self.order, self.rng.permutation(self.n)])
        return self.order[start:start + self.batch_size]

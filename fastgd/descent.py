"""Gradient descent for a whole grid of initial weights x learning rates at once.

The one-weight model of the seed article: ``u = w*x``, ``a = act(u)``,
``loss = L(a, target)``, and the update ``w <- w - lr * dloss/dw`` with
``dloss/dw = L'(a) * act'(u) * x`` (the chain rule).  :func:`descend` runs
every (w0, lr) pair of the grid in one parallel, vectorized kernel.
"""

import time
from dataclasses import dataclass, field
from functools import cached_property

import numba
import numpy as np

from . import _dask, _progress, _results
from . import _kernels_descent as kd
from . import _validation as v
from .activations import Activation, get_activation
from .losses import Loss, get_loss
from .optimizers import get_optimizer, hyperparameter_grid, model_grid
from .schedules import Schedule, get_schedule

# rows are dealt to threads in this many blocks per thread (load balance: runs that
# stop early make some rows cheaper); results do not depend on it
BLOCKS_PER_THREAD = 8


@dataclass(frozen=True)
class DescentResult:
    """Outcome of :func:`descend`: arrays of shape (M, K), one entry per (w0, column) run.

    A column is a learning rate, or, when hyperparameters are arrays, one combination
    of lr and those arrays (lr slowest, then the hyperparameters in the optimizer's
    order); ``params`` gives each column's values.

    Attributes
    ----------
    w : ndarray
        Final weight.  A diverged run keeps its last bounded weight.
    loss, grad : ndarray
        Final loss and dloss/dw (computed on first access).
    n_steps : ndarray of int32 (int64 when steps >= 2**31)
        Updates taken (a converged run stops counting when ``|grad| <= tol``).
    converged, diverged : ndarray of bool
    diverged_at : ndarray of int (as n_steps)
        The step (1-based) whose update left the bound or became NaN/inf, or the last
        step for a bounded weight whose loss is not finite; -1 if the run did not diverge.
    status : ndarray of int8
        0 running, 1 converged, 2 diverged (bound or NaN), 3 diverged (loss not finite).
    w0, lr : ndarray
        The grid: ``w0`` (M,) along rows, ``lr`` (K,) along columns.
    params : dict of str to ndarray (K,)
        Each column's learning rate and optimizer hyperparameters.
    schedule : Schedule or None
        The learning-rate schedule.
    history_w, history_loss : ndarray or None
        ``(steps // record_every + 1, M, K)`` snapshots, the first at step 0.
    loss_fn, activation, x, target, method :
        The problem, as validated.
    """

    w: np.ndarray
    n_steps: np.ndarray
    status: np.ndarray
    w0: np.ndarray
    lr: np.ndarray
    loss_fn: Loss
    activation: Activation
    x: float
    target: float
    method: str
    history_w: np.ndarray | None = None
    history_loss: np.ndarray | None = None
    record_every: int = 0
    params: dict = field(default_factory=dict)
    schedule: Schedule | None = None

    def _chain(self, part):
        out = np.empty_like(self.w)
        x, act = _kernel_args(self.x, self.activation, self.w.dtype)
        t = self.w.dtype.type(self.target)
        kd.chain_map.sized(self.w.size)(self.loss_fn, act, part, self.w.reshape(-1), x, t, out.reshape(-1))
        return out

    @cached_property
    def loss(self):
        """Final loss of every run."""
        return self._chain(0)

    @cached_property
    def grad(self):
        """Final dloss/dw of every run."""
        return self._chain(1)

    @cached_property
    def converged(self):
        """True where ``|grad| <= tol`` stopped the run."""
        return self.status == kd.CONVERGED

    @cached_property
    def diverged(self):
        """True where the run left the bound, became NaN/inf or its loss did."""
        return self.status >= kd.DIVERGED

    @cached_property
    def diverged_at(self):
        """Step at which each run diverged, -1 if it did not."""
        return np.where(
            self.status == kd.DIVERGED, self.n_steps + 1, np.where(self.status == kd.OVERFLOW, self.n_steps, -1)
        )

    def best(self):
        """The run with the lowest final loss among those that did not diverge.

        Ties go to the run with fewer steps, then to the first in C order (the rule of
        ``FitResult.best``).  Returns a dict with the run's grid indices ``i``, ``k`` and
        its ``w0``, ``lr`` (and every hyperparameter of ``params``), ``w``, ``loss``,
        ``n_steps``; None if every run diverged or the grid is empty.
        """
        flat = _results.best_index(self.loss, self.diverged, self.n_steps)
        if flat is None:
            return None
        i, k = np.unravel_index(flat, self.w.shape)
        return {
            "i": int(i),
            "k": int(k),
            "w0": float(self.w0[i]),
            "lr": float(self.lr[k]),
            **{name: float(values[k]) for name, values in self.params.items()},
            "w": float(self.w[i, k]),
            "loss": float(self.loss[i, k]),
            "n_steps": int(self.n_steps[i, k]),
        }

    def to_pandas(self):
        """One row per run: w0, lr, each hyperparameter, w, loss, grad, n_steps, converged, diverged, diverged_at."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        w0, lr = np.meshgrid(self.w0, self.lr, indexing="ij")
        axes = {name: np.broadcast_to(values, self.w.shape) for name, values in self.params.items() if name != "lr"}
        cols = {
            "w0": w0,
            "lr": lr,
            **axes,
            "w": self.w,
            "loss": self.loss,
            "grad": self.grad,
            "n_steps": self.n_steps,
            "converged": self.converged,
            "diverged": self.diverged,
            "diverged_at": self.diverged_at,
        }
        return pd.DataFrame({name: np.ravel(col) for name, col in cols.items()})


def descend(
    loss,
    w0,
    lr,
    *,
    steps,
    target=0.0,
    x=1.0,
    activation="identity",
    method="gd",
    schedule=None,
    momentum=None,
    b1=None,
    b2=None,
    eps=None,
    decay=None,
    weight_decay=None,
    initial_accumulator_value=None,
    tol=None,
    record_every=0,
    max_abs_w=None,
    newton_min_curvature=1e-12,
    max_history_bytes=None,
    progress=False,
    client=None,
    chunks=None,
):
    """Gradient descent from every initial weight with every learning rate.

    Parameters
    ----------
    loss : str or Loss
        ``"mse"``, ``"mae"``, ``"huber"``, ``"log_loss"``, ``"logistic"``, ``"cross_entropy"``.
    w0 : float or array_like, shape (M,)
        Initial weights (finite).
    lr : float or array_like, shape (K,)
        Learning rates (>= 0).  float32 ``w0`` and ``lr`` run in float32.
    steps : int
        Maximum number of updates per run, at most 10**12.
    target, x : float
        The target of the loss and the input multiplying ``w`` (``u = w*x``).
    activation : str or Activation
        Applied to ``u`` before the loss (default identity).
    method : {"gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "newton"}
        The optimizer, as optax defines it (formulas in :mod:`fastgd.optimizers`), the same
        code as :func:`fastgd.fit`'s.  ``"gd"``: ``w <- w - lr*g``.  ``"momentum"``: heavy ball,
        ``v <- momentum*v + g``, ``w <- w - lr*v`` (v starts at 0).  ``"newton"``: the seed's
        ideal step ``w <- w - lr*g/f''(w)`` with ``f''`` by the chain rule; where
        ``f'' <= newton_min_curvature`` (not convex there, or nearly flat) that step is a
        gd step instead.  ``lr=1`` is the pure Newton step.
    schedule : Schedule, str or None
        A learning-rate multiplier from :mod:`fastgd.schedules` (or its CLI syntax, such as
        ``"cosine:500"``): the rate at update t is ``lr * schedule(t)``.
    momentum, b1, b2, eps, decay, weight_decay, initial_accumulator_value : float or array_like, optional
        The optimizer's hyperparameters, as in :func:`fastgd.fit` (None: optax's default).
        An array adds a grid axis: columns are then every (lr, hyperparameters) combination.
    tol : float, optional
        A run has converged when ``|dloss/dw| <= tol`` at its current weight: it stops and
        keeps that weight and step count.
    record_every : int
        Keep ``w`` and the loss every this many steps (0: no history).
    max_abs_w : float, optional
        A run diverges when an update makes ``|w|`` larger than this, or NaN/inf; default
        ``finfo(dtype).max ** 0.25`` (1.2e77 for float64, 4.3e9 for float32), so the loss
        stays finite; larger values are refused.  A run whose loss is not finite at the end is flagged too.
    newton_min_curvature : float
        See ``method``.
    max_history_bytes : int, optional
        Refuse histories larger than this; default a quarter of the available memory.
    progress : bool
        Show a tqdm progress bar over the rows (needs tqdm, the ``progress`` extra).  The
        kernel counts finished rows; a helper thread draws the bar once the run has taken
        0.1 s, then redraws it every 0.1 s (shorter runs show no bar).
    client : distributed.Client, optional
        Run the grid on this Dask cluster: the w0 rows are split into blocks of ``chunks``
        rows, each block one task running the same kernel on a worker; the result is
        bitwise equal to the local call's (every run is independent of the others).
        Needs the ``dask`` extra; ``progress`` is not available then.
    chunks : int, optional
        w0 rows per task with ``client`` (default: the rows split into 4 blocks per worker).

    Returns
    -------
    DescentResult
        Arrays of shape (M, K).  Diverged runs are flagged, never raised, and do not affect
        other runs; no floating-point warning reaches the caller.

    Examples
    --------
    >>> import fastgd
    >>> res = fastgd.descend("mse", [-2.0, 3.0], [0.1, 0.5, 1.5], steps=300, tol=1e-8)
    >>> res.converged.tolist()
    [[True, True, False], [True, True, False]]
    >>> res.diverged.tolist()
    [[False, False, True], [False, False, True]]

    See Also
    --------
    scipy.optimize.minimize_scalar : one run at a time.
    """
    loss = get_loss(loss)
    act = get_activation(activation)
    opt = get_optimizer(method)
    steps = v.steps(steps)
    record_every = v.integer(record_every, "record_every", minimum=0)
    w0_arr, lr_arr, dtype = v.float_arrays(w0, lr, ("w0", "lr"))
    w0_arr, lr_arr = v.vector(w0_arr, "w0"), v.vector(lr_arr, "lr")
    v.check_finite(w0_arr, "w0")
    lr_arr = v.learning_rates(lr_arr, dtype)
    x = v.real_param(x, "x", minimum=-np.inf, strict=True)
    target = v.real_param(target, "target", minimum=-np.inf, strict=True)
    for name, value in (("x", x), ("target", target)):
        if abs(value) > float(np.finfo(dtype).max):
            raise ValueError(f"{name}={value!r} does not fit in {dtype}; pass float64 w0 and lr, or a smaller {name}.")
        if value != 0 and abs(value) < float(np.finfo(dtype).smallest_subnormal):
            raise ValueError(f"{name}={value!r} rounds to 0 in {dtype}; pass float64 w0 and lr, or 0.")
    rng = loss.spec.target_range
    if rng is not None and not rng[0] <= target <= rng[1]:
        raise ValueError(f"target must be in [{rng[0]:g}, {rng[1]:g}] for {loss.name}; got {target}.")
    hp_axes = hyperparameter_grid(
        opt, dtype, momentum=momentum, b1=b1, b2=b2, eps=eps, decay=decay, weight_decay=weight_decay,
        initial_accumulator_value=initial_accumulator_value,
    )  # fmt: skip
    schedule = get_schedule(schedule)
    tol = v.tolerance(tol, dtype)
    bound = v.weight_bound(max_abs_w, dtype)
    min_curv = v.real_param(newton_min_curvature, "newton_min_curvature", minimum=0.0, strict=False)
    if w0_arr.size and np.abs(w0_arr).max() > bound:
        raise ValueError(
            f"w0 has entries beyond max_abs_w={bound:.3g}, where runs count as diverged; "
            f"start closer to the optimum or raise max_abs_w."
        )

    if client is None and chunks is not None:
        raise ValueError("chunks= splits the grid into tasks for client=; pass a dask.distributed Client too.")
    if client is not None:
        _dask.check_client(client)
        if progress:
            raise ValueError("progress=True is not available with client= (the runs are on the cluster's workers).")
        if chunks is not None:
            chunks = v.integer(chunks, "chunks", minimum=1)

    params, hp = model_grid([("lr", lr_arr), *hp_axes], hp_axes, dtype)
    lr_cols = params["lr"]
    # the distinct hyperparameter columns: the optimizer's step constants are computed once per group
    if (hp == hp[:1]).all():  # one group (plain gd, or no hyperparameter axis): no np.unique sort (0.1 ms)
        hpg, grp = hp[:1], np.zeros(hp.shape[0], np.int64)
    else:
        hpg, grp = np.unique(hp, axis=0, return_inverse=True)
    grp = np.ascontiguousarray(grp.reshape(-1), np.int64)
    hp, hpg = np.ascontiguousarray(hp.T), np.ascontiguousarray(hpg.T)  # (N_HYPER, K) and (N_HYPER, G), as kernels read
    M, K = w0_arr.size, lr_cols.size
    shape = (M, K)
    # w, its loss and gradient (on demand), n_steps and status for every run
    v.memory_fits(
        M * K * (3 * dtype.itemsize + 9),
        f"a grid of {M} w0 x {K} {'lr' if K == lr_arr.size else 'columns'} = {M * K} runs",
        "shrink the grid",
    )
    if record_every:
        n_rec = steps // record_every + 1
        v.history_fits(
            2 * n_rec * M * K * dtype.itemsize, max_history_bytes, f"{n_rec} records x {M} x {K} runs x 2 arrays"
        )
        hist_w, hist_l = np.empty((n_rec,) + shape, dtype), np.empty((n_rec,) + shape, dtype)
    else:
        hist_w = hist_l = np.empty((1, 1, 1), dtype)

    w = np.empty(shape, dtype)
    n_steps = np.empty(shape, np.int32 if steps < 2**31 else np.int64)
    status = np.empty(shape, np.int8)
    c = dtype.type

    x_arg, act_arg = _kernel_args(x, act, dtype)
    tol_arg = None if tol is None else c(tol)  # None compiles the convergence check out

    nblocks = min(M, BLOCKS_PER_THREAD * numba.get_num_threads())
    rows_done = np.zeros(max(nblocks, 1), np.int64)  # the progress bar's counters, one per block

    def run():
        # rows in compiled calls of about _progress.SLICE_SECONDS each, so Ctrl-C answers between
        # them; the first call has one row a thread, so that a call of long rows (many steps)
        # lasts one row's time, not the BLOCKS_PER_THREAD rows' of a full block round
        least = max(1, min(nblocks, numba.get_num_threads()))
        row, n = 0, least
        while row < M:
            t0 = time.perf_counter()
            call(row, min(M, row + n))
            row = min(M, row + n)
            n = _progress.next_slice(n, time.perf_counter() - t0, least)

    # the kernel's arguments before and after the initial weights (shared with the cluster's tasks)
    head = (loss, act_arg, opt, lr_cols, None if schedule is None else schedule.spec, x_arg, c(target), steps)
    tail = (tol_arg, c(bound), hp, hpg, grp, c(min_curv), record_every)

    def call(row0, row1):
        _rows(head, w0_arr, tail, nblocks, row0, row1, (w, n_steps, status, hist_w, hist_l), rows_done)

    if K and M and client is not None:
        blocks = _dask.row_blocks(client, M, chunks)
        results = _dask.map_blocks(client, _block, [(head, w0_arr[r0:r1], tail, n_steps.dtype) for r0, r1 in blocks])
        for (r0, r1), (bw, bn, bs, *bh) in zip(blocks, results, strict=True):
            w[r0:r1], n_steps[r0:r1], status[r0:r1] = bw, bn, bs
            if record_every:
                hist_w[:, r0:r1], hist_l[:, r0:r1] = bh
    elif K and M:
        if progress and M > 1:
            _progress.run_with_bar(run, rows_done, M, "w0")
        else:
            run()
    return DescentResult(
        w=w,
        n_steps=n_steps,
        status=status,
        w0=w0_arr,
        lr=lr_cols,
        loss_fn=loss,
        activation=act,
        x=x,
        target=target,
        method=opt.name,
        history_w=hist_w if record_every else None,
        history_loss=hist_l if record_every else None,
        record_every=record_every,
        params=params,
        schedule=schedule,
    )


def _rows(head, w0, tail, nblocks, row0, row1, outputs, rows_done):
    """``kd.descend_rows`` for the rows row0 <= i < row1 of ``w0``: (w, n_steps, status, hist_w, hist_l) filled."""
    kd.descend_rows(*head[:3], w0, *head[3:], *tail[:-1], nblocks, row0, row1, tail[-1], *outputs, rows_done)


def _block(head, w0, tail, n_dtype):
    """A task of ``descend(client=)``: the runs from the initial weights ``w0`` (a block of rows), in new arrays."""
    steps, record_every = head[-1], tail[-1]
    M, K = w0.size, head[3].size
    w, n_steps, status = np.empty((M, K), w0.dtype), np.empty((M, K), n_dtype), np.empty((M, K), np.int8)
    n_rec = steps // record_every + 1 if record_every else 1
    hist = np.empty((n_rec, M, K) if record_every else (1, 1, 1), w0.dtype)
    hist_l = np.empty_like(hist)
    nblocks = min(M, BLOCKS_PER_THREAD * numba.get_num_threads())
    _rows(head, w0, tail, nblocks, 0, M, (w, n_steps, status, hist, hist_l), np.zeros(max(nblocks, 1), np.int64))
    return (w, n_steps, status, hist, hist_l) if record_every else (w, n_steps, status)


def _kernel_args(x, act, dtype):
    """X == 1 and the identity activation go to the kernels as None: compiled out (the same bits)."""
    return (None if x == 1.0 else dtype.type(x)), (None if act.name == "identity" else act)

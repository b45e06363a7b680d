"""The monitor: which models still run, their history and the progress counter.

A model runs until its gradient is small (converged), or its cost is not finite
or an update would leave ``[-bound, bound]`` (diverged: it keeps its last good
coefficients), or, with early stopping, its held-out loss has not improved for
``patience`` checks (stopped early: ``EarlyStopping``, which runs between compiled
calls).  A stopped model is dropped from every later pass; its later
history entries are its final cost (``fill_stopped``).  This module knows
nothing of the data or of the update rule.
"""

import numpy as np

from ._jit import jit_helper

RUNNING, CONVERGED, DIVERGED, STOPPED_EARLY = 0, 1, 2, 3


@jit_helper
def live_models(models, status, live):
    """live[:L] <- the models of ``models`` still running, in order; returns L."""
    L = 0
    for m in models:
        if status[m] == RUNNING:
            live[L] = m
            L += 1
    return L


@jit_helper
def losses_provably_finite(sums_z2, L, z2_max):
    """True where every live model's sum of z^2 is at most ``z2_max`` (NaN fails).

    Then every |z| is at most ``finfo.max ** 0.25`` and, with |y| as small, every loss
    is finite (the largest, MSE's, is below 5 finfo.max ** 0.5): a pass may skip the
    loss values (a log per row and model for the log losses).  Otherwise the pass is
    run again with them.
    """
    for i in range(L):
        if not sums_z2[i] <= z2_max:
            return False
    return True


@jit_helper
def is_recorded(step, record_every):
    return record_every > 0 and step % record_every == 0


@jit_helper
def gradient_small(g, A, tol):
    """Euclidean norm of g[:A], in float64, at most ``tol``."""
    s = 0.0
    for a in range(A):
        s += np.float64(g[a]) * np.float64(g[a])
    return np.sqrt(s) <= tol


@jit_helper
def stop(status, stopped_at, m, step, code):
    status[m] = code
    stopped_at[m] = step


def fill_stopped(history, stopped_at, record_every, final_cost):
    """History entries recorded after a model stopped become its final cost (it stood still since)."""
    if history is None:
        return
    # model by model: no temporary the size of the history
    for m in np.flatnonzero(stopped_at < (history.shape[1] - 1) * record_every):
        history[m, int(stopped_at[m]) // record_every + 1 :] = final_cost[m]


class EarlyStopping:
    """Stop models whose held-out loss has not improved for ``patience`` checks; keep their best coefficients.

    ``update`` is called at every check with the held-out mean loss of the running
    watched models; ``restore(W)`` puts every watched model's best coefficients back at
    the end.  NaN never improves.
    """

    def __init__(self, W, watched, patience):
        self.watched, self.patience = watched, patience
        self.best = np.full(W.shape[0], np.inf)
        self.best_W = W.copy()
        self.since = np.zeros(W.shape[0], np.int64)

    def update(self, models, loss, W, status, stopped_at, step):
        better = loss < self.best[models]
        up = models[better]
        self.best[up], self.best_W[up], self.since[up] = loss[better], W[up], 0
        worse = models[~better]
        self.since[worse] += 1
        tired = worse[self.since[worse] >= self.patience]
        status[tired] = STOPPED_EARLY
        stopped_at[tired] = step

    STATE = ("best", "best_W", "since")

    def state(self):
        """The arrays a resumed fit needs (``_checkpoint``), prefixed ``stop_``."""
        return {"stop_" + k: getattr(self, k) for k in self.STATE}

    def load_state(self, state):
        for k in self.STATE:
            getattr(self, k)[...] = state["stop_" + k]

    def restore(self, W):
        """Every watched model's best coefficients back into W (where any check was finite); which ones."""
        m = self.watched[np.isfinite(self.best[self.watched])]
        W[m] = self.best_W[m]
        return m

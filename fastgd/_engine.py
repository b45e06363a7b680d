"""The fit engine: a gradient source, an optimizer and a monitor, joined in one compiled step loop.

The three parts know nothing of each other:

* ``_source``: partial sums of cost, gradient (and curvature) over some rows;
* ``_optim``: each optimizer's state and update, scalar formulas typed like a loss;
* ``_monitor``: statuses, history, progress.

A step of every live model: sums over the step's rows (the whole data or a
mini-batch), then per model its cost, its gradient ``G / n + l2 w``, the
monitor's checks and the optimizer's update.  A model is K rows of ``W``
(P K, D + 1), the intercept last: K = 1 for a linear predictor, K classes for the
multinomial (softmax) model; statuses, steps and costs are per model, and a
model's rows stop together.

Two compiled loops, the same bits (``_source`` makes a model's sums independent
of its position and of who computes which chunk):

* ``run_sets``: one task per thread, each owning a set of models (``_model_sets``)
  and its own batch stream, running every step for them; no synchronisation
  between steps, so small and mini-batch problems never wait for a parallel launch.
* ``run_rows``: one loop of steps, each a parallel pass over the row chunks;
  for few models on many rows.

``Run`` (plain Python) holds a fit's state and calls a loop for as many steps as
take about ``_progress.SLICE_SECONDS``, so Ctrl-C and the progress bar answer between
slices; the same parts can also be called one step at a time (``Run.step_by_parts``):
partial sums per chunk, summed in order, then ``update_counted`` -- what a driver
outside numba composes.
"""

import time

import numba
import numpy as np
from numba import prange
from numba.extending import overload

from . import _extending as fx
from . import _monitor as mon
from . import _progress
from . import _schedules as ks
from . import _source as src
from ._jit import jit_helper, jit_kernel
from ._libm import const
from ._optim import N_HYPER, OPTIMIZERS, USES_HESSIAN, newton_solve

MODE = None  # "sets" or "rows" to force a loop (benchmarks, tests); None picks
XT_MAX_BYTES = 2**30  # full-batch fits keep a transposed copy of X up to this size (15% faster steps)


@jit_helper
def _cost(csum, nr, W, m, l2m):
    """Mean loss over nr rows plus (l2 / 2) ||w||^2 (the intercept is not penalised; no rows: no loss)."""
    D = W.shape[1] - 1
    pen = W[m, 0] * 0
    for d in range(D):
        pen += W[m, d] * W[m, d]
    return csum / const(csum, max(nr, 1)) + const(csum, 0.5) * l2m * pen


@jit_helper
def _add_lower(H, Hc, A):
    """H += Hc on the lower triangle of A x A (a chunk's curvature sums, added in chunk order)."""
    for p in range(A):
        for q in range(p + 1):
            H[p, q] += Hc[p, q]


@jit_helper
def _mean_plus_ridge(H, A, nm, l2m, D):
    """H (lower triangle, A x A) <- H / nm + l2 on the weights' diagonal (entry p is a weight where p % (D + 1) < D)."""
    inv = const(H[0, 0], 1.0) / const(H[0, 0], max(nm, 1))
    for p in range(A):
        for q in range(p + 1):
            H[p, q] *= inv
        if p % (D + 1) < D:
            H[p, p] += l2m


@jit_helper
def _softmax_newton_direction(X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, dvec, H, Hc, xt):
    """Newton's direction for the multinomial model m (K rows of W): dvec <- H^-1 dvec; False where not PD.

    H (K (D + 1))^2 over the step's rows outside the model's fold.  The softmax is
    unchanged when every class's intercept moves by the same amount (and, without L2,
    every class's weight of a feature): H is singular along those directions u, and the
    gradient is orthogonal to them, so H + u u^T (for each such u, with unit entries
    scaled by 1/K) has the same solution there and is positive definite.  Without an
    intercept its entries get the identity (and a 0 gradient: no step).
    """
    D = X.shape[1]
    A = D + 1
    KA = K * A
    C = src.n_chunks(nr)
    src.zero_lower(H, KA)
    for c in range(C):
        lo, hi = src.chunk_bounds(nr, c, C)
        src.chunk_hessian_softmax(X, y, rows, lo, hi, W, m * K, K, Hc, xt, excl, bit)
        _add_lower(H, Hc, KA)
    _mean_plus_ridge(H, KA, nm, l2m, D)
    u = const(H[0, 0], 1.0) / const(H[0, 0], K)
    for a in range(A):
        if a == D and not fit_intercept:
            for k in range(K):
                p = k * A + D
                for q in range(p + 1):
                    H[p, q] = 0
                for q in range(p + 1, KA):
                    H[q, p] = 0
                H[p, p] = 1
                dvec[p] = 0
        elif a == D or l2m == 0:
            for k in range(K):
                for k2 in range(k + 1):
                    H[k * A + a, k2 * A + a] += u
    return newton_solve(H, dvec, KA)


@jit_helper
def _newton_direction(loss, act, X, y, rows, nr, nm, excl, bit, W, m, l2m, fit_intercept, dvec, H, Hc, xt):
    """Dvec <- H^-1 dvec for model m (H over the step's nr rows outside its fold, nm of them); False where not PD."""
    D = X.shape[1]
    A = D + 1 if fit_intercept else D
    C = src.n_chunks(nr)
    src.zero_lower(H, A)
    for c in range(C):
        lo, hi = src.chunk_bounds(nr, c, C)
        src.chunk_hessian(loss, act, X, y, rows, lo, hi, W[m], W[m, D], Hc, A, xt, excl, bit)
        _add_lower(H, Hc, A)
    _mean_plus_ridge(H, A, nm, l2m, D)
    return newton_solve(H, dvec, A)


def _newton(opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt):
    if not _newton_direction(loss, act, X, y, rows, nr, nm, excl, bit, W, m, l2m, fit_intercept, dvec, H, Hc, xt):
        for a in range(dvec.size):  # not positive definite: a gd step
            dvec[a] = g[a]
    if not fit_intercept:
        dvec[dvec.size - 1] = g[dvec.size - 1]


def _newton_softmax(opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt):
    if not _softmax_newton_direction(X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, dvec, H, Hc, xt):
        for a in range(dvec.size):  # not positive definite: a gd step
            dvec[a] = g[a]


def _precondition(opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt):
    """Set dvec to the direction the optimizer updates along: Newton's H^-1 g, or g itself.

    Compiled, the choice is made at compile time (below); this body runs with the JIT off.
    """
    if USES_HESSIAN[opt.name]:
        newton = _newton_softmax if loss.name == src.Softmax.name else _newton
        newton(opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt)


@overload(_precondition, inline="always")
def _ov_precondition(opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt):
    if not USES_HESSIAN[opt.formula_name]:  # nothing to compile: the Hessian code is not typed at all
        return lambda opt, loss, act, X, y, rows, nr, nm, excl, bit, W, m, K, l2m, fit_intercept, g, dvec, H, Hc, xt: (
            None
        )
    return _newton_softmax if loss.formula_name == src.Softmax.name else _newton


@jit_helper
def _update_live(
    loss,
    act,
    opt,
    X,
    y,
    rows,
    nr,
    excl,
    folds,
    cnt,
    live,
    L,
    Gt,
    gbt,
    ct,
    exact,
    s,
    steps,
    record_every,
    W,
    S,
    hp,
    lr,
    lr_sched,
    l2,
    fit_intercept,
    tol,
    bound,
    status,
    n_steps,
    stopped_at,
    history,
    last_cost,
    scratch,
):
    """Monitor and optimizer for the L live models, given their sums over the step's rows.

    Model m's sums ran over the cnt[folds[m]] of the step's nr rows outside its fold
    (``_source.count_rows``).  ``scratch`` is ``_update_scratch``'s tuple, allocated
    once per compiled call.
    """
    g, dvec, wn, sn0, sn1, H, Hc, xt = scratch
    D = X.shape[1]
    K = W.shape[0] // status.size  # rows of W a model
    A = D + 1
    KA = K * A
    # (K, A) views: indexed [k, a] by a range's variable, the loops below load and store
    # contiguous vectors.  Indexed g[k * A + a], the index might be negative for numba (a
    # wraparound select), so LLVM gathered and scattered: 8.0 -> 4.5 us for 64 models' update
    g2, d2, wn2, s02, s12 = (
        g.reshape((K, A)),
        dvec.reshape((K, A)),
        wn.reshape((K, A)),
        sn0.reshape((K, A)),
        sn1.reshape((K, A)),
    )
    mult = ks.multiplier(lr_sched, s)  # the schedule: a model's step s is its update s
    for i in range(L):
        m = live[i]
        nm = cnt[folds[m]]
        cost = _cost(ct[i * K], nm, W, m * K, l2[m])
        for k in range(1, K):  # the other classes' rows: their penalties (their loss sums are 0)
            cost += _cost(ct[i * K + k], nm, W, m * K + k, l2[m])
        if exact:
            finite = abs(cost) < np.inf
        else:  # ct holds sums of z^2, proven small: only the penalty can overflow (K = 1)
            pen = _cost(ct[i] * 0, nm, W, m, l2[m])
            finite = abs(pen) < np.inf
        if mon.is_recorded(s, record_every):
            history[m, s // record_every] = cost
        if s == steps:
            last_cost[m] = cost
            continue
        if not finite:
            mon.stop(status, stopped_at, m, s, mon.DIVERGED)
            continue
        inv = const(cost, 1.0) / const(cost, max(nm, 1))
        for k in range(K):
            r, ii = m * K + k, i * K + k
            for d in range(D):
                g2[k, d] = Gt[ii, d] * inv + l2[m] * W[r, d]
            g2[k, D] = gbt[ii] * inv if fit_intercept else gbt[ii] * 0
        if tol >= 0 and mon.gradient_small(g, KA, tol):  # a negative tol: none given
            mon.stop(status, stopped_at, m, s, mon.CONVERGED)
            continue
        for a in range(KA):
            dvec[a] = g[a]
        _precondition(
            opt, loss, act, X, y, rows, nr, nm, excl, folds[m], W, m, K, l2[m], fit_intercept, g, dvec, H, Hc, xt
        )
        ok = True
        rate = lr[m] * const(lr[m], mult)  # x 1.0 without a schedule: the same bits
        c0, c1 = fx.prepare(opt, hp[m, 0], hp[m, 1], hp[m, 2], hp[m, 3], n_steps[m])  # once a model and step
        for k in range(K):
            r = m * K + k
            for a in range(A):
                d, q0, q1 = fx.update(
                    opt, d2[k, a], W[r, a], S[r, 0, a], S[r, 1, a], hp[m, 0], hp[m, 1], hp[m, 2], hp[m, 3], c0, c1
                )
                w = W[r, a] - rate * d
                wn2[k, a] = w
                s02[k, a] = q0
                s12[k, a] = q1
                ok &= abs(w) <= bound  # NaN fails; & rather than `and`: no branch in the loop
        if ok:
            for k in range(K):
                r = m * K + k
                for a in range(A):
                    W[r, a] = wn2[k, a]
                    S[r, 0, a] = s02[k, a]
                    S[r, 1, a] = s12[k, a]
            n_steps[m] += 1
        else:
            mon.stop(status, stopped_at, m, s, mon.DIVERGED)


@jit_helper
def _gather(W, folds, live, L, K, Wl, bl, fl):
    """The L live models' K rows each, packed: Wl (L K, D), bl, and each row's fold fl."""
    D = Wl.shape[1]
    for i in range(L):
        m = live[i]
        for k in range(K):
            r, ii = m * K + k, i * K + k
            fl[ii] = folds[m]
            for d in range(D):
                Wl[ii, d] = W[r, d]
            bl[ii] = W[r, D]


@jit_helper
def _serial_sums(
    loss, act, exact, X, XT, y, rows, nr, excl, Wl, bl, fl, L, Gt, gbt, ct, Gc, gbc, cc, Xt, Zt, yb, eb, K
):
    """Sums over the step's rows for the L rows of Wl (models of K rows), chunk after chunk."""
    D = X.shape[1]
    C = src.n_chunks(nr)
    for i in range(L):
        for d in range(D):
            Gt[i, d] = 0
        gbt[i] = 0
        ct[i] = 0
    for c in range(C):
        lo, hi = src.chunk_bounds(nr, c, C)
        src.chunk_sums(loss, act, exact, X, XT, y, rows, lo, hi, Wl, bl, L, Gc, gbc, cc, Xt, Zt, yb, excl, fl, eb, K)
        src.add_sums(L, D, Gc, gbc, cc, Gt, gbt, ct)


@jit_helper
def _update_scratch(opt, A, dt):
    """Per-model work arrays of ``_update_live``: gradient, direction, new w, new state, Newton's matrices."""
    na = A if fx.uses_hessian(opt) else 1
    return (
        np.empty(A, dt),
        np.empty(A, dt),
        np.empty(A, dt),
        np.empty(A, dt),
        np.empty(A, dt),
        np.empty((na, na), dt),
        np.empty((na, na), dt),
        np.empty(na, dt),
    )


@jit_helper
def _rows_buffer(n, batch):
    """The rows of a step for ``_step_rows``: a batch's, or every row in order (batch 0)."""
    return np.empty(batch, np.int64) if batch > 0 else np.arange(n)


@jit_helper
def _step_rows(seed, batch, s, perm, epoch, rows):
    """The rows of step s: a mini-batch of the shuffled stream, or every row in order (batch 0)."""
    if batch > 0:
        src.batch_rows(seed, perm.size, batch, s, perm, epoch, rows)
    return rows.size


@jit_helper
def _run_set(
    loss,
    act,
    opt,
    X,
    XT,
    y,
    excl,
    folds,
    F,
    seed,
    batch,
    perm,
    epoch,
    s0,
    s1,
    steps,
    record_every,
    models,
    W,
    S,
    hp,
    lr,
    lr_sched,
    l2,
    fit_intercept,
    tol,
    bound,
    z2_max,
    y_small,
    status,
    n_steps,
    stopped_at,
    history,
    last_cost,
    progress,
    slot,
):
    """Steps s0 .. s1 - 1 of the models ``models``, every row pass in this thread."""
    n, D = X.shape
    K = W.shape[0] // status.size
    A = D + 1
    Ps = models.size
    R = Ps * K  # rows of W
    dt = X.dtype
    live = np.empty(Ps, np.int64)
    Wl = np.empty((R, D), dt)
    bl = np.empty(R, dt)
    Gt = np.empty((R, D), dt)
    gbt = np.empty(R, dt)
    ct = np.empty(R, dt)
    Gc = np.empty((R, D), dt)
    gbc = np.empty(R, dt)
    cc = np.empty(R, dt)
    Xt = np.empty((D, src.BLOCK), dt)
    Zt = np.empty((R + 1, src.BLOCK), dt)  # a spare row: see _source._forward
    yb = np.empty(src.BLOCK, dt)
    fl = np.empty(R, np.int64)
    eb = np.empty(src.BLOCK, np.int64)
    cnt = np.empty(src.ALL + 1, np.int64)
    scratch = _update_scratch(opt, K * A, dt)
    rows = _rows_buffer(n, batch)
    for s in range(s0, s1):
        L = mon.live_models(models, status, live)
        if L == 0:
            break
        nr = _step_rows(seed, batch, s, perm, epoch, rows)
        if s == s0 or batch > 0:
            src.count_rows(excl, rows, nr, F, cnt)
        _gather(W, folds, live, L, K, Wl, bl, fl)
        exact = mon.is_recorded(s, record_every) or s == steps or not y_small
        for _attempt in range(2):  # a second pass, with the losses, if z^2 does not prove them finite
            _serial_sums(
                loss, act, exact, X, XT, y, rows, nr, excl, Wl, bl, fl, L * K, Gt, gbt, ct, Gc, gbc, cc, Xt, Zt, yb, eb,
                K,
            )  # fmt: skip
            if exact or mon.losses_provably_finite(ct, L * K, z2_max):
                break
            exact = True
        _update_live(
            loss,
            act,
            opt,
            X,
            y,
            rows,
            nr,
            excl,
            folds,
            cnt,
            live,
            L,
            Gt,
            gbt,
            ct,
            exact,
            s,
            steps,
            record_every,
            W,
            S,
            hp,
            lr,
            lr_sched,
            l2,
            fit_intercept,
            tol,
            bound,
            status,
            n_steps,
            stopped_at,
            history,
            last_cost,
            scratch,
        )
        progress[slot] += 1


@jit_kernel(parallel=True)
def run_sets(
    loss,
    act,
    opt,
    X,
    XT,
    y,
    excl,
    folds,
    F,
    seed,
    batch,
    perms,
    epochs,
    s0,
    s1,
    steps,
    record_every,
    sets,
    set_start,
    W,
    S,
    hp,
    lr,
    lr_sched,
    l2,
    fit_intercept,
    tol,
    bound,
    z2_max,
    y_small,
    status,
    n_steps,
    stopped_at,
    history,
    last_cost,
    progress,
):
    """Steps s0 .. s1 - 1, a task per model set (sets[set_start[t]:set_start[t + 1]]) and its batch stream."""
    for t in prange(set_start.size - 1):
        _run_set(
            loss,
            act,
            opt,
            X,
            XT,
            y,
            excl,
            folds,
            F,
            seed,
            batch,
            perms[t],
            epochs[t : t + 1],
            s0,
            s1,
            steps,
            record_every,
            sets[set_start[t] : set_start[t + 1]],
            W,
            S,
            hp,
            lr,
            lr_sched,
            l2,
            fit_intercept,
            tol,
            bound,
            z2_max,
            y_small,
            status,
            n_steps,
            stopped_at,
            history,
            last_cost,
            progress,
            np.int64(t),  # the parfor's index is unsigned: as it is, _run_set (the whole step) compiled twice
        )


@jit_kernel(parallel=True)
def run_rows(
    loss,
    act,
    opt,
    X,
    XT,
    y,
    excl,
    folds,
    F,
    seed,
    batch,
    perms,
    epochs,
    s0,
    s1,
    steps,
    record_every,
    W,
    S,
    hp,
    lr,
    lr_sched,
    l2,
    fit_intercept,
    tol,
    bound,
    z2_max,
    y_small,
    status,
    n_steps,
    stopped_at,
    history,
    last_cost,
    progress,
):
    """Steps s0 .. s1 - 1 of every model, each step's row chunks in parallel (not for Newton); one batch stream."""
    perm, epoch = perms[0], epochs[0:1]
    n, D = X.shape
    A = D + 1
    P = W.shape[0]  # rows of W: models x K
    K = P // status.size
    dt = X.dtype
    nr0 = batch if batch > 0 else n
    C = src.n_chunks(nr0)
    models = np.arange(status.size)
    live = np.empty(status.size, np.int64)
    Wl = np.empty((P, D), dt)
    bl = np.empty(P, dt)
    Gt = np.empty((P, D), dt)
    gbt = np.empty(P, dt)
    ct = np.empty(P, dt)
    G_acc = np.empty((C, P, D), dt)
    gb_acc = np.empty((C, P), dt)
    c_acc = np.empty((C, P), dt)
    Xbuf = np.empty((C, D, src.BLOCK), dt)
    Zbuf = np.empty((C, P + 1, src.BLOCK), dt)
    Ybuf = np.empty((C, src.BLOCK), dt)
    Ebuf = np.empty((C, src.BLOCK), np.int64)
    fl = np.empty(P, np.int64)
    cnt = np.empty(src.ALL + 1, np.int64)
    scratch = _update_scratch(opt, K * A, dt)
    rows = _rows_buffer(n, batch)
    for s in range(s0, s1):
        L = mon.live_models(models, status, live)
        if L == 0:
            break
        nr = _step_rows(seed, batch, s, perm, epoch, rows)
        if s == s0 or batch > 0:
            src.count_rows(excl, rows, nr, F, cnt)
        _gather(W, folds, live, L, K, Wl, bl, fl)
        LK = L * K
        exact = mon.is_recorded(s, record_every) or s == steps or not y_small
        for _attempt in range(2):  # a second pass, with the losses, if z^2 does not prove them finite
            for c in prange(C):
                lo, hi = src.chunk_bounds(nr, np.int64(c), C)  # signed, as in the serial typing: one compile
                src.chunk_sums(
                    loss,
                    act,
                    exact,
                    X,
                    XT,
                    y,
                    rows,
                    lo,
                    hi,
                    Wl,
                    bl,
                    LK,
                    G_acc[c],
                    gb_acc[c],
                    c_acc[c],
                    Xbuf[c],
                    Zbuf[c],
                    Ybuf[c],
                    excl,
                    fl,
                    Ebuf[c],
                    K,
                )
            for i in range(LK):
                for d in range(D):
                    Gt[i, d] = 0
                gbt[i] = 0
                ct[i] = 0
            for c in range(C):
                src.add_sums(LK, D, G_acc[c], gb_acc[c], c_acc[c], Gt, gbt, ct)
            if exact or mon.losses_provably_finite(ct, LK, z2_max):
                break
            exact = True
        _update_live(
            loss,
            act,
            opt,
            X,
            y,
            rows,
            nr,
            excl,
            folds,
            cnt,
            live,
            L,
            Gt,
            gbt,
            ct,
            exact,
            s,
            steps,
            record_every,
            W,
            S,
            hp,
            lr,
            lr_sched,
            l2,
            fit_intercept,
            tol,
            bound,
            status,
            n_steps,
            stopped_at,
            history,
            last_cost,
            scratch,
        )
        progress[0] += 1


@jit_kernel
def update_counted(
    loss,
    act,
    opt,
    X,
    y,
    rows,
    nr,
    excl,
    folds,
    cnt,
    live,
    Gt,
    gbt,
    ct,
    exact,
    s,
    steps,
    record_every,
    W,
    S,
    hp,
    lr,
    lr_sched,
    l2,
    fit_intercept,
    tol,
    bound,
    status,
    n_steps,
    stopped_at,
    history,
    last_cost,
):
    """One step's monitor and optimizer for the models ``live``, from their summed sums (one step at a time).

    The step ran over ``nr`` rows, of which fold f trained on cnt[f] (``counts``).  X,
    y and ``rows`` are read by Newton's Hessian only: a driver without X in memory (Dask)
    passes empty ones with a first-order optimizer.
    """
    scratch = _update_scratch(opt, (W.shape[0] // status.size) * W.shape[1], X.dtype)
    _update_live(
        loss,
        act,
        opt,
        X,
        y,
        rows,
        nr,
        excl,
        folds,
        cnt,
        live,
        live.size,
        Gt,
        gbt,
        ct,
        exact,
        s,
        steps,
        record_every,
        W,
        S,
        hp,
        lr,
        lr_sched,
        l2,
        fit_intercept,
        tol,
        bound,
        status,
        n_steps,
        stopped_at,
        history,
        last_cost,
        scratch,
    )


@jit_kernel
def counts(excl, rows, F):
    """How many of ``rows`` each fold trains on, (ALL + 1,) (``_source.count_rows``)."""
    cnt = np.empty(src.ALL + 1, np.int64)
    src.count_rows(excl, rows, rows.size, F, cnt)
    return cnt


@jit_kernel
def costs(W, l2, models, ct, folds, cnt, out):
    """out[m] <- the cost of each model of ``models`` from its rows' summed losses ct[i K + k] (cnt: ``counts``)."""
    K = W.shape[0] // out.size
    for i in range(models.size):
        m = models[i]
        c = _cost(ct[i * K], cnt[folds[m]], W, m * K, l2[m])
        for k in range(1, K):
            c += _cost(ct[i * K + k], cnt[folds[m]], W, m * K + k, l2[m])
        out[m] = c


def summed(kernel, loss, act, exact, X, XT, y, rows, Wl, b, excl, folds, grad=True, K=1):
    """Chunk-by-chunk sums over ``rows`` for the rows (Wl, b, folds), added in chunk order: (G, gb, cost sums).

    ``kernel`` is ``_source.partial_sums`` or its serial twin (the same bits); ``grad=False``:
    the costs alone (G has no columns), at about half the work.  A model is K rows.
    """
    P, D = Wl.shape
    C = src.n_chunks.py_func(rows.size)  # from Python: a helper is never cached, compiled in every process
    dt = X.dtype
    G, gb, cs = np.empty((C, P, D if grad else 0), dt), np.empty((C, P), dt), np.empty((C, P), dt)
    kernel(loss, act, exact, X, XT, y, rows, Wl, b, excl, folds, G, gb, cs, K)
    Gt, gbt, ct = np.zeros((P, G.shape[2]), dt), np.zeros(P, dt), np.zeros(P, dt)
    for c in range(C):  # in chunk order, as the compiled loops add them
        Gt += G[c]
        gbt += gb[c]
        ct += cs[c]
    return Gt, gbt, ct


@jit_kernel
def stream_rows(seed, n, batch, s0, s1, out):
    """Out (s1 - s0, batch) <- the mini-batch rows of steps s0 .. s1 - 1 (for tests and outside drivers)."""
    perm, epoch = np.empty(n, np.int64), np.full(1, -1, np.int64)  # no epoch shuffled yet
    for s in range(s0, s1):
        src.batch_rows(seed, n, batch, s, perm, epoch, out[s - s0])


def _model_sets(P, threads):
    """Each thread's models: runs of up to 8 consecutive models, dealt round-robin.

    Dealt out, the high learning rates (the first to diverge and stop) spread over the
    threads.  Dealt one model at a time, every 64-byte line of W, S and the step counts
    held two threads' models and moved between cores at each step (mini-batch SGD with
    64 models on 2 threads: 25 -> 21 us a step with runs of 8).
    """
    run = max(1, min(8, P // (2 * threads)))
    owner = (np.arange(P) // run) % threads  # run r of models goes to thread r mod threads
    return [np.flatnonzero(owner == t) for t in range(threads)]


class Run:
    """A fit in progress: every model's coefficients, optimizer state and monitor state.

    Parameters are validated by the caller (``fit``); arrays are C-contiguous and of
    X's dtype.  ``hp`` is (P, N_HYPER): each model's optimizer hyperparameters;
    ``schedule`` a ``fastgd.schedules.Schedule`` or None.  ``folds`` is None (every
    model sees every row) or ``(excl, fold)``: excl (n,) int64, bit f set where fold f
    holds row i out; fold (P,) int64, each model's fold (``_source.ALL``: every row).
    ``outputs`` is K, the rows of ``W`` a model has: 1, or the classes of a multinomial
    model (y then holds class codes 0 .. K - 1, and the loss is the softmax's).
    """

    def __init__(
        self,
        loss,
        act,
        opt,
        X,
        y,
        lr,
        l2,
        hp,
        *,
        schedule=None,
        fit_intercept,
        steps,
        tol,
        bound,
        batch_size,
        seed,
        record_every,
        folds=None,
        outputs=1,
    ):
        P, D = lr.size, X.shape[1]
        K = self.K = outputs
        dt = X.dtype
        c = dt.type
        self.loss, self.act, self.opt, self.X, self.y = loss, act, opt, X, y
        self.n_rows = X.shape[0]
        self.lr, self.l2 = lr, l2
        if folds is None:
            self.excl, self.folds = np.zeros(0, np.int64), np.full(P, src.ALL, np.int64)
        else:
            self.excl, self.folds = (np.ascontiguousarray(a, np.int64) for a in folds)
        self.F = int(self.folds[self.folds < src.ALL].max(initial=-1)) + 1
        self.hp = np.zeros((P, N_HYPER), dt)
        self.hp[:, : hp.shape[1]] = hp
        self.fit_intercept, self.steps, self.record_every = fit_intercept, steps, record_every
        self.tol = None if tol is None else c(tol)
        self.bound = c(bound)
        self.batch = 0 if batch_size is None else batch_size
        self.seed = 0 if seed is None else seed
        z_max = float(np.finfo(dt).max) ** 0.25
        self.z2_max = c(z_max * z_max)
        self.y_small = K == 1 and bool(np.all(np.abs(y) <= z_max))  # softmax losses are always summed
        self.W = np.zeros((P * K, D + 1), dt)
        self.lr_sched = None if schedule is None else schedule.spec
        self.S = np.zeros((P * K, 2, D + 1), dt)
        hp_rows = np.repeat(self.hp, K, axis=0)
        # the optimizer's initial state: its formula evaluated by NumPy (py_func), not compiled for
        # these 2-D arrays in every process (a formula is never cached: 0.8 s at each first fit)
        s0, s1 = OPTIMIZERS[opt.name][1].py_func(*(hp_rows[:, j : j + 1] for j in range(N_HYPER)))
        self.S[:, 0, :], self.S[:, 1, :] = s0, s1
        self.status = np.zeros(P, np.int8)
        self.n_steps = np.zeros(P, np.int64)
        self.stopped_at = np.full(P, steps, np.int64)
        n_rec = steps // record_every + 1 if record_every else 0
        self.history = np.zeros((P, n_rec), dt) if record_every else np.zeros((P, 1), dt)
        self.last_cost = np.full(P, np.nan, dt)
        self.XT = np.empty((0, D, src.BLOCK), dt)  # X's blocks, transposed: full-batch passes read, never gather
        if not self.batch and X.nbytes <= XT_MAX_BYTES:
            self.XT = src.transposed_blocks(X)
        self.step = 0  # the next step to run (steps + 1 when done: step `steps` only computes the cost)
        self.mode = self._pick_mode()
        threads = 1 if self.mode == "rows" else max(1, min(numba.get_num_threads(), P))
        sets = _model_sets(P, threads)
        self.sets = np.concatenate(sets)
        self.set_start = np.cumsum([0] + [s.size for s in sets])
        self.progress = np.zeros(threads, np.int64)  # steps done, one counter per task
        # each task's batch stream: the permutation of epoch epochs[t], kept between compiled
        # calls (reshuffled in each call, it cost 4% of a 3000-step SGD fit run in 10 calls)
        self.perms = np.empty((threads, self.n_rows if self.batch else 0), np.int64)
        self.epochs = np.full(threads, -1, np.int64)

    def _pick_mode(self):
        if MODE is not None:
            return MODE
        rows = self.batch or self.X.shape[0]
        P = self.lr.size
        few_models = P < 2 * numba.get_num_threads()
        if self.opt.uses_hessian or src.n_chunks.py_func(rows) == 1 or not few_models:  # (py_func: see summed)
            return "sets"
        return "rows"

    def _args(self):
        # always an array and a float, so that fits with and without a schedule or tol run the
        # same compiled code (one specialization, not four); a negative tol never stops a model
        sched = ks.NONE if self.lr_sched is None else self.lr_sched
        tol = self.X.dtype.type(-1) if self.tol is None else self.tol
        return (self.W, self.S, self.hp, self.lr, sched, self.l2, self.fit_intercept, tol, self.bound)

    def _monitor(self):
        return (self.status, self.n_steps, self.stopped_at, self.history, self.last_cost)

    def advance(self, n):
        """Run the next ``n`` steps in one compiled call."""
        s0, s1 = self.step, min(self.step + n, self.steps + 1)
        head = (
            self.loss,
            self.act,
            self.opt,
            self.X,
            self.XT,
            self.y,
            self.excl,
            self.folds,
            self.F,
            self.seed,
            self.batch,
            self.perms,
            self.epochs,
            s0,
            s1,
            self.steps,
            self.record_every,
        )
        if self.mode == "rows":
            run_rows(*head, *self._args(), self.z2_max, self.y_small, *self._monitor(), self.progress)
        else:
            run_sets(
                *head,
                self.sets,
                self.set_start,
                *self._args(),
                self.z2_max,
                self.y_small,
                *self._monitor(),
                self.progress,
            )
        self.step = s1

    def running(self):
        return self.step <= self.steps and bool((self.status == mon.RUNNING).any())

    def run(self, *checks):
        """Every remaining step, in compiled calls of about _progress.SLICE_SECONDS each.

        Each ``(check, every)`` pair is a monitor outside the compiled loop: ``check(self)``
        is called whenever the step count reaches a multiple of ``every`` (early stopping on
        held-out rows, checkpoints).  A call never runs past the next such step.
        """
        n = 4
        while self.running():
            t0 = time.perf_counter()
            self.advance(min([n] + [every - self.step % every for _, every in checks]))
            for check, every in checks:
                if self.step % every == 0:
                    check(self)
            n = _progress.next_slice(n, time.perf_counter() - t0)

    def rows_of(self, s):
        """The rows of step s (all of them in order for full-batch descent)."""
        if not self.batch:
            return self.all_rows()
        out = np.empty((1, self.batch), np.int64)
        stream_rows(self.seed, self.n_rows, self.batch, s, s + 1, out)
        return out[0]

    def model_rows(self, models):
        """The rows of W that hold ``models`` (K a model, in order)."""
        return (np.asarray(models)[:, None] * self.K + np.arange(self.K)).ravel()

    def model_W(self):
        """W as (P, K (D + 1)): a model's coefficients in one row (a view)."""
        return self.W.reshape(self.status.size, -1)

    def sums(self, rows, models, exact, grad=True, every_row=False):
        """Chunk-by-chunk sums over ``rows`` for ``models``' rows of W, added in chunk order: (G, gb, cost sums).

        ``grad=False``: the costs alone (G has no columns), at about half the work.
        ``every_row``: over all of ``rows``, even those the models' folds hold out.
        """
        D = self.X.shape[1]
        r = self.model_rows(models)
        Wl = np.ascontiguousarray(self.W[r, :D])
        XT = self.XT if rows.size == self.X.shape[0] and not self.batch else self.XT[:0]
        b = self.W[r, D].copy()
        folds = np.full(models.size, src.ALL, np.int64) if every_row else self.folds[models]
        folds = np.repeat(folds, self.K)
        args = (self.loss, self.act, exact, self.X, XT, self.y, rows, Wl, b, self.excl, folds, grad, self.K)
        return summed(src.partial_sums, *args)

    def model_losses(self, rows, models, every_row=False):
        """Each of ``models``' summed losses over ``rows`` (no penalty): one pass, costs only."""
        ct = self.sums(rows, models, True, grad=False, every_row=every_row)[2]
        return ct.reshape(models.size, self.K).sum(axis=1)

    def counts(self, rows):
        """How many of ``rows`` each fold trains on."""
        return counts(self.excl, rows, self.F)

    def step_by_parts(self):
        """One step from its parts, called from Python: rows, partial sums, update (bitwise as ``advance(1)``)."""
        s = self.step
        live = np.flatnonzero(self.status == mon.RUNNING)
        if s > self.steps or live.size == 0:
            return
        rows = self.rows_of(s)
        exact = bool(self.record_every and s % self.record_every == 0) or s == self.steps or not self.y_small
        Gt, gbt, ct = self.sums(rows, live, exact)
        if not exact and not (ct <= self.z2_max).all():
            exact = True
            Gt, gbt, ct = self.sums(rows, live, exact)
        self.update(rows, live, Gt, gbt, ct, exact, s)
        self.step = s + 1

    def update(self, rows, live, Gt, gbt, ct, exact, s):
        """Step s's monitor and optimizer for the models ``live`` from their sums over ``rows``."""
        head = (self.loss, self.act, self.opt, self.X, self.y, *self.rows_arg(rows), self.excl, self.folds)
        update_counted(
            *head,
            self.counts(rows),
            live,
            Gt,
            gbt,
            ct,
            exact,
            s,
            self.steps,
            self.record_every,
            *self._args(),
            *self._monitor(),
        )

    def rows_arg(self, rows):
        """``rows`` as the compiled update takes them: (the row indices, how many)."""
        return rows, rows.size

    def all_rows(self):
        return np.arange(self.n_rows)

    STATE = ("W", "S", "status", "n_steps", "stopped_at", "history", "last_cost")

    def state(self):
        """Everything a resumed run needs (the batch stream is a pure function of seed and step)."""
        out = {k: getattr(self, k) for k in self.STATE}
        out["step"] = np.array(self.step, np.int64)
        return out

    def load_state(self, state):
        """Continue from ``state()``'s arrays: the same bits as a run never stopped."""
        for k in self.STATE:
            mine = getattr(self, k)
            if state[k].shape != mine.shape or state[k].dtype != mine.dtype:
                got = f"{state[k].shape} {state[k].dtype}"
                raise ValueError(f"a checkpoint's {k} is {got}; this fit's is {mine.shape} {mine.dtype}")
            mine[...] = state[k]
        self.step = int(state["step"])
        self.progress[:] = min(self.step, self.steps + 1)

    def data_identity(self):
        """The data, as ``identity`` names it (the arrays themselves: their bytes are hashed)."""
        return [("X", self.X), ("y", self.y)]

    def identity(self):
        """Everything that determines this run's result, as (name, value) pairs (``_checkpoint.fingerprint``)."""
        # a formula's parameter (huber's delta, leaky_relu's alpha) changes the result as much as its name
        loss = (self.loss.name, float(self.loss.param))
        act = None if self.act is None else (self.act.name, float(self.act.param))
        return self.data_identity() + [
            ("model", (loss, act, self.opt.name, self.fit_intercept, self.K)),
            ("lr", self.lr),
            ("l2", self.l2),
            ("hp", self.hp),
            ("excl", self.excl),
            ("folds", self.folds),
            ("schedule", self.lr_sched),
            ("loop", (self.steps, self.record_every, self.batch, self.seed)),
            ("stops", (self.tol, self.bound)),
        ]

    def final_cost(self, changed=None):
        """Every model's cost on the whole data at its final coefficients (``changed``: models whose W was reset)."""
        out = self.last_cost.copy()
        # running models got their cost at step `steps`; stopped ones (and, with mini-batches, all) need a pass
        # (models, not W's rows: a multinomial model is K rows of W)
        redo = np.arange(self.status.size) if self.batch else np.flatnonzero(self.status != mon.RUNNING)
        if changed is not None:
            redo = np.union1d(redo, changed)
        if redo.size:
            rows = self.all_rows()
            ct = self.sums(rows, redo, True, grad=False)[2]
            costs(self.W, self.l2, redo, ct, self.folds, self.counts(rows), out)
        return out

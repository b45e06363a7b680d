"""Batched gradient descent on the one-weight model, over a grid w0 x lr.

The model of the seed article: ``u = w*x``, ``a = act(u)``, ``loss = L(a, t)``;
by the chain rule ``dloss/dw = L'(a, t) * act'(u) * x`` and
``d2loss/dw2 = x^2 * (L''(a, t) * act'(u)^2 + L'(a, t) * act''(u))``.
``x=None`` stands for x = 1 and ``act=None`` for the identity: numba prunes
those multiplications at compile time (multiplying by 1 changes no bits).

Layout: one prange over the rows (one w0 each), so every thread owns whole rows
of the (M, K) outputs; inside a row the step loop is outside and the lr axis
innermost, so a step is a vectorized sweep over K runs that stay in L1.

Steps run in chunks.  Within a chunk every run is updated blindly (frozen runs
have a zero learning rate) while the running min |g| and the sum of squared
weights are tracked (the sum exceeds bound^2 whenever one |w| exceeds the bound,
and sometimes when none does); after the chunk, a live run whose trackers show a
possible event (|g| <= tol, |w| over the bound, NaN) is replayed from the chunk
start one step at a time with full checks, so it stops at exactly the step it
would have stopped at.  Every run is
computed on its own, so results do not depend on the thread count or chunking.
"""

import numpy as np
from numba import prange

from . import _chain as chain
from . import _extending as fx
from . import _optim as optim
from . import _schedules as ks
from ._jit import jit_formula, jit_helper, jit_kernel

# status codes; OVERFLOW: bounded weight whose loss is not finite (diverged at its last step)
RUNNING, CONVERGED, DIVERGED, OVERFLOW = 0, 1, 2, 3
CHUNK = 64  # steps between event checks


@jit_formula
def chain_value(loss, act, w, x, t):
    return chain.value(loss, act, w if x is None else w * x, t)


@jit_formula
def chain_grad(loss, act, w, x, t):
    g = chain.grad(loss, act, w if x is None else w * x, t)
    return g if x is None else g * x


@jit_formula
def chain_grad_hess(loss, act, w, x, t):
    g, h = chain.grad_hess(loss, act, w if x is None else w * x, t)
    if x is None:
        return g, h
    return g * x, h * (x * x)


@jit_formula
def step(loss, act, opt, w, s0, s1, rate, x, t, h0, h1, h2, h3, c0, c1, min_curv):
    """One update of one run, step constants c0, c1: (gradient at w, new w, new state); fit's rules, from ``_optim``."""
    if fx.uses_hessian(opt):
        g, h = chain_grad_hess(loss, act, w, x, t)
        p = optim.newton_direction(g, h, min_curv)  # a gd step where the curvature is not safely positive
    else:
        g = chain_grad(loss, act, w, x, t)
        p = g
    d, q0, q1 = fx.update(opt, p, w, s0, s1, h0, h1, h2, h3, c0, c1)
    return g, w - rate * d, q0, q1


@jit_formula
def _consts(opt, cst, grp, k, j, zero):
    """The optimizer's constants at step j of the chunk for column k (zeros where it has none)."""
    if fx.prepares(opt):
        if grp is None:  # one group: the same constants for every column, no gather in the k loop
            return cst[0, j, 0], cst[1, j, 0]
        return cst[0, j, grp[k]], cst[1, j, grp[k]]
    return zero, zero


@jit_helper
def _fill_consts(opt, hpg, done, n, cst):
    """cst[:, j, q] <- the step constants of update done + j for hyperparameter group q (hpg[:, q])."""
    if fx.prepares(opt):
        for j in range(n):
            for q in range(hpg.shape[1]):
                cst[0, j, q], cst[1, j, q] = fx.prepare(opt, hpg[0, q], hpg[1, q], hpg[2, q], hpg[3, q], done + j)


@jit_formula
def _rate(lr, mult, j):
    """The run's rate at step j of the chunk: lr, times the schedule's multiplier if there is one."""
    return lr if mult is None else lr * mult[j]


@jit_helper
def _replay(loss, act, opt, w, s0, s1, lr, mult, x, t, hp, k, cst, grp, min_curv, n, tol, bound):
    """Run one live run ``n`` steps with full checks: (w, s0, s1, steps taken, status)."""
    for j in range(n):
        c0, c1 = _consts(opt, cst, grp, k, j, lr * 0)
        g, wn, q0, q1 = step(
            loss,
            act,
            opt,
            w,
            s0,
            s1,
            _rate(lr, mult, j),
            x,
            t,
            hp[0, k],
            hp[1, k],
            hp[2, k],
            hp[3, k],
            c0,
            c1,
            min_curv,
        )
        if tol is not None and abs(g) <= tol:
            return w, s0, s1, j, CONVERGED
        if not abs(wn) <= bound:
            return w, s0, s1, j, DIVERGED
        w, s0, s1 = wn, q0, q1
    return w, s0, s1, n, RUNNING


@jit_formula
def _sweep_row(loss, act, opt, wl, s0, s1, lr_eff, mult, j0, x, t, hp, cst, grp, min_curv, n, tol, gmin, wsq):
    """``n`` steps (a literal) of every run of a row: steps j0 .. j0 + n - 1 of the chunk.

    The k loop vectorizes and each weight stays in a register for its n steps.
    """
    for k in range(wl.size):
        w, a, b, gm, ws = wl[k], s0[k], s1[k], gmin[k], wsq[k]
        h0, h1, h2, h3 = hp[0, k], hp[1, k], hp[2, k], hp[3, k]
        for j in range(n):
            c0, c1 = _consts(opt, cst, grp, k, j0 + j, h0 * 0)
            g, w, a, b = step(
                loss, act, opt, w, a, b, _rate(lr_eff[k], mult, j0 + j), x, t, h0, h1, h2, h3, c0, c1, min_curv
            )
            if tol is not None:
                ag = abs(g)
                gm = gm if gm < ag else ag  # one vminpd; a NaN g gives a NaN weight, which wsq catches
            # one FMA: if any |w| left the bound, the sum of squares did too (and NaN stays NaN)
            ws = ws + w * w
        wl[k] = w
        s0[k] = a
        s1[k] = b
        wsq[k] = ws
        if tol is not None:
            gmin[k] = gm


UNROLL = 4  # steps per pass over a row for a cheap step (no activation, plain or heavy-ball updates)


@jit_helper
def _blind_chunk(loss, act, opt, wl, s0, s1, lr_eff, mult, x, t, hp, cst, grp, min_curv, n, tol, gmin, wsq):
    """``n`` unchecked steps of every run of a row; frozen runs have lr_eff = 0.

    Without an activation a gd or momentum step is a few flops, and loading and
    storing the weight would cost more: each pass over the row then takes UNROLL
    steps (measured: MSE sweep 1.5x faster in float64, 2x in float32).  With an
    activation, or an adaptive optimizer, a step is long enough, and unrolling it
    spills registers (3x slower for sigmoid): one step a pass.
    """
    if act is None and fx.unrolls(opt):
        for p in range(n // UNROLL):
            _sweep_row(
                loss,
                act,
                opt,
                wl,
                s0,
                s1,
                lr_eff,
                mult,
                p * UNROLL,
                x,
                t,
                hp,
                cst,
                grp,
                min_curv,
                UNROLL,
                tol,
                gmin,
                wsq,
            )
        for j in range(n - n % UNROLL, n):
            _sweep_row(loss, act, opt, wl, s0, s1, lr_eff, mult, j, x, t, hp, cst, grp, min_curv, 1, tol, gmin, wsq)
    else:
        for j in range(n):
            _sweep_row(loss, act, opt, wl, s0, s1, lr_eff, mult, j, x, t, hp, cst, grp, min_curv, 1, tol, gmin, wsq)


@jit_helper
def _record(loss, act, w_live, w_frozen, status, x, t, hist_w, hist_l, r, i):
    for k in range(w_live.size):
        wk = w_live[k] if status[k] == RUNNING else w_frozen[k]
        hist_w[r, i, k] = wk
        hist_l[r, i, k] = chain_value(loss, act, wk, x, t)


@jit_helper
def _fill_multipliers(lr_sched, done, n, mult):
    """mult[j] <- the schedule's multiplier at update done + j (nothing without a schedule)."""
    if lr_sched is not None:
        for j in range(n):
            mult[j] = ks.multiplier(lr_sched, done + j)


@jit_helper
def _descend_row(
    loss,
    act,
    opt,
    w0,
    lr,
    lr_sched,
    x,
    t,
    steps,
    tol,
    bound,
    hp,
    hpg,
    grp,
    min_curv,
    record_every,
    wo,
    ni,
    si,
    hist_w,
    hist_l,
    i,
    scratch,
    flag,
    mult_buf,
    cst,
):
    """All steps of row i: every column (lr and hyperparameters) with the initial weight w0."""
    K = lr.size
    wl = scratch[0]  # weights of the live runs, updated blindly
    s0 = scratch[1]  # the optimizer's state
    s1 = scratch[2]
    lr_eff = scratch[3]
    w_start = scratch[4]
    s0_start = scratch[5]
    s1_start = scratch[6]
    gmin = scratch[7]
    wsq = scratch[8]
    mult = None if lr_sched is None else mult_buf
    for k in range(K):
        wl[k] = w0
        wo[k] = w0
        s0[k], s1[k] = fx.init(opt, hp[0, k], hp[1, k], hp[2, k], hp[3, k])
        lr_eff[k] = lr[k]
        ni[k] = 0
        si[k] = RUNNING
    if record_every > 0:
        _record(loss, act, wl, wo, si, x, t, hist_w, hist_l, 0, i)
    bound2 = bound * bound  # bound <= finfo.max ** 0.25, so a chunk's sum of squares cannot overflow
    done = 0
    live = K
    while done < steps and live > 0:
        n = min(CHUNK, steps - done)
        if record_every > 0:
            n = min(n, record_every - done % record_every)
        _fill_multipliers(lr_sched, done, n, mult_buf)
        _fill_consts(opt, hpg, done, n, cst)  # once a step for each group of columns, not once a run
        for k in range(K):
            w_start[k] = wl[k]
            s0_start[k] = s0[k]
            s1_start[k] = s1[k]
            gmin[k] = np.inf
            wsq[k] = 0
        if fx.prepares(opt) and hpg.shape[1] == 1:
            _blind_chunk(loss, act, opt, wl, s0, s1, lr_eff, mult, x, t, hp, cst, None, min_curv, n, tol, gmin, wsq)
        else:
            _blind_chunk(loss, act, opt, wl, s0, s1, lr_eff, mult, x, t, hp, cst, grp, min_curv, n, tol, gmin, wsq)
        # branch-free pass: flag live runs with an event, count the others' steps
        events = 0
        for k in range(K):
            bad = not (wsq[k] <= bound2) or wl[k] != wl[k]
            if tol is not None:
                bad = bad or gmin[k] <= tol
            ev = si[k] == RUNNING and bad
            ni[k] += n if (si[k] == RUNNING and not bad) else 0
            flag[k] = ev
            events += 1 if ev else 0
        if events:  # replay the flagged runs one checked step at a time
            for k in range(K):
                if flag[k]:
                    wk, a, b, taken, st = _replay(
                        loss, act, opt, w_start[k], s0_start[k], s1_start[k], lr[k], mult, x, t, hp, k, cst, grp,
                        min_curv, n, tol, bound,
                    )  # fmt: skip
                    wl[k] = wk
                    s0[k] = a
                    s1[k] = b
                    ni[k] += taken
                    if st != RUNNING:
                        si[k] = st
                        wo[k] = wk
                        lr_eff[k] = 0
                        live -= 1
        done += n
        if record_every > 0 and done % record_every == 0:
            _record(loss, act, wl, wo, si, x, t, hist_w, hist_l, done // record_every, i)
    if record_every > 0:  # every run stopped early: the remaining records repeat the last
        for r in range(done // record_every + 1, steps // record_every + 1):
            _record(loss, act, wl, wo, si, x, t, hist_w, hist_l, r, i)
    for k in range(K):
        wo[k] = wl[k] if si[k] == RUNNING else wo[k]


@jit_kernel(parallel=True)
def descend_rows(
    loss,
    act,
    opt,
    w0,
    lr,
    lr_sched,
    x,
    t,
    steps,
    tol,
    bound,
    hp,
    hpg,
    grp,
    min_curv,
    nblocks,
    row0,
    row1,
    record_every,
    w,
    n_steps,
    status,
    hist_w,
    hist_l,
    rows_done,
):
    """Run rows ``row0 <= i < row1`` of the grid; outputs are (M, K) arrays.

    ``hp`` (N_HYPER, K) holds each column's hyperparameters, ``hpg`` (N_HYPER, G)
    their distinct values and ``grp`` (K,) each column's group in it (the step
    constants are computed per group); ``lr_sched`` is the schedule (or None).
    Rows go to threads in ``nblocks`` blocks, each block with
    its own scratch rows; block b counts its finished rows in ``rows_done[b]`` (read
    by the progress bar).  Rows are independent, so calling it for consecutive row
    ranges gives the same bits.
    """
    K = lr.size
    M = row1 - row0
    for b in prange(nblocks):
        scratch = np.empty((9, K), dtype=w.dtype)
        flag = np.empty(K, dtype=np.bool_)
        mult_buf = np.empty(CHUNK, dtype=w.dtype)
        cst = np.empty((2, CHUNK, hpg.shape[1]), dtype=w.dtype)
        for i in range(row0 + b * M // nblocks, row0 + (b + 1) * M // nblocks):
            wo = w[i]
            si = status[i]
            _descend_row(
                loss,
                act,
                opt,
                w0[i],
                lr,
                lr_sched,
                x,
                t,
                steps,
                tol,
                bound,
                hp,
                hpg,
                grp,
                min_curv,
                record_every,
                wo,
                n_steps[i],
                si,
                hist_w,
                hist_l,
                i,
                scratch,
                flag,
                mult_buf,
                cst,
            )
            for k in range(K):
                # a bounded weight whose loss is not finite has diverged too
                overflow = si[k] != DIVERGED and not (abs(chain_value(loss, act, wo[k], x, t)) < np.inf)
                si[k] = OVERFLOW if overflow else si[k]
            rows_done[b] += 1


@jit_kernel(parallel=True)
def chain_map(loss, act, part, w, x, t, out):
    """out[i] = loss (part 0) or dloss/dw (part 1) at w[i]: final values, computed on demand."""
    if part == 0:
        for i in prange(w.size):
            out[i] = chain_value(loss, act, w[i], x, t)
    else:
        for i in prange(w.size):
            out[i] = chain_grad(loss, act, w[i], x, t)

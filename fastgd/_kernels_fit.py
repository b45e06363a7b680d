"""Many models fitted at once: one pass over the data per step for every model.

The model of the seed's second article: ``z = X @ w + b``, ``a = act(z)``,
``cost = mean(L(a, y)) + (l2 / 2) ||w||^2``.  P models (every lr x l2 pair) share
X, so a step is two matrix-matrix products, never P matrix-vector ones:

    Z = X_b @ W + b          (B x D) @ (D x P), a block of B rows at a time
    E = L'(act(Z), y) * act'(Z)   in place of Z, with the costs summed on the way
    G += X_b^T @ E           into the chunk's own (D x P) accumulator

The rows are split into ``NCHUNKS`` fixed chunks (prange over chunks, each with
its own accumulators and block buffers, reduced in chunk order), so extra memory
is O(NCHUNKS x (B + D) x P), independent of n, and results do not depend on the
thread count.  Inner loops run along the B rows of a block (contiguous, long),
so they vectorize.  ``act=None`` is the identity (compiled out).
"""

import numpy as np
from numba import prange

from . import _chain as chain
from ._jit import jit_helper, jit_kernel

NCHUNKS = 16
BLOCK = 128
RUNNING, CONVERGED, DIVERGED = 0, 1, 2


@jit_helper
def _losses_in_place(loss, act, want_cost, zm, yb, nb, cost, gb, m):
    """zm[j] <- dL/dz at zm[j]; gb[m] sums the dL/dz and cost[m] the losses or the z^2.

    With ``want_cost`` cost[m] sums the losses, else the squared z (a cheap proof
    that the losses are finite, see fit._State.gradients).
    """
    cs = zm[0] * 0
    if want_cost:
        for j in range(nb):
            v, e = chain.value_and_grad(loss, act, zm[j], yb[j])
            cs += v
            zm[j] = e
    else:  # the loss value (a log for the log losses) is most of the elementwise work
        for j in range(nb):
            z = zm[j]
            cs += z * z
            zm[j] = chain.grad(loss, act, z, yb[j])
    # summed in a loop of its own, so both branches add in the same order (LLVM picks the
    # vector interleave from the loop body): results do not depend on record_every
    gs = zm[0] * 0
    for j in range(nb):
        gs += zm[j]
    cost[m] += cs
    gb[m] += gs


@jit_kernel(parallel=True)
def grad_pass(loss, act, want_cost, X, y, rows, Wt, b, G_acc, gb_acc, cost_acc, Xbuf, Zbuf, Ybuf):
    """Sums over ``rows`` of losses (or z^2), dL/dz and X^T dL/dz for every model.

    The models are the rows of Wt, shape (P, D); see _losses_in_place for z^2.

    Writes per-chunk partial sums into G_acc (C, D, P), gb_acc (C, P), cost_acc (C, P).
    Each block of rows is first gathered transposed (Xbuf (C, D, B)) so that every inner
    loop runs along the block's rows: Z^T = Wt @ X_b^T (_forward), then
    G[d, m] = X_b^T[d] . E^T[m] as register reductions (_backward).
    """
    n = rows.size
    P, D = Wt.shape
    for c in prange(NCHUNKS):
        G = G_acc[c]
        gb = gb_acc[c]
        cost = cost_acc[c]
        Xt = Xbuf[c]
        Zt = Zbuf[c]
        yb = Ybuf[c]
        for d in range(D):
            for m in range(P):
                G[d, m] = 0
        for m in range(P):
            gb[m] = 0
            cost[m] = 0
        lo = c * n // NCHUNKS
        hi = (c + 1) * n // NCHUNKS
        for r0 in range(lo, hi, BLOCK):
            nb = min(hi, r0 + BLOCK) - r0
            for j in range(nb):  # gather the block, transposed
                i = rows[r0 + j]
                yb[j] = y[i]
                for d in range(D):
                    Xt[d, j] = X[i, d]
            _forward(Xt, Zt, Wt, b, nb)
            for m in range(P):  # E = dL/dz in place, costs summed
                _losses_in_place(loss, act, want_cost, Zt[m], yb, nb, cost, gb, m)
            _backward(Xt, Zt, G, nb)


@jit_helper
def _forward(Xt, Zt, Wt, b, nb):
    """Z^T[m] = b[m] + sum_d Wt[m, d] X^T[d] for the block's nb rows.

    Two models by eight features a pass (ten loads and two stores per sixteen FMAs,
    the sixteen weights in registers); features outside the models so the eight rows
    of X^T stay in L1.  A model's sum has the same order wherever it falls.
    """
    P, D = Wt.shape
    for m in range(P):
        zm = Zt[m]
        bm = b[m]
        for j in range(nb):
            zm[j] = bm
    d = 0
    while d + 8 <= D:
        x0, x1, x2, x3 = Xt[d], Xt[d + 1], Xt[d + 2], Xt[d + 3]
        x4, x5, x6, x7 = Xt[d + 4], Xt[d + 5], Xt[d + 6], Xt[d + 7]
        m = 0
        while m + 2 <= P:
            za, zb = Zt[m], Zt[m + 1]
            a0, a1, a2, a3 = Wt[m, d], Wt[m, d + 1], Wt[m, d + 2], Wt[m, d + 3]
            a4, a5, a6, a7 = Wt[m, d + 4], Wt[m, d + 5], Wt[m, d + 6], Wt[m, d + 7]
            c0, c1, c2, c3 = Wt[m + 1, d], Wt[m + 1, d + 1], Wt[m + 1, d + 2], Wt[m + 1, d + 3]
            c4, c5, c6, c7 = Wt[m + 1, d + 4], Wt[m + 1, d + 5], Wt[m + 1, d + 6], Wt[m + 1, d + 7]
            for j in range(nb):
                u0, u1, u2, u3 = x0[j], x1[j], x2[j], x3[j]
                u4, u5, u6, u7 = x4[j], x5[j], x6[j], x7[j]
                za[j] += ((a0 * u0 + a1 * u1) + (a2 * u2 + a3 * u3)) + ((a4 * u4 + a5 * u5) + (a6 * u6 + a7 * u7))
                zb[j] += ((c0 * u0 + c1 * u1) + (c2 * u2 + c3 * u3)) + ((c4 * u4 + c5 * u5) + (c6 * u6 + c7 * u7))
            m += 2
        if m < P:  # an odd model out, same sums
            za = Zt[m]
            a0, a1, a2, a3 = Wt[m, d], Wt[m, d + 1], Wt[m, d + 2], Wt[m, d + 3]
            a4, a5, a6, a7 = Wt[m, d + 4], Wt[m, d + 5], Wt[m, d + 6], Wt[m, d + 7]
            for j in range(nb):
                za[j] += ((a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j])) + (
                    (a4 * x4[j] + a5 * x5[j]) + (a6 * x6[j] + a7 * x7[j]))
        d += 8
    while d < D:
        x0 = Xt[d]
        for m in range(P):
            za = Zt[m]
            a0 = Wt[m, d]
            for j in range(nb):
                za[j] += a0 * x0[j]
        d += 1


@jit_helper
def _backward(Xt, Zt, G, nb):
    """G[d, m] += X^T[d] . E^T[m] over the block's nb rows, as register reductions.

    Four models by four features a pass: eight loads per sixteen FMAs, and sixteen
    horizontal sums per tile (LLVM splits each reduction into vector partial sums,
    whose final sum is the overhead of a short reduction).  With it and _forward's
    two-by-eight tile, a grad pass (n=1e5, D=32, P=64) took 1.28x less time (median
    of 30) than with four models by one feature and one model by eight.
    """
    P = Zt.shape[0]
    D = Xt.shape[0]
    m = 0
    while m + 4 <= P:
        z0, z1, z2, z3 = Zt[m], Zt[m + 1], Zt[m + 2], Zt[m + 3]
        d = 0
        while d + 4 <= D:
            xa, xb, xc, xd = Xt[d], Xt[d + 1], Xt[d + 2], Xt[d + 3]
            a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = xa[0] * 0
            c0 = c1 = c2 = c3 = e0 = e1 = e2 = e3 = xa[0] * 0
            for j in range(nb):
                q0, q1, q2, q3 = z0[j], z1[j], z2[j], z3[j]
                u = xa[j]
                a0 += u * q0
                a1 += u * q1
                a2 += u * q2
                a3 += u * q3
                u = xb[j]
                b0 += u * q0
                b1 += u * q1
                b2 += u * q2
                b3 += u * q3
                u = xc[j]
                c0 += u * q0
                c1 += u * q1
                c2 += u * q2
                c3 += u * q3
                u = xd[j]
                e0 += u * q0
                e1 += u * q1
                e2 += u * q2
                e3 += u * q3
            G[d, m] += a0
            G[d, m + 1] += a1
            G[d, m + 2] += a2
            G[d, m + 3] += a3
            G[d + 1, m] += b0
            G[d + 1, m + 1] += b1
            G[d + 1, m + 2] += b2
            G[d + 1, m + 3] += b3
            G[d + 2, m] += c0
            G[d + 2, m + 1] += c1
            G[d + 2, m + 2] += c2
            G[d + 2, m + 3] += c3
            G[d + 3, m] += e0
            G[d + 3, m + 1] += e1
            G[d + 3, m + 2] += e2
            G[d + 3, m + 3] += e3
            d += 4
        while d < D:
            xa = Xt[d]
            a0 = a1 = a2 = a3 = xa[0] * 0
            for j in range(nb):
                u = xa[j]
                a0 += u * z0[j]
                a1 += u * z1[j]
                a2 += u * z2[j]
                a3 += u * z3[j]
            G[d, m] += a0
            G[d, m + 1] += a1
            G[d, m + 2] += a2
            G[d, m + 3] += a3
            d += 1
        m += 4
    while m < P:
        z0 = Zt[m]
        for d in range(D):
            xa = Xt[d]
            a0 = xa[0] * 0
            for j in range(nb):
                a0 += xa[j] * z0[j]
            G[d, m] += a0
        m += 1


@jit_kernel(parallel=True)
def newton_directions(loss, act, X, y, rows, W, b, l2, grad_w, grad_b, fit_intercept, live, out_w, out_b, ok):
    """Per model m (prange over models): solve (X~^T S X~ / n + l2 I) d = g.

    X~ is X with a column of ones when fitting the intercept (not penalised).  A
    Hessian that is not positive definite (Cholesky fails) leaves ok[m] False:
    the caller takes a gd step for that model.
    """
    n = rows.size
    D, P = W.shape
    A = D + 1 if fit_intercept else D
    for m in prange(P):
        ok[m] = False
        if not live[m]:
            continue
        H = np.zeros((A, A), dtype=W.dtype)
        xt = np.empty(A, dtype=W.dtype)
        for j in range(n):
            i = rows[j]
            z = b[m]
            for d in range(D):
                xt[d] = X[i, d]
                z += X[i, d] * W[d, m]
            if fit_intercept:
                xt[D] = 1
            s = chain.grad_hess(loss, act, z, y[i])[1]
            for p in range(A):
                sp = s * xt[p]
                for q in range(p + 1):
                    H[p, q] += sp * xt[q]
        for p in range(A):
            for q in range(p + 1):
                H[p, q] /= n
            if p < D:
                H[p, p] += l2[m]
        # Cholesky H = L L^T in place (lower triangle)
        good = True
        for p in range(A):
            s = H[p, p]
            for k in range(p):
                s -= H[p, k] * H[p, k]
            if not s > 1e-12 * max(1.0, abs(H[p, p])):
                good = False
                break
            H[p, p] = np.sqrt(s)
            for q in range(p + 1, A):
                t = H[q, p]
                for k in range(p):
                    t -= H[q, k] * H[p, k]
                H[q, p] = t / H[p, p]
        if not good:
            continue
        g = np.empty(A, dtype=W.dtype)
        for d in range(D):
            g[d] = grad_w[d, m]
        if fit_intercept:
            g[D] = grad_b[m]
        for p in range(A):  # forward: L u = g
            t = g[p]
            for k in range(p):
                t -= H[p, k] * g[k]
            g[p] = t / H[p, p]
        for p in range(A - 1, -1, -1):  # back: L^T d = u
            t = g[p]
            for k in range(p + 1, A):
                t -= H[k, p] * g[k]
            g[p] = t / H[p, p]
        for d in range(D):
            out_w[d, m] = g[d]
        out_b[m] = g[D] if fit_intercept else 0.0
        ok[m] = True

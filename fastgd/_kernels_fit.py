"""Many models fitted at once: one pass over the data per step for every model.

The model of the seed's second article: ``z = X @ w + b``, ``a = act(z)``,
``cost = mean(L(a, y)) + (l2 / 2) ||w||^2``.  P models (every lr x l2 pair) share
X, so a step is two matrix-matrix products, never P matrix-vector ones:

    Z = X_b @ W + b          (B x D) @ (D x P), a block of B rows at a time
    E = L'(act(Z), y) * act'(Z)   in place of Z, with the costs summed on the way
    G += X_b^T @ E           into the chunk's own (D x P) accumulator

The rows are split into ``NCHUNKS`` fixed chunks (prange over chunks, each with
its own accumulators and block buffer, reduced in chunk order), so extra memory
is O(NCHUNKS x (B + D) x P), independent of n, and results do not depend on the
thread count.  The model axis P is innermost everywhere, so loops vectorize
over models.  ``act=None`` is the identity (compiled out).
"""

import numpy as np
from numba import prange

from . import _extending as fx
from ._jit import jit_formula, jit_kernel

NCHUNKS = 16
BLOCK = 256
RUNNING, CONVERGED, DIVERGED = 0, 1, 2


@jit_formula
def chain_value_grad(loss, act, z, y):
    """(L(act(z), y), dL/dz) by the chain rule."""
    if act is None:
        return fx.value_and_grad(loss, z, y)
    a = fx.value(act, z)
    v, g = fx.value_and_grad(loss, a, y)
    return v, g * fx.grad(act, z)


@jit_formula
def chain_curvature(loss, act, z, y):
    """d2L/dz2 by the chain rule: the weight of row z in the Hessian X^T S X."""
    if act is None:
        return fx.hess(loss, z, y)
    a = fx.value(act, z)
    ap = fx.grad(act, z)
    return fx.hess(loss, a, y) * ap * ap + fx.grad(loss, a, y) * fx.hess(act, z)


@jit_kernel(parallel=True)
def grad_pass(loss, act, X, y, rows, W, b, G_acc, gb_acc, cost_acc, Zbuf):
    """Sum over ``rows`` of losses, dL/dz and X^T dL/dz for every model (columns of W).

    Writes per-chunk partial sums into G_acc (C, D, P), gb_acc (C, P), cost_acc (C, P).
    """
    n = rows.size
    D, P = W.shape
    for c in prange(NCHUNKS):
        G = G_acc[c]
        gb = gb_acc[c]
        cost = cost_acc[c]
        Z = Zbuf[c]
        for d in range(D):
            for m in range(P):
                G[d, m] = 0
        for m in range(P):
            gb[m] = 0
            cost[m] = 0
        lo = c * n // NCHUNKS
        hi = (c + 1) * n // NCHUNKS
        for r0 in range(lo, hi, BLOCK):
            r1 = min(hi, r0 + BLOCK)
            for j in range(r1 - r0):  # Z = X_b @ W + b
                i = rows[r0 + j]
                zj = Z[j]
                for m in range(P):
                    zj[m] = b[m]
                for d in range(D):
                    xd = X[i, d]
                    Wd = W[d]
                    for m in range(P):
                        zj[m] += xd * Wd[m]
            for j in range(r1 - r0):  # E = dL/dz in place, costs summed
                yi = y[rows[r0 + j]]
                zj = Z[j]
                for m in range(P):
                    v, e = chain_value_grad(loss, act, zj[m], yi)
                    cost[m] += v
                    gb[m] += e
                    zj[m] = e
            for j in range(r1 - r0):  # G += X_b^T @ E
                i = rows[r0 + j]
                zj = Z[j]
                for d in range(D):
                    xd = X[i, d]
                    Gd = G[d]
                    for m in range(P):
                        Gd[m] += xd * zj[m]


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
            s = chain_curvature(loss, act, z, y[i])
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

"""The gradient source: partial sums of cost, gradient and curvature over a set of rows.

The model of the seed's second article: ``z = X @ w + b``, ``a = act(z)``,
``cost = mean(L(a, y)) + (l2 / 2) ||w||^2``.  P models (every lr x l2 pair) share
X, so a pass over some rows is two matrix-matrix products, never P matrix-vector
ones, a block of B rows at a time:

    Z = X_b @ W^T + b             (B x D) @ (D x P)
    E = L'(act(Z), y) * act'(Z)   in place of Z, with the losses summed on the way
    G += E^T @ X_b                into a (P x D) accumulator

The rows of a step are cut into ``n_chunks(rows)`` chunks, whose number depends on
the row count alone; each chunk's sums run over its blocks in order, and the
chunks' sums are added in chunk order.  Whoever computes a chunk (a thread of a
parallel pass, a thread that owns some models, a Dask worker), the sums have the
same bits.  A model's sums also do not depend on its position among the models
(both products give every model the same instruction sequence), so models can
be dropped as they stop, and split among threads, without changing any result.

Mini-batches come from ``batch_rows``: a seeded shuffle per epoch (splitmix64 and
Fisher-Yates), a pure function of (seed, epoch), so every thread or worker draws
the same batches with O(n) memory.  This module knows nothing of optimizers or of
the monitor.  ``act=None`` is the identity (compiled out).
"""

import numpy as np
from numba import prange
from numba.extending import overload

from . import _chain as chain
from . import _extending as fx
from ._jit import jit_helper, jit_kernel
from ._libm import const, exp, log

BLOCK = 256  # rows of a block; 256 rather than 128 halves the backward's horizontal reductions and the loops'
# set-up per row (one thread, n=20000 D=32 P=16: forward 36 -> 39, backward 38 -> 40 GFLOP/s)
CHUNK_ROWS = 4096  # rows per chunk at least; a step of fewer rows is one chunk
MAX_CHUNKS = 16
GROUP_ROWS = 16  # rows of W a block's three passes take at a time: their Z^T is 32 KB, about L1's size
ALL = 63  # the fold of a model fitted on every row; folds are 0 .. ALL - 1 (bits of a row's exclusion mask)


@jit_helper
def group_rows(K):
    """Rows of W in a model group: whole models of K rows, an even count (pairs never straddle groups), >= GROUP_ROWS.

    Even, because ``_forward`` and ``_backward`` take models two at a time: only the last
    group (which ends at P) may have an odd row paired with a stand-in.
    """
    g = K * ((GROUP_ROWS + K - 1) // K)
    return g if g % 2 == 0 else g + K


@jit_helper
def n_chunks(rows):
    """Number of chunks of a pass over ``rows`` rows: a function of the row count only."""
    return max(1, min(MAX_CHUNKS, rows // CHUNK_ROWS))


@jit_helper
def chunk_bounds(rows, c, C):
    """Rows [lo, hi) of chunk c of C: whole blocks of BLOCK rows (block k is rows k*BLOCK ...)."""
    nb = (rows + BLOCK - 1) // BLOCK
    return min(rows, (c * nb // C) * BLOCK), min(rows, ((c + 1) * nb // C) * BLOCK)


def transposed_blocks(X):
    """X's blocks of BLOCK rows, each transposed: (blocks, D, BLOCK), zero-padded, on 64-byte boundaries.

    The products load a block's rows as 64-byte vectors, which AVX-512 splits into two
    32-byte halves.  NumPy starts a large array 16 bytes past a cache line, where one half
    of every load spans two lines: aligned, a pass takes 1.28 ms against 1.43 (n=20000
    D=32 P=16, logistic, one thread).  numba's own arrays start on 32 bytes, which is enough.
    """
    shape = ((X.shape[0] + BLOCK - 1) // BLOCK, X.shape[1], BLOCK)
    size = shape[0] * shape[1] * shape[2]
    items = 64 // X.itemsize
    buf = np.empty(size + items, X.dtype)
    skip = (-buf.ctypes.data % 64) // X.itemsize
    XT = buf[skip : skip + size].reshape(shape)
    transpose_blocks(X, XT)
    return XT


@jit_kernel
def transpose_blocks(X, XT):
    """XT[k] <- X[k*BLOCK : (k+1)*BLOCK].T (D, BLOCK), zero-padded: full-batch passes read blocks, never gather."""
    n, D = X.shape
    for k in range(XT.shape[0]):
        for d in range(D):
            for j in range(BLOCK):
                i = k * BLOCK + j
                XT[k, d, j] = X[i, d] if i < n else 0


class Softmax:
    """The multinomial model's loss, ``-log softmax(z)_y`` over a model's K rows of logits.

    A type of its own in compiled code (``fastgd.loss[softmax]``), so kernels compile the
    softmax block (``_softmax_in_place``) and its Hessian only for it: a binary fit's
    kernels carry none of that code.
    """

    name = "softmax"
    param = 0.0


fx.register_class(Softmax, "loss")
SOFTMAX = Softmax()


# ---------------------------------------------------------------- the batch stream
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


@jit_helper
def _mix64(z):
    """splitmix64's finalizer (Steele, Lea, Flood 2014): a bijection that scrambles every bit."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit_helper
def shuffle(seed, epoch, perm):
    """Perm <- the permutation of epoch ``epoch``: Fisher-Yates driven by splitmix64 seeded by (seed, epoch).

    ``j = r mod (i + 1)`` is biased by at most n / 2**64, far below anything measurable.
    """
    n = perm.size
    for i in range(n):
        perm[i] = i
    state = _mix64(np.uint64(seed) * _GOLDEN + np.uint64(epoch))
    for i in range(n - 1, 0, -1):
        state += _GOLDEN
        j = np.int64(_mix64(state) % np.uint64(i + 1))
        t = perm[i]
        perm[i] = perm[j]
        perm[j] = t


@jit_helper
def batch_rows(seed, n, batch, step, perm, epoch_of_perm, out):
    """Out <- the rows of step ``step``: positions step*batch ... of the concatenated epochs.

    ``perm`` holds the permutation of epoch ``epoch_of_perm[0]`` (-1: none yet) and is
    reshuffled when the batch reaches another epoch: O(batch) work a step, O(n) an epoch.
    """
    pos = step * batch
    for j in range(batch):
        e = (pos + j) // n
        if e != epoch_of_perm[0]:
            shuffle(seed, e, perm)
            epoch_of_perm[0] = e
        out[j] = perm[(pos + j) - e * n]


# ---------------------------------------------------------------- folds
@jit_helper
def count_rows(excl, rows, nr, F, cnt):
    """cnt[f] <- how many of rows[:nr] fold f trains on (those whose mask excl[i] lacks bit f); cnt[ALL] = nr.

    ``excl`` (n,) holds each row's exclusion mask: bit f set where fold f holds the row
    out (cross-validation, a validation split).  An empty ``excl`` means no folds.
    """
    for f in range(F):
        cnt[f] = nr
    cnt[ALL] = nr
    if excl.size > 0:
        for j in range(nr):
            e = excl[rows[j]]
            for f in range(F):
                cnt[f] -= (e >> f) & 1


# ---------------------------------------------------------------- sums over a chunk
@jit_helper
def _losses_in_place(loss, act, want_cost, zm, yb, nb, cost, gb, m, eb, bit):
    """zm[j] <- dL/dz at zm[j]; gb[m] sums the dL/dz and cost[m] the losses or the z^2.

    With ``want_cost`` cost[m] sums the losses, else the squared z (a cheap proof
    that the losses are finite, see ``_engine``).  A model of fold ``bit`` < ALL
    skips the rows whose exclusion mask eb[j] has that bit: their dL/dz is 0 and
    their loss is not summed (a select, so a huge loss there cannot leak in).
    """
    cs = zm[0] * 0
    zero = zm[0] * 0
    if bit < ALL:
        if want_cost:
            for j in range(nb):
                v, e = chain.value_and_grad(loss, act, zm[j], yb[j])
                keep = ((eb[j] >> bit) & 1) == 0
                cs += v if keep else zero
                zm[j] = e if keep else zero
        else:
            for j in range(nb):
                z = zm[j]
                keep = ((eb[j] >> bit) & 1) == 0
                cs += z * z if keep else zero
                zm[j] = chain.grad(loss, act, z, yb[j]) if keep else zero
    elif want_cost:
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


@jit_helper
def _softmax_in_place(Zt, r0, K, yb, nb, cost, gb, eb, bit, sb):
    """The multinomial model on rows r0 .. r0 + K - 1 of Zt (its K classes' logits): E in place, loss summed.

    For each of the nb rows, with m = max_k z_k and s = sum_k exp(z_k - m) (>= 1):
    the loss -log softmax(z)_y = log(s) - (z_y - m), a sum of two non-negative terms
    (no overflow for any logits, no log of 0, no cancellation), and
    dL/dz_k = exp(z_k - m) / s - [y == k].  yb holds class codes 0 .. K - 1.  The
    loss goes to cost[r0] (the other classes' rows get 0), so a model's rows add up to
    its loss.  Rows held out of fold ``bit`` (see ``_losses_in_place``) give 0.
    sb (3, BLOCK) is scratch.
    """
    mx, sm, zy = sb[0], sb[1], sb[2]
    z0 = Zt[r0]
    for j in range(nb):
        mx[j] = z0[j]
        zy[j] = z0[j]
    # selects rather than max(), the class code as a float, both loads before the stores:
    # so this loop vectorizes (it ran scalar, with branches: 0.59 -> 0.24 ns a logit)
    for k in range(1, K):
        zk = Zt[r0 + k]
        fk = const(z0[0], k)
        for j in range(nb):
            a = zk[j]
            m = mx[j]
            z = zy[j]
            mx[j] = a if a > m else m  # a NaN logit is left out here; it still makes its row's sum NaN below
            zy[j] = a if yb[j] == fk else z
    for j in range(nb):
        sm[j] = 0
    for k in range(K):
        zk = Zt[r0 + k]
        for j in range(nb):
            e = exp(zk[j] - mx[j])
            zk[j] = e
            sm[j] += e
    cs = z0[0] * 0
    zero = z0[0] * 0
    every = bit >= ALL  # no fold: what eb holds does not count (it may hold anything)
    for j in range(nb):
        keep = every | (((eb[j] >> bit) & 1) == 0)
        v = log(sm[j]) + (mx[j] - zy[j])
        cs += v if keep else zero
        sm[j] = 1 / sm[j] if keep else zero  # rows held out: every E is 0
        mx[j] = 1 if keep else zero  # the indicator's weight
    for k in range(K):
        zk = Zt[r0 + k]
        fk = const(zero, k)
        for j in range(nb):
            zk[j] = zk[j] * sm[j] - (mx[j] if yb[j] == fk else zero)
        gs = zk[0] * 0
        for j in range(nb):
            gs += zk[j]
        gb[r0 + k] += gs
    cost[r0] += cs


def block_losses(loss, act, exact, Zt, g0, g1, K, yb, nb, cost, gb, eb, fb, folded, sb):
    """E = dL/dz in place of rows g0 .. g1 - 1 of the block's Zt, the losses summed (``folded``: fb holds folds).

    The scalar losses row by row (``_losses_in_place``), the softmax a model of K rows at
    a time (``_softmax_in_place``).  Compiled, the choice is made at compile time (below);
    this body runs with the JIT off.
    """
    if loss.name == Softmax.name:
        for r0 in range(g0, g1, K):
            _softmax_in_place(Zt, r0, K, yb, nb, cost, gb, eb, fb[r0] if folded else ALL, sb)
    else:
        for m in range(g0, g1):
            _losses_in_place(loss, act, exact, Zt[m], yb, nb, cost, gb, m, eb, fb[m] if folded else ALL)


@overload(block_losses, inline="always")
def _ov_block_losses(loss, act, exact, Zt, g0, g1, K, yb, nb, cost, gb, eb, fb, folded, sb):
    if getattr(loss, "formula_name", None) == Softmax.name:

        def softmax_impl(loss, act, exact, Zt, g0, g1, K, yb, nb, cost, gb, eb, fb, folded, sb):
            for r0 in range(g0, g1, K):
                _softmax_in_place(Zt, r0, K, yb, nb, cost, gb, eb, fb[r0] if folded else ALL, sb)

        return softmax_impl

    def scalar_impl(loss, act, exact, Zt, g0, g1, K, yb, nb, cost, gb, eb, fb, folded, sb):
        for m in range(g0, g1):
            _losses_in_place(loss, act, exact, Zt[m], yb, nb, cost, gb, m, eb, fb[m] if folded else ALL)

    return scalar_impl


@jit_helper
def chunk_sums(loss, act, exact, X, XT, y, rows, lo, hi, W, b, P, G, gb, cost, Xt, Zt, yb, excl, fb, eb, K):
    """Sums over rows[lo:hi] (whole blocks) for the first P rows of W (., D) and b.

    A model is K consecutive rows of W (K = 1: a linear predictor; K >= 3 classes and
    ``loss`` ``SOFTMAX``: the multinomial model, whose losses are always summed).

    Model m sums over the rows outside its fold fb[m] (see ``count_rows``): every row
    when fb[m] is ALL, or when ``excl`` is empty.  eb (BLOCK,) is scratch.

    G[m] (., D) gets sum dL/dz x, gb[m] sum dL/dz and cost[m] the sum of the losses
    (``exact``) or of z^2 (else: see ``_losses_in_place``).  A G with no columns asks
    for the costs alone (a final cost, a held-out score): the backward product is skipped.
    Xt (D, BLOCK), Zt (> P, BLOCK) and yb (BLOCK) are scratch.  Each block of rows is gathered transposed (or, where
    ``rows`` is every row in order and XT holds X's blocks, read from XT), so every
    inner loop runs along the block's rows: Z^T = W @ X_b^T (_forward), then
    G[m, d] = E^T[m] . X_b^T[d] as register reductions (_backward).  The models go
    through a block a group of ``group_rows(K)`` rows of W at a time (forward, losses,
    backward), so a group's Z^T stays near the core however many models there are (the
    digits search has 1920 rows of W a thread: 3.9 MB of Z^T a block, which each of the
    forward's eight feature passes read and wrote again when all models went at once).
    """
    D = X.shape[1]
    grad = G.shape[1] > 0
    MG = group_rows(K)
    sb = np.empty((3 if K > 1 else 0, BLOCK), X.dtype)
    Xr = np.empty((BLOCK if XT.shape[0] == 0 else 0, D), X.dtype)
    for m in range(P):
        for d in range(G.shape[1]):
            G[m, d] = 0
        gb[m] = 0
        cost[m] = 0
    for r0 in range(lo, hi, BLOCK):
        nb = min(hi, r0 + BLOCK) - r0
        if excl.size > 0:
            for j in range(nb):
                eb[j] = excl[rows[r0 + j]]
        if XT.shape[0] > 0:  # rows is every row in order: the block and y's rows in place, not gathered
            Xk = XT[r0 // BLOCK]
            for j in range(nb):
                yb[j] = y[r0 + j]
        else:
            for j in range(nb):
                yb[j] = y[rows[r0 + j]]
            for j in range(nb):  # gather the block's rows (whole rows: the loads overlap) ...
                i = rows[r0 + j]
                for d in range(D):
                    Xr[j, d] = X[i, d]
            for d in range(D):  # ... then transpose them in cache (gather and transpose in one: 2x slower)
                for j in range(nb):
                    Xt[d, j] = Xr[j, d]
            Xk = Xt
        for g0 in range(0, P, MG):  # a group's three passes while its Z^T is in cache; X_b^T serves every group
            g1 = min(P, g0 + MG)
            _forward(Xk, Zt, W, b, nb, g0, g1, P)
            block_losses(loss, act, exact, Zt, g0, g1, K, yb, nb, cost, gb, eb, fb, excl.size > 0, sb)
            if grad:
                _backward(Xk, Zt, G, nb, g0, g1, P)


@jit_helper
def add_sums(P, D, G, gb, cost, Gt, gbt, costt):
    """Gt, gbt, costt += one chunk's sums (chunks are added in chunk order)."""
    for m in range(P):
        for d in range(D):
            Gt[m, d] += G[m, d]
        gbt[m] += gb[m]
        costt[m] += cost[m]


@jit_helper
def zero_lower(H, A):
    """H[:A, :A]'s lower triangle <- 0."""
    for p in range(A):
        for q in range(p + 1):
            H[p, q] = 0


@jit_helper
def held_out(excl, i, bit):
    """True where fold ``bit``'s models skip row i (``count_rows``)."""
    return bit < ALL and excl.size > 0 and (excl[i] >> bit) & 1 == 1


@jit_helper
def chunk_hessian(loss, act, X, y, rows, lo, hi, w, b, H, A, xt, excl, bit):
    """H (A x A, lower triangle) <- sum over rows[lo:hi] outside fold ``bit`` of L''(z) x~ x~^T for one model (w, b).

    x~ is the row with a 1 appended when A = D + 1 (the intercept).  xt is scratch (A,).
    """
    D = X.shape[1]
    zero_lower(H, A)
    for j in range(lo, hi):
        i = rows[j]
        if held_out(excl, i, bit):
            continue
        z = b
        for d in range(D):
            xt[d] = X[i, d]
            z += X[i, d] * w[d]
        if A > D:
            xt[D] = 1
        s = chain.grad_hess(loss, act, z, y[i])[1]
        for p in range(A):
            sp = s * xt[p]
            for q in range(p + 1):
                H[p, q] += sp * xt[q]


@jit_helper
def chunk_hessian_softmax(X, y, rows, lo, hi, W, r0, K, H, xt, excl, bit):
    """H (K A x K A, lower triangle, A = D + 1) <- the multinomial curvature over rows[lo:hi] outside fold ``bit``.

    The model is rows r0 .. r0 + K - 1 of W (D + 1 columns, the intercept last); a row
    adds (diag(p) - p p^T) kron x~ x~^T, p = softmax(z) (shifted by max z).  xt is
    scratch (>= A + K): x~ then p.
    """
    D = X.shape[1]
    A = D + 1
    zero_lower(H, K * A)
    for j in range(lo, hi):
        i = rows[j]
        if held_out(excl, i, bit):
            continue
        for d in range(D):
            xt[d] = X[i, d]
        xt[D] = 1
        mx = -np.inf
        for k in range(K):
            z = W[r0 + k, D]
            for d in range(D):
                z += X[i, d] * W[r0 + k, d]
            xt[A + k] = z
            mx = max(mx, z)
        sm = xt[0] * 0
        for k in range(K):
            e = exp(xt[A + k] - mx)
            xt[A + k] = e
            sm += e
        for k in range(K):
            xt[A + k] /= sm
        for k in range(K):
            pk = xt[A + k]
            for k2 in range(k + 1):
                c = pk * ((1 if k == k2 else 0) - xt[A + k2])
                for a in range(A):
                    ca = c * xt[a]
                    top = a + 1 if k == k2 else A  # the lower triangle of a diagonal block
                    for b2 in range(top):
                        H[k * A + a, k2 * A + b2] += ca * xt[b2]


@jit_kernel(parallel=True)
def partial_sums(loss, act, exact, X, XT, y, rows, W, b, excl, fb, G_acc, gb_acc, cost_acc, K):
    """Each chunk's sums over ``rows`` for every row of W (P, D): G_acc (C, P, D or 0), gb_acc, cost_acc (C, P).

    A model is K consecutive rows of W (``chunk_sums``).

    One parallel pass, a chunk a task: what a driver outside the compiled loop calls
    (the final cost, a Dask worker); summing the C slices in order gives the bits of
    the compiled loop.  C is ``n_chunks(rows.size)``.
    """
    P, D = W.shape
    C = G_acc.shape[0]
    for c in prange(C):
        Xt = np.empty((D, BLOCK), X.dtype)
        Zt = np.empty((P + 1, BLOCK), X.dtype)
        yb = np.empty(BLOCK, X.dtype)
        eb = np.empty(BLOCK, np.int64)
        lo, hi = chunk_bounds(rows.size, c, C)
        chunk_sums(
            loss,
            act,
            exact,
            X,
            XT,
            y,
            rows,
            lo,
            hi,
            W,
            b,
            P,
            G_acc[c],
            gb_acc[c],
            cost_acc[c],
            Xt,
            Zt,
            yb,
            excl,
            fb,
            eb,
            K,
        )


# ---------------------------------------------------------------- the two products
@jit_helper
def _eight_features(Xt, Zt, Wt, b, nb, g0, g1, P, d, first):
    """Z^T[m] += sum over features d .. d + 7 for models g0 .. g1 - 1 (``first``: Z^T[m] = b[m] + that sum).

    ``_forward``'s pass: two models at a time, the stand-in of an odd last model writing to
    Zt[P] (see there).  ``first`` is a constant where it is called, so each call compiles
    to one loop, with or without the load of Z^T; b[m] + the sum has the bits of b[m]
    stored first and the sum added.
    """
    x0, x1, x2, x3 = Xt[d], Xt[d + 1], Xt[d + 2], Xt[d + 3]
    x4, x5, x6, x7 = Xt[d + 4], Xt[d + 5], Xt[d + 6], Xt[d + 7]
    for m in range(g0, g1, 2):
        m1 = min(m + 1, P - 1)  # the stand-in's weights
        za, zb = Zt[m], Zt[m + 1]  # Zt[P] when m + 1 == P
        ba, bb = b[m], b[m1]
        a0, a1, a2, a3 = Wt[m, d], Wt[m, d + 1], Wt[m, d + 2], Wt[m, d + 3]
        a4, a5, a6, a7 = Wt[m, d + 4], Wt[m, d + 5], Wt[m, d + 6], Wt[m, d + 7]
        c0, c1, c2, c3 = Wt[m1, d], Wt[m1, d + 1], Wt[m1, d + 2], Wt[m1, d + 3]
        c4, c5, c6, c7 = Wt[m1, d + 4], Wt[m1, d + 5], Wt[m1, d + 6], Wt[m1, d + 7]
        for j in range(nb):
            u0, u1, u2, u3 = x0[j], x1[j], x2[j], x3[j]
            u4, u5, u6, u7 = x4[j], x5[j], x6[j], x7[j]
            sa = ((a0 * u0 + a1 * u1) + (a2 * u2 + a3 * u3)) + ((a4 * u4 + a5 * u5) + (a6 * u6 + a7 * u7))
            sb = ((c0 * u0 + c1 * u1) + (c2 * u2 + c3 * u3)) + ((c4 * u4 + c5 * u5) + (c6 * u6 + c7 * u7))
            za[j] = (ba if first else za[j]) + sa
            zb[j] = (bb if first else zb[j]) + sb


@jit_helper
def _forward(Xt, Zt, Wt, b, nb, g0, g1, P):
    """Z^T[m] = b[m] + sum_d Wt[m, d] X^T[d] for the block's nb rows and models g0 .. g1 - 1 of P.

    Two models by eight features a pass (then by four, then one): sixteen weights, two
    sums and eight rows of X^T in registers, each sum loaded and stored once for eight
    products (AVX-512VL gives thirty-two ymm registers: 35.6 GFLOP/s against 29.5 for
    two by four, n=128 D=32 P=64, one thread).  An odd last model is paired with a
    stand-in writing to the spare row Zt[P] (results dropped), so every model runs
    through the same loops: its bits do not depend on its position.  Rows of Zt may not
    alias: hence the spare row, not the model itself.  g1 - g0 is even unless g1 = P.
    Features outside the models so the rows of X^T stay in L1.
    """
    D = Xt.shape[0]
    d = 0
    if D >= 8:  # the first pass starts Z^T at b (no pass of its own that sets it: 2% of a fit's time)
        _eight_features(Xt, Zt, Wt, b, nb, g0, g1, P, 0, True)
        d = 8
    else:
        for m in range(g0, g1 + 1 if g1 == P else g1):  # the spare row too: never used, but defined
            zm = Zt[m]
            bm = b[min(m, P - 1)]
            for j in range(nb):
                zm[j] = bm
    while d + 8 <= D:
        _eight_features(Xt, Zt, Wt, b, nb, g0, g1, P, d, False)
        d += 8
    if d + 4 <= D:  # four features left
        x0, x1, x2, x3 = Xt[d], Xt[d + 1], Xt[d + 2], Xt[d + 3]
        for m in range(g0, g1, 2):
            m1 = min(m + 1, P - 1)
            za, zb = Zt[m], Zt[m + 1]
            a0, a1, a2, a3 = Wt[m, d], Wt[m, d + 1], Wt[m, d + 2], Wt[m, d + 3]
            c0, c1, c2, c3 = Wt[m1, d], Wt[m1, d + 1], Wt[m1, d + 2], Wt[m1, d + 3]
            for j in range(nb):
                u0, u1, u2, u3 = x0[j], x1[j], x2[j], x3[j]
                za[j] += (a0 * u0 + a1 * u1) + (a2 * u2 + a3 * u3)
                zb[j] += (c0 * u0 + c1 * u1) + (c2 * u2 + c3 * u3)
        d += 4
    while d < D:  # the last features, one a pass (the same for every model)
        x0 = Xt[d]
        for m in range(g0, g1):
            za = Zt[m]
            a0 = Wt[m, d]
            for j in range(nb):
                za[j] += a0 * x0[j]
        d += 1


@jit_helper
def _backward(Xt, Zt, G, nb, g0, g1, P):
    """G[m, d] += E^T[m] . X^T[d] over the block's nb rows for models g0 .. g1 - 1 of P, as register reductions.

    Two models by four features a pass: eight accumulators, two rows of E and one of
    X^T in registers (AVX2 has sixteen ymm registers; the former four-by-four tile
    spilled them to the stack and ran at 15 GFLOP/s, this one at 35, n=128 D=32 P=32,
    one thread).  An odd last model is paired with itself (results dropped): LLVM
    vectorizes a loop with one accumulator with another interleave than one with
    eight, which would give a model other bits in another position.
    """
    D = Xt.shape[0]
    for m in range(g0, g1, 2):
        m1 = min(m + 1, P - 1)
        z0 = Zt[m]
        z1 = Zt[m1]
        d = 0
        while d + 4 <= D:
            xa, xb, xc, xd = Xt[d], Xt[d + 1], Xt[d + 2], Xt[d + 3]
            a0 = a1 = b0 = b1 = c0 = c1 = e0 = e1 = xa[0] * 0
            for j in range(nb):
                q0, q1 = z0[j], z1[j]
                u = xa[j]
                a0 += u * q0
                a1 += u * q1
                u = xb[j]
                b0 += u * q0
                b1 += u * q1
                u = xc[j]
                c0 += u * q0
                c1 += u * q1
                u = xd[j]
                e0 += u * q0
                e1 += u * q1
            G[m, d] += a0
            G[m, d + 1] += b0
            G[m, d + 2] += c0
            G[m, d + 3] += e0
            if m1 > m:
                G[m1, d] += a1
                G[m1, d + 1] += b1
                G[m1, d + 2] += c1
                G[m1, d + 3] += e1
            d += 4
        while d < D:  # the last features, one a pass
            xa = Xt[d]
            a0 = a1 = xa[0] * 0
            for j in range(nb):
                u = xa[j]
                a0 += u * z0[j]
                a1 += u * z1[j]
            G[m, d] += a0
            if m1 > m:
                G[m1, d] += a1
            d += 1

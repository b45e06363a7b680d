"""Elementwise kernels: parallel loops over flat contiguous arrays.

Each kernel takes a loss or activation object as its first argument; its numba
type names the formula (``_extending.FormulaType``), so numba compiles and caches
one specialisation per formula and dtype, and LLVM inlines the formula into the
loop, which then vectorizes.  ``part`` picks value (0), grad (1) or hess (2)
outside the loops.  A target of size 1 is read once outside the loop (the common
``target=0.0``).  Inputs are assumed valid: the public modules validate first.
"""

import numpy as np
from numba import prange

from . import _extending as fx
from . import _libm
from ._jit import jit_formula, jit_helper, jit_kernel

# elements per block of a reduction: partial sums per block, added in block
# order, so the result does not depend on the number of threads
SUM_BLOCK = 4096


@jit_formula
def _plus(a, b):
    """The sum a + b, compiled without ``reassoc`` (a formula's flags): LLVM keeps the order of these adds."""
    return a + b


@jit_helper
def _ordered_sum(buf, m):
    """sum(buf[:m]) in one fixed order: eight running sums, then added pairwise.

    Element i goes to running sum i % 8, the last m % 8 elements to the first.
    A kernel's own ``+=`` may be reassociated, and LLVM picks the vector order of such a
    sum per compilation: numba's cached copy of a parallel kernel is optimized apart from
    the copy compiled in the process, and their sums differed in the last bit (huber,
    4096 elements).  These adds cannot be reordered, so the serial and parallel kernels,
    fresh or cached, give the same bits; the eight sums still run side by side.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = buf[0] * 0
    i = 0
    while i + 8 <= m:
        s0 = _plus(s0, buf[i])
        s1 = _plus(s1, buf[i + 1])
        s2 = _plus(s2, buf[i + 2])
        s3 = _plus(s3, buf[i + 3])
        s4 = _plus(s4, buf[i + 4])
        s5 = _plus(s5, buf[i + 5])
        s6 = _plus(s6, buf[i + 6])
        s7 = _plus(s7, buf[i + 7])
        i += 8
    while i < m:
        s0 = _plus(s0, buf[i])
        i += 1
    return _plus(_plus(_plus(s0, s1), _plus(s2, s3)), _plus(_plus(s4, s5), _plus(s6, s7)))


@jit_kernel(parallel=True)
def act_map(f, part, x, out):
    """out[i] = value/grad/hess of activation ``f`` at x[i]."""
    if part == 0:
        for i in prange(out.size):
            out[i] = fx.value(f, x[i])
    elif part == 1:
        for i in prange(out.size):
            out[i] = fx.grad(f, x[i])
    else:
        for i in prange(out.size):
            out[i] = fx.hess(f, x[i])


@jit_kernel(parallel=True)
def loss_map(f, part, p, t, out):
    """out[i] = value/grad/hess of loss ``f`` at (p[i], t[i]); ``t`` may have size 1."""
    n = out.size
    if part == 0:
        if t.size == 1:
            tv = t[0]
            for i in prange(n):
                out[i] = fx.value(f, p[i], tv)
        else:
            for i in prange(n):
                out[i] = fx.value(f, p[i], t[i])
    elif part == 1:
        if t.size == 1:
            tv = t[0]
            for i in prange(n):
                out[i] = fx.grad(f, p[i], tv)
        else:
            for i in prange(n):
                out[i] = fx.grad(f, p[i], t[i])
    else:
        if t.size == 1:
            tv = t[0]
            for i in prange(n):
                out[i] = fx.hess(f, p[i], tv)
        else:
            for i in prange(n):
                out[i] = fx.hess(f, p[i], t[i])


@jit_kernel(parallel=True)
def loss_value_and_grad(f, p, t, out_value, out_grad):
    """Value and gradient of loss ``f`` in one fused pass."""
    n = out_value.size
    if t.size == 1:
        tv = t[0]
        for i in prange(n):
            out_value[i], out_grad[i] = fx.value_and_grad(f, p[i], tv)
    else:
        for i in prange(n):
            out_value[i], out_grad[i] = fx.value_and_grad(f, p[i], t[i])


@jit_kernel(parallel=True)
def loss_sum(f, p, t):
    """sum_i loss(p[i], t[i]) accumulated in float64, independent of the thread count."""
    n = p.size
    nblocks = (n + SUM_BLOCK - 1) // SUM_BLOCK
    partial = np.zeros(nblocks, dtype=np.float64)
    step = 0 if t.size == 1 else 1
    for b in prange(nblocks):
        lo = b * SUM_BLOCK
        hi = min(n, lo + SUM_BLOCK)
        buf = np.empty(SUM_BLOCK, np.float64)  # float64 sums for float32 data too
        for i in range(lo, hi):  # the losses, vectorized; then their sum, in a fixed order
            buf[i - lo] = fx.value(f, p[i], t[i * step])
        partial[b] = _ordered_sum(buf, hi - lo)
    return _ordered_sum(partial, nblocks) if nblocks > 0 else 0.0


@jit_kernel(parallel=True)
def special_map(which, x, out):
    """out[i] = exp/log/log1p/sigmoid/softplus/log_sigmoid (which = 0..5) of x[i]."""
    n = out.size
    if which == 0:
        for i in prange(n):
            out[i] = _libm.exp(x[i])
    elif which == 1:
        for i in prange(n):
            out[i] = _libm.log(x[i])
    elif which == 2:
        for i in prange(n):
            out[i] = _libm.log1p(x[i])
    elif which == 3:
        for i in prange(n):
            out[i] = _libm.sigmoid(x[i])
    elif which == 4:
        for i in prange(n):
            out[i] = _libm.softplus(x[i])
    else:
        for i in prange(n):
            out[i] = _libm.log_sigmoid(x[i])


@jit_kernel(parallel=True)
def count_outside(x, lo, hi):
    """(how many x[i] lie outside [lo, hi], the first such i or -1); NaN counts as inside."""
    n = x.size
    nblocks = (n + SUM_BLOCK - 1) // SUM_BLOCK
    counts = np.zeros(nblocks, dtype=np.int64)
    firsts = np.full(nblocks, -1, dtype=np.int64)
    for b in prange(nblocks):
        lo_i = b * SUM_BLOCK
        hi_i = min(n, lo_i + SUM_BLOCK)
        c = 0
        for i in range(lo_i, hi_i):
            c += (x[i] < lo) | (x[i] > hi)
        counts[b] = c
        if c:
            for i in range(lo_i, hi_i):
                if x[i] < lo or x[i] > hi:
                    firsts[b] = i
                    break
    total = 0
    first = -1
    for b in range(nblocks):
        total += counts[b]
        if first < 0 and firsts[b] >= 0:
            first = firsts[b]
    return total, first

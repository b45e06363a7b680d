"""The one place where fastgd's jit options live (numba-stats ``_util._jit``).

Two flavours:

* ``jit_formula`` for scalar formulas (elementary functions, losses, activations):
  ``fastmath={"contract"}`` only.  FMA contraction only makes results more
  accurate; ``reassoc`` would let LLVM undo the Cody-Waite reduction and the
  cancellation-free forms the formulas rely on.
* ``jit_kernel`` for loops over arrays: the safe fastmath subset, never ``nnan``
  or ``ninf`` (they fold ``isnan`` away and break divergence detection, numba
  issue 2919).  Flags are per LLVM instruction, so a formula inlined into a
  kernel keeps its own stricter flags.

Only the top-level kernels (those called from Python) are ``cache=True``.  numba
caches compiled functions as object code, which cannot be inlined into a new
caller: a kernel compiled in a process where its formulas came from the cache
would call them through a pointer per element and not vectorize (7x slower).
So formulas (``jit_formula``) and kernel helpers (``jit_helper``) are never
cached; they compile together with the kernel that inlines them, and the cached
kernel carries their code.  Later processes load the kernels (``fastgd.warmup``).

numba invalidates a cached kernel only when its own source file changes: after
editing ``_math.py``, ``_libm.py``, ``_chain.py``, ``_extending.py``, ``_optim.py``,
``_source.py`` or ``_monitor.py`` in a checkout, delete the cache
(``find fastgd -name '*.nb[ic]' -delete``), or kernels keep the old code.  A fresh
install rewrites every file, so users are safe.
"""

import functools

import numba

from . import _threads

_threads.choose()  # before any parallel kernel runs: a layer safe under fork

SAFE_FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
FORMULA_FASTMATH = frozenset({"contract"})


def jit_formula(fn):
    """Compile a scalar formula; never cached, always inlined by LLVM (``forceinline``).

    Left to LLVM's cost model, a composition such as log1p(exp(x)) in a plain
    loop exceeds the inline threshold, stays a call and the loop does not
    vectorize (26 ns instead of 1.5 ns an element).
    """
    return numba.njit(error_model="numpy", fastmath=set(FORMULA_FASTMATH), nogil=True, forceinline=True)(fn)


def jit_helper(fn):
    """Compile a loop called from kernels only (kernel fastmath, never cached, always inlined)."""
    return numba.njit(error_model="numpy", fastmath=set(SAFE_FASTMATH), nogil=True, forceinline=True)(fn)


def jit_kernel(fn=None, *, parallel=False):
    """Compile an array kernel called from Python (cached); ``parallel=True`` enables ``prange``."""

    def deco(f):
        kernel = numba.njit(
            cache=True,
            error_model="numpy",
            fastmath=set(SAFE_FASTMATH),
            nogil=True,
            parallel=parallel,
        )(f)
        return _ParallelKernel(kernel) if parallel else kernel

    return deco if fn is None else deco(fn)


class _ParallelKernel:
    """A parallel kernel called from Python through ``_threads.launch`` (one thread at a time under workqueue).

    Attributes (``signatures``, ``py_func``, ...) are the numba dispatcher's.
    """

    def __init__(self, kernel):
        self.kernel = kernel
        functools.update_wrapper(self, kernel.py_func)

    def __call__(self, *args):
        return _threads.launch(self.kernel, *args)

    def __getattr__(self, name):
        return getattr(self.kernel, name)

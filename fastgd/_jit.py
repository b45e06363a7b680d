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

Everything is ``cache=True``: the first call compiles and writes the cache next
to the module; later processes load it (see ``fastgd.warmup``).
"""

import numba

SAFE_FASTMATH = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
FORMULA_FASTMATH = frozenset({"contract"})


def jit_formula(fn):
    """Compile a scalar formula (LLVM inlines it into every caller)."""
    return numba.njit(cache=True, error_model="numpy", fastmath=set(FORMULA_FASTMATH), nogil=True)(fn)


def jit_kernel(fn=None, *, parallel=False):
    """Compile an array kernel; ``parallel=True`` enables ``prange``."""

    def deco(f):
        return numba.njit(
            cache=True,
            error_model="numpy",
            fastmath=set(SAFE_FASTMATH),
            nogil=True,
            parallel=parallel,
        )(f)

    return deco if fn is None else deco(fn)

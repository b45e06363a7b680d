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

numba's cache is keyed on the kernel's own source file only, so an edit to a formula
in ``_math.py`` or a helper in ``_source.py`` would leave the kernels that inline it
stale.  fastgd's kernels are keyed on every source file of the package instead
(``SOURCES_DIGEST``, the stamp numba compares with its index): an edit anywhere in
``fastgd/`` recompiles every kernel on its next use, and the test suite always tests
what is on disk.
"""

import functools
import hashlib
import pathlib
import types

import numba
from numba.core import caching

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


def _sources_digest():
    """SHA-256 of every Python source of the package, by relative path and content, in path order."""
    root = pathlib.Path(__file__).resolve().parent
    h = hashlib.sha256(f"fastgd sources, numba {numba.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root).as_posix()).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.digest()


SOURCES_DIGEST = _sources_digest()


def _keyed_on_sources(locator):
    """A numba cache locator whose source stamp is ``SOURCES_DIGEST`` rather than the kernel's own file."""
    return type(f"Sources{locator.__name__}", (locator,), {"get_source_stamp": lambda self: SOURCES_DIGEST})


class _SourcesKeyedImpl(caching.CompileResultCacheImpl):
    _locator_classes = [_keyed_on_sources(c) for c in caching.CompileResultCacheImpl._locator_classes]


class _SourcesKeyedCache(caching.FunctionCache):
    """numba's cache of compiled functions, stale as soon as any source file of fastgd changes."""

    _impl_class = _SourcesKeyedImpl


def jit_kernel(fn=None, *, parallel=False):
    """Compile an array kernel called from Python (cached); ``parallel=True`` enables ``prange``."""

    def compile(f, parallel):
        kernel = numba.njit(
            cache=True, error_model="numpy", fastmath=set(SAFE_FASTMATH), nogil=True, parallel=parallel
        )(f)
        kernel._cache = _SourcesKeyedCache(kernel.py_func)  # in place of numba's own (FunctionCache)
        return kernel

    def deco(f):
        if not parallel:
            return compile(f, False)
        return _ParallelKernel(compile(f, True), compile(_renamed(f, "_serial"), False))

    return deco if fn is None else deco(fn)


# below this many elements an elementwise kernel runs on the calling thread: a parallel
# launch costs about 10 microseconds (hundreds under workqueue), a serial pass of 2**12
# elements of the cheapest loss (mse) about as much (both measured in one process)
SERIAL_BELOW = 2**12


def _renamed(f, suffix):
    """A copy of ``f`` under another name: numba's cache keys a kernel by name and line, not by its flags."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix, f.__defaults__, f.__closure__)
    g.__qualname__ = f.__qualname__ + suffix
    g.__doc__ = f.__doc__
    return g


class _ParallelKernel:
    """A parallel kernel, called from Python through ``_threads.launch`` (one thread at a time under workqueue).

    ``sized(n)`` gives the kernel for n elements of work: below ``SERIAL_BELOW`` the
    same code compiled without threads (``prange`` runs as ``range``; the same bits,
    since fastgd's reductions never depend on the thread count).  Other attributes
    (``signatures``, ``py_func``, ...) are the parallel dispatcher's.
    """

    def __init__(self, kernel, serial):
        self.kernel, self.serial = kernel, serial
        functools.update_wrapper(self, kernel.py_func)

    def __call__(self, *args):
        return _threads.launch(self.kernel, *args)

    def sized(self, n):
        return self.serial if n < SERIAL_BELOW else self

    def __getattr__(self, name):
        return getattr(self.kernel, name)

"""The numba threading layer under fastgd's parallel kernels: safe under fork and under threads.

numba runs ``prange`` loops on TBB, OpenMP or its own workqueue, and by default
takes the first of them that loads.  Two of those choices break common uses:

* GNU OpenMP (Linux) does not survive ``fork``: a child forked after a parallel
  call -- a default ``multiprocessing`` pool, joblib's or Dask's process workers --
  is terminated ("fork() called from a process already using GNU OpenMP").
* numba's workqueue aborts the process ("Concurrent access") when two Python
  threads launch parallel kernels at the same time.

So at import, unless the user chose a layer (``NUMBA_THREADING_LAYER``), fastgd asks
numba for a fork-safe one ("forksafe"): TBB where it loads (safe under fork and
threads; the ``tbb`` wheel, a dependency on the platforms that have one, puts
``libtbb`` under ``sys.prefix/lib``, off the loader's path, so it is loaded from
there first), else a fork-safe OpenMP (not on Linux), else workqueue.  Under
workqueue, fastgd's parallel launches take turns behind one lock (:func:`launch`).
The layer is global to the process: where another library ran a parallel numba
kernel before fastgd was imported, its layer stays; if that is GNU OpenMP, fastgd
says so once (a RuntimeWarning), since a fork after a fastgd call is then unsafe.
"""

import ctypes
import os
import site
import sys
import threading
import warnings

import numba

_LOCK = threading.Lock()
_serial = None  # True under workqueue; None until the layer is known
_TBB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib"}


def _preload_tbb():
    """Load libtbb from where the ``tbb`` wheel puts it, so numba's TBB layer finds it by name."""
    name = _TBB_NAMES.get(sys.platform)
    if name is None:
        return
    for prefix in (sys.prefix, site.getuserbase(), sys.base_prefix):
        path = os.path.join(prefix, "lib", name)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            return


def choose():
    """At import: a fork-safe layer unless the user named one (``NUMBA_THREADING_LAYER``)."""
    _preload_tbb()  # also for a user who named "tbb"
    chosen = os.environ.get("NUMBA_THREADING_LAYER", "default").lower()
    if chosen == "default" and str(numba.config.THREADING_LAYER).lower() == "default":
        numba.config.THREADING_LAYER = "forksafe"


def _layer_is_serial():
    global _serial
    if _serial is None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet: take turns until it is known
            return True
        _serial = layer == "workqueue"
        if layer == "omp":
            from numba.np.ufunc import omppool

            if getattr(omppool, "openmp_vendor", "") == "GNU":
                warnings.warn(
                    "numba's threading layer is GNU OpenMP (NUMBA_THREADING_LAYER=omp, or chosen by code "
                    "that ran before fastgd was imported): a process forked after a fastgd call (a default "
                    "multiprocessing pool) will be terminated. Unset NUMBA_THREADING_LAYER, or set it to "
                    "'tbb' or 'workqueue', or use the 'spawn' start method.",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return _serial


def launch(kernel, *args):
    """Call a parallel kernel; under workqueue, one Python thread at a time."""
    if _serial is False or not _layer_is_serial():
        return kernel(*args)
    with _LOCK:
        return kernel(*args)

import os

import numpy as np
import pytest
from hypothesis import settings

WORKER_BYTES = 6 * 2**30  # a pytest-xdist worker's peak: kernels compiled in it, 5.3 GB measured


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): a worker per core, as many as the memory holds (at most 4)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): xdist's count
        return None
    return max(1, min(cores, memory // WORKER_BYTES))


# no time limit per example: unit tests assert no timings (speed is bench/'s), and an
# example may pay a kernel's compilation or a loaded machine's delay
settings.register_profile("fastgd", deadline=None)
settings.load_profile("fastgd")

# per-dtype tolerances for comparisons against the long-double references
TOL = {np.float64: dict(rtol=1e-13, atol=1e-300), np.float32: dict(rtol=2e-6, atol=1e-37)}


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param

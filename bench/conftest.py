"""Benchmark setup: NumPy baselines and JAX peers from fastgd/_baselines.py (one registry, shared with tests)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastgd._baselines import have_jax, have_optax  # noqa: E402
from tests.reference import NUMPY_BASELINES  # noqa: E402

HAVE_JAX = have_jax()  # jax is in the bench and test extras (optax needs it)
HAVE_OPTAX = have_optax()


@pytest.fixture
def baselines():
    return NUMPY_BASELINES


def pytest_xdist_auto_num_workers(config):
    """Timed benchmarks run serially (``-n auto`` gives no workers): parallel workers would time each other."""
    return 0 if config.getoption("benchmark_enable") else None


def impls():
    """Implementations to compare; JAX only where it is installed."""
    return ["numpy", "fastgd"] + (["jax"] if HAVE_JAX else [])

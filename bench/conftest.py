"""Benchmark setup: the NumPy baselines come from tests/reference.py (one registry)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference import NUMPY_BASELINES  # noqa: E402

try:
    import jax

    jax.config.update("jax_enable_x64", True)
    HAVE_JAX = True
except ImportError:  # jax is in the bench extra, not the test extra
    HAVE_JAX = False


@pytest.fixture
def baselines():
    return NUMPY_BASELINES


def impls():
    """Implementations to compare; JAX only where it is installed."""
    return ["numpy", "fastgd"] + (["jax"] if HAVE_JAX else [])

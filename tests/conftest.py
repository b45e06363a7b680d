import numpy as np
import pytest
from hypothesis import settings

# no time limit per example: unit tests assert no timings (speed is bench/'s), and an
# example may pay a kernel's compilation or a loaded machine's delay
settings.register_profile("fastgd", deadline=None)
settings.load_profile("fastgd")

# per-dtype tolerances for comparisons against the long-double references
TOL = {np.float64: dict(rtol=1e-13, atol=1e-300), np.float32: dict(rtol=2e-6, atol=1e-37)}


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param

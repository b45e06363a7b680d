import numpy as np
import pytest

# per-dtype tolerances for comparisons against the long-double references
TOL = {np.float64: dict(rtol=1e-13, atol=1e-300), np.float32: dict(rtol=2e-6, atol=1e-37)}


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param

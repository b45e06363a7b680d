"""Cold start: a fresh process that imports the library and evaluates one loss and its gradient.

The kernel cache is warm (the warm-up run fills it), as for any user after the
first run.  JAX's equivalent: import, jit, first call.
"""

import subprocess
import sys

import pytest
from conftest import HAVE_JAX

SCRIPTS = {
    "fastgd": (
        "import numpy as np, fastgd\nx = np.linspace(-1, 1, 1000)\nfastgd.losses.logistic.value_and_grad(x, 1.0)\n"
    ),
    "jax": (
        "import jax, jax.numpy as jnp\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "f = jax.jit(lambda z: (jnp.logaddexp(0, z) - z, jax.nn.sigmoid(z) - 1.0))\n"
        "jax.block_until_ready(f(jnp.linspace(-1, 1, 1000)))\n"
    ),
    "numpy": "import numpy as np\nx = np.linspace(-1, 1, 1000)\nnp.logaddexp(0, x) - x\n",
}
# numba imports SciPy (when installed) on its first cache load to look for BLAS, about 0.2 s;
# a plain `pip install fastgd` has no SciPy: simulate that environment here
SCRIPTS["fastgd_noscipy"] = "import sys\nsys.modules['scipy'] = None\n" + SCRIPTS["fastgd"]


def _run(script):
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize("impl", ["numpy", "fastgd", "fastgd_noscipy"] + (["jax"] if HAVE_JAX else []))
def test_cold_start(benchmark, impl):
    _run(SCRIPTS[impl])  # fills numba's on-disk cache
    benchmark.group = "cold start"
    benchmark.extra_info.update(case="cold_start", impl=impl, n=1, dtype="float64")
    benchmark.pedantic(_run, args=(SCRIPTS[impl],), rounds=5, iterations=1)


def _fastgd_fit(env=None):
    # the README's first command, process start to exit
    subprocess.run([sys.executable, "-m", "fastgd", "fit"], check=True, capture_output=True, env=env)


def test_cli_fit_wall_time(benchmark):
    """``fastgd fit`` on the default data (569 x 30, 32 learning rates, 500 steps), the kernel cache warm."""
    _fastgd_fit()  # fills the cache
    benchmark.group = "fastgd fit command"
    benchmark.extra_info.update(case="fastgd fit command", impl="fastgd", n=569, dtype="float64")
    benchmark.pedantic(_fastgd_fit, rounds=5, iterations=1)


def test_cli_fit_first_run_compiles(benchmark, tmp_path):
    """The first ``fastgd fit`` after install: every kernel it needs compiled (an empty NUMBA_CACHE_DIR)."""
    import os

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    benchmark.group = "fastgd fit command"
    benchmark.extra_info.update(case="fastgd fit command", impl="fastgd_first_run", n=569, dtype="float64")
    benchmark.pedantic(_fastgd_fit, args=(env,), rounds=1, iterations=1)

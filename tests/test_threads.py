"""fastgd under fork and under concurrent Python threads, on each numba threading layer.

Each case runs in a fresh interpreter: the threading layer is chosen once per process.
"""

import os
import subprocess
import sys

import pytest

FIT = """
import numpy as np, fastgd
X = np.random.default_rng(0).normal(size=(20000, 8))
y = (X[:, 0] > 0).astype(float)

def job(_=None):
    res = fastgd.fit(X, y, [0.1, 0.2, 0.3, 0.4], steps=10)
    sweep = fastgd.descend("mse", np.linspace(-1, 1, 64), [0.1, 0.5], steps=50)
    return res.coef.tobytes() + sweep.w.tobytes()
"""

FORK = (
    FIT
    + """
import multiprocessing, numba
first = job()
with multiprocessing.get_context("fork").Pool(2) as pool:
    results = pool.map(job, range(4))
assert all(r == first for r in results), "a forked worker got other numbers"
print(numba.threading_layer())
"""
)

THREADS = (
    FIT
    + """
import threading, numba
first = job()
out = []
def work():
    for _ in range(5):
        out.append(job())
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert len(out) == 20 and all(r == first for r in out), "concurrent calls gave other numbers"
print(numba.threading_layer())
"""
)


def _run(code, layer):
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)


def _layer_loads(layer):
    probe = (
        "import fastgd, numba, numpy as np\n@numba.njit(parallel=True)\ndef f(a):\n    return a.sum()\nf(np.ones(4))"
    )
    return _run(probe, layer).returncode == 0


def test_the_default_layer_is_safe_under_fork():
    # GNU OpenMP would terminate every forked worker ("fork() called from a process already using GNU OpenMP")
    done = _run(FORK, "default")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("tbb", "workqueue") and done.stderr == ""


@pytest.mark.parametrize("layer", ["default", "tbb", "omp", "workqueue"])
def test_concurrent_calls_from_python_threads(layer):
    # workqueue aborts the process ("Concurrent access") unless launches take turns
    if layer != "default" and not _layer_loads(layer):
        pytest.skip(f"numba's {layer} layer does not load on this machine")
    done = _run(THREADS, layer)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == layer if layer != "default" else done.stdout.strip() in ("tbb", "workqueue")
    if layer == "omp" and "GNU OpenMP" in done.stderr:  # a user's choice of GNU OpenMP is named once
        assert done.stderr.count("RuntimeWarning") == 1 and "forked after a fastgd call" in done.stderr
    else:
        assert done.stderr == ""


def test_workqueue_is_safe_under_fork_too():
    done = _run(FORK, "workqueue")
    assert done.returncode == 0 and done.stdout.strip() == "workqueue", done.stderr

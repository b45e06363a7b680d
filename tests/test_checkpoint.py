"""Checkpoints: atomic saves, resumes bitwise equal to uninterrupted fits, other fits' checkpoints refused."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastgd
from fastgd import _checkpoint

FIELDS = ("coef", "intercept", "final_cost", "cost_history", "n_steps", "converged", "diverged")


def data(n=3000, D=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    y = (X @ rng.normal(size=D) + rng.normal(size=n) > 0).astype(int)
    return X, y


def same(a, b):
    for name in FIELDS:
        x, z = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == z.shape and x.tobytes() == z.tobytes(), name


CASES = {
    "adam": dict(lr=np.geomspace(1e-3, 30, 8), steps=120, method="adam"),
    "sgd-schedule": dict(lr=np.geomspace(1e-3, 10, 6), steps=150, batch_size=64, seed=3, schedule="cosine:150"),
    "cv-early": dict(lr=np.geomspace(1e-3, 3, 4), steps=200, cv=3, early_stopping=True, record_every=10, patience=2),
}


def interrupted(X, y, path, stop_at, every, kw):
    """A fit that 'dies' after its checkpoint of step ``stop_at``: the file then holds that state."""
    saves = []
    real = _checkpoint.save

    def save(p, digest, state):
        if not saves or int(saves[-1]) < stop_at:
            real(p, digest, state)
            saves.append(state["step"])

    _checkpoint.save = save
    try:
        fastgd.fit(X, y, checkpoint=path, checkpoint_every=every, **kw)
    finally:
        _checkpoint.save = real
    with np.load(path) as f:
        assert int(f["step"]) == stop_at
    return path


@pytest.mark.parametrize("case", list(CASES))
def test_resume_is_bitwise_equal_to_an_uninterrupted_fit(tmp_path, case):
    X, y = data()
    kw = CASES[case]
    ref = fastgd.fit(X, y, **kw)
    path = interrupted(X, y, tmp_path / "run.ckpt", 60, 30, kw)
    same(fastgd.fit(X, y, checkpoint=path, checkpoint_every=30, **kw), ref)
    with np.load(path) as f:  # the last save is the finished state
        assert int(f["step"]) == kw["steps"] + 1 or (np.asarray(f["status"]) != 0).all()
    same(fastgd.fit(X, y, checkpoint=path, checkpoint_every=30, **kw), ref)  # a finished checkpoint: the result again


def test_a_checkpoint_of_other_arguments_or_data_is_refused(tmp_path):
    X, y = data()
    kw = CASES["adam"]
    path = tmp_path / "run.ckpt"
    fastgd.fit(X, y, checkpoint=path, **kw)
    before = path.read_bytes()
    changes = [
        (X, y, dict(kw, lr=kw["lr"][:4])),
        (X, y, dict(kw, b1=0.8)),
        (X, y, dict(kw, steps=121)),
        (X, y, dict(kw, l2=1e-3)),
        (X + 1e-12, y, kw),
        (X, 1 - y, kw),
        (X.astype(np.float32), y, kw),
    ]
    for Xc, yc, kc in changes:
        with pytest.raises(ValueError, match="other arguments or data"):
            fastgd.fit(Xc, yc, checkpoint=path, **kc)
    assert path.read_bytes() == before  # refused, never overwritten


def test_bad_checkpoint_arguments(tmp_path):
    X, y = data(200, 3)
    with pytest.raises(ValueError, match="does not exist"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=tmp_path / "missing" / "run.ckpt")
    with pytest.raises(ValueError, match="is a directory"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=tmp_path)
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=3)
    with pytest.raises(ValueError, match="checkpoint_every"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=tmp_path / "a.ckpt", checkpoint_every=0)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a fastgd checkpoint"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=junk)


def test_save_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    _checkpoint.save(path, "abc", {"step": np.array(1)})
    before = path.read_bytes()

    def broken(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        _checkpoint.save(path, "abc", {"step": np.array(2)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary left behind
    assert int(_checkpoint.load(path, "abc")["step"]) == 1


CHILD = """
import sys
import numpy as np
import fastgd
sys.path.insert(0, {tests!r})
from test_checkpoint import KILL_DATA, KILL_KW, data, inputs
X, y = inputs({on_dask!r}, *data(*KILL_DATA))
fastgd.fit(X, y, checkpoint={path!r}, checkpoint_every=25, **KILL_KW)
"""
KILL_DATA = (20000, 16)
KILL_KW = dict(lr=np.geomspace(1e-3, 30, 16), steps=1500, method="adam", record_every=5)


def inputs(on_dask, X, y):
    """X and y as given, or as Dask arrays of 4 chunks (fitted on Dask's default scheduler)."""
    if not on_dask:
        return X, y
    da = pytest.importorskip("dask.array")
    return da.from_array(X, chunks=(X.shape[0] // 4, X.shape[1])), da.from_array(y, chunks=X.shape[0] // 4)


@pytest.mark.parametrize("on_dask", [False, True], ids=["in-memory", "dask"])
def test_a_fit_killed_with_sigkill_resumes_bitwise(tmp_path, on_dask):
    X, y = inputs(on_dask, *data(*KILL_DATA))
    path = tmp_path / "run.ckpt"
    code = textwrap.dedent(CHILD).format(tests=os.path.dirname(__file__), path=str(path), on_dask=on_dask)
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # the pid this test started, and nothing else
    finally:
        proc.kill()
        err = proc.communicate()[1]
    assert path.exists(), err.decode()
    with np.load(path) as f:
        step = int(f["step"])
    assert 0 < step < KILL_KW["steps"], f"the child was killed at step {step}: not in the middle of its fit"
    resumed = fastgd.fit(X, y, checkpoint=path, checkpoint_every=25, **KILL_KW)
    same(resumed, fastgd.fit(X, y, **KILL_KW))

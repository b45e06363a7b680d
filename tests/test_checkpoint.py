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
from fastgd import _checkpoint, _engine

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


class _Digest(Exception):
    pass


def _digest(monkeypatch, path, X, y, kw):
    """The fingerprint ``fit`` computes for these arguments, caught before any step."""

    def load(p, digest, required=()):
        raise _Digest(digest)

    monkeypatch.setattr(_checkpoint, "load", load)
    with pytest.raises(_Digest) as caught:
        fastgd.fit(X, y, checkpoint=path, **kw)
    return caught.value.args[0]


# every argument that changes a fit's result, each changed alone (base: an mse fit through an activation)
FINGERPRINTED = {
    "lr": dict(lr=0.2),
    "l2": dict(l2=1e-3),
    "loss": dict(loss="mae"),
    "loss parameter": dict(loss=fastgd.get_loss("huber", delta=0.5)),
    "activation": dict(activation="tanh"),
    "activation parameter": dict(activation=fastgd.get_activation("leaky_relu", alpha=0.2)),
    "method": dict(method="momentum"),
    "hyperparameter": dict(method="adam", b2=0.99),
    "schedule": dict(schedule="cosine:50"),
    "schedule parameter": dict(schedule="cosine:60"),
    "steps": dict(steps=41),
    "tol": dict(tol=1e-3),
    "fit_intercept": dict(fit_intercept=False),
    "batch_size": dict(batch_size=16),
    "seed": dict(batch_size=16, seed=1),
    "validation": dict(validation=0.2),
    "cv": dict(cv=3),
    "refit": dict(cv=3, refit=False),
    "early_stopping": dict(validation=0.2, early_stopping=True),
    "patience": dict(validation=0.2, early_stopping=True, patience=3),
    "record_every": dict(record_every=2),
    "max_abs_w": dict(max_abs_w=10.0),
}


def test_every_argument_that_changes_the_result_is_fingerprinted(tmp_path, monkeypatch):
    X, y = data(200, 3)
    yr = X @ [1.0, -1.0, 0.5]
    base = dict(lr=0.1, steps=40, loss=fastgd.get_loss("huber", delta=1.0),
                activation=fastgd.get_activation("leaky_relu", alpha=0.01))  # fmt: skip
    first = _digest(monkeypatch, tmp_path / "a.ckpt", X, yr, base)
    assert _digest(monkeypatch, tmp_path / "a.ckpt", X, yr, dict(base)) == first  # a rerun is recognised
    seen = {first: "base"}
    for name, change in FINGERPRINTED.items():
        kw = dict(base, **change)
        if name == "seed":
            kw, base_seed = dict(base, batch_size=16, seed=1), dict(base, batch_size=16, seed=0)
            assert _digest(monkeypatch, tmp_path / "a.ckpt", X, yr, base_seed) != _digest(
                monkeypatch, tmp_path / "a.ckpt", X, yr, kw
            )
            continue
        digest = _digest(monkeypatch, tmp_path / "a.ckpt", X, yr, kw)
        assert digest not in seen, f"{name} leaves the fingerprint as {seen.get(digest)} has it"
        seen[digest] = name
    for Xc, yc in ((X[::-1].copy(), yr), (X, yr + 1), (X.astype(np.float32), yr)):
        assert _digest(monkeypatch, tmp_path / "a.ckpt", Xc, yc, base) not in seen
    # what does not change the result does not change the fingerprint
    for same_result in (dict(checkpoint_every=7), dict(max_history_bytes=10**9), dict(progress=False)):
        assert _digest(monkeypatch, tmp_path / "a.ckpt", X, yr, dict(base, **same_result)) == first


def test_a_checkpoint_of_another_loss_parameter_is_refused(tmp_path):
    # huber's delta was left out of the fingerprint: delta=0.5 returned delta=1's coefficients, bitwise
    X, _ = data(300, 3)
    yr = X @ [3.0, 0.0, -1.0]
    path = tmp_path / "huber.ckpt"
    fastgd.fit(X, yr, [0.1], loss=fastgd.get_loss("huber", delta=1.0), steps=20, checkpoint=path)
    with pytest.raises(ValueError, match="other arguments or data"):
        fastgd.fit(X, yr, [0.1], loss=fastgd.get_loss("huber", delta=0.5), steps=20, checkpoint=path)


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
    with open(junk, "wb") as f:  # an .npz of something else: not taken for an older checkpoint
        np.savez(f, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"not a fastgd checkpoint \(no fingerprint\)"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=junk)


def _damaged(good, how):
    raw = good.read_bytes()
    if how == "truncated":
        return raw[: len(raw) // 2]
    if how == "flipped byte":  # inside the first member's data: the zip's CRC no longer matches
        import zipfile

        with zipfile.ZipFile(good) as z:
            info = z.infolist()[-1]
        h = info.header_offset  # the local header: name and extra lengths at +26 and +28
        at = h + 30 + int.from_bytes(raw[h + 26 : h + 28], "little") + int.from_bytes(raw[h + 28 : h + 30], "little")
        at += info.compress_size // 2
        return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    # a member missing: the same arrays but one
    with np.load(good) as f:
        state = {k: f[k] for k in f.files if k != how}
    import io

    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getvalue()


@pytest.mark.parametrize("how", ["truncated", "flipped byte", "S", "step", "stop_best_W"])
def test_a_damaged_checkpoint_is_refused_with_a_value_error(tmp_path, how):
    X, y = data(200, 3)
    kw = dict(lr=[0.1, 1.0], steps=20, validation=0.3, early_stopping=True, record_every=5)
    good = tmp_path / "good.ckpt"
    ref = fastgd.fit(X, y, checkpoint=good, **kw)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(_damaged(good, how))
    with pytest.raises(ValueError, match="damaged|not a fastgd checkpoint") as err:
        fastgd.fit(X, y, checkpoint=bad, **kw)
    assert "delete it" in str(err.value)
    same(fastgd.fit(X, y, checkpoint=good, **kw), ref)  # the undamaged one still resumes


def test_an_unwritable_checkpoint_path_is_refused_before_the_first_step(tmp_path, monkeypatch):
    X, y = data(200, 3)
    steps = []
    monkeypatch.setattr(_engine.Run, "run", lambda self, *a: steps.append(1))
    for path, match in [
        ("/proc/run.ckpt", "cannot write in '/proc'"),  # a read-only file system, even for root
        (str(tmp_path / "nosuch") + os.sep, "is a directory"),
        (tmp_path / "nosuch" / "run.ckpt", "does not exist"),
    ]:
        with pytest.raises(ValueError, match=match):
            fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=path)
    assert not steps


def test_temporary_files_of_a_killed_save_are_cleaned_up(tmp_path):
    X, y = data(200, 3)
    path = tmp_path / "run.ckpt"
    for name in ("run.ckpt.abc123.tmp", "run.ckpt.zz.tmp"):
        (tmp_path / name).write_bytes(b"half a checkpoint")
    (tmp_path / "other.ckpt.abc.tmp").write_bytes(b"not ours")
    fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.ckpt.abc.tmp", "run.ckpt"]


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


def test_a_checkpoint_of_another_format_is_refused_as_such(tmp_path):
    X, y = data(200, 3)
    path = tmp_path / "run.ckpt"
    fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=path)
    with np.load(path) as f:
        state = {k: f[k] for k in f.files}
    assert int(state["format"]) == _checkpoint.FORMAT
    del state["format"]  # as format 1 wrote them
    with open(path, "wb") as f:  # (np.savez given a path adds .npz to its name)
        np.savez(f, **state)
    with pytest.raises(
        ValueError, match=r"written by an older fastgd \(checkpoint format 1; this version reads format"
    ):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=path)
    with open(path, "wb") as f:
        np.savez(f, **state, format=np.array(_checkpoint.FORMAT + 1))
    with pytest.raises(ValueError, match="written by a newer fastgd"):
        fastgd.fit(X, y, lr=0.1, steps=5, checkpoint=path)

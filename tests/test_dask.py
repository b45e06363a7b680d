"""Fits on Dask arrays: equal to the in-memory fit, bitwise run to run and for any number of workers.

Without a client the tasks run on Dask's default scheduler; the cluster tests start a
``LocalCluster`` of separate worker processes on loopback and stop it.
"""

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import fastgd
from fastgd import _dask
from fastgd import cli as fastgd_cli
from tests.tables import write_example_tables

dd = pytest.importorskip("dask.dataframe", reason="the dask extra is part of the test extra")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

FIELDS = ("coef", "intercept", "final_cost", "cost_history", "n_steps", "converged", "diverged")


def data(n=2000, D=5, seed=0, classifier=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    z = X @ rng.normal(size=D) + 0.5 * rng.normal(size=n)
    return X, ((z > 0).astype(int) if classifier else z)


def close(a, b, rtol=1e-10):
    for name in ("coef", "intercept", "final_cost", "cost_history"):
        if getattr(a, name) is None and getattr(b, name) is None:
            continue
        x, z = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == z.shape, name
        ok = np.isfinite(z)
        assert np.array_equal(np.isfinite(x), ok), name
        scale = np.abs(z[ok]).max(initial=1e-300)
        assert np.abs(x[ok] - z[ok]).max(initial=0) <= rtol * scale, name
    for name in ("n_steps", "converged", "diverged"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def same(a, b):
    for name in FIELDS:
        x, z = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.shape == z.shape and x.tobytes() == z.tobytes(), name


KW = {
    "gd": dict(lr=np.geomspace(1e-3, 10, 6), steps=40),
    "gd-diverging": dict(lr=np.geomspace(1e-3, 100, 6), steps=40, loss="mse"),  # the largest rates diverge
    "adam": dict(lr=np.geomspace(1e-3, 1, 4), l2=[0.0, 0.01], steps=30, method="adam"),
    "sgd": dict(lr=np.geomspace(1e-3, 10, 5), steps=60, batch_size=64, seed=4, schedule="cosine:60"),
    "momentum-linear": dict(lr=[1e-3, 1e-2, 0.1], steps=30, method="momentum", loss="mse"),
    "converging": dict(lr=[0.01, 0.5, 2.0], steps=400, tol=1e-3, loss="mse", record_every=7),  # some stop early
    "no-intercept-no-costs": dict(lr=[0.1, 1.0], steps=25, fit_intercept=False, record_every=0, method="rmsprop"),
}


@pytest.mark.parametrize("case", list(KW))
def test_equals_the_in_memory_fit(case):
    kw = KW[case]
    X, y = data(classifier="loss" not in kw)
    ref = fastgd.fit(X, y, **kw)
    got = fastgd.fit(da.from_array(X, chunks=(300, 5)), da.from_array(y, chunks=300), **kw)
    close(got, ref)
    if case == "gd-diverging":
        assert ref.diverged.any() and not ref.diverged.all()  # a diverging run spoils no other
    if case == "converging":
        assert ref.converged.any() and not ref.converged.all()
    same(got, fastgd.fit(da.from_array(X, chunks=(300, 5)), da.from_array(y, chunks=300), **kw))


def test_progress_bar_follows_the_steps(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    from fastgd import _progress

    monkeypatch.setattr(_progress, "DELAY_SECONDS", 0)  # always draw the bar
    X, y = data(n=400)
    kw = dict(lr=[0.1, 1.0], steps=30)
    got = fastgd.fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100), progress=True, **kw)
    same(got, fastgd.fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100), **kw))
    assert "31/31" in capsys.readouterr().err  # steps 0 .. 30


def test_float32_stays_float32():
    X, y = data()
    kw = dict(lr=[0.01, 0.1], steps=20)
    got = fastgd.fit(da.from_array(X.astype(np.float32), chunks=500), da.from_array(y, chunks=500), **kw)
    ref = fastgd.fit(X.astype(np.float32), y, **kw)
    assert got.coef.dtype == np.float32
    close(got, ref, rtol=1e-5)


def test_dataframe_and_series_inputs_keep_names_and_labels():
    pd = pytest.importorskip("pandas")
    X, y = data()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["flag"] = X[:, 0] > 0.5  # bool and float columns: an object array to NumPy, converted as check_array does
    labels = pd.Series(np.where(y == 1, "yes", "no"))
    kw = dict(lr=[0.01, 0.1], steps=20)
    ref = fastgd.fit(frame, labels, **kw)
    got = fastgd.fit(dd.from_pandas(frame, npartitions=3), dd.from_pandas(labels, npartitions=3), **kw)
    close(got, ref)
    assert got.feature_names == ref.feature_names == list(frame.columns)
    assert list(got.classes) == list(ref.classes) == ["no", "yes"]


def test_column_chunks_and_other_y_chunks_are_rechunked():
    X, y = data()
    kw = dict(lr=[0.01, 0.3], steps=20, method="adam")
    rows = fastgd.fit(da.from_array(X, chunks=(400, 5)), da.from_array(y, chunks=400), **kw)
    split = fastgd.fit(da.from_array(X, chunks=(400, 2)), da.from_array(y, chunks=700), **kw)
    same(split, rows)  # y follows X's row chunks: the same chunks, the same sums
    close(fastgd.fit(da.from_array(X, chunks=(400, 5)), y, **kw), rows)  # an in-memory y beside a Dask X


def test_bad_dask_input_is_refused_before_any_work():
    X, y = data(n=200)
    dX, dy = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    unknown = dX[dX[:, 0] > -10]  # a boolean filter: the rows per chunk are unknown
    with pytest.raises(ValueError, match="X has unknown chunk sizes.*compute_chunk_sizes"):
        fastgd.fit(unknown, dy, lr=0.1)
    with pytest.raises(ValueError, match="y has unknown chunk sizes"):
        fastgd.fit(dX, dy[dy > -1], lr=0.1)
    with pytest.raises(ValueError, match="X has 200 rows and y has 150"):
        fastgd.fit(dX, dy[:150], lr=0.1)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="X has 1 NaN or infinite"):
        fastgd.fit(da.from_array(bad, chunks=50), dy, lr=0.1)
    with pytest.raises(ValueError, match="X must be 2-D"):
        fastgd.fit(dX[:, 0], dy, lr=0.1)
    with pytest.raises(ValueError, match="y must be 1-D"):
        fastgd.fit(dX, dX, lr=0.1)
    with pytest.raises(ValueError, match="two classes|2 classes|labels"):
        fastgd.fit(dX, dy * 0 + 1, lr=0.1)


HELD_OUT = {
    "cv": dict(cv=4, l2=[0.0, 0.01]),
    "cv-no-refit-log-loss": dict(cv=3, refit=False, scoring="neg_log_loss"),
    "validation": dict(validation=0.25),
    "validation-pair": dict(validation="pair"),
    "cv-pairs-sgd": dict(cv="pairs", batch_size=64, seed=3),
    "cv-early-stopping": dict(
        cv=3, early_stopping=True, patience=2, record_every=5, lr=np.geomspace(1e-3, 30, 4), steps=300
    ),
    "cv-r2": dict(cv=3, loss="mse", scoring="r2"),
    "validation-mae": dict(validation=0.3, loss="mse", scoring="neg_mean_absolute_error", method="adam"),
}
SCORES = ("val_score", "cv_score", "mean_cv_score", "cv_coef", "cv_intercept", "cv_n_steps", "cv_diverged")


@pytest.mark.parametrize("case", list(HELD_OUT))
def test_held_out_scores_equal_the_in_memory_fit(case):
    kw = dict(HELD_OUT[case])
    X, y = data(classifier=kw.get("loss") != "mse")
    if kw.get("validation") == "pair":
        Xv, yv = data(n=300, seed=5)
        kw["validation"] = (Xv, yv)
    if kw.get("cv") == "pairs":
        rng = np.random.default_rng(0)
        order = rng.permutation(X.shape[0])
        kw["cv"] = [(np.sort(order[500:]), order[:500]), (order[:1500], order[1500:1800])]  # not a partition
    kw = {"lr": np.geomspace(1e-3, 3, 4), "steps": 60, **kw}
    ref = fastgd.fit(X, y, **kw)
    got = fastgd.fit(da.from_array(X, chunks=(300, 5)), da.from_array(y, chunks=300), **kw)
    close(got, ref)
    for name in SCORES + ("stopped_early", "cv_stopped_early"):
        a, b = getattr(got, name), getattr(ref, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=name)
    assert got.best_params == ref.best_params
    if case == "cv-early-stopping":
        assert ref.cv_stopped_early.any()


def test_what_dask_fits_do_not_do_yet_is_refused():
    X, y = data(n=200)
    dX, dy = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    with pytest.raises(ValueError, match="method='newton' is not available for Dask"):
        fastgd.fit(dX, dy, lr=0.1, method="newton")
    from sklearn.model_selection import KFold

    with pytest.raises(ValueError, match="splitter object is not available for Dask.*cv=K"):
        fastgd.fit(dX, dy, lr=0.1, cv=KFold(3))


def test_a_dask_input_without_dask_installed_names_the_extra(monkeypatch):
    X, y = data(n=100)
    dX, dy = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    monkeypatch.setitem(sys.modules, "dask.array", None)  # import dask.array now raises ImportError
    with pytest.raises(ImportError, match=r"fastgd\[dask\]"):
        fastgd.fit(dX, dy, lr=0.1)


def test_checkpoint_resume_on_dask_is_bitwise(tmp_path):
    X, y = data()
    kw = dict(lr=np.geomspace(1e-3, 1, 4), steps=40, method="adam", batch_size=128, seed=1)
    dX, dy = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    whole = fastgd.fit(dX, dy, **kw)
    path = tmp_path / "run.ckpt"
    part = fastgd.fit(dX, dy, checkpoint=path, checkpoint_every=10, **{**kw, "steps": 40})
    same(part, whole)
    # a checkpoint of step 20 (a fit that died there), resumed
    from fastgd import _checkpoint

    real, saves = _checkpoint.save, []

    def save(p, digest, state):
        if not saves or saves[-1] < 20:
            real(p, digest, state)
            saves.append(int(state["step"]))

    path2 = tmp_path / "died.ckpt"
    _checkpoint.save = save
    try:
        fastgd.fit(dX, dy, checkpoint=path2, checkpoint_every=10, **kw)
    finally:
        _checkpoint.save = real
    with np.load(path2) as f:
        assert int(f["step"]) == 20
    same(fastgd.fit(dX, dy, checkpoint=path2, checkpoint_every=10, **kw), whole)
    with pytest.raises(ValueError, match="other arguments or data"):  # other data: another token
        fastgd.fit(da.from_array(X + 1, chunks=500), dy, checkpoint=path2, **kw)


# --- on a cluster of separate worker processes (loopback only, stopped by the test) ---


cluster = _dask.local_cluster  # N single-threaded worker processes on loopback


def test_bitwise_equal_for_any_number_of_workers():
    X, y = data(n=3000)
    kw = dict(lr=np.geomspace(1e-3, 10, 5), steps=15, method="adam", batch_size=256, seed=2)
    folds = dict(lr=np.geomspace(1e-3, 10, 3), steps=20, cv=3, early_stopping=True, patience=1, record_every=2)
    local = fastgd.fit(da.from_array(X, chunks=400), da.from_array(y, chunks=400), **kw)  # default scheduler
    local_cv = fastgd.fit(da.from_array(X, chunks=400), da.from_array(y, chunks=400), **folds)
    for workers in (1, 2):
        with cluster(workers) as c, distributed.Client(c):
            got = fastgd.fit(da.from_array(X, chunks=400), da.from_array(y, chunks=400), **kw)
            got_cv = fastgd.fit(da.from_array(X, chunks=400), da.from_array(y, chunks=400), **folds)
        same(got, local)
        same(got_cv, local_cv)
        assert got_cv.cv_score.tobytes() == local_cv.cv_score.tobytes()
    close(local, fastgd.fit(X, y, **kw))


def test_a_worker_killed_mid_fit_changes_nothing(tmp_path):
    """X on disk (Parquet), a worker's process SIGKILLed by its pid while the fit runs."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = data(n=4000, D=4)
    frame = pd.DataFrame(X, columns=list("abcd")).assign(y=y)
    (tmp_path / "data").mkdir()
    for i in range(4):  # four files: four partitions
        frame.iloc[i * 1000 : (i + 1) * 1000].to_parquet(tmp_path / "data" / f"part.{i}.parquet", index=False)
    kw = dict(lr=np.geomspace(1e-3, 3, 4), steps=120, method="adam")
    ckpt = tmp_path / "run.ckpt"
    with cluster(2) as c, distributed.Client(c) as client:
        df = dd.read_parquet(tmp_path / "data")
        undisturbed = fastgd.fit(df[list("abcd")], df["y"], **kw)
        pids = sorted(client.run(os.getpid).values())
        killed = []

        def killer():  # once the fit is 10 steps in (its first checkpoint), kill a worker
            deadline = time.monotonic() + 120
            while not ckpt.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(time.monotonic())

        t = threading.Thread(target=killer)
        t.start()
        try:
            df = dd.read_parquet(tmp_path / "data")
            got = fastgd.fit(df[list("abcd")], df["y"], checkpoint=ckpt, checkpoint_every=10, **kw)
            ended = time.monotonic()
        finally:
            t.join()
        with np.load(ckpt) as f:
            assert int(f["step"]) == kw["steps"] + 1  # the fit went on to its end (the engine counts step 0)
        assert killed and killed[0] < ended  # killed while the fit ran
        assert pids[0] not in client.run(os.getpid).values()  # the nanny started another worker
    same(got, undisturbed)
    close(got, fastgd.fit(X, y, **kw))


# --- the CLI: DATA as a Parquet directory or a CSV glob, --dask, --checkpoint ---


@pytest.fixture
def tables(tmp_path):
    """The default data as three Parquet files (data/) and as three CSV files (parts/)."""
    return write_example_tables(tmp_path, rows_per_file=200)


def cli(capsys, *argv):
    code = fastgd_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def table(out):
    """The model table's lines (without the timing line)."""
    return [line for line in out.splitlines() if " s" not in line.split(":")[-1] and "on " not in line]


def test_cli_reads_parquet_and_csv_globs_as_the_csv_gives(capsys, tables, tmp_path):
    args = ("--lr", "1e-3:10:4:log", "--steps", "60")
    code, ref, err = cli(capsys, "fit", *args)
    assert code == 0, err
    code, pq, err = cli(capsys, "fit", str(tables / "data"), *args)
    assert code == 0, err
    code, csv, err = cli(capsys, "fit", str(tables / "parts" / "part-*.csv"), *args, "--dask", "local:1")
    assert code == 0, err
    assert table(pq) == table(ref) == table(csv)
    assert "98." in pq and "569 rows x 30 features" in pq


def test_cli_checkpoint_resumes_and_refuses_another_fit(capsys, tables):
    ckpt = tables / "run.ckpt"
    args = (
        str(tables / "data"),
        "--lr",
        "0.1,1",
        "--steps",
        "40",
        "--checkpoint",
        str(ckpt),
        "--checkpoint-every",
        "10",
    )
    code, first, err = cli(capsys, "fit", *args)
    assert code == 0 and ckpt.exists(), err
    code, again, err = cli(capsys, "fit", *args)  # the finished checkpoint: the same table
    assert code == 0 and table(again) == table(first), err
    code, out, err = cli(capsys, "fit", *args, "--l2", "0.5")
    assert code == 2 and "other arguments or data" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("local:x", "local:N needs a whole number"),
        ("local:0", "local:N needs a whole number"),
        ("somewhere", "give local:N"),
    ],
)
def test_cli_bad_dask_spec_is_one_line_exit_2(capsys, tables, spec, match):
    code, out, err = cli(capsys, "fit", str(tables / "data"), "--dask", spec)
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1


def test_cli_a_scheduler_that_does_not_answer_is_exit_2_within_the_timeout(capsys, tables):
    import socket

    with socket.socket() as s:  # a loopback port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    code, out, err = cli(
        capsys, "fit", str(tables / "data"), "--dask", f"tcp://127.0.0.1:{port}", "--dask-timeout", "1"
    )
    assert time.monotonic() - start < 30
    assert code == 2 and "no scheduler answered within 1 s" in err and len(err.strip().splitlines()) == 1


def test_cli_dask_needs_data_and_finds_missing_files(capsys, tables):
    code, out, err = cli(capsys, "fit", "--dask", "local:1")
    assert code == 2 and "--dask needs a DATA path" in err
    code, out, err = cli(capsys, "fit", str(tables / "none" / "*.csv"))
    assert code == 2 and "resolved to no files" in err
    code, out, err = cli(capsys, "fit", str(tables / "data"), "--target", "nope")
    assert code == 2 and "no target column 'nope'" in err


# --- descend(client=, chunks=): the w0 x lr grid in row blocks, one task each ---


DESCEND = {
    "adam-history": dict(method="adam", steps=200, tol=1e-8, record_every=20),
    "newton-schedule": dict(activation="sigmoid", target=1.0, method="newton", steps=50, schedule="cosine:50"),
    "gd-diverging": dict(steps=60),  # the largest rates diverge
}
RESULT = ("w", "loss", "grad", "n_steps", "status", "diverged_at", "history_w", "history_loss")


@pytest.fixture(scope="module")
def client():
    with cluster(2) as c, distributed.Client(c) as cl:
        yield cl


@pytest.mark.parametrize("case", list(DESCEND))
def test_descend_on_a_cluster_is_bitwise_equal_to_the_local_call(client, case):
    kw = DESCEND[case]
    loss = "log_loss" if "activation" in kw else "mse"
    w0, lr = np.linspace(-4, 4, 23), np.geomspace(1e-3, 30, 7)
    ref = fastgd.descend(loss, w0, lr, **kw)
    for chunks in (None, 1, 5, 100):
        got = fastgd.descend(loss, w0, lr, client=client, chunks=chunks, **kw)
        for name in RESULT:
            a, b = getattr(got, name), getattr(ref, name)
            assert (a is None and b is None) or (a.shape == b.shape and a.tobytes() == b.tobytes()), (name, chunks)
    if case == "gd-diverging":
        assert ref.diverged.any() and not ref.diverged.all()


def test_descend_client_arguments_are_checked(client):
    with pytest.raises(TypeError, match="client must be a dask.distributed Client"):
        fastgd.descend("mse", [1.0], [0.1], steps=3, client="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="chunks= splits the grid into tasks for client="):
        fastgd.descend("mse", [1.0], [0.1], steps=3, chunks=4)
    with pytest.raises(ValueError, match="chunks"):
        fastgd.descend("mse", [1.0], [0.1], steps=3, client=client, chunks=0)
    with pytest.raises(ValueError, match="progress=True is not available with client="):
        fastgd.descend("mse", [1.0], [0.1], steps=3, client=client, progress=True)


def test_the_reduction_tree_is_the_same_on_the_client_and_on_the_cluster(client, monkeypatch):
    """Few chunks: a task per worker, the sums added on the client; many: a task per chunk and a tree of tasks."""
    monkeypatch.setattr(_dask, "FANIN", 3)  # 8 chunks: a tree of two levels
    X, y = data(n=3000)
    kw = dict(lr=np.geomspace(1e-3, 10, 5), steps=10, method="adam")
    dX, dy = da.from_array(X, chunks=375), da.from_array(y, chunks=375)
    grouped = fastgd.fit(dX, dy, **kw)
    monkeypatch.setattr(_dask, "GATHER_MAX", 4)
    same(fastgd.fit(dX, dy, **kw), grouped)
    monkeypatch.setattr(_dask, "GATHER_MAX", 256)
    X2 = da.from_array(X, chunks=((375,) * 4 + (1500,), (5,)))  # chunks of other sizes: other sums, still close
    close(fastgd.fit(X2, da.from_array(y, chunks=375), **kw), grouped)

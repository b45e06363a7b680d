import csv
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import fastgd
from fastgd import cli, datasets


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    "text, want",
    [
        ("0.5", [0.5]),
        ("0.1, 1,10", [0.1, 1, 10]),
        ("-1:1:5", np.linspace(-1, 1, 5)),
        ("1e-3:10:5:log", np.geomspace(1e-3, 10, 5)),
        ("2:2:1", [2.0]),
        ("0:1:3:lin", [0, 0.5, 1]),
    ],
)
def test_parse_numbers(text, want):
    np.testing.assert_allclose(cli.parse_numbers(text, "--lr"), want, rtol=1e-15)


def test_parse_numbers_log_range_has_exact_ends():
    got = cli.parse_numbers("1e-4:1:50:log", "--lr")
    assert got[0] == 1e-4 and got[-1] == 1.0 and got.size == 50


@pytest.mark.parametrize(
    "text, match",
    [
        ("1:2", "is not a range"),
        ("1:2:3:4", "is not a range"),
        ("1:2:x", "count 'x' must be a whole number"),
        ("1:2:0", "at least 1"),
        ("0:1:5:log", "log range needs start and stop > 0"),
        ("a,1", "'a' is not a number"),
        ("inf", "not finite"),
        ("", "is not a number"),
    ],
)
def test_parse_numbers_errors(text, match):
    with pytest.raises(cli.UsageError, match=match):
        cli.parse_numbers(text, "--lr")


# ------------------------------------------------------------- fit
def test_fit_default_runs_on_embedded_data_and_ranks(capsys):
    code, out, err = run(capsys, "fit", "--top", "5")
    assert code == 0 and err == ""
    data = datasets.breast_cancer().standardized()
    lr = np.geomspace(1e-3, 100, 32)
    want = fastgd.fit(data.X, data.y, lr, steps=500, tol=1e-4, l2=1 / 569)
    assert "569 rows x 30 features (standardized)" in out
    assert "'benign' -> 0, 'malignant' -> 1" in out
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 5
    order = np.argsort(np.where(want.diverged, np.inf, want.final_cost), kind="stable")
    np.testing.assert_allclose([float(r[1]) for r in rows], lr[order[:5]], rtol=1e-3)
    acc = (want.predict(data.X, order[0]) == data.y).mean()
    assert f"best learning rate: {want.best_lr:g}" in out
    assert f"training accuracy {acc:.2%}" in out
    assert "... 27 more" in out


def test_fit_cv_ranks_by_the_held_out_score(capsys, tmp_path):
    out_file = tmp_path / "cv.csv"
    code, out, err = run(capsys, "fit", "--lr", "0.01,0.1,1", "--l2", "0,0.01", "--steps", "60", "--cv", "4",
                         "--seed", "3", "--quiet", "--out", str(out_file))  # fmt: skip
    assert code == 0 and err == ""
    data = datasets.breast_cancer().standardized()
    want = fastgd.fit(data.X, data.y, [0.01, 0.1, 1], l2=[0, 0.01], steps=60, tol=1e-4, cv=4, seed=3)
    rows = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [float(r[-1]) for r in rows] == sorted((float(f"{x:.4f}") for x in want.mean_cv_score), reverse=True)
    assert "cv accuracy" in out and f"cv accuracy {want.mean_cv_score[want.best]:.4f})" in out
    table = pd.read_csv(out_file)
    np.testing.assert_allclose(table["cv_accuracy"], want.mean_cv_score)


def test_fit_three_classes_is_the_multinomial_model(capsys, tmp_path):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame
    iris["species"] = np.array(["setosa", "versicolor", "virginica"])[iris.pop("target")]
    src, out_file = tmp_path / "iris.csv", tmp_path / "fits.csv"
    iris.to_csv(src, index=False)
    code, out, err = run(capsys, "fit", str(src), "--target", "species", "--lr", "0.1,1", "--steps", "100",
                         "--cv", "3", "--quiet", "--out", str(out_file))  # fmt: skip
    assert code == 0 and err == ""
    assert "classes: 3, a multinomial (softmax) model: 'setosa', 'versicolor', 'virginica'" in out
    table = pd.read_csv(out_file)
    assert "intercept_virginica" in table.columns and "coef_setosa_petal length (cm)" in table.columns
    assert table["accuracy"].max() > 0.9 and table["cv_accuracy"].max() > 0.9


def test_fit_validation_and_scoring(capsys):
    code, out, _ = run(capsys, "fit", "--lr", "0.1,1", "--steps", "30", "--validation", "0.3",
                       "--scoring", "neg_log_loss", "--quiet")  # fmt: skip
    assert code == 0 and "val neg_log_loss" in out
    code, _, err = run(capsys, "fit", "--cv", "3", "--validation", "0.3")
    assert code == 2 and "not allowed with argument --cv" in err
    code, _, err = run(capsys, "fit", "--validation", "2", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "strictly between 0 and 1" in err


def test_fit_without_held_out_scores_names_a_best_per_l2(capsys):
    code, out, _ = run(capsys, "fit", "--lr", "0.1,1", "--l2", "0,0.1", "--steps", "20", "--quiet")
    assert code == 0 and "final costs do not rank models across them" in out
    assert out.count("best learning rate") == 2


def test_fit_csv_with_outputs(capsys, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    y = X @ [2.0, -1.0] + 3.0
    path = tmp_path / "data.csv"
    pd.DataFrame({"u": X[:, 0], "v": X[:, 1], "out": y}).to_csv(path, index=False)
    code, out, err = run(
        capsys,
        "fit",
        str(path),
        "--loss",
        "mse",
        "--lr",
        "0.1,0.5,5",
        "--steps",
        "200",
        "--no-standardize",
        "--out",
        str(tmp_path / "r.csv"),
        "--plot",
        str(tmp_path / "c.png"),
    )
    assert code == 0, err
    assert "linear regression" in out and "accuracy" not in out
    table = pd.read_csv(tmp_path / "r.csv")
    want = fastgd.fit(X, y, [0.1, 0.5, 5], loss="mse", steps=200, tol=1e-4)
    np.testing.assert_array_equal(table["lr"], [0.1, 0.5, 5])
    np.testing.assert_allclose(table[["coef_u", "coef_v"]], want.coef, rtol=1e-15)
    np.testing.assert_allclose(table["intercept"], want.intercept, rtol=1e-15)
    assert table["status"].tolist() == ["converged", "converged", "diverged"]
    assert imread(tmp_path / "c.png").shape[2] in (3, 4)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_fit_other_formats(capsys, tmp_path, suffix):
    out_path = tmp_path / f"r{suffix}"
    code, _, err = run(capsys, "fit", "--lr", "0.1,1", "--steps", "20", "--l2", "0,0.01", "--out", str(out_path))
    assert code == 0, err
    cols = dict(np.load(out_path)) if suffix == ".npz" else pd.read_parquet(out_path)
    np.testing.assert_allclose(cols["lr"], [0.1, 0.1, 1, 1])
    np.testing.assert_allclose(cols["l2"], [0, 0.01, 0, 0.01])
    assert len(cols["coef_mean_radius"]) == 4 and (np.asarray(cols["accuracy"]) > 0.8).all()


# ------------------------------------------------------------- sweep
def test_sweep_summary_and_outputs(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "sweep",
        "--w0",
        "-5:5:11",
        "--lr",
        "0.01,0.4,1.5",
        "--steps",
        "300",
        "--tol",
        "1e-10",
        "--out",
        str(tmp_path / "s.csv"),
        "--plot",
        str(tmp_path / "s.png"),
    )
    assert code == 0, err
    want = fastgd.descend("mse", np.linspace(-5, 5, 11), [0.01, 0.4, 1.5], steps=300, tol=1e-10)
    assert f"converged {want.converged.mean():.1%}, diverged {want.diverged.mean():.1%}" in out
    best = want.best()
    assert f"best run: w0={best['w0']:g}, lr={best['lr']:g}: loss {best['loss']:.6g}" in out
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 33
    np.testing.assert_allclose([float(r["w"]) for r in rows], want.w.ravel(), rtol=1e-15)
    assert [r["diverged"] for r in rows[:3]] == ["False", "False", "True"]
    assert imread(tmp_path / "s.png").ndim == 3


def test_sweep_negative_ranges_after_options(capsys):
    code, out, err = run(capsys, "sweep", "--w0", "-2:-1:2", "--target", "-0.5", "--lr", ".1", "--steps", "5")
    assert code == 0, err
    assert "mse(identity(1 w), -0.5)" in out and "2 w0 x 1 lr" in out


def test_fit_with_an_optimizer_schedule_and_a_hyperparameter_axis(capsys, tmp_path):
    out_file = tmp_path / "adam.csv"
    code, out, err = run(
        capsys, "fit", "--method", "adam", "--schedule", "cosine:100", "--lr", "1e-3,1e-2,0.1", "--b1", "0.8,0.9",
        "--steps", "100", "--quiet", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert "3 learning rates, l2 0.00176 x 2 b1, up to 100 steps of adam (b2 0.999, eps 1e-08)" in out
    assert "schedule cosine(decay_steps=100, alpha=0.0)" in out
    assert " b1 " in out.splitlines()[4]  # the table has a b1 column
    table = pd.read_csv(out_file)
    assert list(table.columns[:5]) == ["lr", "l2", "b1", "b2", "eps"] and len(table) == 6
    res = fastgd.fit(
        datasets.breast_cancer().standardized().X, datasets.breast_cancer().y, [1e-3, 1e-2, 0.1], l2=1 / 569,
        method="adam", b1=[0.8, 0.9], schedule="cosine:100", steps=100, tol=1e-4,
    )  # fmt: skip
    np.testing.assert_allclose(table["final_cost"], res.final_cost, rtol=1e-12)
    best = res.best_params
    assert f"best learning rate: {best['lr']:g}, b1 {best['b1']:g} " in out


def test_sweep_with_nesterov_and_a_momentum_axis(capsys):
    code, out, err = run(capsys, "sweep", "--method", "nesterov", "--momentum", "0,0.5,0.9", "--lr", "0.01,0.1",
                         "--schedule", "step:10,0.5", "--steps", "50")  # fmt: skip
    assert code == 0, err
    assert "101 w0 x 6 (lr x momentum) = 606 runs" in out and "schedule step(boundaries=[10], factors=[0.5])" in out
    assert "momentum=" in out.splitlines()[-1]


def test_sweep_sigmoid_notes_vanishing_gradient(capsys):
    code, out, _ = run(capsys, "sweep", "--activation", "sigmoid", "--lr", "1e-3:1e3:7:log", "--steps", "50")
    assert code == 0 and "vanishing gradient" in out


# ------------------------------------------------------------- plot, bench, formulas
@pytest.mark.parametrize(
    "name, extra",
    [
        ("loss_curves", ["--losses", "mse,logistic"]),
        ("activation_curves", ["--activations", "tanh"]),
        ("trajectory", ["--w0", "-3", "--lr", "0.1,1.2"]),
        ("sweep_heatmap", ["--w0", "-1:1:5", "--lr", "0.1:1:4"]),
        ("cost_curves", ["--lr", "0.1,1", "--steps", "10"]),
        ("vanishing_gradient", ["--depth", "5", "--quiet"]),
        ("schedules", ["--steps", "300"]),
        ("schedules", ["--schedules", "cosine:100;step:50,0.5", "--steps", "120"]),
    ],
)
def test_plot_command(capsys, tmp_path, name, extra):
    path = tmp_path / f"{name}.png"
    code, out, err = run(capsys, "plot", name, "-o", str(path), *extra)
    assert code == 0, err
    img = imread(path)
    assert img.shape[0] > 100 and (img[..., :3] < 0.9).mean() > 0.01


def test_bench_prints_ratios(capsys):
    code, out, err = run(capsys, "bench", "--size", "1000", "--repeat", "1")
    assert code == 0, err
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("case"))
    rows = lines[head + 1 : head + 12]  # 3 elementwise, 2 sweeps, a fit without and with costs, SGD, softmax, 2 Adam
    assert all(row.endswith("x") for row in rows) and lines[head + 12] == ""
    for row in rows:
        ratios = [float(tok[:-1]) for tok in row.split() if tok.endswith("x") and tok[:-1].replace(".", "").isdigit()]
        assert ratios and all(r > 0 for r in ratios)


def test_bench_times_the_implementations_in_interleaved_rounds(monkeypatch):
    """Each round times every implementation once, the first one rotating; medians per implementation."""
    from fastgd import cli

    clock = [0.0]
    calls = []
    cost = {"numpy": 5.0, "fastgd": 1.0, "jax": 2.0}

    def impl(name):
        def run():
            calls.append(name)
            clock[0] += cost[name] * (1 + len(calls) % 3)  # uneven times: medians, not means or firsts

        return run

    monkeypatch.setattr(cli.time, "perf_counter", lambda: clock[0])
    medians = cli._paired_medians({name: impl(name) for name in cost}, 4)
    warm, rounds = calls[:3], calls[3:]
    assert warm == ["numpy", "fastgd", "jax"]
    first = ["numpy", "fastgd", "jax"]
    assert rounds == first + first[1:] + first[:1] + first[2:] + first[:2] + first  # a round each, rotating
    for name in cost:  # the times of the name's own calls, as the fake clock advanced them
        own = [cost[name] * (1 + (4 + i) % 3) for i, c in enumerate(rounds) if c == name]
        assert medians[name] == np.median(own)


def test_formulas_and_no_command(capsys):
    code, out, _ = run(capsys, "formulas")
    assert code == 0 and "log_loss (target 1)" in out and "leaky_relu" in out
    code, out, _ = run(capsys)
    assert code == 0 and "fit" in out and "start:stop:count:log" in out


# ------------------------------------------------------------- bad input: one line, exit 2, no file
@pytest.mark.parametrize(
    "argv, match",
    [
        (["fit", "missing.csv"], "no such data file"),
        (["fit", "--target", "nope"], "no target column 'nope'"),
        (["fit", "--lr", "1e-3:10"], "is not a range"),
        (["fit", "--lr", "-1"], "lr must be >= 0"),
        (["fit", "--loss", "mse"], "holds labels, not numbers"),
        (["fit", "--loss", "nope"], "invalid choice"),
        (["fit", "--steps", "x"], "invalid int value"),
        (["fit", "--out", "r.txt"], "unknown file type '.txt'"),
        (["fit", "--out", "no/such/dir/r.csv"], "does not exist"),
        (["fit", "--plot", "c.xyz"], "unknown file type"),
        (["sweep", "--steps", "-1"], "steps must be an integer in [0, 1000000000000]"),
        (["fit", "--features", "mean_radius,mean_texture,mean_radius"], "feature 'mean_radius' is listed twice"),
        (
            ["plot", "vanishing_gradient", "-o", "v.png", "--depth", "9223372036854775808"],
            "depth must be an integer in [1, 1000]",
        ),
        (["plot", "vanishing_gradient", "-o", "v.png", "--depth", "0"], "depth must be an integer in [1, 1000]"),
        (["sweep", "--w0", "nan"], "not finite"),
        (["plot", "loss_curves", "-o", "x.png", "--losses", "nope"], "unknown name 'nope'"),
        (["plot"], "required: NAME"),
        (["bench", "--size", "10"], "at least 100"),
        (["fit", "--top", "0"], "--top must be at least 1"),
        (["nope"], "invalid choice"),
        (
            ["fit", "--method", "adam", "--schedule", "cosine:abc"],
            "schedule argument decay_steps='abc' is not a number",
        ),
        (["fit", "--schedule", "fancy"], "unknown schedule 'fancy'"),
        (["sweep", "--schedule", "cosine:1,2,3"], "positional arguments come first"),
        (["fit", "--momentum", "0.5"], "momentum is a hyperparameter of method 'momentum' and 'nesterov'"),
        (["fit", "--method", "adam", "--b1", "1"], "b1 must be in [0, 1) for method 'adam'"),
        (["sweep", "--method", "adamw", "--weight-decay", "-1"], "weight_decay must be in [0, inf)"),
        (["plot", "schedules", "-o", "s.png", "--schedules", "cosine"], "decay_steps"),
        # a continuous column read as class labels (no --loss mse): it was a 539-class softmax
        (["fit", "--target", "mean_area"], "y looks continuous"),
        (["fit", "--cv", "3", "--scoring", "r2"], "this model is a classifier"),
        (["fit", "--checkpoint", "nosuch/"], "is a directory"),
        (["fit", "--checkpoint", "/proc/run.ckpt"], "cannot write in '/proc'"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("fastgd: error: ") and match in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_bad_data_leaves_no_output_file(capsys, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n3,,1\n")
    code, _, err = run(capsys, "fit", str(path), "--out", str(tmp_path / "r.csv"))
    assert code == 2 and "column 'b'" in err and "line 3" in err
    path.write_text("a,b,y\n1,x,0\n3,4,1\n")
    code, _, err = run(capsys, "fit", str(path), "--out", str(tmp_path / "r.csv"))
    assert code == 2 and "not numeric" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_failed_write_removes_the_temporary_file(tmp_path):
    def boom(tmp):
        with open(tmp, "w") as f:
            f.write("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cli._atomic_write(tmp_path / "r.csv", boom)
    assert list(tmp_path.iterdir()) == []


def test_parquet_without_pyarrow_is_refused_before_running(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    code, out, err = run(capsys, "fit", "--out", str(tmp_path / "r.parquet"))
    assert code == 2 and "needs pyarrow" in err and out == ""


def test_plot_without_matplotlib_is_refused_before_running(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, out, err = run(capsys, "sweep", "--plot", str(tmp_path / "s.png"))
    assert code == 2 and "needs matplotlib" in err and out == ""


def test_console_script_and_module_entry_points():
    done = subprocess.run(
        [sys.executable, "-m", "fastgd", "fit", "--lr", "1", "--steps", "3"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "best learning rate: 1" in done.stdout
    assert done.stderr == ""  # not a terminal: no progress bar
    bad = subprocess.run([sys.executable, "-m", "fastgd", "fit", "--lr", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stdout == ""


def test_any_numeric_column_is_a_regression_target(capsys):
    code, out, err = run(capsys, "fit", "--target", "mean_radius", "--loss", "mse", "--steps", "20", "--top", "1")
    assert code == 0, err
    assert "left out (not numeric): diagnosis" in out and "569 rows x 29 features" in out


def test_huge_feature_values_are_standardized_without_overflow(capsys, tmp_path):
    data = fastgd.datasets.breast_cancer()
    path = tmp_path / "huge.csv"
    X = data.X.copy()
    X[:, 0] *= 1e200
    names = data.feature_names
    with open(path, "w") as f:
        f.write(",".join(names + ["diagnosis"]) + "\n")
        for row, label in zip(X, data.y, strict=True):
            f.write(",".join(repr(float(x)) for x in row) + f",{label}\n")
    lines = []
    for source in (str(path), None):
        argv = ["fit", "--lr", "1", "--steps", "100"] + ([source] if source else [])
        code, out, err = run(capsys, *argv)
        assert code == 0 and err == ""  # no RuntimeWarning
        lines.append([line for line in out.splitlines() if line.startswith("best learning rate")][0])
    assert lines[0] == lines[1]  # the same fit as on the unscaled data


@pytest.mark.parametrize(
    "argv", [["sweep", "--w0", "0:1:100000000"], ["bench", "--size", "1e12"], ["fit", "--lr", "0:1:1000000000000"]]
)
def test_huge_grids_are_refused_up_front_with_the_size_needed(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "GiB, more than the" in err and "of memory available" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", "--out", "{d}"],
        ["fit", "--plot", "{d}"],
        ["sweep", "--out", "{d}"],
        ["plot", "loss_curves", "-o", "{d}"],
    ],
)
def test_an_output_naming_a_folder_is_refused_before_any_work(capsys, tmp_path, argv):
    folder = tmp_path / ("taken" + (".png" if "-o" in argv or "--plot" in argv else ".csv"))
    folder.mkdir()
    code, out, err = run(capsys, *[a.format(d=folder) for a in argv])
    assert code == 2 and out == "" and "is a folder; name a file in it" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name] and not list(folder.iterdir())


def test_output_files_follow_the_umask(capsys, tmp_path):
    old = os.umask(0o022)
    try:
        code, _, _ = run(capsys, "sweep", "--w0", "1", "--lr", "0.1", "--out", str(tmp_path / "r.csv"))
        assert code == 0 and stat.S_IMODE(os.stat(tmp_path / "r.csv").st_mode) == 0o644
        os.umask(0o077)
        code, _, _ = run(capsys, "sweep", "--w0", "1", "--lr", "0.1", "--out", str(tmp_path / "s.npz"))
        assert code == 0 and stat.S_IMODE(os.stat(tmp_path / "s.npz").st_mode) == 0o600
        os.chmod(tmp_path / "r.csv", 0o640)  # an existing file keeps its mode
        code, _, _ = run(capsys, "sweep", "--w0", "1", "--lr", "0.1", "--out", str(tmp_path / "r.csv"))
        assert code == 0 and stat.S_IMODE(os.stat(tmp_path / "r.csv").st_mode) == 0o640
    finally:
        os.umask(old)


def test_ctrl_c_during_a_sweep_exits_130_without_output(tmp_path):
    fastgd.descend("mse", [1.0], [0.1], steps=1, tol=1e-6)  # the subprocess loads the compiled kernel
    out = tmp_path / "r.csv"
    # tol 0: the small learning rates take millions of steps to reach a zero gradient, so Ctrl-C finds it running
    argv = [
        "-m",
        "fastgd",
        "sweep",
        "--w0",
        "-5:5:4000",
        "--lr",
        "1e-4:0.5:50:log",
        "--steps",
        "2000000",
        "--tol",
        "0",
        "--out",
    ]
    proc = subprocess.Popen(
        [sys.executable, *argv, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(4.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and err == "fastgd: interrupted\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["sweep", "--w0", "-1:1:3", "--lr", "0.1", "--steps", "5"], ["--help"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv):
    # `fastgd sweep ... | head -1` printed "fastgd: error: [Errno 32] Broken pipe" and exited 2
    fastgd.descend("mse", [1.0], [0.1], steps=1)  # the subprocess loads the compiled kernel
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write meets EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "fastgd", *argv], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120)  # fmt: skip
    finally:
        os.close(write)
    assert done.returncode == 0 and done.stderr == ""


def test_fit_early_stopping(capsys):
    code, out, _ = run(capsys, "fit", "--lr", "0.1,10", "--steps", "3000", "--validation", "0.3", "--tol", "0",
                       "--early-stopping", "--patience", "2", "--check-every", "10", "--quiet")  # fmt: skip
    assert code == 0 and "early stop" in out
    code, _, err = run(capsys, "fit", "--early-stopping", "--quiet")
    assert code == 2 and "needs held-out rows" in err

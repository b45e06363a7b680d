import warnings

import numba
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

import fastgd

from . import reference as ref


def _data(n=300, D=4, seed=0, classify=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    t = X @ rng.normal(size=D) + 0.5 * rng.normal(size=n)
    return X, ((t > 0).astype(float) if classify else t)


# each case is its own compiled engine (about 25 s on a 2-core machine): every method on
# logistic, and each other model with the methods whose paths it changes (the chain rule
# through an activation: test_descent checks it for every pair).  Huber's Hessian is
# singular: see the fallback test.
CASES = [
    ("logistic", None, "gd"),
    ("logistic", None, "momentum"),
    ("logistic", None, "newton"),
    ("mse", None, "gd"),
    ("mse", None, "newton"),
    ("log_loss", "sigmoid", "gd"),
    ("mse", "tanh", "newton"),
    ("huber", None, "momentum"),
]


@pytest.mark.parametrize("loss, act, method", CASES)
def test_matches_numpy_reference(loss, act, method):
    X, y = _data(classify=loss in ("logistic", "log_loss"))
    lr = [0.05, 0.3] if method != "momentum" else [0.01, 0.05]
    l2 = [0.0, 0.1]
    if method == "newton":
        lr = [0.5, 1.0]
    res = fastgd.fit(X, y, lr, loss=loss, activation=act, steps=25, l2=l2, method=method)
    coef, inter, hist = ref.fit(
        X,
        y,
        lr,
        l2,
        25,
        loss_name=loss,
        act_name=act or "identity",
        method=method,
        loss_param=fastgd.get_loss(loss).param,
    )
    np.testing.assert_allclose(res.coef, coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.intercept, inter, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.cost_history, hist, rtol=1e-10)
    np.testing.assert_allclose(res.lr, np.repeat(lr, 2))
    np.testing.assert_allclose(res.l2, np.tile(l2, 2))


@pytest.mark.parametrize("D", [1, 3, 4, 8, 13, 19])
@pytest.mark.parametrize("K", [1, 2, 3, 5, 6])
def test_every_tile_and_remainder_of_the_products(D, K):
    # the kernel's forward takes 2 models x 8 features a pass (then 4, then 1) and its backward 2 x 4,
    # each with remainder loops: these shapes reach every combination
    X, y = _data(n=300, D=D, seed=D)
    lr = np.linspace(0.05, 0.5, K)
    res = fastgd.fit(X, y, lr, steps=5)
    coef, inter, hist = ref.fit(
        X,
        y,
        lr,
        [0.0],
        5,
        loss_name="logistic",
        act_name="identity",
        method="gd",
        loss_param=fastgd.get_loss("logistic").param,
    )
    np.testing.assert_allclose(res.coef, coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.intercept, inter, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.cost_history, hist, rtol=1e-10)


def test_newton_falls_back_to_gd_where_the_hessian_is_singular():
    X, y = _data(classify=False)
    y = 100 + y  # at w = 0 every residual is outside huber's delta = 1: hess 0, H = 0
    newton = fastgd.fit(X, y, 0.1, loss="huber", method="newton", steps=1)
    gd = fastgd.fit(X, y, 0.1, loss="huber", method="gd", steps=1)
    np.testing.assert_array_equal(newton.coef, gd.coef)


def test_minibatch_sgd_is_reproducible_and_matches_reference():
    X, y = _data(n=250)
    a = fastgd.fit(X, y, [0.1, 0.5], steps=30, batch_size=64, seed=3)
    b = fastgd.fit(X, y, [0.1, 0.5], steps=30, batch_size=64, seed=3)
    np.testing.assert_array_equal(a.coef, b.coef)
    batches = ref.batches(3, 250, 64, 30)
    assert all(np.array_equal(np.sort(ref.shuffle(3, e, 250)), np.arange(250)) for e in range(3))
    coef, inter, hist = ref.fit(X, y, [0.1, 0.5], [0.0], 30, batches=batches)
    np.testing.assert_allclose(a.coef, coef, rtol=1e-10)
    np.testing.assert_allclose(a.cost_history, hist, rtol=1e-10)
    c = fastgd.fit(X, y, [0.1, 0.5], steps=30, batch_size=64, seed=4)
    assert not np.array_equal(a.coef, c.coef)


def _standardized(loader):
    data = loader()
    return StandardScaler().fit_transform(data.data), data.target


def test_logistic_regression_matches_scikit_learn_on_breast_cancer():
    X, y = _standardized(load_breast_cancer)
    n = X.shape[0]
    C = 0.5
    res = fastgd.fit(X, y, 1.0, l2=1 / (C * n), method="newton", steps=50, tol=1e-12)
    assert res.converged.all()
    sk = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(res.coef[0], sk.coef_[0], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.intercept[0], sk.intercept_[0], rtol=1e-6)
    np.testing.assert_allclose(res.predict_proba(X), sk.predict_proba(X), atol=1e-7)
    assert (res.predict(X) == sk.predict(X)).all()


def test_linear_and_ridge_regression_match_scikit_learn_on_diabetes():
    X, y = _standardized(load_diabetes)
    n = X.shape[0]
    ols = fastgd.fit(X, y, 1.0, loss="mse", method="newton", steps=3, tol=1e-9)
    sk = LinearRegression().fit(X, y)
    np.testing.assert_allclose(ols.coef[0], sk.coef_, rtol=1e-6)
    np.testing.assert_allclose(ols.intercept[0], sk.intercept_, rtol=1e-6)
    alpha = 10.0  # Ridge: ||y - Xw||^2 + alpha ||w||^2 = n * (mean sq. error + (l2 / 2) ||w||^2), l2 = 2 alpha / n
    ridge = fastgd.fit(X, y, 1.0, loss="mse", l2=2 * alpha / n, method="newton", steps=3, tol=1e-9)
    np.testing.assert_allclose(ridge.coef[0], Ridge(alpha=alpha).fit(X, y).coef_, rtol=1e-6)
    gd = fastgd.fit(X, y, 0.2, loss="mse", steps=5000, tol=1e-10)
    np.testing.assert_allclose(gd.coef[0], sk.coef_, rtol=1e-6)


def test_learning_rates_too_small_right_and_too_large():
    X, y = _standardized(load_breast_cancer)
    res = fastgd.fit(X, y, [1e-4, 0.5, 1e6], steps=200, record_every=10)
    assert res.cost_history.shape == (3, 21)
    assert res.cost_history[0, -1] > res.cost_history[1, -1]  # too small: slow
    assert res.best == 1 and res.best_lr == 0.5
    assert not res.diverged[:2].any()


def test_a_diverged_model_spoils_nothing():
    X, y = _data(classify=False)
    both = fastgd.fit(X, y, [0.1, 1e6], loss="mse", steps=50)
    alone = fastgd.fit(X, y, [0.1], loss="mse", steps=50)
    assert both.diverged.tolist() == [False, True]
    np.testing.assert_array_equal(both.coef[0], alone.coef[0])
    assert np.isfinite(both.coef).all() and both.best == 0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["mse", "logistic", "huber"])
def test_skipping_the_loss_values_between_records_changes_nothing(loss, dtype):
    # record_every=0 runs the kernel without loss values (z^2 as the finiteness proof),
    # record_every=1 with them at every step: same models, same divergence steps
    X, y = _data(classify=loss == "logistic")
    X = X.astype(dtype)
    lr = [0.01, 0.5, 3.0, 1e3, 1e9]
    exact = fastgd.fit(X, y, lr, loss=loss, steps=40, record_every=1)
    cheap = fastgd.fit(X, y, lr, loss=loss, steps=40, record_every=0)
    assert exact.diverged[-1] or loss != "mse"  # logistic, huber: bounded gradients, |w| grows slowly
    for name in ("coef", "intercept", "n_steps", "diverged", "converged", "final_cost"):
        np.testing.assert_array_equal(getattr(cheap, name), getattr(exact, name), err_msg=name)


def test_huge_targets_still_flag_an_infinite_cost():
    # |y| beyond finfo.max ** 0.25 makes MSE's cost overflow whatever z is: every step checks it
    X, y = _data(classify=False)
    res = fastgd.fit(X, y * 1e160, [0.1], loss="mse", steps=5, record_every=0)
    assert res.diverged.all() and res.n_steps[0] == 0


def test_thread_count_does_not_change_results():
    X, y = _data(n=5000)
    many = fastgd.fit(X, y, [0.1, 1.0], steps=20)
    numba.set_num_threads(1)
    try:
        one = fastgd.fit(X, y, [0.1, 1.0], steps=20)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(many.coef, one.coef)


def test_float32_pandas_labels_and_result_helpers():
    X, y = _data()
    labels = np.where(y > 0, "spam", "ham")
    df = pd.DataFrame(X.astype(np.float32), columns=list("abcd"))
    res = fastgd.fit(df, pd.Series(labels), [0.1, 1.0], steps=100)
    assert res.coef.dtype == np.float32 and res.classes.tolist() == ["ham", "spam"]
    assert set(res.predict(df)) <= {"ham", "spam"}
    table = res.to_pandas()
    assert list(table.columns[-4:]) == list("abcd") and len(table) == 2
    r64 = fastgd.fit(X, labels, [0.1, 1.0], steps=100)
    np.testing.assert_allclose(res.coef, r64.coef, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(X=np.zeros(5)), "X must be 2-D"),
        (dict(y=np.zeros((5, 1))), "y must be 1-D"),
        (dict(y=np.zeros(4)), "X has 5 rows and y has 4"),
        (dict(X=np.array([[1.0, np.nan]] * 5)), r"X has 5 NaN or infinite entries, the first at \(0, 1\)"),
        (dict(X=np.zeros((0, 2)), y=np.zeros(0)), "X is empty"),
        (dict(y=np.array([0, 1, 2, 0, 1]), loss="log_loss"), "exactly two classes .* found 3"),
        (dict(y=np.ones(5)), "at least two classes .* found 1"),
        # a continuous target read as labels would be a softmax of one class per value
        (dict(y=np.array([0.3, 1.2, -0.7, 2.0, 0.1])), r"y looks continuous \(y\[0\] = 0.3 .* loss='mse'"),
        (dict(y=np.array([0, 1, 0, 1, 0.5], np.float32)), r"y looks continuous \(y\[4\]"),
        (dict(y=pd.Series([0.0, 1.0, 0.0, 1.0, 1.5])), "y looks continuous"),
        (dict(y=np.array([0.0, 1.0, np.inf, 1.0, 0.0])), r"y looks continuous \(y\[2\] = inf"),
        (dict(lr=[-0.1]), "lr must be >= 0"),
        (dict(lr=[]), "lr is empty; a grid axis needs at least one value"),
        (dict(l2=np.array([])), "l2 is empty; a grid axis"),
        (dict(method="adam", b1=[]), "b1 is empty; a grid axis"),
        (dict(method="momentum", momentum=()), "momentum is empty; a grid axis"),
        (dict(l2=[-1.0]), "l2 must be >= 0"),
        (dict(batch_size=6), r"batch_size must be between 1 and the number of rows \(5\)"),
        (dict(method="lbfgs"), "unknown method 'lbfgs'"),
        (dict(loss="l1"), "unknown loss 'l1'"),
        (dict(steps=-1), r"steps must be an integer in \[0, 1000000000000\]"),
        (dict(steps=2**63), r"steps must be an integer in \[0, 1000000000000\]; got 9223372036854775808"),
        (dict(steps=2**63, record_every=0), r"steps must be an integer in \[0, 1000000000000\]"),
        (dict(y=np.array([0, 1, np.nan, 0, 1])), r"y has 1 missing labels \(NaN or None\), the first at index 2"),
        (dict(y=np.array([0, 1, None, 0, 1], dtype=object)), "y has 1 missing labels"),
        (dict(y=[0, 1, None, 0, 1]), "y has 1 missing labels"),
        (dict(y=[1, "a", 1, "a", 1]), r"y mixes labels of different kinds \(number, string"),
        (dict(y=np.array([1, "a", 1, "a", 1], dtype=object)), "y mixes labels of different kinds"),
        (dict(X=np.arange(10.0, dtype=np.float32).reshape(5, 2), lr=[1e-50]), r"lr must be 0 or at least 1.4e-45"),
        (dict(X=np.arange(10.0, dtype=np.float32).reshape(5, 2), lr=[0.1, 1e40]), r"lr must be at most 3.4e\+38"),
        (dict(X=np.arange(10.0, dtype=np.float32).reshape(5, 2), l2=[1e39]), r"l2 must be at most 3.4e\+38"),
        (dict(max_abs_w=1e300), r"max_abs_w=1e\+300 is above"),
    ],
)
def test_bad_input(change, match):
    args = dict(X=np.arange(10.0).reshape(5, 2), y=np.array([0, 1, 0, 1, 1]), lr=[0.1])
    args.update(change)
    X, y, lr = args.pop("X"), args.pop("y"), args.pop("lr")
    with pytest.raises(ValueError, match=match):
        fastgd.fit(X, y, lr, **args)


def test_regression_targets_with_nan_are_refused_and_predict_checks_features():
    X, y = _data(classify=False)
    y[7] = np.nan
    with pytest.raises(ValueError, match=r"y has 1 NaN or infinite entries, the first at \(7, 0\)"):
        fastgd.fit(X, y, 0.1, loss="mse")
    res = fastgd.fit(X, np.nan_to_num(y), 0.1, loss="mse", steps=5)
    with pytest.raises(ValueError, match="X has 3 features; the models were fitted on 4"):
        res.predict(X[:, :3])
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        res.predict_proba(X)


def test_agrees_with_the_numpy_baseline_the_benchmarks_use():
    X, y = _data(n=500, D=6)
    lr = np.array([0.05, 0.5, 2.0])
    res = fastgd.fit(X, y, lr, steps=40, record_every=0)
    W, b = ref.np_fit_batched(X, y, lr, 40)
    np.testing.assert_allclose(res.coef, W.T, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.intercept, b, rtol=1e-10, atol=1e-13)


def test_finite_check_is_not_fooled_by_an_overflowing_sum():
    X = np.array([[1e308, 0.0], [1e308, 1.0], [-1.0, 2.0], [0.5, 3.0]])  # finite, but sums to inf
    res = fastgd.fit(X, [0, 1, 0, 1], 0.0, steps=1)  # must not be refused as non-finite
    np.testing.assert_allclose(res.final_cost, np.log(2))  # lr = 0: w stays 0, every p = 1/2


# ------------------------------------------------------------- the engine
from fastgd import _engine  # noqa: E402


def _engine_run(X, y, lr, method="gd", batch_size=None, steps=30, tol=None, record_every=1):
    """A Run as fit builds it (logistic, l2 0.01 on every model)."""
    lr = np.asarray(lr, dtype=float)
    opt = fastgd.optimizers.get_optimizer(method)
    hp = np.full((lr.size, len(opt.hyperparams)), 0.9)
    return _engine.Run(
        fastgd.losses.logistic,
        None,
        opt,
        X,
        y,
        lr,
        np.full(lr.size, 0.01),
        hp,
        fit_intercept=True,
        steps=steps,
        tol=tol,
        bound=1e6,
        batch_size=batch_size,
        seed=5,
        record_every=record_every,
    )


@pytest.mark.parametrize("method", ["gd", "momentum", "newton"])
@pytest.mark.parametrize("batch_size", [None, 50])
def test_one_step_at_a_time_from_python_equals_the_compiled_loop(method, batch_size):
    # the parts a driver outside numba composes (rows, partial sums per chunk, update)
    # give the compiled loop's bits, diverging and converging models included
    X, y = _data(n=9000, D=5)
    lr = [0.1, 1.0, 5.0, 1e9] if method != "newton" else [0.5, 1.0, 1e9]
    compiled = _engine_run(X, y, lr, method, batch_size, tol=1e-3)
    compiled.run()
    parts = _engine_run(X, y, lr, method, batch_size, tol=1e-3)
    while parts.running():
        parts.step_by_parts()
    assert compiled.status.tolist() == parts.status.tolist()
    assert (compiled.status != 0).any()  # something stopped on the way
    for name in ("W", "S", "n_steps", "stopped_at", "history", "last_cost"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(parts, name), err_msg=name)


@pytest.mark.parametrize("batch_size", [None, 64])
def test_both_loops_and_every_thread_count_give_the_same_bits(batch_size):
    X, y = _data(n=20000, D=7)  # 20 000 rows: four chunks, so the rows loop runs them in parallel
    lr = [0.01, 0.3, 2.0, 1e8, 40.0]
    results = []
    for mode in ("sets", "rows"):
        for threads in (1, 2):
            _engine.MODE = mode
            numba.set_num_threads(threads)
            try:
                results.append(fastgd.fit(X, y, lr, steps=40, batch_size=batch_size, l2=[0.0, 0.1]))
            finally:
                _engine.MODE = None
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert results[0].diverged.any() and not results[0].diverged.all()
    for other in results[1:]:
        for name in ("coef", "intercept", "cost_history", "final_cost", "n_steps", "diverged"):
            np.testing.assert_array_equal(getattr(other, name), getattr(results[0], name), err_msg=name)


@pytest.mark.parametrize(("P", "threads"), [(1, 1), (3, 2), (10, 2), (64, 2), (100, 3), (1000, 16)])
def test_threads_own_every_model_once_in_runs_of_consecutive_models(P, threads):
    # runs of up to 8 models (few cache lines of W written by two threads), dealt
    # round-robin so that the high learning rates spread over the threads
    sets = _engine._model_sets(P, threads)
    assert len(sets) == threads and all(s.size > 0 for s in sets)
    np.testing.assert_array_equal(np.sort(np.concatenate(sets)), np.arange(P))
    run = 8 if P >= 16 * threads else max(1, P // (2 * threads))
    for t, s in enumerate(sets):
        assert ((s // run) % threads == t).all()
    assert max(s.size for s in sets) - min(s.size for s in sets) <= run


def test_a_model_gets_the_same_bits_wherever_it_sits_in_the_grid():
    # the products give every model the same instructions, whatever its position: a
    # model fitted alone equals the same model among others (and models can be dropped
    # as they stop without changing the rest)
    X, y = _data(n=700, D=13)
    grid = fastgd.fit(X, y, [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4], steps=20)
    for k, rate in enumerate(grid.lr):
        alone = fastgd.fit(X, y, [rate], steps=20)
        np.testing.assert_array_equal(alone.coef[0], grid.coef[k])
        np.testing.assert_array_equal(alone.cost_history[0], grid.cost_history[k])


def test_a_stopped_model_stands_still():
    X, y = _data(classify=False)
    res = fastgd.fit(X, y, [0.1, 0.3, 1e6], loss="mse", steps=400, tol=1e-6, record_every=1)
    assert res.converged[:2].all() and res.diverged[2]
    for k in range(3):
        stopped_at = res.n_steps[k]
        again = fastgd.fit(X, y, [res.lr[k]], loss="mse", steps=int(stopped_at))  # the same run, cut by steps
        np.testing.assert_array_equal(again.coef[0], res.coef[k])
        np.testing.assert_array_equal(again.intercept[0], res.intercept[k])
        # after it stopped, its history is its final cost
        assert (res.cost_history[k, stopped_at + 1 :] == res.final_cost[k]).all()


def test_minibatch_sequence_has_the_same_prefix_at_300_and_30000_steps():
    n, batch = 1000, 64
    short, long = np.empty((300, batch), np.int64), np.empty((30000, batch), np.int64)
    _engine.stream_rows(7, n, batch, 0, 300, short)
    _engine.stream_rows(7, n, batch, 0, 30000, long)
    np.testing.assert_array_equal(short, long[:300])
    np.testing.assert_array_equal(long[:16].ravel(), np.concatenate(ref.batches(7, n, batch, 15)))  # the reference
    epochs = long.ravel()[: (long.size // n) * n].reshape(-1, n)
    assert all(np.array_equal(np.sort(e), np.arange(n)) for e in epochs)  # each epoch is a permutation
    X, y = _data(n=n, D=3)
    a = fastgd.fit(X, y, [0.1, 0.5], steps=300, batch_size=batch, seed=7)
    b = fastgd.fit(X, y, [0.1, 0.5], steps=3000, batch_size=batch, seed=7)
    np.testing.assert_array_equal(a.cost_history, b.cost_history[:, :301])


def test_fit_refuses_a_bound_beyond_the_safe_range_and_bad_seeds():
    X, y = _data()
    with pytest.raises(ValueError, match="max_abs_w=1e\\+200 is above"):
        fastgd.fit(X, y, 0.1, max_abs_w=1e200)
    with pytest.raises(TypeError, match="fit_intercept must be True or False; got str 'no'"):
        fastgd.fit(X, y, 0.1, fit_intercept="no")
    res = fastgd.fit(X, y, [0.1, 0.2], steps=2)
    for model in (5, 2, -1, 1.0):
        with pytest.raises(ValueError, match=r"model must be an integer in \[0, 1\]"):
            res.predict(X, model=model)
    np.testing.assert_array_equal(res.predict(X, model=1), res.predict(X, model=np.int64(1)))
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        fastgd.fit(X, y, 0.1, batch_size=10, seed=-1)
    with pytest.raises(ValueError, match=r"the history needs .* MiB \(1001 records x 2 models\)"):
        fastgd.fit(X, y, [0.1, 0.2], steps=1000, max_history_bytes=1000)


def test_labels_keep_their_kind_and_only_refused_kinds_fail():
    X, y = _data()
    for labels in (np.where(y == 1, "b", "a"), np.where(y == 1, "b", "a").astype(object), list(np.where(y == 1, 7, 3))):
        res = fastgd.fit(X, labels, 0.5, steps=50)
        assert [str(c) for c in res.classes] in (["a", "b"], ["3", "7"])
        assert set(res.predict(X).tolist()) <= set(res.classes.tolist())


def test_two_numeric_classes_are_found_as_np_unique_finds_them():
    from fastgd.fit import _classes

    rng = np.random.default_rng(0)
    for labels in (
        rng.integers(0, 2, 500).astype(float),
        rng.integers(0, 2, 500).astype(bool),
        rng.integers(3, 5, 500).astype(np.uint8),
        np.array([-0.0, 0.0, 1.0, 0.0]),  # the zeros are one class
        np.array([2.5, 2.5], np.float32),  # one class
        rng.integers(0, 4, 500),  # more than two: np.unique itself
        np.array(["b", "a", "b"]),
    ):
        got, expect = _classes(labels), np.unique(labels)
        assert got.dtype == expect.dtype and np.array_equal(got, expect), labels


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", ["gd", "momentum", "newton"])
def test_diverging_models_are_flagged_never_warned_about(method, dtype):
    X, y = _data()
    X = (X * 1e3).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fastgd.fit(X, y, [1e-9, 1e30], loss="mse", method=method, steps=50, tol=1e-12)
        assert res.diverged[1] and not res.diverged[0]
        assert np.isfinite(res.coef[1]).all() and res.best == 0
        res.to_pandas()


def test_a_tolerance_beyond_float32_means_any_gradient_and_histories_of_stopped_models():
    X, y = _data()
    res = fastgd.fit(X.astype(np.float32), y, [0.1, 0.2], steps=5, tol=1e40)  # no overflow warning
    assert res.converged.all() and (res.n_steps == 0).all()
    np.testing.assert_array_equal(res.cost_history, np.repeat(res.final_cost[:, None], 6, axis=1))
    res = fastgd.fit(X, y, [0.01, 1e40], loss="mse", steps=10, record_every=3)  # the second diverges at once
    assert res.diverged.tolist() == [False, True] and res.cost_history.shape == (2, 4)
    assert (res.cost_history[1, 1:] == res.final_cost[1]).all() and res.cost_history[0, 3] != res.cost_history[0, 0]


@pytest.mark.parametrize("batch", [None, 16])
def test_final_cost_is_the_whole_data_cost_at_the_final_coefficients(batch):
    X, y = _data()
    res = fastgd.fit(X, y, [0.05, 0.5, 5.0], l2=[0.0, 0.1], steps=40, batch_size=batch, seed=2, tol=1e-3)
    for m in range(res.coef.shape[0]):
        z = X @ res.coef[m] + res.intercept[m]
        want = fastgd.losses.logistic.cost(z, y) + 0.5 * res.l2[m] * res.coef[m] @ res.coef[m]
        assert res.final_cost[m] == pytest.approx(want, rel=1e-12)


def test_regression_targets_in_object_arrays():
    X, y = _data(classify=False)
    as_objects = np.array(y.tolist(), dtype=object)
    np.testing.assert_array_equal(
        fastgd.fit(X, as_objects, 0.1, loss="mse", steps=5).coef, fastgd.fit(X, y, 0.1, loss="mse", steps=5).coef
    )
    as_objects[3] = None
    with pytest.raises(ValueError, match=r"y has 1 NaN or infinite entries, the first at \(3, 0\)"):
        fastgd.fit(X, as_objects, 0.1, loss="mse")
    as_objects[3] = "a"
    with pytest.raises(TypeError, match="y must be numbers for loss 'mse'"):
        fastgd.fit(X, as_objects, 0.1, loss="mse")


def test_a_minibatch_final_cost_is_computed_when_first_asked_for_and_pickles():
    import pickle

    X, y = _data(n=2000, D=3)
    res = fastgd.fit(X, y, [0.05, 0.5], steps=50, batch_size=32, seed=2, record_every=0)
    assert "computed on first access" in repr(res._final_cost)
    want = [fastgd.losses.logistic.cost(X @ res.coef[m] + res.intercept[m], y) for m in range(2)]
    np.testing.assert_allclose(res.final_cost, want, rtol=1e-12)
    assert res.final_cost is res.final_cost  # computed once
    again = pickle.loads(pickle.dumps(fastgd.fit(X, y, [0.05, 0.5], steps=50, batch_size=32, seed=2, record_every=0)))
    np.testing.assert_array_equal(again.final_cost, res.final_cost)
    assert again.best == res.best


def test_a_dataframe_of_bool_and_float_columns_is_converted_as_check_array_does():
    # it was refused with "X must be real numbers (... bool); got dtype object"
    X, y = _data(n=200, D=2)
    df = pd.DataFrame({"flag": X[:, 0] > 0, "x": X[:, 1], "n": np.arange(200) % 3})
    res = fastgd.fit(df, y, [0.1, 1.0], steps=30)
    plain = fastgd.fit(df.to_numpy(dtype=np.float64), y, [0.1, 1.0], steps=30)
    assert res.coef.dtype == np.float64 and res.feature_names == ["flag", "x", "n"]
    np.testing.assert_array_equal(res.coef, plain.coef)
    r32 = fastgd.fit(df[["flag"]].assign(x=df["x"].astype(np.float32)), y, 0.1, steps=5)
    assert r32.coef.dtype == np.float32  # bool with float32 is float32, as NumPy promotes
    nullable = df.astype({"flag": "boolean"})
    nullable.loc[3, "flag"] = pd.NA
    with pytest.raises(ValueError, match=r"X has 1 NaN or infinite entries, the first at \(3, 0\)"):
        fastgd.fit(nullable, y, 0.1, steps=5)
    with pytest.raises(TypeError, match=r"1 column\(s\) are not: 'city' \((object|str)\)"):
        fastgd.fit(df.assign(city="Oslo"), y, 0.1, steps=5)


def test_predict_reorders_a_dataframes_columns_by_the_fitted_names():
    # a DataFrame with its columns reordered gave other probabilities, silently
    X, y = _data(n=200, D=3)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    res = fastgd.fit(df, y, [0.5], steps=50)
    want = res.predict_proba(df)
    np.testing.assert_array_equal(res.predict_proba(df[["c", "a", "b"]]), want)
    np.testing.assert_array_equal(res.decision_function(df[["b", "c", "a"]]), res.decision_function(X))
    np.testing.assert_array_equal(res.predict_proba(X), want)  # a plain array is taken in the fitted order
    with pytest.raises(ValueError, match=r"missing \['c'\], unexpected \['d'\]"):
        res.predict(df.rename(columns={"c": "d"}))
    with pytest.raises(ValueError, match="X has 4 columns; the models were fitted on 3"):
        res.predict(df.assign(d=1.0))
    # a separate validation set's columns are taken by name too
    val = fastgd.fit(df, y, [0.5], steps=50, validation=(df[["b", "a", "c"]], y))
    assert val.val_score[0] == fastgd.fit(X, y, [0.5], steps=50, validation=(X, y)).val_score[0]

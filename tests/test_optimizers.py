"""Every optimizer in both engines, against optax's definitions (NumPy transcription and optax itself)."""

import importlib.util

import numba
import numpy as np
import pytest

import fastgd
from fastgd import schedules
from fastgd.optimizers import METHODS, get_optimizer

from . import reference as ref

ADAPTIVE = ("momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
# a schedule of each shape, with its reference twin
SCHEDULES = {
    None: None,
    "warmup_cosine": (schedules.warmup_cosine(5, 150, init_value=0.1, end_value=0.05), dict(
        warmup_steps=5, decay_steps=150, init_value=0.1, end_value=0.05)),
    "step": (schedules.step([3, 60], [0.5, 0.2]), dict(boundaries=[3, 60], factors=[0.5, 0.2])),
}  # fmt: skip
HAVE_OPTAX = importlib.util.find_spec("optax") is not None


def _ref_schedule(key):
    if key is None:
        return None, None
    sched, args = SCHEDULES[key]
    return sched, (lambda t: ref.schedule(key, t, **args))


def _data(n=240, D=3, seed=1, classify=True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, D))
    t = X @ rng.normal(size=D) + 0.5 * rng.normal(size=n)
    return X, ((t > 0).astype(float) if classify else t)


def _rates(method):
    # rates whose 200 steps are well conditioned (a 1e-13 change in lr moves the result by about 1e-13):
    # RMSProp, with no bias correction, bounces chaotically around the optimum from lr = 0.003 on
    rates = {"gd": [0.05, 0.5], "newton": [0.5, 1.0], "momentum": [0.01, 0.1], "nesterov": [0.01, 0.1]}
    rates["rmsprop"] = [0.0005, 0.001]
    return rates.get(method, [0.005, 0.05])


@pytest.mark.parametrize("sched_key", list(SCHEDULES))
@pytest.mark.parametrize("loss", ["logistic", "mse"])
@pytest.mark.parametrize("method", METHODS)
def test_fit_trajectories_match_the_optax_transcription(method, loss, sched_key):
    X, y = _data(classify=loss == "logistic")
    sched, ref_sched = _ref_schedule(sched_key)
    lr = _rates(method)
    for steps in (1, 10, 200):
        res = fastgd.fit(X, y, lr, loss=loss, l2=[0.0, 0.05], steps=steps, method=method, schedule=sched)
        coef, inter, hist = ref.fit(X, y, lr, [0.0, 0.05], steps, loss_name=loss, method=method, schedule=ref_sched)
        assert not res.diverged.any()
        np.testing.assert_allclose(res.coef, coef, rtol=1e-10, atol=1e-13, err_msg=f"{steps} steps")
        np.testing.assert_allclose(res.intercept, inter, rtol=1e-10, atol=1e-13, err_msg=f"{steps} steps")
        np.testing.assert_allclose(res.cost_history, hist, rtol=1e-10, err_msg=f"{steps} steps")


def _stable_runs(run_ref, w0, lr):
    """The reference, and which runs' whole trajectories move by <= 1e-12 when w0 and lr move by 1e-14.

    RMSProp at a large rate, or a step into sigmoid's flat tail, bounces chaotically for a
    while and amplifies any 1-ulp difference (FMA contraction, exp vs NumPy's exp): no two
    implementations agree there, so those runs are left out (test_descent does the same).
    """
    base = run_ref(w0, lr)
    ok = np.ones(base["w"].shape, dtype=bool)
    for sw, sl in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        pert = run_ref(w0 + sw * 1e-14 * np.maximum(1, np.abs(w0)), lr * (1 + sl * 1e-14))
        moved = np.abs(pert["history_w"] - base["history_w"]) / np.maximum(1, np.abs(base["history_w"]))
        ok &= (moved <= 1e-12).all(axis=0) & (pert["n_steps"] == base["n_steps"])
    return base, ok


@pytest.mark.parametrize("sched_key", list(SCHEDULES))
@pytest.mark.parametrize("act", ["identity", "sigmoid"])
@pytest.mark.parametrize("method", METHODS)
def test_descend_trajectories_match_the_optax_transcription(method, act, sched_key):
    sched, ref_sched = _ref_schedule(sched_key)
    w0 = np.array([-2.0, -0.3, 0.0, 0.8, 3.0])
    lr = np.array([0.0, 0.01, 0.1, 0.4, 0.9])
    if method in ("momentum", "nesterov"):
        lr = lr / 10
    elif method not in ("gd", "newton"):  # adaptive steps: about lr whatever the gradient
        lr = np.array([0.0, 0.001, 0.01, 0.03, 0.1])
    # tol 1e-6 stops a run before its gradient is mostly rounding: there (a - t cancels) adaptive
    # methods, which divide by the gradient's own size, turn a 1-ulp difference into a large step
    kw = dict(target=0.3, x=1.5, method=method, record_every=1, tol=1e-6)
    res = fastgd.descend("mse", w0, lr, steps=200, activation=act, schedule=sched, **kw)
    exp, ok = _stable_runs(lambda w, rates: ref.descend("mse", act, w, rates, 200, schedule=ref_sched, **kw), w0, lr)
    assert ok.mean() >= 0.6, "grid too chaotic to test"
    for name in ("n_steps", "converged", "diverged"):
        np.testing.assert_array_equal(getattr(res, name)[ok], exp[name][ok], err_msg=name)
    np.testing.assert_allclose(res.history_w[:, ok], exp["history_w"][:, ok], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.w[ok], exp["w"][ok], rtol=1e-10, atol=1e-13)


def _optax_fit(method, hyper, X, y, lr, steps, sched_fn):
    """optax driven by a plain loop on logistic regression (one model, float64): (w, b) after each step."""
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    rate = lr if sched_fn is None else (lambda count: lr * sched_fn(count))
    make = {
        "gd": lambda: optax.sgd(rate),
        "momentum": lambda: optax.sgd(rate, momentum=hyper["momentum"]),
        "nesterov": lambda: optax.sgd(rate, momentum=hyper["momentum"], nesterov=True),
        "adagrad": lambda: optax.adagrad(rate, **hyper),
        "rmsprop": lambda: optax.rmsprop(rate, **hyper),
        "adam": lambda: optax.adam(rate, **hyper),
        "adamw": lambda: optax.adamw(rate, **hyper),
    }
    opt = make[method]()
    params = (jnp.zeros(X.shape[1]), jnp.zeros(()))
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def cost(p):
        z = Xj @ p[0] + p[1]
        return jnp.mean(jnp.logaddexp(0.0, z) - yj * z)

    grad = jax.jit(jax.grad(cost))
    state = opt.init(params)
    out = []
    for _ in range(steps):
        updates, state = opt.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
        out.append((np.asarray(params[0]), float(params[1])))
    return out


@pytest.mark.skipif(not HAVE_OPTAX, reason="optax is not installed (pip install optax)")
@pytest.mark.parametrize("sched_key", [None, "warmup_cosine"])
@pytest.mark.parametrize("method", [m for m in METHODS if m != "newton"])
def test_fit_equals_optax_itself(method, sched_key):
    X, y = _data()
    sched, _ = _ref_schedule(sched_key)
    hyper = {k: v for k, v in ref.OPTAX_DEFAULTS[method].items()}
    if method == "adamw":
        hyper["weight_decay"] = 0.05  # large enough to move the trajectory
    lr = _rates(method)[-1]
    traj = _optax_fit(method, hyper, X, y, lr, 200, None if sched is None else (lambda c: sched_jax(sched_key, c)))
    for steps in (1, 10, 200):
        extra = {"weight_decay": hyper["weight_decay"]} if method == "adamw" else {}
        res = fastgd.fit(X, y, lr, steps=steps, method=method, schedule=sched, **extra)
        w, b = traj[steps - 1]
        np.testing.assert_allclose(res.coef[0], w, rtol=1e-10, atol=1e-13, err_msg=f"{steps} steps")
        np.testing.assert_allclose(res.intercept[0], b, rtol=1e-10, atol=1e-13, err_msg=f"{steps} steps")


def sched_jax(key, count):
    """optax's own schedule of the same shape (init or peak 1), for ``test_fit_equals_optax_itself``.

    optax keeps its step count as int32, and JAX divides int32 in float32: the schedule
    would carry float32 rounding (2.6e-7 relative).  Given the count as a float64, the
    same optax function computes in float64, as fastgd does.
    """
    import jax.numpy as jnp
    import optax

    count = jnp.asarray(count, jnp.float64)
    args = SCHEDULES[key][1]
    if key == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            args["init_value"], 1.0, args["warmup_steps"], args["decay_steps"], end_value=args["end_value"]
        )(count)
    raise KeyError(key)


@pytest.mark.skipif(not HAVE_OPTAX, reason="optax is not installed (pip install optax)")
@pytest.mark.parametrize("method", ["nesterov", "adam", "rmsprop"])
def test_descend_equals_optax_itself(method):
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)
    w0, lr, t = 2.0, 0.1, 0.3
    opt = {"nesterov": optax.sgd(lr, momentum=0.9, nesterov=True), "adam": optax.adam(lr), "rmsprop": optax.rmsprop(lr)}
    opt = opt[method]
    w = jax.numpy.asarray(w0)
    state = opt.init(w)
    traj = []
    for _ in range(100):
        upd, state = opt.update(2 * (w - t), state, w)
        w = optax.apply_updates(w, upd)
        traj.append(float(w))
    res = fastgd.descend("mse", [w0], [lr], steps=100, target=t, method=method, record_every=1)
    np.testing.assert_allclose(res.history_w[1:, 0, 0], traj, rtol=1e-10, atol=1e-14)


def test_hyperparameter_arrays_are_grid_axes():
    X, y = _data()
    b1, lr, l2 = [0.8, 0.9, 0.95], [0.01, 0.1], [0.0, 0.1]
    res = fastgd.fit(X, y, lr, l2=l2, method="adam", b1=b1, b2=0.99, steps=30)
    assert res.coef.shape == (12, 3)
    # lr slowest, then l2, then b1
    np.testing.assert_array_equal(res.params["lr"], np.repeat(lr, 6))
    np.testing.assert_array_equal(res.params["l2"], np.tile(np.repeat(l2, 3), 2))
    np.testing.assert_array_equal(res.params["b1"], np.tile(b1, 4))
    np.testing.assert_array_equal(res.params["b2"], 0.99)
    np.testing.assert_array_equal(res.params["eps"], 1e-8)
    for m in (0, 5, 11):  # each model equals its own single fit, bit for bit
        one = fastgd.fit(X, y, res.params["lr"][m], l2=res.params["l2"][m], method="adam", b1=res.params["b1"][m],
                         b2=0.99, steps=30)  # fmt: skip
        np.testing.assert_array_equal(one.coef[0], res.coef[m])
    with pytest.raises(ValueError, match="different l2 strengths"):
        _ = res.best_params  # final costs of different l2 do not rank models
    same_l2 = fastgd.fit(X, y, lr, method="adam", b1=b1, b2=0.99, steps=30)
    best = same_l2.best_params
    assert set(best) == {"lr", "l2", "b1", "b2", "eps"} and best["lr"] == same_l2.lr[same_l2.best]
    df = res.to_pandas()
    assert list(df.columns[:5]) == ["lr", "l2", "b1", "b2", "eps"]
    np.testing.assert_array_equal(df["b1"], res.params["b1"])


def test_descend_columns_are_every_lr_and_hyperparameter_combination():
    w0, lr, mom = np.array([-1.0, 2.0]), [0.01, 0.1], [0.0, 0.5, 0.9]
    res = fastgd.descend("mse", w0, lr, steps=25, method="nesterov", momentum=mom)
    assert res.w.shape == (2, 6)
    np.testing.assert_array_equal(res.params["momentum"], np.tile(mom, 2))
    np.testing.assert_array_equal(res.lr, np.repeat(lr, 3))
    for k in range(6):
        one = fastgd.descend("mse", w0, res.lr[k], steps=25, method="nesterov", momentum=res.params["momentum"][k])
        np.testing.assert_array_equal(one.w[:, 0], res.w[:, k])
    best = res.best()
    assert best["momentum"] == res.params["momentum"][best["k"]]
    df = res.to_pandas()
    np.testing.assert_array_equal(df["momentum"], np.tile(res.params["momentum"], 2))


@pytest.mark.parametrize("method", ADAPTIVE)
def test_divergence_convergence_and_frozen_models_as_for_gd(method):
    X, y = _data()
    lr = [1e-3, 0.05, 1e6]
    res = fastgd.fit(X, y, lr, steps=300, method=method, tol=1e-3, max_abs_w=100.0, record_every=1)
    assert res.diverged[2] and not res.diverged[:2].any()
    h = res.cost_history[2]
    stop = res.n_steps[2]
    assert np.isfinite(res.coef[2]).all() and (np.abs(res.coef[2]) <= 100).all()
    np.testing.assert_array_equal(h[stop + 1 :], h[stop + 1])  # a stopped model's cost stands still
    r = fastgd.descend("mse", [1.0], [0.05, 1e9], steps=2000, method=method, tol=1e-6, max_abs_w=1e3)
    assert r.diverged[0, 1] and not r.diverged[0, 0]


@pytest.mark.parametrize("method", ["adam", "adagrad", "nesterov"])
def test_thread_count_does_not_change_the_bits(method):
    X, y = _data(n=20000, D=5)
    out = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            out.append(fastgd.fit(X, y, [0.01, 0.1, 0.5, 3.0], steps=30, method=method, schedule="cosine:30"))
            out.append(fastgd.descend("mse", np.linspace(-3, 3, 40), [0.01, 0.3], steps=50, method=method))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(out[:2], out[2:], strict=True):
        for name in ("coef", "w"):
            if hasattr(a, name):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("method", ["adam", "rmsprop", "nesterov"])
def test_float32_stays_float32_and_tracks_float64(method):
    X, y = _data()
    r64 = fastgd.fit(X, y, _rates(method), steps=50, method=method)
    r32 = fastgd.fit(X.astype(np.float32), y, np.float32(_rates(method)), steps=50, method=method)
    assert r32.coef.dtype == np.float32 and r32.params["lr"].dtype == np.float32
    np.testing.assert_allclose(r32.coef, r64.coef, rtol=2e-3, atol=2e-4)
    d32 = fastgd.descend("mse", np.float32([1.0, -2.0]), np.float32([0.05]), steps=50, method=method)
    assert d32.w.dtype == np.float32


def test_adam_survives_zero_gradients_and_adagrad_with_no_accumulator():
    # a constant feature column of zeros: its gradient is 0 at every step, and so is its update
    X, y = _data()
    X[:, 1] = 0.0
    res = fastgd.fit(X, y, [0.1], steps=20, method="adam")
    assert res.coef[0, 1] == 0.0 and np.isfinite(res.coef).all()
    res = fastgd.fit(X, y, [0.1], steps=20, method="adagrad", initial_accumulator_value=0.0)
    assert res.coef[0, 1] == 0.0 and np.isfinite(res.coef).all()  # optax: 0 where the accumulator is 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="lion"), "unknown method 'lion'"),
        (dict(method="adam", b1=1.0), r"b1 must be in \[0, 1\) for method 'adam'; got 1.0"),
        (dict(method="adam", b2=[0.9, -0.1]), r"b2 must be in \[0, 1\) for method 'adam'; got -0.1 at index 1"),
        (dict(method="rmsprop", decay=1.5), r"decay must be in \[0, 1\)"),
        (dict(method="adam", eps=0.0), r"eps must be in \(0, inf\)"),
        (dict(method="adamw", weight_decay=-1e-3), r"weight_decay must be in \[0, inf\)"),
        (dict(method="adagrad", initial_accumulator_value=-1.0), r"initial_accumulator_value must be in \[0, inf\)"),
        (dict(method="gd", momentum=0.5), "momentum is a hyperparameter of method 'momentum' and 'nesterov', not of"),
        (dict(method="adam", weight_decay=0.1), "weight_decay is a hyperparameter of method 'adamw', not of 'adam'"),
        (dict(method="adam", b1=np.nan), r"b1 must be in \[0, 1\)"),
        (dict(method="adam", b1=[[0.9]]), "b1 must be a scalar or 1-D"),
        (dict(schedule="cosine"), "decay_steps"),
        (dict(schedule="fancy:3"), "unknown schedule 'fancy'"),
        (dict(schedule=3), "schedule must be None, a fastgd.schedules schedule or a string"),
    ],
)
def test_bad_input(kwargs, match):
    X, y = _data(n=20)
    with pytest.raises((ValueError, TypeError), match=match):
        fastgd.fit(X, y, [0.1], steps=3, **kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        fastgd.descend("mse", [1.0], [0.1], steps=3, **kwargs)


def test_b2_that_rounds_to_one_in_float32_is_refused():
    X, y = _data(n=20)
    with pytest.raises(ValueError, match="b2 must be below 1; 0.99999999 rounds to 1 in float32"):
        fastgd.fit(X.astype(np.float32), y, np.float32([0.1]), method="adam", b2=0.99999999, steps=2)


def test_optimizer_objects_name_their_hyperparameters():
    assert get_optimizer("adamw").hyperparams == ("b1", "b2", "eps", "weight_decay")
    assert get_optimizer("newton").uses_hessian and not get_optimizer("adam").uses_hessian
    assert set(METHODS) == {"gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "newton"}
    with pytest.raises(TypeError, match="method must be a name or a fastgd Optimizer"):
        get_optimizer(3)


def test_agrees_with_the_numpy_adam_baselines_the_benchmarks_use():
    X, y = _data()
    lr = np.array([0.005, 0.05])
    W, b = ref.np_adam_fit_batched(X, y, lr, 40)
    res = fastgd.fit(X, y, lr, steps=40, method="adam", record_every=0)
    np.testing.assert_allclose(res.coef, W.T, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(res.intercept, b, rtol=1e-10, atol=1e-13)
    w0, rates = np.linspace(-3, 3, 7), np.array([0.001, 0.01, 0.05])
    got = fastgd.descend("mse", w0, rates, steps=60, x=1.2, target=0.2, method="adam").w
    np.testing.assert_allclose(got, ref.np_adam_sweep(w0, rates, 60, x=1.2, target=0.2), rtol=1e-10, atol=1e-13)

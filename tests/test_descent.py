import signal
import subprocess
import sys
import time

import numba
import numpy as np
import pytest

import fastgd
from fastgd import _kernels_descent as kd
from fastgd import descend
from fastgd.descent import _kernel_args

from . import reference as ref

# grids with converging, oscillating and diverging runs
W0 = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
LR = np.array([0.0, 1e-3, 0.05, 0.3, 0.5, 0.9, 1.2, 3.0, 50.0])
METHODS = ["gd", "momentum", "newton"]


def _targets(loss):
    return {"log_loss": 0.7, "logistic": 1.0, "cross_entropy": 1.0}.get(loss, 0.3)


def _w0(loss, act):
    # probabilities for the losses that need them when the activation does not provide one
    if loss in ("log_loss", "cross_entropy") and act not in ("sigmoid",):
        return np.array([0.05, 0.2, 0.5, 0.9])
    return W0


def _compare(res, exp, rtol=1e-12):
    for name in ("n_steps", "converged", "diverged", "diverged_at"):
        np.testing.assert_array_equal(getattr(res, name), exp[name], err_msg=name)
    for name, atol in (("w", 1e-14), ("grad", 1e-12), ("loss", 1e-12)):
        np.testing.assert_allclose(getattr(res, name), exp[name], rtol=rtol, atol=atol, err_msg=name)


def _well_conditioned(run_ref, w0, lr):
    """Runs whose reference result moves by <= 1e-12 when w0 and lr move by 1e-14.

    Chaotic runs (a large step bouncing across a kink, a saturated tanh, the log
    loss clip) amplify any 1-ulp difference -- FMA contraction, exp vs long double
    exp -- so no two implementations agree on them; they are checked for
    finiteness only.  An amplification <= 100 keeps 40 steps of ulp-level
    differences under the 1e-12 tolerance.
    """
    base = run_ref(w0, lr)
    ok = np.ones(base["w"].shape, dtype=bool)
    for sw, sl in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        pert = run_ref(w0 + sw * 1e-14 * np.maximum(1, np.abs(w0)), lr * (1 + sl * 1e-14))
        ok &= np.abs(pert["w"] - base["w"]) <= 1e-12 * np.maximum(1, np.abs(base["w"]))
        ok &= (pert["n_steps"] == base["n_steps"]) & (pert["diverged"] == base["diverged"])
    return base, ok


def _cases():
    """Each method on a Latin square of loss x activation: each loss and each activation meets each method once.

    Each (loss, activation, method) is its own compiled kernel (about 10 s on a 2-core
    machine); the chain's value, gradient and curvature for every pair are checked by
    ``test_chain_rule_matches_reference_for_every_pair`` at a fraction of that.
    """
    L, A = fastgd.LOSS_NAMES, fastgd.ACTIVATION_NAMES
    assert len(L) == len(A)
    return [(loss, A[(i + shift) % len(A)], m) for shift, m in enumerate(METHODS) for i, loss in enumerate(L)]


@numba.njit
def _chain_parts(loss, act, w, x, t, out):
    """out[:, i] <- the kernels' (L, dL/dw, d2L/dw2) at w[i], as descend's steps compute them."""
    for i in range(w.size):
        out[0, i] = kd.chain_value(loss, act, w[i], x, t)
        out[1, i] = kd.chain_grad(loss, act, w[i], x, t)
        out[2, i] = kd.chain_grad_hess(loss, act, w[i], x, t)[1]


@pytest.mark.parametrize("act", fastgd.ACTIVATION_NAMES)
@pytest.mark.parametrize("loss", fastgd.LOSS_NAMES)
def test_chain_rule_matches_reference_for_every_pair(loss, act):
    lf, af = fastgd.get_loss(loss), fastgd.get_activation(act)
    x, t = (1.0 if loss in ("log_loss", "cross_entropy") else 1.5), _targets(loss)
    w = np.concatenate([_w0(loss, act), np.linspace(-4, 4, 41)])
    if loss in ("log_loss", "cross_entropy") and act != "sigmoid":  # the loss's domain, clip included
        w = np.concatenate([np.linspace(-0.5, 1.5, 41), [1e-20, 1 - 1e-16]])
    got = np.empty((3, w.size))
    xk, ak = _kernel_args(x, af, w.dtype)
    _chain_parts(lf, ak, w, xk, t, got)
    exp = ref.chain(loss, act, w, x, t, lf.param, af.param)
    for name, g, e in zip(("value", "grad", "hess"), got, exp, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, err_msg=f"{loss}/{act} {name}")


@pytest.mark.parametrize("loss, act, method", _cases())
def test_matches_numpy_reference(loss, act, method):
    w0, t = _w0(loss, act), _targets(loss)
    x = 1.0 if loss in ("log_loss", "cross_entropy") else 1.5
    lr = LR / 10 if method == "momentum" else LR
    params = dict(loss_param=fastgd.get_loss(loss).param, act_param=fastgd.get_activation(act).param)

    def run_ref(w, rates):
        return ref.descend(loss, act, w, rates, 40, target=t, x=x, method=method, tol=1e-9, **params)

    exp, ok = _well_conditioned(run_ref, w0, lr)
    assert ok.mean() >= 0.6, "grid too chaotic to test"
    res = descend(loss, w0, lr, steps=40, target=t, x=x, activation=act, method=method, tol=1e-9)
    assert np.isfinite(res.w).all()
    np.testing.assert_array_equal(res.n_steps[ok], exp["n_steps"][ok])
    np.testing.assert_array_equal(res.converged[ok], exp["converged"][ok])
    np.testing.assert_array_equal(res.diverged[ok], exp["diverged"][ok])
    np.testing.assert_array_equal(res.diverged_at[ok], exp["diverged_at"][ok])
    rtol = 1e-12 if method != "newton" else 1e-10
    # grad and loss vanish at the optimum (2(wx - t)x cancels): compare them absolutely too
    for name, atol in (("w", 1e-14), ("grad", 1e-12), ("loss", 1e-12)):
        np.testing.assert_allclose(getattr(res, name)[ok], exp[name][ok], rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("method", METHODS)
def test_history_matches_reference(method):
    res = descend("mse", W0, LR, steps=45, method=method, target=0.3, record_every=4, tol=1e-12)
    exp = ref.descend("mse", "identity", W0, LR, 45, method=method, target=0.3, record_every=4, tol=1e-12)
    assert res.history_w.shape == (45 // 4 + 1, W0.size, LR.size)
    rtol = 1e-12 if method != "newton" else 1e-10
    np.testing.assert_allclose(res.history_w, exp["history_w"], rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(res.history_loss, exp["history_loss"], rtol=rtol, atol=1e-12)
    np.testing.assert_array_equal(res.history_w[0], np.repeat(W0[:, None], LR.size, 1))


def test_without_tol_never_converges_and_counts_every_step():
    res = descend("mse", W0, [0.1, 0.2], steps=37)
    assert not res.converged.any()
    np.testing.assert_array_equal(res.n_steps, 37)
    _compare(res, ref.descend("mse", "identity", W0, [0.1, 0.2], 37))


def test_mse_learning_rates_too_small_good_and_too_large():
    # the seed: w' = w - lr * 2w, so |1 - 2 lr| decides: lr < 0.5 slow and monotone, > 1 diverges
    lr = np.array([0.01, 0.25, 0.45, 0.75, 1.5])  # |1 - 2*1.5| = 2: past the bound in ~260 steps
    res = descend("mse", [4.0], lr, steps=400, record_every=1)
    loss = res.history_loss[:, 0, :]
    assert (np.diff(loss[:, :3], axis=0) <= 0).all()  # lr < 0.5: monotone decrease
    assert np.abs(res.w[0, 2]) < np.abs(res.w[0, 0])  # small lr is slower
    w = res.history_w[:, 0, 3]
    assert (np.sign(w[1:20]) != np.sign(w[:19])).all()  # 0.5 < lr < 1: oscillates around 0
    assert res.diverged[0, 4] and not res.diverged[0, :4].any()


def test_newton_on_mse_converges_in_one_step():
    res = descend("mse", np.linspace(-10, 10, 7), 1.0, steps=5, target=0.3, method="newton", tol=1e-12)
    assert res.converged.all()
    np.testing.assert_array_equal(res.n_steps, 1)
    np.testing.assert_allclose(res.w, 0.3, rtol=1e-14)


def test_newton_falls_back_to_gd_where_curvature_is_not_positive():
    # MAE has hess 0: every Newton step is a gd step
    a = descend("mae", W0, LR, steps=20, method="newton")
    b = descend("mae", W0, LR, steps=20, method="gd")
    np.testing.assert_array_equal(a.w, b.w)


def test_sigmoid_chain_gradient_is_bounded_by_a_quarter():
    x, t = 1.7, 0.2
    res = descend("mse", np.linspace(-6, 6, 41), [0.0], steps=0, target=t, x=x, activation="sigmoid")
    a = fastgd.activations.sigmoid.value(res.w0 * x)
    lp = fastgd.losses.mse.grad(a, t)
    assert (np.abs(res.grad[:, 0]) <= 0.25 * np.abs(x * lp) + 1e-300).all()
    np.testing.assert_allclose(res.grad[:, 0], lp * fastgd.activations.sigmoid.grad(res.w0 * x) * x, rtol=1e-14)


def test_divergence_is_flagged_not_raised_and_spoils_nothing():
    lr = np.array([1e-7, 1e6, 2e-7])  # stable below 1 / (2 x^2) = 5e-7
    res = descend("mse", [1.0, 2.0], lr, steps=50, x=1e3, tol=1e-8)
    assert res.diverged[:, 1].all() and not res.diverged[:, [0, 2]].any()
    alone = descend("mse", [1.0, 2.0], lr[[0, 2]], steps=50, x=1e3, tol=1e-8)
    np.testing.assert_array_equal(res.w[:, [0, 2]], alone.w)
    # |w| grows 2e12-fold per step and passes the 1.3e77 bound at step 7
    assert np.isfinite(res.w).all() and (res.diverged_at[:, 1] == 7).all()
    _compare(res, ref.descend("mse", "identity", [1.0, 2.0], lr, 50, x=1e3, tol=1e-8))


def test_thread_count_and_chunking_do_not_change_results(monkeypatch):
    w0, lr = np.linspace(-4, 4, 37), np.geomspace(1e-3, 1.5, 53)
    kw = dict(steps=120, activation="sigmoid", target=0.2, x=1.3, tol=1e-10)
    many = descend("mse", w0, lr, **kw)
    numba.set_num_threads(1)
    try:
        one = descend("mse", w0, lr, **kw)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    monkeypatch.setattr(fastgd.descent, "BLOCKS_PER_THREAD", 1)
    coarse = descend("mse", w0, lr, **kw)
    monkeypatch.setattr(fastgd.descent, "BLOCKS_PER_THREAD", 1000)  # one row per block
    fine = descend("mse", w0, lr, **kw)
    with_bar = descend("mse", w0, lr, progress=True, **kw)  # the kernel in a worker thread
    results = [one, coarse, fine, with_bar]
    for r in results:
        for name in ("w", "loss", "grad", "n_steps", "converged", "diverged"):
            np.testing.assert_array_equal(getattr(r, name), getattr(many, name), err_msg=name)


def test_progress_bar_counts_every_row_and_reraises_worker_errors(monkeypatch, capsys):
    import tqdm.auto

    counts = []
    real_tqdm = tqdm.auto.tqdm

    class Spy(real_tqdm):
        def close(self):
            if self.total == 23:  # this test's bars only
                counts.append((self.n, self.total))
            super().close()

    monkeypatch.setattr(tqdm.auto, "tqdm", Spy)
    monkeypatch.setattr(fastgd._progress, "POLL_SECONDS", 0.001)
    monkeypatch.setattr(fastgd._progress, "DELAY_SECONDS", 0)  # draw even a short run's bar
    descend("mse", np.linspace(-3, 3, 23), [0.1, 0.2], steps=2000, progress=True)
    assert counts and set(counts) == {(23, 23)}  # tqdm may close twice

    drawn = len(counts)
    monkeypatch.setattr(fastgd._progress, "DELAY_SECONDS", 10.0)  # a run this short draws nothing
    descend("mse", np.linspace(-3, 3, 23), [0.1, 0.2], steps=20, progress=True)
    assert len(counts) == drawn

    def boom():
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError, match="kernel failed"):  # the kernel's error, and the painter lives on
        fastgd._progress.run_with_bar(boom, np.zeros(1, np.int64), 5, "w0")
    res = descend("mse", [1.0], [0.1], steps=3, progress=True)
    assert res.n_steps[0, 0] == 3


def test_float32_stays_float32_and_agrees_with_float64():
    w0, lr = np.linspace(-2, 2, 9), np.array([0.05, 0.2])
    r32 = descend("logistic", w0.astype(np.float32), lr.astype(np.float32), steps=30, target=1.0)
    r64 = descend("logistic", w0, lr, steps=30, target=1.0)
    assert r32.w.dtype == np.float32 and r32.loss.dtype == np.float32
    np.testing.assert_allclose(r32.w, r64.w, rtol=1e-5)
    assert descend("mse", np.float32(1.0), 0.1, steps=3).w.dtype == np.float32  # Python lr is weak


def test_result_helpers():
    res = descend("mse", [-1.0, 2.0], [0.1, 0.4, 1.5], steps=200, tol=1e-9)
    best = res.best()
    assert best["lr"] == 0.4 and best["loss"] == res.loss.min()
    assert res.w.shape == (2, 3) and res.w0.shape == (2,) and res.lr.shape == (3,)
    df = res.to_pandas()
    assert len(df) == 6 and list(df.columns[:3]) == ["w0", "lr", "w"]
    assert (df["w0"].to_numpy() == np.repeat([-1.0, 2.0], 3)).all()


def test_best_is_none_when_everything_diverged_and_scalars_give_one_run():
    res = descend("mse", 1.0, 1e9, steps=20, x=1e3)
    assert res.diverged.all() and res.best() is None and res.w.shape == (1, 1)


def test_empty_grids_are_refused_and_zero_steps_run():
    # descend returned an empty result where fit failed in a reshape: both refuse, with one message
    for args, kw in [(([], [0.1]), {}), (([1.0], []), {}), (([1.0], [0.1]), dict(method="adam", b1=[]))]:
        with pytest.raises(ValueError, match=r"(w0|lr|b1) is empty; a grid axis needs at least one value"):
            descend("mse", *args, steps=10, **kw)
    res = descend("mse", [1.0], [0.1], steps=0)
    assert res.w[0, 0] == 1.0 and res.n_steps[0, 0] == 0


def test_history_memory_limit():
    with pytest.raises(ValueError, match=r"the history needs .* MiB \(1001 records x 100 x 100 runs x 2 arrays\)"):
        descend("mse", np.zeros(100), np.ones(100), steps=1000, record_every=1, max_history_bytes=10**6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(steps=-1), r"steps must be an integer in \[0, 1000000000000\]"),
        (dict(steps=10.0), r"steps must be an integer in \[0, 1000000000000\]; got float"),
        (dict(steps=2**63), r"steps must be an integer in \[0, 1000000000000\]; got 9223372036854775808"),
        (dict(steps=10, w0=np.float32([1.0]), lr=1e40), r"lr must be at most 3.4e\+38 in magnitude \(float32"),
        (dict(steps=10, w0=np.float32([1.0]), lr=1e-50), r"lr must be 0 or at least 1.4e-45"),
        (dict(steps=10, w0=np.float32([1.0]), lr=np.float32([0.1]), x=1e-50), r"x=1e-50 rounds to 0 in float32"),
        (dict(steps=10, lr=[0.1, -0.1]), r"lr must be >= 0 and not NaN; 1 of 2 .* index 1"),
        (dict(steps=10, lr=[np.nan]), "lr must be >= 0 and not NaN"),
        (dict(steps=10, lr=[np.inf]), "lr must be finite"),
        (dict(steps=10, w0=[1.0, np.inf]), r"w0 must be finite; 1 of 2 .* index 1"),
        (dict(steps=10, x=np.nan), "x must be finite"),
        (dict(steps=10, tol=-1.0), "tol must be finite and >= 0"),
        (
            dict(steps=10, method="lion"),
            "unknown method 'lion'; valid names are: adagrad, adam, adamw, gd, momentum, nesterov, newton, rmsprop",
        ),
        (dict(steps=10, loss="l3"), "unknown loss 'l3'"),
        (dict(steps=10, activation="gelu"), "unknown activation 'gelu'"),
        (dict(steps=10, method="momentum", momentum=1.0), r"momentum must be in \[0, 1\)"),
        (dict(steps=10, record_every=-2), "record_every must be an integer >= 0"),
        (dict(steps=10, w0=np.zeros((2, 2))), r"w0 must be a scalar or 1-D; got shape \(2, 2\)"),
        (dict(steps=10, loss="logistic", target=2.0), r"target must be in \[0, 1\] for logistic"),
        (dict(steps=10, w0=["a"]), "w0 must be real numbers"),
        (dict(steps=10, w0=[1e100]), "w0 has entries beyond max_abs_w"),
        (dict(steps=10, max_abs_w=1e100), r"max_abs_w=1e\+100 is above 1.16e\+77"),
        (dict(steps=10, w0=np.float32([1.0]), lr=np.float32([0.1]), x=1e50), r"x=1e\+50 does not fit in float32"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(loss="mse", w0=[1.0], lr=[0.1])
    args.update(kwargs)
    loss, w0, lr = args.pop("loss"), args.pop("w0"), args.pop("lr")
    with pytest.raises((ValueError, TypeError), match=match):
        descend(loss, w0, lr, **args)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", ["gd", "momentum"])
def test_a_run_that_stays_just_inside_the_bound_is_not_diverged(method, dtype):
    # lr=1 flips w -> -w forever at |w| = 9.9 < 10: the kernel's cheap per-chunk test (sum of
    # squared weights) fires every chunk, and the exact replay must clear the run each time
    w0 = np.array([9.9, -9.9, 10.5 / 1.05], dtype)
    lr = np.array([1.0, 0.999], dtype)
    hyper = {"momentum": 0.0} if method == "momentum" else {}
    res = descend("mse", w0, lr, steps=300, max_abs_w=10.0, method=method, **hyper)
    assert not res.diverged.any()
    assert (res.n_steps == 300).all()
    np.testing.assert_array_equal(res.w[:, 0], w0)


@pytest.mark.parametrize("act", ["identity", "sigmoid"])
def test_agrees_with_the_numpy_baseline_the_benchmarks_use(act):
    w0, lr = np.linspace(-3, 3, 11), np.geomspace(1e-3, 0.4, 7)
    res = descend("mse", w0, lr, steps=50, activation=act, x=1.2, target=0.2)
    np.testing.assert_allclose(res.w, ref.np_sweep(act, w0, lr, 50, x=1.2, target=0.2), rtol=1e-12)


def test_a_grid_beyond_the_memory_is_refused_before_any_allocation(monkeypatch):
    monkeypatch.setattr(fastgd._validation, "available_memory", lambda: 2**30)
    with pytest.raises(ValueError, match=r"a grid of 100000 w0 x 1000 lr = 100000000 runs needs 3.07 GiB, more than"):
        descend("mse", np.zeros(100_000), np.full(1000, 0.1), steps=1)


def test_compiled_calls_grow_toward_a_slice_in_proportion_and_shrink_past_two():
    from fastgd._progress import SLICE_SECONDS, next_slice

    assert next_slice(2, 1e-6) == 128  # a call that did nothing: at most 64-fold
    assert next_slice(4, SLICE_SECONDS / 10) == 20  # a tenth of a slice: 5x, the next call about half a slice
    assert next_slice(4, SLICE_SECONDS * 0.4) == 8  # close to half a slice: still at least 2-fold
    assert next_slice(7, SLICE_SECONDS) == 7  # within the band: unchanged
    assert next_slice(7, 3 * SLICE_SECONDS) == 3 and next_slice(3, 3 * SLICE_SECONDS, least=2) == 2


def test_a_long_sweep_answers_ctrl_c_within_a_second(tmp_path):
    # the sweep runs in compiled calls of about 0.1 s; SIGINT lands between two of them
    script = tmp_path / "sweep.py"
    script.write_text(
        "import numpy as np, fastgd\n"
        "w0, lr = np.linspace(-5, 5, 4000), np.geomspace(1e-4, 0.5, 50)\n"
        "fastgd.descend('mse', w0[:8], lr, steps=10)\n"  # compiled or loaded before the signal
        "print('ready', flush=True)\n"
        "fastgd.descend('mse', w0, lr, steps=2_000_000)\n"  # minutes of work
        "print('finished', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "ready\n"
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.perf_counter() - sent
    finally:
        proc.kill()
    assert "KeyboardInterrupt" in err and "finished" not in out
    assert waited < 5.0, f"the sweep took {waited:.1f} s to stop"


def test_a_tolerance_beyond_float32_means_any_gradient():
    res = descend("mse", np.float32([1.0, -2.0]), np.float32([0.1]), steps=5, tol=1e40)  # no overflow warning
    assert res.converged.all() and (res.n_steps == 0).all()

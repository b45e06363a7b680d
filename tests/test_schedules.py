"""Learning-rate schedules against optax's formulas (transcribed, and optax itself where installed)."""

import importlib.util

import numpy as np
import pytest

import fastgd
from fastgd import schedules

from . import reference as ref

HAVE_OPTAX = importlib.util.find_spec("optax") is not None
T = np.array([0, 1, 2, 5, 9, 10, 11, 49, 50, 51, 99, 100, 101, 150, 199, 200, 201, 1000, 10**6])

CASES = [
    ("constant", {}),
    ("exponential", dict(decay_rate=0.5, transition_steps=40)),
    ("exponential", dict(decay_rate=0.9, transition_steps=7, staircase=True)),
    ("exponential", dict(decay_rate=1.01, transition_steps=3)),
    ("cosine", dict(decay_steps=100)),
    ("cosine", dict(decay_steps=150, alpha=0.1)),
    ("warmup_cosine", dict(warmup_steps=10, decay_steps=200)),
    ("warmup_cosine", dict(warmup_steps=0, decay_steps=50, init_value=0.3, end_value=0.01)),
    ("warmup_cosine", dict(warmup_steps=50, decay_steps=51, init_value=0.2, end_value=0.5)),
    ("linear", dict(end_value=0.0, transition_steps=100)),
    ("linear", dict(end_value=3.0, transition_steps=9)),
    ("step", dict(boundaries=[10, 100], factors=[0.5, 0.1])),
    ("step", dict(boundaries=[0], factors=[2.0])),
    ("inverse_time", {}),
    ("inverse_time", dict(power=1.0)),
]


@pytest.mark.parametrize("name, args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_the_optax_formulas(name, args):
    sched = schedules.SCHEDULES[name](**args)
    got = sched(T)
    exp = np.array([ref.schedule(name, t, **args) for t in T])
    assert got.dtype == np.float64 and got.shape == T.shape
    np.testing.assert_allclose(got, exp, rtol=1e-14, atol=1e-16)
    assert sched(int(T[4])) == got[4] and isinstance(sched(3), float)


def _optax_schedule(name, args):
    import optax

    if name == "constant":
        return optax.constant_schedule(1.0)
    if name == "exponential":
        return optax.exponential_decay(
            1.0, args["transition_steps"], args["decay_rate"], staircase=args.get("staircase", False)
        )
    if name == "cosine":
        return optax.cosine_decay_schedule(1.0, args["decay_steps"], alpha=args.get("alpha", 0.0))
    if name == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            args.get("init_value", 0.0),
            1.0,
            args["warmup_steps"],
            args["decay_steps"],
            end_value=args.get("end_value", 0.0),
        )
    if name == "linear":
        return optax.linear_schedule(1.0, args["end_value"], args["transition_steps"])
    if name == "step":
        return optax.piecewise_constant_schedule(1.0, dict(zip(args["boundaries"], args["factors"], strict=True)))
    return None  # inverse_time is scikit-learn's, not optax's


@pytest.mark.skipif(not HAVE_OPTAX, reason="optax is not installed (pip install optax)")
@pytest.mark.parametrize("name, args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_equals_optax_itself(name, args):
    import jax

    jax.config.update("jax_enable_x64", True)
    theirs = _optax_schedule(name, args)
    if theirs is None:
        assert name == "inverse_time"
        return
    sched = schedules.SCHEDULES[name](**args)
    exp = np.array([float(theirs(jax.numpy.asarray(t, dtype=jax.numpy.int64))) for t in T[:-1]])
    np.testing.assert_allclose(sched(T[:-1]), exp, rtol=1e-12, atol=1e-15)


def test_scikit_learn_invscaling():
    # SGDRegressor(learning_rate="invscaling"): eta = eta0 / t ** power_t, t = 1 at the first update
    t = np.arange(0, 50)
    np.testing.assert_allclose(schedules.inverse_time(0.25)(t), 1.0 / (t + 1.0) ** 0.25, rtol=1e-15)


def test_a_schedule_multiplies_every_rate_of_the_grid():
    X = np.random.default_rng(0).normal(size=(100, 2))
    y = (X[:, 0] > 0).astype(int)
    sched = schedules.exponential(0.5, 1)
    with_s = fastgd.fit(X, y, [0.1, 0.4], steps=1, schedule=sched)
    plain = fastgd.fit(X, y, [0.1, 0.4], steps=1)
    np.testing.assert_array_equal(with_s.coef, plain.coef)  # the first update is at t = 0: multiplier 1
    two_s = fastgd.fit(X, y, [0.1], steps=2, schedule=sched, method="gd")
    assert with_s.schedule == sched and plain.schedule is None
    # the second update at half the rate: the step taken is half of plain gd's second step
    plain2 = fastgd.fit(X, y, [0.1], steps=2)
    np.testing.assert_allclose(two_s.coef[0] - with_s.coef[0], 0.5 * (plain2.coef[0] - plain.coef[0]), rtol=0.05)
    zero = fastgd.descend("mse", [1.0], [0.1], steps=5, schedule=schedules.step([1], [0.0]))
    np.testing.assert_allclose(zero.w, 1.0 - 0.1 * 2.0)  # rate 0 from step 1 on


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cosine:500", schedules.cosine(500)),
        ("cosine:500,0.1", schedules.cosine(500, 0.1)),
        ("cosine:decay_steps=500,alpha=0.1", schedules.cosine(500, alpha=0.1)),
        ("warmup_cosine:100,1000", schedules.warmup_cosine(100, 1000)),
        ("exponential:0.5,100,staircase=true", schedules.exponential(0.5, 100, staircase=True)),
        ("step:100/200,0.5/0.1", schedules.step([100, 200], [0.5, 0.1])),
        ("step:100,0.5", schedules.step([100], [0.5])),
        ("cosine:1e3", schedules.cosine(1000)),  # a count written in exponent form is still a count
        ("warmup_cosine:1e2,decay_steps=2e3", schedules.warmup_cosine(100, 2000)),
        ("step:1e2/2E2,0.5/0.1", schedules.step([100, 200], [0.5, 0.1])),
        ("cosine:500,1.0", schedules.cosine(500, 1.0)),
        ("inverse_time", schedules.inverse_time()),
        ("constant", schedules.constant()),
        (" linear:0,10 ", schedules.linear(0.0, 10)),
    ],
)
def test_cli_syntax(text, expected):
    got = schedules.parse(text)
    assert got == expected and repr(got) == repr(expected)
    np.testing.assert_array_equal(got(T), expected(T))


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: schedules.parse("fancy:3"),
            "unknown schedule 'fancy'; valid names are: constant, cosine, exponential",
        ),
        (lambda: schedules.parse("cosine"), "schedule 'cosine':.*decay_steps"),
        (lambda: schedules.parse("cosine:abc"), "schedule argument decay_steps='abc' is not a number"),
        (lambda: schedules.parse("cosine:1,2,3"), "positional arguments come first, at most 2"),
        (lambda: schedules.parse("cosine:alpha=0.1,500"), "positional arguments come first"),
        (lambda: schedules.parse("cosine:steps=5"), "schedule cosine has no argument 'steps'"),
        (lambda: schedules.parse("cosine:decay_steps=5,decay_steps=6"), "gives decay_steps twice"),
        (lambda: schedules.parse("cosine:500,decay_steps=6"), "multiple values for argument 'decay_steps'"),
        (lambda: schedules.parse("cosine:12.5"), "decay_steps must be an integer"),
        (lambda: schedules.cosine(0), "decay_steps must be an integer in"),
        (lambda: schedules.cosine(100, alpha=1.5), r"alpha must be in \[0, 1\]"),
        (lambda: schedules.cosine(2.5), "decay_steps must be an integer"),
        (lambda: schedules.exponential(0.0, 10), "decay_rate must be"),
        (lambda: schedules.exponential(0.5, 10, staircase="yes"), "staircase must be"),
        (lambda: schedules.warmup_cosine(10, 10), r"decay_steps \(10\) must be larger than warmup_steps \(10\)"),
        (lambda: schedules.warmup_cosine(-1, 10), "warmup_steps must be an integer"),
        (lambda: schedules.warmup_cosine(1, 10, end_value=2.0), r"end_value must be in \[0, 1\]"),
        (lambda: schedules.linear(-1.0, 10), "end_value must be"),
        (lambda: schedules.step([10, 5], [0.5, 0.5]), "boundaries must increase strictly"),
        (lambda: schedules.step([10], [0.5, 0.5]), "factors must be a sequence of 1 numbers"),
        (lambda: schedules.step([], []), "boundaries must be a non-empty 1-D sequence of integers"),
        (lambda: schedules.step([1.5], [0.5]), "boundaries must be a non-empty 1-D sequence of integers"),
        (lambda: schedules.step([1], [-0.5]), "factors must be >= 0"),
        (lambda: schedules.inverse_time(-1.0), "power must be"),
        (lambda: schedules.cosine(10)(-1), "t must be an integer"),
        (lambda: schedules.cosine(10)(np.array([0.5])), "t must be an integer >= 0 or an array of them"),
        (lambda: schedules.parse(5), "schedule must be a str"),
    ],
)
def test_bad_arguments(build, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build()

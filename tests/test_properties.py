"""Property-based tests of the public API (hypothesis): hostile shapes, dtypes, strides, NaN/inf
placement and hyperparameters give a result or a TypeError/ValueError -- never another
exception, a warning (warnings are errors in this suite), a hang, or a changed input.

The compiled specialisations are kept to those the other modules compile anyway (each new
(loss, activation, method, dtype) combination of a fit costs seconds of compilation).
"""

import warnings

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastgd
from fastgd import activations, losses, special

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.float16])


@st.composite
def arrays(draw, max_dims=3):
    """Any small array: any of five dtypes, NaN/inf anywhere, C order, transposed or strided."""
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    if np.dtype(dtype).kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=np.dtype(dtype).itemsize * 8)
    else:
        elements = None
    arr = draw(hnp.arrays(dtype, shape, elements=elements))
    layout = draw(st.sampled_from(["c", "transposed", "strided"]))
    if layout == "transposed":
        arr = arr.T
    elif layout == "strided" and arr.ndim:
        arr = np.repeat(arr, 2, axis=0)[::2]
    return arr


def _calls_cleanly(fn, *inputs, valid=False):
    """fn(*inputs) returns, or raises TypeError/ValueError; no warning; inputs unchanged.

    ``valid=True``: the inputs are known to be valid, so a refusal is a failure too.
    """
    before = [np.array(x, copy=True) if isinstance(x, np.ndarray) else x for x in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = fn(*inputs)
            event("a result")
        except (TypeError, ValueError) as err:
            assert str(err), "an error without a message"
            assert not valid, f"a valid input was refused: {err}"
            event(f"refused: {type(err).__name__}")
            out = None
    for old, new in zip(before, inputs, strict=True):
        if isinstance(new, np.ndarray):
            np.testing.assert_array_equal(new, old, err_msg="an input was changed")
    return out


@SETTINGS
@given(
    name=st.sampled_from(losses.LOSS_NAMES),
    part=st.sampled_from(["value", "grad", "hess", "cost"]),
    pred=arrays(),
    target=st.one_of(arrays(), FLOATS, st.none()),
)
def test_losses(name, part, pred, target):
    out = _calls_cleanly(getattr(losses.get_loss(name), part), pred, target)
    if out is not None and part != "cost":
        shape = np.broadcast_shapes(pred.shape, np.shape(target) if target is not None else ())
        assert np.shape(out) == shape and np.asarray(out).dtype in (np.float32, np.float64)


@SETTINGS
@given(name=st.sampled_from(losses.LOSS_NAMES), pred=arrays(), target=arrays())
def test_value_and_grad_with_out(name, pred, target):
    loss = losses.get_loss(name)
    try:
        shape = np.broadcast_shapes(pred.shape, target.shape)
    except ValueError:
        shape = pred.shape
    dtype = np.result_type(np.float32, pred.dtype if pred.dtype.kind == "f" else np.float64, target.dtype)
    outs = (np.empty(shape, dtype), np.empty(shape, dtype))
    _calls_cleanly(lambda p, t: loss.value_and_grad(p, t, out=outs), pred, target)


@SETTINGS
@given(name=st.sampled_from(activations.ACTIVATION_NAMES), part=st.sampled_from(["value", "grad", "hess"]), z=arrays())
def test_activations(name, part, z):
    out = _calls_cleanly(getattr(activations.get_activation(name), part), z)
    if out is not None:
        assert np.shape(out) == z.shape


@SETTINGS
@given(name=st.sampled_from(["exp", "log", "log1p", "sigmoid", "softplus", "log_sigmoid"]), x=arrays())
def test_special(name, x):
    out = _calls_cleanly(getattr(special, name), x)
    if out is not None:
        assert np.shape(out) == x.shape


@SETTINGS
@given(
    name=st.sampled_from(losses.LOSS_NAMES + ("nope", 3)),
    delta=st.one_of(FLOATS, st.integers(-3, 3), st.text(max_size=2), st.none()),
)
def test_loss_construction(name, delta):
    def build(name, delta):
        return losses.Loss(name, delta) if delta is not None else losses.get_loss(name)

    _calls_cleanly(build, name, delta)


HYPER = st.one_of(FLOATS, st.integers(-5, 5), st.just(1e-50), st.just(1e40), st.text(max_size=1), st.none())


def mostly(valid):
    """``(value, True)`` from ``valid`` five times in six, else ``(any hostile hyperparameter, False)``."""
    return st.integers(0, 5).flatmap(
        lambda k: HYPER.map(lambda h: (h, False)) if k == 0 else valid.map(lambda x: (x, True))
    )


@SETTINGS
@given(
    w0=arrays(max_dims=2),
    lr=st.one_of(arrays(max_dims=2), FLOATS),
    steps=st.one_of(st.integers(-2, 30), st.just(2**63), st.floats(0, 5)),
    activation=st.sampled_from(["identity", "sigmoid"]),
    tol=st.one_of(st.none(), st.just(1e-8), HYPER),
    max_abs_w=st.one_of(st.none(), HYPER),
    record_every=st.one_of(st.integers(-1, 3), st.just(2**40)),
    x=HYPER,
    target=HYPER,
)
def test_descend(w0, lr, steps, activation, tol, max_abs_w, record_every, x, target):
    # tol None / 1e-8 with mse: the specialisations fastgd.warmup compiles
    def call(w0, lr):
        kw = dict(activation=activation, tol=tol, max_abs_w=max_abs_w, record_every=record_every)
        if x is not None:
            kw["x"] = x
        if target is not None:
            kw["target"] = target
        return fastgd.descend("mse", w0, lr, steps=steps, **kw)

    res = _calls_cleanly(call, w0, lr)
    if res is not None:
        assert res.w.shape == (np.size(w0), np.size(lr))
        ok = ~res.diverged
        assert np.isfinite(res.w[ok]).all() and np.isfinite(res.loss[ok]).all()


@st.composite
def fit_data(draw):
    """Mostly a valid (X, y), sometimes with one hostile change: NaN/inf, a bad label, a wrong shape.

    Returns (X, y, valid): ``valid`` where no change made the data invalid (a third label, 2,
    is valid: three classes are the multinomial model, or numbers for mse).
    """
    n, D = draw(st.integers(1, 6)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    X = draw(hnp.arrays(dtype, (n, D), elements=st.floats(-10, 10, width=np.dtype(dtype).itemsize * 8)))
    y = np.array([0, 1] * n, dtype=object)[draw(st.permutations(range(2 * n)))][:n]  # both classes where n > 1
    change = draw(st.sampled_from(["none"] * 12 + ["nan", "inf", "label", "length", "X_any", "y_any"]))
    if change in ("nan", "inf"):
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, D - 1))] = np.nan if change == "nan" else np.inf
    elif change == "label":
        label = draw(st.sampled_from([None, np.nan, "a", 2]))
        y[draw(st.integers(0, n - 1))] = label
        change = "none" if label == 2 else change
    elif change == "length":
        y = y[1:]
    elif change == "X_any":
        X = draw(arrays(max_dims=2))
    elif change == "y_any":
        y = draw(arrays(max_dims=2))
    if draw(st.booleans()) and y.dtype == object:
        y = list(y)
    return X, y, change == "none"


@SETTINGS
@given(
    data=fit_data(),
    lr=mostly(st.sampled_from([0.1, [0.01, 1.0], np.array([1e-3, 10.0])])),
    l2=mostly(st.sampled_from([0.0, 0.01, [0.0, 1.0]])),
    loss=st.sampled_from(["logistic", "mse"]),
    method=mostly(st.sampled_from(["gd", "newton"])),
    steps=mostly(st.integers(0, 20)),
    batch_size=mostly(st.sampled_from([None, 1, 2])),
    fit_intercept=mostly(st.booleans()),
    seed=mostly(st.sampled_from([None, 0, 3])),
    max_abs_w=mostly(st.sampled_from([None, 1e3])),
)
def test_fit(data, lr, l2, loss, method, steps, batch_size, fit_intercept, seed, max_abs_w):
    X, y, valid = data
    hyper = dict(lr=lr, l2=l2, method=method, steps=steps, batch_size=batch_size, fit_intercept=fit_intercept,
                 seed=seed, max_abs_w=max_abs_w)  # fmt: skip
    valid = valid and all(ok for _, ok in hyper.values())
    kw = {name: value for name, (value, _) in hyper.items()}
    n = np.shape(X)[0] if np.ndim(X) else 0
    classes = len(set(np.asarray(y, dtype=object).reshape(-1).tolist()))
    # what valid arguments still cannot fit: one class for a classifier, a batch larger than the data
    valid = valid and (loss == "mse" or classes >= 2) and (kw["batch_size"] is None or kw["batch_size"] <= n)

    lr = kw.pop("lr")

    def call(X, y):
        return fastgd.fit(X, y, lr, loss=loss, record_every=1, **kw)

    res = _calls_cleanly(call, X, y, valid=valid)
    if res is not None:
        P = res.coef.shape[0]
        multinomial = loss == "logistic" and classes >= 3  # a third label: the softmax model, a row per class
        shape = (P, classes, np.shape(X)[1]) if multinomial else (P, np.shape(X)[1])
        assert res.coef.shape == shape and res.cost_history.shape[0] == P
        ok = ~res.diverged
        assert np.isfinite(res.coef[ok]).all() and np.isfinite(res.final_cost[ok]).all()
        if P:
            _calls_cleanly(res.predict, X)

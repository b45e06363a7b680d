"""Slow, obvious NumPy references for every fastgd formula (stumpy's naive.py).

Computed in long double (80-bit on x86) where that matters, then rounded, so
they are independent of fastgd's own exp/log.
"""

import numpy as np

LD = np.longdouble


def ld(x):
    return np.asarray(x, dtype=LD)


# ------------------------------------------------------------- special
def exp(x):
    with np.errstate(over="ignore"):
        return np.exp(ld(x))


def log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(ld(x))


def log1p(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(ld(x))


def sigmoid(x):
    x = ld(x)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def softplus(x):
    x = ld(x)
    return np.logaddexp(ld(0), x)


def log_sigmoid(x):
    return -softplus(-ld(x))


SPECIAL = {"exp": exp, "log": log, "log1p": log1p, "sigmoid": sigmoid, "softplus": softplus, "log_sigmoid": log_sigmoid}


# ------------------------------------------------------------- losses
def _eps(dtype):
    return np.finfo(dtype).eps


def loss(name, p, t, param, dtype):
    """(value, grad, hess) of loss ``name`` in long double."""
    p, t = ld(p), ld(t)
    if name == "mse":
        r = p - t
        return r * r, 2 * r, np.where(np.isnan(r), r, 2)
    if name == "mae":
        r = p - t
        return np.abs(r), np.sign(r), np.where(np.isnan(r), r, 0)
    if name == "huber":
        d = ld(param)
        r = p - t
        inside = np.abs(r) <= d
        val = np.where(inside, r * r / 2, d * (np.abs(r) - d / 2))
        return val, np.clip(r, -d, d), np.where(np.isnan(r), r, inside.astype(LD))
    if name == "log_loss":
        e = _eps(dtype)
        pc = np.clip(p, e, 1 - ld(e))
        val = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
        return val, (pc - t) / (pc * (1 - pc)), t / pc**2 + (1 - t) / (1 - pc) ** 2
    if name == "logistic":
        # the cross-entropy form: both terms >= 0, so no cancellation for any t
        # and s - t written as (1-t)*s - t*(1-s) with 1-s = sigmoid(-p)
        s, sm = sigmoid(p), sigmoid(-p)
        return t * softplus(-p) + (1 - t) * softplus(p), (1 - t) * s - t * sm, s * sm
    if name == "cross_entropy":
        pc = np.maximum(p, _eps(dtype))
        return -t * np.log(pc), -t / pc, t / pc**2
    raise KeyError(name)


def activation(name, z, param):
    """(value, grad, hess) of activation ``name`` in long double."""
    z = ld(z)
    if name == "identity":
        return z, np.where(np.isnan(z), z, 1), np.where(np.isnan(z), z, 0)
    if name == "sigmoid":
        s, sm = sigmoid(z), sigmoid(-z)  # 1 - s without cancellation
        return s, s * sm, s * sm * (sm - s)
    if name == "tanh":
        t = np.tanh(z)
        c = 1 / np.cosh(z) ** 2
        return t, c, -2 * t * c
    if name == "relu":
        return np.maximum(z, 0), np.where(np.isnan(z), z, z > 0), np.where(np.isnan(z), z, 0)
    if name == "leaky_relu":
        a = ld(param)
        return np.where(z > 0, z, a * z), np.where(np.isnan(z), z, np.where(z > 0, 1, a)), np.where(np.isnan(z), z, 0)
    if name == "softplus":
        s = sigmoid(z)
        return softplus(z), s, s * sigmoid(-z)
    raise KeyError(name)


def rounded(x, dtype):
    """``x`` rounded to ``dtype`` (overflowing to inf silently, as rounding does)."""
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(dtype)


def ulp_error(got, ref):
    """|got - ref| in units of the last place of ``ref`` rounded to got's dtype."""
    got = np.asarray(got)
    r = rounded(ref, got.dtype)
    spacing = np.spacing(np.abs(r).astype(got.dtype)).astype(LD)
    return np.abs(got.astype(LD) - ref) / spacing


# ------------------------------------------------------------- descent
def chain(loss_name, act_name, w, x, t, loss_param=0.0, act_param=0.0):
    """(L, dL/dw, d2L/dw2) of L(act(w x), t) by the chain rule, from the float64 references above."""
    with np.errstate(all="ignore"):
        a, ap, app = (np.asarray(q, dtype=float) for q in activation(act_name, w * x, act_param))
        v, lp, lpp = (np.asarray(q, dtype=float) for q in loss(loss_name, a, t, loss_param, float))
        return v, lp * ap * x, (lpp * ap * ap + lp * app) * x * x


def descend(
    loss_name,
    act_name,
    w0,
    lr,
    steps,
    *,
    target=0.0,
    x=1.0,
    method="gd",
    momentum=0.9,
    hyper=None,
    schedule=None,
    tol=None,
    bound=None,
    min_curv=1e-12,
    loss_param=0.0,
    act_param=0.0,
    record_every=0,
):
    """Plain NumPy loop over the grid, one step at a time, every run checked every step.

    Derivatives by the chain rule from the float64 references above; the update is
    ``optimizer_update`` (optax's definitions) with ``hyper`` (None: optax's defaults,
    ``momentum`` for the heavy ball) and the rate ``lr * schedule(t)``.
    """
    w0 = np.asarray(w0, dtype=float).reshape(-1)
    lr = np.asarray(lr, dtype=float).reshape(-1)
    bound = np.finfo(float).max ** 0.25 if bound is None else bound
    W = np.repeat(w0[:, None], lr.size, axis=1)
    hyper = _hyper(method, momentum, hyper)
    state = optimizer_init(method, W.shape, hyper)
    LR = np.broadcast_to(lr, W.shape)
    n = np.zeros(W.shape, dtype=np.int64)
    status = np.zeros(W.shape, dtype=np.int8)  # 0 running, 1 converged, 2 diverged

    def parts(w):
        return chain(loss_name, act_name, w, x, target, loss_param, act_param)[1:]

    def value(w):
        return chain(loss_name, act_name, w, x, target, loss_param, act_param)[0]

    hist_w, hist_l = [W.copy()], [value(W)]
    for s in range(steps):
        g, h = parts(W)
        with np.errstate(all="ignore"):
            p = np.where(h > min_curv, g / h, g) if method == "newton" else g
            d, new_state = optimizer_update(method, p, W, state, hyper, s)
            Wn = W - LR * (1.0 if schedule is None else schedule(s)) * d
        live = status == 0
        conv = live & (np.abs(g) <= tol) if tol is not None else np.zeros_like(live)
        bad = live & ~conv & ~(np.abs(Wn) <= bound)
        take = live & ~conv & ~bad
        status[conv] = 1
        status[bad] = 2
        W = np.where(take, Wn, W)
        state = tuple(np.where(take, q, old) for q, old in zip(new_state, state, strict=True))
        n += take
        if record_every and (s + 1) % record_every == 0:
            hist_w.append(W.copy())
            hist_l.append(value(W))
    g, _ = parts(W)
    val = value(W)
    overflow = (status != 2) & ~np.isfinite(val)
    diverged_at = np.where(status == 2, n + 1, np.where(overflow, n, -1))
    status[overflow] = 2
    out = dict(w=W, grad=g, loss=val, n_steps=n, converged=status == 1, diverged=status == 2, diverged_at=diverged_at)
    if record_every:
        out["history_w"], out["history_loss"] = np.array(hist_w), np.array(hist_l)
    return out


# ------------------------------------------------------------- NumPy baselines
# What a NumPy user would write: one registry in fastgd/_baselines.py (plain NumPy,
# no fastgd code), shared with bench/ and `fastgd bench`; the tests check fastgd
# against it.
from fastgd._baselines import (  # noqa: E402, F401
    NUMPY_BASELINES,
    np_adam_fit_batched,
    np_adam_sweep,
    np_fit_batched,
    np_logistic_vg,
    np_mse_vg,
    np_sigmoid_vg,
    np_sweep,
)

# ------------------------------------------------------------- fit
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def shuffle(seed, epoch, n):
    """Epoch ``epoch``'s row order: Fisher-Yates driven by splitmix64, in Python integers."""
    perm = list(range(n))
    state = _mix64((seed * _GOLDEN + epoch) & _MASK)
    for i in range(n - 1, 0, -1):
        state = (state + _GOLDEN) & _MASK
        j = _mix64(state) % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm)


def batches(seed, n, batch, steps):
    """The rows of steps 0 .. steps: consecutive slices of the concatenated epochs."""
    epochs = (steps + 1) * batch // n + 1
    order = np.concatenate([shuffle(seed, e, n) for e in range(epochs)])
    return [order[s * batch : (s + 1) * batch] for s in range(steps + 1)]


def fit(
    X,
    y,
    lr,
    l2,
    steps,
    *,
    loss_name="logistic",
    act_name="identity",
    method="gd",
    momentum=0.9,
    hyper=None,
    schedule=None,
    fit_intercept=True,
    batches=None,
    loss_param=0.0,
):
    """Plain NumPy loop, one model per (lr, l2) pair (lr-major), every model on its own.

    Cost = mean loss + l2/2 ||w||^2; Newton solves the exact Hessian with np.linalg.solve.
    ``batches``: the row indices of each step (None: all rows).  The update of the
    coefficients and intercept together is ``optimizer_update`` with ``hyper`` (None:
    optax's defaults, ``momentum`` for the heavy ball), at the rate ``lr * schedule(t)``.
    """
    X = np.asarray(X, dtype=float)
    n, D = X.shape
    models = [(a, c) for a in np.atleast_1d(lr) for c in np.atleast_1d(l2)]
    coef, inter, hist = [], [], []
    hyper = _hyper(method, momentum, hyper)

    def parts(w, b, rows):
        z = X[rows] @ w + b
        a, ap, app = (np.asarray(q, dtype=float) for q in activation(act_name, z, 0.0))
        v, lp, lpp = (np.asarray(q, dtype=float) for q in loss(loss_name, a, y[rows], loss_param, float))
        return z, v, lp * ap, lpp * ap * ap + lp * app

    for rate, lam in models:
        w, b = np.zeros(D), 0.0
        state = optimizer_init(method, D + 1, hyper)
        costs = []
        for s in range(steps + 1):
            rows = np.arange(n) if batches is None else batches[s]
            _, v, e, curv = parts(w, b, rows)
            m = rows.size
            costs.append(v.mean() + 0.5 * lam * w @ w)
            if s == steps:
                break
            gw = X[rows].T @ e / m + lam * w
            gb = e.mean() if fit_intercept else 0.0
            if method == "newton":
                Xt = np.column_stack([X[rows], np.ones(m)]) if fit_intercept else X[rows]
                H = Xt.T @ (curv[:, None] * Xt) / m
                H[:D, :D] += lam * np.eye(D)
                d = np.linalg.solve(H, np.append(gw, gb) if fit_intercept else gw)
                pw, pb = d[:D], (d[D] if fit_intercept else 0.0)
            else:
                pw, pb = gw, gb
            d, state = optimizer_update(method, np.append(pw, pb), np.append(w, b), state, hyper, s)
            step = rate * (1.0 if schedule is None else schedule(s)) * d
            w, b = w - step[:D], b - step[D]
        coef.append(w)
        inter.append(b)
        hist.append(costs)
    return np.array(coef), np.array(inter), np.array(hist)


def log_softmax(Z):
    """Rows of logits to log-probabilities, shifted by each row's maximum (scipy's logsumexp, written out)."""
    Z = np.asarray(Z, dtype=float)
    mx = Z.max(axis=1, keepdims=True)
    return Z - mx - np.log(np.exp(Z - mx).sum(axis=1, keepdims=True))


def multinomial_fit(X, codes, K, lr, l2, steps, *, method="gd", hyper=None, batches=None, schedule=None):
    """The multinomial (softmax) model by a plain NumPy loop, one model per (lr, l2) pair (lr-major).

    Cost = mean(-log softmax(X W^T + b)_y) + l2/2 ||W||^2; gradient (P - onehot)^T X / n + l2 W.
    The update of the K x (D + 1) coefficients together is ``optimizer_update``.
    Returns coef (P, K, D), intercept (P, K), cost history (P, steps + 1).
    """
    X = np.asarray(X, dtype=float)
    codes = np.asarray(codes).astype(np.int64)
    n, D = X.shape
    hyper = _hyper(method, 0.9, hyper)
    coef, inter, hist = [], [], []
    for rate in np.atleast_1d(lr):
        for lam in np.atleast_1d(l2):
            W, b = np.zeros((K, D)), np.zeros(K)
            state = optimizer_init(method, K * (D + 1), hyper)
            costs = []
            for s in range(steps + 1):
                rows = np.arange(n) if batches is None else batches[s]
                logp = log_softmax(X[rows] @ W.T + b)
                onehot = np.eye(K)[codes[rows]]
                costs.append(-(logp * onehot).sum(axis=1).mean() + 0.5 * lam * (W * W).sum())
                if s == steps:
                    break
                E = np.exp(logp) - onehot
                g = np.column_stack([E.T @ X[rows] / rows.size + lam * W, E.mean(axis=0)]).ravel()
                d, state = optimizer_update(method, g, np.column_stack([W, b]).ravel(), state, hyper, s)
                step = (rate * (1.0 if schedule is None else schedule(s)) * d).reshape(K, D + 1)
                W, b = W - step[:, :D], b - step[:, D]
            coef.append(W)
            inter.append(b)
            hist.append(costs)
    return np.array(coef), np.array(inter), np.array(hist)


def multinomial_newton(X, codes, K, lr, l2):
    """One damped Newton step of the multinomial model from zero, by NumPy: the exact Hessian, pseudo-solved.

    H = sum_i (diag(p) - p p^T) kron x~ x~^T / n + l2 on the weights; it is singular along
    the intercepts' common shift, which the gradient is orthogonal to, so the minimum-norm
    solution (``lstsq``) is the step.  Returns coef (K, D), intercept (K,).
    """
    X = np.asarray(X, dtype=float)
    n, D = X.shape
    Xt = np.column_stack([X, np.ones(n)])
    p = np.full((n, K), 1.0 / K)
    E = p - np.eye(K)[np.asarray(codes).astype(np.int64)]
    g = (E.T @ Xt / n).ravel()  # W = 0: no L2 term in the gradient
    H = np.zeros((K * (D + 1), K * (D + 1)))
    for i in range(n):
        H += np.kron(np.diag(p[i]) - np.outer(p[i], p[i]), np.outer(Xt[i], Xt[i]))
    H /= n
    H += np.diag(np.tile(np.append(np.full(D, l2), 0.0), K))
    d = np.linalg.lstsq(H, g, rcond=None)[0].reshape(K, D + 1)
    return -lr * d[:, :D], -lr * d[:, D], None


# ------------------------------------------------------------- optimizers and schedules
# optax 0.2's definitions, transcribed from its source (optax/_src/alias.py,
# transform.py, schedules/_schedule.py) into plain NumPy: scale_by_adam,
# scale_by_rms(eps_in_sqrt=True), scale_by_rss, trace(nesterov), add_decayed_weights.
OPTAX_DEFAULTS = {
    "gd": {},
    "newton": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adagrad": {"initial_accumulator_value": 0.1, "eps": 1e-7},
    "rmsprop": {"decay": 0.9, "eps": 1e-8},
    "adam": {"b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "adamw": {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-4},
}


def _hyper(method, momentum, hyper):
    out = dict(OPTAX_DEFAULTS[method])
    if method == "momentum":
        out["momentum"] = momentum
    out.update(hyper or {})
    return out


def optimizer_init(method, shape, h):
    """The optimizer's state (two arrays of ``shape``)."""
    if method == "adagrad":
        return np.full(shape, float(h["initial_accumulator_value"])), np.zeros(shape)
    return np.zeros(shape), np.zeros(shape)


def optimizer_update(method, g, w, state, h, count):
    """(direction d, new state): the update is ``w - lr_t * d``; ``count`` updates came before."""
    a, b = state
    if method in ("momentum", "nesterov"):
        v = g + h["momentum"] * a  # optax trace: f(g, t) = g + decay * t
        return (g + h["momentum"] * v if method == "nesterov" else v), (v, b)
    if method == "adagrad":
        acc = g * g + a
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(acc > 0, g / np.sqrt(acc + h["eps"]), 0.0), (acc, b)
    if method == "rmsprop":
        nu = (1 - h["decay"]) * g * g + h["decay"] * a
        return g / np.sqrt(nu + h["eps"]), (nu, b)
    if method in ("adam", "adamw"):
        mu = (1 - h["b1"]) * g + h["b1"] * a
        nu = (1 - h["b2"]) * g * g + h["b2"] * b
        k = count + 1
        d = (mu / (1 - h["b1"] ** k)) / (np.sqrt(nu / (1 - h["b2"] ** k)) + h["eps"])
        if method == "adamw":
            d = d + h["weight_decay"] * w
        return d, (mu, nu)
    return g, (a, b)  # gd, and newton's preconditioned gradient


def schedule(name, t, **k):
    """optax's schedule ``name`` at ``count = t`` with init (or peak) value 1; inverse_time is scikit-learn's."""
    t = float(t)
    if name == "constant":
        return 1.0
    if name == "exponential":
        p = t / k["transition_steps"]
        with np.errstate(over="ignore"):  # a growing rate overflows to inf
            return np.float64(k["decay_rate"]) ** (np.floor(p) if k.get("staircase") else p)
    if name == "cosine":
        c = min(t, k["decay_steps"])
        return (1 - k.get("alpha", 0.0)) * 0.5 * (1 + np.cos(np.pi * c / k["decay_steps"])) + k.get("alpha", 0.0)
    if name == "linear":  # polynomial_schedule(1, end, power=1, steps)
        c = min(max(t, 0.0), k["transition_steps"])
        return (1 - k["end_value"]) * (1 - c / k["transition_steps"]) + k["end_value"]
    if name == "warmup_cosine":  # join_schedules([linear(init, 1, warm), cosine(1, decay - warm, end)], [warm])
        warm, init, end = k["warmup_steps"], k.get("init_value", 0.0), k.get("end_value", 0.0)
        if t < warm:
            return (init - 1) * (1 - t / warm) + 1
        return schedule("cosine", t - warm, decay_steps=k["decay_steps"] - warm, alpha=end)
    if name == "step":
        v = 1.0
        for bound, factor in zip(k["boundaries"], k["factors"], strict=True):
            v = v if t < bound else v * factor
        return v
    if name == "inverse_time":  # scikit-learn's invscaling, eta0 / t ** power_t with t from 1
        return 1.0 / (t + 1) ** k.get("power", 0.5)
    raise ValueError(name)

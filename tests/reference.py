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

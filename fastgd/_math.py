"""Every loss and activation, written once as scalar formulas.

Losses take ``(p, t, param)``: prediction, target and the loss's one parameter
(Huber's ``delta``; ignored elsewhere).  Activations take ``(z, param)``
(leaky ReLU's ``alpha``).  Each has ``value``, ``grad`` (d/dp or d/dz), ``hess``
(second derivative); losses also have a fused ``value_and_grad``.  Elementwise
kernels, descent loops and users' own ``@njit`` code all call these functions.

Conventions (documented in the public docstrings too):

* NaN in gives NaN out, also for constant derivatives (MSE's hess, ReLU's grad).
* At kinks the derivative is the one of the left piece at 0 / the inner piece at
  the boundary: MAE grad 0 at 0, ReLU grad 0 at 0, leaky ReLU grad ``alpha`` at 0,
  Huber hess 1 at ``|r| == delta``.
* ``log_loss`` clips ``p`` to ``[eps, 1 - eps]`` (eps = the dtype's machine
  epsilon, as scikit-learn does); ``cross_entropy`` clips ``p`` below at eps.
  grad and hess are those of the formula at the clipped ``p``, so gradient descent
  never stalls on a clip.
"""

from typing import NamedTuple

import numpy as np

from ._jit import jit_formula
from ._libm import const, eps, exp, log, log1p, sigmoid, sigmoid_neg_abs, softplus


@jit_formula
def _keep_nan(r, v):
    return v if r == r else r


# ---------------------------------------------------------------- losses
@jit_formula
def mse_value(p, t, param):
    r = p - t
    return r * r


@jit_formula
def mse_grad(p, t, param):
    return const(p, 2.0) * (p - t)


@jit_formula
def mse_hess(p, t, param):
    return _keep_nan(p - t, const(p, 2.0))


@jit_formula
def mse_value_and_grad(p, t, param):
    r = p - t
    return r * r, const(p, 2.0) * r


@jit_formula
def mae_value(p, t, param):
    return abs(p - t)


@jit_formula
def mae_grad(p, t, param):
    r = p - t
    one = const(p, 1.0)
    return one if r > const(p, 0.0) else (-one if r < const(p, 0.0) else r * const(p, 0.0))


@jit_formula
def mae_hess(p, t, param):
    return _keep_nan(p - t, const(p, 0.0))


@jit_formula
def mae_value_and_grad(p, t, param):
    return mae_value(p, t, param), mae_grad(p, t, param)


@jit_formula
def huber_value(p, t, param):
    d = const(p, param)
    r = p - t
    a = abs(r)
    return const(p, 0.5) * r * r if a <= d else d * (a - const(p, 0.5) * d)


@jit_formula
def huber_grad(p, t, param):
    d = const(p, param)
    r = p - t
    g = d if r > d else r
    return -d if g < -d else g


@jit_formula
def huber_hess(p, t, param):
    r = p - t
    return _keep_nan(r, const(p, 1.0) if abs(r) <= const(p, param) else const(p, 0.0))


@jit_formula
def huber_value_and_grad(p, t, param):
    return huber_value(p, t, param), huber_grad(p, t, param)


@jit_formula
def _clip_prob(p):
    e = eps(p)
    hi = const(p, 1.0) - e
    pc = e if p < e else p  # selects keep NaN
    return hi if pc > hi else pc


@jit_formula
def log_loss_value(p, t, param):
    pc = _clip_prob(p)
    return -(t * log(pc) + (const(p, 1.0) - t) * log1p(-pc))


@jit_formula
def log_loss_grad(p, t, param):
    pc = _clip_prob(p)
    return (pc - t) / (pc * (const(p, 1.0) - pc))


@jit_formula
def log_loss_hess(p, t, param):
    pc = _clip_prob(p)
    one = const(p, 1.0)
    q = one - pc
    return t / (pc * pc) + (one - t) / (q * q)


@jit_formula
def log_loss_value_and_grad(p, t, param):
    pc = _clip_prob(p)
    one = const(p, 1.0)
    q = one - pc
    return -(t * log(pc) + (one - t) * log1p(-pc)), (pc - t) / (pc * q)


@jit_formula
def _logistic_value_from_e(z, t, e):
    # max(z,0) - t*z written as (1-t)*z for z >= 0 and -t*z below: exact for t in {0, 1},
    # and 0 where that factor is 0, so z = +inf with t = 1 (or -inf with t = 0) gives the
    # limit 0 rather than inf - inf; log1p(e), e = exp(-|z|), never overflows
    zero = const(z, 0.0)
    a = const(z, 1.0) - t if z >= zero else -t
    return (a * z if a != zero else zero) + log1p(e)


@jit_formula
def logistic_value(z, t, param):
    return _logistic_value_from_e(z, t, exp(-abs(z)))


@jit_formula
def _logistic_grad_from_q(z, t, q):
    # sigmoid(z) - t without cancellation: sigmoid(z) = 1 - q for z >= 0
    return (const(z, 1.0) - t) - q if z >= const(z, 0.0) else q - t


@jit_formula
def logistic_grad(z, t, param):
    q, e = sigmoid_neg_abs(z)
    return _logistic_grad_from_q(z, t, q)


@jit_formula
def logistic_hess(z, t, param):
    return sigmoid_grad(z, param)  # d/dz (sigmoid(z) - t)


@jit_formula
def logistic_value_and_grad(z, t, param):
    q, e = sigmoid_neg_abs(z)
    return _logistic_value_from_e(z, t, e), _logistic_grad_from_q(z, t, q)


@jit_formula
def _clip_pos(p):
    e = eps(p)
    return e if p < e else p


@jit_formula
def cross_entropy_value(p, t, param):
    return -t * log(_clip_pos(p))


@jit_formula
def cross_entropy_grad(p, t, param):
    return -t / _clip_pos(p)


@jit_formula
def cross_entropy_hess(p, t, param):
    pc = _clip_pos(p)
    return t / (pc * pc)


@jit_formula
def cross_entropy_value_and_grad(p, t, param):
    pc = _clip_pos(p)
    return -t * log(pc), -t / pc


# ---------------------------------------------------------------- activations
@jit_formula
def identity_value(z, param):
    return z


@jit_formula
def identity_grad(z, param):
    return _keep_nan(z, const(z, 1.0))


@jit_formula
def identity_hess(z, param):
    return _keep_nan(z, const(z, 0.0))


@jit_formula
def sigmoid_value(z, param):
    return sigmoid(z)


@jit_formula
def sigmoid_grad(z, param):
    # s(1-s) = q(1-q) with q = sigmoid(-|z|) <= 1/2: no cancellation, max 0.25
    q, e = sigmoid_neg_abs(z)
    return q * (const(z, 1.0) - q)


@jit_formula
def sigmoid_hess(z, param):
    # s(1-s)(1-2s); 1-2q = tanh(|z|/2) computed directly (no cancellation near 0)
    q, e = sigmoid_neg_abs(z)
    h = q * (const(z, 1.0) - q) * np.tanh(const(z, 0.5) * abs(z))
    return -h if z > const(z, 0.0) else h


@jit_formula
def tanh_value(z, param):
    return np.tanh(z)


@jit_formula
def tanh_grad(z, param):
    # sech^2 z = 4e/(1+e)^2 with e = exp(-2|z|): no 1 - tanh^2 cancellation
    e = exp(const(z, -2.0) * abs(z))
    d = const(z, 1.0) + e
    return const(z, 4.0) * e / (d * d)


@jit_formula
def tanh_hess(z, param):
    return const(z, -2.0) * np.tanh(z) * tanh_grad(z, param)


@jit_formula
def relu_value(z, param):
    zero = const(z, 0.0)
    return zero if z <= zero else z


@jit_formula
def relu_grad(z, param):
    return _keep_nan(z, const(z, 1.0) if z > const(z, 0.0) else const(z, 0.0))


@jit_formula
def relu_hess(z, param):
    return _keep_nan(z, const(z, 0.0))


@jit_formula
def leaky_relu_value(z, param):
    zero = const(z, 0.0)
    a = const(z, param)
    v = z if z > zero else a * z
    return zero if (a == zero and z <= zero) else v  # 0 * -inf would be NaN


@jit_formula
def leaky_relu_grad(z, param):
    return _keep_nan(z, const(z, 1.0) if z > const(z, 0.0) else const(z, param))


@jit_formula
def leaky_relu_hess(z, param):
    return _keep_nan(z, const(z, 0.0))


@jit_formula
def softplus_value(z, param):
    return softplus(z)


@jit_formula
def softplus_grad(z, param):
    return sigmoid(z)


@jit_formula
def softplus_hess(z, param):
    return sigmoid_grad(z, param)


# ---------------------------------------------------------------- registries
LOSSES = {
    name: tuple(globals()[f"{name}_{part}"] for part in ("value", "grad", "hess", "value_and_grad"))
    for name in ("mse", "mae", "huber", "log_loss", "logistic", "cross_entropy")
}
ACTIVATIONS = {
    name: tuple(globals()[f"{name}_{part}"] for part in ("value", "grad", "hess"))
    for name in ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")
}


# ---------------------------------------------------------------- what each loss expects
class LossSpec(NamedTuple):
    """What the Python layer needs to know of a loss, next to its formulas (no name checks elsewhere).

    pred_range, target_range : (lo, hi, what) or None
        Where predictions / targets must lie (None: any real number).
    default_target : float
        The target when none is given.
    classifier : bool
        ``fit`` reads y as two class labels, mapped to 0 and 1.
    link : {"sigmoid", "clip"} or None
        From the model's output to P(y = 1): the prediction is a logit, or a probability.
    plot : ((lo, hi), target, label)
        The domain its curve is drawn on.
    points : (list of predictions, target)
        A few points inside the domain, for the formula table.
    model : str
        What ``fit`` with this loss and no activation is called.
    multiclass : bool
        With three or more labels ``fit`` fits the multinomial (softmax) model on logits,
        whose loss is ``-log softmax(z)_y`` (``_source._softmax_in_place``).
    """

    pred_range: tuple | None
    target_range: tuple | None
    default_target: float
    classifier: bool
    link: str | None
    plot: tuple
    points: tuple
    model: str
    multiclass: bool = False


_PROB = (0.0, 1.0, "probabilities")
_LABELS = (0.0, 1.0, "labels or probabilities")
_REAL_PLOT = ((-3.0, 3.0), 0.0, "prediction p (target 0)")
_REAL_POINTS = ([-2.0, -0.5, 0.0, 0.5, 2.0], 0.0)
_PROB_POINTS = ([0.01, 0.25, 0.5, 0.75, 0.99], 1.0)
LOSS_SPECS = {
    "mse": LossSpec(None, None, 0.0, False, None, _REAL_PLOT, _REAL_POINTS, "linear regression"),
    "mae": LossSpec(None, None, 0.0, False, None, _REAL_PLOT, _REAL_POINTS, "least absolute deviations"),
    "huber": LossSpec(None, None, 0.0, False, None, _REAL_PLOT, _REAL_POINTS, "Huber regression"),
    "log_loss": LossSpec(
        _PROB,
        _LABELS,
        0.0,
        True,
        "clip",
        ((0.005, 0.995), 1.0, "probability p (target 1)"),
        _PROB_POINTS,
        "a probability model",
    ),
    "logistic": LossSpec(
        None,
        _LABELS,
        0.0,
        True,
        "sigmoid",
        ((-6.0, 6.0), 1.0, "logit z (target 1)"),
        ([-4.0, -1.0, 0.0, 1.0, 4.0], 1.0),
        "logistic regression",
        multiclass=True,
    ),
    "cross_entropy": LossSpec(
        (0.0, np.inf, "probabilities"),
        (0.0, np.inf, "non-negative"),
        1.0,
        True,
        "clip",
        ((0.005, 1.0), 1.0, "probability p (target 1)"),
        _PROB_POINTS,
        "a probability model",
        multiclass=True,
    ),
}

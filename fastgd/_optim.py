"""Every optimizer, written once: its state and its update as scalar formulas.

The shape of optax's ``GradientTransformation``: an optimizer turns the gradient
``g`` of one coefficient ``w`` (and that coefficient's state) into a direction
``d``; the engine then steps ``w <- w - lr * d``.  Every optimizer has the same
signature, so kernels specialise on the optimizer object the way they do on a
``Loss``::

    init(h0, h1, h2, h3) -> (s0, s1)
    prepare(h0, h1, h2, h3, t) -> (c0, c1)
    update(g, w, s0, s1, h0, h1, h2, h3, c0, c1) -> (d, s0, s1)

``s0, s1`` are the coefficient's two state slots (``init`` gives their start), ``h0..h3``
the model's hyperparameters (``HYPERPARAMS`` names them, in order) and ``t`` the
number of updates taken before this one.  ``prepare`` gives the step's constants,
shared by every coefficient of a model (optax derives them from its ``count``, like
Adam's bias corrections): the engines compute them once per model and step, not
once per coefficient, and the descent kernel once per step for every column with
the same hyperparameters.  The fit engine (``_engine``) and the descent kernel
(``_kernels_descent``) both call these functions; a new optimizer is one update
(and init, prepare, where its state does not start at zero or it has step
constants) plus its entries in the tables at the end.

Newton's method is a gd update of a preconditioned gradient: ``newton_direction``
(one weight) and ``newton_solve`` (a model's coefficients, by Cholesky) compute
the direction; ``USES_HESSIAN`` tells the engine to ask its gradient source for
the curvature sums.
"""

import numpy as np

from ._jit import jit_formula, jit_helper
from ._libm import const, exp, log


@jit_formula
def power(b, n):
    """``b ** n`` for b in [0, 1) and an integer n >= 1, as exp(n log b): vectorizes (no libm pow call)."""
    return exp(const(b, n) * log(b))


@jit_formula
def zero_init(h0, h1, h2, h3):
    """The state of most optimizers starts at zero."""
    return h0 * 0, h0 * 0


@jit_formula
def no_prepare(h0, h1, h2, h3, t):
    """Most optimizers have no step constants."""
    return h0 * 0, h0 * 0


@jit_formula
def gd_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """Plain gradient descent: the direction is the gradient."""
    return g, s0, s1


@jit_formula
def momentum_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """Heavy ball (optax ``sgd(momentum)``): ``v <- momentum * v + g`` (s0 is v, h0 the momentum), direction ``v``."""
    d = h0 * s0 + g
    return d, d, s1


@jit_formula
def nesterov_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """Nesterov (optax ``sgd(momentum, nesterov=True)``): ``v <- momentum * v + g``, direction ``g + momentum * v``."""
    v = h0 * s0 + g
    return h0 * v + g, v, s1


@jit_formula
def adagrad_init(h0, h1, h2, h3):
    """AdaGrad's accumulator starts at ``initial_accumulator_value`` (h0)."""
    return h0, h0 * 0


@jit_formula
def adagrad_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """AdaGrad (optax ``adagrad``): ``a <- a + g^2``, direction ``g / sqrt(a + eps)`` (0 where a = 0); h1 is eps."""
    a = g * g + s0
    d = g / np.sqrt(a + h1) if a > const(a, 0.0) else g * 0
    return d, a, s1


@jit_formula
def rmsprop_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """RMSProp (optax ``rmsprop``, eps in the root): ``nu <- decay nu + (1 - decay) g^2``, ``d = g / sqrt(nu + eps)``.

    h0 is the decay, h1 eps.
    """
    nu = (const(g, 1.0) - h0) * (g * g) + h0 * s0
    return g / np.sqrt(nu + h1), nu, s1


@jit_formula
def adam_prepare(h0, h1, h2, h3, t):
    """Adam's bias corrections at update ``t + 1``: ``1 / (1 - b1^(t+1))``, ``1 / (1 - b2^(t+1))``."""
    one = const(h0, 1.0)
    return one / (one - power(h0, t + 1)), one / (one - power(h1, t + 1))


@jit_formula
def adam_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """Adam (optax ``adam``): moments ``mu`` (s0) and ``nu`` (s1), bias-corrected by ``c0, c1``.

    ``mu <- b1 mu + (1 - b1) g``, ``nu <- b2 nu + (1 - b2) g^2``,
    ``d = mu_hat / (sqrt(nu_hat) + eps)`` with ``mu_hat = mu / (1 - b1^(t+1))`` and
    ``nu_hat = nu / (1 - b2^(t+1))`` (``adam_prepare``); h0, h1, h2 are b1, b2, eps.
    """
    one = const(g, 1.0)
    mu = (one - h0) * g + h0 * s0
    nu = (one - h1) * (g * g) + h1 * s1
    return (mu * c0) / (np.sqrt(nu * c1) + h2), mu, nu


@jit_formula
def adamw_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1):
    """AdamW (optax ``adamw``): Adam's direction plus the decoupled decay ``weight_decay * w`` (h3)."""
    d, mu, nu = adam_update(g, w, s0, s1, h0, h1, h2, h3, c0, c1)
    return d + h3 * w, mu, nu


@jit_formula
def newton_direction(g, h, min_curv):
    """One weight's Newton direction ``g / f''`` where the curvature is safely positive, else ``g``."""
    return g / h if h > min_curv else g


@jit_helper
def newton_solve(H, g, A):
    """Solve ``H d = g`` in place (``g`` becomes ``d``) by Cholesky of the lower triangle of H (A x A).

    Returns False, leaving ``g`` partly overwritten, where H is not safely positive
    definite (a pivot at most 1e-12 of its diagonal entry): the caller then steps
    along the gradient instead.
    """
    for p in range(A):
        s = H[p, p]
        for k in range(p):
            s -= H[p, k] * H[p, k]
        if not s > 1e-12 * max(1.0, abs(H[p, p])):
            return False
        H[p, p] = np.sqrt(s)
        for q in range(p + 1, A):
            u = H[q, p]
            for k in range(p):
                u -= H[q, k] * H[p, k]
            H[q, p] = u / H[p, p]
    for p in range(A):  # forward: L u = g
        u = g[p]
        for k in range(p):
            u -= H[p, k] * g[k]
        g[p] = u / H[p, p]
    for p in range(A - 1, -1, -1):  # back: L^T d = u
        u = g[p]
        for k in range(p + 1, A):
            u -= H[k, p] * g[k]
        g[p] = u / H[p, p]
    return True


# name -> (update, init, prepare); Newton's direction comes from newton_solve, then a gd update
OPTIMIZERS = {
    "gd": (gd_update, zero_init, no_prepare),
    "momentum": (momentum_update, zero_init, no_prepare),
    "nesterov": (nesterov_update, zero_init, no_prepare),
    "adagrad": (adagrad_update, adagrad_init, no_prepare),
    "rmsprop": (rmsprop_update, zero_init, no_prepare),
    "adam": (adam_update, zero_init, adam_prepare),
    "adamw": (adamw_update, zero_init, adam_prepare),
    "newton": (gd_update, zero_init, no_prepare),
}
# each optimizer's hyperparameters, in the order the update receives them (h0, h1, ...)
HYPERPARAMS = {
    "gd": (),
    "momentum": ("momentum",),
    "nesterov": ("momentum",),
    "adagrad": ("initial_accumulator_value", "eps"),
    "rmsprop": ("decay", "eps"),
    "adam": ("b1", "b2", "eps"),
    "adamw": ("b1", "b2", "eps", "weight_decay"),
    "newton": (),
}
# optax 0.2's defaults; eps differs by optimizer
DEFAULTS = {
    "gd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adagrad": {"initial_accumulator_value": 0.1, "eps": 1e-7},
    "rmsprop": {"decay": 0.9, "eps": 1e-8},
    "adam": {"b1": 0.9, "b2": 0.999, "eps": 1e-8},
    "adamw": {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 1e-4},
    "newton": {},
}
USES_HESSIAN = {name: name == "newton" for name in OPTIMIZERS}
PREPARES = {name: fns[2] is not no_prepare for name, fns in OPTIMIZERS.items()}  # has step constants
# updates of a few flops and no division: the descent kernel takes several a pass over a row
CHEAP = {name: name in ("gd", "momentum", "nesterov", "newton") for name in OPTIMIZERS}
N_HYPER = 4  # h0..h3

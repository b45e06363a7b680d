"""Every optimizer, written once: its state and its update as scalar formulas.

The shape of optax's ``GradientTransformation``: an optimizer turns the gradient
``g`` of one coefficient ``w`` (and that coefficient's state) into a direction
``d``; the engine then steps ``w <- w - lr * d``.  Every optimizer has the same
signature, so kernels specialise on the optimizer object the way they do on a
``Loss``::

    update(g, w, s0, s1, h0, h1, h2, h3, t) -> (d, s0, s1)

``s0, s1`` are the coefficient's two state slots (zero at the start), ``h0..h3``
the model's hyperparameters (``HYPERPARAMS`` names them, in order) and ``t`` the
number of updates taken before this one.  The fit engine (``_engine``) and the
descent kernel (``_kernels_descent``) both call these functions.

Newton's method is a gd update of a preconditioned gradient: ``newton_direction``
(one weight) and ``newton_solve`` (a model's coefficients, by Cholesky) compute
the direction; ``USES_HESSIAN`` tells the engine to ask its gradient source for
the curvature sums.
"""

import numpy as np

from ._jit import jit_formula, jit_helper


@jit_formula
def gd_update(g, w, s0, s1, h0, h1, h2, h3, t):
    """Plain gradient descent: the direction is the gradient."""
    return g, s0, s1


@jit_formula
def momentum_update(g, w, s0, s1, h0, h1, h2, h3, t):
    """Heavy ball: ``v <- momentum * v + g`` (s0 is v, h0 the momentum), direction ``v``."""
    d = h0 * s0 + g
    return d, d, s1


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


# name -> update formula; Newton's direction comes from newton_solve, then a gd update
OPTIMIZERS = {"gd": (gd_update,), "momentum": (momentum_update,), "newton": (gd_update,)}
HYPERPARAMS = {"gd": (), "momentum": ("momentum",), "newton": ()}
USES_HESSIAN = {"gd": False, "momentum": False, "newton": True}
N_HYPER = 4  # h0..h3

"""The chain rule through an activation, written once: z -> a = act(z) -> L(a, t).

``act=None`` is the identity (compiled out).  Descent (z = w*x) and fit
(z = X @ w + b) both call these; every loss and activation comes from its one
scalar formula in ``_math``.
"""

from . import _extending as fx
from ._jit import jit_formula


@jit_formula
def value(loss, act, z, t):
    """L(act(z), t)."""
    return fx.value(loss, z if act is None else fx.value(act, z), t)


@jit_formula
def grad(loss, act, z, t):
    """dL/dz = L'(a, t) * act'(z)."""
    if act is None:
        return fx.grad(loss, z, t)
    return fx.grad(loss, fx.value(act, z), t) * fx.grad(act, z)


@jit_formula
def value_and_grad(loss, act, z, t):
    """(L, dL/dz) with the loss's fused value_and_grad."""
    if act is None:
        return fx.value_and_grad(loss, z, t)
    v, g = fx.value_and_grad(loss, fx.value(act, z), t)
    return v, g * fx.grad(act, z)


@jit_formula
def grad_hess(loss, act, z, t):
    """(dL/dz, d2L/dz2), the second as L''(a) act'(z)^2 + L'(a) act''(z)."""
    if act is None:
        return fx.grad(loss, z, t), fx.hess(loss, z, t)
    a = fx.value(act, z)
    lp = fx.grad(loss, a, t)
    ap = fx.grad(act, z)
    return lp * ap, fx.hess(loss, a, t) * ap * ap + lp * fx.hess(act, z)

"""Optimizers: how a gradient becomes a step, shared by :func:`fastgd.fit` and :func:`fastgd.descend`.

Each optimizer is written once, as a scalar state/update pair in ``fastgd._optim``
(the shape of optax's ``GradientTransformation``); an :class:`Optimizer` object
names one, and compiled kernels specialise on it as they do on a loss.  Every
update is ``w <- w - lr_t * d`` with ``lr_t = lr * schedule(t)``, ``t`` the number of
updates taken before, ``g`` the gradient and the direction ``d`` below (optax 0.2's
definitions and defaults; state starts at 0 unless said):

- ``"gd"``: ``d = g``.
- ``"momentum"`` (heavy ball, optax ``sgd(momentum)``): ``v <- momentum v + g``, ``d = v``.
- ``"nesterov"`` (optax ``sgd(momentum, nesterov=True)``): ``v <- momentum v + g``,
  ``d = g + momentum v``.
- ``"adagrad"``: ``a <- a + g^2`` (``a`` starts at ``initial_accumulator_value=0.1``),
  ``d = g / sqrt(a + eps)`` (``eps=1e-7``; ``d = 0`` where ``a = 0``).
- ``"rmsprop"``: ``nu <- decay nu + (1 - decay) g^2``, ``d = g / sqrt(nu + eps)``
  (``decay=0.9, eps=1e-8``, optax's ``eps_in_sqrt=True``).
- ``"adam"``: ``mu <- b1 mu + (1 - b1) g``, ``nu <- b2 nu + (1 - b2) g^2``,
  ``d = mu_hat / (sqrt(nu_hat) + eps)``, ``mu_hat = mu / (1 - b1^(t+1))``,
  ``nu_hat = nu / (1 - b2^(t+1))`` (``b1=0.9, b2=0.999, eps=1e-8``).
- ``"adamw"``: Adam's ``d`` plus ``weight_decay * w`` (``weight_decay=1e-4``), decoupled
  from the gradient and applied to every coefficient, the intercept too (optax's
  default mask); the decay is scaled by ``lr_t`` as in optax.
- ``"newton"``: ``d = H^-1 g`` with the exact Hessian ``H`` (the seed's ideal step
  ``1/f''``); where ``H`` is not safely positive definite, ``d = g``.  With a schedule
  this is damped Newton.

Every hyperparameter is a keyword argument of ``fit`` and ``descend`` taking a scalar
or a 1-D array; arrays are grid axes (:func:`hyperparameter_grid`).
"""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import _extending, _optim
from . import _validation as v

METHODS = tuple(_optim.OPTIMIZERS)


@dataclass(frozen=True)
class Optimizer:
    """An update rule, by name (one of :data:`METHODS`); see :func:`get_optimizer`.

    Attributes
    ----------
    name : str
    hyperparams : tuple of str
        The names of its hyperparameters (keyword arguments of ``fit`` and ``descend``).
    uses_hessian : bool
        True where each step needs the curvature (Newton).
    """

    name: str
    kind: ClassVar[str] = "optimizer"

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"method must be a str; got {type(self.name).__name__} {self.name!r}.")
        v.choice(self.name, METHODS, "method")

    @property
    def param(self):
        """Unused (hyperparameters are per model); kept for the numba type shared with losses."""
        return 0.0

    @property
    def hyperparams(self):
        """Names of the hyperparameters, in the order the kernels receive them."""
        return _optim.HYPERPARAMS[self.name]

    @property
    def uses_hessian(self):
        """True where each step needs the curvature sums (Newton)."""
        return _optim.USES_HESSIAN[self.name]


_extending.register_class(Optimizer, "optimizer")


def get_optimizer(method):
    """The optimizer called ``method`` (an Optimizer is returned as it is).

    Examples
    --------
    >>> import fastgd
    >>> fastgd.optimizers.get_optimizer("momentum").hyperparams
    ('momentum',)

    See Also
    --------
    optax.sgd : the same rules in JAX.
    """
    if isinstance(method, Optimizer):
        return method
    if not isinstance(method, str):
        raise TypeError(f"method must be a name or a fastgd Optimizer; got {type(method).__name__}.")
    return Optimizer(v.choice(method, METHODS, "method"))


# where each hyperparameter may lie: (lowest, highest, lowest included, highest included)
_RANGES = {
    "momentum": (0.0, 1.0, True, False),
    "b1": (0.0, 1.0, True, False),
    "b2": (0.0, 1.0, True, False),
    "decay": (0.0, 1.0, True, False),
    "eps": (0.0, np.inf, False, False),
    "weight_decay": (0.0, np.inf, True, False),
    "initial_accumulator_value": (0.0, np.inf, True, False),
}
HYPERPARAMS = tuple(_RANGES)


def _interval(lo, hi, lo_in, hi_in):
    return f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"


def hyperparameter_grid(opt, dtype, **given):
    """Each hyperparameter of ``opt`` as a validated 1-D array of ``dtype``: [(name, values), ...].

    ``given`` maps names to what the caller passed (None: the optimizer's default).
    A hyperparameter given for an optimizer that does not use it is refused, naming
    the optimizers that do.
    """
    for name, value in given.items():
        if value is not None and name not in opt.hyperparams:
            users = [m for m in METHODS if name in _optim.HYPERPARAMS[m]]
            raise ValueError(
                f"{name} is a hyperparameter of method {' and '.join(repr(u) for u in users)}, "
                f"not of {opt.name!r}; drop {name}= or pick one of those methods."
            )
    grids = []
    for name in opt.hyperparams:
        value = given.get(name)
        arr = v.vector(_optim.DEFAULTS[opt.name][name] if value is None else value, name)
        lo, hi, lo_in, hi_in = _RANGES[name]
        with np.errstate(invalid="ignore"):
            inside = (arr >= lo if lo_in else arr > lo) & (arr <= hi if hi_in else arr < hi)
        if not inside.all():
            first = int(np.argmax(~inside))
            raise ValueError(
                f"{name} must be in {_interval(lo, hi, lo_in, hi_in)} for method {opt.name!r}; "
                f"got {arr[first].item()!r}" + (f" at index {first}" if arr.size > 1 else "") + "."
            )
        cast = v.in_dtype(arr, dtype, name)
        if not hi_in and (cast >= hi).any():  # b2 = 0.99999999 is 1 in float32: no bias correction left
            raise ValueError(
                f"{name} must be below {hi:g}; {arr[np.argmax(cast >= hi)].item()!r} rounds to {hi:g} in {dtype}."
            )
        grids.append((name, cast))
    return grids


def model_grid(axes, hp_axes, dtype):
    """Every combination of the axes [(name, values), ...], the first slowest: ({name: (P,)}, hp (P, N_HYPER)).

    ``hp`` holds each model's values of ``hp_axes`` (``hyperparameter_grid``'s answer, among
    ``axes``) in the optimizer's order, zeros after them: what the kernels receive.
    """
    mesh = np.meshgrid(*(values for _, values in axes), indexing="ij")
    params = {name: m.reshape(-1) for (name, _), m in zip(axes, mesh, strict=True)}
    hp = np.zeros((mesh[0].size, _optim.N_HYPER), dtype)
    for j, (name, _) in enumerate(hp_axes):
        hp[:, j] = params[name]
    return params, hp

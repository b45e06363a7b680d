"""Optimizers: how a gradient becomes a step, shared by :func:`fastgd.fit` and :func:`fastgd.descend`.

Each optimizer is written once, as a scalar state/update pair in ``fastgd._optim``
(the shape of optax's ``GradientTransformation``); an :class:`Optimizer` object
names one, and compiled kernels specialise on it as they do on a loss.

- ``"gd"``: ``w <- w - lr * g``.
- ``"momentum"`` (heavy ball): ``v <- momentum * v + g``, ``w <- w - lr * v``, ``v`` starts at 0.
- ``"newton"``: ``w <- w - lr * H^-1 g`` with the exact Hessian ``H`` (the seed's ideal step
  ``1/f''``); where ``H`` is not safely positive definite, a gd step.
"""

from dataclasses import dataclass
from typing import ClassVar

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

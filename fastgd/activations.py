"""Activation functions with their first and second derivatives, elementwise.

``fastgd.activations.identity``, ``.sigmoid``, ``.tanh``, ``.relu``,
``.leaky_relu`` (``alpha``, default 0.01), ``.softplus``, or by name with
:func:`get_activation`.  Sigmoid's derivative peaks at 0.25 (at 0): chained
through many layers it vanishes; ReLU's derivative is 0 or 1.

Conventions: ReLU grad is 0 at 0, leaky ReLU grad is ``alpha`` at 0; NaN in
gives NaN out.  ``tanh`` evaluates with the C library (scalar, not vectorized);
the others vectorize.  Activation objects also work inside ``@numba.njit``
code on scalars: ``act.value(z)``, ``act.grad(z)``, ``act.hess(z)``.
"""

from dataclasses import dataclass
from typing import ClassVar

from . import _extending, _kernels
from . import _validation as v

# name -> (parameter name, default, strictly positive?)
_PARAMS = {"leaky_relu": ("alpha", 0.01, False)}


@dataclass(frozen=True)
class Activation:
    """An activation ``a = act(z)`` with its first and second derivatives.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATION_NAMES`.
    param : float
        Leaky ReLU's ``alpha``; 0 otherwise.  Prefer :func:`get_activation`.
    """

    name: str
    param: float = 0.0
    kind: ClassVar[str] = "activation"

    def __post_init__(self):
        object.__setattr__(self, "param", v.formula_fields(self, ACTIVATION_NAMES, _PARAMS))

    def _map(self, part, z, out):
        x = v.float_array(z, "z")
        res = v.out_array(out, x.shape, x.dtype)
        flat, src = res.reshape(-1), v.flat(x, x.shape, x.dtype)
        dst = v.unaliased(flat, src)
        _kernels.act_map.sized(dst.size)(self, part, src, dst)
        v.copy_back(dst, flat)
        return res if res.ndim else res[()]

    def value(self, z, *, out=None):
        """The activation at each ``z``.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.activations.sigmoid.value(0.0))
        0.5

        See Also
        --------
        scipy.special.expit, numpy.tanh, numpy.maximum
        """
        return self._map(0, z, out)

    def grad(self, z, *, out=None):
        """First derivative d act / dz at each ``z``.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.activations.sigmoid.grad(0.0))
        0.25

        See Also
        --------
        numpy.gradient
        """
        return self._map(1, z, out)

    def hess(self, z, *, out=None):
        """Second derivative at each ``z``.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.activations.relu.hess(2.0))
        0.0

        See Also
        --------
        numpy.gradient
        """
        return self._map(2, z, out)

    def with_params(self, **params):
        """A copy with other parameters, e.g. ``leaky_relu.with_params(alpha=0.1)``."""
        return get_activation(self.name, **params)


_extending.register_class(Activation, "activation")


def get_activation(name, **params):
    """The activation called ``name``, with its parameters validated.

    Parameters
    ----------
    name : str or Activation
        One of :data:`ACTIVATION_NAMES`.
    **params
        ``alpha`` (>= 0, default 0.01) for ``"leaky_relu"``.

    Examples
    --------
    >>> import fastgd
    >>> fastgd.get_activation("leaky_relu", alpha=0.1).param
    0.1

    See Also
    --------
    fastgd.get_loss
    """
    if isinstance(name, Activation) and not params:
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name or a fastgd Activation; got {type(name).__name__}.")
    v.choice(name, ACTIVATION_NAMES, "activation")
    return Activation(name, v.formula_param("activation", name, params, _PARAMS.get(name)))


ACTIVATION_NAMES = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")

identity = Activation("identity")
sigmoid = Activation("sigmoid")
tanh = Activation("tanh")
relu = Activation("relu")
leaky_relu = Activation("leaky_relu", 0.01)
softplus = Activation("softplus")

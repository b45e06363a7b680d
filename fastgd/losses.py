"""Loss functions and their first and second derivatives, elementwise.

Every loss is a :class:`Loss` object: ``fastgd.losses.mse``, ``.mae``,
``.huber``, ``.log_loss``, ``.logistic``, ``.cross_entropy``, or by name with
:func:`get_loss`.  Each has ``value``, ``grad`` (d loss / d pred), ``hess`` (the
second derivative), ``value_and_grad`` (both in one fused pass) and ``cost``
(the mean or sum of the losses: the cost function of the seed article).

Inputs broadcast like NumPy ufuncs; scalars and lists are accepted; float32
stays float32 and integers promote to float64; ``out=`` writes in place (an
``out`` overlapping an input other than element for element is written through
a copy, so the result is always that of separate arrays).  NaN inputs give NaN
outputs; infinite ones give the limit (``logistic`` at ``z = inf`` with target 1
is 0).  Empty inputs give empty outputs.

Loss objects also work inside your own ``@numba.njit`` functions, on scalars:
``loss.value(p, t)``, ``loss.grad(p, t)``, ``loss.hess(p, t)``,
``loss.value_and_grad(p, t)`` (pass the target explicitly there).
"""

from dataclasses import dataclass
from typing import ClassVar

from . import _extending, _kernels, _math
from . import _validation as v

_VALUE, _GRAD, _HESS = 0, 1, 2

# name -> (parameter name, default, strictly positive?)
_PARAMS = {"huber": ("delta", 1.0, True)}


@dataclass(frozen=True)
class Loss:
    """A loss function ``L(pred, target)`` with its derivatives in ``pred``.

    Parameters
    ----------
    name : str
        One of :data:`LOSS_NAMES`.
    param : float
        The loss's parameter (Huber's ``delta``); 0 for losses without one.
        Prefer :func:`get_loss`, which validates it.
    """

    name: str
    param: float = 0.0
    kind: ClassVar[str] = "loss"

    def __post_init__(self):
        object.__setattr__(self, "param", v.formula_fields(self, LOSS_NAMES, _PARAMS))

    @property
    def spec(self):
        """What the loss expects (ranges, default target, classifier or not, link): a ``_math.LossSpec``."""
        return _math.LOSS_SPECS[self.name]

    @property
    def default_target(self):
        """Target used when none is given: 1 for cross_entropy, else 0."""
        return self.spec.default_target

    @property
    def is_classifier(self):
        """True where ``fit`` reads the targets as two class labels (log_loss, logistic, cross_entropy)."""
        return self.spec.classifier

    def _prepare(self, pred, target):
        if target is None:
            target = self.default_target
        p, t, shape, dtype = v.float_pair(pred, target, ("pred", "target"))
        for arr, name, rng in ((p, "pred", self.spec.pred_range), (t, "target", self.spec.target_range)):
            if rng is not None:
                v.check_range(arr, rng[0], rng[1], name, rng[2])
        return v.flat(p, shape, dtype), v.flat_or_scalar(t, shape, dtype), shape, dtype

    def _map(self, part, pred, target, out):
        p, t, shape, dtype = self._prepare(pred, target)
        res = v.out_array(out, shape, dtype)
        flat = res.reshape(-1)
        dst = v.unaliased(flat, p, t)
        _kernels.loss_map.sized(dst.size)(self, part, p, t, dst)
        v.copy_back(dst, flat)
        return res if res.ndim else res[()]

    def value(self, pred, target=None, *, out=None):
        """Loss at each (pred, target) pair.

        Parameters
        ----------
        pred, target : array_like
            Predictions and targets; they broadcast together.  ``target`` defaults
            to :attr:`default_target`.
        out : ndarray, optional
            Where to write the result (broadcast shape, result dtype, C order).

        Returns
        -------
        ndarray or scalar
            The losses, of the broadcast shape and the inputs' float dtype.

        See Also
        --------
        numpy.square, numpy.abs, scipy.special.xlogy : NumPy/SciPy building blocks.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.losses.mse.value(3.0, 1.0))
        4.0
        """
        return self._map(_VALUE, pred, target, out)

    def grad(self, pred, target=None, *, out=None):
        """Derivative of the loss with respect to ``pred``, elementwise.

        At kinks the convention is: MAE grad 0 at ``pred == target``; Huber is
        differentiable.  ``log_loss``/``cross_entropy`` use the clipped ``pred``.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.losses.mse.grad(3.0, 1.0))
        4.0

        See Also
        --------
        numpy.gradient : finite differences, the slow way.
        """
        return self._map(_GRAD, pred, target, out)

    def hess(self, pred, target=None, *, out=None):
        """Second derivative of the loss with respect to ``pred``, elementwise.

        MAE has hess 0 (everywhere but the kink); Huber's is 1 for
        ``|pred - target| <= delta`` and 0 outside.

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.losses.mse.hess(3.0, 1.0))
        2.0

        See Also
        --------
        numpy.gradient : finite differences, the slow way.
        """
        return self._map(_HESS, pred, target, out)

    def value_and_grad(self, pred, target=None, *, out=None):
        """Loss and its gradient in one fused pass over the data.

        Parameters
        ----------
        pred, target : array_like
            As in :meth:`value`.
        out : tuple of two ndarrays, optional
            Where to write (value, grad).

        Returns
        -------
        (ndarray, ndarray)

        Examples
        --------
        >>> import fastgd
        >>> val, grad = fastgd.losses.logistic.value_and_grad([0.0, 2.0], [1.0, 1.0])
        >>> [round(float(x), 4) for x in grad]
        [-0.5, -0.1192]

        See Also
        --------
        numpy.logaddexp : ``logistic`` value is ``logaddexp(0, z) - t*z``.
        """
        p, t, shape, dtype = self._prepare(pred, target)
        out_v, out_g = (None, None) if out is None else out
        res_v = v.out_array(out_v, shape, dtype, "out[0]")
        res_g = v.out_array(out_g, shape, dtype, "out[1]")
        v.distinct_outputs(res_v, res_g, ("out[0]", "out[1]"))
        flat_v, flat_g = res_v.reshape(-1), res_g.reshape(-1)
        dst_v, dst_g = v.unaliased(flat_v, p, t), v.unaliased(flat_g, p, t)
        _kernels.loss_value_and_grad.sized(dst_v.size)(self, p, t, dst_v, dst_g)
        v.copy_back(dst_v, flat_v)
        v.copy_back(dst_g, flat_g)
        if res_v.ndim:
            return res_v, res_g
        return res_v[()], res_g[()]

    def cost(self, pred, target=None, *, reduction="mean"):
        """The cost: mean (or sum) of the losses, accumulated in float64.

        Parameters
        ----------
        pred, target : array_like
            As in :meth:`value`.
        reduction : {"mean", "sum"}
            ``"mean"`` of an empty input raises ValueError; ``"sum"`` gives 0.

        Returns
        -------
        numpy scalar of the inputs' float dtype

        Examples
        --------
        >>> import fastgd
        >>> float(fastgd.losses.mae.cost([1.0, -3.0], 0.0))
        2.0

        See Also
        --------
        numpy.mean, sklearn.metrics.log_loss
        """
        v.choice(reduction, ("mean", "sum"), "reduction")
        p, t, shape, dtype = self._prepare(pred, target)
        if reduction == "mean" and p.size == 0:
            raise ValueError("cost(reduction='mean') of an empty input is undefined; pass reduction='sum' or data.")
        total = _kernels.loss_sum.sized(p.size)(self, p, t)
        return dtype.type(total / p.size if reduction == "mean" else total)

    def with_params(self, **params):
        """A copy with other parameters, e.g. ``huber.with_params(delta=0.5)``."""
        return get_loss(self.name, **params)


_extending.register_class(Loss, "loss")


def get_loss(name, **params):
    """The loss called ``name``, with its parameters validated.

    Parameters
    ----------
    name : str or Loss
        One of :data:`LOSS_NAMES` (a Loss is returned as it is).
    **params
        ``delta`` (> 0, default 1.0) for ``"huber"``; no others.

    Examples
    --------
    >>> import fastgd
    >>> fastgd.get_loss("huber", delta=0.5).param
    0.5

    See Also
    --------
    fastgd.get_activation
    """
    if isinstance(name, Loss) and not params:
        return name
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name or a fastgd Loss; got {type(name).__name__}.")
    v.choice(name, LOSS_NAMES, "loss")
    return Loss(name, v.formula_param("loss", name, params, _PARAMS.get(name)))


LOSS_NAMES = ("mse", "mae", "huber", "log_loss", "logistic", "cross_entropy")

mse = Loss("mse")
mae = Loss("mae")
huber = Loss("huber", 1.0)
log_loss = Loss("log_loss")
logistic = Loss("logistic")
cross_entropy = Loss("cross_entropy")

"""fastgd: Numba-jitted losses, derivatives and batched gradient descent.

Public modules: :mod:`fastgd.losses`, :mod:`fastgd.activations`, :mod:`fastgd.optimizers`,
:mod:`fastgd.schedules`, :mod:`fastgd.special`, :mod:`fastgd.descent`, :mod:`fastgd.fit`, and, imported on
first use, :mod:`fastgd.plot` (needs matplotlib) and :mod:`fastgd.datasets`.
Kernels compile on first use and are cached on disk (``cache=True``);
:func:`warmup` compiles the common ones ahead of time.
"""

from . import _extending, _libm, activations, descent, losses, optimizers, schedules, special
from .activations import ACTIVATION_NAMES, Activation, get_activation
from .descent import DescentResult, descend
from .fit import FitResult, fit  # the function fastgd.fit; the module stays importable as fastgd.fit
from .losses import LOSS_NAMES, Loss, get_loss

__version__ = "0.1.0"

for _name in ("exp", "log", "log1p", "sigmoid", "softplus", "log_sigmoid"):
    _extending.register_scalar(getattr(special, _name), getattr(_libm, _name))


def __getattr__(name):
    # plot needs matplotlib and datasets reads a file: neither is paid for at import
    if name in ("plot", "datasets"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastgd' has no attribute {name!r}")


def warmup(dtypes=("float64", "float32")):
    """Compile (or load from the on-disk cache) every loss, activation and special kernel.

    The first call in a fresh install compiles everything once (a few minutes);
    later processes load the cache in well under a second.  Descent kernels are
    compiled for MSE through the identity and the sigmoid, with and without
    ``tol``, and fit kernels for logistic and linear regression (gd and newton);
    other combinations compile on first use.  Call it at install
    time, in a Docker build step or before timing anything.

    Examples
    --------
    >>> import fastgd
    >>> fastgd.warmup(dtypes=("float64",))
    """
    import itertools

    import numpy as np

    from ._jit import SERIAL_BELOW

    for dtype, n in itertools.product(dtypes, (4, SERIAL_BELOW)):  # elementwise kernels: serial and parallel
        x = np.linspace(-1.0, 1.0, n, dtype=dtype)
        p = np.linspace(0.1, 0.9, n, dtype=dtype)
        for name in LOSS_NAMES:
            loss = get_loss(name)
            pred = p if loss.spec.pred_range is not None else x
            for target in (p, p[:1].reshape(())):
                for part in (loss.value, loss.grad, loss.hess, loss.value_and_grad, loss.cost):
                    part(pred, target)
        for name in ACTIVATION_NAMES:
            act = get_activation(name)
            act.value(x), act.grad(x), act.hess(x)
        for name in ("exp", "log1p", "sigmoid", "softplus", "log_sigmoid"):
            getattr(special, name)(x)
        special.log(p)
        side = 4 if n == 4 else 64  # 64 x 64 runs: the final losses in parallel
        for activation in ("identity", "sigmoid"):
            for tol in (None, 1e-8):
                res = descend("mse", x[:side], p[:side], steps=1, activation=activation, tol=tol)
                res.loss, res.grad  # noqa: B018 -- computed on access
        if n > 4:
            continue
        X = np.column_stack([x, x[::-1]])
        for loss in ("logistic", "mse"):
            for method in ("gd", "newton"):
                fit(X, [0, 1, 0, 1], p[:2], loss=loss, method=method, steps=1)


# the lazy modules (plot, datasets) are left out: a star import would import them, and plot
# needs matplotlib, an optional extra
__all__ = [
    "ACTIVATION_NAMES",
    "LOSS_NAMES",
    "Activation",
    "DescentResult",
    "FitResult",
    "Loss",
    "activations",
    "descend",
    "descent",
    "fit",
    "get_activation",
    "get_loss",
    "losses",
    "optimizers",
    "schedules",
    "special",
    "warmup",
]

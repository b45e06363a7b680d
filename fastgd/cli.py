"""The command line: ``python -m fastgd`` prints the tour below.

For now it prints every loss and activation with its derivatives at a few
points; the ``fit``/``sweep``/``bench``/``plot`` commands come with the CLI work.
"""

import numpy as np

from .activations import ACTIVATION_NAMES, get_activation
from .losses import LOSS_NAMES, get_loss

# (pred, target) points per loss, inside each loss's domain
_LOSS_POINTS = {
    "mse": ([-2.0, -0.5, 0.0, 0.5, 2.0], 0.0),
    "mae": ([-2.0, -0.5, 0.0, 0.5, 2.0], 0.0),
    "huber": ([-2.0, -0.5, 0.0, 0.5, 2.0], 0.0),
    "log_loss": ([0.01, 0.25, 0.5, 0.75, 0.99], 1.0),
    "logistic": ([-4.0, -1.0, 0.0, 1.0, 4.0], 1.0),
    "cross_entropy": ([0.01, 0.25, 0.5, 0.75, 0.99], 1.0),
}
_Z = [-4.0, -1.0, 0.0, 1.0, 4.0]


def _row(label, values):
    return f"{label:>16} " + " ".join(f"{v:>10.4g}" for v in values)


def formula_table():
    """The table of every loss and activation, as text."""
    lines = ["Losses L(p, t) and derivatives in p", ""]
    for name in LOSS_NAMES:
        loss = get_loss(name)
        p, t = _LOSS_POINTS[name]
        lines.append(f"{name} (target {t:g})")
        lines.append(_row("p", p))
        lines.append(_row("L", loss.value(p, t)))
        lines.append(_row("dL/dp", loss.grad(p, t)))
        lines.append(_row("d2L/dp2", loss.hess(p, t)))
        lines.append("")
    lines += ["Activations a(z) and derivatives in z", ""]
    for name in ACTIVATION_NAMES:
        act = get_activation(name)
        lines.append(name)
        lines.append(_row("z", _Z))
        lines.append(_row("a", act.value(_Z)))
        lines.append(_row("da/dz", act.grad(_Z)))
        lines.append(_row("d2a/dz2", act.hess(_Z)))
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    """Entry point; returns the exit status."""
    np.set_printoptions(precision=4)
    print(formula_table())
    return 0

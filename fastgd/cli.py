"""The command line: ``python -m fastgd`` prints the tour below.

For now it prints every loss and activation with its derivatives at a few
points, then runs a small learning-rate sweep; the ``fit``/``sweep``/``bench``/
``plot`` commands come with the CLI work.
"""

import time

import numpy as np

from .activations import ACTIVATION_NAMES, get_activation
from .descent import descend
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


def sweep_summary(n_w0=201, n_lr=200, steps=200):
    """A learning-rate sweep of the seed's model (MSE through a sigmoid), as text."""
    w0 = np.linspace(-6.0, 6.0, n_w0)
    lr = np.geomspace(1e-3, 1e3, n_lr)
    start = time.perf_counter()
    res = descend("mse", w0, lr, steps=steps, target=0.2, x=1.5, activation="sigmoid", tol=1e-8)
    seconds = time.perf_counter() - start
    lines = [
        f"Gradient descent on MSE(sigmoid(1.5 w), 0.2): {n_w0} initial weights x {n_lr} learning rates "
        f"in [1e-3, 1e3], up to {steps} steps, tol 1e-8",
        f"{res.w.size} runs in {seconds:.3f} s: {res.converged.mean():.1%} converged, "
        f"{res.diverged.mean():.1%} diverged, the rest still moving (too small a step, or oscillating)",
        "",
        f"{'lr':>10} {'converged':>10} {'median steps':>13} {'median loss':>12}",
    ]
    for k in np.linspace(0, n_lr - 1, 9).astype(int):
        conv = res.converged[:, k]
        median = f"{np.median(res.n_steps[conv, k]):.0f}" if conv.any() else "-"
        lines.append(f"{lr[k]:>10.3g} {conv.mean():>10.1%} {median:>13} {np.median(res.loss[:, k]):>12.3g}")
    lines.append("(a huge step lands in the sigmoid's flat tails, where |grad| < tol: the vanishing gradient)")
    best = res.best()
    lines += ["", f"best run: w0={best['w0']:.3g}, lr={best['lr']:.3g}, loss {best['loss']:.3g} "
              f"after {best['n_steps']} steps"]
    return "\n".join(lines)


def main(argv=None):
    """Entry point; returns the exit status."""
    print(formula_table())
    print(sweep_summary())
    return 0

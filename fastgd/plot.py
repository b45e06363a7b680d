"""Figures of the seed articles: losses and activations with their derivatives, descent steps, sweeps, costs.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so it
works headless (no display, no backend to choose) and never pops a window; save it
with ``fig.savefig("name.png")``, or let Jupyter show it.  Needs matplotlib, the
``plot`` extra: ``pip install "fastgd[plot]"``.
"""

import numpy as np

from . import _validation as v
from .activations import get_activation
from .descent import DescentResult, descend
from .fit import FitResult
from .losses import get_loss
from .schedules import Schedule, get_schedule

try:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, LogNorm, Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError('fastgd.plot needs matplotlib: pip install "fastgd[plot]" (or pip install matplotlib)') from None

_BEST = "#d62728"


def _names(names, what):
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError(f"{what}: give at least one name.")
    return names


def loss_curves(losses=("mse", "mae", "cross_entropy"), *, n_points=401):
    """Each loss beside its derivative, on its own domain (the first seed article).

    Parameters
    ----------
    losses : sequence of str or Loss
        One row per loss: the loss on the left, dL/dp on the right.
    n_points : int
        Points per curve.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(losses)`` rows of two axes, one line each.

    Examples
    --------
    >>> from fastgd import plot
    >>> fig = plot.loss_curves(["mse", "mae"])
    >>> len(fig.axes)
    4
    """
    losses = [get_loss(name) for name in _names(losses, "losses")]
    n_points = v.integer(n_points, "n_points", minimum=2)
    fig = Figure(figsize=(8, 2.6 * len(losses)), layout="constrained")
    axes = fig.subplots(len(losses), 2, squeeze=False)
    for loss, (ax_l, ax_g) in zip(losses, axes, strict=True):
        (lo, hi), t, label = loss.spec.plot
        p = np.linspace(lo, hi, n_points)
        ax_l.plot(p, loss.value(p, t), color="C0")
        ax_g.plot(p, loss.grad(p, t), color="C1")
        ax_l.set_title(f"{loss.name}: L(p)")
        ax_g.set_title(f"{loss.name}: dL/dp")
        for ax in (ax_l, ax_g):
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
    return fig


def activation_curves(activations=("sigmoid", "relu"), *, z_range=(-6.0, 6.0), n_points=401):
    """Each activation beside its derivative; sigmoid's peak derivative 0.25 is marked.

    Parameters
    ----------
    activations : sequence of str or Activation
    z_range : (float, float)
    n_points : int

    Returns
    -------
    matplotlib.figure.Figure
        ``len(activations)`` rows of two axes; each has one curve, and a sigmoid's
        derivative axes also a dashed line at 0.25.

    Examples
    --------
    >>> from fastgd import plot
    >>> fig = plot.activation_curves(["sigmoid", "relu", "tanh"])
    >>> len(fig.axes)
    6
    """
    acts = [get_activation(name) for name in _names(activations, "activations")]
    lo, hi = (v.real_param(z, "z_range", minimum=-np.inf, strict=True) for z in z_range)
    if not lo < hi:
        raise ValueError(f"z_range must be increasing; got {z_range}.")
    z = np.linspace(lo, hi, v.integer(n_points, "n_points", minimum=2))
    fig = Figure(figsize=(8, 2.6 * len(acts)), layout="constrained")
    axes = fig.subplots(len(acts), 2, squeeze=False)
    for act, (ax_a, ax_g) in zip(acts, axes, strict=True):
        ax_a.plot(z, act.value(z), color="C0")
        ax_g.plot(z, act.grad(z), color="C1")
        ax_a.set_title(f"{act.name}: a(z)")
        ax_g.set_title(f"{act.name}: da/dz")
        if act.name == "sigmoid":
            ax_g.axhline(0.25, color=_BEST, ls="--", lw=1)
            ax_g.annotate("max 0.25 at z = 0", (0, 0.25), xytext=(0.3, 0.2), textcoords="data", color=_BEST)
        for ax in (ax_a, ax_g):
            ax.set_xlabel("z")
    return fig


def trajectory(
    loss="mse", w0=2.0, lr=(0.05, 0.5, 0.95, 1.05), *, steps=12, target=0.0, x=1.0, activation="identity", method="gd"
):
    """The steps of gradient descent drawn on the loss curve, one panel per learning rate.

    Shows the seed's point: too small a rate crawls, a good one converges, a large one
    oscillates across the minimum, and past the limit each step overshoots further.

    Parameters
    ----------
    loss, activation, target, x, method :
        The one-weight model of :func:`fastgd.descend`.
    w0 : float
        The starting weight.
    lr : float or sequence of float
        One panel per learning rate.
    steps : int

    Returns
    -------
    matplotlib.figure.Figure
        One axes per learning rate, each with two lines: the loss curve and the path.

    Examples
    --------
    >>> from fastgd import plot
    >>> fig = plot.trajectory("mse", w0=2.0, lr=[0.1, 1.05], steps=8)
    >>> [len(ax.lines) for ax in fig.axes]
    [2, 2]
    """
    lrs = v.vector(lr, "lr")
    w0 = v.real_param(w0, "w0", minimum=-np.inf, strict=True)
    res = descend(
        loss, [w0], lrs, steps=steps, target=target, x=x, activation=activation, method=method, record_every=1
    )
    paths = []
    for k in range(lrs.size):
        taken = int(res.n_steps[0, k])
        paths.append((res.history_w[: taken + 1, 0, k], res.history_loss[: taken + 1, 0, k]))
    # the curve spans every bounded point of every path, with a margin
    finite = np.concatenate([w[np.isfinite(w) & (np.abs(w) < 1e6)] for w, _ in paths])
    lo, hi = finite.min(), finite.max()
    pad = 0.15 * (hi - lo) + 0.5
    grid = np.linspace(lo - pad, hi + pad, 401)
    curve = descend(res.loss_fn, grid, [0.0], steps=0, target=target, x=x, activation=res.activation).loss[:, 0]
    fig = Figure(figsize=(3.2 * lrs.size, 3.2), layout="constrained")
    axes = fig.subplots(1, lrs.size, squeeze=False, sharey=True)[0]
    for k, (ax, (w, L)) in enumerate(zip(axes, paths, strict=True)):
        ax.plot(grid, curve, color="0.6", lw=1.5)
        ax.plot(w, L, "o-", color="C0", ms=4, lw=1)
        if res.diverged[0, k]:
            verdict = f"diverged at step {int(res.diverged_at[0, k])}"
        else:
            verdict = f"loss {res.loss[0, k]:.3g} after {int(res.n_steps[0, k])} steps"
        ax.set_title(f"lr = {lrs[k]:g}\n{verdict}", fontsize=9)
        ax.set_xlabel("w")
        ax.set_xlim(grid[0], grid[-1])
    axes[0].set_ylabel(f"{res.loss_fn.name} loss")
    return fig


def sweep_heatmap(result):
    """Steps to converge over the (w0, lr) grid of a sweep, the diverged region marked.

    Parameters
    ----------
    result : DescentResult
        From :func:`fastgd.descend`, ideally with ``tol`` so that runs converge.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with a mesh per class of run (converged: colour = steps, a run that starts
        converged drawn as 1 step; not converged; diverged), the lr axis logarithmic when
        every lr is positive, and a colour bar.

    Examples
    --------
    >>> import numpy as np, fastgd
    >>> res = fastgd.descend("mse", np.linspace(-3, 3, 21), np.geomspace(1e-2, 2, 30), steps=100, tol=1e-6)
    >>> fig = fastgd.plot.sweep_heatmap(res)
    >>> len(fig.axes[0].collections)
    3
    """
    if not isinstance(result, DescentResult):
        raise TypeError(f"result must be a DescentResult from fastgd.descend; got {type(result).__name__}.")
    w0, lr = result.w0.astype(np.float64), result.lr.astype(np.float64)
    log_lr = lr.size > 1 and (lr > 0).all()
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    x_edges = _edges(lr, log_lr)
    y_edges = _edges(w0, False)
    # a run that starts converged (0 steps) is drawn as 1 step, the bottom of the log scale
    steps = np.where(result.converged, np.maximum(result.n_steps, 1), np.nan).astype(np.float64)
    norm = LogNorm(vmin=1, vmax=max(2.0, np.nanmax(steps, initial=1)))
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(steps), cmap="viridis", norm=norm, shading="flat")
    fig.colorbar(mesh, ax=ax, label="steps to converge")
    running = ~result.converged & ~result.diverged
    patches = []
    for mask, color, label in ((running, "0.78", "not converged"), (result.diverged, "#e34a33", "diverged")):
        cmap = ListedColormap([color])
        ax.pcolormesh(x_edges, y_edges, np.ma.masked_where(~mask, np.zeros(mask.shape)), cmap=cmap, shading="flat")
        patches.append(Patch(color=color, label=label))
    if log_lr:
        ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("initial weight w0")
    ax.set_title(
        f"{result.method} on {result.loss_fn.name} through {result.activation.name}: "
        f"{result.converged.mean():.0%} converged, {result.diverged.mean():.0%} diverged",
        fontsize=10,
    )
    ax.legend(handles=patches, loc="upper left", fontsize=8, framealpha=0.9)
    return fig


def _edges(centers, log):
    """Cell edges around sorted or unsorted centres (midpoints, in log space for a log axis)."""
    c = np.log(centers) if log else centers.astype(np.float64)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
    return np.exp(e) if log else e


def cost_curves(result, *, log=True):
    """Cost against step for every model of a fit, the best one highlighted.

    Parameters
    ----------
    result : FitResult
        From :func:`fastgd.fit` with ``record_every > 0``.
    log : bool
        Logarithmic cost axis.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with one line per model that has a finite cost (the best one red and
        thick, the others coloured by learning rate) and a colour bar of the rates.

    Examples
    --------
    >>> import numpy as np, fastgd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); y = (X[:, 0] > 0).astype(int)
    >>> fig = fastgd.plot.cost_curves(fastgd.fit(X, y, lr=[0.01, 0.1, 1.0], steps=50))
    >>> len(fig.axes[0].lines)
    3
    """
    if not isinstance(result, FitResult):
        raise TypeError(f"result must be a FitResult from fastgd.fit; got {type(result).__name__}.")
    if result.cost_history is None:
        raise ValueError("result has no cost history; fit with record_every=1 (or any k > 0).")
    hist = result.cost_history.astype(np.float64)
    step = np.arange(hist.shape[1]) * result.record_every
    best = result.best if result.comparable else None  # costs of different l2 do not rank models
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    lr = result.lr.astype(np.float64)
    positive = lr > 0
    cmap = colormaps["viridis"]
    norm = (
        LogNorm(lr[positive].min(), max(lr.max(), lr[positive].min() * 1.0001)) if positive.any() else Normalize(0, 1)
    )
    for m in range(hist.shape[0]):
        ok = np.isfinite(hist[m]) & ((hist[m] > 0) | (not log))
        if m == best or not ok.any():
            continue
        color = cmap(norm(lr[m])) if lr[m] > 0 else "0.5"
        ax.plot(step[ok], hist[m, ok], color=color, lw=1, alpha=0.8, ls="--" if result.diverged[m] else "-")
    if best is not None:
        ok = np.isfinite(hist[best]) & ((hist[best] > 0) | (not log))
        l2 = f", l2 {result.l2[best]:g}" if result.l2_grid.size > 1 else ""
        ax.plot(
            step[ok],
            hist[best, ok],
            color=_BEST,
            lw=2.5,
            label=f"best: lr {result.lr[best]:g}{l2}, cost {result.final_cost[best]:.4g}",
        )
        ax.legend(loc="upper right", fontsize=8)
    if log:
        ax.set_yscale("log")
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="learning rate")
    ax.set_xlabel("step")
    ax.set_ylabel("cost (mean loss + L2 term)")
    ax.set_title(
        f"{result.loss_fn.name}: {hist.shape[0]} models, {int(result.diverged.sum())} diverged (dashed)", fontsize=10
    )
    return fig


# 0.25 ** depth leaves float64 (underflows to 0) near 537 layers: deeper plots show nothing more
MAX_DEPTH = 1000


def vanishing_gradient(depth=20, activations=("sigmoid", "relu"), *, z0=0.5, weight=1.0):
    """The product of activation derivatives through a chain of layers, against depth.

    Layer ``k`` computes ``a_k = act(weight * a_{k-1})`` from ``a_0 = z0``; by the chain
    rule the gradient reaching the first layer carries the product of the layers'
    ``act'``.  Sigmoid's derivative is at most 0.25, so the product shrinks at least
    as fast as ``0.25 ** depth`` (the dashed bound); ReLU's is 1 for a positive input.

    Parameters
    ----------
    depth : int
        Number of layers, 1 to MAX_DEPTH (1000).
    activations : sequence of str or Activation
    z0, weight : float
        The input and the weight of every layer.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (log scale), one line per activation, plus the 0.25 ** depth bound when
        sigmoid is among them.

    Examples
    --------
    >>> from fastgd import plot
    >>> fig = plot.vanishing_gradient(10, ["sigmoid", "relu"])
    >>> len(fig.axes[0].lines)
    3
    """
    depth = v.integer(depth, "depth", minimum=1, maximum=MAX_DEPTH)
    acts = [get_activation(name) for name in _names(activations, "activations")]
    z0 = v.real_param(z0, "z0", minimum=-np.inf, strict=True)
    weight = v.real_param(weight, "weight", minimum=-np.inf, strict=True)
    layers = np.arange(1, depth + 1)
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    tiny = np.finfo(np.float64).tiny
    for i, act in enumerate(acts):
        a, prod, out = z0, 1.0, []
        for _ in layers:
            u = weight * a
            prod *= float(act.grad(u)) * weight
            a = float(act.value(u))
            out.append(abs(prod))
        out = np.maximum(out, tiny)  # a dead ReLU's exact 0 drawn at the bottom of the log axis
        ax.plot(layers, out, "o-", ms=3, color=f"C{i}", label=act.name)
    if any(act.name == "sigmoid" for act in acts):
        ax.plot(layers, 0.25**layers, "--", color="0.4", label="0.25 ** depth (sigmoid's bound)")
    ax.set_yscale("log")
    ax.set_xlabel("depth (layers the gradient passes back through)")
    ax.set_ylabel("|product of derivatives|")
    ax.set_title(f"Vanishing gradient: input {z0:g}, weight {weight:g} per layer", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _default_schedules(steps):
    warm = max(1, steps // 10)
    return [
        "constant",
        f"exponential:0.5,{max(1, steps // 4)}",
        f"exponential:0.5,{max(1, steps // 4)},staircase=true",
        f"cosine:{steps}",
        f"warmup_cosine:{warm},{max(warm + 1, steps)}",
        f"linear:0.1,{steps}",
        f"step:{max(1, steps // 3)}/{max(2, 2 * steps // 3)},0.5/0.2",
        "inverse_time",
    ]


def schedules(schedules=None, *, steps=1000):
    """Every learning-rate schedule's multiplier over the same steps (the rate is ``lr * schedule(t)``).

    Parameters
    ----------
    schedules : sequence of Schedule or str, optional
        Schedules of :mod:`fastgd.schedules` or their CLI syntax (``"cosine:500"``); the
        default draws one of each kind, scaled to ``steps``.
    steps : int
        The steps drawn, ``t = 0 .. steps`` (1 to 10**7).

    Returns
    -------
    matplotlib.figure.Figure
        One axes, one line per schedule, labelled with its arguments.

    Examples
    --------
    >>> from fastgd import plot
    >>> fig = plot.schedules(steps=200)
    >>> len(fig.axes[0].lines)
    8
    """
    steps = v.integer(steps, "steps", minimum=1, maximum=10**7)
    items = _default_schedules(steps) if schedules is None else _names(schedules, "schedules")
    scheds = [s if isinstance(s, Schedule) else get_schedule(s) for s in items]
    t = np.unique(np.linspace(0, steps, min(steps + 1, 2001)).astype(np.int64))
    fig = Figure(figsize=(8, 4.5 + 0.2 * len(scheds)), layout="constrained")
    ax = fig.subplots()
    for i, sched in enumerate(scheds):
        ax.plot(t, sched(t), color=f"C{i % 10}", label=repr(sched))
    ax.set_xlabel("step t (updates taken before)")
    ax.set_ylabel("learning-rate multiplier")
    ax.set_title("Learning-rate schedules: model k's rate at step t is lr[k] * schedule(t)", fontsize=10)
    fig.legend(loc="outside lower center", fontsize=7)  # below the curves: long labels
    return fig


__all__ = [
    "activation_curves",
    "cost_curves",
    "loss_curves",
    "schedules",
    "sweep_heatmap",
    "trajectory",
    "vanishing_gradient",
]

import io

import numpy as np
import pytest
from matplotlib.image import imread

import fastgd
from fastgd import plot

from . import reference as ref


def _png(fig):
    """Render to PNG and read it back: (height, width, channels) floats in [0, 1]."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    buf.seek(0)
    return imread(buf)


def _check_rendered(fig):
    img = _png(fig)
    w, h = fig.get_size_inches() * 50
    assert img.shape[:2] == (round(h), round(w))
    rgb = img[..., :3]
    assert (rgb < 0.9).mean() > 0.01  # not blank: a visible share of non-white pixels
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20  # more than a few flat colours
    return img


def test_loss_curves_draw_each_loss_and_its_derivative():
    names = list(fastgd.LOSS_NAMES)
    fig = plot.loss_curves(names)
    _check_rendered(fig)
    assert len(fig.axes) == 2 * len(names)
    for i, name in enumerate(names):
        ax_l, ax_g = fig.axes[2 * i], fig.axes[2 * i + 1]
        assert len(ax_l.lines) == len(ax_g.lines) == 1
        p = ax_l.lines[0].get_xdata()
        t = 0.0 if name in ("mse", "mae", "huber") else 1.0
        val, grad, _ = ref.loss(name, p, t, {"huber": 1.0}.get(name, 0.0), np.float64)
        np.testing.assert_allclose(ax_l.lines[0].get_ydata(), np.asarray(val, float), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ax_g.lines[0].get_ydata(), np.asarray(grad, float), rtol=1e-12, atol=1e-12)


def test_activation_curves_mark_sigmoid_peak():
    fig = plot.activation_curves(["sigmoid", "relu"])
    _check_rendered(fig)
    ax_sig_g, ax_relu_g = fig.axes[1], fig.axes[3]
    assert len(ax_sig_g.lines) == 2 and len(ax_relu_g.lines) == 1  # the 0.25 line only for sigmoid
    assert ax_sig_g.lines[1].get_ydata()[0] == 0.25
    assert max(ax_sig_g.lines[0].get_ydata()) == pytest.approx(0.25, abs=1e-6)
    assert set(np.unique(ax_relu_g.lines[0].get_ydata())) == {0.0, 1.0}


def test_trajectory_follows_the_reference_descent():
    lrs = [0.05, 0.5, 0.95, 1.05]
    fig = plot.trajectory("mse", 2.0, lrs, steps=12)
    _check_rendered(fig)
    want = ref.descend("mse", "identity", [2.0], lrs, 12, record_every=1)
    assert len(fig.axes) == len(lrs)
    for k, ax in enumerate(fig.axes):
        assert len(ax.lines) == 2
        np.testing.assert_allclose(ax.lines[1].get_xdata(), want["history_w"][:, 0, k], rtol=1e-12)
        np.testing.assert_allclose(ax.lines[1].get_ydata(), want["history_loss"][:, 0, k], rtol=1e-12)
    # the overshooting rate climbs the bowl: its last point is further out than its first
    w = fig.axes[3].lines[1].get_xdata()
    assert abs(w[-1]) > abs(w[0])


def test_trajectory_stops_at_divergence():
    fig = plot.trajectory("mse", 2.0, [3.0], steps=400)
    assert "diverged at step" in fig.axes[0].get_title()
    assert np.isfinite(fig.axes[0].lines[1].get_xdata()).all()


def test_sweep_heatmap_meshes_and_log_axis():
    res = fastgd.descend("mse", np.linspace(-3, 3, 21), np.geomspace(1e-2, 1.5, 30), steps=300, tol=1e-6)
    fig = plot.sweep_heatmap(res)
    _check_rendered(fig)
    ax = fig.axes[0]
    assert len(ax.collections) == 3 and ax.get_xscale() == "log"
    steps_mesh, running_mesh, diverged_mesh = ax.collections
    assert np.ma.count(steps_mesh.get_array()) == res.converged.sum()
    assert np.ma.count(running_mesh.get_array()) == (~res.converged & ~res.diverged).sum()
    assert np.ma.count(diverged_mesh.get_array()) == res.diverged.sum() > 0


def test_sweep_heatmap_linear_axis_with_zero_lr():
    res = fastgd.descend("mse", [-1.0, 1.0], [0.0, 0.1], steps=5)
    assert plot.sweep_heatmap(res).axes[0].get_xscale() == "linear"


def test_cost_curves_highlight_best():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.normal(size=200)
    res = fastgd.fit(X, y, [0.01, 0.1, 0.5, 1.2], loss="mse", steps=60, record_every=2, max_abs_w=100.0)
    fig = plot.cost_curves(res)
    _check_rendered(fig)
    ax = fig.axes[0]
    assert res.diverged.sum() == 1
    assert len(ax.lines) == 4
    best = [line for line in ax.lines if line.get_linewidth() == 2.5]
    assert len(best) == 1
    np.testing.assert_array_equal(best[0].get_xdata(), np.arange(31) * 2)
    np.testing.assert_allclose(best[0].get_ydata(), res.cost_history[res.best])
    assert sum(line.get_linestyle() == "--" for line in ax.lines) == 1


def test_vanishing_gradient_matches_the_chain_rule():
    fig = plot.vanishing_gradient(12, ["sigmoid", "relu"], z0=0.5)
    _check_rendered(fig)
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    a, prod, want = 0.5, 1.0, []
    for _ in range(12):
        _, d, _ = ref.activation("sigmoid", np.float64(a), 0.0)
        prod *= float(d)
        a = float(ref.activation("sigmoid", np.float64(a), 0.0)[0])
        want.append(prod)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), want, rtol=1e-12)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), np.ones(12))  # relu: 1 all the way
    assert (ax.lines[0].get_ydata() <= ax.lines[2].get_ydata()).all()  # under the 0.25 ** depth bound


def test_schedules_draw_each_multiplier_against_the_reference():
    fig = plot.schedules(["cosine:100", fastgd.schedules.step([30], [0.5])], steps=150)
    _check_rendered(fig)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == [
        "cosine(decay_steps=100, alpha=0.0)",
        "step(boundaries=[30], factors=[0.5])",
    ]
    t = ax.lines[0].get_xdata()
    np.testing.assert_array_equal(t, np.arange(151))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [ref.schedule("cosine", s, decay_steps=100) for s in t])
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), np.where(t < 30, 1.0, 0.5))
    assert len(plot.schedules(steps=10).axes[0].lines) == 8  # one of each kind by default
    with pytest.raises(ValueError, match="steps must be an integer"):
        plot.schedules(steps=0)
    with pytest.raises(ValueError, match="unknown schedule"):
        plot.schedules(["nope"])


def test_figures_need_results_and_names():
    with pytest.raises(TypeError, match="DescentResult"):
        plot.sweep_heatmap("no")
    with pytest.raises(TypeError, match="FitResult"):
        plot.cost_curves(None)
    res = fastgd.fit(np.eye(3), [0, 1, 1], 0.1, steps=2, record_every=0)
    with pytest.raises(ValueError, match="record_every"):
        plot.cost_curves(res)
    with pytest.raises(ValueError, match="at least one name"):
        plot.loss_curves([])
    with pytest.raises(ValueError, match="unknown loss"):
        plot.loss_curves(["nope"])
    with pytest.raises(ValueError, match="z_range"):
        plot.activation_curves(z_range=(1, -1))
    with pytest.raises(ValueError, match="depth"):
        plot.vanishing_gradient(0)


def test_star_import_works_without_matplotlib():
    # __all__ listed the lazy plot module: `from fastgd import *` imported it, and failed without matplotlib
    import subprocess
    import sys

    code = "import sys; sys.modules['matplotlib'] = None; from fastgd import *; print(fit.__name__, 'plot' in dir())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["fit", "False"]

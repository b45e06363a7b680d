"""mkdocs hook: draw every figure of the docs into docs/figures/ before the build.

The figures are made by the same fastgd.plot calls the pages show and are
redrawn on every build; they are committed too, so that the README shows one.
"""

from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parents[1] / "figures"


def figures():
    """(file name, figure) for every image the pages link to."""
    import fastgd
    from fastgd import plot
    from fastgd.datasets import breast_cancer

    sweep = fastgd.descend(
        "mse",
        np.linspace(-6, 6, 121),
        np.geomspace(1e-3, 1e3, 120),
        steps=200,
        x=1.5,
        target=0.2,
        activation="sigmoid",
        tol=1e-8,
    )
    data = breast_cancer().standardized()
    fits = fastgd.fit(data.X, data.y, np.geomspace(1e-3, 100, 32), steps=500, tol=1e-4, l2=1 / 569)
    return [
        ("loss_curves.png", plot.loss_curves(["mse", "mae", "cross_entropy"])),
        ("activation_curves.png", plot.activation_curves(["sigmoid", "relu"])),
        ("trajectory.png", plot.trajectory("mse", 2.0, [0.05, 0.5, 0.95, 1.05], steps=12)),
        ("sweep_heatmap.png", plot.sweep_heatmap(sweep)),
        ("cost_curves.png", plot.cost_curves(fits)),
        ("vanishing_gradient.png", plot.vanishing_gradient(20, ["sigmoid", "tanh", "relu"])),
        ("schedules.png", plot.schedules(steps=1000)),
    ]


def on_pre_build(config, **kwargs):
    """Write the figures where the pages expect them."""
    FOLDER.mkdir(exist_ok=True)
    for name, fig in figures():
        fig.savefig(FOLDER / name, dpi=90)

"""What the result classes and the command line share: how runs are ranked.

One rule everywhere ``best`` appears (``FitResult.best``, ``DescentResult.best()``,
the tables of ``fastgd fit`` and ``fastgd sweep``): the lowest final cost (or
loss) first, ties to fewer steps, then to the lower index; a run that diverged,
or whose final cost is not finite, is never ranked above one that did not and
is never the best.
"""

import numpy as np


def ranking(cost, diverged, n_steps):
    """(order, count): every run's index, best first, and how many can be the best.

    Arrays of any shape, flattened in C order.
    """
    cost = np.ravel(cost)
    bad = np.ravel(diverged) | ~np.isfinite(cost)
    steps = np.ravel(n_steps)
    order = np.lexsort((np.arange(cost.size), steps, np.where(bad, np.inf, cost), bad))
    return order, int(cost.size - np.count_nonzero(bad))


def best_index(cost, diverged, n_steps):
    """The flat index of the best run, or None when no run can be."""
    order, count = ranking(cost, diverged, n_steps)
    return int(order[0]) if count else None

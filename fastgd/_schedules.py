"""Every learning-rate schedule, written once: the multiplier at step ``t`` as one scalar formula.

A schedule travels to kernels as a float64 array ``sp``: ``sp[0]`` is its kind
(the codes below), the rest its arguments (``fastgd.schedules`` packs them).
Model k's rate at step t (t updates taken before) is ``lr[k] * multiplier(sp, t)``;
no schedule is ``NONE`` (multiplier 1) in the fit engine, and ``None`` in ``descend``'s
kernels, where it compiles the multiplication out.  Each formula is optax's
(``optax.schedules``) with init (or peak) value 1, computed in float64.
"""

import numpy as np

from ._jit import jit_helper, jit_kernel

CONSTANT, EXPONENTIAL, COSINE, WARMUP_COSINE, LINEAR, STEP, INVERSE_TIME = range(7)
NONE = np.array([CONSTANT], np.float64)  # no schedule: the multiplier 1 (kernels always get an array)


@jit_helper
def _linear(t, end, steps):
    """Optax ``linear_schedule(1, end, steps)``: from 1 to ``end`` over ``steps``, then ``end``."""
    c = min(max(t, 0.0), steps)
    return (1.0 - end) * (1.0 - c / steps) + end


@jit_helper
def _cosine(t, steps, alpha):
    """Optax ``cosine_decay_schedule(1, steps, alpha)``: half a cosine from 1 to ``alpha``, then ``alpha``."""
    c = min(t, steps)
    return (1.0 - alpha) * (0.5 * (1.0 + np.cos(np.pi * c / steps))) + alpha


@jit_helper
def multiplier(sp, t):
    """The learning-rate multiplier of schedule ``sp`` after ``t`` updates (float64)."""
    kind = int(sp[0])
    tf = float(t)
    if kind == EXPONENTIAL:  # decay_rate ** (t / transition_steps), floored if staircase
        p = tf / sp[2]
        if sp[3] != 0:
            p = np.floor(p)
        return sp[1] ** p
    if kind == COSINE:
        return _cosine(tf, sp[1], sp[2])
    if kind == WARMUP_COSINE:  # warmup_steps, decay_steps, init_value, end_value; peak 1
        warm = sp[1]
        if tf < warm:  # optax linear_schedule(init_value, 1, warmup_steps)
            return (sp[3] - 1.0) * (1.0 - tf / warm) + 1.0
        return _cosine(tf - warm, sp[2] - warm, sp[4])
    if kind == LINEAR:
        return _linear(tf, sp[1], sp[2])
    if kind == STEP:  # factors multiply cumulatively from their boundary on
        n = int(sp[1])
        v = 1.0
        for i in range(n):
            if tf >= sp[2 + i]:
                v = v * sp[2 + n + i]
        return v
    if kind == INVERSE_TIME:  # scikit-learn's invscaling: 1 / (t + 1) ** power
        return 1.0 / (tf + 1.0) ** sp[1]
    return 1.0


@jit_kernel
def multipliers(sp, t, out):
    """out[i] <- multiplier(sp, t[i])."""
    for i in range(t.size):
        out[i] = multiplier(sp, t[i])

"""Learning-rate schedules: model k's rate at step t is ``lr[k] * schedule(t)``.

Each schedule is a multiplier equal to optax's schedule of the same shape built
with init (or peak) value 1, so ``fit(..., lr=lrs, schedule=cosine(500))`` gives
every learning rate of the grid the same decay.  ``t`` counts the updates taken
before the step (0 for the first), as optax's ``count``.  A schedule is callable
on an int or an array of steps, so it can be plotted; the formulas live once, in
``fastgd._schedules``, and the kernels call them.

| schedule | multiplier at step t |
| --- | --- |
| ``constant()`` | 1 |
| ``exponential(rate, steps, staircase)`` | ``rate ** (t / steps)``, the exponent floored if ``staircase`` |
| ``cosine(decay_steps, alpha=0)`` | ``(1 - alpha) (1 + cos(pi min(t, T) / T)) / 2 + alpha``, ``T = decay_steps`` |
| ``warmup_cosine(warm, decay, init, end)`` | ``init`` to 1 linearly, then ``cosine(decay - warm, end)`` of t - warm |
| ``linear(end_value, transition_steps)`` | ``1 + (end_value - 1) min(t, T) / T`` |
| ``step(boundaries, factors)`` | the product of the factors whose boundary is ``<= t`` |
| ``inverse_time(power=0.5)`` | ``1 / (t + 1) ** power`` (scikit-learn's ``invscaling``) |

In the CLI a schedule is ``NAME[:ARG,ARG,...]`` with the arguments in the order
above, ``key=value`` for any of them, and ``/`` between the items of a list:
``cosine:500``, ``warmup_cosine:100,1000``, ``exponential:0.5,100,staircase=true``,
``step:100/200,0.5/0.1``.
"""

import inspect
import numbers
from dataclasses import dataclass

import numpy as np

from . import _schedules as ks
from . import _validation as v


@dataclass(frozen=True, eq=False)
class Schedule:
    """A learning-rate multiplier ``t -> schedule(t)``; build one with the functions of this module.

    Attributes
    ----------
    name : str
    args : dict
        The arguments, as validated.
    spec : ndarray of float64
        What the kernels receive (kind code, then the arguments).
    """

    name: str
    args: dict
    spec: np.ndarray

    def __call__(self, t):
        """The multiplier after ``t`` updates (an int, or an array of ints >= 0): float or float64 array."""
        if isinstance(t, numbers.Integral) and not isinstance(t, (bool, np.bool_)):
            steps = np.array([v.integer(t, "t", minimum=0)], np.int64)
        else:
            arr = np.asarray(t)
            if arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
                raise ValueError(f"t must be an integer >= 0 or an array of them; got {t!r}.")
            steps = np.ascontiguousarray(arr, np.int64).reshape(-1)
        out = np.empty(steps.size, np.float64)
        ks.multipliers(self.spec, steps, out)
        if isinstance(t, numbers.Integral):
            return float(out[0])
        return out.reshape(np.shape(t))

    def __repr__(self):
        args = ", ".join(f"{k}={_show(x)}" for k, x in self.args.items())
        return f"{self.name}({args})"

    def __eq__(self, other):
        return isinstance(other, Schedule) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))


def _show(x):
    return list(x) if isinstance(x, tuple) else x


def _steps(value, name, minimum=1):
    return v.integer(value, name, minimum=minimum, maximum=v.MAX_STEPS)


def _fraction(value, name, hi=1.0):
    x = v.real_param(value, name, minimum=0.0, strict=False)
    if x > hi:
        raise ValueError(f"{name} must be in [0, {hi:g}]; got {x}.")
    return x


def _make(name, kind, args, values):
    return Schedule(name, args, np.array([float(kind), *values], np.float64))


def constant():
    """The multiplier 1 at every step (no schedule).

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.constant()(10)
    1.0

    See Also
    --------
    optax.constant_schedule
    """
    return _make("constant", ks.CONSTANT, {}, [])


def exponential(decay_rate, transition_steps, staircase=False):
    """``decay_rate ** (t / transition_steps)``, the exponent floored when ``staircase``.

    Parameters
    ----------
    decay_rate : float
        > 0 (below 1 decays, above 1 grows).
    transition_steps : int
        >= 1: the steps over which the rate is multiplied by ``decay_rate`` once.
    staircase : bool

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.exponential(0.5, 100)([0, 100, 150]).tolist()
    [1.0, 0.5, 0.3535533905932738]

    See Also
    --------
    optax.exponential_decay
    """
    rate = v.real_param(decay_rate, "decay_rate", minimum=0.0, strict=True)
    steps = _steps(transition_steps, "transition_steps")
    stair = v.boolean(staircase, "staircase")
    args = {"decay_rate": rate, "transition_steps": steps, "staircase": stair}
    return _make("exponential", ks.EXPONENTIAL, args, [rate, steps, float(stair)])


def cosine(decay_steps, alpha=0.0):
    """Half a cosine from 1 down to ``alpha`` over ``decay_steps``, then ``alpha``.

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.cosine(100)([0, 50, 100, 200]).round(12).tolist()
    [1.0, 0.5, 0.0, 0.0]

    See Also
    --------
    optax.cosine_decay_schedule
    """
    steps = _steps(decay_steps, "decay_steps")
    alpha = _fraction(alpha, "alpha")
    return _make("cosine", ks.COSINE, {"decay_steps": steps, "alpha": alpha}, [steps, alpha])


def warmup_cosine(warmup_steps, decay_steps, init_value=0.0, end_value=0.0):
    """Linear warm-up from ``init_value`` to 1 over ``warmup_steps``, then a cosine down to ``end_value``.

    ``decay_steps`` counts the warm-up too (optax's convention): the cosine lasts
    ``decay_steps - warmup_steps`` steps.

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.warmup_cosine(10, 110)([0, 5, 10, 60, 110]).round(12).tolist()
    [0.0, 0.5, 1.0, 0.5, 0.0]

    See Also
    --------
    optax.warmup_cosine_decay_schedule
    """
    warm = _steps(warmup_steps, "warmup_steps", minimum=0)
    steps = _steps(decay_steps, "decay_steps")
    if steps <= warm:
        raise ValueError(f"decay_steps ({steps}) must be larger than warmup_steps ({warm}): it counts the warm-up too.")
    init = v.real_param(init_value, "init_value", minimum=0.0, strict=False)
    end = _fraction(end_value, "end_value")
    args = {"warmup_steps": warm, "decay_steps": steps, "init_value": init, "end_value": end}
    return _make("warmup_cosine", ks.WARMUP_COSINE, args, [warm, steps, init, end])


def linear(end_value, transition_steps):
    """From 1 to ``end_value`` linearly over ``transition_steps``, then ``end_value``.

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.linear(0.0, 4)([0, 1, 4, 9]).tolist()
    [1.0, 0.75, 0.0, 0.0]

    See Also
    --------
    optax.linear_schedule
    """
    end = v.real_param(end_value, "end_value", minimum=0.0, strict=False)
    steps = _steps(transition_steps, "transition_steps")
    return _make("linear", ks.LINEAR, {"end_value": end, "transition_steps": steps}, [end, steps])


def step(boundaries, factors):
    """Piecewise constant: from step ``boundaries[i]`` on, the rate is multiplied by ``factors[i]`` (cumulatively).

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.step([100, 200], [0.5, 0.1])([0, 99, 100, 200]).tolist()
    [1.0, 1.0, 0.5, 0.05]

    See Also
    --------
    optax.piecewise_constant_schedule
    """
    b = np.atleast_1d(np.asarray(boundaries))
    if b.ndim != 1 or b.size == 0 or b.dtype.kind not in "iu":
        raise ValueError(f"boundaries must be a non-empty 1-D sequence of integers; got {boundaries!r}.")
    f = v.vector(factors, "factors") if not isinstance(factors, (str, bytes)) else None
    if f is None or f.size != b.size:
        raise ValueError(f"factors must be a sequence of {b.size} numbers, one per boundary; got {factors!r}.")
    bounds = tuple(_steps(int(x), "boundaries", minimum=0) for x in b)
    if any(x >= y for x, y in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"boundaries must increase strictly; got {list(bounds)}.")
    v.nonnegative(f, "factors")
    v.check_finite(f, "factors")
    facs = tuple(float(x) for x in f)
    args = {"boundaries": bounds, "factors": facs}
    return _make("step", ks.STEP, args, [len(bounds), *bounds, *facs])


def inverse_time(power=0.5):
    """``1 / (t + 1) ** power``: scikit-learn's ``learning_rate="invscaling"``.

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.inverse_time()([0, 3]).tolist()
    [1.0, 0.5]

    See Also
    --------
    sklearn.linear_model.SGDRegressor : ``learning_rate="invscaling"``, ``power_t``.
    """
    p = v.real_param(power, "power", minimum=0.0, strict=False)
    return _make("inverse_time", ks.INVERSE_TIME, {"power": p}, [p])


SCHEDULES = {f.__name__: f for f in (constant, exponential, cosine, warmup_cosine, linear, step, inverse_time)}


def _parse_value(text, name, is_list):
    if is_list:
        return [_parse_value(item, name, False) for item in text.split("/")]
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(low)
    except ValueError:
        pass
    try:
        x = float(low)
    except ValueError:
        raise ValueError(f"schedule argument {name}={text!r} is not a number.") from None
    # 1e3 is a count as much as 1000 is (step counts are integers); 0.5 stays a float
    return int(x) if x.is_integer() and abs(x) <= v.MAX_STEPS else x


def parse(text):
    """A schedule from the CLI syntax ``NAME[:ARG,ARG,...]`` (``key=value`` allowed, ``/`` inside lists).

    Examples
    --------
    >>> from fastgd import schedules
    >>> schedules.parse("cosine:500")
    cosine(decay_steps=500, alpha=0.0)
    >>> schedules.parse("step:100/200,0.5/0.1")
    step(boundaries=[100, 200], factors=[0.5, 0.1])
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule must be a str like 'cosine:500'; got {type(text).__name__}.")
    name, _, rest = text.strip().partition(":")
    v.choice(name, SCHEDULES, "schedule")
    fn = SCHEDULES[name]
    params = list(inspect.signature(fn).parameters)
    lists = {"boundaries", "factors"}
    pos, kw = [], {}
    for i, item in enumerate(p for p in rest.split(",") if rest):
        if "=" in item:
            key, _, value = item.partition("=")
            key = key.strip()
            if key not in params:
                raise ValueError(f"schedule {name} has no argument {key!r}; its arguments are: {', '.join(params)}.")
            if key in kw:
                raise ValueError(f"schedule {text!r} gives {key} twice; give each argument once.")
            kw[key] = _parse_value(value, key, key in lists)
        else:
            if kw or i >= len(params):
                raise ValueError(
                    f"schedule {text!r}: positional arguments come first, at most {len(params)} ({', '.join(params)})."
                )
            pos.append(_parse_value(item, params[i], params[i] in lists))
    try:
        return fn(*pos, **kw)
    except TypeError as e:
        raise ValueError(f"schedule {text!r}: {e}; its arguments are: {', '.join(params) or 'none'}.") from None


def get_schedule(schedule):
    """None, a Schedule, or a string in the CLI syntax, as a Schedule (None stays None)."""
    if schedule is None or isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return parse(schedule)
    raise TypeError(
        f"schedule must be None, a fastgd.schedules schedule or a string like 'cosine:500'; "
        f"got {type(schedule).__name__}."
    )

"""Input checks for every public function, in one place.

TypeError for the wrong kind of thing, ValueError for a bad value; each message
names the argument, says what was expected and what was given, and how to fix it.
Nothing here runs a kernel.
"""

import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _is_python_scalar(x):
    return isinstance(x, numbers.Real) and not isinstance(x, np.generic)


def frame_dtype(dtypes):
    """The float dtype of a table whose columns have ``dtypes``, as ``np.asarray`` of them would be, were it numeric.

    A DataFrame of bool and float columns is an object array to NumPy; scikit-learn's
    ``check_array`` converts it to the columns' common type, and so does fastgd (ints and
    bools promote to float64).  pandas' nullable types count by their NumPy type (a
    missing value becomes NaN, refused later as such).  None where a column is not
    numeric (strings, categories): those are refused as before.
    """
    try:
        found = [np.dtype(getattr(d, "numpy_dtype", d)) for d in dtypes]
    except TypeError:  # a categorical or other extension type without a NumPy equivalent
        return None
    if not found or any(d.kind not in "biuf" for d in found):
        return None
    common = np.result_type(*found)
    if common.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if common.itemsize < 4 else common


def _table(x, name):
    """A pandas DataFrame of numeric columns as one float array (None for anything that is not a DataFrame)."""
    if not (hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "to_numpy")) or getattr(x, "ndim", 2) != 2:
        return None
    dtype = frame_dtype(x.dtypes)
    if dtype is not None:
        return x.to_numpy(dtype=dtype, na_value=np.nan)
    bad = [f"{c!r} ({d})" for c, d in zip(x.columns, x.dtypes, strict=True) if frame_dtype([d]) is None]
    if not bad:  # no columns at all
        return None
    raise TypeError(
        f"{name} must be real numbers (float32, float64, int or bool); {len(bad)} column(s) are not: "
        f"{', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}. Encode them as numbers (e.g. one-hot) or drop them."
    )


def float_array(x, name):
    """``x`` as a float32/float64 array (ints and bools promote to float64); a DataFrame by its columns' types."""
    table = _table(x, name)
    if table is not None:
        return table
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a number or an array of numbers; could not convert it: {exc}") from None
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if kind == "f":
        if arr.dtype.itemsize < 4:
            return arr.astype(np.float32)
        if arr.dtype.itemsize > 8:
            raise TypeError(
                f"{name} has dtype {arr.dtype}; fastgd computes in float32 or float64. "
                f"Convert it explicitly, e.g. {name}.astype(np.float64), if the loss of precision is acceptable."
            )
        return arr
    raise TypeError(
        f"{name} must be real numbers (float32, float64, int or bool); got dtype {arr.dtype} "
        f"({type(x).__name__}). Convert it to a numeric array first."
    )


def float_arrays(a, b, names):
    """Two inputs as arrays of one float dtype (no broadcasting).

    A Python scalar takes the other input's dtype (NumPy 2's weak scalars), so a
    float32 prediction with ``target=0.0`` stays float32.
    """
    xa, xb = float_array(a, names[0]), float_array(b, names[1])
    if _is_python_scalar(b) and not _is_python_scalar(a):
        dtype = xa.dtype
    elif _is_python_scalar(a) and not _is_python_scalar(b):
        dtype = xb.dtype
    else:
        dtype = np.result_type(xa.dtype, xb.dtype)
    return _narrowed(xa, dtype, names[0]), _narrowed(xb, dtype, names[1]), dtype


def _narrowed(x, dtype, name):
    # only a Python scalar meeting a float32 array is narrowed; it must fit
    return in_dtype(x, dtype, name) if x.dtype.itemsize > dtype.itemsize else x.astype(dtype, copy=False)


def float_pair(a, b, names):
    """Two inputs as arrays of one float dtype, and their broadcast shape."""
    xa, xb, dtype = float_arrays(a, b, names)
    try:
        shape = np.broadcast_shapes(xa.shape, xb.shape)
    except ValueError:
        raise ValueError(
            f"{names[0]} has shape {xa.shape} and {names[1]} has shape {xb.shape}; they do not broadcast "
            f"together. Give them equal shapes, or shapes that follow NumPy's broadcasting rules."
        ) from None
    return xa, xb, shape, dtype


def flat(x, shape, dtype):
    """A flat C-contiguous view (copy only when needed) of ``x`` broadcast to ``shape``."""
    if x.shape == shape:
        return np.ascontiguousarray(x, dtype=dtype).reshape(-1)
    return np.ascontiguousarray(np.broadcast_to(x, shape), dtype=dtype).reshape(-1)


def flat_or_scalar(x, shape, dtype):
    """Like ``flat`` but a single value stays a 1-element array (kernels read it once)."""
    if x.size == 1 and x.shape != shape:
        return np.ascontiguousarray(x, dtype=dtype).reshape(1)
    return flat(x, shape, dtype)


def out_array(out, shape, dtype, name="out"):
    """A new output array, or the user's ``out`` checked for shape, dtype and layout."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {type(out).__name__}.")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(
            f"{name} has shape {out.shape} and dtype {out.dtype}; this call needs shape {shape} and dtype "
            f"{dtype}. Allocate it with np.empty({shape}, dtype=np.{dtype})."
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writeable C-contiguous array; pass np.ascontiguousarray({name}) instead.")
    return out


def unaliased(out_flat, *inputs):
    """``out_flat``, or a new array to write into first where it overlaps an input.

    An output that is an input element for element (``value(a, out=a)``) is safe for
    an elementwise kernel; any other overlap (``value(a[:-1], out=a[1:])``) would
    read entries already overwritten, so the caller writes a copy and copies it back.
    """
    for x in inputs:
        if np.may_share_memory(out_flat, x) and not (
            x.shape == out_flat.shape
            and x.strides == out_flat.strides
            and x.dtype == out_flat.dtype
            and x.__array_interface__["data"][0] == out_flat.__array_interface__["data"][0]
        ):
            return np.empty_like(out_flat)
    return out_flat


def copy_back(dst, out_flat):
    """Finish what ``unaliased`` started: copy the result into the user's ``out``."""
    if dst is not out_flat:
        out_flat[...] = dst


def distinct_outputs(a, b, names):
    """ValueError where two outputs share memory (one result would overwrite the other)."""
    if np.may_share_memory(a, b):
        raise ValueError(
            f"{names[0]} and {names[1]} share memory, so one result would overwrite the other; "
            f"pass two separate arrays."
        )


def check_range(x, lo, hi, name, what):
    """ValueError if any entry of ``x`` lies outside [lo, hi] (NaN is let through)."""
    from ._kernels import count_outside  # a one-pass parallel scan; NumPy's costs as much as a loss

    flat_x = np.ascontiguousarray(x).reshape(-1)
    count, first = count_outside.sized(flat_x.size)(flat_x, x.dtype.type(lo), x.dtype.type(hi))
    if count:
        index = tuple(int(i) for i in np.unravel_index(first, x.shape)) if x.ndim else ()
        raise ValueError(
            f"{name} must be {what} in [{lo}, {hi}]; {count} of {x.size} entries are outside, the first at "
            f"index {index} (value {flat_x[first].item()!r}). Pass {what}, e.g. clip them with "
            f"np.clip({name}, {lo}, {hi})."
        )


def real_param(value, name, *, minimum, strict):
    """A finite float parameter above ``minimum`` (``strict``) or at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    ok = np.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        relation = ">" if strict else ">="
        raise ValueError(f"{name} must be finite and {relation} {minimum}; got {value!r}.")
    return value


def choice(value, valid, name):
    """``value`` if it is one of ``valid``; else a ValueError listing them."""
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid names are: {', '.join(sorted(valid))}.")
    return value


def vector(x, name):
    """A 1-D float array from a scalar or a non-empty 1-D array-like (a grid axis: empty would be no models)."""
    arr = float_array(x, name)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or 1-D; got shape {arr.shape}. Pass {name}.ravel() for a flat grid.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; a grid axis needs at least one value (a scalar, or a list of them).")
    return arr.reshape(-1)


def _refuse(bad, arr, name, requirement, what):
    count = int(np.count_nonzero(bad))
    if count:
        first = int(np.argmax(bad.reshape(-1)))
        raise ValueError(
            f"{name} must be {requirement}; {count} of {arr.size} entries are {what}, the first at index "
            f"{first} (value {arr.reshape(-1)[first].item()!r}). Remove or replace them."
        )


def check_finite(arr, name):
    """ValueError naming how many entries are NaN or infinite and where the first is."""
    _refuse(~np.isfinite(arr), arr, name, "finite", "NaN or infinite")


def nonnegative(arr, name):
    """ValueError for negative or NaN entries (learning rates, tolerances)."""
    _refuse(~(arr >= 0), arr, name, ">= 0 and not NaN", "not")


def integer(value, name, *, minimum, maximum=None):
    """An int in [minimum, maximum] (bools and floats are refused, 100.0 included)."""
    span = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {span}; got {type(value).__name__} {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {span}; got {value}.")
    return int(value)


# 10**12 steps run for hours even on the smallest problem; beyond it a step counter
# would soon leave the exact integers of float64 (the optimizers' ``t``) and int64.
MAX_STEPS = 10**12


def steps(value):
    """The number of steps: an int in [0, MAX_STEPS]."""
    return integer(value, "steps", minimum=0, maximum=MAX_STEPS)


def boolean(value, name):
    """A Python or NumPy bool (strings such as "no" and numbers are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}.")
    return bool(value)


def in_dtype(arr, dtype, name):
    """``arr`` cast to ``dtype``; ValueError where a finite entry overflows it or a nonzero one becomes 0."""
    a = np.asarray(arr)
    if np.can_cast(a.dtype, dtype, "safe"):  # the same type or a wider one: nothing overflows or becomes 0
        return a.astype(dtype)  # a copy, as below, without the checks (40 us, a fifth of a small descend)
    with np.errstate(over="ignore", under="ignore"):
        out = a.astype(dtype)
    src = np.asarray(a, dtype=np.float64)
    info = np.finfo(dtype)
    _refuse(
        np.isfinite(src) & ~np.isfinite(out),
        src,
        name,
        f"at most {float(info.max):.3g} in magnitude ({dtype}; float64 data has a wider range)",
        "larger",
    )
    _refuse(
        (src != 0) & (out == 0),
        src,
        name,
        f"0 or at least {float(info.smallest_subnormal):.3g} in magnitude ({dtype}; float64 data has a wider range)",
        "smaller",
    )
    return out


def max_safe_abs(dtype):
    """``finfo(dtype).max ** 0.25``: the largest magnitude whose square's square is finite.

    The default weight bound of descend and fit (a loss of such a weight stays finite)
    and the largest bound the descent kernel's sum-of-squares tracker allows.
    """
    return float(np.finfo(dtype).max) ** 0.25


def available_memory():
    """Bytes of memory available now (MemAvailable on Linux; total physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def formula_fields(obj, names, specs):
    """Check a Loss/Activation built directly (``Loss("huber", -1.0)``) as ``get_loss`` would.

    Returns the parameter as a float (0.0 for formulas without one).
    """
    kind = obj.kind
    if not isinstance(obj.name, str):
        raise TypeError(f"{kind} name must be a str; got {type(obj.name).__name__} {obj.name!r}.")
    choice(obj.name, names, kind)
    spec = specs.get(obj.name)
    if spec is None:
        if isinstance(obj.param, numbers.Real) and not isinstance(obj.param, (bool, np.bool_)) and obj.param == 0:
            return 0.0
        raise ValueError(f"{kind} {obj.name!r} takes no parameter; got param={obj.param!r}. Leave it out.")
    return real_param(obj.param, spec[0], minimum=0.0, strict=spec[2])


def formula_param(kind, name, params, spec):
    """The one parameter of a named loss or activation, validated.

    ``spec`` is ``(parameter name, default, strictly positive?)`` or None for
    formulas without a parameter (then 0.0).
    """
    pname, default, strict = spec or (None, 0.0, False)
    unknown = set(params) - {pname}
    if unknown:
        allowed = f"only {pname!r}" if pname else "none"
        raise TypeError(f"{kind} {name!r} got unexpected parameter(s) {sorted(unknown)}; it takes {allowed}.")
    if pname is None:
        return default
    return real_param(params.get(pname, default), pname, minimum=0.0, strict=strict)


# ---------------------------------------------------------------- shared by fit and descend
def learning_rates(lr, dtype, name="lr"):
    """A 1-D array of finite learning rates >= 0 in ``dtype``."""
    arr = vector(lr, name)
    nonnegative(arr, name)
    check_finite(arr, name)
    return in_dtype(arr, dtype, name)


def tolerance(tol, dtype):
    """None, or a finite float >= 0, at most ``dtype``'s largest value (a larger tol means the same: any gradient)."""
    return None if tol is None else min(real_param(tol, "tol", minimum=0.0, strict=False), float(np.finfo(dtype).max))


def weight_bound(max_abs_w, dtype):
    """The divergence bound: ``max_safe_abs(dtype)`` by default; larger values are refused."""
    max_bound = max_safe_abs(dtype)
    if max_abs_w is None:
        return max_bound
    bound = real_param(max_abs_w, "max_abs_w", minimum=0.0, strict=True)
    if bound > max_bound:
        raise ValueError(
            f"max_abs_w={bound:.3g} is above {max_bound:.3g} = finfo({dtype}).max ** 0.25, beyond "
            f"which the loss overflows; pass a smaller max_abs_w (or float64 data)."
        )
    return bound


# below this many bytes the memory checks do not read /proc/meminfo (17 us a read, a tenth of a
# small descend call's fixed cost): an allocation this size fails, if it ever does, as MemoryError
SMALL_BYTES = 2**24


def memory_fits(need, what, fix):
    """ValueError, before anything is allocated, when ``need`` bytes exceed the available memory."""
    if need <= SMALL_BYTES:
        return
    have = available_memory()
    if need > have:
        raise ValueError(
            f"{what} needs {need / 2**30:.3g} GiB, more than the {have / 2**30:.3g} GiB of memory available; {fix}."
        )


def history_fits(need, limit, what):
    """ValueError when a history of ``need`` bytes exceeds ``limit`` (None: a quarter of the available memory)."""
    if limit is None and need <= SMALL_BYTES:
        return
    limit = available_memory() // 4 if limit is None else limit
    if need > limit:
        raise ValueError(
            f"the history needs {need / 2**20:.1f} MiB ({what}), more than the limit of "
            f"{limit / 2**20:.1f} MiB. Raise record_every, shrink the grid, or pass max_history_bytes=..."
        )

"""The ``fastgd`` command (also ``python -m fastgd``): fit, sweep, bench, plot, formulas.

Plain Python over the public API: parse, validate, call one engine, print a table,
write the requested files.  Every error is one line on stderr and exit status 2;
output files are written to a temporary name and renamed, so a failed run leaves
no partial file behind.
"""

import argparse
import contextlib
import csv
import math
import os
import stat
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from . import __version__, _checkpoint, _dask, _progress, _results, datasets
from . import _validation as v
from .activations import ACTIVATION_NAMES, get_activation
from .descent import descend
from .fit import fit
from .losses import LOSS_NAMES, get_loss
from .model_selection import SCORINGS
from .optimizers import HYPERPARAMS, METHODS
from .schedules import get_schedule

RANGES = """\
numbers: a single value (0.5), a comma list (0.01,0.1,1), or a range
start:stop:count for count evenly spaced values from start to stop inclusive,
start:stop:count:log for count values evenly spaced on a log scale (start, stop > 0).
Negative values may follow the option directly: --w0 -5:5:101.
"""
TABLE_FORMATS = (".csv", ".parquet", ".npz")
PLOTS = (
    "loss_curves",
    "activation_curves",
    "trajectory",
    "sweep_heatmap",
    "cost_curves",
    "vanishing_gradient",
    "schedules",
)


class UsageError(Exception):
    """A problem with the command line or its input: one line on stderr, exit status 2."""


# ------------------------------------------------------------- parsing helpers
def parse_numbers(text, name, *, integer=False):
    """``start:stop:count[:log]``, a comma list or one number, as a float64 array.

    >>> parse_numbers("1e-3:10:5:log", "--lr").tolist()
    [0.001, 0.01, 0.1, 1.0, 10.0]
    >>> parse_numbers("-1:1:3", "--w0").tolist()
    [-1.0, 0.0, 1.0]
    >>> parse_numbers("0.1,0.5", "--lr").tolist()
    [0.1, 0.5]
    """
    text = text.strip()
    fix = f"write {name} as a number, a comma list, or start:stop:count[:log] (e.g. 1e-3:10:32:log)"
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("log", "lin")):
            raise UsageError(f"{name} {text!r} is not a range; {fix}.")
        start, stop = (_number(p, name, text, fix) for p in parts[:2])
        try:
            count = int(parts[2])
        except ValueError:
            raise UsageError(f"{name} {text!r}: the count {parts[2]!r} must be a whole number; {fix}.") from None
        if count < 1:
            raise UsageError(f"{name} {text!r}: the count must be at least 1.")
        v.memory_fits(8 * count, f"{name} {text!r} ({count} values)", "ask for fewer values")
        if len(parts) == 4 and parts[3] == "log":
            if start <= 0 or stop <= 0:
                raise UsageError(
                    f"{name} {text!r}: a log range needs start and stop > 0; use a linear range "
                    f"(drop ':log') to include 0 or negative values."
                )
            values = np.geomspace(start, stop, count)
            values[0], values[-1] = start, stop  # exact ends, where geomspace rounds
        else:
            values = np.linspace(start, stop, count)
    else:
        values = np.array([_number(p, name, text, fix) for p in text.split(",")])
    if integer:
        if not np.all(values == np.round(values)):
            raise UsageError(f"{name} {text!r} must hold whole numbers.")
        values = values.astype(np.int64)
    return values


def _number(part, name, text, fix):
    try:
        value = float(part)
    except ValueError:
        raise UsageError(f"{name} {text!r}: {part.strip()!r} is not a number; {fix}.") from None
    if not math.isfinite(value):
        raise UsageError(f"{name} {text!r}: {part.strip()!r} is not finite.")
    return value


def _one_number(text, name):
    values = parse_numbers(text, name)
    if values.size != 1:
        raise UsageError(f"{name} takes one number; got {values.size} from {text!r}.")
    return float(values[0])


def _names(text, name, valid):
    names = [s.strip() for s in text.split(",") if s.strip()]
    for s in names:
        if s not in valid:
            raise UsageError(f"{name}: unknown name {s!r}; choose from {', '.join(valid)}.")
    if not names:
        raise UsageError(f"{name} is empty; give a comma list such as {','.join(valid[:2])}.")
    return names


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (no usage block), exit status 2."""

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


# ------------------------------------------------------------- output files
def _check_output(path, formats, what):
    """Validate an output path before any work is done."""
    if path is None:
        return None
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in formats:
        raise UsageError(
            f"{what} {str(path)!r}: unknown file type {suffix or '(none)'!r}; "
            f"end the name with one of {', '.join(formats)}."
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(
                f"{what} {str(path)!r}: Parquet needs pyarrow (pip install pyarrow); or write .csv or .npz."
            ) from None
    if path.is_dir():
        raise UsageError(
            f"{what} {str(path)!r} is a folder; name a file in it, e.g. {str(path / ('results' + suffix))!r}."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{what} {str(path)!r}: the folder {str(parent)!r} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} {str(path)!r}: the folder {str(parent)!r} is not writable.")
    return path


def _atomic_write(path, write):
    """``write(tmp_path)``, then rename onto ``path``: never a partial file at ``path``.

    The file gets the mode a plain ``open(path, "w")`` would give it: an existing
    file's mode, else 0o666 less the umask (not the temporary file's 0o600).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _new_file_mode(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_table(path, columns):
    """Write named 1-D columns as CSV, Parquet or .npz, chosen by the file's suffix."""
    suffix = path.suffix.lower()

    def write(tmp):
        if suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, **{k: np.asarray(c) for k, c in columns.items()})
        elif suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({k: np.asarray(c) for k, c in columns.items()}), tmp)
        else:
            with open(tmp, "w", newline="") as f:
                out = csv.writer(f)
                out.writerow(columns)
                for row in zip(*columns.values(), strict=True):
                    out.writerow([_cell(x) for x in row])

    _atomic_write(path, write)


def _cell(x):
    if isinstance(x, np.bool_ | bool):
        return str(bool(x))
    if isinstance(x, np.floating | float):
        return repr(float(x))
    return str(x.item() if isinstance(x, np.generic) else x)


def _save_figure(path, fig):
    _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format=path.suffix[1:].lower()))


def _figure_formats():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return tuple(f".{s}" for s in Figure().canvas.get_supported_filetypes())


def _check_plot(path):
    if path is None:
        return None
    formats = _figure_formats()
    if formats is None:
        raise UsageError(f'--plot {path!r} needs matplotlib: pip install "fastgd[plot]" (or pip install matplotlib).')
    return _check_output(path, formats, "--plot")


def _progress_on(args):
    return not args.quiet and sys.stderr.isatty() and _progress.available()


# ------------------------------------------------------------- fit
def _on_dask(args):
    """Whether DATA is read with dask.dataframe: --dask given, a directory, a Parquet file or a glob."""
    if args.dask is not None:
        return True
    if args.data is None:
        return False
    return Path(args.data).is_dir() or args.data.endswith((".parquet", ".pq")) or any(c in args.data for c in "*?[")


def _load(args):
    features = None if args.features is None else [s.strip() for s in args.features.split(",") if s.strip()]
    if args.data is None:
        if args.dask is not None:
            raise UsageError("--dask needs a DATA path (a Parquet directory or a CSV glob) that the workers can read.")
        data = datasets.breast_cancer(target=args.target or "diagnosis", features=features)
    elif _on_dask(args):
        data = datasets.read_dask(args.data, args.target, features=features)
    else:
        data = datasets.read_csv(args.data, args.target, features=features)
    return data.standardized() if args.standardize else data


@contextlib.contextmanager
def _dask_client(args):
    """The cluster that --dask names, for the duration of a fit: started (local:N) or connected to (tcp://)."""
    spec = getattr(args, "dask", None)
    if spec is None:
        yield None
        return
    if not (math.isfinite(args.dask_timeout) and args.dask_timeout > 0):
        raise UsageError(f"--dask-timeout must be a positive number of seconds; got {args.dask_timeout:g}.")
    try:
        from distributed import Client
    except ImportError:
        raise UsageError("--dask needs dask and distributed: pip install 'fastgd[dask]'.") from None
    with contextlib.ExitStack() as stack:
        if spec.startswith("local:"):
            n = spec[len("local:") :]
            if not n.isdigit() or int(n) < 1:
                raise UsageError(f"--dask {spec!r}: local:N needs a whole number of workers N >= 1, as in local:4.")
            cluster = stack.enter_context(_dask.local_cluster(int(n)))
            client = stack.enter_context(Client(cluster, timeout=args.dask_timeout))
        elif "://" in spec:
            try:
                client = stack.enter_context(Client(spec, timeout=args.dask_timeout))
            except (OSError, TimeoutError) as e:
                wait = f"{args.dask_timeout:g} s"
                raise UsageError(f"--dask {spec}: no scheduler answered within {wait} ({e}).") from None
        else:
            raise UsageError(
                f"--dask {spec!r}: give local:N (start N workers here) or a scheduler address tcp://HOST:PORT."
            )
        yield client


def _run_fit(args):
    loss = get_loss(args.loss)
    act = None if args.activation is None else get_activation(args.activation)
    lr = parse_numbers(args.lr, "--lr")
    schedule, hyper = _optimizer_args(args)  # before the data is read: a typo costs nothing
    if args.checkpoint is not None:  # so is an unwritable checkpoint path, found before the work
        _checkpoint.check_path(args.checkpoint)
    data = _load(args)
    if args.l2 is not None:
        l2 = parse_numbers(args.l2, "--l2")
    else:  # scikit-learn's defaults: LogisticRegression's C=1, LinearRegression's none
        l2 = np.array([1.0 / data.X.shape[0] if loss.is_classifier else 0.0])
    if not loss.is_classifier and data.y.dtype.kind not in "fi":
        raise UsageError(
            f"target column {data.target_name!r} holds labels, not numbers; loss {loss.name!r} "
            f"needs a numeric target (use --loss logistic for class labels)."
        )
    start = time.perf_counter()
    res = fit(
        data.X,
        data.y,
        lr,
        loss=loss,
        activation=act,
        steps=args.steps,
        tol=args.tol,
        l2=l2,
        method=args.method,
        schedule=schedule,
        **hyper,
        batch_size=args.batch_size,
        seed=args.seed,
        cv=args.cv,
        validation=args.validation,
        scoring=args.scoring,
        early_stopping=args.early_stopping,
        patience=args.patience,
        record_every=args.check_every if args.early_stopping else 1,
        progress=_progress_on(args),
        checkpoint=args.checkpoint,
        checkpoint_every=args.checkpoint_every,
    )
    return data, res, time.perf_counter() - start


def _accuracy(res, data):
    """Training accuracy of every model, by FitResult.predict (one model at a time: no (n, models) temporary)."""
    if res.classes is None:
        return None
    if _dask.is_dask(data.X):  # a task per chunk counts its hits; the counts are summed here
        import dask

        X = data.X.rechunk({1: -1})
        y = data.y.rechunk((X.chunks[0],))
        blocks = zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True)
        parts = [dask.delayed(_hits)(res, a, b) for a, b in blocks]
        return np.sum(dask.compute(*parts), axis=0) / X.shape[0]
    return _hits(res, data.X, data.y) / data.X.shape[0]


def _hits(res, X, y):
    with np.errstate(all="ignore"):  # a diverged model's huge coefficients
        return np.array([np.count_nonzero(res.predict(X, m) == y) for m in range(res.coef.shape[0])])


def _status(converged, diverged, early=None):
    out = np.where(diverged, "diverged", np.where(converged, "converged", "max steps"))
    return out if early is None else np.where(early & ~diverged, "early stop", out)


def cmd_fit(args):
    """``fastgd fit``: the learning-rate grid search."""
    if args.top is not None and args.top < 1:
        raise UsageError(f"--top must be at least 1; got {args.top}.")
    out = _check_output(args.out, TABLE_FORMATS, "--out")
    plot = _check_plot(args.plot)
    with _dask_client(args):
        data, res, seconds = _run_fit(args)
        acc = _accuracy(res, data)
    status = _status(res.converged, res.diverged, res.stopped_early)
    held = res.held_out_score
    with np.errstate(invalid="ignore"):
        rank_by = res.final_cost if held is None else -held
        order = _results.ranking(rank_by, res.diverged, res.n_steps)[0]
    held_name = None if held is None else ("cv " if res.cv_score is not None else "val ") + res.scoring
    n, D = data.X.shape
    what = res.loss_fn.spec.model
    if res.activation.name != "identity":
        what = f"a {res.activation.name} neuron"
    print(
        f"fastgd fit: {what} ({res.loss_fn.name} loss) on {data.source}: {n} rows x {D} features"
        f"{' (standardized)' if args.standardize else ''}, target {data.target_name!r}"
    )
    if data.left_out:
        print(f"left out (not numeric): {', '.join(data.left_out)}")
    if res.classes is not None and res.multiclass:
        shown = ", ".join(repr(str(c)) for c in res.classes[:10]) + (", ..." if res.classes.size > 10 else "")
        print(f"classes: {res.classes.size}, a multinomial (softmax) model: {shown}")
    elif res.classes is not None:
        print(f"classes: {str(res.classes[0])!r} -> 0, {str(res.classes[1])!r} -> 1")
    grid = f"{res.lr_grid.size} learning rates"
    grid += f" x {res.l2_grid.size} L2 strengths" if res.l2_grid.size > 1 else f", l2 {res.l2_grid[0]:.3g}"
    # hyperparameters that vary across the grid get a column; the others are named once
    axes = [k for k, x in res.params.items() if k not in ("lr", "l2") and np.unique(x).size > 1]
    fixed = [f"{k} {x[0]:g}" for k, x in res.params.items() if k not in ("lr", "l2") and k not in axes]
    for k in axes:
        grid += f" x {np.unique(res.params[k]).size} {k}"
    method = args.method + (f" ({', '.join(fixed)})" if fixed else "")
    print(
        f"{grid}, up to {args.steps} steps of {method}"
        f"{f', schedule {res.schedule!r}' if res.schedule is not None else ''}"
        f"{f', tol {args.tol:g}' if args.tol is not None else ''}: {seconds:.2f} s"
    )
    print()
    head = f"{'rank':>4} {'lr':>10}" + (f" {'l2':>9}" if res.l2_grid.size > 1 else "")
    head += "".join(f" {k:>9}" for k in axes)
    head += f" {'final cost':>12} {'status':>10} {'steps':>6}" + (f" {'accuracy':>8}" if acc is not None else "")
    head += f" {held_name:>{max(10, len(held_name))}}" if held is not None else ""
    print(head)
    shown = order if args.top is None else order[: args.top]
    for rank, m in enumerate(shown, 1):
        line = f"{rank:>4} {res.lr[m]:>10.4g}" + (f" {res.l2[m]:>9.3g}" if res.l2_grid.size > 1 else "")
        line += "".join(f" {res.params[k][m]:>9.4g}" for k in axes)
        line += f" {res.final_cost[m]:>12.6g} {status[m]:>10} {res.n_steps[m]:>6}"
        line += f" {acc[m]:>8.2%}" if acc is not None else ""
        line += f" {held[m]:>{max(10, len(held_name))}.4f}" if held is not None else ""
        print(line)
    if len(shown) < len(order):
        print(f"   ... {len(order) - len(shown)} more (--top)")
    print()
    if not res.comparable:
        print("the l2 strengths differ, so final costs do not rank models across them (--cv K ranks them all):")
    for l2_value in [None] if res.comparable else res.l2_grid:
        sub = order if l2_value is None else order[res.l2[order] == l2_value]
        best = sub[0] if sub.size and not res.diverged[sub[0]] and np.isfinite(rank_by[sub[0]]) else None
        if best is None:
            print("every model diverged: lower the learning rates (--lr)")
            continue
        extra = f", training accuracy {acc[best]:.2%}" if acc is not None else ""
        extra += f", {held_name} {held[best]:.4f}" if held is not None else ""
        l2 = f", l2 {res.l2[best]:g}" if res.l2_grid.size > 1 else ""
        l2 += "".join(f", {k} {res.params[k][best]:g}" for k in axes)
        print(
            f"best learning rate: {res.lr[best]:g}{l2} (final cost {res.final_cost[best]:.6g}, "
            f"{status[best]} after {res.n_steps[best]} steps{extra})"
        )
    if out is not None:
        cols = {
            **res.params,  # lr, l2 and every hyperparameter
            "final_cost": res.final_cost,
            "status": status,
            "n_steps": res.n_steps,
            "converged": res.converged,
            "diverged": res.diverged,
        }
        if acc is not None:
            cols["accuracy"] = acc
        if held is not None:
            cols[held_name.replace(" ", "_")] = held
        if res.multiclass:  # a multinomial model: an intercept and coefficients per class
            for k, label in enumerate(res.classes):
                cols[f"intercept_{label}"] = res.intercept[:, k]
                for j, name in enumerate(data.feature_names):
                    cols[f"coef_{label}_{name}"] = res.coef[:, k, j]
        else:
            cols["intercept"] = res.intercept
            for j, name in enumerate(data.feature_names):
                cols[f"coef_{name}"] = res.coef[:, j]
        write_table(out, cols)
        print(f"wrote {out}")
    if plot is not None:
        from . import plot as plots

        _save_figure(plot, plots.cost_curves(res))
        print(f"wrote {plot}")
    return 0


# ------------------------------------------------------------- sweep
def _run_sweep(args):
    w0 = parse_numbers(args.w0, "--w0")
    lr = parse_numbers(args.lr, "--lr")
    schedule, hyper = _optimizer_args(args)
    start = time.perf_counter()
    res = descend(
        args.loss,
        w0,
        lr,
        steps=args.steps,
        target=args.target,
        x=args.x,
        activation=args.activation,
        method=args.method,
        schedule=schedule,
        **hyper,
        tol=args.tol,
        progress=_progress_on(args),
    )
    return res, time.perf_counter() - start


def cmd_sweep(args):
    """``fastgd sweep``: the one-weight sweep over w0 x lr."""
    out = _check_output(args.out, TABLE_FORMATS, "--out")
    plot = _check_plot(args.plot)
    res, seconds = _run_sweep(args)
    M, K = res.w.shape
    model = f"{res.loss_fn.name}({res.activation.name}({args.x:g} w), {args.target:g})"
    axes = [k for k, x in res.params.items() if k != "lr" and np.unique(x).size > 1]
    cols_of = "lr" if not axes else f"(lr x {' x '.join(axes)})"
    print(
        f"fastgd sweep: {args.method} on {model}: {M} w0 x {K} {cols_of} = {M * K} runs, up to {args.steps} steps"
        f"{f', schedule {res.schedule!r}' if res.schedule is not None else ''}"
        f"{f', tol {args.tol:g}' if args.tol is not None else ''}: {seconds:.3f} s"
    )
    running = ~res.converged & ~res.diverged
    print(
        f"converged {res.converged.mean():.1%}, diverged {res.diverged.mean():.1%}, still moving {running.mean():.1%}"
    )
    print()
    print(
        f"{'lr':>10}"
        + "".join(f" {k:>9}" for k in axes)
        + f" {'converged':>10} {'diverged':>9} {'median steps':>13} {'median loss':>12}"
    )
    for k in np.unique(np.linspace(0, K - 1, min(K, 10)).astype(int)):
        conv = res.converged[:, k]
        med = f"{np.median(res.n_steps[conv, k]):.0f}" if conv.any() else "-"
        ok = ~res.diverged[:, k]
        loss = f"{np.median(res.loss[ok, k]):.4g}" if ok.any() else "-"
        hp = "".join(f" {res.params[a][k]:>9.4g}" for a in axes)
        print(f"{res.lr[k]:>10.4g}{hp} {conv.mean():>10.1%} {res.diverged[:, k].mean():>9.1%} {med:>13} {loss:>12}")
    if res.activation.name in ("sigmoid", "tanh"):
        print(
            f"(|dloss/dw| <= tol also holds far from the minimum, in {res.activation.name}'s flat tails where a "
            f"huge step lands: the vanishing gradient)"
        )
    best = res.best()
    print()
    if best is None:
        print("every run diverged: lower the learning rates (--lr)")
    else:
        print(
            f"best run: w0={best['w0']:g}, lr={best['lr']:g}{''.join(f', {a}={best[a]:g}' for a in axes)}: "
            f"loss {best['loss']:.6g} at w={best['w']:.6g} "
            f"after {best['n_steps']} steps"
        )
    if out is not None:
        W0, LR = np.meshgrid(res.w0, res.lr, indexing="ij")
        cols = {
            "w0": W0,
            "lr": LR,
            **{k: np.broadcast_to(x, W0.shape) for k, x in res.params.items() if k != "lr"},
            "w": res.w,
            "loss": res.loss,
            "grad": res.grad,
            "n_steps": res.n_steps,
            "converged": res.converged,
            "diverged": res.diverged,
            "diverged_at": res.diverged_at,
        }
        write_table(out, {k: np.ravel(c) for k, c in cols.items()})
        print(f"wrote {out}")
    if plot is not None:
        from . import plot as plots

        _save_figure(plot, plots.sweep_heatmap(res))
        print(f"wrote {plot}")
    return 0


# ------------------------------------------------------------- bench
def _paired_medians(impls, repeat):
    """{impl: median seconds} of ``repeat`` rounds, each round timing every implementation once.

    Interleaved, so a burst of load from elsewhere on a shared machine slows every side of a
    ratio rather than one of them; each round starts one implementation later, so none
    always runs first.  One warm-up call each first (compile or load the cache, fault pages).
    """
    names = list(impls)
    for name in names:
        impls[name]()
    times = {name: [] for name in names}
    for r in range(repeat):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            start = time.perf_counter()
            impls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(times[name]) for name in names}


def bench_cases(size):
    """The comparisons of ``fastgd bench``: (name, {impl: zero-argument callable}) at the given size."""
    from . import _baselines as base
    from .activations import sigmoid
    from .losses import logistic, mse

    have_jax = base.have_jax()
    rng = np.random.default_rng(0)
    z = rng.normal(0, 4, size)
    y = (z > 0.3).astype(np.float64)
    side = max(2, int(math.sqrt(size / 10)))
    w0, lr = np.linspace(-5, 5, side), np.geomspace(1e-4, 0.45, side)
    n_fit = max(100, size // 100)
    X = rng.normal(size=(n_fit, 32))
    yf = (X @ rng.normal(size=32) + rng.normal(size=n_fit) > 0).astype(np.float64)
    lr_fit = np.geomspace(1e-3, 10, 16)
    cases = [
        (
            f"logistic value+grad, n={size:.0e}",
            {"numpy": lambda: base.np_logistic_vg(z, y), "fastgd": lambda: logistic.value_and_grad(z, y)},
        ),
        (
            f"sigmoid value+grad, n={size:.0e}",
            {"numpy": lambda: base.np_sigmoid_vg(z), "fastgd": lambda: (sigmoid.value(z), sigmoid.grad(z))},
        ),
        (
            f"mse value+grad, n={size:.0e}",
            {"numpy": lambda: base.np_mse_vg(z, y), "fastgd": lambda: mse.value_and_grad(z, y)},
        ),
    ]
    for act in ("identity", "sigmoid"):
        cases.append(
            (
                f"sweep mse-{act} {side}x{side}x100",
                {
                    "numpy": lambda act=act: base.np_sweep(act, w0, lr, 100, target=0.2),
                    "fastgd": lambda act=act: descend("mse", w0, lr, steps=100, target=0.2, activation=act).w,
                },
            )
        )
    cases.append(
        (
            f"fit logistic n={n_fit} D=32 K=16 20 steps",
            {
                "numpy": lambda: base.np_fit_batched(X, yf, lr_fit, 20),
                "fastgd": lambda: fit(X, yf, lr_fit, steps=20, record_every=0),
            },
        )
    )
    cases.append(
        (
            f"fit n={n_fit} D=32 K=16 20 steps, costs",
            {
                "numpy": lambda: base.np_fit_batched(X, yf, lr_fit, 20, with_cost=True),
                "fastgd": lambda: fit(X, yf, lr_fit, steps=20, record_every=1),
            },
        )
    )
    cases.append(
        (
            f"SGD n={n_fit} D=32 K=16 batch 64 x 500",
            {
                "numpy": lambda: base.np_sgd_batched(X, yf, lr_fit, 500, 64),
                "fastgd": lambda: fit(X, yf, lr_fit, steps=500, batch_size=64, record_every=0),
            },
        )
    )
    ym = np.argmax(X[:, :10] + rng.normal(size=(n_fit, 10)), axis=1)  # 10 classes
    onehot, one_fold = np.eye(10)[ym], np.ones((1, n_fit))
    cases.append(
        (
            f"softmax fit n={n_fit} D=32 10 classes K=16 20 steps",
            {
                "numpy": lambda: base.np_multinomial_cv_fit(X, onehot, lr_fit, np.zeros(16), one_fold, 20),
                "fastgd": lambda: fit(X, ym, lr_fit, steps=20, record_every=0),
            },
        )
    )
    side_adam = max(2, side // 4)  # Adam's step costs about ten gd steps
    w0a, lra = np.linspace(-5, 5, side_adam), np.geomspace(1e-4, 0.45, side_adam)
    cases.append(
        (
            f"adam fit n={n_fit} D=32 K=16 20 steps",
            {
                "numpy": lambda: base.np_adam_fit_batched(X, yf, lr_fit, 20),
                "fastgd": lambda: fit(X, yf, lr_fit, steps=20, method="adam", record_every=0),
            },
        )
    )
    cases.append(
        (
            f"adam sweep mse {side_adam}x{side_adam}x100",
            {
                "numpy": lambda: base.np_adam_sweep(w0a, lra, 100, target=0.2),
                "fastgd": lambda: descend("mse", w0a, lra, steps=100, target=0.2, method="adam").w,
            },
        )
    )
    if have_jax:
        import jax.numpy as jnp

        zj, yj = jnp.asarray(z), jnp.asarray(y)
        w0j, lrj = jnp.asarray(w0), jnp.asarray(lr)
        Xj, yfj, lrfj = jnp.asarray(X), jnp.asarray(yf), jnp.asarray(lr_fit)
        peers = [(base.jax_elementwise(case), (zj, yj)) for case in ("logistic_vg", "sigmoid_vg", "mse_vg")]
        peers += [(base.jax_sweep(act, 100, 1.0, 0.2), (w0j, lrj)) for act in ("identity", "sigmoid")]
        peers.append((base.jax_fit(20), (Xj, yfj, lrfj)))
        peers.append((base.jax_fit(20, with_cost=True), (Xj, yfj, lrfj)))
        peers.append((base.jax_sgd(500, 64), (Xj, yfj, lrfj)))
        columns = base.cv_columns(lr_fit, np.zeros(16), one_fold)
        peers.append((base.jax_multinomial_cv_fit(20), tuple(jnp.asarray(a) for a in (X, onehot, *columns))))
        if base.have_optax():  # the Adam rows' peers: JAX + optax
            peers.append((base.jax_optax_fit(20, "adam"), (Xj, yfj, lrfj)))
            peers.append((base.jax_optax_sweep(100, 1.0, 0.2, "adam"), (jnp.asarray(w0a), jnp.asarray(lra))))
        for (_, impls), (f, inputs) in zip(cases, peers, strict=False):  # no Adam peers without optax
            impls["jax"] = partial(f, *inputs)
    return cases


def cmd_bench(args):
    """``fastgd bench``: fastgd against NumPy (and JAX when installed) on this machine."""
    size = int(_one_number(args.size, "--size"))
    if size < 100:
        raise UsageError(f"--size must be at least 100; got {size}.")
    # inputs, outputs and the NumPy baselines' temporaries: about ten float64 arrays of --size
    v.memory_fits(80 * size, f"--size {args.size}", "pass a smaller --size")
    repeat = args.repeat
    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1; got {repeat}.")
    cases = bench_cases(size)
    have_jax = any("jax" in impls for _, impls in cases)
    print(
        f"fastgd bench: median of {repeat} interleaved runs after a warm-up, float64, {os.cpu_count()} CPUs"
        f"{'' if have_jax else ' (JAX not installed: pip install jax to compare)'}"
    )
    print()
    head = f"{'case':<44} {'numpy ms':>10} {'fastgd ms':>10} {'vs numpy':>9}"
    if have_jax:
        head += f" {'jax ms':>9} {'vs jax':>7}"
    print(head)
    for name, impls in cases:
        t = _paired_medians(impls, repeat)
        line = f"{name:<44} {t['numpy'] * 1e3:>10.3g} {t['fastgd'] * 1e3:>10.3g} {t['numpy'] / t['fastgd']:>8.3g}x"
        if have_jax and "jax" in t:
            line += f" {t['jax'] * 1e3:>9.3g} {t['jax'] / t['fastgd']:>6.3g}x"
        elif have_jax:
            line += f" {'-':>9} {'-':>7}  (optax not installed)"
        print(line, flush=True)
    print()
    print("ratios above 1 mean fastgd is faster; the timed suite is `nox -s bench` (docs/benchmarks.md)")
    return 0


# ------------------------------------------------------------- plot
def cmd_plot(args):
    """``fastgd plot NAME -o FILE``: any figure of :mod:`fastgd.plot`."""
    path = _check_plot(args.output)
    from . import plot as plots

    if args.name == "loss_curves":
        fig = plots.loss_curves(_names(args.losses, "--losses", LOSS_NAMES))
    elif args.name == "activation_curves":
        fig = plots.activation_curves(_names(args.activations, "--activations", ACTIVATION_NAMES))
    elif args.name == "vanishing_gradient":
        fig = plots.vanishing_gradient(
            args.depth, _names(args.activations, "--activations", ACTIVATION_NAMES), z0=args.z0, weight=args.weight
        )
    elif args.name == "trajectory":
        fig = plots.trajectory(
            args.loss,
            _one_number(args.w0, "--w0"),
            parse_numbers(args.lr, "--lr"),
            steps=args.steps,
            target=args.target,
            x=args.x,
            activation=args.activation,
            method=args.method,
        )
    elif args.name == "sweep_heatmap":
        fig = plots.sweep_heatmap(_run_sweep(args)[0])
    elif args.name == "schedules":
        items = None if args.schedules is None else [s for s in args.schedules.split(";") if s.strip()]
        fig = plots.schedules(items, steps=args.steps)
    else:
        with _dask_client(args):
            fig = plots.cost_curves(_run_fit(args)[1])
    _save_figure(path, fig)
    print(f"wrote {path}")
    return 0


def cmd_formulas(args):
    """``fastgd formulas``: every loss and activation with its derivatives at a few points."""
    print(formula_table())
    return 0


_Z = [-4.0, -1.0, 0.0, 1.0, 4.0]


def _row(label, values):
    return f"{label:>16} " + " ".join(f"{v:>10.4g}" for v in values)


def formula_table():
    """The table of every loss and activation, as text."""
    lines = ["Losses L(p, t) and derivatives in p", ""]
    for name in LOSS_NAMES:
        loss = get_loss(name)
        p, t = loss.spec.points
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


# ------------------------------------------------------------- the parser
def _common(p):
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_optimizer_options(p):
    p.add_argument("--method", default="gd", choices=METHODS, help="optimizer (default gd; see fastgd.optimizers)")
    p.add_argument(
        "--schedule",
        help="learning-rate multiplier NAME[:ARG,...], e.g. cosine:500, warmup_cosine:100,1000, "
        "step:100/200,0.5/0.1 (default none; see fastgd.schedules)",
    )
    for name in HYPERPARAMS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            help=f"the optimizer's {name}: a number, a comma list or a range, a grid axis (default: optax's)",
        )


def _optimizer_args(args):
    """The schedule and the hyperparameters given on the command line (as grid axes)."""
    schedule = get_schedule(args.schedule)
    hyper = {}
    for name in HYPERPARAMS:
        text = getattr(args, name)
        if text is not None:
            hyper[name] = parse_numbers(text, f"--{name.replace('_', '-')}")
    return schedule, hyper


def _add_fit_options(p, *, outputs=True):
    p.add_argument(
        "data",
        nargs="?",
        help="CSV file with a header row, or (read with dask.dataframe) a Parquet directory or a CSV glob "
        "(default: the embedded breast-cancer data)",
    )
    p.add_argument("--target", help="target column (default: the last column; 'diagnosis' for the default data)")
    p.add_argument("--features", help="comma list of feature columns (default: every column but the target)")
    p.add_argument("--loss", default="logistic", choices=LOSS_NAMES, help="loss (default logistic)")
    p.add_argument("--activation", choices=ACTIVATION_NAMES, help="activation of X @ w + b (default none)")
    p.add_argument("--lr", default="1e-3:100:32:log", help="learning rates (default 1e-3:100:32:log)")
    p.add_argument(
        "--l2",
        help="L2 strengths; every (lr, l2) pair is a model (default: 1/n for classifiers, "
        "scikit-learn's C=1; 0 otherwise)",
    )
    p.add_argument("--steps", type=int, default=500, help="maximum steps (default 500)")
    _add_optimizer_options(p)
    p.add_argument("--tol", type=float, default=1e-4, help="stop a model at gradient norm <= tol (default 1e-4)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (default: full batch)")
    p.add_argument("--seed", type=int, help="seed of the mini-batch shuffle and of the folds")
    held = p.add_mutually_exclusive_group()
    held.add_argument("--cv", type=int, help="rank models by K-fold cross-validation, all folds in one pass")
    held.add_argument("--validation", type=float, help="rank models on this fraction of the rows, held out")
    p.add_argument("--scoring", choices=SCORINGS, help="held-out score (default accuracy or r2)")
    p.add_argument(
        "--early-stopping",
        action="store_true",
        help="stop a fold's model when its held-out loss stops improving (needs --cv or --validation)",
    )
    p.add_argument("--patience", type=int, default=10, help="checks without improvement before stopping (default 10)")
    p.add_argument("--check-every", type=int, default=10, help="steps between early-stopping checks (default 10)")
    p.add_argument(
        "--dask",
        metavar="SPEC",
        help="fit on a Dask cluster: local:N starts N single-threaded worker processes here, "
        "tcp://HOST:PORT connects to a running scheduler (needs fastgd[dask])",
    )
    p.add_argument(
        "--dask-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for --dask's scheduler to answer (default 10)",
    )
    p.add_argument("--checkpoint", metavar="PATH", help="save the fit's state here and resume from it when rerun")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (default 50)")
    p.add_argument(
        "--no-standardize",
        dest="standardize",
        action="store_false",
        help="fit the raw features (default: centred and scaled to unit variance)",
    )
    if outputs:
        p.add_argument("--top", type=int, help="print only the best N models")
        p.add_argument("--out", help="write one row per model to .csv, .parquet or .npz")
        p.add_argument("--plot", help="save the cost curves (.png, .pdf, .svg)")
    _common(p)


def _add_sweep_options(p, *, outputs=True):
    p.add_argument("--loss", default="mse", choices=LOSS_NAMES, help="loss (default mse)")
    p.add_argument("--activation", default="identity", choices=ACTIVATION_NAMES, help="activation (default identity)")
    p.add_argument("--w0", default="-5:5:101", help="initial weights (default -5:5:101)")
    p.add_argument("--lr", default="1e-4:1:50:log", help="learning rates (default 1e-4:1:50:log)")
    p.add_argument("--steps", type=int, default=100, help="maximum steps (default 100)")
    p.add_argument("--x", type=float, default=1.0, help="the input: u = w * x (default 1)")
    p.add_argument("--target", type=float, default=0.0, help="the target (default 0)")
    _add_optimizer_options(p)
    p.add_argument("--tol", type=float, default=1e-6, help="a run converges at |dloss/dw| <= tol (default 1e-6)")
    if outputs:
        p.add_argument("--out", help="write one row per run to .csv, .parquet or .npz")
        p.add_argument("--plot", help="save the w0 x lr heat map (.png, .pdf, .svg)")
    _common(p)


def build_parser():
    """The argparse parser of the ``fastgd`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="fastgd",
        formatter_class=fmt,
        description="Gradient descent over many weights and learning rates at once.\n\n" + RANGES,
        epilog="Run 'fastgd COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"fastgd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser(
        "fit",
        help="learning-rate grid search for linear / logistic regression",
        formatter_class=fmt,
        description="Fit one model per (lr, l2) pair, all in the same pass over the data, and rank them.\n\n" + RANGES,
    )
    _add_fit_options(p)
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser(
        "sweep",
        help="one-weight gradient descent over a w0 x lr grid",
        formatter_class=fmt,
        description="The seed's model loss(act(w * x), target), run from every w0 with every lr.\n\n" + RANGES,
    )
    _add_sweep_options(p)
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("bench", help="fastgd against NumPy (and JAX) on this machine")
    p.add_argument(
        "--size", default="1e6", help="elements of the elementwise cases; the sweep and fit scale with it (default 1e6)"
    )
    p.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser(
        "plot",
        help="draw a figure to a file",
        description="Draw one of the figures of fastgd.plot. Run 'fastgd plot NAME --help' for its options.",
    )
    names = p.add_subparsers(dest="name", metavar="NAME", parser_class=_Parser, required=True)
    for name in PLOTS:
        q = names.add_parser(name, formatter_class=fmt, help=_plot_help(name), description=_plot_help(name))
        q.add_argument("-o", "--output", required=True, help="the figure file (.png, .pdf, .svg)")
        if name == "loss_curves":
            q.add_argument("--losses", default="mse,mae,cross_entropy", help="comma list of losses")
        elif name in ("activation_curves", "vanishing_gradient"):
            q.add_argument("--activations", default="sigmoid,relu", help="comma list of activations")
        if name == "vanishing_gradient":
            q.add_argument("--depth", type=int, default=20, help="number of layers (default 20)")
            q.add_argument("--z0", type=float, default=0.5, help="the input (default 0.5)")
            q.add_argument("--weight", type=float, default=1.0, help="every layer's weight (default 1)")
        elif name == "trajectory":
            q.add_argument("--loss", default="mse", choices=LOSS_NAMES)
            q.add_argument("--activation", default="identity", choices=ACTIVATION_NAMES)
            q.add_argument("--w0", default="2", help="the initial weight (default 2)")
            q.add_argument("--lr", default="0.05,0.5,0.95,1.05", help="one panel per learning rate")
            q.add_argument("--steps", type=int, default=12)
            q.add_argument("--x", type=float, default=1.0)
            q.add_argument("--target", type=float, default=0.0)
            q.add_argument("--method", default="gd", choices=METHODS)
        elif name == "sweep_heatmap":
            _add_sweep_options(q, outputs=False)
        elif name == "schedules":
            q.add_argument(
                "--schedules", help="semicolon list of schedules, e.g. 'cosine:500;step:100,0.5' (default: one of each)"
            )
            q.add_argument("--steps", type=int, default=1000, help="steps drawn (default 1000)")
        elif name == "cost_curves":
            _add_fit_options(q, outputs=False)
        if name not in ("sweep_heatmap", "cost_curves"):  # those two have the engines' options, --quiet included
            _common(q)
        q.set_defaults(func=cmd_plot)
    p = sub.add_parser("formulas", help="every loss and activation with its derivatives at a few points")
    p.set_defaults(func=cmd_formulas)
    return parser


def _plot_help(name):
    return {
        "loss_curves": "each loss beside its derivative",
        "activation_curves": "each activation beside its derivative (sigmoid's 0.25 peak marked)",
        "trajectory": "the steps of gradient descent on the loss curve, one panel per learning rate",
        "sweep_heatmap": "steps to converge over a w0 x lr sweep, diverged runs marked",
        "cost_curves": "cost against step for every model of a fit, the best highlighted",
        "vanishing_gradient": "the product of activation derivatives through a chain of layers",
        "schedules": "every learning-rate schedule's multiplier over the same steps",
    }[name]


# options whose value may start with a minus sign ("--w0 -5:5:101"), which argparse
# would otherwise take for an option of its own
_SIGNED = ("--w0", "--lr", "--l2", "--x", "--target", "--z0", "--weight", "--tol") + tuple(
    f"--{name.replace('_', '-')}" for name in HYPERPARAMS
)


def _join_signed(argv):
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _SIGNED and i + 1 < len(argv) and argv[i + 1][:1] == "-" and argv[i + 1][1:2] in "0123456789.":
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv=None):
    """Entry point of the ``fastgd`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(_join_signed(sys.argv[1:] if argv is None else list(argv)))
        if args.command is None:
            parser.print_help()
            return 0
        status = args.func(args)
        sys.stdout.flush()  # here, so that a reader gone by now is met inside this try
        return status
    except BrokenPipeError:  # before OSError: the reader went away (`fastgd sweep ... | head -1`)
        return _reader_gone()
    except UsageError as err:
        return _fail(str(err))
    except (ValueError, TypeError, OSError, ImportError) as err:  # the library's validation: already a fix
        return _fail(str(err))
    except KeyboardInterrupt:
        print("fastgd: interrupted", file=sys.stderr)
        return 130


def _reader_gone():
    """End quietly, as Unix tools do when their reader closes the pipe: no message, status 0.

    stdout is pointed at the null device, so Python's own flush at exit does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor behind stdout (an embedding, a test's capture)
        pass
    return 0


def _fail(message):
    print(f"fastgd: error: {' '.join(message.split())}", file=sys.stderr)
    return 2

"""Fits on Dask arrays: the fit engine's parts, driven one step at a time over a cluster.

A step of every live model is

1. a map over X's row chunks: a task per worker (per chunk past ``GATHER_MAX`` chunks)
   runs the gradient source (``_source``'s fused kernel, single-threaded: the
   cluster's workers are the parallelism) for all the models on each of its chunks,
   giving each chunk's partial sums of gradient and cost, (models x D) floats;
2. a reduction of those partial sums in a fixed tree (groups of ``FANIN`` consecutive
   chunks, each added in chunk order; on the client, or past ``GATHER_MAX`` chunks its
   lower levels as tasks), so the bits depend on the chunks, never on which worker
   finishes first or how many there are;
3. the optimizer and the monitor on the client (``_engine.update_counted``).

X and y are persisted on the workers once and never gathered: the client holds the
models' (P, D + 1) coefficients and optimizer state, and with folds (``cv=``,
``validation=``) their rows' masks, made there as in memory and sent to the workers
once.  Every task is a pure function of persisted chunks and the step's coefficients,
so when a worker dies the scheduler recomputes its chunks from their source and the fit
goes on with the same result.  Mini-batches come from the same seeded stream as in
memory (``_source.batch_rows``); each chunk's task sums the batch rows that fall in it.

Without a ``dask.distributed`` client the same tasks run on Dask's default scheduler.
"""

import hashlib
import warnings

import numpy as np

from . import _checkpoint, _engine
from . import _source as src
from . import model_selection as ms
from ._validation import frame_dtype

FANIN = 8  # partial sums added by one reduction task
GATHER_MAX = 256  # up to this many chunks: one task per worker a step, the partial sums added on the client
EXTRA = "pip install 'fastgd[dask]'"


def check_client(client):
    """A TypeError unless ``client`` is a dask.distributed Client (ImportError without the extra)."""
    try:
        from distributed import Client
    except ImportError as e:
        raise ImportError(f"client= needs dask.distributed: {EXTRA} ({e})") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed Client; got {type(client).__name__}.")


def local_cluster(n_workers):
    """A LocalCluster of ``n_workers`` single-threaded worker processes on loopback, its dashboard on a free port.

    A worker's task is one single-threaded kernel call, so the workers are the parallelism.
    """
    try:
        from distributed import LocalCluster
    except ImportError as e:
        raise ImportError(f"a local cluster needs dask.distributed: {EXTRA} ({e})") from None
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # never the fixed 8787 that another cluster may hold
        silence_logs=50,
    )


def row_blocks(client, M, chunks):
    """(start, stop) of each block of ``chunks`` rows of M (default: 4 blocks per worker)."""
    if chunks is None:
        workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        chunks = -(-M // (4 * workers))
    return [(r0, min(M, r0 + chunks)) for r0 in range(0, M, chunks)]


def map_blocks(client, fn, args):
    """fn(*a) for each a in ``args`` as tasks on the cluster; the results in order."""
    return client.gather([client.submit(fn, *a, pure=False) for a in args])


def is_dask(obj):
    """True for a Dask array, DataFrame or Series (without importing dask)."""
    return (type(obj).__module__ or "").split(".")[0] in ("dask", "dask_expr")


def _modules():
    try:
        import dask
        import dask.array as da
    except ImportError as e:  # a Dask collection without dask.array's dependencies
        raise ImportError(f"fitting Dask collections needs dask[array] and distributed: {EXTRA} ({e})") from None
    return dask, da


def _client():
    """The current dask.distributed client, or None (Dask's default scheduler)."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client
        return None


def dataframe():
    """``dask.dataframe``, or the ImportError naming the extra."""
    try:
        import dask.dataframe as dd
    except ImportError as e:
        raise ImportError(f"reading tables with Dask needs dask[dataframe]: {EXTRA} ({e})") from None
    return dd


def as_array(obj, name):
    """A Dask DataFrame or Series as a Dask array with known chunk sizes; arrays as given."""
    return _as_array(obj, name, _modules()[1])


def _as_array(obj, name, da):
    if isinstance(obj, da.Array):
        return obj
    if is_dask(obj) and hasattr(obj, "to_dask_array"):
        if getattr(obj, "ndim", 1) == 2:  # bool and float columns: the common float type, as in memory
            dtype = frame_dtype(obj.dtypes)
            if dtype is not None:
                obj = obj.astype(dtype)
        with warnings.catch_warnings():  # string labels become object arrays, as fit wants them
            warnings.filterwarnings("ignore", "Dask currently has limited support for converting pandas extension")
            # the rows per chunk from the array's own blocks: to_dask_array(lengths=True)
            # counts them on a differently optimized graph, where dask-expr may merge the
            # Parquet files that it reads apart for the columns (then its lengths are refused)
            return obj.to_dask_array().compute_chunk_sizes()
    raise TypeError(f"{name} must be a Dask array, DataFrame or Series, or a NumPy array; got {type(obj).__name__}.")


def inputs(X, y, dtype_of):
    """Validate and persist a Dask X (n, D) and y (n,): (X, y, feature names), chunked by rows alike.

    X chunked across columns is rechunked to whole rows; y is rechunked to X's row
    chunks.  Unknown chunk sizes are refused (they would need a pass to learn).
    ``dtype_of(X)`` gives the float dtype to fit in (the in-memory rule).
    """
    dask, da = _modules()
    names = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    X = _as_array(X, "X", da) if is_dask(X) else da.from_array(np.asarray(X))
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got {X.ndim} dimensions.")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            "X has unknown chunk sizes (NaN rows per chunk): call X.compute_chunk_sizes() "
            "or use DataFrame.to_dask_array(lengths=True) first."
        )
    if y is None:
        raise ValueError("y is required.")
    y = _as_array(y, "y", da) if is_dask(y) else da.from_array(np.asarray(y), chunks=(X.chunks[0],))
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got {y.ndim} dimensions.")
    if any(np.isnan(c) for c in y.chunks[0]):
        raise ValueError("y has unknown chunk sizes (NaN): call y.compute_chunk_sizes() first.")
    n, D = X.shape
    if y.shape[0] != n:
        raise ValueError(f"X has {n} rows and y has {y.shape[0]}; they must match.")
    if n == 0 or D == 0:
        raise ValueError(f"X is empty (shape {X.shape}); fit needs at least one row and one column.")
    dtype = dtype_of(X)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})  # a chunk's task needs whole rows
    if y.chunks[0] != X.chunks[0]:
        y = y.rechunk((X.chunks[0],))
    X = X.astype(dtype).map_blocks(np.ascontiguousarray, dtype=dtype)
    return X, y, names


def persist(*arrays):
    dask, _ = _modules()
    return dask.persist(*arrays)


def compute(*values):
    dask, _ = _modules()
    return dask.compute(*values)


def _chunk_sums(loss, act, exact, Xc, yc, ec, rows, Wl, b, folds, grad):
    """A task: the sums over one chunk's rows (all of them, or ``rows``) for the models (Wl, b).

    ``ec``: the chunk's rows' exclusion masks (``model_selection.exclusion_masks``), or None
    without folds; ``folds``: each model's fold (``_source.ALL``: every row).
    """
    rows = np.arange(Xc.shape[0]) if rows is None else rows
    XT = np.empty((0, Xc.shape[1], src.BLOCK), Xc.dtype)
    excl = np.zeros(0, np.int64) if ec is None else ec.astype(np.int64)
    kernel = src.partial_sums.serial
    return _engine.summed(kernel, loss, act, exact, Xc, XT, yc, rows, Wl, b, excl, folds, grad)


def _chunk_scores(scoring, loss, act, prob, Xc, yc, ec, rows, W, b):
    """A task: ``model_selection.score_parts`` of one chunk's rows ``rows``."""
    return ms.score_parts(scoring, loss, act, Xc, yc, W, b, prob, rows)


def _digest(Xc, yc):
    """A task: a digest of one chunk's rows (dtype, shape and bytes of X and y)."""
    h = hashlib.blake2b(digest_size=20)
    for a in (Xc, yc):
        _checkpoint.hash_array(h, a)
    return h.digest()


def _same(a):
    """A task: its argument (a chunk, copied to the worker that runs it)."""
    return a


def _each_chunk(fn, specs, *arrays):
    """A task: ``fn`` for each of a worker's chunks (its X, y and mask blocks, chunk after chunk), one result each."""
    return [fn(*head, *arrays[3 * i : 3 * i + 3], *rest) for i, (head, rest) in enumerate(specs)]


def _add_in_order(*parts):
    """A reduction task: the partial sums added left to right."""
    out = tuple(a.copy() for a in parts[0])
    for p in parts[1:]:
        for acc, a in zip(out, p, strict=True):
            acc += a
    return out


class Chunks:
    """X's and y's row chunks where the tasks run: futures on a client, or delayed blocks."""

    def __init__(self, X, y):
        self.client = _client()
        self.offsets = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        xkeys = [k[0] for k in X.__dask_keys__()]
        ykeys = list(y.__dask_keys__())
        if self.client is not None:
            from distributed import futures_of

            fx = {f.key: f for f in futures_of(X)}
            fy = {f.key: f for f in futures_of(y)}
            self.x, self.y = [fx[k] for k in xkeys], [fy[k] for k in ykeys]
            self.home = self._homes()
        else:
            dask, _ = _modules()
            self.x, self.y = list(X.to_delayed().ravel()), list(y.to_delayed().ravel())
            self.dask = dask
            self.home = None
        self.e = [None] * len(self.x)

    def attach_masks(self, excl):
        """Each chunk's slice of the exclusion masks (n,), sent once, as a task where its chunk is.

        Packed in the smallest unsigned type of the masks (one byte a row up to 8 folds);
        a task, not scattered data, so that a lost worker's copy is recomputed too.
        """
        packed = excl.astype(np.min_scalar_type(int(excl.max(initial=0))))
        for c in range(len(self)):
            part = packed[self.offsets[c] : self.offsets[c + 1]].copy()
            if self.client is None:
                self.e[c] = self.dask.delayed(_same, pure=False)(part)
            else:
                where = {} if self.home is None else {"workers": [self.home[c]], "allow_other_workers": True}
                self.e[c] = self.client.submit(_same, part, pure=False, **where)

    def _arrays(self, c):
        return (self.x[c], self.y[c], self.e[c])

    def __len__(self):
        return len(self.x)

    def _homes(self):
        """Each chunk's worker, its rows balanced across the workers (chunks moved once where needed).

        None past GATHER_MAX chunks (the tasks then follow the data wherever it is).  A
        step's task per worker takes as long as that worker's rows, so a placement of
        3 chunks on one worker and 1 on the other costs a step 3 chunks' time, not 2.
        A moved chunk is a task of the chunk it copies: recomputable like the rest.
        """
        if len(self) > GATHER_MAX:
            return None
        workers = sorted(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        who_x, who_y = self.client.who_has(self.x), self.client.who_has(self.y)
        sizes = np.diff(self.offsets)
        fair = sizes.sum() / max(1, len(workers))
        load = dict.fromkeys(workers, 0)
        homes = [None] * len(self)
        for c in range(len(self)):
            held = [w for w in who_x.get(self.x[c].key, ()) if w in load]
            fits = [w for w in held if load[w] + sizes[c] <= fair * 1.01]
            home = fits[0] if fits else (min(load, key=load.get) if load else None)
            if home is None:
                return None
            load[home] += sizes[c]
            homes[c] = home
            for name, who in (("x", who_x), ("y", who_y)):
                chunks = getattr(self, name)
                if home not in who.get(chunks[c].key, ()):
                    chunks[c] = self.client.submit(
                        _same, chunks[c], workers=[home], allow_other_workers=True, pure=False
                    )
        return homes

    def local_rows(self, rows):
        """(chunk, its rows in the order given) for the chunks that hold some of ``rows`` (None: all rows)."""
        if rows is None:
            return [(c, None) for c in range(len(self))]
        where = np.searchsorted(self.offsets, rows, side="right") - 1
        return [(c, rows[where == c] - self.offsets[c]) for c in np.unique(where)]

    def digests(self):
        """Every chunk's ``_digest``, in chunk order: a pass over the data on the workers, O(chunks) back."""
        pairs = list(zip(self.x, self.y, strict=True))
        if self.client is not None:
            return self.client.gather([self.client.submit(_digest, x, y, pure=False) for x, y in pairs])
        return list(self.dask.compute(*[self.dask.delayed(_digest, pure=False)(x, y) for x, y in pairs]))

    def map_reduce(self, fn, args_of, combine=None):
        """fn(*head, X_c, y_c, masks_c, *rest) for each (c, head, rest) of ``args_of``, combined in the fixed tree.

        ``combine(*parts)`` (default: added left to right) joins consecutive groups of
        FANIN results, level after level, in chunk order.
        """
        combine = _add_in_order if combine is None else combine
        if self.client is not None and self.home is not None:  # a task per worker, the sums added here
            groups = {}
            for job in args_of:
                groups.setdefault(self.home[job[0]], []).append(job)
            tasks = [
                self.client.submit(
                    _each_chunk, fn, [(h, r) for _, h, r in jobs], *[a for c, _, _ in jobs for a in self._arrays(c)],
                    pure=False,
                )
                for jobs in groups.values()
            ]  # fmt: skip
            order = [c for jobs in groups.values() for c, _, _ in jobs]
            got = dict(zip(order, [p for ps in self.client.gather(tasks) for p in ps], strict=True))
            parts = [got[c] for c, _, _ in args_of]  # chunk order: the same tree as below
            while len(parts) > FANIN:
                parts = [combine(*parts[i : i + FANIN]) for i in range(0, len(parts), FANIN)]
            return combine(*parts)
        if self.client is not None:
            submit = self.client.submit
            parts = [submit(fn, *head, *self._arrays(c), *rest, pure=False) for c, head, rest in args_of]
            while len(parts) > FANIN:
                parts = [submit(combine, *parts[i : i + FANIN], pure=False) for i in range(0, len(parts), FANIN)]
            return combine(*self.client.gather(parts))  # the tree's root here: one hop less a step
        delayed = self.dask.delayed
        parts = [delayed(fn, pure=False)(*head, *self._arrays(c), *rest) for c, head, rest in args_of]
        while len(parts) > FANIN:
            parts = [delayed(combine, pure=False)(*parts[i : i + FANIN]) for i in range(0, len(parts), FANIN)]
        return combine(*self.dask.compute(*parts))


class DaskRun(_engine.Run):
    """``_engine.Run`` whose gradient source is a map over a persisted Dask X's row chunks.

    The optimizer, the monitor and every state array are the in-memory run's; only
    the sums (``sums``) and the rows of a step (``None``: every row) differ.  Steps run
    one at a time (``step_by_parts``).  First-order optimizers only.  With folds
    (``cv=``, ``validation=``), each chunk's rows' exclusion masks go to its worker once.
    """

    def __init__(self, loss, act, opt, X, y, lr, l2, hp, *, y_small, **kw):
        D, dt = X.shape[1], X.dtype
        super().__init__(loss, act, opt, np.empty((0, D), dt), np.empty(0, dt), lr, l2, hp, **kw)
        self.n_rows = X.shape[0]
        self.y_small = y_small
        self.chunks = Chunks(X, y)
        if self.excl.size:  # folds: the masks stay here too (counts, the fingerprint) and go to the workers once
            if self.excl.size != self.n_rows:
                raise ValueError(f"the folds' masks cover {self.excl.size} rows; X has {self.n_rows}.")
            self.chunks.attach_masks(self.excl)
            self.all_counts = _engine.counts(self.excl, np.arange(self.n_rows, dtype=np.int64), self.F)
        self.progress = np.zeros(1, np.int64)
        self.mode = "dask"

    def advance(self, n):
        s1 = min(self.step + n, self.steps + 1)
        while self.step < s1:
            before = self.step
            self.step_by_parts()
            self.progress[0] += 1
            if self.step == before:  # every model stopped
                self.step = s1

    def all_rows(self):
        return None

    def data_identity(self):
        """The data's chunks by their contents (a graph's token is not: dask-expr's names vary between processes)."""
        return [("dask", (self.n_rows, tuple(self.chunks.offsets.tolist()), tuple(self.chunks.digests())))]

    def rows_of(self, s):
        return None if not self.batch else super().rows_of(s)

    def counts(self, rows):
        if self.excl.size:
            return self.all_counts if rows is None else _engine.counts(self.excl, rows, self.F)
        return np.full(src.ALL + 1, self.n_rows if rows is None else rows.size, np.int64)

    def sums(self, rows, models, exact, grad=True, every_row=False):
        D = self.X.shape[1]
        Wl = np.ascontiguousarray(self.W[models, :D])
        b = self.W[models, D].copy()
        folds = np.full(models.size, src.ALL, np.int64) if every_row else self.folds[models]
        head = (self.loss, self.act, exact)
        jobs = [(c, head, (r, Wl, b, folds, grad)) for c, r in self.chunks.local_rows(rows)]
        return self.chunks.map_reduce(_chunk_sums, jobs)

    def scores(self, scoring, act, W, b, prob, rows):
        """``model_selection.scores`` of the models (W, b) on ``rows`` (None: all), chunk by chunk on the workers."""
        head = (scoring, self.loss, act, prob)
        W64, b64 = np.ascontiguousarray(W, np.float64), np.ascontiguousarray(b, np.float64)
        jobs = [(c, head, (r, W64, b64)) for c, r in self.chunks.local_rows(rows)]
        return ms.finish_scores(scoring, self.chunks.map_reduce(_chunk_scores, jobs, ms.combine_parts))

    def rows_arg(self, rows):
        """No row indices on the client (the X here is empty); the number of rows summed."""
        return np.zeros(0, np.int64), self.n_rows if rows is None else rows.size


def isfinite(a):
    """Elementwise finiteness of a Dask array, lazily."""
    _, da = _modules()
    return da.isfinite(a)


__all__ = [
    "DaskRun", "Chunks", "as_array", "check_client", "compute", "dataframe", "inputs", "is_dask", "isfinite",
    "local_cluster", "map_blocks", "persist", "row_blocks",
]  # fmt: skip

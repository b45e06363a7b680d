"""The optional tqdm progress bar (the ``progress`` extra), shared by descend and fit."""

import queue
import threading

import numpy as np

SLICE_SECONDS = 0.1  # long kernels run in compiled calls of about this long: Ctrl-C and the bar answer between
POLL_SECONDS = 0.1  # how often a shown bar is redrawn
DELAY_SECONDS = 0.1  # runs shorter than this show no bar (0: always show one)


def next_slice(n, took, least=1):
    """Units (steps, rows) for the next compiled call, after a call of ``n`` units took ``took`` seconds.

    Calls should last about ``SLICE_SECONDS``.  A short call grows the next one in proportion,
    at least 2-fold and at most 64-fold (the first units may be cheaper than the rest: runs
    stop, caches warm): a fit or sweep of a few milliseconds runs in two or three calls, not
    in the six to eight of doubling (a call costs 25-30 us even when it does nothing).  A call
    past two slices halves the next, down to ``least``.
    """
    if took < SLICE_SECONDS / 2:
        return n * int(min(64.0, max(2.0, SLICE_SECONDS / 2 / max(took, 1e-9))))
    if took > 2 * SLICE_SECONDS:
        return max(least, n // 2)
    return n


def _tqdm():
    """The tqdm class, or an ImportError saying how to get it."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("progress=True needs tqdm: pip install tqdm (or fastgd[progress])") from None
    return tqdm


def bar(total, unit):
    """A tqdm bar on stderr, or an ImportError saying how to get tqdm."""
    return _tqdm()(total=total, unit=unit)


def available():
    """True where tqdm is importable."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


def run_with_bar(run, counters, total, unit, per=1):
    """Call ``run()`` in this thread while a bar follows ``counters.sum() // per``.

    The kernel (compiled ``nogil``) counts its finished units into ``counters``, one
    slot per parallel block, so the bar costs the kernel one store per unit and no
    extra launches.  It runs in this thread: a kernel started from a new thread would
    get a new OpenMP team while the old one spins.  One long-lived helper thread
    draws the bar, first after DELAY_SECONDS, then every POLL_SECONDS, so a short
    run pays a hand-off between two threads and nothing else (measured: a thread
    started per call and a bar drawn at once cost 14% of a 7 ms sweep).
    """
    _tqdm()  # no tqdm: the ImportError before any work
    job = _Job(counters, total, unit, per)
    _painter().put(job)
    if job.delay <= 0:  # a bar for every run: let the painter start it first
        job.claimed.wait()
    try:
        run()
    finally:
        with job.lock:
            job.done.set()
            drawing = job.drawing
        if drawing:  # wait for the bar's last redraw; else the painter skips the job alone
            job.finished.wait()
    if job.error is not None:
        raise job.error


class _Job:
    def __init__(self, counters, total, unit, per):
        self.counters, self.total, self.unit, self.per = counters, total, unit, per
        self.delay = DELAY_SECONDS  # read once: the painter may reach the job after it changed
        self.lock = threading.Lock()
        self.done = threading.Event()  # set by the caller when the kernel returns
        self.drawing = False  # set by the painter, under the lock, when it starts a bar
        self.claimed = threading.Event()  # set by the painter once it has decided to draw
        self.finished = threading.Event()  # set by the painter when the bar is closed
        self.error = None


_queue = None
_lock = threading.Lock()


def _painter():
    """The queue of the one helper thread that draws bars, started on first use."""
    global _queue
    with _lock:
        if _queue is None:
            _queue = queue.SimpleQueue()
            threading.Thread(target=_paint_forever, args=(_queue,), name="fastgd-progress", daemon=True).start()
    return _queue


def _paint_forever(jobs):
    while True:
        job = jobs.get()
        try:
            if job.delay > 0:
                job.done.wait(job.delay)
            with job.lock:
                if job.done.is_set() and job.delay > 0:
                    continue  # finished before a bar was worth drawing
                job.drawing = True
                job.claimed.set()
            with bar(job.total, job.unit) as b:
                while True:
                    finished = job.done.wait(POLL_SECONDS)
                    b.update(int(np.sum(job.counters)) // job.per - b.n)
                    if finished:
                        break
        except BaseException as e:  # handed to the caller's thread
            job.error = e
        finally:
            job.claimed.set()
            job.finished.set()

"""Checkpoints of a fit: its complete state, written atomically, refused when it belongs to another fit.

A checkpoint is one ``.npz`` file holding

* ``fingerprint``: a BLAKE2b digest of everything that determines the fit's result
  (the data's bytes, on Dask each chunk's digest computed on the workers, and every argument
  that reaches the engine), so a checkpoint written by a different fit is refused,
  never reused;
* the engine's state (``_engine.Run.state``): coefficients, optimizer state, step,
  statuses, history so far, and the monitors' state between compiled calls (early
  stopping's best coefficients).  Mini-batches need no RNG state of their own: the
  batch stream is a pure function of (seed, step).

``save`` writes a temporary file in the same directory, flushes and fsyncs it, then
renames it over the checkpoint (``os.replace``, atomic on POSIX and Windows) and
fsyncs the directory: a crash at any moment leaves the old checkpoint or the new one,
never a torn file.
"""

import glob
import hashlib
import os
import tempfile
import zipfile

import numpy as np

FORMAT = 2  # bump when the state's layout or the fingerprint changes: older checkpoints are then refused
# 2: the fingerprint holds the loss's and activation's parameters; the format is stored in the file


def hash_array(h, a):
    """Feed an array to the hash ``h``: its dtype, shape and bytes."""
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a.reshape(-1).view(np.uint8)))


def fingerprint(parts):
    """A hex digest of ``parts``, (name, value) pairs: arrays by dtype, shape and bytes, the rest by repr."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"fastgd checkpoint {FORMAT}".encode())
    for name, value in parts:
        h.update(f"|{name}=".encode())
        if isinstance(value, np.ndarray):
            hash_array(h, value)
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def check_path(checkpoint):
    """Validate a checkpoint path before any work: a file path whose folder exists and takes a file.

    Writability is probed by creating (and removing) the temporary file a save would create:
    a permission bit says nothing to root, or about a read-only file system.  Temporary files
    left by an earlier save of the same checkpoint that was killed mid-write are removed.
    """
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path (str or os.PathLike); got {type(checkpoint).__name__}.")
    text = os.fspath(checkpoint)
    if isinstance(text, bytes):
        raise TypeError("checkpoint must be a str path, not bytes; decode it first.")
    folder = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text) or text.endswith((os.sep, "/")) or not os.path.basename(text):
        raise ValueError(f"checkpoint={text!r} is a directory; pass a file path such as 'run.ckpt'.")
    if not os.path.isdir(folder):
        raise ValueError(f"checkpoint={text!r}: its directory {folder!r} does not exist; create it first.")
    for stale in glob.glob(os.path.join(glob.escape(folder), glob.escape(os.path.basename(text)) + ".*.tmp")):
        try:
            os.unlink(stale)
        except OSError:  # another process's, or already gone: not ours to insist on
            pass
    try:
        fd, probe = tempfile.mkstemp(prefix=os.path.basename(text) + ".", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(
            f"checkpoint={text!r}: cannot write in {folder!r} ({e.strerror or e}); pass a path in a writable folder."
        ) from None
    if os.path.exists(text) and not os.access(text, os.R_OK):
        raise ValueError(f"checkpoint={text!r} exists but cannot be read; fix its permissions or pass another path.")
    return text


def _fsync_dir(path):
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path, digest, state):
    """Write ``state`` (name -> array) and ``digest`` to ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=np.array(FORMAT), fingerprint=np.array(digest), **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def load(path, digest, required=()):
    """The state saved at ``path`` (name -> array), or None when there is no file; refuses another fit's.

    A file that is not a checkpoint, is damaged, or lacks one of the ``required`` arrays is
    refused with a ValueError.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:  # fh: closed even when np.load fails
            state = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # truncated, or a flipped byte (CRC)
        raise ValueError(
            f"checkpoint {path!r} is not a fastgd checkpoint, or is damaged ({e}); delete it or pass another path."
        ) from None
    if "fingerprint" not in state:  # an .npz, but not one of fastgd's
        raise ValueError(
            f"checkpoint {path!r} is not a fastgd checkpoint (no fingerprint); delete it or pass another path."
        )
    try:
        written = int(state.pop("format", 1))  # format 1 did not store its number
    except (TypeError, ValueError):
        written = 0
    if written != FORMAT:
        raise ValueError(
            f"checkpoint {path!r} was written by {'an older' if written < FORMAT else 'a newer'} fastgd (checkpoint "
            f"format {written}; this version reads format {FORMAT}), so it cannot be resumed here. Delete it to "
            "start the fit afresh, or finish it with the fastgd that wrote it."
        )
    if str(state.pop("fingerprint")) != digest:
        raise ValueError(
            f"checkpoint {path!r} was written by a fit with other arguments or data; it is not reused. "
            "Delete it, or pass another checkpoint path to start this fit afresh."
        )
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(
            f"checkpoint {path!r} is damaged: it lacks {', '.join(map(repr, missing))}; delete it or pass another path."
        )
    return state


class Saver:
    """The monitor that saves a run every ``every`` steps (``_engine.Run.run``'s check)."""

    def __init__(self, path, digest, every, extra=None):
        self.path, self.digest, self.every, self.extra = path, digest, every, extra

    def __call__(self, run):
        state = run.state()
        if self.extra is not None:
            state.update(self.extra())
        save(self.path, self.digest, state)

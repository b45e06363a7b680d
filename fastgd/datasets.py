"""Tables for :func:`fastgd.fit`: the embedded default dataset and a CSV reader.

The default, :func:`breast_cancer`, ships inside the package so that ``fastgd fit``
runs with no data file.  It is the Breast Cancer Wisconsin (Diagnostic) dataset
(W. H. Wolberg, W. N. Street, O. L. Mangasarian, 1995), from the UCI Machine
Learning Repository, https://doi.org/10.24432/C5DW2B, licensed CC BY 4.0:
569 tumours, 30 numeric features computed from images of cell nuclei, and the
diagnosis, ``"malignant"`` (212) or ``"benign"`` (357).  The copy here is the one
scikit-learn ships, with the feature names in snake_case.
"""

import csv
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_NAME = "breast_cancer"
_DEFAULT_FILE = "breast_cancer.csv"
_DEFAULT_TARGET = "diagnosis"


@dataclass(frozen=True)
class Dataset:
    """A table split into features and a target.

    Attributes
    ----------
    X : ndarray (n, D) of float64
    y : ndarray (n,)
        float64 where every entry is a number, otherwise the labels as strings.
        From :func:`read_dask`, both are Dask arrays.
    feature_names : list of str
    target_name : str
    source : str
        Where the table came from (a path, or the embedded dataset's name).
    left_out : tuple of str
        Columns left out of the default features because no entry is a number (labels).
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    target_name: str
    source: str
    left_out: tuple = ()

    def standardized(self):
        """A copy with every feature centred and scaled to unit variance (constant features only centred).

        Gradient descent with one learning rate for all coefficients needs features on
        comparable scales; the coefficients are then per standard deviation of each feature.
        """
        # divide by each column's largest magnitude first: squares of 1e200 would overflow
        # (np.where, not item assignment: a Dask X from read_dask stays lazy)
        peak = np.abs(self.X).max(axis=0)
        unit = self.X / np.where(peak == 0, 1.0, peak)
        mean = unit.mean(axis=0)
        scale = unit.std(axis=0)
        return replace(self, X=(unit - mean) / np.where(scale == 0, 1.0, scale))


def breast_cancer(target=_DEFAULT_TARGET, *, features=None):
    """The embedded default: Breast Cancer Wisconsin (Diagnostic), 569 x 30, target ``diagnosis``.

    Source and licence (CC BY 4.0) are in the module docstring.

    Parameters
    ----------
    target : str
        The target column: ``"diagnosis"`` (the labels), or a feature for a regression.
    features : list of str, optional
        Default: every column but the target that holds numbers (``diagnosis`` is left
        out when another column is the target: ``Dataset.left_out``).

    Examples
    --------
    >>> from fastgd.datasets import breast_cancer
    >>> data = breast_cancer()
    >>> data.X.shape, data.target_name, sorted(set(data.y.tolist()))
    ((569, 30), 'diagnosis', ['benign', 'malignant'])

    See Also
    --------
    sklearn.datasets.load_breast_cancer
    """
    text = resources.files("fastgd").joinpath("data", _DEFAULT_FILE).read_text(encoding="utf-8")
    return _parse(text.splitlines(), target, features, DEFAULT_NAME)


def read_csv(path, target=None, *, features=None):
    r"""Read a CSV file with a header row into a :class:`Dataset`.

    Parameters
    ----------
    path : str or Path
    target : str, optional
        The target column; default the last column.
    features : list of str, optional
        The feature columns, each listed once; default every column but the target,
        less those in which no entry is a number (labels; listed in ``Dataset.left_out``).
        A column with numbers and some text is an error, not left out.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For an unknown column, a feature that is not numeric, a missing or NaN value,
        rows of different lengths, or a file with no data rows; the message names the
        column and the line.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
    >>> _ = path.write_text("a,b,label\n1,2,yes\n3,4,no\n")
    >>> data = read_csv(path)
    >>> data.X.tolist(), data.y.tolist(), data.feature_names
    ([[1.0, 2.0], [3.0, 4.0]], ['yes', 'no'], ['a', 'b'])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such data file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        return _parse(f, target, features, str(path))


def read_dask(path, target=None, *, features=None):
    """Read a Parquet directory (or file) or a glob of CSV files with ``dask.dataframe``: a lazy Dataset.

    For :func:`fastgd.fit` on a cluster (``fastgd fit DATA --dask ...``): ``X`` and ``y``
    are Dask arrays, chunked by the files' partitions, read when the fit persists them.
    Columns are chosen as in :func:`read_csv`, by their dtypes: the default features are
    every column but the target whose dtype is numeric.  Missing values are found when
    the fit checks its data (a ValueError then).  Needs the ``dask`` extra.

    Parameters
    ----------
    path : str or Path
        A directory of Parquet files, a ``.parquet`` file, or a CSV file or glob
        (``"data/part-*.csv"``).
    target, features
        As for :func:`read_csv`.
    """
    from . import _dask

    dd = _dask.dataframe()
    text = str(path)
    where = Path(text)
    parquet = where.is_dir() or text.endswith((".parquet", ".pq"))
    if not parquet and not any(c in text for c in "*?[") and not where.is_file():
        raise FileNotFoundError(f"no such data file or directory: {text}")
    try:
        frame = dd.read_parquet(text) if parquet else dd.read_csv(text, skipinitialspace=True)
    except (OSError, ValueError) as e:  # no files match, unreadable files: pandas' and pyarrow's words
        raise ValueError(f"cannot read {text} with dask.dataframe: {' '.join(str(e).split())}") from None
    header = [str(c) for c in frame.columns]
    numeric = {str(c) for c, t in frame.dtypes.items() if t.kind in "biuf"}
    target, features, left_out = _choose_columns(header, target, features, text, numeric.__contains__)
    for c in features:
        if c not in numeric:
            raise ValueError(f"column {c!r} of {text} is not numeric (dtype {frame[c].dtype}); leave it out.")
    X = _dask.as_array(frame[features], "X").astype(np.float64)
    y = _dask.as_array(frame[target], "y")
    return Dataset(X=X, y=y, feature_names=features, target_name=target, source=text, left_out=left_out)


def _parse(lines, target, features, source):
    rows = [row for row in csv.reader(lines) if row]
    if not rows:
        raise ValueError(f"{source} is empty; a CSV file needs a header row and data rows.")
    header = [name.strip() for name in rows[0]]
    body = rows[1:]
    if not body:
        raise ValueError(f"{source} has a header but no data rows.")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise ValueError(f"{source} line {i + 2} has {len(row)} fields; the header has {len(header)}.")
    if len(set(header)) != len(header):
        dup = next(name for name in header if header.count(name) > 1)
        raise ValueError(f"{source} has two columns named {dup!r}; rename one.")
    columns = list(zip(*body, strict=True))
    target, features, left_out = _choose_columns(
        header, target, features, source, lambda name: any(map(_is_number, columns[header.index(name)]))
    )
    X = np.column_stack([_numeric(columns[header.index(name)], name, source) for name in features])
    raw = columns[header.index(target)]
    try:
        y = np.array([float(s) for s in raw])
    except ValueError:  # labels, for classifiers
        y = np.array([s.strip() for s in raw])
        _check_present(y == "", target, source)
    else:
        _check_present(~np.isfinite(y), target, source)
    return Dataset(X=X, y=y, feature_names=features, target_name=target, source=source, left_out=left_out)


def _choose_columns(header, target, features, source, numeric):
    """The target, the features and the columns left out of the default features.

    The default target is the last column, the default features every other column for
    which ``numeric(name)`` holds; named ones are checked to exist, each named once.
    """
    target = header[-1] if target is None else target
    _check_columns([target], header, source, "target")
    left_out = ()
    if features is None:  # every other column that holds numbers: label columns are left out
        features = [name for name in header if name != target]
        left_out = tuple(name for name in features if not numeric(name))
        features = [name for name in features if name not in left_out]
    else:
        features = list(features)
        _check_columns(features, header, source, "feature")
        if len(set(features)) != len(features):
            dup = next(name for name in features if features.count(name) > 1)
            raise ValueError(f"feature {dup!r} is listed twice; list each feature once.")
    if target in features:
        raise ValueError(f"column {target!r} is the target; leave it out of the features.")
    if not features:
        raise ValueError(f"{source} has no numeric feature columns besides the target {target!r}.")
    return target, features, left_out


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_columns(names, header, source, kind):
    for name in names:
        if name not in header:
            raise ValueError(f"no {kind} column {name!r} in {source}; its columns are: {', '.join(header)}.")


def _numeric(column, name, source):
    out = np.empty(len(column))
    for i, s in enumerate(column):
        s = s.strip()
        try:
            out[i] = float(s) if s else np.nan
        except ValueError:
            raise ValueError(
                f"column {name!r} of {source} is not numeric: line {i + 2} holds {s!r}. Encode it "
                f"as numbers or leave it out (features=..., --features on the command line)."
            ) from None
    _check_present(~np.isfinite(out), name, source)
    return out


def _check_present(bad, name, source):
    count = int(np.count_nonzero(bad))
    if count:
        raise ValueError(
            f"column {name!r} of {source} has {count} missing, NaN or infinite values, the first on "
            f"line {int(np.argmax(bad)) + 2}; drop or impute those rows first."
        )

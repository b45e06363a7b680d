import dataclasses

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from fastgd import datasets


def test_breast_cancer_is_scikit_learns_copy():
    data = datasets.breast_cancer()
    sk = load_breast_cancer()
    np.testing.assert_array_equal(data.X, sk.data)
    np.testing.assert_array_equal(data.y, sk.target_names[sk.target])
    assert data.feature_names == [n.replace(" ", "_") for n in sk.feature_names]
    assert data.target_name == "diagnosis" and data.source == "breast_cancer"


def test_breast_cancer_other_target_and_features():
    data = datasets.breast_cancer("mean_area", features=["mean_radius", "mean_texture"])
    sk = load_breast_cancer()
    np.testing.assert_array_equal(data.y, sk.data[:, 3])
    np.testing.assert_array_equal(data.X, sk.data[:, :2])
    assert data.y.dtype == np.float64


def test_standardized():
    data = datasets.breast_cancer().standardized()
    np.testing.assert_allclose(data.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(data.X.std(axis=0), 1, rtol=1e-12)


def test_standardized_keeps_constant_column_finite():
    data = datasets.Dataset(
        X=np.array([[1.0, 5.0], [2.0, 5.0]]), y=np.zeros(2), feature_names=["a", "b"], target_name="t", source="x"
    ).standardized()
    assert data.X[:, 1].tolist() == [0.0, 0.0]


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_csv_numeric_target_and_default_last_column(tmp_path):
    data = datasets.read_csv(_csv(tmp_path, "a, b ,y\n1,2,0.5\n3,4e1,-1\n"))
    assert data.feature_names == ["a", "b"] and data.target_name == "y"
    np.testing.assert_array_equal(data.X, [[1, 2], [3, 40]])
    np.testing.assert_array_equal(data.y, [0.5, -1])


def test_read_csv_chosen_columns(tmp_path):
    data = datasets.read_csv(_csv(tmp_path, "name,a,b,label\nx,1,2,yes\ny,3,4,no\n"), "a", features=["b"])
    np.testing.assert_array_equal(data.X, [[2], [4]])
    np.testing.assert_array_equal(data.y, [1, 3])


def test_read_csv_skips_blank_lines_and_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa,y\n1,0\n\n2,1\n".encode())
    data = datasets.read_csv(path)
    assert data.feature_names == ["a"] and data.X.shape == (2, 1)


@pytest.mark.parametrize(
    "text, target, features, match",
    [
        ("a,y\n1,2\n", "z", None, r"no target column 'z' .* columns are: a, y"),
        ("a,y\n1,2\n", None, ["b"], r"no feature column 'b'"),
        ("a,y\n1,2\n", "y", ["a", "y"], r"'y' is the target"),
        ("a,y\n1,2\nx1,2\n", None, None, r"column 'a' .* not numeric: line 3 holds 'x1'"),
        ("a,y\nx1,2\n", None, ["a"], r"column 'a' .* not numeric: line 2 holds 'x1'"),
        ("a,b,y\n1,2,3\n", None, ["a", "b", "a"], r"feature 'a' is listed twice"),
        ("a,y\nx1,2\n", None, None, r"no numeric feature columns besides the target 'y'"),
        ("a,y\n1,2\n,3\n", None, None, r"column 'a' .* 1 missing, NaN or infinite values, the first on line 3"),
        ("a,y\n1,2\nnan,3\ninf,4\n", None, None, r"2 missing, NaN or infinite values, the first on line 3"),
        ("a,y\n1,2\n2,nan\n", None, None, r"column 'y' .* the first on line 3"),
        ("a,y\n1,yes\n2,\n", None, None, r"column 'y' .* the first on line 3"),
        ("a,y\n1,2\n3\n", None, None, r"line 3 has 1 fields; the header has 2"),
        ("a,a\n1,2\n", None, None, r"two columns named 'a'"),
        ("a,y\n", None, None, r"header but no data rows"),
        ("", None, None, r"is empty"),
        ("y\n1\n", None, None, r"no numeric feature columns"),
    ],
)
def test_read_csv_errors(tmp_path, text, target, features, match):
    with pytest.raises(ValueError, match=match):
        datasets.read_csv(_csv(tmp_path, text), target, features=features)


def test_read_csv_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such data file"):
        datasets.read_csv(tmp_path / "nope.csv")


def test_default_features_leave_out_label_columns(tmp_path):
    # any numeric column can be the target: the label column is then left out, and said so
    data = datasets.breast_cancer(target="mean_radius")
    assert "diagnosis" not in data.feature_names and data.left_out == ("diagnosis",)
    assert data.X.shape == (569, 29) and data.y.dtype == np.float64
    data = datasets.read_csv(_csv(tmp_path, "a,kind,y\n1,x,2\n3,y,4\n"))
    assert data.feature_names == ["a"] and data.left_out == ("kind",)
    assert datasets.breast_cancer().left_out == ()


def test_standardized_survives_huge_and_tiny_columns():
    base = datasets.breast_cancer()
    for factor in (1e200, 1e-200, 1.0):
        scaled = dataclasses.replace(base, X=base.X * factor)
        got = scaled.standardized().X  # no overflow warning (warnings are errors here)
        np.testing.assert_allclose(got, base.standardized().X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(base.standardized().X.mean(axis=0), 0, atol=1e-13)
    np.testing.assert_allclose(base.standardized().X.std(axis=0), 1, rtol=1e-13)

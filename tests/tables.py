"""The default data written as files that dask.dataframe reads: Parquet and CSV, three of each."""

import pytest

from fastgd import datasets


def write_example_tables(folder, rows_per_file=190):
    """folder/data/part-{0,1,2}.parquet and folder/parts/part-{0,1,2}.csv: the breast-cancer table in three parts."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    d = datasets.breast_cancer()
    frame = pd.DataFrame(d.X, columns=d.feature_names).assign(diagnosis=d.y)
    (folder / "data").mkdir()
    (folder / "parts").mkdir()
    for i in range(3):
        part = frame.iloc[i * rows_per_file : (i + 1) * rows_per_file]
        part.to_parquet(folder / "data" / f"part-{i}.parquet", index=False)
        part.to_csv(folder / "parts" / f"part-{i}.csv", index=False)
    return folder

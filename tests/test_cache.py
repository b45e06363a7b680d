"""numba's on-disk cache of fastgd's kernels: keyed on every source file of the package, never stale."""

import os
from pathlib import Path

import fastgd


def test_an_edit_to_a_formula_file_recompiles_the_kernels_that_inline_it(tmp_path):
    # numba keys a cached kernel on its own file only: an edit to _math.py left _kernels.py's
    # cached loss kernels stale, and the README's test command tested the old formula
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "fastgd"
    shutil.copytree(Path(fastgd.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    code = "import fastgd; print(fastgd.__file__); print(float(fastgd.losses.mse.value(3.0, 1.0)))"

    def run():
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        env["PYTHONPATH"] = str(tmp_path)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        where, value = done.stdout.split()
        assert Path(where).resolve().parent == copy.resolve()  # the copy, not the installed package
        return float(value)

    assert run() == 4.0  # (3 - 1)^2, compiled into the copy's cache
    math = copy / "_math.py"
    text = math.read_text()
    assert "    r = p - t\n    return r * r\n" in text
    math.write_text(text.replace("    r = p - t\n    return r * r\n", "    r = p - t\n    return r * r * 10\n", 1))
    assert run() == 40.0  # the kernel file is unchanged, yet its cached code follows the formula's edit

"""Every ``fastgd`` command shown in the README and docs/ runs (the Python examples run as doctests)."""

import re
import shlex
from pathlib import Path

import pytest

from fastgd import cli
from tests.tables import write_example_tables

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands():
    found = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.splitlines():
                for part in line.split("&&"):
                    words = shlex.split(part)
                    if words and words[0] == "fastgd":
                        found.append(pytest.param(words[1:], id=f"{page.name}: {part.strip()}"))
    return found


COMMANDS = _commands()


def test_the_docs_show_every_command():
    shown = {tuple(p.values[0][:1]) for p in COMMANDS} | {tuple(p.values[0][:2]) for p in COMMANDS}
    for command in ("fit", "sweep", "bench", "formulas"):
        assert (command,) in shown
    for name in cli.PLOTS:
        assert ("plot", name) in shown


@pytest.mark.parametrize("argv", COMMANDS)
def test_documented_command_runs(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if any(a.startswith(("data/", "parts/")) for a in argv):
        write_example_tables(tmp_path)
    assert cli.main(argv) == 0, capsys.readouterr().err
    for flag in ("--out", "--plot", "-o"):
        if flag in argv:
            assert (tmp_path / argv[argv.index(flag) + 1]).stat().st_size > 0

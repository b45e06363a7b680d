"""nox sessions: tests, cov, lint, bench, docs (see README)."""

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session):
    """The README's test command."""
    session.install(".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def cov(session):
    """The suite with the JIT off, so coverage sees every kernel line.

    Pure-Python arithmetic has no FMA contraction and NumPy scalars warn where
    compiled code does not, so the bit-level tests (marker jit_numerics) are
    deselected and RuntimeWarnings are not errors here.
    """
    session.install(".[test]", "coverage")
    session.run(
        "coverage",
        "run",
        "--source=fastgd",
        "-m",
        "pytest",
        "tests",
        "-n",
        "0",  # one process: coverage measures this one only
        "-m",
        "not jit_numerics",
        "-W",
        "ignore::RuntimeWarning",
        *session.posargs,
        env={"NUMBA_DISABLE_JIT": "1"},
    )
    # a floor, so that a change that leaves code untested fails the session (not measured against this value yet)
    session.run("coverage", "report", "--show-missing", "--fail-under=80")


@nox.session
def lint(session):
    """ruff on everything."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "--diff", ".")  # unformatted code fails the session


@nox.session
def bench(session):
    """Timed benchmarks against NumPy (and JAX), then the Markdown table."""
    session.install(".[bench]")
    Path("bench/results").mkdir(exist_ok=True)  # pytest-benchmark does not create the JSON's folder
    session.run(
        "python",
        "-m",
        "pytest",
        "bench",
        "--benchmark-enable",
        "--benchmark-json=bench/results/latest.json",
        *session.posargs,
    )
    session.run("python", "bench/report.py", "bench/results/latest.json", "docs/benchmarks.md")


@nox.session
def docs(session):
    """Every example in docs/ and the README runs, then the mkdocs site builds with warnings as errors."""
    session.install(".[test,docs]")
    session.run("python", "-m", "pytest", "docs", "README.md", "tests/test_docs.py", "-p", "no:cacheprovider")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})

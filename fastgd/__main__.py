"""``python -m fastgd``: the ``fastgd`` command (fit, sweep, bench, plot, formulas)."""

import sys

from . import cli

if __name__ == "__main__":
    sys.exit(cli.main())

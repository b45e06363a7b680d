"""``python -m fastgd``: a tour of every loss and activation on an embedded default."""

import sys

from . import cli

if __name__ == "__main__":
    sys.exit(cli.main())

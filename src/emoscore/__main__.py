"""``python -m emoscore``: the command-line runner (see :mod:`emoscore.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

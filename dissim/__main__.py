"""``python -m dissim run|library ...``: the ``dissim`` command (parser in :mod:`dissim.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m dissim"))

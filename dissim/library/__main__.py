"""``python -m dissim.library build|add|remove|query|info`` (``dissim library``; parser in :mod:`dissim.cli`)."""

import sys

from ..cli import library_main as main

if __name__ == "__main__":
    sys.exit(main())

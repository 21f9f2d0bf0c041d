"""``python -m dissim.pipelines.run``: the command line that runs recipes (``dissim run``).

With no arguments: the embedded ``digits`` data set and the ``quick`` pipeline (CPU-sized).
The parser and its contract live in :mod:`dissim.cli`.
"""

import sys

from ..cli import run_main as main

if __name__ == "__main__":
    sys.exit(main())

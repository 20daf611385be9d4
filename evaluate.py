"""Score the lip reader, ``lipnet evaluate``: ``python evaluate.py -d data``.

The code is `lipnet.commands.evaluate`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.evaluate import evaluate, main, parse_args

__all__ = ["evaluate", "main", "parse_args"]  # what scripts and tests used from evaluate.py

if __name__ == "__main__":
    sys.exit(main())

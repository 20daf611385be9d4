"""Mouth crops from videos, ``lipnet extract``: ``python preprocessing/extract.py -v GRID -o data``.

The code is `lipnet.commands.extract`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.extract import main

if __name__ == "__main__":
    sys.exit(main())

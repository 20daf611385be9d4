"""Pack extracted crops into one file for a GPU run: ``python preprocessing/pack.py``.

The code is `lipnet.commands.pack`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.pack import main

if __name__ == "__main__":
    sys.exit(main())

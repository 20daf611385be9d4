"""The lip reader's command line, ``lipnet read``: ``python predict.py -v clip.mp4``.

The code is `lipnet.commands.read`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.read import main

if __name__ == "__main__":
    sys.exit(main())

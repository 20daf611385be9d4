"""Train the lip reader, ``lipnet train``: ``python train.py -e 70``.

The code is `lipnet.commands.train`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.train import main

if __name__ == "__main__":
    sys.exit(main())

"""Is the voice in sync with the lips, ``lipnet sync``: ``python sync.py -v clip.mp4``.

The code is `lipnet.commands.sync`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.sync import main

if __name__ == "__main__":
    sys.exit(main())

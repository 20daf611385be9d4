"""Speech to a viseme timeline, ``lipnet lipsync``: ``python lipsync.py speech.wav``.

The code is `lipnet.commands.lipsync`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.lipsync import main

if __name__ == "__main__":
    sys.exit(main())

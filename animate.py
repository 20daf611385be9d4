"""Speech to mouth animation, ``lipnet animate``: ``python animate.py -a speech.wav``.

The code is `lipnet.commands.animate`; this file keeps the documented script working (``--help``).
"""

import sys

from lipnet.commands.animate import main

if __name__ == "__main__":
    sys.exit(main())

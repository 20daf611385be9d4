"""lipnet's configuration lives in lipnet/env.py; this module keeps ``import env`` working for scripts written
against the checkout before the package could be installed."""

from lipnet.env import *  # noqa: F403

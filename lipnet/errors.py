"""The one exception lipnet raises for bad input; command-line tools print it as a single line."""


class LipnetError(Exception):
    """A problem with an input the user gave: the message names the file and the problem."""

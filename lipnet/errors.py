"""The one exception lipnet raises for bad input; command-line tools print it as a single line."""

from pathlib import Path


class LipnetError(Exception):
    """A problem with an input the user gave: the message names the file and the problem."""


def input_file(path: str | Path, kind: str) -> Path:
    """`path` as a Path, once it is a non-empty file; else LipnetError naming it (`kind`: "a video", ...)."""
    path = Path(path)
    if not path.exists():
        raise LipnetError(f"{path}: no such file")
    if path.is_dir():
        raise LipnetError(f"{path}: is a directory, not {kind}")
    if path.stat().st_size == 0:
        raise LipnetError(f"{path}: empty file")
    return path

"""Durable file writes: every output lipnet produces goes through here, so a kill never leaves half a file."""

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file beside `path`, then rename it over `path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary file's name beside `path`, renamed over `path` when the block ends without an error and deleted
    when it raises: for writers that need a name rather than an open file (FFmpeg's muxers, a check that reads
    back what was written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600 files; outputs are meant to be shared like any other
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partial(directory: str | Path, recursive: bool = False) -> int:
    """Delete temporary files `atomic_write` left behind when its process was killed (SIGKILL skips
    every cleanup); returns how many. Call it when a job resumes in `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    partial = list((directory.rglob if recursive else directory.glob)(".*.tmp"))
    for path in partial:
        path.unlink(missing_ok=True)
    return len(partial)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically (UTF-8)."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def sha1(path: str | Path) -> str:
    """SHA-1 of a file's bytes, hex: what a model trained on another model's outputs records of it."""
    import hashlib

    return hashlib.sha1(Path(path).read_bytes()).hexdigest()

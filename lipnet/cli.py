"""What the command-line tools share: a quiet start, one-line errors and the loop over the input files.

TensorFlow prints several lines of C++ logging on import (absl, oneDNN, CUDA probing) that no
environment variable silences; `start()` imports Keras (and TensorFlow, which Keras loads on every
backend when it is installed) with standard error muted so a user sees lipnet's output and nothing
else. Call it before importing any lipnet module that uses Keras.
"""

import argparse
import dataclasses
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from lipnet.errors import LipnetError


def start() -> None:
    """Set quiet, fast backend defaults and import Keras with the C++ start-up chatter muted. With the environment
    variable LIPNET_VERBOSE=1 nothing is muted: TensorFlow's, CUDA's, FFmpeg's and OpenCV's own messages show."""
    verbose = os.environ.get("LIPNET_VERBOSE", "") not in ("", "0")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # about 2x faster on CPU
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # not FFmpeg's decoder messages on damaged videos
    import cv2

    if verbose:
        import keras  # noqa: F401

        return
    # nor OpenCV's own lines (a camera it cannot open, a file it cannot read): lipnet says what went wrong in one
    # line of its own. The environment variable is too late once cv2 is imported.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import keras  # noqa: F401 (the import is the point: Keras picks and loads its backend)

        # Keras imports TensorFlow whenever it is installed, whatever the backend (for random seeds and data
        # adapters), and TensorFlow probes for GPUs (and logs) on first use: both happen here, muted.
        if importlib.util.find_spec("tensorflow"):
            import tensorflow as tf

            tf.config.list_physical_devices()
            # and its Python warnings, such as "triggered tf.function retracing" when clips of several lengths are
            # read in one run: advice to whoever writes the model, not to its user
            tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def live_arguments(parser: argparse.ArgumentParser, what: str, each_frame: str) -> None:
    """The options of a tool that follows live sound: ``--live [SOURCE]`` (`what` comes as the sound arrives) and
    ``--jsonl`` (every frame as a JSON line: `each_frame`)."""
    live = parser.add_argument_group("live (--live)")
    live.add_argument(
        "--live", nargs="?", const="default", metavar="SOURCE",
        help=f"{what} as the sound arrives: the default microphone, a device number or name, or a file played",
    )  # fmt: skip
    live.add_argument("--jsonl", action="store_true", help=f"live: every frame as a JSON line{each_frame}")
    live.add_argument("--fast", action="store_true", help="--live FILE: as fast as it is computed, not at its pace")


def follow(lines: Iterable[str]) -> int:
    """Print lines as they come (a live tool's output), each flushed at once; returns the exit status: a LipnetError
    is one line and 1, Ctrl-C or the reading program closing the pipe a clean stop."""
    try:
        for line in lines:
            print(line, flush=True)
    except LipnetError as err:
        return fail(err)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0
    return 0


def formats(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """The argparse type of a ``-f`` option: ``txt,json`` -> ("txt", "json") in the order given, ``all`` -> every
    one of `choices`; an unknown name is argparse's one-line usage error listing the choices."""

    def parse(value: str) -> tuple[str, ...]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if "all" in names:
            return choices
        if unknown := [name for name in names if name not in choices]:
            raise argparse.ArgumentTypeError(
                f"unknown format {', '.join(unknown)}: choose from {', '.join(choices)} or all"
            )
        return tuple(dict.fromkeys(names))

    return parse


def missing(*paths: str | None) -> str | None:
    """The one-line error for the first of `paths` (None: not given) that does not exist, else None. Tools call it
    before `start`, so that a wrong path is said at once, not after Keras has loaded."""
    for path in paths:
        if path is not None and not os.path.exists(path):
            return f"{path}: no such file or directory"
    return None


def fail(message: object) -> int:
    """Print ``error: <message>`` on one line to standard error; returns the exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    return 1


@dataclasses.dataclass(frozen=True)
class Input:
    """One input file of a tool's run and the name its outputs take: its stem when the file was given by name
    (`alone`), else its path under the directory given, without suffix (outputs mirror the input tree)."""

    path: Path
    name: Path
    alone: bool

    def target(self, option: str, suffix: str) -> Path:
        """Where an output an option names goes (--plot, --annotate, --fix): the option's path itself for a file
        given by name (unless it is a directory), else ``<name><suffix>`` under the option's directory."""
        target = Path(option)
        if self.alone and not target.is_dir():
            return target
        return target / self.name.with_name(self.name.name + suffix)


def inputs(paths: Iterable[str], find: Callable[[Path], list[Path]], what: str) -> list[Input]:
    """The input files of a run: each of `paths` that is a file, and the files `find` finds under each directory.
    LipnetError naming a directory with none of `what` in it. The paths exist: `missing` said so before Keras
    loaded."""
    found = []
    for name in paths:
        root = Path(name)
        if root.is_file():
            found.append(Input(root, Path(root.stem), True))
            continue
        files = find(root)
        if not files:
            raise LipnetError(f"{root}: no {what}")
        found += [Input(path, path.relative_to(root).with_suffix(""), False) for path in files]
    return found


def one_target(found: list[Input], **options: str | None) -> None:
    """LipnetError when options that name one output file (``plot="out.png"``) are given for several files named one
    by one: their outputs would overwrite each other."""
    if len(found) > 1 and any(i.alone for i in found) and (given := [k for k, v in options.items() if v]):
        flags = " and ".join(f"--{k}" for k in given)
        raise LipnetError(f"{flags} name{'s' if len(given) == 1 else ''} one file: give one file, or one directory")


def each(
    found: list[Input], handle: Callable[[Input], str | None], report: Callable[[Input, str], str] | None = None
) -> int:
    """Run `handle` on every input, printing the line it returns; the exit status. One input: its LipnetError is the
    tool's one-line error. Several: a file that fails is a ``failed:`` line naming it (an unforeseen error too: one
    file must not end a long directory run) and the run goes on. `report(input, message)`, when given, makes the
    line printed on standard output for a failure instead (a JSON tool's one object per input)."""
    failed = 0
    for item in found:
        try:
            line = handle(item)
        except LipnetError as err:
            failed += 1
            if report is not None:
                print(report(item, str(err)), flush=True)
            elif len(found) == 1:
                return fail(err)
            else:
                message = str(err) if str(err).startswith(str(item.path)) else f"{item.path}: {err}"
                print(f"failed: {message}", file=sys.stderr, flush=True)
            continue
        except Exception as err:
            if len(found) == 1:
                raise
            failed += 1
            print(f"failed: {item.path}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            continue
        if line is not None:
            print(line, flush=True)
    return 1 if failed else 0

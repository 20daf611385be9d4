"""Turn a tree of videos into mouth-crop arrays: ``python preprocessing/extract.py -v GRID -o data``.

Output mirrors the input tree: ``GRID/s1/bbaf2n.mpg`` -> ``data/s1/bbaf2n.npy`` (T, 50, 100, 3) uint8 RGB
plus a sidecar ``data/s1/bbaf2n.track.npz`` (landmarks, filled frames, source fps); a clip's sentence file
(``.lab`` or ``.align`` beside the video) is copied beside its crops for train.py. Finished clips are
skipped on a rerun, files are written atomically, and failures are listed in ``data/failures.tsv``.
"""

import argparse
import multiprocessing
import os
import sys
from collections import defaultdict
from pathlib import Path

import cv2
from tqdm import tqdm

from lipnet import (
    env,
    grid,
)
from lipnet.errors import LipnetError
from lipnet.mouth import MouthExtractor
from lipnet.storage import atomic_write, atomic_write_text, remove_partial

_extractor: MouthExtractor | None = None  # set by main() before forking, so workers share the loaded model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-v", "--videos-path", required=True, type=Path, help="video file or directory (e.g. GRID/sN/*.mpg)")
    p.add_argument("-o", "--output-path", required=True, type=Path, help="where the .npy crops go")
    p.add_argument(
        "-pp",
        "--predictor-path",
        type=Path,
        help="dlib 68-point landmark model (default: the one shipped by face-recognition-models)",
    )
    p.add_argument("-p", "--pattern", default="*", help="file name pattern to match, e.g. 'b*.mpg'")
    p.add_argument(
        "-fv", "--first-video", type=int, default=0, help="first video index extracted in each speaker (inclusive)"
    )
    p.add_argument(
        "-lv", "--last-video", type=int, default=None, help="last video index extracted in each speaker (exclusive)"
    )
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    p.add_argument(
        "--frames",
        type=int,
        default=env.FRAME_COUNT,
        help="pad (repeating the last frame) or trim every clip to this many frames at 25 fps; 0 keeps each clip's length",
    )
    return p.parse_args(argv)


def select(root: Path, pattern: str, first: int, last: int | None) -> list[Path]:
    """Videos under root matching pattern, keeping indices [first, last) of each speaker's sorted list."""
    by_speaker = defaultdict(list)
    for path in grid.find_videos(root, pattern):
        by_speaker[path.parent].append(path)
    return [p for paths in by_speaker.values() for p in paths[first:last]]


def output_for(video: Path, root: Path, out: Path) -> Path:
    relative = video.name if root.is_file() else video.relative_to(root)
    return out / Path(relative).with_suffix(".npy")


def copy_labels(video: Path, target: Path) -> None:
    """Put the clip's sentence files (``.align``, ``.lab``) beside its crops, where train.py and evaluate.py look."""
    for suffix in grid.LABEL_SUFFIXES:
        source, copy = video.with_suffix(suffix), target.with_suffix(suffix)
        if source.is_file() and not (copy.is_file() and copy.read_bytes() == source.read_bytes()):
            atomic_write(copy, lambda f, source=source: f.write(source.read_bytes()))


def _work(job: tuple[Path, Path, int | None]) -> tuple[Path, str | None, int]:
    video, target, frames = job
    try:
        track = _extractor.extract(video, frames=frames)
        track.save(target)
        return video, None, track.filled
    except LipnetError as err:
        return video, str(err), 0
    except Exception as err:  # a broken clip must not stop a corpus-wide run
        return video, f"{video}: {type(err).__name__}: {err}", 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    if not args.videos_path.exists():
        print(f"error: {args.videos_path}: no such file or directory", file=sys.stderr)
        return 1
    videos = select(args.videos_path, args.pattern, args.first_video, args.last_video)
    if not videos:
        print(f"error: {args.videos_path}: no videos matching {args.pattern!r}", file=sys.stderr)
        return 1
    frames = args.frames or None
    jobs = [(v, output_for(v, args.videos_path, args.output_path), frames) for v in videos]
    remove_partial(args.output_path, recursive=True)  # left by a run that was killed mid-write
    todo = [j for j in jobs if not j[1].exists()]
    print(f"{len(videos)} videos, {len(videos) - len(todo)} already extracted, {len(todo)} to do, {args.jobs} workers")
    global _extractor
    try:
        # ~1.5 s, so load it once, before the workers fork, and only if there is work.
        _extractor = MouthExtractor(args.predictor_path) if todo else None
    except LipnetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    failures, filled = [], 0
    workers = min(args.jobs, len(todo))
    pool = None
    if workers > 1:
        # One OpenCV thread per worker, set before forking: a forked child that touches OpenCV's thread pool
        # deadlocks. Fork before tqdm starts its monitor thread, too.
        cv2.setNumThreads(1)
        pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        results = pool.imap_unordered(_work, todo, chunksize=2) if pool else map(_work, todo)
        with tqdm(total=len(todo), unit="clip", disable=None) as bar:
            for video, error, n_filled in results:
                filled += n_filled
                if error:
                    failures.append((video, error))
                    bar.write(f"failed: {error}")
                bar.update()
    finally:
        if pool:
            pool.terminate()  # every result is in (or the run was interrupted): the workers are idle
            pool.join()

    for video, target, _ in jobs:
        if target.exists():
            copy_labels(video, target)
    report = args.output_path / "failures.tsv"
    if failures:
        atomic_write_text(report, "".join(f"{v}\t{e}\n" for v, e in failures))
    elif report.exists():
        report.unlink()
    done = len(todo) - len(failures)
    print(f"done: {done} extracted, {len(videos) - len(todo)} skipped, {len(failures)} failed, {filled} frames filled")
    if failures:
        print(f"failures listed in {report}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

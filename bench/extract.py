"""Mouth extraction throughput (GRID clips/s) through the real CLI, against a seed-style baseline.

    python bench/extract.py -v /work/shared/grid/s1 --clips 40 --jobs 1 2

Each run times ``preprocessing/extract.py``'s main() on a fresh output folder, model loading included.
The baseline, timed in the same run on the same clips and worker counts, is the seed LipNet's approach:
dlib's HOG detector with upsample=1 on every frame, the 68 landmarks, and a fixed 100x50 pixel box
around the mouth centroid. It is ~15x slower, so it runs on the first --baseline-clips clips only.
"""

import argparse
import datetime
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2  # noqa: E402
import dlib  # noqa: E402
import numpy as np  # noqa: E402

from lipnet import (  # noqa: E402
    env,  # noqa: E402
    grid,
    video,
)
from lipnet.mouth import MOUTH, MouthExtractor, default_predictor_path  # noqa: E402
from preprocessing import extract  # noqa: E402

_seed: tuple | None = None  # (detector, predictor), loaded before the baseline's workers fork


def seed_crops(path: Path) -> np.ndarray:
    """The seed's mouth crops of one clip: detect on every frame, fixed box around the mouth centroid."""
    detector, predictor = _seed
    clip = video.read(path)[0]
    centre, crops = np.array(clip.shape[2:0:-1]) / 2, []  # the frame centre until a face is found
    for frame in clip:
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        faces = detector(gray, 1)
        if faces:
            shape = predictor(gray, max(faces, key=lambda r: r.area()))
            centre = np.array([(p.x, p.y) for p in list(shape.parts())[MOUTH]], dtype=np.float32).mean(0)
        crops.append(cv2.getRectSubPix(frame, (env.IMAGE_WIDTH, env.IMAGE_HEIGHT), tuple(map(float, centre))))
    return np.stack(crops)


def _seed_work(job: tuple[Path, Path]) -> None:
    path, out = job
    np.save(out / f"{path.stem}.npy", seed_crops(path))


def seed_rate(clips: list[Path], jobs: int, out: Path) -> float:
    """Clips per second of the seed-style baseline with `jobs` processes, model loading included."""
    global _seed
    started = time.perf_counter()
    _seed = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(default_predictor_path()))
    out.mkdir(parents=True)
    work = [(c, out) for c in clips]
    if jobs > 1:
        cv2.setNumThreads(1)  # in the parent: a forked child that touches OpenCV's thread pool deadlocks
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            pool.map(_seed_work, work, chunksize=1)
    else:
        list(map(_seed_work, work))
    return len(clips) / (time.perf_counter() - started)


def cli_rate(tree: Path, n: int, jobs: int, out: Path) -> float:
    """Clips per second of ``extract.py -v tree -o out -j jobs``, model loading included."""
    started = time.perf_counter()
    if extract.main(["-v", str(tree), "-o", str(out), "-j", str(jobs)]) != 0:
        raise SystemExit(f"extract.py failed on {tree}")
    elapsed = time.perf_counter() - started
    if len(list(out.rglob("*.npy"))) != n:
        raise SystemExit(f"extract.py wrote {len(list(out.rglob('*.npy')))} crops, expected {n}")
    return n / elapsed


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-v", "--videos", type=Path, default=Path("/work/shared/grid/s1"), help="folder of GRID clips")
    p.add_argument("--clips", type=int, default=40, help="the first N clips (sorted by name) are timed")
    p.add_argument("--baseline-clips", type=int, default=10, help="the first N of those run through the baseline")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    args = p.parse_args()
    clips = grid.find_videos(args.videos)[: args.clips]
    if not clips:
        raise SystemExit(f"{args.videos}: no videos")
    baseline = clips[: args.baseline_clips]
    print(f"{datetime.date.today()}, {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    print(f"{len(clips)} clips from {args.videos} ({clips[0].name} .. {clips[-1].name}), baseline on {len(baseline)}")
    started = time.perf_counter()
    MouthExtractor()
    print(f"loading the landmark model takes {time.perf_counter() - started:.1f} s per run (included in the rates)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp, "GRID", "s1")
        tree.mkdir(parents=True)
        for clip in clips:
            (tree / clip.name).symlink_to(clip.resolve())
        for jobs in args.jobs:
            ours = cli_rate(tree.parent, len(clips), jobs, Path(tmp, f"ours-{jobs}"))
            seed = seed_rate(baseline, jobs, Path(tmp, f"seed-{jobs}"))
            rows.append((jobs, ours, seed))
    print("\n| -j | extract.py clips/s | seed-style clips/s | ratio |\n|---|---|---|---|")
    for jobs, ours, seed in rows:
        print(f"| {jobs} | {ours:.2f} | {seed:.2f} | {ours / seed:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

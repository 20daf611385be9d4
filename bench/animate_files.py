"""The mouth animation users receive, scored from the files (issue #24): the ``.anim.csv`` rows `animate.py` writes.

    python bench/animate_files.py            # held-out s1 (110 clips) and the 10 other speakers' samples

Each clip's sound goes through `lipnet.commands.animate.animate_file`, the function `animate.py` runs per file,
and its ``.anim.csv`` is read back. Two questions, both against the clip's reference sentence force-aligned to its
sound:

- **Closures**: of the /p b m/ said, how many meet lips that close (`animator.closed_lips` on the file's 20 mouth
  points) within a frame (40 ms) of the phone. The baseline, in the same run: the same animator without pressing
  the lips where the student hears /p b m/ (what the tracked GRID lips it learnt from do).
- **Rest in silence**: ``jawOpen`` over the frames at least 0.2 s before the first word and after the last (the
  leading and trailing silence, less the anticipation and release of the mouth), against the tracked lips of the
  same frames of the s1 clips (``lipshape.cached`` of the crops in ``data/s1``, the animator's own targets).
"""

import argparse
import csv
import datetime
import platform
import tempfile
from pathlib import Path

import numpy as np
from common import OTHER_SPEAKERS, SHARED, split

from lipnet import audio, cli, env, grid
from lipnet.animation import animator, lipshape
from lipnet.commands import animate
from lipnet.speech import align

MARGIN = 0.2  # seconds kept clear of the first and last word: the mouth opens ahead of speech and closes after


def clips() -> dict[str, list[tuple[Path, Path]]]:
    return {
        "held-out s1": [
            (SHARED / "s1" / f"{s}.mp4", SHARED / "align" / "s1" / f"{s}.align") for s in split("s1_heldout")
        ],
        "other speakers": [
            (SHARED / "samples" / f"{s}.mpg", SHARED / "align" / speaker / f"{s}.align")
            for s, speaker in OTHER_SPEAKERS.items()
        ],
    }


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """times (T,), jawOpen (T,) and mouth points (T, 20, 2) of an ``.anim.csv``."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    times = np.array([float(r["time"]) for r in rows])
    jaw = np.array([float(r["jawOpen"]) for r in rows])
    points = np.array(
        [[[float(r[f"x{48 + i}"]), float(r[f"y{48 + i}"])] for i in range(lipshape.POINTS)] for r in rows]
    )
    return times, jaw, points


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    cli.start()
    model, shape = animator.load(env.ANIMATOR_MODEL), lipshape.load_model()
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {env.ANIMATOR_MODEL.name}")
    print(
        "\n| clips | /p b m/ | closed, files (animate.py) | closed, unpressed (baseline) | jawOpen at rest, files |"
        " tracked lips, same frames | rest frames with jawOpen <= 0.2 |"
    )
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for name, pairs in clips().items():
            closed = unpressed = bilabials = 0
            rest, tracked_rest = [], []
            for video, align_file in pairs:
                samples = audio.load(video)
                words = grid.read_align(align_file)
                phones = align.align(samples, " ".join(w.text for w in words)).phones
                args = animate.parse_args(["-a", str(video), "-o", out, "-f", "csv"])
                animate.animate_file(args, model, shape)
                times, jaw, points = read_csv(Path(out) / f"{video.stem}.anim.csv")
                plain = shape.decode(model.parameters(samples, shape, press=False).coefficients)
                for first, last in animator.bilabial_frames(phones, len(points)):
                    bilabials += 1
                    closed += bool(animator.closed_lips(points[first : last + 1], shape).any())
                    unpressed += bool(animator.closed_lips(plain[first : last + 1], shape).any())
                spoken = [p for p in phones if p.label != align.SILENCE]
                silent = (times < spoken[0].start - MARGIN) | (times > spoken[-1].end + MARGIN)
                rest += list(jaw[silent])
                if name == "held-out s1":  # the lips tracked on the clip's video (crops extracted into data/s1)
                    tracked_jaw = lipshape.cached(env.DATA_DIR / "s1" / f"{video.stem}.npy", shape).channel("jawOpen")
                    n = min(len(tracked_jaw), len(silent))
                    tracked_rest += list(tracked_jaw[:n][silent[:n]])
            tracked = f"{np.mean(tracked_rest):.2f}" if tracked_rest else "–"
            print(
                f"| {name} ({len(pairs)}) | {bilabials} | {closed / bilabials:.1%} | {unpressed / bilabials:.1%} | "
                f"{np.mean(rest):.2f} | {tracked} | {np.mean(np.array(rest) <= 0.2):.1%} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

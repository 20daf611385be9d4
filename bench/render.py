"""How fast predicted lips render on this CPU: the drawn mouth, the talking photo, side by side, and mp4 output.

    python bench/render.py [--repeats 5]

The lips are the tracked landmarks of samples/pwbq6p.mp4 (75 frames), normalised as `lipnet.animation.lipshape` does, as a
predicting model would give them. Each renderer runs over all of them once to warm up, then `--repeats` times; the
table gives the median time per frame and the frames per second that makes (25 are real time). `FaceWarp` uses the
clip's first frame as its photo (GRID: 360x288, the mouth ~40 px wide), and that photo enlarged 3x for a portrait-
sized face. "Side by side" is the real frame beside the drawn mouth (`draw_frame` + `side_by_side`); "write_video"
encodes those joined frames with the clip's sound to mp4 (H.264 + AAC), all of it counted.
"""

import argparse
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lipnet import (
    audio,  # noqa: E402
    env,  # noqa: E402
    video,  # noqa: E402
)
from lipnet.animation import lipshape, renderer  # noqa: E402
from lipnet.mouth import MouthExtractor  # noqa: E402

CLIP = env.ROOT / "samples" / "pwbq6p.mp4"


def cpu() -> str:
    """The processor's model name (Linux), else the machine type."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
    return names[0] if names else platform.machine()


def per_frame(render: Callable[[int], object], frames: int, repeats: int) -> float:
    """Median seconds per frame of `render(index)` over all frames, warm (one pass before)."""
    for index in range(frames):
        render(index)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        for index in range(frames):
            render(index)
        times.append((time.perf_counter() - began) / frames)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="timed passes over the clip (median)")
    args = p.parse_args()

    extractor = MouthExtractor()
    points = lipshape.from_track(extractor.extract(CLIP), lipshape.load_model()).points
    real = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in video.read(CLIP)[0]]
    samples = audio.load(CLIP)
    photo = real[0]
    portrait = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    warp, large = renderer.FaceWarp(photo, extractor), renderer.FaceWarp(portrait, extractor)
    height, width = env.RENDER_SIZE
    n = len(points)

    def joined(index: int) -> np.ndarray:
        return renderer.side_by_side(real[index], renderer.draw_frame(points[index]))

    rows = [
        (
            "draw (cartoon mouth)",
            f"{width}x{height}",
            per_frame(lambda i: renderer.draw_frame(points[i]), n, args.repeats),
        ),
        ("FaceWarp (talking photo)", "360x288", per_frame(lambda i: warp.frame(points[i]), n, args.repeats)),
        ("FaceWarp, photo enlarged 3x", "1080x864", per_frame(lambda i: large.frame(points[i]), n, args.repeats)),
        ("side by side: real frame + draw", f"{360 + width}x288", per_frame(joined, n, args.repeats)),
    ]
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "render.mp4"
        video.write(target, (joined(i) for i in range(n)), env.FPS, samples)
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            video.write(target, (joined(i) for i in range(n)), env.FPS, samples)
            times.append((time.perf_counter() - began) / n)
    rows.append(("side by side + write_video (H.264, AAC)", f"{360 + width}x288", float(np.median(times))))

    print(f"# Rendering ({datetime.date.today()}, {cpu()}, {os.cpu_count()} cores)")
    print(f"\n{n} frames of {CLIP.name}'s tracked lips, median of {args.repeats} warm passes:\n")
    print("| renderer | frame size | ms per frame | frames per second |")
    print("|---|---|---|---|")
    for name, size, seconds in rows:
        print(f"| {name} | {size} | {1000 * seconds:.2f} | {1 / seconds:.0f} |")


if __name__ == "__main__":
    main()

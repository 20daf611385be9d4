"""How fast and how late: lip-sync models per 10 ms hop on this CPU, and the live path's latency, measured.

    python bench/latency.py [--student models/lipsync-student-grid-s1.keras]

Compute per hop (warm, median and 99th percentile over a held-out s1 clip): the student as it runs live — every
10 ms of samples pushed through `Student.stream` (log-mel frame + one GRU step) — against the offline
models (the shipped teacher and bench/lipsync.py's SVM, DNN and sequence classifiers, when runs/lipsync-bench
has them), whose time on the whole clip is divided by its hops: they cannot run live at all (the teacher and
the sequence model read the utterance both ways; all of them normalise over the whole utterance).

End-to-end latency: the clip is played at real-time pace in blocks of `env.LIVE_BLOCK` samples, as `lipsync.py
--live` reads a microphone (`lipnet.speech.microphone.paced`), into the student; for every frame, the wall-clock
time it is emitted less the time the sound at the frame's instant arrived. That is the look-ahead (`StudentConfig.lookahead_ms`), the wait for the
block to fill, and the compute, as they actually add up.
"""

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402
from common import SHARED  # noqa: E402

from lipnet import (
    audio,  # noqa: E402
    env,  # noqa: E402
    grid,  # noqa: E402
)
from lipnet.speech import lipsync, microphone, student  # noqa: E402

CLASSIFIERS = ("svm-ovr.skops", "dnn-ovr.keras", "sequence-ovr.keras")  # bench/lipsync.py's, when trained
TARGET_MS = 60  # end to end: OVRLipSync's class


def per_hop_live(model: student.Student, samples: np.ndarray, block: int) -> np.ndarray:
    """Seconds each block of `block` samples takes through the live path, warm."""
    for _ in range(2):  # warm-up passes: graph tracing, allocations
        live = model.stream()
        for start in range(0, len(samples), block):
            live.push(samples[start : start + block])
    times = []
    live = model.stream()
    for start in range(0, len(samples), block):
        began = time.perf_counter()
        live.push(samples[start : start + block])
        times.append(time.perf_counter() - began)
    return np.array(times)


def per_hop_offline(model, samples: np.ndarray, repeats: int = 10) -> float:
    """Median seconds per hop of a model run on the whole clip at once."""
    model.probabilities(samples)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        model.probabilities(samples)
        times.append(time.perf_counter() - began)
    return float(np.median(times)) / audio.frame_count(len(samples))


def latencies(model: student.Student, path: Path) -> np.ndarray:
    """Milliseconds from the sound at each frame's instant arriving to that frame coming out, played live."""
    emitted, first = [], None
    live = model.stream()
    for chunk in microphone.paced(path):
        if first is None:  # the first block comes when its last sample has arrived
            first = time.perf_counter() - len(chunk) / env.SAMPLE_RATE
        emitted += [(f.time, time.perf_counter()) for f in live.push(chunk)]
    # the frames `end` gives are not live ones (they wait for the sound to stop): left out
    return np.array([1000 * (at - (first + t)) for t, at in emitted])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default=str(env.LIPSYNC_STUDENT))
    p.add_argument("--clips", type=int, default=5, help="held-out s1 clips played live")
    args = p.parse_args()
    model = student.load(args.student)
    held_out = sorted(grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"))[: args.clips]
    paths = [SHARED / f"{key}.mp4" for key in held_out]
    samples = audio.load(paths[0])
    hop = audio.hop_length()

    print(f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}")
    print(f"\n### Compute per 10 ms hop (warm; {len(samples) / env.SAMPLE_RATE:.2f} s clip {held_out[0]})\n")
    print("| model | runs live | median | 99th percentile | real-time factor |")
    print("|---|---|---|---|---|")
    live = per_hop_live(model, samples, hop)
    print(
        f"| student (log-mel + GRU step) | yes | {1000 * np.median(live):.3f} ms | {1000 * np.percentile(live, 99):.3f} ms "
        f"| {env.HOP_MS / 1000 / np.median(live):.0f}x |"
    )
    offline = {"teacher (shipped)": lipsync.load(env.LIPSYNC_MODEL)}
    for name in CLASSIFIERS:
        if (path := env.RUNS_DIR / "lipsync-bench" / name).is_file():
            offline[name.split(".")[0]] = lipsync.load(path)
    offline["student, whole clip at once"] = model
    for name, other in offline.items():
        seconds = per_hop_offline(other, samples)
        print(f"| {name} | no | {1000 * seconds:.3f} ms | — | {env.HOP_MS / 1000 / seconds:.0f}x |")

    block_ms = f"{1000 * env.LIVE_BLOCK / env.SAMPLE_RATE:g} ms"
    print(f"\n### End-to-end latency, {len(paths)} held-out s1 clips played at real-time pace in {block_ms} blocks\n")
    ms = np.concatenate([latencies(model, path) for path in paths])
    print(f"look-ahead {model.config.lookahead_ms:g} ms + the block's wait (under {block_ms}) + compute:\n")
    print(f"| frames | mean | median | 95th percentile | 99th percentile | max | over {TARGET_MS} ms |")
    print("|---|---|---|---|---|---|---|")
    p95, p99 = np.percentile(ms, [95, 99])
    print(
        f"| {len(ms)} | {ms.mean():.1f} ms | {np.median(ms):.1f} ms | {p95:.1f} ms | {p99:.1f} ms | {ms.max():.1f} ms "
        f"| {np.mean(ms > TARGET_MS):.1%} |"
    )


if __name__ == "__main__":
    main()

"""Score what a lip-sync user receives: the cue timeline (`.visemes.tsv`), not only the model's frames.

    python bench/cues.py        # about 5 minutes on 2 cores, the first run aligning the clips (cached in data/)

The shipped classifier (models/lipsync-grid-s1.keras, no words given) gives OVR viseme probabilities every 10 ms.
Cues are made from them three ways: the per-frame argmax (flickers: no tool ships it), short runs merged into a
neighbour (`visemes.smoothed_runs`, what lipsync.py wrote before), and the Viterbi decoder with a minimum duration
and a cost per change of shape (`visemes.decoded_runs`). The decoder's two settings are chosen on s1_val; held-out
s1 (110 clips) and the other speakers (10 clips, 9 speakers) are scored once with the choice.

Scores: OVR agreement with the forced alignment on speech frames (frames whose reference is not silence), and
closures: of the p/b/m phones in the alignment, the share met by a PP cue within ±20 ms (`CLOSURE_SLACK`).

Live (``lipsync.py --live``): the real-time student's frames, shown as they come by `visemes.Hold` (a causal hold:
a new shape after it has led `confirm` frames and the shown one was held `hold` frames; a closure at once), against
the raw change of the per-frame argmax. Its two settings are chosen on s1_val too: the fewest changes a second
within half a point of the most accurate setting, no closure lost.
"""

import datetime
import itertools
import os
import platform

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402
from common import SHARED  # noqa: E402

from lipnet import (  # noqa: E402
    env,  # noqa: E402
    grid,
    visemes,
)
from lipnet.speech import corpus, lipsync  # noqa: E402

CLOSURE_SLACK = 0.02  # seconds either side of a p/b/m that a closed mouth may come
BILABIALS = {"P", "B", "M"}
MIN_DURATIONS = (0.02, 0.03, 0.04, 0.05, 0.07)
SWITCH_COSTS = (0.0, 1.0, 2.0, 4.0, 8.0)
MERGED_BEFORE = 0.07  # seconds: lipsync.py merged shorter runs into a neighbour until the decoder replaced it


def clips() -> dict[str, list]:
    """Validation, held-out s1 and other-speaker clips, labelled by forced alignment."""
    s1 = {p.stem: p for p in corpus.find(SHARED / "s1")}
    split = {name: sorted(grid.read_list(env.SPLITS_DIR / f"{name}.txt")) for name in ("s1_val", "s1_heldout")}
    sets = {
        name: [corpus.load(s1[key.split("/")[-1]], [SHARED / "align"]) for key in keys] for name, keys in split.items()
    }
    sets["others"] = [corpus.load(p) for p in corpus.find(SHARED / "samples") if p.stem != "bbaf2n"]  # bbaf2n is s1's
    return sets


def runs_of(kind: str, p: np.ndarray, rate: float, min_duration: float = 0.0, cost: float = 0.0) -> list[tuple]:
    if kind == "argmax":
        return visemes.smoothed_runs(p.argmax(1), rate, 0.0)
    if kind == "merge":
        return visemes.smoothed_runs(p.argmax(1), rate, min_duration, p)
    return visemes.decoded_runs(p, rate, min_duration, cost)


def score(runs: list[tuple], reference: np.ndarray, clip, rate: float) -> tuple[int, ...]:
    """(speech frames agreeing, speech frames, p/b/m met by PP, p/b/m, cues, frames) of one clip's cues."""
    frames = np.empty(len(reference), np.int64)
    for start, end, label in runs:
        frames[start:end] = label
    speech = reference > 0  # 0 is OVR's sil
    pp = visemes.classes("ovr").index("PP")
    closed = [(s / rate - CLOSURE_SLACK, e / rate + CLOSURE_SLACK) for s, e, label in runs if label == pp]
    bilabials = [ph for ph in clip.phones if ph.label.upper().rstrip("012") in BILABIALS]
    met = sum(any(a < ph.end and ph.start < b for a, b in closed) for ph in bilabials)
    agree = int((frames == reference)[speech].sum())
    return agree, int(speech.sum()), met, len(bilabials), len(runs), len(reference)


def total(rows: list[tuple]) -> tuple[float, float, int, float]:
    """(speech-frame agreement, p/b/m closed, p/b/m, cues a second at 100 frames a second)."""
    a = np.sum(rows, axis=0)
    return a[0] / a[1], a[2] / max(a[3], 1), int(a[3]), a[4] / a[5] * 100


def held(p: np.ndarray, confirm: int, hold: int) -> list[tuple[int, int, int]]:
    """Runs of the shape `visemes.Hold` shows, frame by frame."""
    h, shown = visemes.Hold(visemes.classes("ovr").index("PP"), confirm, hold), []
    for row in p:
        h.push(row)
        shown.append(h.shown)
    return visemes.smoothed_runs(np.array(shown), 100, 0.0)


def live_table(sets: dict, rate: float, alignment_rate: float) -> list[str]:
    """The live student's shapes, raw and held, scored as the offline cues are."""
    from lipnet.speech import student

    model = student.load(env.LIPSYNC_STUDENT)
    data = {
        name: [(clip, model.probabilities(clip.samples)[: len(ref)], ref) for clip, _, ref in group]
        for name, group in sets.items()
    }

    def evaluate(name, confirm, hold):
        return total([score(held(p, confirm, hold), ref, clip, rate) for clip, p, ref in data[name]])

    options = {(c, h): evaluate("s1_val", c, h) for c in (1, 2, 3) for h in (1, 2, 3, 5)}
    best = max(v[0] for v in options.values())  # the fewest changes within half a point of the best, no closure lost
    close = [k for k, v in options.items() if v[0] >= best - 0.005 and v[1] >= options[1, 1][1]]
    chosen = min(close, key=lambda k: (options[k][3], -options[k][0]))
    lines = [
        "",
        "Live, the real-time student (`lipsync.py --live`), shapes as shown frame by frame; on s1_val, agreement /"
        " closures / changes a second for each (confirm, hold):",
        "",
        " ".join(f"({c}, {h}): {v[0]:.1%} / {v[1]:.0%} / {v[3]:.1f};" for (c, h), v in options.items()),
        "",
        f"Chosen on validation (the fewest changes a second within half a point of the best agreement, no closure"
        f" lost; the alignment itself changes {alignment_rate:.1f} times a second): confirm {chosen[0]}, hold"
        f" {chosen[1]} (env.LIPSYNC_LIVE_HOLD).",
        "",
        "| live shapes | held-out s1 speech frames | p/b/m closed | changes a second | others speech frames |"
        " p/b/m closed | changes a second |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, (c, h) in {"every change of the argmax (before)": (1, 1), "held (chosen)": chosen}.items():
        cells = []
        for name in ("s1_heldout", "others"):
            agree, closed, n, per_second = evaluate(name, c, h)
            cells += [f"{agree:.1%}", f"{closed:.1%} of {n}", f"{per_second:.1f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    model = lipsync.load(env.LIPSYNC_MODEL)
    rate = 1000 / env.HOP_MS
    data = {}
    for name, group in clips().items():
        data[name] = []
        for clip in group:
            p = lipsync.timeline(clip.samples, model).probabilities_of("ovr")
            reference = lipsync.clip_targets(clip, "ovr")[: len(p)]
            data[name].append((clip, p[: len(reference)], reference))

    def evaluate(name: str, kind: str, min_duration: float = 0.0, cost: float = 0.0):
        return total(
            [score(runs_of(kind, p, rate, min_duration, cost), ref, clip, rate) for clip, p, ref in data[name]]
        )

    grid_scores = {  # (agreement, closed, p/b/m, cues a second)
        (d, c): evaluate("s1_val", "viterbi", d, c) for d, c in itertools.product(MIN_DURATIONS, SWITCH_COSTS)
    }
    # the most accurate cues on validation among those that close the mouth on at least as many p/b/m as the argmax
    floor = evaluate("s1_val", "argmax")[1]
    chosen = max((k for k, v in grid_scores.items() if v[1] >= floor), key=lambda k: grid_scores[k][0])
    lines = [
        f"# Cue timelines scored as delivered ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores)",
        "",
        "Validation (s1_val), Viterbi decoder: speech-frame agreement / p/b/m closed",
        "",
        "| min duration \\ switch cost | " + " | ".join(f"{c:g}" for c in SWITCH_COSTS) + " |",
        "|---|" + "---|" * len(SWITCH_COSTS),
    ]
    for d in MIN_DURATIONS:
        cells = [f"{grid_scores[d, c][0]:.1%} / {grid_scores[d, c][1]:.0%}" for c in SWITCH_COSTS]
        lines.append(f"| {d * 1000:.0f} ms | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Chosen on validation: min duration {chosen[0] * 1000:.0f} ms, switch cost {chosen[1]:g}.",
        "",
        "| cues | s1_val speech frames | p/b/m closed | held-out s1 speech frames | p/b/m closed | others speech"
        " frames | p/b/m closed | cues a second, held-out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    methods = {
        "per-frame argmax (no cue file)": ("argmax", 0.0, 0.0),
        f"merge of runs < {MERGED_BEFORE * 1000:.0f} ms (before)": ("merge", MERGED_BEFORE, 0.0),
        "Viterbi decoder (chosen)": ("viterbi", *chosen),
    }
    for label, (kind, d, c) in methods.items():
        cells = []
        for name in ("s1_val", "s1_heldout", "others"):
            agree, closed, n, per_second = evaluate(name, kind, d, c)
            cells += [f"{agree:.1%}", f"{closed:.1%} of {n}"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {per_second:.1f} |")
    said = [visemes.smoothed_runs(ref, rate, 0.0) for _, _, ref in data["s1_heldout"]]
    frames = sum(len(ref) for _, _, ref in data["s1_heldout"])
    alignment_rate = sum(map(len, said)) / frames * 100
    lines.append(f"| the forced alignment itself | | | | | | | {alignment_rate:.1f} |")
    lines += live_table(data, rate, alignment_rate)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

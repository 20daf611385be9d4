"""Forced alignment against GRID's hand-checked word boundaries: mean and median absolute error, and speed.

    python bench/align.py                      # all 745 s1 clips and the 10 other-speaker samples
    python bench/align.py --clips 100          # the first 100 s1 clips
    python bench/align.py --guided             # the fallback: the words aligned to the classifier's phones

Every word's start and end from `lipnet.speech.align` is compared with the ``.align`` file of the clip
(``../shared/grid/align/sN``). The same run repeats it with CMUdict's American letter z ("Z IY") in place of the
project lexicon's British "zed", which GRID's speakers say, to show what the lexicon fix is worth.
"""

import argparse
import datetime
import platform
import time
from pathlib import Path

import numpy as np  # noqa: E402
from common import OTHER_SPEAKERS, SHARED  # noqa: E402

from lipnet import (  # noqa: E402
    audio,  # noqa: E402
    grid,
    visemes,
)
from lipnet.errors import LipnetError  # noqa: E402
from lipnet.speech import align  # noqa: E402


def boundary_errors(clips: list[tuple[Path, Path]]) -> tuple[np.ndarray, int, float]:
    """Absolute errors (s) of every word start and end, the clips that failed to align, and the seconds spent."""
    errors, failed, seconds = [], 0, 0.0
    for clip, align_file in clips:
        reference = grid.read_align(align_file)
        samples = audio.load(clip)
        started = time.perf_counter()
        try:
            words = align.align(samples, " ".join(w.text for w in reference)).words
        except LipnetError:
            failed += 1
            continue
        finally:
            seconds += time.perf_counter() - started
        for ours, truth in zip(words, reference):
            errors += [abs(ours.start - truth.start / 25), abs(ours.end - truth.end / 25)]
    return np.array(errors), failed, seconds


def guided_table() -> None:
    """The fallback when alignment fails (`align.guided`: the words force-aligned to the shipped classifier's phone
    posteriors): its word boundaries against GRID's, and its fit for the right sentence against another clip's, with
    the warning threshold (env.GUIDED_MIN_FIT) chosen on s1_val and scored on held-out s1 and the other speakers."""
    from lipnet import env
    from lipnet.speech import lipsync

    model = lipsync.load(env.LIPSYNC_MODEL)
    s1 = {c.stem: c for c in (SHARED / "s1").glob("*.mp4")}
    sets = {
        name: [(s1[key.split("/")[1]], SHARED / "align" / "s1" / f"{key.split('/')[1]}.align") for key in keys]
        for name, keys in ((n, sorted(grid.read_list(env.SPLITS_DIR / f"{n}.txt"))) for n in ("s1_val", "s1_heldout"))
    }
    sets["others"] = [
        (SHARED / "samples" / f"{stem}.mpg", SHARED / "align" / speaker / f"{stem}.align")
        for stem, speaker in OTHER_SPEAKERS.items()
    ]
    results = {}
    for name, clips in sets.items():
        sentences = [" ".join(w.text for w in grid.read_align(a)) for _, a in clips]
        errors, right, wrong, seconds = [], [], [], 0.0
        for i, (clip, align_file) in enumerate(clips):
            p = model.probabilities(audio.load(clip))
            started = time.perf_counter()
            result, fit = align.guided(p, sentences[i])
            seconds += time.perf_counter() - started
            right.append(fit)
            wrong.append(align.guided(p, sentences[(i + 1) % len(clips)])[1])
            for ours, truth in zip(result.words, grid.read_align(align_file)):
                errors += [abs(ours.start - truth.start / 25), abs(ours.end - truth.end / 25)]
        results[name] = (np.array(errors), np.array(right), np.array(wrong), seconds / len(clips))
    _, right, wrong, _ = results["s1_val"]
    if right.min() > wrong.max():  # separable: the middle of the gap, the margin widest either way
        threshold = (right.min() + wrong.max()) / 2
    else:
        threshold = max(np.sort(np.r_[right, wrong]), key=lambda t: np.mean(right >= t) + np.mean(wrong < t))
    print(
        f"\nGuided fallback; warning threshold chosen on s1_val, the middle of the gap between the right sentences'"
        f" lowest fit ({right.min():.2f}) and the wrong ones' highest ({wrong.max():.2f}): fit < {threshold:.2f}"
        " (env.GUIDED_MIN_FIT)"
    )
    print(
        "| clips | words | mean error | median | within 40 ms | right sentence fit (median) | another's (median) |"
        " right kept | wrong warned | AUC | ms/clip |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (errors, right, wrong, seconds) in results.items():
        auc = np.mean(right[:, None] > wrong[None, :]) + 0.5 * np.mean(right[:, None] == wrong[None, :])
        print(
            f"| {name} ({len(right)}) | {len(errors) // 2} | {1000 * errors.mean():.1f} ms | "
            f"{1000 * np.median(errors):.1f} ms | {np.mean(errors <= 0.04):.1%} | {np.median(right):.2f} | "
            f"{np.median(wrong):.2f} | {np.mean(right >= threshold):.1%} | {np.mean(wrong < threshold):.1%} | "
            f"{auc:.3f} | {1000 * seconds:.0f} |",
            flush=True,
        )


def american_z() -> None:
    """Switch the lexicon's letter z to CMUdict's "Z IY" (and drop the decoders built with "zed")."""
    visemes.LEXICON["z"] = ("Z", "IY")
    align._decoder.cache_clear()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=0, help="s1 clips to align (default: all)")
    p.add_argument("--guided", action="store_true", help="the fallback instead: words aligned to the phone posteriors")
    args = p.parse_args()
    if args.guided:
        return guided_table()
    s1 = sorted((SHARED / "s1").glob("*.mp4"))[: args.clips or None]
    sets = {
        "s1": [(c, SHARED / "align" / "s1" / f"{c.stem}.align") for c in s1],
        "s1, letter z": [(c, SHARED / "align" / "s1" / f"{c.stem}.align") for c in s1 if c.stem[3] == "z"],
        "other speakers": [
            (SHARED / "samples" / f"{stem}.mpg", SHARED / "align" / speaker / f"{stem}.align")
            for stem, speaker in OTHER_SPEAKERS.items()
        ],
    }
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| lexicon | clips | words aligned | failed | mean error | median | 90th pct | within 40 ms | s/clip |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lexicon in ("zed (project)", "Z IY (CMUdict)"):
        if lexicon.startswith("Z IY"):
            american_z()
        for name, clips in sets.items():
            errors, failed, seconds = boundary_errors(clips)
            print(
                f"| {lexicon} | {name} ({len(clips)}) | {len(errors) // 2} | {failed} | {1000 * errors.mean():.1f} ms "
                f"| {1000 * np.median(errors):.1f} ms | {1000 * np.percentile(errors, 90):.1f} ms "
                f"| {np.mean(errors <= 0.04):.1%} | {seconds / len(clips):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

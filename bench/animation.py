"""Fit the mouth shape model (PCA of the normalised lips, channel percentiles) on GRID s1 and measure it.

    python bench/lipshape.py                  # fit on s1's training clips, write models/mouth-shape-grid-s1.npz
    python bench/lipshape.py --no-save        # measure only

Reads the sidecars of clips extracted with ``preprocessing/extract.py --frames 0`` (``data/sync/crops/s1`` and
``data/sync/crops/samples``). Fits on the s1 clips in neither ``s1_heldout.txt`` nor ``s1_val.txt``, then prints the
variance per component, the landmark RMSE of the reconstruction with k components on the held-out clips and the
other-speaker samples, and how the channels behave on held-out clips against their forced alignments
(``data/s1/<stem>.alignment.json``): /p b m/ against vowels, speech against the silence before it.
"""

import argparse
from pathlib import Path

import numpy as np  # noqa: E402

from lipnet import (
    env,  # noqa: E402
    grid,  # noqa: E402
)
from lipnet.animation import lipshape  # noqa: E402
from lipnet.speech import align  # noqa: E402

BILABIALS = {"P", "B", "M"}
VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


def shapes(paths: list[Path]) -> dict[str, np.ndarray]:
    """Normalised lip shapes of crop files, by stem."""
    return {p.name.removesuffix(".npy"): lipshape.normalise(*lipshape.read_track(p)) for p in paths}


def rmse(model: lipshape.ShapeModel, clips: dict[str, np.ndarray], k: int) -> float:
    """Root mean square distance of the 20 points from their k-component reconstruction, mouth widths."""
    errors = [np.linalg.norm(model.decode(model.encode(s, k)) - s, axis=2) ** 2 for s in clips.values()]
    return float(np.sqrt(np.concatenate([e.ravel() for e in errors]).mean()))


def frame_labels(path: Path, frames: int) -> list[str]:
    """The aligned phone at each video frame's instant."""
    phones = align.Alignment.from_json(path.read_text()).phones
    out = []
    for j in range(frames):
        t = j / env.FPS
        out.append(next((p.label for p in phones if p.start <= t < p.end), align.SILENCE))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crops", default=str(env.DATA_DIR / "sync" / "crops"), help="extracted clips: s1/, samples/")
    p.add_argument("--alignments", default=str(env.DATA_DIR / "s1"), help="<stem>.alignment.json of the s1 clips")
    p.add_argument("-o", "--output", default=str(env.ANIMATION_MODEL))
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()

    crops = Path(args.crops)
    excluded = {
        key.split("/")[-1]
        for name in ("s1_heldout", "s1_val")
        for key in grid.read_list(env.SPLITS_DIR / f"{name}.txt")
    }
    held_out = {key.split("/")[-1] for key in grid.read_list(env.SPLITS_DIR / "s1_heldout.txt")}
    s1 = sorted((crops / "s1").glob("*.npy"))
    train = shapes([q for q in s1 if q.stem not in excluded])
    test = shapes([q for q in s1 if q.stem in held_out])
    others = shapes([q for q in sorted((crops / "samples").glob("*.npy")) if q.stem != "bbaf2n"])  # bbaf2n is s1's
    model = lipshape.fit(list(train.values()))
    print(
        f"fitted on {model.clips} s1 training clips, {model.frames} frames; held out {len(test)}, others {len(others)}"
    )

    print("\n| component | variance kept | cumulative | RMSE held-out s1 | RMSE other speakers |")
    print("|---:|---:|---:|---:|---:|")
    cumulative = np.cumsum(model.variance_ratio)
    for k in range(1, 13):
        errors = f"{rmse(model, test, k):.4f} | {rmse(model, others, k):.4f}"
        print(f"| {k} | {model.variance_ratio[k - 1]:.1%} | {cumulative[k - 1]:.1%} | {errors} |")
    print(f"| all 40 | | 100% | {rmse(model, test, 40):.4f} | {rmse(model, others, 40):.4f} |")
    print(f"mean-shape RMSE: held-out {rmse(model, test, 0):.4f}, others {rmse(model, others, 0):.4f} (mouth widths)")

    print(
        "\nchannel scaling (mouth widths): "
        + ", ".join(f"{m} {lo:.3f}..{hi:.3f}" for m, lo, hi in zip(lipshape.MEASURES, model.low, model.high))
    )
    groups: dict[str, list[np.ndarray]] = {
        "/p b m/": [],
        "vowels": [],
        "speech": [],
        "silence before": [],
        "silence after": [],
    }
    for stem, points in test.items():
        path = Path(args.alignments) / f"{stem}{align.CACHE_SUFFIX}"
        if not path.is_file():
            continue
        labels = frame_labels(path, len(points))
        values = model.channels(points)
        speaking = np.array([label != align.SILENCE for label in labels])
        first, last = int(np.argmax(speaking)), len(speaking) - int(np.argmax(speaking[::-1]))
        groups["/p b m/"].append(values[[label in BILABIALS for label in labels]])
        groups["vowels"].append(values[[label in VOWELS for label in labels]])
        groups["speech"].append(values[speaking])
        groups["silence before"].append(values[:first])
        groups["silence after"].append(values[last:])
    print("\n| frames | " + " | ".join(lipshape.CHANNELS[:6]) + " | opening |")
    print("|---|" + "---:|" * 7)
    for name, rows in groups.items():
        mean = np.concatenate(rows).mean(0)
        print(
            f"| {name} | "
            + " | ".join(f"{v:.2f}" for v in mean[:6])
            + f" | {mean[lipshape.CHANNELS.index('opening')]:.3f} |"
        )

    if not args.no_save:
        print(f"\nwrote {model.save(args.output)}")


if __name__ == "__main__":
    main()

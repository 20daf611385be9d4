"""Audio -> viseme classifiers against each other and against what users would pick instead, on the same clips.

    python bench/lipsync.py                     # trains what runs/lipsync-bench lacks (resumable), then scores

Data: GRID s1 (745 clips, ../shared/grid/s1), split by clip: lipnet/splits/s1_heldout.txt (110 test clips),
s1_val.txt (60, choosing epochs and the SVM's C and γ), the other 575 for training; and the 10 other-speaker
samples (../shared/grid/samples, 9 speakers). Reference labels: every 10 ms frame's phone from forced alignment
to the known sentence (lipnet.speech.align, validated in bench/align.py), mapped to visemes.

Tables (markdown, on standard output and in <runs>/results.md): the classifiers (SVM, DNN, sequence) and what the
training choices are worth (augmentation, phone vs viseme targets); class sets x balancing; the peers (Rhubarb's
pocketsphinx recognition, pylipsync, HeadAudio) beside the shipped model; robustness to band-limited and telephone
audio; speed. Also writes the shipped model's confusion matrix PNG and per-class F1.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402
from common import load_clips  # noqa: E402

from lipnet import (
    env,  # noqa: E402
    visemes,  # noqa: E402
)
from lipnet.speech import lipsync, teacher  # noqa: E402

#: name -> ModelConfig overrides; every one trained on the same clips
MODELS = {
    "sequence-phones": {},
    "sequence-phones-noaug": {"augment": []},
    "sequence-ovr": {"classes": "ovr"},
    "dnn-ovr": {"kind": "dnn", "classes": "ovr"},
    "svm-ovr": {"kind": "svm", "classes": "ovr"},
    "svm-ovr-weights": {"kind": "svm", "classes": "ovr", "balance": "weights"},
    "svm-ovr-downsample": {"kind": "svm", "classes": "ovr", "balance": "downsample"},
    # class sets x balancing, without augmentation (a fifth of the training time), compared among themselves
    **{
        f"dnn-{classes}-{balance}-noaug": {"kind": "dnn", "classes": classes, "balance": balance, "augment": []}
        for classes in ("ovr", "ovr9", "vowels5", "rhubarb")
        for balance in ("none", "weights", "downsample")
    },
}
SHIPPED = "sequence-phones"


def trained(name: str, runs: Path, train, val) -> lipsync.VisemeModel:
    """The model `name`, trained now unless a previous run saved it."""
    overrides = MODELS[name]
    path = runs / f"{name}{'.skops' if overrides.get('kind') == 'svm' else '.keras'}"
    if path.is_file():
        return lipsync.load(path)
    started = time.perf_counter()
    config = lipsync.ModelConfig(**overrides)
    model = lipsync.train(config, train, val, None if config.kind == "svm" else runs / name, verbose=0)
    model.save(path)
    print(f"trained {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return model


def predictions(model: lipsync.VisemeModel, clips, classes: str) -> list[np.ndarray]:
    return [model.visemes(c.samples, classes).argmax(1) for c in clips]


def telephone(samples: np.ndarray) -> np.ndarray:
    """8 kHz narrow-band telephone audio (300-3400 Hz), back at 16 kHz for the models."""
    import scipy.signal
    import soxr

    narrow = soxr.resample(samples, env.SAMPLE_RATE, 8000)
    band = scipy.signal.butter(6, (300, 3400), btype="band", fs=8000, output="sos")
    return soxr.resample(scipy.signal.sosfilt(band, narrow), 8000, env.SAMPLE_RATE).astype(np.float32)


def low_passed(samples: np.ndarray, cutoff: float = 4000) -> np.ndarray:
    import scipy.signal

    return scipy.signal.sosfilt(scipy.signal.butter(8, cutoff, fs=env.SAMPLE_RATE, output="sos"), samples).astype(
        np.float32
    )


def row(name: str, scores: list[lipsync.Scores]) -> str:
    cells = [f"{s.accuracy:.1%} | {s.speech_accuracy:.1%} | {s.balanced_accuracy:.1%}" for s in scores]
    return f"| {name} | " + " | ".join(cells) + " |"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(env.RUNS_DIR / "lipsync-bench"), help="trained models (reused) and their runs")
    p.add_argument("--only", nargs="*", help="train and score only these models")
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    train, val, test, others = load_clips()
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    say(f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}")
    say(
        f"{len(train)} training, {len(val)} validation, {len(test)} held-out s1 clips; {len(others)} other-speaker clips"
    )
    names = args.only or list(MODELS)
    models = {name: trained(name, runs, train, val) for name in names}

    say("\n### Classifiers, OVR 15 visemes (frame accuracy: all frames | speech frames | balanced)\n")
    say("| model | s1 all | s1 speech | s1 balanced | others all | others speech | others balanced |")
    say("|---|---|---|---|---|---|---|")
    for name in [
        n for n in ("sequence-phones", "sequence-phones-noaug", "sequence-ovr", "dnn-ovr", "svm-ovr") if n in models
    ]:
        scores = [
            lipsync.score_clips(predictions(models[name], clips, "ovr"), clips, "ovr") for clips in (test, others)
        ]
        say(row(name, scores))

    say("\n### Class sets x balancing (held-out s1 | other speakers; all | speech | balanced)\n")
    say(
        "| model | class set | balance | s1 all | s1 speech | s1 balanced | others all | others speech | others balanced |"
    )
    say("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        config = models[name].config
        if config.kind == "sequence" or (config.kind == "dnn" and config.augment):
            continue
        scores = [
            lipsync.score_clips(predictions(models[name], c, config.classes), c, config.classes) for c in (test, others)
        ]
        say(
            row(f"{config.kind} | {config.classes} | {config.balance}", scores).replace(
                f"| {config.kind} |", f"| {config.kind} |", 1
            )
        )

    if SHIPPED in models:
        shipped = models[SHIPPED]
        say(
            "\n### Beside what users would pick instead (OVR 15; all | speech | balanced; speed: seconds of audio per second)\n"
        )
        say("| method | s1 all | s1 speech | s1 balanced | others all | others speech | others balanced | speed |")
        say("|---|---|---|---|---|---|---|---|")
        import peers

        ovr = visemes.classes("ovr")
        methods = {f"lipnet {SHIPPED}": lambda s: ovr_names(shipped.visemes(s, "ovr").argmax(1))}
        methods |= {name: fn for name, fn in peers.PEERS.items() if peers.available(name)}
        for name, method in methods.items():
            method(test[0].samples)  # warm
            started, seconds, scores = time.perf_counter(), 0.0, []
            for clips in (test, others):
                predicted = []
                for clip in clips:
                    labels = method(clip.samples)
                    predicted.append(np.array([ovr.index(v) for v in labels]))
                    seconds += len(clip.samples) / env.SAMPLE_RATE
                scores.append(lipsync.score_clips(predicted, clips, "ovr"))
            speed = seconds / (time.perf_counter() - started)
            say(row(name, scores) + f" {speed:.0f}x |")

        say("\n### Robustness: the shipped model on degraded copies of the same clips (OVR; all | speech | balanced)\n")
        say("| audio | s1 all | s1 speech | s1 balanced | others all | others speech | others balanced |")
        say("|---|---|---|---|---|---|---|")
        for name, degrade in (
            ("original (MP2, 44.1 kHz)", None),
            ("4 kHz low-pass", low_passed),
            ("8 kHz telephone", telephone),
        ):
            scores = []
            for clips in (test, others):
                predicted = [
                    shipped.visemes(degrade(c.samples) if degrade else c.samples, "ovr").argmax(1) for c in clips
                ]
                scores.append(lipsync.score_clips(predicted, clips, "ovr"))
            say(row(name, scores))

        say("\n### Per-class F1 of the shipped model (OVR, held-out s1 | other speakers)\n")
        per = [lipsync.score_clips(predictions(shipped, c, "ovr"), c, "ovr") for c in (test, others)]
        say("| viseme | " + " | ".join(ovr) + " |")
        say("|---|" + "---|" * len(ovr))
        for label, s in zip(("s1", "others"), per):
            say(f"| {label} | " + " | ".join(f"{s.f1.get(c, float('nan')):.2f}" for c in ovr) + " |")
        confusion_png(per, env.ROOT / "models" / "lipsync-grid-s1.confusion.png")
        (runs / "scores.json").write_text(
            json.dumps(
                {k: {"accuracy": s.accuracy, "speech": s.speech_accuracy} for k, s in zip(("s1", "others"), per)}
            )
        )

        say("\n### Phone recognition: the shipped model as a phoneme recogniser, beside pocketsphinx's\n")
        say("| recogniser | s1 frame accuracy | s1 PER | others frame accuracy | others PER |")
        say("|---|---|---|---|---|")
        recognisers = {
            f"lipnet {SHIPPED}": lambda s: lipsync.timeline(s, shipped).phones,
            "pocketsphinx (Rhubarb's)": peers.pocketsphinx_phones,
        }
        for name, recognise in recognisers.items():
            cells = []
            for clips in (test, others):
                hyps = [recognise(c.samples) for c in clips]
                frames = [visemes.frame_phones(h, 100, len(c.samples) // 160) for c, h in zip(clips, hyps)]
                truth = [c.frame_phones() for c in clips]
                accuracy = np.mean(np.concatenate([np.array(a) == np.array(b) for a, b in zip(frames, truth)]))
                per = teacher.phone_error_rate([c.phones for c in clips], hyps)
                cells.append(f"{accuracy:.1%} | {per:.1%}")
            say(f"| {name} | " + " | ".join(cells) + " |")

        say("\n### Speed of lipsync.py's work on a 3 s clip (warm, median of 20)\n")
        sample = test[0].samples
        times = []
        for _ in range(21):
            started = time.perf_counter()
            lipsync.timeline(sample, shipped).cues("ovr")
            times.append(time.perf_counter() - started)
        median = float(np.median(times[1:]))
        say(
            f"features + model + cues: {1000 * median:.1f} ms for {len(sample) / env.SAMPLE_RATE:.2f} s of audio "
            f"= {len(sample) / env.SAMPLE_RATE / median:.0f}x real time"
        )
    (runs / "results.md").write_text("\n".join(out) + "\n")


def ovr_names(indices: np.ndarray) -> list[str]:
    classes = visemes.classes("ovr")
    return [classes[i] for i in indices]


def confusion_png(scores: list[lipsync.Scores], path: Path) -> None:
    """Row-normalised confusion matrices, held-out s1 and other speakers side by side."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 6))
    for ax, s, title in zip(fig.subplots(1, 2), scores, ("held-out s1", "other speakers")):
        matrix = s.confusion / np.maximum(s.confusion.sum(1, keepdims=True), 1)
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(s.classes)), s.classes, rotation=90)
        ax.set_yticks(range(len(s.classes)), s.classes)
        ax.set(
            xlabel="predicted",
            ylabel="reference (forced alignment)",
            title=f"{title}: {s.speech_accuracy:.1%} of speech frames",
        )
        for (i, j), v in np.ndenumerate(matrix):
            if v >= 0.05:
                ax.text(
                    j,
                    i,
                    f"{v:.2f}"[1:] if v < 1 else "1",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if v > 0.5 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()

"""Speech -> mouth animation: every route and network of lipnet.animation.animator against three baselines, on the same clips.

    python bench/animator.py            # trains what runs/animator-bench lacks (resumable), then scores
    python bench/animator.py --ship     # ... and saves the best causal animator on validation in models/

Clips as bench/common.py splits them (575 s1 clips to train, 60 to choose epochs, 110 held out; 10 other-speaker
samples). Ground truth: the lips tracked on each clip's video (``preprocessing/extract.py --frames 0`` into
``data/sync/crops/{s1,samples}``, then lipnet.animation.lipshape). Scores (lipnet.animation.animator.score): landmark RMSE
in mouth widths, the correlation over time of predicted and tracked outer lip height (jawOpen's measure, per clip then
averaged) and how many /p b m/ close the lips. Baselines, all from the same sound and the same time base:

- the mean mouth (PCA coefficients 0);
- viseme -> mean shape: each OVR viseme's mean coefficients on the training frames (forced-aligned visemes), looked
  up for the student's viseme of each frame (and, for reference only, for the true one);
- energy -> shape: least squares from each frame's loudness (mean log-mel of its four 10 ms frames) to the
  coefficients.
Also the time to animate 1 s of sound (offline, warm) and per video frame live.
"""

import argparse
import datetime
import os
import platform
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import common  # noqa: E402
import numpy as np  # noqa: E402

from lipnet import (
    audio,  # noqa: E402
    env,  # noqa: E402
    visemes,  # noqa: E402
)
from lipnet.animation import animator, lipshape  # noqa: E402
from lipnet.speech import student  # noqa: E402

#: name -> AnimatorConfig overrides, every difference spelled out
ANIMATORS = {
    "visemes-mlp": {"route": "visemes", "network": "mlp", "lookahead": 2},
    "visemes-cnn": {"route": "visemes", "network": "cnn", "lookahead": 2},
    "features-mlp": {"route": "features", "network": "mlp", "lookahead": 2},
    "features-cnn": {"route": "features", "network": "cnn", "lookahead": 2},
    "features-autoregressive": {"route": "features", "network": "autoregressive", "lookahead": 2},
    "features-attention": {"route": "features", "network": "attention", "lookahead": 2},
    "features-cnn-now": {"route": "features", "network": "cnn", "lookahead": 0},
    "features-cnn-ahead5": {"route": "features", "network": "cnn", "lookahead": 5},
}
MAX_LOOKAHEAD_MS = 150  # the shipped animator is the best on validation among those looking no further ahead
CROPS = env.DATA_DIR / "sync" / "crops"


def utterances(clips: list, shape: lipshape.ShapeModel) -> list[animator.Utterance]:
    """Clips with the mouth tracked on their video (``data/sync/crops/<key>.npy``)."""
    return [
        animator.Utterance(c.clip, c.samples, lipshape.cached(CROPS / f"{c.key}.npy", shape), c.phones) for c in clips
    ]


def trained(name: str, runs: Path, train, val, shape) -> animator.Animator:
    """The animator `name`, trained (or its killed run resumed) now unless a previous run finished it."""
    config = animator.AnimatorConfig(**ANIMATORS[name])
    return common.trained(
        name, runs, animator.load,
        lambda run_dir: animator.resume(run_dir, train, val, shape, verbose=0),
        lambda run_dir: animator.train(config, train, val, shape, run_dir, {"train": "bench/common.py"}, verbose=0),
    )  # fmt: skip


class Baselines:
    """The non-learned and table baselines, fitted on the training clips."""

    def __init__(self, reader: student.Student, train: list[animator.Utterance]):
        self.reader = reader
        frames, coefficients, loudness = [], [], []
        for u in train:
            n = len(u.mouth.coefficients)
            frames.append(self._true_visemes(u, n))
            coefficients.append(u.mouth.coefficients)
            loudness.append(self._loudness(u.samples)[:n])
        labels, y = np.concatenate(frames), np.concatenate(coefficients)
        classes = len(visemes.CLASS_SETS["ovr"])
        self.table = np.array([y[labels == k].mean(0) if (labels == k).any() else y.mean(0) for k in range(classes)])
        design = np.stack([np.concatenate(loudness), np.ones(len(y))], axis=1)
        self.energy = np.linalg.lstsq(design, y, rcond=None)[0]

    @staticmethod
    def _true_visemes(u: animator.Utterance, n: int) -> np.ndarray:
        return visemes.frame_labels(u.phones, env.FPS, n, "ovr")

    @staticmethod
    def _loudness(samples: np.ndarray) -> np.ndarray:
        mel = audio.log_mel(samples).mean(1, keepdims=True)
        return animator.video_rate(mel).mean(1)

    def mean(self, samples: np.ndarray) -> np.ndarray:
        return np.zeros((audio.video_frames(len(samples)), env.ANIMATION_COMPONENTS), np.float32)

    def lookup(self, samples: np.ndarray) -> np.ndarray:
        p = animator.video_rate(self.reader.probabilities(samples))  # the four frames to each video frame's instant
        return self.table[p[:, -len(self.table) :].argmax(1)][: audio.video_frames(len(samples))]

    def loudness(self, samples: np.ndarray) -> np.ndarray:
        x = self._loudness(samples)[: audio.video_frames(len(samples))]
        return (np.stack([x, np.ones_like(x)], axis=1) @ self.energy).astype(np.float32)


def speed(model: animator.Animator, samples: np.ndarray) -> tuple[float, float]:
    """(ms of compute to animate 1 s of sound offline, ms per video frame live), warm."""
    second = samples[: env.SAMPLE_RATE]
    model.coefficients(second)
    started = time.perf_counter()
    for _ in range(10):
        model.coefficients(second)
    offline = (time.perf_counter() - started) / 10 * 1000
    live = model.stream()
    hop = len(second) // env.FPS
    live.push(second[:hop])
    started = time.perf_counter()
    frames = 0
    for i in range(hop, len(samples) - hop, hop):
        frames += len(live.push(samples[i : i + hop]))
    return offline, (time.perf_counter() - started) / max(frames, 1) * 1000


def speeds(models: dict[str, animator.Animator], samples: np.ndarray) -> None:
    """The speed table: the median of 5 timings each."""
    print("\n| model | 1 s of sound offline, ms | live, ms per video frame |")
    print("|---|---:|---:|")
    for name, model in models.items():
        offline, live = np.median([speed(model, samples) for _ in range(5)], axis=0)
        print(f"| {name} | {offline:.1f} | {live:.2f} |", flush=True)


def plot(path: Path, u: animator.Utterance, predictions: dict[str, np.ndarray], shape) -> None:
    """Predicted against tracked outer lip height over one clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.2))
    t = np.arange(len(u.mouth.points)) / env.FPS
    ax.plot(t, lipshape.measures(u.mouth.points)[:, 0], "k", lw=2, label="tracked on the video")
    for name, coefficients in predictions.items():
        height = lipshape.measures(shape.decode(coefficients))[:, 0]
        ax.plot(t[: len(height)], height[: len(t)], lw=1.2, label=name)
    for p in u.phones:
        if p.label != "sil":
            ax.text((p.start + p.end) / 2, ax.get_ylim()[0], p.label, fontsize=6, ha="center", va="bottom")
    ax.set_xlabel("seconds")
    ax.set_ylabel("outer lip height (mouth widths)")
    ax.set_title(f"{u.key}: mouth opening from speech alone")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(env.RUNS_DIR / "animator-bench"))
    p.add_argument("--only", nargs="+", choices=list(ANIMATORS), help="train and score only these")
    p.add_argument("--ship", action="store_true", help=f"save the best on validation as {env.ANIMATOR_MODEL}")
    p.add_argument("--speed", action="store_true", help="time the trained animators only (on a quiet machine)")
    args = p.parse_args()

    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    shape = lipshape.load_model()
    train, val, test, others = (utterances(c, shape) for c in common.load_clips())
    reader = student.load(env.LIPSYNC_STUDENT)
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"clips: train {len(train)}, validation {len(val)}, held-out s1 {len(test)}, other speakers {len(others)}")

    models = {name: trained(name, runs, train, val, shape) for name in args.only or ANIMATORS}
    if args.speed:
        return speeds(models, test[0].samples)
    base = Baselines(reader, train)
    rows = [
        ("mean mouth", "-", base.mean),
        ("viseme -> mean shape (student's visemes)", f"{reader.config.lookahead_ms:g}", base.lookup),
        ("energy -> shape", f"{1000 * audio.LogMelStream().lookahead / env.SAMPLE_RATE:g}", base.loudness),
        *((name, f"{model.lookahead_ms:g}", model) for name, model in models.items()),
    ]

    print(
        "\n| model | look-ahead ms | val RMSE | held-out RMSE | opening r | /p b m/ closed | others RMSE | others r |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    validation, held_out = {}, {}
    for name, ahead, model in rows:
        v, s, o = (animator.score(model, clips, shape) for clips in (val, test, others))
        validation[name], held_out[name] = v.rmse, s
        print(
            f"| {name} | {ahead} | {v.rmse:.4f} | {s.rmse:.4f} | {s.opening:.3f} | {s.closures:.0%} | "
            f"{o.rmse:.4f} | {o.opening:.3f} |",
            flush=True,
        )
    causal = {n: m for n, m in models.items() if m.lookahead_ms <= MAX_LOOKAHEAD_MS}
    best = min(causal, key=lambda n: validation[n]) if causal else None
    if best:  # as animate.py gives it: the lips pressed together where the student hears /p b m/
        v, s, o = (
            animator.score_points([models[best].parameters(u.samples, shape).points for u in clips], clips, shape)
            for clips in (val, test, others)
        )
        print(
            f"| {best}, lips pressed on /p b m/ heard | {models[best].lookahead_ms:g} | {v.rmse:.4f} | "
            f"{s.rmse:.4f} | {s.opening:.3f} | {s.closures:.0%} | {o.rmse:.4f} | {o.opening:.3f} |"
        )
        held_out[f"{best}, lips pressed"] = s
    print("\nheld-out s1, correlation over time of each measure with the tracked one (mean over clips):")
    print("\n| model | " + " | ".join(lipshape.MEASURES) + " |")
    print("|---|" + "---:|" * len(lipshape.MEASURES))
    for name, s in held_out.items():
        print(f"| {name} | " + " | ".join(f"{s.measures[m]:.3f}" for m in lipshape.MEASURES) + " |")
    truth = animator.score_points(
        [shape.decode(base.table[base._true_visemes(u, len(u.mouth.points))]) for u in test], test, shape
    ).opening
    tracked = animator.score_points([u.mouth.points for u in test], test, shape).closures
    print(f"\nreference: viseme -> mean shape with the forced-aligned visemes: opening r {truth:.3f} (not audio-only)")
    print(f"reference: /p b m/ closed in the tracked landmarks themselves: {tracked:.0%}")

    speeds(models, test[0].samples)

    if best:
        u = test[0]
        predictions = {
            f"{best}, lips pressed": models[best].parameters(u.samples, shape).coefficients,
            "energy -> shape": base.loudness(u.samples),
        }
        plot(runs / "opening.png", u, predictions, shape)
        print(f"\nbest on validation within {MAX_LOOKAHEAD_MS} ms: {best}; plot: {runs / 'opening.png'}")
    if args.ship and best:
        models[best].save(env.ANIMATOR_MODEL)
        shutil.copy(runs / best / "log.csv", env.ANIMATOR_MODEL.with_suffix(".log.csv"))
        shutil.copy(runs / best / "curves.png", env.ANIMATOR_MODEL.with_suffix(".curves.png"))
        shutil.copy(runs / "opening.png", env.ANIMATOR_MODEL.with_suffix(".opening.png"))
        print(f"wrote {env.ANIMATOR_MODEL}")


if __name__ == "__main__":
    main()

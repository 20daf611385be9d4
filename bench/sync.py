"""Audio-visual sync measured as the field reports it, the learned model beside the no-learning baseline.

    python bench/sync.py            # the shipped model, the random-pairs model (if trained) and the baseline

Data: GRID s1, split by clip: lipnet/splits/s1_heldout.txt (110 test clips, never seen in training), and the 10
other-speaker samples (../shared/grid/samples, 9 speakers; s1's bbaf2n left out). Mouth crops come from
data/sync/crops/{s1,samples} (extracted there when missing).

1. Pairs: every 4th speech window of each clip (0.3 s) with its own sound (genuine) and an impostor, alternately
   the same clip's sound 5-15 frames away and another clip's at the same time: ROC AUC, EER, AP, accuracy at the
   EER threshold, and ROC curves (models/sync-grid-s1.roc.png).
2. Offsets: each whole clip with its samples delayed by -15..+15 frames: the share whose estimated offset is within
   ±1 frame of the truth; also on 2 s excerpts and with white noise at 10 dB and 0 dB SNR.
3. The confidence (median - minimum distance): in-sync clips against clips given another clip's sound.
   Same speech (`--verdicts` alone): the same clips and the same other clips' sound, scored by the curve's
   confidence and by `agreement.same_speech` (the lip reader's phones against the voice's), and sync.py's verdict
   on each, as a user gets it.
4. Pair selection: held-out EER by epoch of the hard- and random-pair runs (models/sync-grid-s1.selection.png).
5. Speed of sync.py's work on a 3 s clip, warm: tracking, sound, features, networks, search.

Markdown tables go to standard output and runs/sync-bench/results.md.
"""

import argparse
import csv
import datetime
import io
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402

from lipnet import (  # noqa: E402
    audio,  # noqa: E402
    env,  # noqa: E402
    grid,
    mouth,
)
from lipnet.storage import atomic_write, atomic_write_text  # noqa: E402
from lipnet.sync import network, offsets, training  # noqa: E402

GRID = env.ROOT.parent / "shared" / "grid"
SHIFTS = range(-env.SYNC_MAX_OFFSET, env.SYNC_MAX_OFFSET + 1)


def clips(paths: list[Path], crops: Path) -> list[network.Streams]:
    extractor = None
    out = []
    for path in paths:
        npy = crops / f"{path.stem}.npy"
        if not npy.is_file():
            extractor = extractor or mouth.MouthExtractor()
            extractor.extract(path, frames=None).save(npy)
        out.append(network.load_streams(grid.Clip(path.stem, media=path, crops=npy)))
    return out


def noisy(samples: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    """White noise at `snr_db` below the speech's power (its loudest half of samples stands for speech)."""
    if snr_db is None:
        return samples
    power = np.sort(samples**2)[len(samples) // 2 :].mean()
    noise = np.random.default_rng(seed).standard_normal(len(samples)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def offset_accuracy(models: dict, data: list[network.Streams], excerpt: int | None = None, snr: float | None = None):
    """Per method, the share of (clip, shift) whose estimated offset is within ±1 frame of the shift."""
    hits = {name: 0 for name in [*models, "baseline"]}
    total = 0
    for i, c in enumerate(data):
        if excerpt:  # a window from the middle of the speech
            middle = int(np.median(c.speech_windows())) if len(c.speech_windows()) else len(c.mouths) // 2
            a = max(0, min(len(c.mouths) - excerpt, middle - excerpt // 2))
            c = network.Streams(c.clip, c.mouths[a : a + excerpt], c.opening[a : a + excerpt],
                          c.samples[a * network.SAMPLES_PER_FRAME : (a + excerpt) * network.SAMPLES_PER_FRAME])  # fmt: skip
        base = c.with_sound(noisy(c.samples, snr, i))
        video = {name: m.embed_video(c) for name, m in models.items()}
        for shift in SHIFTS:
            moved = base.delayed(shift)
            for name, m in models.items():
                found = offsets.offset_of(offsets.curve(video[name], m.embed_audio(moved.mfec), env.SYNC_MAX_OFFSET))
                hits[name] += abs(found.offset - shift) <= 1
            hits["baseline"] += abs(offsets.envelope_offset(c.opening, moved.loudness).offset - shift) <= 1
            total += 1
    return {name: n / total for name, n in hits.items()}, total


def confidences(model: network.SyncModel, data: list[network.Streams]) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of every clip as it is, and of every clip's picture with the next clip's sound."""
    same = [model.offsets(c)[0].confidence for c in data]
    other = []
    for c, d in zip(data, data[1:] + data[:1]):
        n = min(len(c.samples), len(d.samples))
        other.append(model.offsets(c.with_sound(d.samples[:n]))[0].confidence)
    return np.array(same), np.array(other)


def verdicts(model: network.SyncModel, judge, data: list[network.Streams], crops: Path) -> dict[str, list]:
    """Each clip as it is (``own``) and with the next clip's sound (``other``): the first window's `Offset`, as
    sync.py judges it (`agreement.Judge`: the lip reader reads the RGB crops in `crops`)."""
    out = {"own": [], "other": []}
    for c, d in zip(data, data[1:] + data[:1]):
        rgb = np.load(crops / f"{c.key}.npy")
        n = min(len(c.samples), len(d.samples))
        for kind, clip in (("own", c), ("other", c.with_sound(d.samples[:n]))):
            out[kind].append(judge.judged(model.offsets(clip), rgb, clip.samples)[0])
    return out


def same_speech_table(model: network.SyncModel, sets: dict, crops: dict, say) -> None:
    """How well the curve's confidence and the same-speech score tell a clip's own sound from another clip's, and
    what the verdict says of each."""
    from sklearn.metrics import roc_auc_score

    from lipnet.sync import agreement

    judge = agreement.Judge()
    say("\n**Same speech** (each clip as it is against its picture with the next clip's sound: another sentence, and "
        "for the other speakers mostly another voice; the verdict is sync.py's):\n")  # fmt: skip
    say(
        "| set | clips | AUC, curve confidence | AUC, same speech | same speech: own / other's, median | "
        'own sound: "in sync" | own: offset within ±1 | other\'s sound: "not the same speech" |'
    )
    say("|---|---|---|---|---|---|---|---|")
    for set_name, data in sets.items():
        found = verdicts(model, judge, data, crops[set_name])
        truth = [1] * len(data) + [0] * len(data)
        auc = {
            key: roc_auc_score(truth, [getattr(f, key) for f in found["own"] + found["other"]])
            for key in ("confidence", "same_speech")
        }
        said = {kind: [f.verdict() for f in found[kind]] for kind in found}
        within = np.mean([abs(f.offset) <= env.SYNC_TOLERANCE for f in found["own"]])
        say(f"| {set_name} | {len(data)} | {auc['confidence']:.3f} | {auc['same_speech']:.3f} | "
            f"{np.median([f.same_speech for f in found['own']]):.2f} / "
            f"{np.median([f.same_speech for f in found['other']]):.2f} | "
            f"{np.mean([v == 'in sync' for v in said['own']]):.0%} | {within:.0%} | "
            f"{np.mean([v.startswith('not the same speech') for v in said['other']]):.0%} |")  # fmt: skip


def plot_roc(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for label, (distances, genuine) in curves.items():
        fpr, tpr, _ = roc_curve(genuine, -distances)
        ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
    ax.set(xlabel="false acceptance (impostor pairs)", ylabel="true acceptance (genuine pairs)",
           title="Held-out s1 pairs, 0.3 s windows")  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def plot_selection(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for label, rows in runs.items():
        epochs = [int(r["epoch"]) for r in rows]
        axes[0].plot(epochs, [100 * float(r["val_eer"]) for r in rows], marker=".", label=label)
        axes[1].plot(epochs, [float(r["val_auc"]) for r in rows], marker=".", label=label)
    axes[0].set(xlabel="epoch", ylabel="validation EER (%)", title="Convergence")
    axes[1].set(xlabel="epoch", ylabel="validation AUC", title="Pair selection")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def speed(model: network.SyncModel, path: Path, repeats: int = 5) -> float:
    """Median seconds of sync.py's work on one clip, warm (the extractor and model loaded, one run before)."""
    extractor = mouth.MouthExtractor()

    def once():
        samples = audio.load(path)
        track = extractor.extract(path, frames=None)
        return model.offsets(network.streams(grid.Clip(path.stem, media=path), track.crops, track.landmarks, samples))

    once()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def cpu() -> str:
    """The processor's model name (Linux), else the machine type."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
    return names[0] if names else platform.machine()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--random-model", default=str(env.DATA_DIR / "sync" / "sync-random.keras"))
    p.add_argument("--runs", default=str(env.RUNS_DIR), help="where runs/sync-hard and runs/sync-random are")
    p.add_argument("--out", default=str(env.RUNS_DIR / "sync-bench"))
    p.add_argument("--clips", type=int, help="only the first N clips of each set (a quick check)")
    p.add_argument("--verdicts", action="store_true", help="only the same-speech table and the verdicts")
    args = p.parse_args()
    lines = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    started = time.perf_counter()
    held_out = [GRID / f"{key}.mp4" for key in sorted(grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"))]
    others = [p for p in sorted((GRID / "samples").glob("*.mpg")) if p.stem != "bbaf2n"]
    held_out, others = held_out[: args.clips], others[: args.clips]
    crops = {
        "held-out s1": env.DATA_DIR / "sync" / "crops" / "s1",
        "other speakers": env.DATA_DIR / "sync" / "crops" / "samples",
    }
    sets = {
        "held-out s1": clips(held_out, crops["held-out s1"]),
        "other speakers": clips(others, crops["other speakers"]),
    }
    models = {"coupled 3D CNN, hard pairs (shipped)": network.load(env.SYNC_MODEL)}
    if args.verdicts:
        same_speech_table(models["coupled 3D CNN, hard pairs (shipped)"], sets, crops, say)
        return
    if Path(args.random_model).is_file():
        models["coupled 3D CNN, random pairs"] = network.load(args.random_model)
    say(f"# Audio-visual sync ({datetime.date.today()}, {cpu()}, "
        f"{os.cpu_count()} cores, one used)")  # fmt: skip

    say("\n**Pairs** (0.3 s speech windows: genuine vs impostors, half the same clip 5-15 frames away, half "
        "another clip):\n")  # fmt: skip
    say("| method | set | pairs | AUC | EER | AP | accuracy |")
    say("|---|---|---|---|---|---|---|")
    roc = {}
    for set_name, data in sets.items():
        table = training.pairs(data)
        scored = {name: training.pair_distances(m, data, table) for name, m in models.items()}
        scored["baseline: mouth opening x energy"] = training.envelope_distances(data, table)
        for name, distances in scored.items():
            s = training.score_pairs(distances, table["genuine"])
            say(
                f"| {name} | {set_name} | {len(distances)} | {s.auc:.3f} | {s.eer:.1%} | {s.ap:.3f} | {s.accuracy:.1%} |"
            )
            if set_name == "held-out s1":
                roc[f"{name} (AUC {s.auc:.3f})"] = (distances, table["genuine"])
    plot_roc(roc, env.ROOT / "models" / "sync-grid-s1.roc.png")

    say("\n**Offsets** (audio delayed by -15..+15 frames in the samples; correct: within ±1 frame):\n")
    offset_models = {name: m for name, m in models.items() if "shipped" in name}  # the random one: pairs only
    names = [*offset_models, "baseline"]
    say(f"| set | condition | clips x shifts | {' | '.join(names)} |")
    say("|---|---|---|" + "---|" * len(names))
    conditions = [("whole clip (3 s)", None, None), ("2 s excerpt", 50, None), ("1 s excerpt", 25, None),
                  ("white noise 10 dB SNR", None, 10.0), ("white noise 0 dB SNR", None, 0.0)]  # fmt: skip
    for set_name, data in sets.items():
        for label, excerpt, snr in conditions:
            found, total = offset_accuracy(offset_models, data, excerpt, snr)
            say(f"| {set_name} | {label} | {total} | {' | '.join(f'{found[n]:.1%}' for n in names)} |")

    shipped = models["coupled 3D CNN, hard pairs (shipped)"]
    say("\n**Confidence** (median - minimum distance, shipped model): clips as they are (in sync) against each "
        "clip's picture with the next clip's sound (same speaker, another sentence):\n")  # fmt: skip
    thresholds = (0.1, 0.15, 0.2)
    say("| set | in sync: median | another's sound: median | "
        + " | ".join(f"≥ {t}: in sync kept / other rejected" for t in thresholds) + " |")  # fmt: skip
    say("|---|---|---|" + "---|" * len(thresholds))
    for set_name, data in sets.items():
        same, other = confidences(shipped, data)
        rates = " | ".join(f"{(same >= t).mean():.0%} / {(other < t).mean():.0%}" for t in thresholds)
        say(f"| {set_name} | {np.median(same):.3f} | {np.median(other):.3f} | {rates} |")
    same_speech_table(shipped, sets, crops, say)

    logs = {}
    for selection in ("hard", "random"):
        log = Path(args.runs) / f"sync-{selection}" / "log.csv"
        if log.is_file():
            with log.open() as f:
                logs[f"{selection} pairs"] = list(csv.DictReader(f))
    if logs:
        plot_selection(logs, env.ROOT / "models" / "sync-grid-s1.selection.png")
        say("\n**Pair selection** (validation clips, by epoch):\n")
        say("| selection | epochs | best EER | at epoch | AUC there | first epoch ≤ 15% EER | s/epoch |")
        say("|---|---|---|---|---|---|---|")
        for label, rows in logs.items():
            best = min(rows, key=lambda r: float(r["val_eer"]))
            first = next((r["epoch"] for r in rows if float(r["val_eer"]) <= 0.15), "never")
            seconds = np.median([float(r["seconds"]) for r in rows])
            say(f"| {label} | {len(rows)} | {float(best['val_eer']):.1%} | {best['epoch']} | "
                f"{float(best['val_auc']):.3f} | {first} | {seconds:.0f} |")  # fmt: skip

    seconds = speed(shipped, env.ROOT / "samples" / "lgil7a.mp4")
    say(f"\n**Speed**: sync.py's work on a 3 s clip (75 frames), warm, median of 5: {seconds * 1000:.0f} ms.")
    say(f"\nBench run took {(time.perf_counter() - started) / 60:.1f} min.")
    atomic_write_text(Path(args.out) / "results.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""What the lip reader tells a user, scored (issue #22): word timings, viseme timelines, confidence, no speech.

    python bench/reading.py                                  # the shipped model, held-out s1 (111 clips)
    python bench/reading.py -w runs/s1-upright/best.hdf5 --calibrate   # fit its confidence on s1_val, store it
    python bench/reading.py -w runs/s1-cpu-ft/last.hdf5 --cross-fit    # no clean s1_val: fit it on held-out halves

Per clip of ``lipnet/splits/s1_heldout.txt`` (crops from ``data/s1``, sound from ``../shared/grid/s1``), the reader's
own functions: posteriors, the default decoder, then the words timed three ways, each scored against GRID's
hand-checked ``.align`` word boundaries (mean absolute error over every word's start and end):

- ``ctc``: the CTC forced alignment of the transcript (what predict.py wrote before issue #22: the baseline);
- ``video``: aligned to the frame head's phone posteriors (`align.guided`), what a clip without sound gets;
- ``audio``: aligned to the clip's sound (`lipsync.timeline`), what a clip with sound gets.

The viseme timeline each gives (`Reading.cues`) is compared, every 10 ms, with the OVR visemes of the reference
sentence force-aligned to the sound (all frames, and speech frames only). The frame head's own accuracy (OVR visemes
on held-out speech frames, phones pooled) is printed beside the audio teacher's. The sentence confidence's AUC for
"sentence exactly right" and a reliability table come from the same clips. The confidence is a logistic regression
on two witnesses: the log-odds of the product of the words' confidences (the characters' CTC posteriors) and how
well the sentence fits the frame head's phones (`align.guided`'s fit); `--calibrate` first fits it on
``s1_val.txt`` and writes it into the checkpoint. A model that trained on s1_val (every one fine-tuned from
the first shipped model) reads it almost without error, so that fit says nothing of new clips: ``--cross-fit`` then
splits the held-out clips in two halves at random (seed 22), reports each half's confidence calibrated on the other
half, and writes the scaling fitted on all of them into the checkpoint. No speech: each held-out clip's leading and trailing
silence (from its ``.align``, at least env.MIN_READ_FRAMES long) must read empty.
"""

import argparse
import datetime
import platform
from pathlib import Path

import numpy as np
from common import SHARED, split

from lipnet import audio, cli, env, grid, metrics, visemes
from lipnet.lipreading import dataset, decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.speech import align, lipsync

RATE = 100  # frames a second at which timelines are compared
CROSS_FITS = 50  # random halvings the cross-fitted confidence's AUC is also averaged over


def boundaries(words, reference: list[grid.Word]) -> list[float]:
    """Absolute errors (s) of each word's start and end, word by word."""
    return [abs(a - b / env.FPS) for w, r in zip(words, reference) for a, b in ((w[1], r.start), (w[2], r.end))]


def agreement(cues: list[visemes.Cue], truth: np.ndarray, speech: np.ndarray) -> tuple[float, float]:
    """Fraction of 10 ms frames whose cue's OVR viseme is the reference's: all frames, speech frames."""
    ours = visemes.frame_visemes([(c.viseme, c.start, c.end) for c in cues], RATE, len(truth))
    right = ours == truth
    return float(right.mean()), float(right[speech].mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-w", "--weights", default=str(env.DEFAULT_WEIGHTS))
    p.add_argument("-d", "--data", default=str(env.DATA_DIR / "s1"), help="extracted s1 crops")
    p.add_argument("--calibrate", action="store_true", help="fit the confidence on s1_val and store it in -w")
    p.add_argument(
        "--cross-fit", action="store_true", help="calibrate on held-out halves crossed, store the fit on all in -w"
    )
    p.add_argument("--clips", type=int, default=0, help="only the first N held-out clips (a quick look)")
    args = p.parse_args()
    cli.start()
    from lipnet.lipreading.reader import LipReader

    reader = LipReader(args.weights)
    data = Path(args.data)

    def read(stem: str):
        crops = dataset.load_clip(data / f"{stem}.npy", None)
        posteriors = reader.posteriors(crops)
        decoder = reader.decoder_for(len(crops))
        text = reader.decode(posteriors["chars"], decoder)
        words = decoding.word_confidences(posteriors["chars"], text, grid.GRAMMAR if decoder == "grammar" else None)
        guided = reader.guided(text, posteriors.get("phones"))  # the words on the lips, the confidence's 2nd witness
        return crops, posteriors, text, words, guided

    if args.calibrate:
        raw, fits, right = [], [], []
        for stem in split("s1_val"):
            _, _, text, words, guided = read(stem)
            raw.append(float(np.prod(words)))
            fits.append(guided[1] if guided else None)
            right.append(text == grid.sentence_from_name(stem))
        scaling = store(args.weights, platt(np.array(raw), np.array(right), fits))
        print(
            f"confidence calibrated on s1_val ({len(raw)} clips, {np.mean(right):.0%} right): scaling "
            f"{tuple(round(v, 3) for v in scaling)}, written to {args.weights}"
        )
        reader = LipReader(args.weights)

    errors: dict[str, list[float]] = {"ctc": [], "video": [], "audio": []}
    agree: dict[str, list[tuple[float, float]]] = {k: [] for k in errors}
    head, teacher_right = [], []
    confidence, raw, fits, right, scores = [], [], [], [], []
    silent, silent_read = 0, 0
    held_out = split("s1_heldout")[: args.clips or None]
    for stem in held_out:
        crops, posteriors, text, words, guided = read(stem)
        fit = guided[1] if guided else None
        reference = grid.read_align(SHARED / "align" / "s1" / f"{stem}.align")
        truth_text = " ".join(w.text for w in reference)
        scores.append((truth_text, text))
        confidence.append(reader.sentence_confidence(words, True, fit))
        raw.append(float(np.prod(words)) if words else 0.0)
        fits.append(fit)
        right.append(text == truth_text)
        samples = audio.load(SHARED / "s1" / f"{stem}.mp4")
        truth = align.align(samples, truth_text)
        n = audio.frame_count(len(samples))
        truth_frames = visemes.frame_labels(truth.phones, RATE, n)
        speech = truth_frames != 0
        probs, phones = posteriors["chars"], posteriors.get("phones")
        spans = decoding.word_spans(probs, text)
        timed = {"ctc": ([(w, s / env.FPS, e / env.FPS) for w, s, e in spans], None)}
        if phones is not None:
            result, fit = guided or align.guided(phones, text, env.FPS)  # aligned in `read`; else its error, here
            timed["video"] = (result.words, lipsync.aligned(result, fit))
        line = lipsync.timeline(samples, reader.teacher, text)
        timed["audio"] = (line.words, line)
        for how, (timed_words, timeline) in timed.items():
            errors[how] += boundaries(timed_words, reference)
            cues = timeline.cues("ovr") if timeline else visemes.timeline(timed_words, 1.0, "ovr", len(crops) / env.FPS)
            agree[how].append(agreement(cues, truth_frames, speech))
        video_truth = visemes.frame_labels(truth.phones, env.FPS, len(crops))
        if phones is not None:
            read_visemes = (phones @ visemes.pooling("phones", "ovr")).argmax(1)
            head += list((read_visemes == video_truth)[video_truth != 0])
        taught = reader.teacher.probabilities(samples)
        taught = audio.per_video_frame(taught, len(crops))
        teacher_right += list(((taught @ visemes.pooling("phones", "ovr")).argmax(1) == video_truth)[video_truth != 0])
        for first, last in ((0, int(reference[0].start)), (int(np.ceil(reference[-1].end)), len(crops))):
            if last - first >= env.MIN_READ_FRAMES:
                silent += 1
                silent_read += reader.read_crops(crops[first:last]).speech

    print(
        f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {args.weights}, "
        f"{len(held_out)} held-out s1 clips"
    )
    s = metrics.score([t for t, _ in scores], [h for _, h in scores])
    print(f"transcripts: CER {s.cer:.2%}, WER {s.wer:.2%}, sentences right {s.accuracy:.1%}")
    print("\n| timing | word boundary error, mean | median | within 40 ms | viseme agreement, all | speech frames |")
    print("|---|---|---|---|---|---|")
    for how, e in errors.items():
        if e:
            e, a = np.array(e), np.array(agree[how])
            print(
                f"| {how} | {1000 * e.mean():.0f} ms | {1000 * np.median(e):.0f} ms | {np.mean(e <= 0.04):.1%} | "
                f"{a[:, 0].mean():.1%} | {a[:, 1].mean():.1%} |"
            )
    if head:
        print(
            f"\nOVR visemes on held-out speech frames (25 fps): lip reader's frame head {np.mean(head):.1%}, "
            f"audio teacher {np.mean(teacher_right):.1%} ({len(head)} frames)"
        )
    confidence, right = np.array(confidence), np.array(right)
    if args.cross_fit:  # each half read with the other half's scaling; the checkpoint gets the fit on all clips
        raw, fits = np.array(raw), np.array([np.nan if f is None else f for f in fits])
        # the AUC over many random halvings too: 110 clips make any one split noisy
        repeats = [auc(cross_fitted(raw, fits, right, seed), right) for seed in range(CROSS_FITS)]
        confidence = cross_fitted(raw, fits, right, 22)
        scaling = store(args.weights, platt(raw, right, fits))
        print(
            f"confidence cross-fitted on held-out halves (the product alone, uncalibrated: AUC {auc(raw, right):.3f};"
            f" over {CROSS_FITS} random halvings: AUC mean {np.mean(repeats):.3f}, least {np.min(repeats):.3f}); "
            f"the scaling on all, {tuple(round(v, 3) for v in scaling)}, written to {args.weights}"
        )
    print(
        f"\nsentence confidence: AUC {auc(confidence, right):.3f} for 'sentence right' "
        f"({right.sum()} right, {(~right).sum()} wrong); mean {confidence.mean():.2f}, accuracy {right.mean():.2f}"
    )
    print("| confidence | clips | right |")
    print("|---|---|---|")
    for low, high in ((0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.01)):
        chosen = (confidence >= low) & (confidence < high)
        if chosen.any():
            print(f"| {low:.2f}-{min(high, 1):.2f} | {chosen.sum()} | {right[chosen].mean():.0%} |")
    print(
        f"\nno speech: {silent - silent_read} of {silent} silent stretches (leading/trailing silence of "
        f">= {env.MIN_READ_FRAMES} frames) read empty"
    )


def features(raw: np.ndarray, fits: list | np.ndarray | None = None) -> np.ndarray:
    """The confidence's inputs as `calibrated` weighs them (`confidence_features`): the product's log-odds, and, when
    `fits` are given, how well each sentence fits the frame head's phones (None or NaN: could not fit)."""
    from lipnet.lipreading.reader import confidence_features

    log_odds, fit = confidence_features(raw, None if fits is None else [np.nan if f is None else f for f in fits])
    return np.stack([log_odds] if fits is None else [log_odds, fit], 1)


def platt(raw: np.ndarray, right: np.ndarray, fits: list | np.ndarray | None = None) -> tuple[float, ...]:
    """Platt scaling: the logistic regression of 'right' on the raw confidence's log-odds (as `calibrated` clips it)
    and, given `fits`, on how well each sentence fits the frame head's phones: (scale, bias[, fit weight])."""
    from sklearn.linear_model import LogisticRegression

    if right.all() or not right.any():
        return 1.0, 0.0
    fit = LogisticRegression(C=1e6).fit(features(raw, fits), right)
    return (float(fit.coef_[0, 0]), float(fit.intercept_[0]), *map(float, fit.coef_[0, 1:]))


def cross_fitted(raw: np.ndarray, fits: np.ndarray, right: np.ndarray, seed: int) -> np.ndarray:
    """Each clip's confidence calibrated on the other half of the clips (random halves by `seed`)."""
    from lipnet.lipreading.reader import calibrated

    halves, out = np.array_split(np.random.default_rng(seed).permutation(len(raw)), 2), np.zeros(len(raw))
    for fit, scored in ((halves[0], halves[1]), (halves[1], halves[0])):
        out[scored] = calibrated(raw[scored], platt(raw[fit], right[fit], fits[fit]), fits[scored])
    return out


def store(weights: str, scaling: tuple[float, ...]) -> tuple[float, ...]:
    """Write a confidence `scaling` into the checkpoint `weights` (its extra fields; the network is as it was)."""
    _, extra = lipnet_model.read_config(weights)
    lipnet_model.update_extra(weights, {**extra, "confidence": list(scaling)})
    return scaling


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half)."""
    if positive.all() or not positive.any():
        return float("nan")
    a, b = score[positive][:, None], score[~positive][None, :]
    return float(np.mean(a > b) + 0.5 * np.mean(a == b))


if __name__ == "__main__":
    main()

"""Audio-visual recognition scored (issue #25): WER against noise for the lips, the voice and both.

    python bench/avsr.py --train     # train early and gated fusion at equal budget (runs/avsr-bench/, resumable)
    python bench/avsr.py --ship      # then score those trained, ship the best on s1_val as models/avsr-grid-s1.keras
    python bench/avsr.py --fixture   # write the lip posteriors tests/test_recognition.py reads the held-out clips with
    python bench/avsr.py             # score the shipped recogniser

Clips: GRID s1 split by clip as every lipnet model (`common.split`): 575 to train, ``s1_val`` (60) to choose the
epoch and the fusion, ``s1_heldout`` (110) to score; and the 10 other-speaker clips, clean. Lips: the shipped lip
reader's crops (``data/s1``, extracted by preprocessing/extract.py) read once and cached beside them
(`lipnet.recognition.dataset.lip_features`); the other speakers' crops are extracted here. Sound: the clips' own
(``../shared/grid``).

Each held-out clip is heard clean and in babble and white noise at 10, 5, 0, -5 and -10 dB (speech power over noise
power over the clip; babble is 3-6 other held-out utterances, never the clip's own; the same noise for every
model), and clean in a voice shifted 3 semitones up and 2 down (`VOICES`: strangers made of s1). Each is read five
ways, all with the GRID grammar decoder: ``video`` (the lip reader alone: it does not hear the noise), ``audio``
(the recogniser's audio head), ``audio + phones`` (what ``lipnet read --modality audio`` reads: the audio head's
sentences and the lip-sync model's phones together), ``early`` (its network's fused head) and ``av`` (what
``--modality av`` reads: late fusion of the lips, the voice and its phones, `lipnet.recognition.fusion`). Beside
them, pocketsphinx (Rhubarb's recogniser) held to the same GRID grammar (`peers.pocketsphinx_words`). One table,
one PNG (WER vs SNR, a panel a noise) in bench/.

Late fusion's weights (the voice's and the phones') are calibrated on held-out clips, as s1_val cannot serve: the
shipped lip reader trained on it and reads it almost without error (0.3% WER). So ``av`` is cross-fitted: the
held-out clips are split in two halves at random (seed 25), and each half is read with the weights calibrated on
the other (`CALIBRATION`: clean speech, babble at 10, 0 and -5 dB, white noise at 0 dB). The shifted voices are
scored, not calibrated on: added to the calibration (2026-12-04), they moved the shipped network's weights and the
other speakers read worse (bench/RESULTS.md). ``--calibrate`` writes the weights calibrated on all 110 into the shipped recogniser's JSON; the other
speakers are read with those.

Beside them, strangers nobody recorded and not made of s1: 40 held-out sentences said by five espeak-ng voices
(`SYNTHETIC`), read from the voice alone. ``--listening-warps 1.0`` scores the recogniser hearing the voice through
other vocal tract warps than its configuration's (`RecognizerConfig.listening_warps`; 1.0 alone: as it heard before
2026-12-04), into bench/avsr.warps-*.json, for a comparison in the same run.
"""

import argparse
import dataclasses
import datetime
import json
import platform
from pathlib import Path

import numpy as np
from common import OTHER_SPEAKERS, SHARED, split

from lipnet import audio, cli, env, grid, metrics
from lipnet.storage import atomic_write, atomic_write_text

SNRS = (10, 5, 0, -5, -10)
NOISES = ("babble", "white")
FUSIONS = ("early", "gated")
MODEL = env.ROOT / "models" / "avsr-grid-s1.keras"
FIXTURE = env.ROOT / "tests" / "fixtures" / "s1-heldout-lips.npz"  # tests/test_recognition.py's lips of held-out s1
SEED = 25  # of the test noise, and of the halves late fusion is cross-fitted on
HEADS = {"audio": "audio", "early": "av"}  # the recogniser network's heads: the name in the table, the output
LABELS = {
    "av": "av (late fusion: what lipnet reads)",
    "early": "av, the network's early-fusion head",
    "audio": "audio, the network's audio head",
    "audio + phones": "audio (+ its phones: what --modality audio reads)",
}
Weights = tuple[tuple[float, float], tuple[float, float]]  # late fusion's: the voice's (a, b), the phones' (c, d)
# the held-out voices shifted, formants and pitch together, by these semitones (`shifted`): +3 is x1.19, about a
# woman's formants against a man's; -2 a deeper voice. Strangers made of s1: 110 clips beside the 10 real ones
VOICES = (3, -2)
CALIBRATION = ("clean", "babble +10 dB", "babble +0 dB", "babble -5 dB", "white +0 dB")  # late fusion's weights' noise
# strangers nobody recorded, and not made of s1: the first SYNTHETIC_SENTENCES held-out sentences said by each of
# these espeak-ng voices (`synthetic`), read from the voice alone
SYNTHETIC = ("en-us", "en-us+f3", "en-gb+m3", "en-gb-x-rp+f2", "en-us+f5")
SYNTHETIC_SENTENCES = 40


def utterances(stems: list[str], reader, crops_dir: Path):
    """The s1 clips `stems` as `Utterance`s, with the lip reader's character posteriors of each."""
    from lipnet.lipreading import model as lipnet_model
    from lipnet.recognition import dataset

    fingerprint, out, chars = lipnet_model.fingerprint(reader.weights), [], []
    for stem in stems:
        lips = dataset.lip_features(crops_dir / f"{stem}.npy", reader, fingerprint)
        clip = grid.Clip.labelled(f"s1/{stem}", SHARED / "s1" / f"{stem}.mp4", [SHARED / "align"])
        out.append(dataset.Utterance(clip, lips["features"], audio.load(SHARED / "s1" / f"{stem}.mp4")))
        chars.append(lips["chars"])
    return out, chars


def kept(stems: list[str]) -> set[str]:
    """The sentences of the s1 clips `stems` (those scored on and choosing the epoch): never said by a synthetic voice
    the recogniser learns from (`dataset.voiced`)."""
    return {grid.transcript(SHARED / "s1" / f"{stem}.mp4", [SHARED / "align"]) for stem in stems}


def other_speakers(reader):
    """The other speakers' clips, their crops extracted here (a few seconds each)."""
    from lipnet.recognition import dataset

    out, chars = [], []
    for stem in sorted(OTHER_SPEAKERS):
        path = SHARED / "samples" / f"{stem}.mpg"
        read = reader.posteriors(reader.extractor.extract(path, frames=None).crops)
        clip = grid.Clip.labelled(f"samples/{stem}", path, [SHARED / "align"])
        out.append(dataset.Utterance(clip, read["features"], audio.load(path)))
        chars.append(read["chars"])
    return out, chars


def heard(utts, noise: str, snr: float | None) -> list[np.ndarray]:
    """The clips' sound, clean (`snr` None), in `noise` at `snr` dB, or (`noise` "voice") said by a voice shifted by
    `snr` semitones."""
    from lipnet.recognition import dataset

    if snr is None:
        return [u.samples for u in utts]
    if noise == "voice":
        return [shifted(u.samples, snr) for u in utts]
    return dataset.noisy(utts, noise, snr, [u.samples for u in utts], SEED)


def shifted(samples: np.ndarray, semitones: float) -> np.ndarray:
    """16 kHz `samples` said higher or lower: pitch and formants shifted together (librosa's phase vocoder, then
    resampled), as by a smaller or larger vocal tract."""
    import librosa

    return librosa.effects.pitch_shift(samples, sr=env.SAMPLE_RATE, n_steps=semitones).astype(np.float32)


def synthetic(texts: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """The first SYNTHETIC_SENTENCES `texts` said by each SYNTHETIC espeak-ng voice (`voices.say`, 150 words a
    minute): (texts, samples)."""
    from lipnet.recognition import voices

    said = [text for _ in SYNTHETIC for text in texts[:SYNTHETIC_SENTENCES]]
    sound = [voices.say(text, f"espeak-ng:{voice}") for voice in SYNTHETIC for text in texts[:SYNTHETIC_SENTENCES]]
    return said, sound


def write_corpus(directory: Path, said) -> None:
    """The synthetic voices' utterances `said` (`dataset.voiced`) as a corpus ``lipsync.py --train`` reads: a 16 kHz
    16-bit ``<voice>-<i>.wav`` and its sentence in ``.lab`` beside it."""
    import wave

    directory.mkdir(parents=True, exist_ok=True)
    for u in said:
        stem = directory / u.key.replace(":", "-").replace("/", "-")

        def write(f, samples=u.samples) -> None:
            with wave.open(f, "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(env.SAMPLE_RATE)
                w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())

        atomic_write(stem.with_suffix(".wav"), write)
        atomic_write_text(stem.with_suffix(".lab"), u.text + "\n")


def synthetic_row(recognizer, teacher, texts: list[str]) -> dict[str, float]:
    """WER of the voice alone (the audio head; with its phones, as ``--modality audio`` reads; pocketsphinx) on the
    `synthetic` voices saying `texts`."""
    import peers

    from lipnet.lipreading import decoding
    from lipnet.recognition import fusion

    said, sound = synthetic(texts)
    frames = [audio.video_frames(len(x)) for x in sound]
    heads = [recognizer.posteriors(None, x, n)["audio"] for x, n in zip(sound, frames)]
    voices = [recognizer.voice(x, n, teacher) for x, n in zip(sound, frames)]
    return {
        "audio": metrics.wer(said, [decoding.grammar(p) for p in heads]),
        "audio + phones": metrics.wer(
            said, [fusion.Candidates.proposed(None, v).best(None, recognizer.config.phone_weighting)[0] for v in voices]
        ),
        "pocketsphinx": metrics.wer(said, [peers.pocketsphinx_words(x) for x in sound]),
    }


def wers(recognizer, utts, sound) -> dict[str, float]:
    """WER of the recogniser's audio and fused heads on the clips heard as `sound` (grammar decoder)."""
    return hear(recognizer, utts, None, sound, None)[0]


def hear(recognizer, utts, chars, sound, teacher) -> tuple[dict[str, float], list, list]:
    """One pass of the recogniser over the clips heard as `sound`: the WER of its audio and fused heads (grammar
    decoder), and, given the lips' posteriors `chars` and the phone model `teacher` (the lip-sync model), each
    clip's late-fusion `Candidates`: of the lips, the voice and its phones (``av``), and of the voice and its phones
    alone (what ``--modality audio`` reads)."""
    from lipnet.lipreading import decoding
    from lipnet.recognition import dataset, fusion

    read = recognizer.batch_posteriors(dataset.inputs(utts, recognizer.config, sound), [len(u.lips) for u in utts])
    texts = [u.text for u in utts]
    heads = {name: metrics.wer(texts, [decoding.grammar(p) for p in read[head]]) for name, head in HEADS.items()}
    if chars is None:
        return heads, [], []
    voices = [recognizer.voice(x, len(u.lips), teacher) for x, u in zip(sound, utts)]
    both = [fusion.Candidates.proposed(c, v) for c, v in zip(chars, voices)]
    return heads, both, [fusion.Candidates.proposed(None, v) for v in voices]


def hear_all(recognizer, utts, chars, teacher) -> dict[str, tuple[list[np.ndarray], dict[str, float], list, list]]:
    """Every condition (clean, each noise at each SNR): its sound, and what `hear` makes of it."""
    conditions = [("clean", None)] + [(n, s) for n in NOISES for s in SNRS] + [("voice", v) for v in VOICES]
    out = {}
    for noise, snr in conditions:
        sound = heard(utts, noise, snr)
        out[_name(noise, snr)] = (sound, *hear(recognizer, utts, chars, sound, teacher))
    return out


def halves(n: int) -> list[np.ndarray]:
    """The held-out clips' indices in two random halves (seed `SEED`), for cross-fitting late fusion's weights."""
    order = np.random.default_rng(SEED).permutation(n)
    return [np.sort(order[: n // 2]), np.sort(order[n // 2 :])]


def calibrated(heard_as: dict, texts: list[str], start: Weights) -> list[Weights]:
    """Late fusion's weights (voice, phones) for each clip, calibrated from `start` on the other half of the clips
    (`halves`) in the `CALIBRATION` conditions (`heard_as`: condition -> every clip's `Candidates`)."""
    from lipnet.recognition import fusion

    weights = [start] * len(texts)
    parts = halves(len(texts))
    for k, part in enumerate(parts):
        other = parts[1 - k]
        chosen = fusion.calibrate(
            [[heard_as[c][i] for i in other] for c in CALIBRATION], [texts[i] for i in other], *start
        )
        print(f"  weights calibrated on half {2 - k}: (a, b) {chosen[0]}, (c, d) {chosen[1]}", flush=True)
        for i in part:
            weights[i] = chosen
    return weights


def calibrate(heard: dict, texts: list[str], start: Weights) -> Weights:
    """Late fusion's weights calibrated from `start` on all the clips in the `CALIBRATION` conditions
    (`hear_all`'s)."""
    from lipnet.recognition import fusion

    return fusion.calibrate([heard[name][2] for name in CALIBRATION], texts, *start)


def table(heard: dict, utts, chars, shipped: Weights, peers_too: bool) -> dict:
    """Every condition's WER (`hear_all`'s `heard`): {condition: {modality: WER}}; ``av`` cross-fitted
    (`calibrated`, from the `shipped` weights), and with the `shipped` weights on the `CALIBRATION` conditions;
    ``audio + phones``, the voice alone as ``--modality audio`` reads it, with the shipped phones' weights."""
    import peers

    from lipnet.lipreading import decoding

    texts = [u.text for u in utts]
    video = metrics.wer(texts, [decoding.grammar(c) for c in chars])
    heard_as = {name: candidates for name, (_, _, candidates, _) in heard.items()}
    weights = calibrated(heard_as, texts, shipped)
    rows = {}
    for name, (sound, heads, candidates, alone) in heard.items():
        row = {"video": video, **heads}
        row["audio + phones"] = metrics.wer(texts, [c.best(None, shipped[1])[0] for c in alone])
        row["av"] = metrics.wer(texts, [c.best(*w)[0] for c, w in zip(candidates, weights)])
        if peers_too:
            row["pocketsphinx"] = metrics.wer(texts, [peers.pocketsphinx_words(s) for s in sound])
        rows[name] = row
        print(f"  {name}: " + ", ".join(f"{k} {v:.1%}" for k, v in row.items()), flush=True)
    rows["shipped weights"] = {
        name: metrics.wer(texts, [c.best(*shipped)[0] for c in heard_as[name]]) for name in CALIBRATION
    }
    print("  av with the shipped weights (calibrated on these clips): " + str(rows["shipped weights"]))
    return rows


def weights_of(recognizer) -> Weights:
    return recognizer.config.voice_weighting, recognizer.config.phone_weighting


def _name(noise: str, snr: float | None) -> str:
    return noise if snr is None else f"{noise} {snr:+d} {'st' if noise == 'voice' else 'dB'}"


def plot(path: Path, rows: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NOISES), figsize=(10, 4.6), sharey=True)
    xs = ["clean", *map(str, SNRS)]
    for ax, noise in zip(axes, NOISES):
        for modality, style in (
            ("video", "-o"),
            ("audio", "--s"),
            ("audio + phones", "-s"),
            ("av", "-^"),
            ("early", "--^"),
            ("pocketsphinx", ":x"),
        ):
            ys = [rows["clean"][modality]] + [rows[f"{noise} {s:+d} dB"][modality] for s in SNRS]
            ax.plot(xs, [100 * y for y in ys], style, label=LABELS.get(modality, modality))
        ax.set_title(f"{noise} noise, held-out s1 (110 clips)")
        ax.set_xlabel("SNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("WER (%), GRID grammar decoder")
    handles, labels = axes[0].get_legend_handles_labels()
    # below the panels, where it hides no line
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False, fontsize="small")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--data", default=str(env.DATA_DIR / "s1"), help="extracted s1 crops")
    p.add_argument("--runs", default=str(env.RUNS_DIR / "avsr-bench"))
    p.add_argument("--train", action="store_true", help="train (or resume) both fusions")
    p.add_argument("--only", choices=FUSIONS, help="train only this fusion")
    p.add_argument("--epochs", type=int, default=None, help="epochs a fusion (default: RecognizerConfig's)")
    p.add_argument("--audio-units", type=int, default=None, help="the audio encoder's width (RecognizerConfig's)")
    p.add_argument("--start-from", help="fine-tune this recogniser (e.g. models/avsr-grid-s1.keras) instead")
    p.add_argument("--learning-rate", type=float, default=None, help="with --start-from (default: its own)")
    p.add_argument(
        "--voiced", type=int, default=0, help="learn also from synthetic voices (voices.LEARNT), each saying this many"
    )
    p.add_argument(
        "--voices-corpus", help="write the --voiced synthetic utterances to this folder (.wav, .lab), and stop"
    )
    p.add_argument("--ship", action="store_true", help=f"score those trained, save the best on s1_val as {MODEL}")
    p.add_argument("--calibrate", action="store_true", help=f"calibrate late fusion's weights into {MODEL}'s JSON")
    p.add_argument("--fixture", action="store_true", help=f"write the lip reader's held-out posteriors to {FIXTURE}")
    p.add_argument(
        "--listening-warps", help="hear the voice through these warps instead (e.g. 1.0), scored into avsr.warps-*.json"
    )
    p.add_argument(
        "--phone-models",
        help="hear the voice's phones also by these lip-sync models (comma-separated, '' none) instead of its own",
    )
    args = p.parse_args()
    cli.start()
    import peers

    from lipnet import runs
    from lipnet.lipreading import decoding
    from lipnet.lipreading import model as lipnet_model
    from lipnet.lipreading.reader import LipReader
    from lipnet.recognition import dataset, trainer, voices
    from lipnet.recognition.model import RecognizerConfig

    reader = LipReader()
    held_out, val = split("s1_heldout"), split("s1_val")
    stems = sorted(p.stem for p in (SHARED / "s1").glob("*.mp4"))
    train_stems = [s for s in stems if s not in set(held_out) | set(val)]
    data = Path(args.data)
    if args.voices_corpus:  # what the recogniser learns with --voiced, for lipsync.py --train
        config = RecognizerConfig(voices=voices.LEARNT, voiced=args.voiced)
        write_corpus(Path(args.voices_corpus), dataset.voiced(config, kept(val + held_out)))
        return
    if args.train:
        train_set, _ = utterances(train_stems, reader, data)
        val_set, _ = utterances(val, reader, data)
        scored = kept(val + held_out)
        for fusion in [args.only] if args.only else FUSIONS:
            run = Path(args.runs) / fusion
            print(f"{fusion} fusion: {run}", flush=True)
            if (run / "last.json").is_file():
                config = runs.run_config(run, RecognizerConfig, "a recogniser", RecognizerConfig.kind)[0]
                trainer.resume(run, train_set + dataset.voiced(config, scored), val_set)
            else:
                config = RecognizerConfig(fusion=fusion)
                config.epochs = args.epochs or config.epochs
                config.audio_units = args.audio_units or config.audio_units
                if args.voiced:
                    config.voices, config.voiced = voices.LEARNT, args.voiced
                if args.start_from:  # the shipped network and its settings, trained on from there
                    shipped = trainer.load(args.start_from, reader.weights).config
                    config = dataclasses.replace(
                        shipped, start_from=str(Path(args.start_from).resolve().relative_to(env.ROOT)),
                        voices=config.voices, voiced=config.voiced, epochs=config.epochs,
                        learning_rate=args.learning_rate or shipped.learning_rate,
                    )  # fmt: skip
                trainer.train(config, train_set + dataset.voiced(config, scored), val_set, run)
        return
    test, chars = utterances(held_out, reader, data)
    if args.fixture:  # float16 character posteriors, and the lip reader they are of
        arrays = {"stems": np.array(held_out), "chars": np.stack(chars).astype(np.float16)}
        reader_id = np.array(lipnet_model.fingerprint(reader.weights))
        atomic_write(FIXTURE, lambda f: np.savez_compressed(f, reader=reader_id, **arrays))
        return
    results = {"machine": platform.processor() or platform.machine(), "date": str(datetime.date.today())}
    if args.ship:
        val_set, _ = utterances(val, reader, data)
        chosen, heard_by = {}, {}
        for fusion in [f for f in FUSIONS if (Path(args.runs) / f / "best.keras").is_file()]:
            recognizer = listening(trainer.load(Path(args.runs) / fusion / "best.keras", reader.weights), args)
            clean, babble = (
                wers(recognizer, val_set, heard(val_set, "clean", None)),
                wers(recognizer, val_set, heard(val_set, "babble", 0)),
            )
            chosen[fusion] = (clean["early"] + babble["early"] + clean["audio"]) / 3
            print(
                f"{fusion}: s1_val WER av {clean['early']:.1%}, babble 0 dB {babble['early']:.1%}, audio {clean['audio']:.1%}"
            )
            print(f"{fusion} fusion, held-out s1:", flush=True)
            heard_by[fusion] = hear_all(recognizer, test, chars, reader.teacher)
            results[fusion] = table(heard_by[fusion], test, chars, weights_of(recognizer), False)
        best = min(chosen, key=chosen.get)
        print(f"shipping {best} fusion (s1_val mean WER {chosen[best]:.1%})")
        trainer.load(Path(args.runs) / best / "best.keras", reader.weights).save(MODEL)
    recognizer = listening(trainer.load(MODEL, reader.weights), args)
    shipped = heard_by[recognizer.config.fusion] if args.ship else hear_all(recognizer, test, chars, reader.teacher)
    if args.calibrate or args.ship:
        chosen = calibrate(shipped, [u.text for u in test], weights_of(recognizer))
        recognizer.config.voice_weighting, recognizer.config.phone_weighting = chosen
        print(f"late fusion's weights (a, b), (c, d) on all held-out clips: {chosen}", flush=True)
        config = json.dumps(dataclasses.asdict(recognizer.config), indent=2)
        atomic_write_text(MODEL.with_suffix(".json"), config)  # the network is as it was: its configuration alone
    print(f"shipped ({recognizer.config.fusion} fusion), held-out s1:", flush=True)
    results["shipped"] = table(shipped, test, chars, weights_of(recognizer), peers_too=True)
    others, other_chars = other_speakers(reader)
    print("other speakers, clean:", flush=True)
    texts = [u.text for u in others]
    heads, candidates, alone = hear(recognizer, others, other_chars, heard(others, "clean", None), reader.teacher)
    weights = weights_of(recognizer)
    read = {
        "audio + phones": [c.best(None, weights[1])[0] for c in alone],
        "av": [c.best(*weights)[0] for c in candidates],
        "pocketsphinx": [peers.pocketsphinx_words(u.samples) for u in others],
    }
    results["others"] = {
        "video": metrics.wer(texts, [decoding.grammar(c) for c in other_chars]),
        **heads,
        **{name: metrics.wer(texts, hyps) for name, hyps in read.items()},
    }
    print("  " + ", ".join(f"{k} {v:.1%}" for k, v in results["others"].items()))
    # ten clips are few: what each WER could be, the clips drawn again (95%, bootstrap)
    results["others 95% interval"] = {name: metrics.wer_interval(texts, hyps, seed=SEED) for name, hyps in read.items()}
    print(
        "  95% intervals: " + ", ".join(f"{k} {a:.1%}-{b:.1%}" for k, (a, b) in results["others 95% interval"].items())
    )
    print("espeak-ng voices, clean:", flush=True)
    results["synthetic"] = synthetic_row(recognizer, reader.teacher, [u.text for u in test])
    print("  " + ", ".join(f"{k} {v:.1%}" for k, v in results["synthetic"].items()))
    results["listening_warps"] = list(recognizer.config.listening_warps)
    if args.listening_warps:  # a variant: its figures beside the shipped ones
        name = "avsr.warps-" + "-".join(map(str, recognizer.config.listening_warps)) + ".json"
        atomic_write_text(Path(__file__).with_name(name), json.dumps(results, indent=1))
        return
    plot(Path(__file__).with_name("avsr.png"), results["shipped"])
    atomic_write_text(Path(__file__).with_name("avsr.json"), json.dumps(results, indent=1))


def listening(recognizer, args):
    """The recogniser, hearing the voice through ``--listening-warps`` and by ``--phone-models`` when given."""
    if args.listening_warps:
        recognizer.config.listening_warps = tuple(float(w) for w in args.listening_warps.split(","))
        recognizer.config.check()
    if args.phone_models is not None:
        recognizer.config.phone_models = tuple(filter(None, args.phone_models.split(",")))
    return recognizer


if __name__ == "__main__":
    main()

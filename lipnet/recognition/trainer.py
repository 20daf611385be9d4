"""Training the recogniser in a `lipnet.runs` run directory (checkpoints, log, curves, TensorBoard, resume).

Both outputs learn together, CTC each: the fused ``av`` on every clip, the audio head wherever the clip has sound.
The epoch kept is the one with the lowest mean of three validation WERs (greedy, `s1_val`): audio-visual clean,
audio-visual in babble at 0 dB, and audio alone clean: a recogniser that reads the clean voice, that holds up in
noise, and whose audio head stands on its own. The lip reader read the validation clips in its own training, so
their lips are misread in places first (`dataset.misread_some`), as clips it never saw are.
"""

from pathlib import Path

import keras
import numpy as np

from lipnet import env, metrics, runs
from lipnet.lipreading import decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.lipreading.model import ctc_loss
from lipnet.recognition import dataset
from lipnet.recognition.model import RecognizerConfig, build
from lipnet.recognition.recognizer import Recognizer, load

LOGBOOK = runs.Logbook(
    fields=(
        "epoch",
        "loss",
        "av_loss",
        "audio_loss",
        "val_wer_av",
        "val_wer_av_babble0",
        "val_wer_audio",
        "val_wer",
        "learning_rate",
        "seconds",
        "clips_per_s",
    ),
    curves=(
        ("Loss", "CTC loss per clip", ("loss", "av_loss", "audio_loss"), True),
        ("Validation WER (greedy)", "%", ("val_wer_av", "val_wer_av_babble0", "val_wer_audio", "val_wer"), False),
    ),
    monitor="val_wer",
    mode="min",
    describe="epoch {epoch}: loss {loss:.2f}, WER av {val_wer_av:.1%}, av babble 0 dB {val_wer_av_babble0:.1%}, "
    "audio {val_wer_audio:.1%} ({clips_per_s:.0f} clips/s)".format_map,
)
VALIDATION_SNR = 0.0  # dB of the babble the validation clips are also heard in


def train(
    config: RecognizerConfig,
    train_set: list[dataset.Utterance],
    val_set: list[dataset.Utterance],
    run_dir: str | Path,
    verbose: int = 1,
) -> Recognizer:
    """Fit a recogniser in a run directory on `train_set`, choosing the epoch on `val_set`; returns its best."""
    config.lip_reader_sha1 = config.lip_reader_sha1 or lipnet_model.fingerprint(env.ROOT / config.lip_reader)
    run_dir = runs.start(run_dir, config.check(), {"train_clips": len(train_set), "val_clips": len(val_set)})
    return _fit(config, train_set, val_set, run_dir, verbose)


def resume(
    run_dir: str | Path,
    train_set: list[dataset.Utterance],
    val_set: list[dataset.Utterance],
    epochs: int | None = None,
    verbose: int = 1,
) -> Recognizer:
    """Continue a recogniser's run from its last completed epoch, optimizer state included, to its own number of
    epochs or to `epochs`."""
    config, _ = runs.run_config(run_dir, RecognizerConfig, "a recogniser", kind=RecognizerConfig.kind)
    config.epochs = epochs or config.epochs
    model, done = runs.resumable(Path(run_dir))
    return _fit(config, train_set, val_set, Path(run_dir), verbose, model, done)


def _fit(config, train_set, val_set, run_dir: Path, verbose: int, model=None, done: int = 0) -> Recognizer:
    keras.utils.set_random_seed(config.seed + done)
    if model is None:
        model = build(config, seed=config.seed)
        if config.start_from:  # fine-tuning: the same network, as that recogniser left it
            model.set_weights(load(env.ROOT / config.start_from).network.get_weights())
        model.compile(
            keras.optimizers.Adam(runs.learning_rate(config.learning_rate, "cosine", _steps(config, train_set))),
            loss={"av": ctc_loss, "audio": ctc_loss},
        )
    pool = [u.samples for u in val_set]
    val_set = dataset.misread_some(val_set, config.lip_errors, config.seed)
    clean = dataset.inputs(val_set, config)
    babble = dataset.inputs(val_set, config, dataset.noisy(val_set, "babble", VALIDATION_SNR, pool, config.seed))
    texts, frames = [u.text for u in val_set], [len(u.lips) for u in val_set]

    def validate(net: keras.Model) -> dict:
        reader = Recognizer(config, net)
        heard, in_babble = reader.batch_posteriors(clean, frames), reader.batch_posteriors(babble, frames)

        def wer(probs: list[np.ndarray]) -> float:
            return metrics.wer(texts, [decoding.greedy(p) for p in probs])

        figures = {
            "val_wer_av": wer(heard["av"]),
            "val_wer_av_babble0": wer(in_babble["av"]),
            "val_wer_audio": wer(heard["audio"]),
        }
        return {**figures, "val_wer": float(np.mean(list(figures.values())))}

    runs.fit(
        model, dataset.Batches(train_set, config, done), run_dir, lambda path, net: Recognizer(config, net).save(path),
        LOGBOOK, validate=validate, epochs=config.epochs, done=done, train_items=len(train_set), verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def _steps(config: RecognizerConfig, train_set: list) -> int:
    return config.epochs * (len(train_set) // config.batch_size)

"""The phoneme teacher: a temporal CNN + bidirectional GRU that reads every 10 ms frame's phone from MFCC + Δ + ΔΔ.

It is the ``sequence`` kind of `lipnet.speech.lipsync` trained on ``phones`` (39 ARPAbet phones and silence) with a
frame-level cross-entropy on forced-aligned labels, and it is what ships as lipsync.py's offline model. It sees
the whole utterance (±40 ms of convolution, then a GRU each way), so it cannot run live; the real-time student
(`lipnet.speech.student`) learns from its posteriors. This module holds the network and the measure of a phone
recogniser, the phone error rate.
"""

from collections.abc import Sequence

from lipnet import metrics

Phone = tuple[str, float, float]  # an align.Segment, or any (phone, start, end)


def network(dims: int, classes: int, units: int):
    """Two 1-D convolutions (±4 frames) under a bidirectional GRU: a logit per class for every frame."""
    import keras

    return keras.Sequential(
        [
            keras.Input((None, dims)),
            keras.layers.Conv1D(units, 5, padding="same", activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Conv1D(units, 5, padding="same", activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Bidirectional(keras.layers.GRU(units // 2, return_sequences=True)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(classes),
        ]
    )


def said(phones: Sequence[Phone]) -> str:
    """The phones of timed segments as a phone error rate compares them: silences and pauses left out, stress
    marks dropped, a phone repeated in a row kept once (frame-wise recognition cannot tell "T T" from "T")."""
    spoken = [p[0].upper().rstrip("012") for p in phones if p[0].lower() not in ("sil", "sp")]
    spoken = [p for p in spoken if not p.startswith("+")]  # pocketsphinx's fillers (+NSN+, +SPN+)
    return " ".join(p for i, p in enumerate(spoken) if i == 0 or p != spoken[i - 1])


def phone_error_rate(references: Sequence[Sequence[Phone]], hypotheses: Sequence[Sequence[Phone]]) -> float:
    """Corpus phone error rate: phone edits (substitutions, insertions, deletions) / reference phones."""
    return metrics.wer([said(r) for r in references], [said(h) for h in hypotheses])

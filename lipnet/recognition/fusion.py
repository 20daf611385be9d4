"""Late fusion: the sentence the lips and the voice together find most probable, each trusted as far as it is sure.

Each stream reads the clip on its own: the lip reader's character posteriors and the recogniser's audio head's. The
candidates are each stream's best sentences (the grammar's n best, or each free decoder's one), and every candidate
is scored by both streams' CTC probabilities: w log P(sentence | voice) + (1 - w) log P(sentence | lips). The voice's
weight w = a + b ln(H_lips / H_voice), clipped to 0..1, where H is a stream's mean frame entropy (nats): noise
flattens the voice's frames and raises H_voice, and w falls. It is the ratio that counts: a speaker neither stream
has met raises both entropies alike (about twice as high as on s1's own held-out clips), and then neither stream is
trusted the less for it. (a, b) is the recogniser's ``voice_weighting``, calibrated by `calibrate` on clips the lip
reader never trained on.

Whole sentences are scored, not frames: the two streams' CTC spikes do not fall on the same frames, and a frame by
frame product of their posteriors read worse than either stream alone (issue #25).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lipnet import env, grid, metrics
from lipnet.lipreading import decoding

Weighting = tuple[float, float]
_FLOOR = 1e-300  # probabilities are floored to this before taking logs
_SURE = 1e-6  # entropies (nats) are floored to this: a stream cannot be surer than sure


def entropy(probs: np.ndarray) -> float:
    """The mean entropy (nats) of a stream's frames (T, 28): how unsure it is."""
    return max(float(np.mean(-np.sum(probs * np.log(np.maximum(probs, 1e-12)), axis=-1))), _SURE)


def voice_weight(lips: float, voice: float, weighting: Weighting) -> float:
    """The voice's weight, 0..1, given the two streams' entropies (`entropy`)."""
    a, b = weighting
    return float(np.clip(a + b * np.log(lips / voice), 0.0, 1.0))


@dataclass
class Candidates:
    """One clip's candidate sentences, each scored by both streams (log CTC probabilities), and how unsure each
    stream is; what the weighting is chosen on."""

    sentences: list[str]
    lips: np.ndarray
    voice: np.ndarray
    entropies: tuple[float, float]  # (lips, voice): `entropy`

    @classmethod
    def proposed(cls, lips: np.ndarray, voice: np.ndarray, n: int = env.FUSION_CANDIDATES) -> "Candidates":
        """Each stream's `n` best sentences of the GRID grammar (`decoding.grammar_nbest`), scored by both."""
        return cls.of(lips, voice, [s for p in (lips, voice) for s in decoding.grammar_nbest(p, n)])

    @classmethod
    def of(cls, lips: np.ndarray, voice: np.ndarray, sentences: Sequence[str]) -> "Candidates":
        """The `sentences` (duplicates dropped) scored on the two streams' posteriors (T, 28)."""
        sentences = list(dict.fromkeys(sentences))
        score = [[_log_probability(p, s) for s in sentences] for p in (lips, voice)]
        return cls(sentences, np.array(score[0]), np.array(score[1]), (entropy(lips), entropy(voice)))

    def best(self, weighting: Weighting) -> tuple[str, float]:
        """The sentence both streams find most probable, and the voice's weight it was chosen with."""
        w = voice_weight(*self.entropies, weighting)
        return self.sentences[int(np.argmax(w * self.voice + (1 - w) * self.lips))], w


def word_confidences(lips: np.ndarray, voice: np.ndarray, w: float, text: str, grammar: bool) -> list[float]:
    """How sure the two streams together are of each word of `text`, 0-1.

    Under the GRID grammar, a word's posterior among its slot's words with the others kept, on the fused score
    (`decoding.word_confidences` with both streams); otherwise each stream's confidence, weighted as the streams are
    (a weighted geometric mean)."""
    if not (grammar and grid.is_sentence(text)):
        each = [decoding.word_confidences(p, text) for p in (lips, voice)]
        return [float(c_l ** (1 - w) * c_v**w) for c_l, c_v in zip(*each)]
    return decoding.slot_posteriors(
        lambda s: w * _log_probability(voice, s) + (1 - w) * _log_probability(lips, s), text, grid.GRAMMAR
    )


def calibrate(conditions: Sequence[Sequence[Candidates]], texts: Sequence[str]) -> Weighting:
    """The weighting (a, b) with the lowest WER over clips heard in several `conditions` (each a list of the same
    clips' `Candidates`, clean or in noise, in the order of their true `texts`), searched on a grid: a in 0..2 (the
    voice's weight when both streams are as sure; above 1, the voice is trusted fully until it is a little less sure
    than the lips), b in 0..1.5. Ties go to the smaller b, then the larger a."""
    best, chosen = np.inf, (1.0, 0.0)
    for b in np.round(np.arange(0.0, 1.51, 0.05), 2):
        for a in np.round(np.arange(2.0, -0.01, -0.1), 2):
            wer = np.mean([metrics.wer(texts, [c.best((a, b))[0] for c in clips]) for clips in conditions])
            if wer < best - 1e-12:
                best, chosen = wer, (float(a), float(b))
    return chosen


def _log_probability(probs: np.ndarray, sentence: str) -> float:
    return float(np.log(max(decoding.sentence_probability(probs, sentence), _FLOOR)))

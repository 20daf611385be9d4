"""Late fusion: the sentence the lips and the voice together find most probable, each trusted as far as it is sure.

Three readings of a clip: the lip reader's character posteriors (``lips``), the recogniser's audio head's (``voice``),
and the voice's phones (``phones``: the lip-sync model's phone posteriors, what the lip reader learnt its frame head
from); the voice's two may be heard through several vocal tract warps (`Voice`), and each of their scores below is
then the warps' mean. The candidates are each character stream's best sentences (the grammar's n best, or each free
decoder's one) and, under the grammar, the sentences the phones climb to from them: every sentence one word away from the
candidate they fit best, then from the best of those, until it stays (GRID's letters and digits are where both
character streams err, and on a stranger most words). Every candidate is scored by all three: its CTC log probability under
the lips and under the voice, and how well the phones fit it (`align.fits`: its phones force-aligned to the phone
posteriors, in nats below free phone recognition), as

    w (log P(sentence | voice) + g fit(sentence | phones)) + (1 - w) log P(sentence | lips)

The voice's weight w = a + b ln(H_lips / H_voice), clipped to 0..1, where H is a stream's mean frame entropy (nats):
noise flattens the voice's frames and raises H_voice, and w falls. It is the ratio that counts: a speaker neither
stream has met raises both entropies alike (about twice as high as on s1's own held-out clips), and then neither is
trusted the less for it. The phones' weight g = c H_phones^-d: the phones know every sound of English from all 575
training clips, where the character streams learnt each letter from some 23, and they are sure in clean speech and
unsure in noise. (a, b) is the recogniser's ``voice_weighting``, (c, d) its ``phone_weighting``, calibrated by
`calibrate` on clips the lip reader never trained on.

Whole sentences are scored, not frames: the streams' CTC spikes do not fall on the same frames, and a frame by frame
product of their posteriors read worse than either stream alone (issue #25).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lipnet import env, grid, metrics
from lipnet.lipreading import decoding
from lipnet.speech import align, lipsync

Weighting = tuple[float, float]
_FLOOR = 1e-300  # probabilities are floored to this before taking logs
_SURE = 1e-6  # entropies (nats) are floored to this: a stream cannot be surer than sure


def entropy(probs: np.ndarray) -> float:
    """The mean entropy (nats) of a stream's frames (T, classes): how unsure it is."""
    return max(float(np.mean(-np.sum(probs * np.log(np.maximum(probs, 1e-12)), axis=-1))), _SURE)


def voice_weight(lips: float, voice: float, weighting: Weighting) -> float:
    """The voice's weight, 0..1, given the two character streams' entropies (`entropy`)."""
    a, b = weighting
    return float(np.clip(a + b * np.log(lips / voice), 0.0, 1.0))


def phone_weight(phones: float, weighting: Weighting) -> float:
    """The phones' weight beside the voice's characters, given the phones' entropy (`entropy`)."""
    c, d = weighting
    return float(c * phones**-d)


@dataclass
class Phones:
    """The voice's phone posteriors (frames x `visemes.PHONES`) at `rate` frames a second: the lip-sync model's. Each
    sentence is fitted to them once (`fits` keeps what it found: the candidates of the lips and of the voice, the
    climb and the word confidences ask for many of the same sentences)."""

    probs: np.ndarray
    rate: float
    _fitted: dict[str, float] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def heard(cls, model: "lipsync.VisemeModel", samples: np.ndarray, warp: float = 1.0) -> "Phones":
        """What a phone model (the lip-sync model, `lipsync.load`) hears in mono 16 kHz samples, through a vocal
        tract warped by `warp`."""
        return cls(model.probabilities(samples, warp), 1000 / model.config.hop_ms)

    def fits(self, sentences: Sequence[str]) -> np.ndarray:
        """How well each sentence fits the phones (`align.fits`)."""
        new = [s for s in dict.fromkeys(sentences) if s not in self._fitted]
        self._fitted.update(zip(new, align.fits(self.probs, new, self.rate)))
        return np.array([self._fitted[s] for s in sentences], np.float64)


@dataclass
class Voice:
    """The voice as the recogniser's audio head (character posteriors, T x 28) and the phones (`Phones`) hear it,
    through each of the recogniser's vocal tract warps (`RecognizerConfig.listening_warps`, `audio.vtlp`; the shipped
    one hears through one, unwarped), the phones by each phone model (`RecognizerConfig.phone_models`): a sentence's
    score is its mean over the warps (and the phone models). Test-time vocal tract length normalisation, averaged
    rather than chosen: a stranger's vocal tract is longer or shorter than the one voice both models learnt from
    (bench/RESULTS.md, 2026-12-04, for what three warps did)."""

    chars: list[np.ndarray]
    phones: list[Phones]

    @property
    def probs(self) -> np.ndarray:
        """The character posteriors (T, 28), the warps' mean a frame: what a free decoder reads (warping the
        frequencies moves nothing in time, so the warps' frames are the same moments)."""
        return np.mean(self.chars, axis=0)

    @property
    def phone_probs(self) -> np.ndarray:
        """The phone posteriors (frames, phones), the warps' and phone models' mean a frame: what tells speech from
        silence."""
        return np.mean([p.probs for p in self.phones], axis=0)

    def entropies(self) -> tuple[float, float]:
        """How unsure (`entropy`) the characters and the phones are, each the warps' (and phone models') mean."""
        return float(np.mean([entropy(c) for c in self.chars])), float(np.mean([entropy(p.probs) for p in self.phones]))

    def nbest(self, n: int) -> list[str]:
        """The grammar's `n` best sentences of each warp's characters (`decoding.grammar_nbest`)."""
        return [s for c in self.chars for s in decoding.grammar_nbest(c, n)]

    def log_probabilities(self, sentences: Sequence[str]) -> np.ndarray:
        """Each sentence's CTC log probability under the characters, the warps' mean."""
        return np.mean([_log_probabilities(c, sentences) for c in self.chars], axis=0)

    def fits(self, sentences: Sequence[str]) -> np.ndarray:
        """How well each sentence fits the phones (`Phones.fits`), the warps' and phone models' mean."""
        return np.mean([p.fits(sentences) for p in self.phones], axis=0)


@dataclass
class Candidates:
    """One clip's candidate sentences, each scored by the three streams, and how unsure each stream is; what the
    weighting is chosen on."""

    sentences: list[str]
    lips: np.ndarray  # log CTC probabilities
    voice: np.ndarray  # log CTC probabilities
    phones: np.ndarray  # `align.fits`
    entropies: tuple[float, float, float]  # (lips, voice, phones): `entropy`

    @classmethod
    def proposed(cls, lips: np.ndarray | None, voice: Voice, n: int = env.FUSION_CANDIDATES) -> "Candidates":
        """Each character stream's `n` best sentences of the GRID grammar (`decoding.grammar_nbest`; the voice's
        through each warp) and the phones' climb from them (`climbed`), scored by all the streams (`lips` None: the
        voice alone)."""
        nbest = ([] if lips is None else decoding.grammar_nbest(lips, n)) + voice.nbest(n)
        fits = climbed(voice, nbest)
        return cls.of(lips, voice, list(fits), fits)

    @classmethod
    def of(
        cls, lips: np.ndarray | None, voice: Voice, sentences: Sequence[str], fits: dict[str, float] | None = None
    ) -> "Candidates":
        """The `sentences` (duplicates dropped) scored on the streams' posteriors (`lips` None: the voice alone);
        `fits`: the phones' fits of them, where already made (`climbed`)."""
        sentences = list(dict.fromkeys(sentences))
        seen = np.zeros(len(sentences)) if lips is None else _log_probabilities(lips, sentences)
        fitted = voice.fits(sentences) if fits is None else np.array([fits[s] for s in sentences])
        return cls(
            sentences, seen, voice.log_probabilities(sentences), fitted,
            (np.nan if lips is None else entropy(lips), *voice.entropies()),
        )  # fmt: skip

    def weights(self, voice: Weighting | None, phones: Weighting) -> tuple[float, float]:
        """(w, g): the voice's weight (1 with `voice` None, or when there are no lips) and the phones'
        (`voice_weight`, `phone_weight`)."""
        lips_unsure, voice_unsure, phones_unsure = self.entropies
        w = 1.0 if voice is None or np.isnan(lips_unsure) else voice_weight(lips_unsure, voice_unsure, voice)
        return w, phone_weight(phones_unsure, phones)

    def best(self, voice: Weighting | None, phones: Weighting) -> tuple[str, tuple[float, float]]:
        """The sentence the streams together find most probable, and the weights (w, g) it was chosen with."""
        w, g = self.weights(voice, phones)
        return self.sentences[int(np.argmax(w * (self.voice + g * self.phones) + (1 - w) * self.lips))], (w, g)


def climbed(phones: Phones | Voice, sentences: Sequence[str], rounds: int = env.FUSION_CLIMBS) -> dict[str, float]:
    """The GRID `sentences` and those the phones climb to from them, each with its fit (`Phones.fits`): the
    sentences one word away from the one the phones fit best join, then those one word away from the best of all,
    until the best stays (or `rounds` times). A hill climb towards the phones' own best sentence of the grammar, which
    neither character stream may have proposed: on speakers neither met, the right sentence is among their 20 on half
    the clips, and among these on nine in ten (bench/RESULTS.md, 2026-12-04)."""
    unique = list(dict.fromkeys(sentences))
    fits = dict(zip(unique, phones.fits(unique)))
    best = max(fits, key=fits.get)
    for _ in range(rounds):
        new = [s for s in grid.neighbours(best) if s not in fits]
        fits.update(zip(new, phones.fits(new)))
        climbed_to = max(fits, key=fits.get)
        if climbed_to == best:
            break
        best = climbed_to
    return fits


def word_confidences(
    lips: np.ndarray | None, voice: Voice, weights: tuple[float, float], text: str, grammar: bool
) -> list[float]:
    """How sure the streams together are of each word of `text`, 0-1, given their weights (w, g) (`lips` None: the
    voice alone).

    Under the GRID grammar, a word's posterior among its slot's words with the others kept, on the fused score
    (`decoding.slot_posteriors`); otherwise each character stream's confidence, weighted as the streams are (a
    weighted geometric mean)."""
    w, g = weights
    if lips is None:
        lips, w = voice.probs, 1.0
    if not (grammar and grid.is_sentence(text)):
        each = [decoding.word_confidences(p, text) for p in (lips, voice.probs)]
        return [float(c_l ** (1 - w) * c_v**w) for c_l, c_v in zip(*each)]
    around = [text, *grid.neighbours(text)]  # every sentence the slot posteriors ask for, scored in one pass a stream
    seen = 0.0 if w == 1.0 else (1 - w) * _log_probabilities(lips, around)
    fused = dict(zip(around, w * (voice.log_probabilities(around) + g * voice.fits(around)) + seen))
    return decoding.slot_posteriors(fused.__getitem__, text, grid.GRAMMAR)


def calibrate(
    conditions: Sequence[Sequence[Candidates]], texts: Sequence[str], voice: Weighting, phones: Weighting
) -> tuple[Weighting, Weighting]:
    """The weightings (voice, phones) with the lowest WER over clips heard in several `conditions` (each a list of
    the same clips' `Candidates`, clean or in noise, in the order of their true `texts`), searched on grids one after
    the other from the given ones: the phones' (c in 0.001..0.1, d in 0..3), then the voice's (a in 0..2: the
    voice's weight when both character streams are as sure; above 1, the voice is trusted fully until it is a little
    less sure than the lips; b in 0..1.5). Ties go to the smaller exponent, then to the larger factor."""

    def wer(v: Weighting, p: Weighting) -> float:
        return float(np.mean([metrics.wer(texts, [c.best(v, p)[0] for c in clips]) for clips in conditions]))

    def search(grid_a, grid_b, score) -> Weighting:
        best, chosen = np.inf, None
        for b in grid_b:
            for a in grid_a:
                value = score((float(a), float(b)))
                if value < best - 1e-12:
                    best, chosen = value, (float(a), float(b))
        return chosen

    factors = (0.1, 0.03, 0.01, 0.003, 0.001)
    phones = search(factors, np.round(np.arange(0.0, 3.01, 0.5), 2), lambda p: wer(voice, p))
    voice = search(np.round(np.arange(2.0, -0.01, -0.1), 2), np.round(np.arange(0.0, 1.51, 0.05), 2),
                   lambda v: wer(v, phones))  # fmt: skip
    return voice, phones


def _log_probabilities(probs: np.ndarray, sentences: Sequence[str]) -> np.ndarray:
    return np.maximum(decoding.sentence_log_probabilities(probs, sentences), np.log(_FLOOR))

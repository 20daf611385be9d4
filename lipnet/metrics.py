"""Recognition scores: character and word error rates (Levenshtein distance over reference length), accuracy.

Corpus rates divide the total edits by the total reference length, so long sentences weigh more; the mean
per-sentence rates weigh every sentence equally. The LipNet paper reports the former.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import editdistance
import numpy as np


def sentence_cer(ref: str, hyp: str) -> float:
    """Character error rate of one sentence: edits / reference characters (1.0 for any text against an empty one)."""
    return _rate(editdistance.eval(ref, hyp), len(ref), len(hyp))


def sentence_wer(ref: str, hyp: str) -> float:
    """Word error rate of one sentence: word edits / reference words (words split on whitespace)."""
    ref_words, hyp_words = ref.split(), hyp.split()
    return _rate(editdistance.eval(ref_words, hyp_words), len(ref_words), len(hyp_words))


def wer_interval(
    refs: Sequence[str], hyps: Sequence[str], level: float = 0.95, draws: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """A `level` bootstrap interval of the corpus `wer`: the sentences drawn with replacement `draws` times (the
    percentile interval). What a WER over a few sentences can be told from: a sentence's words err together."""
    _check(refs, hyps)
    edits = np.array([editdistance.eval(r.split(), h.split()) for r, h in zip(refs, hyps)], float)
    words = np.array([max(len(r.split()), 1) for r in refs], float)
    drawn = np.random.default_rng(seed).integers(len(refs), size=(draws, len(refs)))
    rates = edits[drawn].sum(1) / words[drawn].sum(1)
    low, high = np.quantile(rates, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus character error rate: total edits / total reference characters."""
    _check(refs, hyps)
    edits = sum(editdistance.eval(r, h) for r, h in zip(refs, hyps))
    return _rate(edits, sum(map(len, refs)), sum(map(len, hyps)))


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus word error rate: total word edits / total reference words."""
    _check(refs, hyps)
    refs_words, hyps_words = [r.split() for r in refs], [h.split() for h in hyps]
    edits = sum(editdistance.eval(r, h) for r, h in zip(refs_words, hyps_words))
    return _rate(edits, sum(map(len, refs_words)), sum(map(len, hyps_words)))


@dataclass
class Scores:
    """The scores of a set of sentences, and of each speaker's share of it."""

    cer: float  # corpus rates
    wer: float
    mean_cer: float  # means of the per-sentence rates
    mean_wer: float
    accuracy: float  # fraction of sentences recognised exactly
    count: int
    speakers: dict[str, "Scores"] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain numbers for JSON or a CSV row; per-speaker scores nested under "speakers" when there are any."""
        scores = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "speakers"}
        if self.speakers:
            scores["speakers"] = {speaker: part.to_dict() for speaker, part in self.speakers.items()}
        return scores


def score(refs: Sequence[str], hyps: Sequence[str], speakers: Sequence[str] | None = None) -> Scores:
    """Score hypotheses against references; `speakers` (one per sentence) adds a per-speaker breakdown."""
    _check(refs, hyps)
    scores = _score(refs, hyps)
    if speakers is not None:
        _check(refs, speakers, "speakers")
        for speaker in sorted(set(speakers)):
            pairs = [(r, h) for r, h, s in zip(refs, hyps, speakers) if s == speaker]
            scores.speakers[speaker] = _score(*zip(*pairs))
    return scores


def _score(refs: Sequence[str], hyps: Sequence[str]) -> Scores:
    n = len(refs)
    return Scores(
        cer=cer(refs, hyps),
        wer=wer(refs, hyps),
        mean_cer=sum(map(sentence_cer, refs, hyps)) / n if n else 0.0,
        mean_wer=sum(map(sentence_wer, refs, hyps)) / n if n else 0.0,
        accuracy=sum(r == h for r, h in zip(refs, hyps)) / n if n else 0.0,
        count=n,
    )


def _rate(edits: int, ref_length: int, hyp_length: int) -> float:
    """Edits per reference unit; against an empty reference, 0.0 if the hypothesis is empty too, else 1.0."""
    return edits / ref_length if ref_length else float(hyp_length > 0)


def _check(refs: Sequence, others: Sequence, name: str = "hypotheses") -> None:
    if len(refs) != len(others):
        raise ValueError(f"{len(refs)} references but {len(others)} {name}")

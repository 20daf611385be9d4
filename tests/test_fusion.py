"""Late fusion (issue #25): the lips and the voice read together, the voice trusted as far as it is sure of itself."""

import numpy as np
import pytest

from lipnet import alphabet, grid, metrics, visemes
from lipnet.lipreading import decoding
from lipnet.recognition import fusion
from lipnet.speech import align

FRAMES = 75
PHONES = (0.003, 2.0)  # the phones' weighting (c, d)
#: phones that hear nothing in particular: every sentence fits them alike, so they leave the choice to the others
NEUTRAL = fusion.Phones(np.full((300, len(visemes.PHONES)), 1 / len(visemes.PHONES)), 100.0)


def said(sentence: str, sure: float = 0.9) -> np.ndarray:
    """CTC posteriors (75, 28) that read `sentence`, one character every other frame with blanks between; each frame
    gives `sure` to its class and spreads the rest evenly (a lower `sure`: a voice in noise)."""
    labels = alphabet.encode(sentence)
    probs = np.full((FRAMES, alphabet.NUM_CLASSES), (1 - sure) / (alphabet.NUM_CLASSES - 1))
    probs[:, alphabet.BLANK] = sure
    for i, label in enumerate(labels):
        probs[2 * i + 1] = (1 - sure) / (alphabet.NUM_CLASSES - 1)
        probs[2 * i + 1, label] = sure
    return probs


def heard_once(chars: np.ndarray, phones: fusion.Phones = NEUTRAL) -> fusion.Voice:
    """A voice heard through one vocal tract: its characters and its phones."""
    return fusion.Voice([chars], [phones])


def candidates(lips: np.ndarray, voice: np.ndarray, phones: fusion.Phones = NEUTRAL) -> fusion.Candidates:
    return fusion.Candidates.proposed(lips, heard_once(voice, phones))


def heard(sentence: str, sure: float = 0.99) -> fusion.Phones:
    """Phone posteriors (100 a second, 3 s) that hear `sentence`: a pause, then each phone for 8 frames, `sure`."""
    index = [visemes.PHONES.index(p.rstrip("012")) for w in sentence.split() for p in visemes.phonemes(w)]
    labels = np.full(300, visemes.PHONES.index(align.SILENCE))
    labels[20 : 20 + 8 * len(index)] = np.repeat(index, 8)
    probs = np.full((300, len(visemes.PHONES)), (1 - sure) / (len(visemes.PHONES) - 1))
    probs[np.arange(300), labels] = sure
    return fusion.Phones(probs, 100.0)


def test_the_phones_fit_the_sentence_they_hear_best():
    phones = heard("bin blue at s two now")
    around = ["bin blue at s two now", *grid.neighbours("bin blue at s two now")]
    assert len(around) == 1 + sum(len(slot) - 1 for slot in grid.GRAMMAR) == len(set(around))
    fits = phones.fits(around)
    assert fits[0] == max(fits) > fits[1:].max() + 1 and fits[0] == pytest.approx(0, abs=1e-9)
    one = align.guided(phones.probs, around[0], phones.rate)[0]  # the batched pass agrees with the single one
    assert [w.label for w in one.words] == around[0].split()
    assert phones.fits(["bin blue at s two now " * 8])[0] == -np.inf  # more phones than frames: cannot fit
    silence = phones.fits([""])[0]  # no words (a free decoder may read none): a pause throughout, each on its own
    assert np.isfinite(silence) and silence < fits[1:].min()
    assert list(phones.fits([around[0], "", around[1]])) == [fits[0], silence, fits[1]]
    assert list(phones.fits(["", around[0]])) == [silence, fits[0]] and len(phones.fits([])) == 0


def test_the_phones_settle_what_the_characters_leave_open():
    """Lips and voice each half sure between two letters: the phones choose, and a neighbour of the n best that
    neither character stream proposed can win."""
    lips, voice = said("bin blue at f two now", 0.5), said("bin blue at d two now", 0.5)
    both = candidates(lips, voice, heard("bin blue at s two now"))
    assert both.best((0.5, 0.0), PHONES)[0] == "bin blue at s two now"
    assert candidates(lips, voice).best((0.5, 0.0), PHONES)[0] != "bin blue at s two now"
    alone = fusion.Candidates.proposed(None, heard_once(voice, heard("bin blue at s two now")))
    text, weights = alone.best(None, PHONES)
    assert text == "bin blue at s two now" and weights[0] == 1.0
    confidences = fusion.word_confidences(
        None, heard_once(voice, heard("bin blue at s two now")), weights, text, grammar=True
    )
    assert len(confidences) == 6 and min(confidences) > 0.5


def test_a_voice_heard_through_several_vocal_tracts_is_scored_by_their_mean():
    """Two warps hear two letters: each proposes its own, and a sentence's scores are the mean of the two's."""
    s, f = "bin blue at s two now", "bin blue at f two now"
    one, other = heard_once(said(s, 0.8), heard(s)), heard_once(said(f, 0.6), heard(f))
    both = fusion.Voice(one.chars + other.chars, one.phones + other.phones)
    assert {s, f} <= set(both.nbest(3)) and len(both.nbest(3)) == 6
    for score in ("log_probabilities", "fits"):
        mean = (getattr(one, score)([s, f]) + getattr(other, score)([s, f])) / 2
        np.testing.assert_allclose(getattr(both, score)([s, f]), mean)
    np.testing.assert_allclose(both.probs, (said(s, 0.8) + said(f, 0.6)) / 2)
    assert both.entropies()[0] == pytest.approx((fusion.entropy(said(s, 0.8)) + fusion.entropy(said(f, 0.6))) / 2)
    assert fusion.Candidates.proposed(None, both).best(None, PHONES)[0] == s  # the surer warp's letter


def test_grammar_nbest_is_best_first_and_starts_with_the_grammar_decoders_sentence():
    probs = said("bin blue at f two now", 0.6)
    best = decoding.grammar_nbest(probs, 5)
    assert len(best) == 5 == len(set(best)) and best[0] == decoding.grammar(probs) == "bin blue at f two now"
    scores = [decoding.sentence_probability(probs, s) for s in best]
    assert scores[0] == max(scores)


def test_a_sure_voice_outweighs_the_lips_and_a_voice_in_noise_does_not():
    lips = said("bin blue at f two now")
    clear, buried = said("bin blue at s two now", 0.98), said("bin blue at s two now", 0.3)
    weighting = (0.5, 0.3)
    sure = fusion.entropy(lips)
    assert fusion.voice_weight(sure, fusion.entropy(clear), weighting) > 0.5
    assert fusion.voice_weight(sure, fusion.entropy(buried), weighting) < 0.5
    assert candidates(lips, clear).best(weighting, PHONES)[0] == "bin blue at s two now"
    assert candidates(lips, buried).best(weighting, PHONES)[0] == "bin blue at f two now"
    assert candidates(lips, buried).best((1.0, 0.0), PHONES)[0] == "bin blue at s two now"  # blind to noise


def test_a_stranger_to_both_streams_is_weighted_as_a_familiar_speaker():
    """Both streams twice as unsure (a speaker neither has met): the same weight as when both are sure."""
    lips, voice, weighting = said("bin blue at f two now"), said("bin blue at s two now", 0.95), (0.5, 0.3)
    familiar = fusion.voice_weight(fusion.entropy(lips), fusion.entropy(voice), weighting)
    assert fusion.voice_weight(2 * fusion.entropy(lips), 2 * fusion.entropy(voice), weighting) == familiar
    assert fusion.voice_weight(fusion.entropy(lips), 2 * fusion.entropy(voice), weighting) < familiar


def test_word_confidences_are_low_where_the_streams_disagree():
    lips, voice = said("bin blue at f two now"), said("bin blue at s two now")
    text, w = candidates(lips, voice).best((0.5, 0.0), PHONES)  # as sure, and as trusted: the letter is a toss
    sure = fusion.word_confidences(lips, heard_once(voice), w, text, grammar=True)
    assert len(sure) == 6 and all(0 <= c <= 1 for c in sure)
    assert sure[3] == min(sure) < 0.6 and min(sure[:3] + sure[4:]) > 0.99
    free = fusion.word_confidences(lips, heard_once(voice), w, text, grammar=False)
    assert len(free) == 6 and free[3] == min(free)


def test_calibration_finds_weights_that_read_both_conditions():
    texts = [
        "bin blue at f two now",
        "set red by g nine again",
        "lay white with z one soon",
        "place green in t six please",
    ]
    wrong = [
        "bin blue at s two now",
        "set red by d nine again",
        "lay white with e one soon",
        "place green in p six please",
    ]
    clean = [candidates(said(w), said(t, 0.95)) for t, w in zip(texts, wrong)]  # the lips misread, the voice is clear
    noisy = [candidates(said(t, 0.6), said(w, 0.7)) for t, w in zip(texts, wrong)]  # the voice misheard in noise
    chosen = fusion.calibrate([clean, noisy], texts, (1.0, 0.0), PHONES)
    for clips in (clean, noisy):
        assert metrics.wer(texts, [c.best(*chosen)[0] for c in clips]) == 0.0, chosen
    for blind in ((1.0, 0.0), (0.5, 0.0)):  # a fixed weight reads one condition or the other wrong
        assert max(metrics.wer(texts, [c.best(blind, PHONES)[0] for c in clips]) for clips in (clean, noisy)) > 0


@pytest.mark.parametrize("weighting", [(0.0, 0.0), (1.0, 0.0)])
def test_a_stream_weighted_alone_reads_as_it_does_alone(weighting):
    lips, voice = said("bin blue at f two now"), said("bin blue at s two now")
    alone = "bin blue at s two now" if weighting[0] == 1.0 else "bin blue at f two now"
    assert candidates(lips, voice).best(weighting, PHONES)[0] == alone

import itertools

import numpy as np
import pytest

from lipnet import alphabet, grid
from lipnet.lipreading import decoding

VALID = {" ".join(words) for words in itertools.product(*grid.GRAMMAR)}


def peaked(frames: str, p: float = 0.9, **overrides: dict[str, float]) -> np.ndarray:
    """Posteriors with one likely class per frame ('_' = blank) and the rest of the mass spread evenly.

    `overrides` (``f3={"o": 0.55, "e": 0.45}``) replace frame 3 with the given distribution.
    """
    probs = np.full((len(frames), alphabet.NUM_CLASSES), (1 - p) / (alphabet.NUM_CLASSES - 1))
    for t, ch in enumerate(frames):
        probs[t, _class(ch)] = p
    for key, dist in overrides.items():
        probs[int(key[1:])] = _distribution(dist)
    return probs


def _class(ch: str) -> int:
    return alphabet.BLANK if ch == "_" else int(alphabet.encode(ch)[0])


def _distribution(dist: dict[str, float]) -> np.ndarray:
    row = np.zeros(alphabet.NUM_CLASSES)
    for ch, p in dist.items():
        row[_class(ch)] = p
    return row


def brute_force(probs: np.ndarray) -> dict[str, float]:
    """P(labelling) for every labelling, by summing over every path of the classes with non-zero probability."""
    classes = [np.flatnonzero(row > 0) for row in probs]
    totals: dict[str, float] = {}
    for path in itertools.product(*classes):
        p = np.prod([probs[t, c] for t, c in enumerate(path)])
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        text = alphabet.decode(collapsed)
        totals[text] = totals.get(text, 0.0) + p
    return totals


def sentence_posteriors(text: str, frames: int, seed: int, noise: float) -> np.ndarray:
    """Noisy posteriors that read `text`, one character per evenly spaced frame, blanks between."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, noise, (frames, alphabet.NUM_CLASSES))
    logits[:, alphabet.BLANK] += 2.0
    where = np.linspace(0, frames, len(text) + 2)[1:-1].astype(int)
    logits[where, alphabet.encode(text)] += 5.0
    return decoding.softmax(logits)


def test_softmax_is_normalised_and_stable():
    logits = np.random.default_rng(0).normal(0, 3, (2, 5, alphabet.NUM_CLASSES))
    probs = decoding.softmax(logits)
    np.testing.assert_allclose(probs.sum(-1), 1.0)
    np.testing.assert_allclose(probs, np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
    huge = decoding.softmax(np.array([1000.0, 999.0, -1000.0]))
    assert np.all(np.isfinite(huge))
    np.testing.assert_allclose(huge[:2] / huge[:2].sum(), [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))])


def test_greedy_collapses_repeats_and_drops_blanks():
    assert decoding.greedy(peaked("_bb_i_nn_")) == "bin"
    assert decoding.greedy(peaked("a_a")) == "aa"
    assert decoding.greedy(peaked("aaa")) == "a"
    assert decoding.greedy(peaked("___")) == ""


def test_beam_search_sums_alignments_where_greedy_takes_the_best_path():
    # Every frame: blank 0.6, "a" 0.4. The best path is blank-blank (""), but "a" has three paths:
    # P("a") = 0.4*0.4 + 0.4*0.6 + 0.6*0.4 = 0.64 > P("") = 0.36.
    probs = np.stack([_distribution({"_": 0.6, "a": 0.4})] * 2)
    assert decoding.greedy(probs) == ""
    assert decoding.beam_search(probs) == "a"
    assert decoding.sentence_probability(probs, "a") == pytest.approx(0.64)
    assert decoding.sentence_probability(probs, "") == pytest.approx(0.36)
    assert decoding.sentence_probability(probs, "aa") == 0.0  # needs a blank between: three frames


@pytest.mark.parametrize("seed", range(4))
def test_beam_search_and_sentence_probability_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    probs = np.zeros((6, alphabet.NUM_CLASSES))
    probs[:, [_class(c) for c in "_ab "]] = rng.dirichlet(np.ones(4), size=6)
    truth = brute_force(probs)
    assert sum(truth.values()) == pytest.approx(1.0)
    assert decoding.beam_search(probs, beam_width=64) == max(truth, key=truth.get)
    for text, p in truth.items():
        assert decoding.sentence_probability(probs, text) == pytest.approx(p, rel=1e-9)
    texts = [*truth, "aab", "abababa"]  # the last two: longer than six frames allow, impossible
    together = decoding.sentence_log_probabilities(probs, texts)  # all in one pass
    assert np.exp(together[: len(truth)]) == pytest.approx(list(truth.values()), rel=1e-9)
    assert together[-1] == -np.inf and np.exp(together[-2]) == pytest.approx(truth.get("aab", 0.0), abs=1e-12)


def test_repeated_letters_need_a_blank_between_them():
    five = peaked("green", p=1.0)
    assert decoding.sentence_probability(five, "gren") == pytest.approx(1.0)
    assert decoding.sentence_probability(five, "green") == 0.0
    assert decoding.sentence_probability(peaked("gre_en", p=1.0), "green") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        decoding.align(five, "green")


def test_grammar_corrects_an_invalid_sentence():
    frames = "__b_i_n_ _b_l_u_e_ _a_t_ _f_ _t_w_o_ _n_o_w__"
    probs = peaked(frames, f16={"o": 0.55, "e": 0.45})  # frame 16 is the "e" of "blue"
    assert decoding.greedy(probs) == "bin bluo at f two now"
    assert decoding.beam_search(probs) == "bin bluo at f two now"
    assert decoding.grammar(probs) == "bin blue at f two now"


def test_grammar_handles_doubled_letters():
    text = "set green in e three soon"
    probs = sentence_posteriors(text, frames=75, seed=0, noise=0.5)
    assert decoding.greedy(probs) != text
    assert decoding.grammar(probs) == text
    # "green" needs a blank between its e's: six frames, so in nine frames "green now" cannot be read at all
    slots = (("green", "grin"), ("now",))
    assert decoding.grammar(peaked("green now"), slots=slots) == "grin now"
    assert decoding.grammar(peaked("gre_en now"), slots=slots) == "green now"


@pytest.mark.parametrize("seed", range(5))
def test_grammar_finds_the_arg_max_of_a_reduced_grammar(seed):
    slots = (("bin", "set"), ("green", "red"), ("at", "in"), ("a", "b", "e"), ("three", "six"), ("soon", "now"))
    sentences = [" ".join(words) for words in itertools.product(*slots)]
    probs = decoding.softmax(np.random.default_rng(seed).normal(0.0, 1.5, (30, alphabet.NUM_CLASSES)))
    scores = [decoding.sentence_probability(probs, s) for s in sentences]
    best = sentences[int(np.argmax(scores))]
    assert decoding.grammar(probs, beam_width=len(sentences), slots=slots) == best


@pytest.mark.parametrize("seed", range(4))
def test_grammar_beam_prunes_without_losing_the_best_sentence(seed):
    slots = grid.GRAMMAR[:3] + (("a", "b", "e"), ("three", "six", "seven"), ("soon", "now"))
    sentences = [" ".join(words) for words in itertools.product(*slots)]  # 1152, more than the beam
    rng = np.random.default_rng(seed)
    spoken = " ".join(rng.choice(slot) for slot in slots)
    probs = sentence_posteriors(spoken, frames=50, seed=seed, noise=1.0)
    assert decoding.greedy(probs) not in sentences  # the noise makes the free-form reading invalid
    scores = [decoding.sentence_probability(probs, s) for s in sentences]
    assert decoding.grammar(probs, beam_width=4, slots=slots) == sentences[int(np.argmax(scores))]


def test_grammar_always_returns_a_valid_sentence():
    probs = decoding.softmax(np.random.default_rng(1).normal(0.0, 1.0, (75, alphabet.NUM_CLASSES)))
    assert decoding.grammar(probs) in VALID


def test_align_gives_each_character_its_frames():
    assert decoding.align(peaked("bb_i_nn"), "bin") == [(0, 1), (3, 3), (5, 6)]
    assert decoding.align(peaked("ab"), "ab") == [(0, 0), (1, 1)]
    assert decoding.align(peaked("ab"), "") == []
    with pytest.raises(ValueError):
        decoding.align(peaked("ab"), "abc")


def test_word_spans_from_the_alignment():
    probs = peaked("_bb_i_n__ _nn_o_w__")
    assert decoding.word_spans(probs, "bin now") == [("bin", 1, 9), ("now", 11, 17)]
    # the last word ends one frame after its last character
    assert decoding.word_spans(peaked("_bin now"), "bin now") == [("bin", 1, 4), ("now", 5, 8)]


def test_word_spans_are_ordered_and_disjoint():
    text = "place white with q nine again"
    probs = sentence_posteriors(text, frames=75, seed=3, noise=1.0)
    spans = decoding.word_spans(probs, text)
    assert [w for w, _, _ in spans] == text.split()
    ends = [0] + [e for _, _, e in spans]
    for (_, start, end), previous_end in zip(spans, ends):
        assert previous_end <= start < end <= len(probs)


def test_word_confidences_are_each_words_posterior_in_its_slot():
    """Clear posteriors: every word is sure. The letter blurred between two candidates: that word alone is in doubt,
    its confidence its share of the two sentences' probability."""
    text = "bin blue at f two now"
    clear = sentence_posteriors(text, 75, seed=0, noise=0.3) ** 3  # sharpened: no letter hides between the words
    clear /= clear.sum(1, keepdims=True)
    assert all(c > 0.99 for c in decoding.word_confidences(clear, text, grid.GRAMMAR))
    where = np.linspace(0, 75, len(text) + 2)[1:-1].astype(int)[text.index(" f ") + 1]
    blurred = clear.copy()
    blurred[where] = _distribution({"f": 0.6, "s": 0.4})
    confidences = decoding.word_confidences(blurred, text, grid.GRAMMAR)
    assert confidences[3] == pytest.approx(0.6, abs=0.02) and min(np.delete(confidences, 3)) > 0.99
    # without a grammar, the characters' own posteriors over their frames
    free = decoding.word_confidences(blurred, text)
    assert len(free) == 6 and free[3] == pytest.approx(0.6) and min(np.delete(free, 3)) > 0.99

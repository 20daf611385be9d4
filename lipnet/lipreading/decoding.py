"""CTC decoding of one clip's per-frame posteriors: greedy, prefix beam search, GRID grammar, forced alignment.

Every function takes `probs`, a (T, 28) array of softmax probabilities for one clip (class 0 is the CTC blank, see
`alphabet`). Plain numpy, so decoding is fast on CPU whatever the Keras backend.

The CTC topology of a label sequence l_1..l_L has 2L+1 states: blank, l_1, blank, l_2, ..., l_L, blank. A state may
stay, step to the next state, or skip the blank between two different labels. All forward passes start from a virtual
step before frame 0 in which only the first blank state is occupied (with probability 1, emitting nothing), so that
the first real frame needs no special case.
"""

import heapq
from collections.abc import Callable, Sequence

import numpy as np

from lipnet import alphabet, env, grid

DECODERS = ("greedy", "beam", "grammar")
_PRUNE = 1e-4  # beam search extends prefixes only by characters at least this probable in the frame
_FLOOR = 1e-300  # probabilities are floored to this before taking logs
_CLASS = {ch: i + 1 for i, ch in enumerate(env.VOCABULARY)}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in float64, shifted by the max so that large logits cannot overflow."""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def greedy(probs: np.ndarray) -> str:
    """Best-path decoding: the arg-max class of every frame, repeats collapsed, blanks dropped."""
    best = np.asarray(probs).argmax(axis=-1)
    return alphabet.decode(best[np.r_[True, best[1:] != best[:-1]]])


def beam_search(probs: np.ndarray, beam_width: int = env.BEAM_WIDTH) -> str:
    """CTC prefix beam search: the labelling with the most probability summed over its alignments (approximately).

    Each prefix carries the probability of the frames so far given that they end in a blank (p_b) or in the prefix's
    last character (p_nb); after every frame only the `beam_width` most probable prefixes survive. A frame extends
    them only by its `beam_width` most probable characters, and only those above `_PRUNE`. The survivors are
    rescaled every frame so that float64 cannot underflow; the ranking is unchanged.
    """
    beams: dict[str, tuple[float, float]] = {"": (1.0, 0.0)}
    for frame in np.asarray(probs, dtype=np.float64):
        y = frame.tolist()
        top = np.argsort(-frame[1:], kind="stable")[:beam_width] + 1
        candidates = [(env.VOCABULARY[c - 1], y[c]) for c in top.tolist() if y[c] >= _PRUNE]
        grown: dict[str, list[float]] = {}
        for prefix, (p_b, p_nb) in beams.items():
            same = grown.setdefault(prefix, [0.0, 0.0])
            same[0] += (p_b + p_nb) * y[alphabet.BLANK]
            if prefix:  # the last character continues
                same[1] += p_nb * y[_CLASS[prefix[-1]]]
            for char, p in candidates:
                longer = grown.setdefault(prefix + char, [0.0, 0.0])
                # a repeated character is a new label only after a blank
                longer[1] += (p_b if prefix and prefix[-1] == char else p_b + p_nb) * p
        best = heapq.nlargest(beam_width, grown.items(), key=lambda item: item[1][0] + item[1][1])
        scale = sum(best[0][1]) or 1.0
        beams = {prefix: (p_b / scale, p_nb / scale) for prefix, (p_b, p_nb) in best}
    return max(beams, key=lambda prefix: sum(beams[prefix]))


def grammar(
    probs: np.ndarray, beam_width: int = env.GRAMMAR_BEAM_WIDTH, slots: Sequence[Sequence[str]] = grid.GRAMMAR
) -> str:
    """The most probable sentence made of one word from each slot (words joined by single spaces): the first of
    `grammar_nbest`."""
    return grammar_nbest(probs, 1, beam_width, slots)[0]


def grammar_nbest(
    probs: np.ndarray,
    n: int,
    beam_width: int = env.GRAMMAR_BEAM_WIDTH,
    slots: Sequence[Sequence[str]] = grid.GRAMMAR,
) -> list[str]:
    """The `n` most probable sentences made of one word from each slot, best first (fewer if the grammar or the
    beam holds fewer).

    A word-level beam search: every hypothesis keeps the CTC forward variables, over all frames, of the state of its
    last character and of the blank after it; all hypotheses are extended by all words of the next slot in one
    vectorised forward pass. Every slot but the last appends its word and the separating space, and the
    `beam_width` best partial hypotheses ("bin blue ") survive; the final slot ranks whole sentences by their CTC
    probability.

    A partial hypothesis scores its CTC prefix probability (summed over the frame t at which its last label is
    first read) with the frames after t valued at their most probable class rather than left free. Free frames
    favour hypotheses that can end early: on flat posteriors the true prefix probability prunes the best sentence
    even with a wide beam, this score rarely does. It is the prefix probability computed on posteriors divided by
    each frame's maximum, which also keeps the forward variables from underflowing.
    """
    y = np.asarray(probs, dtype=np.float64)
    y = y / np.maximum(y.max(axis=1, keepdims=True), _FLOOR)
    texts = [""]
    last = np.zeros((len(y) + 1, 1))  # the empty hypothesis has no last character...
    blank = np.r_[1.0, np.cumprod(y[:, alphabet.BLANK])][:, None]  # ...and starts in its blank at the virtual step
    for k, words in enumerate(slots):
        final = k == len(slots) - 1
        suffixes = [word if final else word + " " for word in words]
        last, blank = _extend(y, last, blank, suffixes)
        if final:
            score = last[-1] + blank[-1]
        else:
            ends = y[:, [alphabet.encode(s)[-1] for s in suffixes]]  # (T, W): the last label's emissions
            score = np.maximum(last[1:] - last[:-1] * ends[:, None, :], 0.0).sum(axis=0)  # entries into that state
        keep = np.argsort(-score, axis=None, kind="stable")[: n if final else beam_width]
        hyp, word = np.unravel_index(keep, score.shape)
        texts = [texts[h] + suffixes[w] for h, w in zip(hyp, word)]
        last, blank = last[:, hyp, word], blank[:, hyp, word]
    return texts


def sentence_probability(probs: np.ndarray, text: str) -> float:
    """P(text | probs): the CTC forward probability summed over all alignments of `text`."""
    y = np.asarray(probs, dtype=np.float64)
    states, skip = _topology(alphabet.encode(text))
    alpha = np.zeros(len(states))
    alpha[0] = 1.0  # the virtual step
    log_scale = 0.0
    for frame in y:
        grown = alpha.copy()
        grown[1:] += alpha[:-1]
        grown[2:] += np.where(skip[2:], alpha[:-2], 0.0)
        grown *= frame[states]
        total = grown.sum()
        if total == 0.0:
            return 0.0
        alpha = grown / total
        log_scale += np.log(total)
    return float(np.exp(log_scale) * alpha[-2:].sum())  # the last label or the trailing blank


def sentence_log_probabilities(probs: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    """log P(text | probs) of each of many texts in one pass (-inf: impossible): `sentence_probability`'s forward
    sum, in logs, over all the texts' CTC states laid end to end. What scoring many candidate sentences wants."""
    if not texts:
        return np.zeros(0)
    topologies = [_topology(alphabet.encode(t)) for t in texts]
    lengths = np.array([len(states) for states, _ in topologies])
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    last = first + lengths - 1
    states = np.concatenate([states for states, _ in topologies])
    skip = np.concatenate([skip for _, skip in topologies])
    steps = np.ones(len(states), dtype=bool)
    steps[first] = False  # no chain is entered from the one before it
    with np.errstate(divide="ignore"):
        log_y = np.log(np.asarray(probs, dtype=np.float64))[:, states]
    alpha = np.full(len(states), -np.inf)
    alpha[first] = log_y[0, first]
    second = first[lengths > 1] + 1
    alpha[second] = log_y[0, second]
    for t in range(1, len(log_y)):
        grown = alpha.copy()
        grown[1:] = np.logaddexp(grown[1:], np.where(steps[1:], alpha[:-1], -np.inf))
        grown[2:] = np.logaddexp(grown[2:], np.where(skip[2:], alpha[:-2], -np.inf))
        alpha = grown + log_y[t]
    ends = np.where(lengths > 1, np.logaddexp(alpha[last], alpha[np.maximum(last - 1, 0)]), alpha[last])
    return ends  # the last label or the trailing blank


def word_confidences(probs: np.ndarray, text: str, slots: Sequence[Sequence[str]] | None = None) -> list[float]:
    """How sure the posteriors are of each word of `text`, 0-1.

    With `slots` (a grammar's words per position, `text` one of its sentences), a word's posterior among its slot's
    words with the other words kept: P(text) over the sum of P(text with that word replaced), the CTC probability
    summed over alignments. Without, the geometric mean of the posteriors of the word's characters over the frames
    the CTC forced alignment gives them (the only evidence a free decoder has).
    """
    text = alphabet.normalize(text)
    words = text.split(" ") if text else []
    if slots is not None and len(words) == len(slots) and all(w in slot for w, slot in zip(words, slots)):
        around = [text, *grid.neighbours(text, slots)]  # every sentence the posteriors ask for, in one pass
        return slot_posteriors(dict(zip(around, sentence_log_probabilities(probs, around))).__getitem__, text, slots)
    try:
        spans = align(probs, text)
    except ValueError:
        return [0.0] * len(words)
    labels = alphabet.encode(text)
    char = [float(np.mean(probs[s : e + 1, label])) for (s, e), label in zip(spans, labels)]
    out, first = [], 0
    for word in words:
        part = np.clip(char[first : first + len(word)], 1e-12, 1.0)
        out.append(float(np.exp(np.mean(np.log(part)))))
        first += len(word) + 1
    return out


def slot_posteriors(score: Callable[[str], float], text: str, slots: Sequence[Sequence[str]]) -> list[float]:
    """Each word's posterior among its slot's words, the other words of `text` (one of the grammar's sentences)
    kept: exp(score(text)) over the sum of exp(score) of the sentences with that word replaced. `score` is a
    sentence's log probability (-inf: impossible), from one stream's posteriors or several; 0 for every word of an
    impossible `text`."""
    words = text.split(" ")
    chosen = score(text)
    if chosen == -np.inf:
        return [0.0] * len(words)
    out = []
    for k, slot in enumerate(slots):
        others = [score(" ".join([*words[:k], w, *words[k + 1 :]])) for w in slot if w != words[k]]
        out.append(float(np.exp(chosen - np.logaddexp.reduce([chosen, *others]))))
    return out


def align(probs: np.ndarray, text: str) -> list[tuple[int, int]]:
    """CTC forced alignment: for every character of `text`, the first and last frame (inclusive) of its state in
    the most probable path (Viterbi) that reads `text`.

    Raises ValueError if `text` needs more frames than there are (one per character, plus a blank between repeats).
    """
    labels = alphabet.encode(text)
    if len(labels) == 0:
        return []
    log_y = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _FLOOR))
    needed = len(labels) + int(np.sum(labels[1:] == labels[:-1]))
    if needed > len(log_y):
        raise ValueError(f"{text!r} needs at least {needed} frames, the clip has {len(log_y)}")
    states, skip = _topology(labels)
    delta = np.full(len(states), -np.inf)
    delta[0] = 0.0  # the virtual step
    moves = np.empty((len(log_y), len(states)), dtype=np.int8)  # 0: stay, 1: from the previous state, 2: skip
    for t, frame in enumerate(log_y):
        options = np.full((3, len(states)), -np.inf)
        options[0] = delta
        options[1, 1:] = delta[:-1]
        options[2, 2:] = np.where(skip[2:], delta[:-2], -np.inf)
        moves[t] = options.argmax(axis=0)
        delta = options.max(axis=0) + frame[states]
    state = len(states) - 1 if delta[-1] >= delta[-2] else len(states) - 2
    path = np.empty(len(log_y), dtype=np.int64)
    for t in range(len(log_y) - 1, -1, -1):
        path[t] = state
        state -= int(moves[t, state])
    spans = []
    for i in range(len(labels)):
        frames = np.flatnonzero(path == 2 * i + 1)
        spans.append((int(frames[0]), int(frames[-1])))
    return spans


def word_spans(probs: np.ndarray, text: str) -> list[tuple[str, int, int]]:
    """The words of `text` (normalised) with frames [start, end) from its forced alignment.

    A word starts at its first character's first frame and ends where the following space starts; the last word
    ends one frame after its last character. Spans are ordered, non-empty and do not overlap.
    """
    text = alphabet.normalize(text)
    if not text:
        return []
    chars = align(probs, text)
    words = text.split(" ")
    spans, first = [], 0
    for i, word in enumerate(words):
        last = first + len(word) - 1
        end = chars[last + 1][0] if i + 1 < len(words) else min(chars[last][1] + 1, len(probs))
        spans.append((word, chars[first][0], end))
        first = last + 2
    return spans


def _topology(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CTC states of a label sequence (class ids: blank, l_1, blank, ..., l_L, blank) and where a skip may
    enter them (a label that differs from the label two states back)."""
    states = np.zeros(2 * len(labels) + 1, dtype=np.int64)
    states[1::2] = labels
    skip = np.zeros(len(states), dtype=bool)
    skip[3::2] = labels[1:] != labels[:-1]
    return states, skip


def _extend(y: np.ndarray, last: np.ndarray, blank: np.ndarray, suffixes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Extend N hypotheses by W label suffixes at once.

    `last` and `blank` (T+1, N) are the forward variables of each hypothesis' last-character state and trailing
    blank, row 0 being the virtual step. Returns the same two variables (T+1, N, W) for every extended hypothesis.
    The suffixes' new states (a label and its blank, per character) are padded to the longest suffix with states
    that emit nothing; a suffix's first label may always be reached by a skip, as it never repeats the hypothesis'
    last character (a space, or none).
    """
    codes = [alphabet.encode(s) for s in suffixes]
    width = 2 * max(len(c) for c in codes)
    states = np.full((len(codes), width), y.shape[1], dtype=np.int64)  # pad: a class that emits nothing
    skip = np.zeros((len(codes), width))
    for i, c in enumerate(codes):
        states[i, : 2 * len(c) : 2] = c
        states[i, 1 : 2 * len(c) : 2] = alphabet.BLANK
        skip[i, 0] = 1.0
        skip[i, 2 : 2 * len(c) : 2] = c[1:] != c[:-1]
    emit = np.pad(y, ((0, 0), (0, 1)))[:, states]  # (T, W, width)
    ends = 2 * np.array([len(c) for c in codes])  # index, in `alpha` below, of each suffix's last label state

    n, w = last.shape[1], len(codes)
    # alpha[t, hypothesis, word]: the hypothesis' last label and blank (columns 0, 1), then the suffix's new states
    alpha = np.zeros((len(y) + 1, n, w, width + 2))
    alpha[:, :, :, 0] = last[:, :, None]
    alpha[:, :, :, 1] = blank[:, :, None]
    for t in range(1, len(y) + 1):
        prev, new = alpha[t - 1], alpha[t, :, :, 2:]
        np.add(prev[:, :, 2:], prev[:, :, 1:-1], out=new)
        new += skip * prev[:, :, :-2]
        new *= emit[t - 1]
    words = np.arange(w)
    return alpha[:, :, words, ends], alpha[:, :, words, ends + 1]

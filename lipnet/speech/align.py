"""Forced alignment: audio and the words said in it -> when each word and each ARPAbet phone was said.

pocketsphinx 5 in alignment mode, with its bundled en-us acoustic model (nothing is downloaded) and the project's
pronunciations (`visemes.phonemes`: the GRID lexicon, where the letter z is the British "zed", then CMUdict, else
the word spelt). The sentence is framed by optional silence, so leading and trailing pauses are ``sil`` rather than
stretched first and last phones. Its default beams abort on some GRID clips: alignment runs with wide beams, and
wider ones when that fails.

Validated against GRID's hand-checked word boundaries in ``bench/align.py`` (bench/RESULTS.md). `cached` keeps an
alignment in a JSON file beside the clip's extracted data, so each clip is aligned once.
"""

import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lipnet import alphabet, env, visemes
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write_text

SILENCE = "sil"
BEAMS = (1e-48, 1e-80, 1e-120)  # tried in turn: the first that aligns wins
FRAME_S = 0.01  # pocketsphinx's frame period (100 frames a second)
CACHE_SUFFIX = ".alignment.json"
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class Segment(NamedTuple):
    """A word or phone said from `start` to `end` seconds."""

    label: str
    start: float
    end: float


@dataclass(frozen=True)
class Alignment:
    """Timed words (no silence) and timed phones (ARPAbet, ``sil`` for silence) covering [0, duration]."""

    words: list[Segment]
    phones: list[Segment]
    duration: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "duration": self.duration,
                "words": [list(w) for w in self.words],
                "phones": [list(p) for p in self.phones],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> "Alignment":
        data = json.loads(text)
        return cls([Segment(*w) for w in data["words"]], [Segment(*p) for p in data["phones"]], float(data["duration"]))


def words_of(text: str) -> list[str]:
    """The words of a transcript as they are aligned: lower case, no punctuation, digits spoken one by one."""
    spoken = "".join(f" {_DIGITS[int(ch)]} " if ch.isdigit() else ch for ch in text)
    return alphabet.normalize(spoken).split()


def align(samples: np.ndarray, text: str, sample_rate: int = env.SAMPLE_RATE) -> Alignment:
    """Align mono float32 samples (16 kHz) to the words of `text`.

    Raises LipnetError when the text has no words or the audio cannot be aligned to it even with the widest beams
    (the words were not said, or not in that order).
    """
    if sample_rate != env.SAMPLE_RATE:
        raise ValueError(f"alignment needs {env.SAMPLE_RATE} Hz samples, got {sample_rate} Hz")
    words = words_of(text)
    if not words:
        raise LipnetError(f"no words to align in {text!r}")
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    duration = len(samples) / sample_rate
    for beam in BEAMS:
        decoder = _decoder(beam)
        for word in dict.fromkeys(words):
            if decoder.lookup_word(word) is None:
                decoder.add_word(word, " ".join(visemes.phonemes(word)), True)
        result = _align(decoder, pcm, words)
        if result is not None:
            return _segments(result, duration)
    raise LipnetError(f"could not align {len(samples) / sample_rate:.2f} s of audio to {' '.join(words)!r}")


def cached(cache: str | Path, samples: np.ndarray, text: str) -> Alignment:
    """The alignment stored in `cache` (a ``.alignment.json`` file) for this text, else align and store it."""
    cache = Path(cache)
    words = words_of(text)
    if cache.is_file():
        try:
            alignment = Alignment.from_json(cache.read_text())
            if [w.label for w in alignment.words] == words:
                return alignment
        except (ValueError, KeyError, TypeError):
            pass  # unreadable or stale: align again
    alignment = align(samples, text)
    atomic_write_text(cache, alignment.to_json())
    return alignment


def _align(decoder, pcm: bytes, words: list[str]):
    """Two passes: the words in the sentence grammar, then the phones within them; None when the search fails."""
    try:
        decoder.set_align_text(" ".join(["<sil>", *words, "<sil>"]))
        _decode(decoder, pcm)
        if decoder.hyp() is None:
            return None
        decoder.set_alignment()  # the second pass aligns phones within the words found
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError:
        return None
    if alignment is None:
        return None
    return [(word.name, [(phone.name, phone.start, phone.duration) for phone in word]) for word in alignment.words()]


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _segments(result, duration: float) -> Alignment:
    """pocketsphinx's words and phones (in 10 ms frames) as contiguous segments in seconds, silence as ``sil``."""
    words, phones = [], []
    for name, word_phones in result:
        for phone, start, length in word_phones:
            label = SILENCE if phone in ("SIL", "+NSN+", "+SPN+") or name.startswith("<") else phone
            start, end = round(start * FRAME_S, 3), round(min((start + length) * FRAME_S, duration), 3)
            if phones and phones[-1].label == SILENCE == label:
                phones[-1] = phones[-1]._replace(end=end)
            else:
                phones.append(Segment(label, start, end))
        if not name.startswith("<") and word_phones:
            first, last = word_phones[0], word_phones[-1]
            end = round(min((last[1] + last[2]) * FRAME_S, duration), 3)
            words.append(Segment(name, round(first[1] * FRAME_S, 3), end))
    if phones and phones[-1].end < duration:  # the partial last frame pocketsphinx does not see
        phones[-1] = phones[-1]._replace(end=duration)
    return Alignment(words, phones, duration)


@functools.cache
def _decoder(beam: float):
    """A pocketsphinx decoder with the bundled en-us model and the project lexicon, made once per beam width."""
    import pocketsphinx

    model = Path(pocketsphinx.get_model_path()) / "en-us"
    lexicon = "".join(f"{word} {' '.join(visemes.phonemes(word))}\n" for word in visemes.LEXICON)
    fd, path = tempfile.mkstemp(suffix=".dict")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(lexicon)
        return pocketsphinx.Decoder(
            hmm=str(model / "en-us"),
            dict=path,
            lm=None,
            samprate=env.SAMPLE_RATE,
            beam=beam,
            wbeam=beam,
            pbeam=beam,
            bestpath=False,
            loglevel="FATAL",
        )
    finally:
        os.unlink(path)


def fits(probabilities: np.ndarray, sentences: list[str], rate: float = 1 / FRAME_S) -> np.ndarray:
    """How well each sentence fits a phone recogniser's frame posteriors (frames x `visemes.PHONES`, `rate` frames a
    second): the log posterior (nats) of its best path through its phones (`guided`'s Viterbi, all sentences in one
    pass), less that of the frames' most probable phones; 0 at best. -inf for a sentence with too many phones for the
    frames. What the voice's phones say of each candidate sentence (`lipnet.recognition.fusion`)."""
    if not sentences:
        return np.zeros(0)
    log_all = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-12, None))
    chains = [_chain(words_of(s), rate) for s in sentences]
    lengths = np.array([len(c[0]) for c in chains])  # 1: a sentence of no words, a pause alone
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    last = first + lengths - 1
    join = [np.concatenate([c[k] for c in chains]) for k in (0, 2, 3)]
    score, _ = _viterbi(log_all[:, join[0]], join[1].astype(bool), join[2].astype(bool), first, keep=False)
    ends = np.where(lengths > 1, np.maximum(score[last], score[np.maximum(last - 1, 0)]), score[last])
    return ends - log_all.max(1).sum()  # the last pause, or the last phone's last state


def _chain(words: list[str], rate: float) -> tuple[list[int], list[int], list[bool], list[bool], list[int]]:
    """A sentence's left-to-right states: an optional pause, each word's phones (each lasting
    env.PHONE_MIN_DURATION at least: its chained states), an optional pause after each word. Per state: the phone
    (an index of `visemes.PHONES`), the word it belongs to (-1: a pause), whether it may be skipped, whether it may
    repeat, and the number of the phone said (a phone's states share it)."""
    index = {name: i for i, name in enumerate(visemes.PHONES)}
    least = max(1, round(env.PHONE_MIN_DURATION * rate))  # frames a phone lasts at least: its chained states
    states, owner, optional, stays, said = [index[SILENCE]], [-1], [True], [True], [0]  # pause, word 0's phones, ...
    for w, word in enumerate(words):
        for phone in visemes.phonemes(word):
            states += [index[phone.rstrip("012")]] * least
            owner += [w] * least
            optional += [False] * least
            stays += [False] * (least - 1) + [True]  # only a phone's last state repeats
            said += [said[-1] + 1] * least  # the phone said: its states share the number
        states.append(index[SILENCE])
        owner.append(-1)
        optional.append(True)
        stays.append(True)
        said.append(said[-1] + 1)
    return states, owner, optional, stays, said


def _viterbi(
    log_p: np.ndarray, optional: np.ndarray, stays: np.ndarray, first: np.ndarray, keep: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The best path's log score into every state at the last frame, over (frames, states) log posteriors of one or
    more chains laid end to end (`first`: where each starts; `_chain`'s `optional` and `stays`), and, if `keep`, the
    back pointers (0: stayed, 1: came from the state before, 2: skipped a pause). A path starts in a chain's first
    pause or first phone and never crosses into another chain."""
    frames, n = log_p.shape
    lengths = np.diff(np.r_[first, n])
    second = first[lengths > 1] + 1  # a chain's second state: its first phone (none in a chain of a pause alone)
    entry = np.zeros(n, bool)  # states no step may enter: the chain before ends there
    entry[first] = True
    may_skip = np.zeros(n, bool)  # state i may be entered from i - 2 when i - 1 is an optional pause...
    may_skip[2:] = optional[1:-1]
    may_skip[first] = may_skip[second] = False  # ...of the same chain
    score = np.full(n, -np.inf)
    score[first], score[second] = log_p[0, first], log_p[0, second]  # start in the first pause, or the first phone
    back = np.zeros((frames, n), np.int8) if keep else None
    for t in range(1, frames):
        before = np.r_[-np.inf, -np.inf, score]  # score[i - 2] at i, score[i - 1] at i + 1
        stay = np.where(stays, score, -np.inf)
        step = np.where(entry, -np.inf, before[1 : n + 1])
        skip = np.where(may_skip, before[:n], -np.inf)
        if keep:
            back[t] = best = np.argmax(np.stack([stay, step, skip]), axis=0)
            score = np.choose(best, [stay, step, skip]) + log_p[t]
        else:  # the scores alone (`fits`): the best of the three, without which one it was
            score = np.maximum(np.maximum(stay, step), skip) + log_p[t]
    return score, back


def guided(probabilities: np.ndarray, text: str, rate: float = 1 / FRAME_S) -> tuple[Alignment, float]:
    """The words of `text` aligned to a phone recogniser's frame posteriors (frames x `visemes.PHONES`, `rate` frames a
    second) instead of to the sound: Rhubarb's way with a dialog file when alignment fails. A left-to-right Viterbi
    over the words' phones, with an optional pause before, between and after the words; every phone lasts
    env.PHONE_MIN_DURATION at least (an HMM phone's three states), so a closure is not squeezed into one frame. Returns the alignment and how well the words fit: of each word, the mean log posterior of its phones over
    its frames against that of the frames' most probable phones; the worst word's (0: as well as free recognition;
    far below it, a word that was not said, or squeezed into a pause).
    """
    words = words_of(text)
    if not words:
        raise LipnetError(f"no words to align in {text!r}")
    states, owner, optional, stays, said = _chain(words, rate)
    log_p = np.log(np.clip(np.asarray(probabilities, np.float64), 1e-12, None))[:, states]
    frames, n = log_p.shape
    if frames < sum(not o for o in optional):
        raise LipnetError(f"could not align {frames / rate:.2f} s to {' '.join(words)!r}: too short to say them all")
    score, back = _viterbi(log_p, np.array(optional), np.array(stays), np.array([0]))
    end = n - 1 if score[n - 1] >= score[n - 2] else n - 2  # end in the last pause, or in the last phone's last state
    path = np.empty(frames, np.int64)
    for t in range(frames - 1, -1, -1):
        path[t] = end
        end -= int(back[t, end]) if t else 0
    ratio = log_p[np.arange(frames), path] - np.log(np.clip(probabilities, 1e-12, None)).max(1)
    word_of = np.array(owner)[path]
    fit = min(float(ratio[word_of == w].mean()) for w in range(len(words)))
    phones, spans = [], {}
    first_state = {k: i for i, k in reversed(list(enumerate(said)))}
    for s, e, phone in visemes.smoothed_runs(np.array(said)[path], rate, 0.0):
        state = first_state[phone]
        label = visemes.PHONES[states[state]]
        segment = Segment(label, round(s / rate, 3), round(e / rate, 3))
        if phones and phones[-1].label == SILENCE == label:
            phones[-1] = phones[-1]._replace(end=segment.end)
        else:
            phones.append(segment)
        if owner[state] >= 0:
            first, _ = spans.get(owner[state], (segment.start, segment.end))
            spans[owner[state]] = (first, segment.end)
    timed = [Segment(words[w], *spans[w]) for w in sorted(spans)]
    return Alignment(timed, phones, frames / rate), fit

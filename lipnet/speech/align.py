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

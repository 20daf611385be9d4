"""Labelled speech: clips with their sound and, from forced alignment, the phone said at every instant.

The data every audio model trains and is scored on. A clip's sentence comes from its ``.align`` or ``.lab`` file or
its GRID name (`grid.transcript`), or from a timed label file beside it (``<clip>.phones.tsv``: ``start end phone``
in seconds, what ``lipsync.py`` writes). Alignments are cached as ``<cache_dir>/<directory>/<clip>.alignment.json``,
beside the extracted crops (``data/``), so each clip is aligned once.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import env
from lipnet import align, audio, grid, visemes
from lipnet.errors import LipnetError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus")
PHONES_SUFFIX = ".phones.tsv"


@dataclass(frozen=True)
class Clip:
    """One recording: its samples (16 kHz mono) and the timed phones said in it."""

    key: str  # ``<directory>/<stem>``: ``s1/bbaf2n`` in GRID's layout, as split lists name clips
    samples: np.ndarray
    phones: list[align.Segment]

    def frame_phones(self, hop_ms: int = env.HOP_MS) -> list[str]:
        """The phone at each feature frame's instant (``sil`` for silence)."""
        return visemes.frame_phones(self.phones, 1000 / hop_ms, audio.frame_count(len(self.samples), hop_ms))


def find(root: str | Path) -> list[Path]:
    """Audio and video files under `root` (recursively), sorted; `root` may be a file."""
    root = Path(root)
    if root.is_file():
        return [root]
    extensions = AUDIO_EXTENSIONS + grid.VIDEO_EXTENSIONS
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions)


def load(path: str | Path, align_dirs: list[Path] = (), cache_dir: str | Path | None = env.DATA_DIR) -> Clip:
    """A clip with its phones: from ``<clip>.phones.tsv`` beside it, else its sentence aligned and cached in
    ``<cache_dir>/<directory>/<stem>.alignment.json`` (None: not cached).

    Raises LipnetError naming the file when it has no usable sound, no known sentence, or does not align.
    """
    path = Path(path)
    key = f"{path.parent.name}/{path.name.split('.')[0]}"
    samples = audio.load(path)
    labels = path.with_name(path.name.split(".")[0] + PHONES_SUFFIX)
    if labels.is_file():
        return Clip(key, samples, read_phones(labels))
    try:
        text = grid.transcript(path, list(align_dirs))
    except ValueError as err:
        raise LipnetError(str(err)) from None
    if text is None:
        raise LipnetError(f"{path}: no sentence known (give a .lab, .align or {PHONES_SUFFIX} file beside it)")
    if cache_dir is None:
        alignment = align.align(samples, text)
    else:
        alignment = align.cached(Path(cache_dir) / f"{key}{align.CACHE_SUFFIX}", samples, text)
    return Clip(key, samples, alignment.phones)


def read_phones(path: str | Path) -> list[align.Segment]:
    """Timed phones from a ``start end phone`` file (seconds; a header line is allowed)."""
    segments = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts or (number == 1 and parts[0] == "start"):
            continue
        try:
            segments.append(align.Segment(parts[2], float(parts[0]), float(parts[1])))
        except (ValueError, IndexError):
            raise LipnetError(f"{path}: line {number} is not 'start end phone': {line.strip()!r}") from None
    if not segments:
        raise LipnetError(f"{path}: no phones")
    return segments


def split(clips: list[Clip], held_out: set[str], validation: set[str]) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """(train, validation, test) by clip key: never a clip's frames on both sides."""
    test = [c for c in clips if c.key in held_out]
    val = [c for c in clips if c.key in validation and c.key not in held_out]
    train = [c for c in clips if c.key not in held_out and c.key not in validation]
    return train, val, test

"""Labelled speech: clips with their sound and, from forced alignment, the phone said at every instant.

The data every audio model trains and is scored on. Labels come from the first of these beside the clip:

- ``<clip>.phones.tsv``: timed phones, ``start end phone`` in seconds (what ``lipsync.py`` writes);
- ``<clip>.visemes.tsv``: timed OVR visemes, ``start end viseme`` in seconds (what ``lipsync.py`` writes);
- ``<clip>.visemes.txt``: the Viseme-Classification seed's layout, one line per frame of 15 OVR values
  (sil PP FF TH DD kk CH SS nn RR aa E ih oh ou, OVRLipSync's order; the largest wins) every `label_hop_ms`;
- the sentence, from its ``.align`` or ``.lab`` file or its GRID name (`grid.transcript`), force-aligned.

Clips labelled with visemes only serve the OVR class sets (no phones to map to others). Alignments are cached as
``<cache_dir>/<directory>/<clip>.alignment.json``, beside the extracted crops (``data/``), so each clip is aligned
once.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipnet import audio, env, grid, visemes
from lipnet.errors import LipnetError
from lipnet.speech import align

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus")
PHONES_SUFFIX = ".phones.tsv"
VISEMES_SUFFIX = ".visemes.tsv"
FRAMES_SUFFIX = ".visemes.txt"


@dataclass(frozen=True)
class Recording:
    """A clip's sound: its samples (16 kHz mono) and the timed phones said in it (or, labelled by hand, the timed
    OVR visemes shown)."""

    clip: grid.Clip  # its key is ``<directory>/<stem>``: ``s1/bbaf2n`` in GRID's layout, as split lists name clips
    samples: np.ndarray
    phones: list[align.Segment]  # empty for a clip labelled with visemes
    visemes: list[align.Segment] = ()  # OVR visemes, for a clip labelled with them instead of phones

    @property
    def key(self) -> str:
        return self.clip.key

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


def load(
    path: str | Path,
    align_dirs: list[Path] = (),
    cache_dir: str | Path | None = env.DATA_DIR,
    label_hop_ms: float = 8.0,
) -> Recording:
    """A clip with its labels (see the module's docstring); a sentence is aligned and cached in
    ``<cache_dir>/<directory>/<stem>.alignment.json`` (None: not cached).

    Raises LipnetError naming the file when it has no usable sound, no labels, or does not align.
    """
    path = Path(path)
    stem = path.name.split(".")[0]
    key = f"{path.parent.name}/{stem}"
    samples, by_hand = audio.load(path), grid.Clip(key, media=path)  # labels given by hand: no sentence
    if (labels := path.with_name(stem + PHONES_SUFFIX)).is_file():
        return Recording(by_hand, samples, read_segments(labels, "phone"))
    if (labels := path.with_name(stem + VISEMES_SUFFIX)).is_file():
        return Recording(by_hand, samples, [], read_segments(labels, "viseme"))
    if (labels := path.with_name(stem + FRAMES_SUFFIX)).is_file():
        return Recording(by_hand, samples, [], read_frames(labels, label_hop_ms))
    clip = grid.Clip.labelled(key, path, list(align_dirs), media=path)
    if clip.text is None:
        raise LipnetError(
            f"{path}: no labels (a .lab, .align, {PHONES_SUFFIX}, {VISEMES_SUFFIX} or {FRAMES_SUFFIX} beside it)"
        )
    if cache_dir is None:
        alignment = align.align(samples, clip.text)
    else:
        alignment = align.cached(Path(cache_dir) / f"{key}{align.CACHE_SUFFIX}", samples, clip.text)
    return Recording(clip, samples, alignment.phones)


def read_segments(path: str | Path, what: str = "phone") -> list[align.Segment]:
    """Timed labels from a ``start end label ...`` file (seconds; a header line starting with "start" is allowed)."""
    segments = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or (number == 1 and parts[0].startswith("start")):
            continue
        try:
            segments.append(align.Segment(parts[2].strip(), float(parts[0]), float(parts[1])))
        except (ValueError, IndexError):
            raise LipnetError(f"{path}: line {number} is not 'start end {what}': {line.strip()!r}") from None
    if not segments:
        raise LipnetError(f"{path}: no {what}s")
    return segments


def read_frames(path: str | Path, hop_ms: float) -> list[align.Segment]:
    """The seed's per-frame labels: a row of 15 OVR values per `hop_ms` frame, as timed visemes."""
    try:
        rows = np.loadtxt(path, ndmin=2)
    except ValueError as err:
        raise LipnetError(f"{path}: not rows of numbers ({err})") from None
    classes = visemes.classes("ovr")
    if rows.shape[1] != len(classes):
        raise LipnetError(f"{path}: {rows.shape[1]} values a frame, expected {len(classes)} ({' '.join(classes)})")
    hop = hop_ms / 1000
    return [align.Segment(classes[k], round(i * hop, 6), round((i + 1) * hop, 6)) for i, k in enumerate(rows.argmax(1))]

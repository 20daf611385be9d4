"""Training data: extracted mouth crops (``.npy``) paired with their sentences, split and batched.

Crops stay uint8 and memory-mapped until a batch is assembled; augmentation happens inside the model
(on the accelerator), so batches are plain copies and workers only read.

A clip's sound gives it per-frame targets for auxiliary heads (`frame_targets`): the phone and viseme at each video
frame from its forced alignment, and an audio teacher's phone posteriors, cached beside the crops.
"""

import functools
import json
import random
import threading
from pathlib import Path

import keras
import numpy as np

from lipnet import alphabet, audio, env, grid, visemes
from lipnet.errors import LipnetError
from lipnet.speech import corpus, lipsync
from lipnet.storage import atomic_write

# np.load reads a .npy header with ast.literal_eval, which CPython 3.11 can fail in threads at once ("SystemError:
# AST constructor recursion depth mismatch", python/cpython#106905): it killed a training run here after 8 epochs
_HEADER_LOCK = threading.Lock()
FRAME_TARGETS_SUFFIX = ".frames.npz"  # `frame_targets`' cache, beside the crop file


def discover(
    data_dir: str | Path, align_dirs: list[Path] = (), source_dirs: list[Path] | None = None
) -> list[grid.Clip]:
    """Every ``.npy`` crop file under `data_dir` whose sentence is known (``.align`` file or GRID name), sorted;
    with `source_dirs`, each with its source recording (`find_source`) when there is one."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise LipnetError(
            f"{data_dir}: no such data directory (extract videos first: python preprocessing/extract.py -v VIDEOS -o {data_dir})"
        )
    samples = []
    for path in sorted(data_dir.rglob("*.npy")):
        speaker, stem = grid.speaker_of(path, data_dir), path.name.removesuffix(".npy")
        media = find_source(path, source_dirs) if source_dirs is not None else None
        clip = grid.Clip.labelled(
            f"{speaker}/{stem}" if speaker else stem, path, list(align_dirs), media=media, crops=path
        )
        if clip.text is not None:
            samples.append(clip)
    if not samples:
        raise LipnetError(f"{data_dir}: no .npy crops with a known sentence (.align or .lab file, or GRID file name)")
    return samples


def find_source(crops: Path, source_dirs: list[Path]) -> Path | None:
    """The recording a crop file was extracted from: a video or audio file of its stem under ``<dir>/<speaker>/``
    or ``<dir>/`` of `source_dirs` (the speaker being the crop's directory, as in GRID's layout), or beside it."""
    stem, speaker = crops.name.removesuffix(".npy"), crops.parent.name
    folders = [folder for d in map(Path, source_dirs) for folder in (d / speaker, d)] + [crops.parent]
    extensions = grid.VIDEO_EXTENSIONS + corpus.AUDIO_EXTENSIONS
    return next((f / (stem + e) for f in folders for e in extensions if (f / (stem + e)).is_file()), None)


def frame_targets(
    sample: grid.Clip,
    align_dirs: list[Path] = (),
    alignments: Path | None = env.DATA_DIR,
    teacher: Path = env.LIPSYNC_MODEL,
) -> dict[str, np.ndarray]:
    """Per-frame targets of a clip at 25 fps, one per crop frame, from the sound of its source recording:

    - ``phones`` (T,) int64, indices into `visemes.PHONES`: the phone at each video frame's instant in the clip's
      forced alignment (`corpus.load`'s, cached under `alignments`; silence before and after the words);
    - ``visemes`` (T,) int64, the OVR viseme class of the same phone;
    - ``teacher`` (T, 40) float32: the audio phone classifier `teacher`'s posteriors (100 Hz), averaged over the
      4 audio frames 4j .. 4j + 3 of video frame j: those `audio.video_frame` puts in it, from its instant to the
      next frame's, the 40 ms it is shown (audio frame 4j is at its instant).

    Cached in ``<crop>.frames.npz`` beside the crop file (plain arrays), recomputed when the recording, the
    teacher or the crop length changed. A cache whose recording is not at hand (moved with the crops to another
    machine: bench/gpu_aux.sh) is used as it is if it has a target for every crop frame. Raises LipnetError naming
    the clip when it has no recording (nor such a cache) or no labels.
    """
    cache = sample.crops.with_name(sample.crops.name.removesuffix(".npy") + FRAME_TARGETS_SUFFIX)
    frames = len(load_clip(sample.crops, None))
    if sample.media is None:
        if (moved := _cached_targets(cache, lambda saved: len(saved["visemes"]) == frames)) is not None:
            return moved
        raise LipnetError(f"{sample.key}: no source video or audio found to label its frames (give its directory)")
    stamp = json.dumps({"frames": frames, "text": sample.text, **_file_stamp(sample.media, teacher)})
    if (cached := _cached_targets(cache, lambda saved: str(saved["stamp"]) == stamp)) is not None:
        return cached
    clip = corpus.load(sample.media, list(align_dirs), alignments)
    if not clip.phones:
        raise LipnetError(f"{sample.key}: {sample.media} is labelled with visemes, not phones")
    names = visemes.frame_phones(clip.phones, env.FPS, frames)
    posteriors = _teacher(str(teacher)).probabilities(clip.samples)
    targets = {
        "phones": visemes.targets(names, "phones"),
        "visemes": visemes.targets(names, "ovr"),
        "teacher": audio.per_video_frame(posteriors, frames).astype(np.float32),
    }
    atomic_write(cache, lambda f: np.savez(f, stamp=np.array(stamp), **targets))
    return targets


def _cached_targets(cache: Path, current) -> dict[str, np.ndarray] | None:
    """The targets `frame_targets` cached in `cache` when it is readable and `current(saved arrays)` holds; None
    when it is missing, unreadable (computed again) or stale."""
    try:
        with np.load(cache, allow_pickle=False) as saved:
            if current(saved):
                return {k: saved[k] for k in ("phones", "visemes", "teacher")}
    except (OSError, ValueError, KeyError):
        pass
    return None


def _file_stamp(*paths: Path) -> dict:
    """What identifies the files' contents cheaply: path, size and modification time."""
    return {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in map(Path, paths)}


@functools.cache
def _teacher(path: str) -> lipsync.VisemeModel:
    return lipsync.load(path)


def validation(samples: list[grid.Clip], how: str, seed: int = 0, val_fraction: float = 0.1) -> list[grid.Clip]:
    """The validation part of `samples` under split `how`.

    `how` is 'unseen' (speakers s1, s2, s20, s22 validate), 'overlapped' (the standard per-speaker lists),
    'random' (`val_fraction` of clips, fixed by `seed`), or the path of a file listing validation clips
    (``speaker/stem`` per line).
    """
    if how == "unseen":
        return [s for s in samples if s.speaker in grid.UNSEEN_SPEAKERS]
    if how == "overlapped":
        listed = grid.read_split("overlapped", "val")
        return [s for s in samples if (s.speaker, s.crops.name.removesuffix(".npy")) in listed]
    if how == "random":
        shuffled = samples[:]
        random.Random(seed).shuffle(shuffled)
        return shuffled[: max(1, round(len(samples) * val_fraction))]
    if Path(how).is_file():
        keys = grid.read_list(how)
        return [s for s in samples if s.key in keys]
    raise LipnetError(f"{how}: not a split (unseen, overlapped, random) nor a file listing validation clips")


def split(
    samples: list[grid.Clip], how: str, seed: int = 0, val_fraction: float = 0.1
) -> tuple[list[grid.Clip], list[grid.Clip]]:
    """Split samples into (train, validation) as `validation` does; both parts must hold clips."""
    val = validation(samples, how, seed, val_fraction)
    held = set(val)
    train = [s for s in samples if s not in held]
    if not train or not val:
        raise LipnetError(
            f"split {how!r} leaves {len(train)} training and {len(val)} validation clips: pick another split"
        )
    return train, val


def load_clip(path: str | Path, frames: int | None = env.FRAME_COUNT) -> np.ndarray:
    """A crop array (T, 50, 100, 3) uint8, memory-mapped, padded (repeating the last frame) or trimmed to `frames`."""
    try:
        with _HEADER_LOCK:  # the batch threads parse .npy headers with ast, which CPython 3.11 breaks in threads
            clip = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LipnetError(f"{path}: not a crop array ({err})") from None
    expected = (env.IMAGE_HEIGHT, env.IMAGE_WIDTH, env.IMAGE_CHANNELS)
    if clip.ndim != 4 or clip.shape[1:] != expected or clip.dtype != np.uint8:
        raise LipnetError(
            f"{path}: crop array has shape {clip.shape} {clip.dtype}, expected (T, {', '.join(map(str, expected))}) uint8"
        )
    return fit_frames(clip, frames)


def fit_frames(x: np.ndarray, frames: int | None) -> np.ndarray:
    """Per-frame data (frames first) trimmed or padded, repeating its last frame, to `frames` (None: unchanged)."""
    if frames is None or len(x) == frames:
        return x
    if len(x) > frames:
        return x[:frames]
    return np.concatenate([x, np.repeat(x[-1:], frames - len(x), axis=0)])


def labels(texts: list[str], length: int = env.MAX_LABEL_LENGTH) -> np.ndarray:
    """Sentences as a (B, length) int32 array of label ids padded with 0 (the CTC blank)."""
    out = np.zeros((len(texts), length), dtype=np.int32)
    for i, text in enumerate(texts):
        ids = alphabet.encode(text)
        if len(ids) > length:
            raise LipnetError(f"sentence longer than {length} characters: {text!r}")
        out[i, : len(ids)] = ids
    return out


def channel_stats(
    samples: list[grid.Clip], clips: int = env.NORM_STATS_CLIPS, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (0..255 scale) over a random subset of the clips."""
    chosen = random.Random(seed).sample(samples, min(clips, len(samples)))
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for s in chosen:
        x = load_clip(s.crops, None).reshape(-1, 3).astype(np.float64)
        total += x.sum(0)
        squares += (x**2).sum(0)
        count += len(x)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-6))
    return mean.tolist(), std.tolist()


def word_clip(clip: np.ndarray, word: grid.Word) -> np.ndarray:
    """The clip reduced to one word (the LipNet paper's word-level training instances).

    Frames outside the word's span are replaced by the span's first or last frame, so the clip keeps its
    length and timing but shows a still mouth (silence) before and after the word.
    """
    start = min(max(int(word.start), 0), len(clip) - 1)
    end = min(max(int(np.ceil(word.end)), start + 1), len(clip))
    index = np.clip(np.arange(len(clip)), start, end - 1)
    return clip[index]


def window_clip(
    first: np.ndarray,
    first_words: tuple[grid.Word, ...],
    second: np.ndarray,
    second_words: tuple[grid.Word, ...],
    start: int,
) -> tuple[np.ndarray, str]:
    """A window as long as `first`, from frame `start` of the two clips played one after the other.

    Continuous speech, as a user's video or a live stream shows it, rather than one sentence framed by
    silence. Words wholly inside the window make its text; a word the window's edge cuts is frozen (its
    frames inside the window show the nearest frame outside it) and left out. The text may be empty.
    """
    length = len(first)
    frames = np.concatenate([first, second])  # `second` is at least as long as `first`; 0 <= start <= its length
    words = list(first_words) + [grid.Word(w.text, w.start + len(first), w.end + len(first)) for w in second_words]
    end = start + length
    index = np.arange(start, end)
    kept = []
    for w in words:
        first_frame, last_frame = int(np.floor(w.start)), int(np.ceil(w.end))  # the word shows in [first, last)
        if w.start >= start and w.end <= end:
            kept.append(w.text)
        elif first_frame < start < last_frame:  # cut by the left edge: hold the frame after it
            index[: last_frame - start] = min(last_frame, end - 1)
        elif first_frame < end < last_frame:  # cut by the right edge: hold the frame before it
            index[max(first_frame - start, 0) :] = max(first_frame - 1, start)
    return frames[index], alphabet.normalize(" ".join(kept))


def batches_per_epoch(clips: int, batch_size: int, whole_only: bool = True) -> int:
    """How many batches `Batches` yields per epoch: training drops the last partial batch (`whole_only`),
    validation keeps it; at least one either way."""
    return max(clips // batch_size if whole_only else -(-clips // batch_size), 1)


class Batches(keras.utils.PyDataset):
    """Batches of (frames uint8 (B, T, 50, 100, 3), labels int32 (B, L)), reshuffled each epoch by (seed, epoch).

    During the first `curriculum_epochs` epochs, half the clips that have word timings are replaced by
    one of their words alone (`word_clip`): the LipNet paper's word-level curriculum. Otherwise, with
    probability `window_probability`, a clip with word timings is replaced by a window across it and
    another clip of its speaker (`window_clip`), so the model also learns to read continuous speech. A partial
    batch is padded with copies of its last clip to a multiple of `multiple` (the devices that share every batch).

    With `targets` (per clip, per auxiliary head of the model, (T, classes) per-frame target distributions), the
    labels are a dict: ``logits``, the sentences, and each head's targets (B, T, classes), which follow the frames
    through padding, the curriculum and windows.
    """

    def __init__(
        self,
        samples: list[grid.Clip],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        frames: int = env.FRAME_COUNT,
        workers: int = 4,
        curriculum_epochs: int = 0,
        window_probability: float = 0.0,
        multiple: int = 1,
        targets: dict[grid.Clip, dict[str, np.ndarray]] | None = None,
        **kwargs,
    ):
        super().__init__(workers=workers, **kwargs)
        self.multiple, self.targets = multiple, targets
        self.samples, self.batch_size, self.shuffle, self.seed, self.frames = samples, batch_size, shuffle, seed, frames
        self.curriculum_epochs, self.window_probability = curriculum_epochs, window_probability
        self.partners: dict[str, list[grid.Clip]] = {}  # clips with word timings, per speaker: window partners
        for s in samples:
            if s.words:
                self.partners.setdefault(s.speaker, []).append(s)
        self.set_epoch(0)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.samples))
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.samples))

    def set_epoch(self, epoch: int) -> None:
        """Fix the shuffle and the curriculum for `epoch` (used when a run resumes)."""
        self.epoch = epoch
        self.order = self._order()
        self.word_probability = 0.5 if epoch < self.curriculum_epochs else 0.0

    def __len__(self) -> int:
        return batches_per_epoch(len(self.samples), self.batch_size, whole_only=self.shuffle)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray | dict[str, np.ndarray]]:
        chosen = [self.samples[i] for i in self.order[index * self.batch_size : (index + 1) * self.batch_size]]
        items = [self._frames(s, self.frames) for s in chosen]
        texts = [s.text for s in chosen]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        for i, s in enumerate(chosen):
            if not s.words:
                continue
            if rng.random() < self.word_probability:
                word = s.words[rng.integers(len(s.words))]
                items[i] = {k: word_clip(np.asarray(v), word) for k, v in items[i].items()}
                texts[i] = alphabet.normalize(word.text)
            elif rng.random() < self.window_probability:
                items[i], texts[i] = self._window(s, items[i], rng)
        padding = -len(items) % self.multiple
        items, texts = items + items[-1:] * padding, texts + texts[-1:] * padding
        x, y = np.stack([item["frames"] for item in items]), labels(texts)
        if not self.targets:
            return x, y
        return x, {"logits": y, **{k: np.stack([item[k] for item in items]) for k in items[0] if k != "frames"}}

    def _frames(self, sample: grid.Clip, frames: int | None) -> dict[str, np.ndarray]:
        """A clip's per-frame data, fitted to `frames`: its crops (``frames``) and its heads' targets, if any."""
        targets = self.targets[sample] if self.targets else {}
        return {"frames": load_clip(sample.crops, frames), **{k: fit_frames(v, frames) for k, v in targets.items()}}

    def _window(
        self, sample: grid.Clip, item: dict[str, np.ndarray], rng: np.random.Generator
    ) -> tuple[dict[str, np.ndarray], str]:
        """`window_clip` across this clip and a random one of its speaker, in random order; one word at least."""
        partner = self.partners[sample.speaker][rng.integers(len(self.partners[sample.speaker]))]
        length = len(item["frames"])
        pair = [(item, sample.words), (self._frames(partner, length), partner.words)]
        if rng.random() < 0.5:
            pair.reverse()
        (first, first_words), (second, second_words) = pair
        for _ in range(10):
            start = int(rng.integers(length + 1))
            window = {
                k: window_clip(np.asarray(first[k]), first_words, np.asarray(second[k]), second_words, start)
                for k in item
            }
            if text := window["frames"][1]:
                return {k: frames for k, (frames, _) in window.items()}, text
        return item, sample.text

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)

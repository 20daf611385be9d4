"""Audio-visual sync: does the voice match the lips, and by how many frames is it off?

A coupled 3D CNN (the audio-visual matching seed): two networks with separate weights map 0.3 s of speech (15
MFEC frames of 20 ms, 40 bands x {static, Δ, ΔΔ}) and 0.32 s of grey mouth crops (8 frames at 25 fps) to unit
vectors in one space, near when they are the same moment of the same person speaking. They are trained with a
contrastive loss on genuine pairs and impostors (the same clip shifted by at least `env.SYNC_MIN_SHIFT` frames,
and other clips), the impostor of each genuine pair either picked at random or chosen online in each batch
(the seed's online pair selection; see `Contrastive`).

Time base: video window ``j`` holds crops ``j .. j+7``; its speech window holds MFEC frames ``2j .. 2j+14``, so
both start at video frame ``j``'s instant. Pairing video window ``j`` with speech window ``j + k`` asks "is the
sound ``k`` frames late?": the offset is the ``k`` whose pairs are nearest on average (SyncNet's search), ``k > 0``
meaning the audio lags the picture, ``k < 0`` that it leads. The confidence is SyncNet's: the median distance
over the searched offsets minus the minimum.

The baseline that needs no learning (`envelope_offset`): the mouth opening (inner lips, from the tracker's
landmarks) cross-correlated with the speech energy envelope.
"""

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from lipnet import env, runs
from lipnet.errors import LipnetError
from lipnet.speech import audio
from lipnet.storage import atomic_write_text

AUDIO_PER_VIDEO = audio.frames_per_video_frame(env.SYNC_HOP_MS)  # 2 speech frames a video frame (checked to divide)
SAMPLES_PER_FRAME = env.SAMPLE_RATE // env.FPS  # 640 samples of 16 kHz audio a video frame
FRAME_MS = 1000 // env.FPS  # 40
SELECTIONS = ("hard", "random")
LOG_FIELDS = ("epoch", "loss", "val_auc", "val_eer", "learning_rate", "seconds", "clips_per_s")
CURVES = (
    ("Contrastive loss", "loss", ("loss",), True),
    ("Held-out pairs", "EER", ("val_eer",), False),
)
_INNER_TOP, _INNER_BOTTOM = [61, 62, 63], [67, 66, 65]  # iBUG 68-point inner lips, upper and lower, facing pairs
_CORNERS = (48, 54)  # mouth corners: the opening is measured in mouth widths


@dataclass
class SyncConfig:
    """What makes a sync model: its sizes and how it was trained."""

    embedding: int = 64  # dimensions of the shared space
    width: int = 16  # channels of each net's first layer, doubled twice deeper in
    selection: str = "hard"  # impostor of each genuine pair: chosen online in the batch (semi-hard), or at random
    margin: float = env.SYNC_MARGIN
    batch_size: int = 32  # genuine pairs a step, one per clip
    windows: int = 8  # windows drawn from each training clip an epoch
    learning_rate: float = 1e-3
    epochs: int = 20
    seed: int = 0

    def check(self) -> "SyncConfig":
        if self.selection not in SELECTIONS:
            raise LipnetError(f"unknown pair selection {self.selection!r}: choose {' or '.join(SELECTIONS)}")
        if min(self.embedding, self.width, self.batch_size, self.windows, self.epochs) < 1:
            raise LipnetError("sizes, batch, windows and epochs must be positive")
        return self


@dataclass
class Clip:
    """What sync needs of one clip, on the video's time base."""

    key: str
    mouths: np.ndarray  # (T, 50, 100) uint8 grey mouth crops, 25 fps
    opening: np.ndarray  # (T,) float32 inner-lip opening in mouth widths (the baseline's signal)
    samples: np.ndarray  # (n,) float32 16 kHz mono
    mfec: np.ndarray = field(init=False)  # (F, 40, 3) normalised speech features, F = n // 320
    loudness: np.ndarray = field(init=False)  # (F // 2,) speech energy per video frame, dB

    def __post_init__(self):
        mel = _mel(self.samples)
        self.mfec, self.loudness = normalised(mel), energy(mel[..., 0])

    @property
    def windows(self) -> int:
        """Window starts with both a video and a speech window inside the clip."""
        return max(0, min(len(self.mouths) - env.SYNC_VIDEO_FRAMES, _audio_windows(self.mfec)) + 1)

    def speech_windows(self) -> np.ndarray:
        """Window starts whose speech window is at least half speech (frames within `env.SYNC_SPEECH_DB` of the
        clip's loudest): two silent windows match whatever the clip, so they make no impostors."""
        if not self.windows or not len(self.loudness):
            return np.zeros(0, np.int64)
        speech = self.loudness > self.loudness.max() - env.SYNC_SPEECH_DB
        index = np.arange(self.windows)[:, None] + np.arange(env.SYNC_VIDEO_FRAMES)
        counts = speech[np.minimum(index, len(speech) - 1)].sum(axis=1)
        return np.flatnonzero(counts >= env.SYNC_VIDEO_FRAMES // 2)

    def delayed(self, frames: int) -> "Clip":
        """This clip with its sound `frames` video frames later (earlier when negative)."""
        return Clip(self.key, self.mouths, self.opening, delay(self.samples, frames))


def clip(key: str, crops: np.ndarray, landmarks: np.ndarray, samples: np.ndarray) -> Clip:
    """A `Clip` from a mouth track's RGB crops and landmarks and the clip's 16 kHz samples."""
    grey = np.round(crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    return Clip(key, grey, mouth_opening(landmarks), samples)


def load_clip(media: str | Path, crops: str | Path) -> Clip:
    """The `Clip` of a media file whose mouth crops (and their ``.track.npz`` sidecar) were extracted already."""
    from lipnet import mouth

    track = mouth.load_sidecar(crops)
    return clip(Path(media).stem, np.load(crops), track["landmarks"], audio.load(media))


def _mel(samples: np.ndarray) -> np.ndarray:
    """(F, 40, 3) MFEC (dB), Δ and ΔΔ at 20 ms (F = n // 320).

    A whisper of dither (-80 dBFS) keeps digital silence (padding, or a muted stretch) at a finite level.
    """
    dither = np.random.default_rng(0).standard_normal(len(samples)).astype(np.float32) * env.SILENCE_PEAK
    x = audio.log_mel(samples + dither, hop_ms=env.SYNC_HOP_MS, n_mels=env.N_MELS, deltas=True)
    return x.reshape(len(x), 3, env.N_MELS).transpose(0, 2, 1)


def normalised(mel: np.ndarray) -> np.ndarray:
    """The speech net's input: each band and channel of a clip's (F, 40, 3) features to zero mean, unit variance."""
    if len(mel) > 1:
        mel = (mel - mel.mean(axis=0)) / (mel.std(axis=0) + 1e-3)
    return np.ascontiguousarray(mel, dtype=np.float32)


def delay(samples: np.ndarray, frames: int, sample_rate: int = env.SAMPLE_RATE) -> np.ndarray:
    """`samples` played `frames` video frames late (silence first), or early when negative; same length."""
    n = round(frames * sample_rate / env.FPS)
    out = np.zeros_like(samples)
    if n >= 0:
        out[n:] = samples[: max(0, len(samples) - n)]
    else:
        out[: max(0, len(samples) + n)] = samples[-n:]
    return out


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T,) the inner lips' mean vertical gap over the mouth's width, per frame: how open the mouth is."""
    gap = np.linalg.norm(landmarks[:, _INNER_TOP] - landmarks[:, _INNER_BOTTOM], axis=-1).mean(axis=1)
    width = np.linalg.norm(landmarks[:, _CORNERS[0]] - landmarks[:, _CORNERS[1]], axis=-1)
    return (gap / np.maximum(width, 1e-3)).astype(np.float32)


def _audio_windows(mfec: np.ndarray) -> int:
    """The last video frame a full speech window can start at."""
    return (len(mfec) - env.SYNC_AUDIO_FRAMES) // AUDIO_PER_VIDEO


def video_windows(mouths: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(N, 8, 50, 100) float32 mouth windows starting at video frames `starts`."""
    index = np.asarray(starts)[:, None] + np.arange(env.SYNC_VIDEO_FRAMES)
    return mouths[index].astype(np.float32)


def audio_windows(mfec: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """(N, 15, 40, 3) speech windows starting at video frames `starts` (speech frame 2 j)."""
    index = AUDIO_PER_VIDEO * np.asarray(starts)[:, None] + np.arange(env.SYNC_AUDIO_FRAMES)
    return mfec[index]


# The networks ---------------------------------------------------------------------------------


def visual_net(config: SyncConfig) -> keras.Model:
    """8 grey 50x100 mouth crops -> a unit vector: 3D convolutions over time, height and width."""
    w = config.width
    x = inputs = keras.Input((env.SYNC_VIDEO_FRAMES, env.IMAGE_HEIGHT, env.IMAGE_WIDTH), name="mouths")
    x = layers.Reshape((*inputs.shape[1:], 1))(x)
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(x)
    for filters, kernel, strides in ((w, (3, 5, 5), (1, 2, 2)), (2 * w, 3, (1, 2, 2)), (4 * w, 3, 2), (4 * w, 3, 2)):
        x = _conv(x, filters, kernel, strides)
    x = layers.Reshape((x.shape[1], -1, x.shape[-1]))(x)  # time, space, channels
    x = layers.Flatten()(layers.GlobalAveragePooling2D(keepdims=True)(layers.Permute((2, 1, 3))(x)))
    return keras.Model(inputs, _embed(x, config), name="visual")


def speech_net(config: SyncConfig) -> keras.Model:
    """15 x 40 x 3 MFEC cube -> a unit vector: 3D convolutions over time, frequency and derivative order."""
    w = config.width
    x = inputs = keras.Input((env.SYNC_AUDIO_FRAMES, env.N_MELS, 3), name="speech")
    x = layers.Reshape((*inputs.shape[1:], 1))(x)
    x = _conv(x, w, (3, 5, 3), 1, padding="valid")  # static, Δ and ΔΔ fused: (13, 36, 1, w)
    for filters, strides in ((2 * w, (1, 2, 1)), (4 * w, (2, 2, 1)), (4 * w, (2, 2, 1))):
        x = _conv(x, filters, (3, 3, 1), strides)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _embed(x, config), name="speech")


def _conv(x, filters: int, kernel, strides, padding: str = "same"):
    x = layers.Conv3D(filters, kernel, strides=strides, padding=padding, use_bias=False)(x)
    return layers.ReLU()(layers.BatchNormalization()(x))


def _embed(x, config: SyncConfig):
    x = layers.Dense(config.embedding)(layers.Dropout(0.2)(x))
    return layers.UnitNormalization()(x)


def pair_net(config: SyncConfig) -> keras.Model:
    """The coupled nets as one model: (mouths, speech, speech shifted in the same clip) -> their three embeddings,
    side by side (what the contrastive loss reads)."""
    visual, speech = visual_net(config), speech_net(config)
    mouths = keras.Input(visual.input_shape[1:], name="mouth_window")
    genuine = keras.Input(speech.input_shape[1:], name="speech_window")
    shifted = keras.Input(speech.input_shape[1:], name="shifted_window")
    out = layers.Concatenate(name="embeddings")([visual(mouths), speech(genuine), speech(shifted)])
    return keras.Model([mouths, genuine, shifted], out, name="sync")


@keras.saving.register_keras_serializable("lipnet")
class Contrastive(keras.losses.Loss):
    """Contrastive loss, d² for a genuine pair and max(0, margin - d)² for its impostor, per genuine pair.

    A batch holds one window from each of its clips: mouths v_i, their speech a_i and speech s_i of the same clip
    shifted by at least `env.SYNC_MIN_SHIFT` frames. The impostors of v_i are s_i (same voice, wrong moment), every
    a_j and every s_j (another clip). ``hard`` is the online pair selection: the nearest impostor still farther
    than the genuine pair (semi-hard, as FaceNet picks its negatives; the farthest when none is), chosen afresh in
    every batch. The hardest impostor outright stalled training (loss 0.50, chance AUC for 4 epochs on GRID s1,
    whose clips share one speaker and one grammar, so a near-identical window of another clip is always in the
    batch). ``random`` takes one drawn blindly (s_i for even i, a_{i+1} for odd: batches are shuffled).
    """

    def __init__(self, selection: str = "hard", margin: float = env.SYNC_MARGIN, **kwargs):
        super().__init__(**kwargs)
        self.selection, self.margin = selection, margin

    def call(self, y_true, y_pred):
        v, a, s = ops.split(y_pred, 3, axis=-1)
        genuine = ops.sum(ops.square(v - a), axis=-1)
        to_a, to_s = _squared_distances(v, a), _squared_distances(v, s)
        n = ops.shape(v)[0]
        if self.selection == "hard":
            candidates = ops.concatenate([to_a, to_s], axis=1)
            valid = ops.concatenate([1 - ops.eye(n, dtype=to_a.dtype), ops.ones_like(to_s)], axis=1)
            beyond = valid * ops.cast(candidates > genuine[:, None], to_a.dtype)
            semi_hard = ops.min(candidates + 8.0 * (1 - beyond), axis=1)  # 8: above any d² of unit vectors
            farthest = ops.max(candidates * valid - (1 - valid), axis=1)
            nearest = ops.where(ops.max(beyond, axis=1) > 0, semi_hard, farthest)
        else:
            even = ops.cast(ops.arange(n) % 2 == 0, to_a.dtype)
            next_clip = ops.sum(to_a * ops.roll(ops.eye(n, dtype=to_a.dtype), 1, axis=1), axis=1)
            nearest = even * ops.diagonal(to_s) + (1 - even) * next_clip
        impostor = ops.square(ops.relu(self.margin - ops.sqrt(nearest + 1e-9)))
        return genuine + impostor

    def get_config(self):
        return {**super().get_config(), "selection": self.selection, "margin": self.margin}


def _squared_distances(x, y):
    """(n, n) squared distances between unit vectors: 2 - 2 x.y."""
    return ops.maximum(2.0 - 2.0 * ops.matmul(x, ops.transpose(y)), 0.0)


class SyncModel:
    """A trained sync model: embeddings of both streams, the distance curve over offsets, the offset."""

    def __init__(self, config: SyncConfig, network: keras.Model):
        self.config, self.network = config, network
        self.visual, self.speech = network.get_layer("visual"), network.get_layer("speech")

    def embed_video(self, clip: Clip) -> np.ndarray:
        """(W, D) embeddings of every mouth window that has a full window after it."""
        starts = np.arange(max(0, len(clip.mouths) - env.SYNC_VIDEO_FRAMES + 1))
        return self._embed(self.visual, video_windows(clip.mouths, starts))

    def embed_audio(self, mfec: np.ndarray) -> np.ndarray:
        """(W, D) embeddings of the speech windows starting at every video frame."""
        starts = np.arange(max(0, _audio_windows(mfec) + 1))
        return self._embed(self.speech, audio_windows(mfec, starts))

    def distances(self, video: np.ndarray, speech: np.ndarray) -> np.ndarray:
        """Distances of matched rows of embeddings (pairs)."""
        return np.linalg.norm(video - speech, axis=-1)

    @staticmethod
    def _embed(net: keras.Model, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros((0, net.output_shape[-1]), np.float32)
        return np.concatenate([net.predict_on_batch(x[i : i + 256]) for i in range(0, len(x), 256)])

    def offsets(self, clip: Clip, max_offset: int = env.SYNC_MAX_OFFSET, window: int = env.SYNC_WINDOW) -> list:
        """The `Offset` of the clip, or of every `window` frames of a longer one (so drift shows)."""
        video, speech = self.embed_video(clip), self.embed_audio(clip.mfec)
        return [
            offset_of(curve(video, speech, max_offset, start, stop), start, stop)
            for start, stop in _spans(len(video), window)
        ]

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (.keras, without optimizer state) and its ``.json`` config, atomically."""
        path = Path(path)
        network = pair_net(self.config)  # uncompiled: no optimizer state (2/3 of a checkpoint)
        network.set_weights(self.network.get_weights())
        runs.write_keras(path, network)
        atomic_write_text(path.with_suffix(".json"), json.dumps(asdict(self.config), indent=2))
        return path


def load(path: str | Path) -> SyncModel:
    """A model `SyncModel.save` wrote; LipnetError naming the file when it is missing or not one."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise LipnetError(f"{path}: no such sync model (a .keras file with its .json beside it)")
    try:
        config = SyncConfig(**json.loads(meta.read_text())).check()
        network = keras.saving.load_model(path, compile=False)
        return SyncModel(config, network)
    except Exception as err:  # a damaged or foreign file: one line, naming it
        raise LipnetError(f"{path}: cannot load the sync model ({type(err).__name__}: {err})") from None


# Offsets --------------------------------------------------------------------------------------


@dataclass
class Offset:
    """Where the sound fits the picture best, over video frames [start, stop) of a clip."""

    offset: int  # video frames; > 0: the audio lags (comes late), < 0: it leads
    confidence: float  # median minus minimum of `distances`
    offsets: np.ndarray  # the offsets tried
    distances: np.ndarray  # mean distance at each (or correlation's negative, for the baseline)
    start: int = 0  # the first and one past the last window start searched (a window spans 8 frames)
    stop: int = 0

    @property
    def ms(self) -> int:
        return self.offset * FRAME_MS

    @property
    def clear(self) -> bool:
        return self.confidence >= env.SYNC_MIN_CONFIDENCE

    def verdict(self) -> str:
        if not self.clear:
            return "no clear minimum: not the same speaker, or no speech"
        if abs(self.offset) <= env.SYNC_TOLERANCE:
            return "in sync"
        return f"off by {abs(self.offset)} frames: the audio {self.direction}"

    @property
    def direction(self) -> str:
        if self.offset == 0:
            return "is in step"
        return f"{'lags' if self.offset > 0 else 'leads'} by {abs(self.ms)} ms"

    def as_dict(self) -> dict:
        return {
            "start_s": self.start / env.FPS, "end_s": (self.stop + env.SYNC_VIDEO_FRAMES - 1) / env.FPS, "offset_frames": self.offset,
            "offset_ms": self.ms, "audio": self.direction, "confidence": round(float(self.confidence), 4),
            "verdict": self.verdict(), "offsets": self.offsets.tolist(),
            "distances": [round(float(d), 4) for d in self.distances],
        }  # fmt: skip


def curve(video: np.ndarray, speech: np.ndarray, max_offset: int, start: int = 0, stop: int | None = None):
    """(offsets, mean distance at each): video windows [start, stop) against speech windows k frames later."""
    stop = len(video) if stop is None else stop
    offsets = np.arange(-max_offset, max_offset + 1)
    means = []
    for k in offsets:
        j = np.arange(max(start, -k), min(stop, len(speech) - k))
        means.append(np.linalg.norm(video[j] - speech[j + k], axis=-1).mean() if len(j) else np.nan)
    return offsets, np.array(means)


def offset_of(found: tuple[np.ndarray, np.ndarray], start: int = 0, stop: int = 0) -> Offset:
    """The `Offset` at the least of a (offsets, distances) curve."""
    offsets, distances = found
    if np.isnan(distances).all():
        raise LipnetError("the clip is too short to compare sound and picture")
    best = int(np.nanargmin(distances))
    confidence = float(np.nanmedian(distances) - distances[best])
    return Offset(int(offsets[best]), confidence, offsets, distances, start, stop)


def _spans(frames: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) spans of at most `window` frames covering `frames`, a short tail merged into the last."""
    if frames <= window * 3 // 2:
        return [(0, frames)]
    starts = list(range(0, frames - window // 2, window))
    return [(s, min(frames, s + window) if s != starts[-1] else frames) for s in starts]


# The baseline: no learning --------------------------------------------------------------------


def energy(mel_db: np.ndarray) -> np.ndarray:
    """(T,) speech energy per video frame in dB, from the (F, 40) mel energies (dB) of its speech frames."""
    power = 10 * np.log10(np.sum(10 ** (mel_db / 10), axis=-1))
    frames = len(power) // AUDIO_PER_VIDEO
    return power[: frames * AUDIO_PER_VIDEO].reshape(frames, AUDIO_PER_VIDEO).mean(axis=1)


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation (0 when either is constant)."""
    x, y = x - x.mean(), y - y.mean()
    norm = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / norm) if norm > 0 else 0.0


def envelope_offset(opening: np.ndarray, loudness: np.ndarray, max_offset: int = env.SYNC_MAX_OFFSET) -> Offset:
    """The baseline's offset: the lag k maximising the correlation of mouth opening (frame j) with speech
    energy (frame j + k); distances are the correlations' negatives."""
    offsets = np.arange(-max_offset, max_offset + 1)
    scores = []
    for k in offsets:
        j = np.arange(max(0, -k), min(len(opening), len(loudness) - k))
        scores.append(-correlation(opening[j], loudness[j + k]) if len(j) > 2 else np.nan)
    return offset_of((offsets, np.array(scores)))


# Training -------------------------------------------------------------------------------------


class Batches(keras.utils.PyDataset):
    """Training batches: `config.batch_size` distinct clips each, a random speech window of each, its speech and the
    same clip's speech shifted by `env.SYNC_MIN_SHIFT` .. `env.SYNC_MAX_OFFSET` frames. New draws every epoch."""

    def __init__(self, clips: list[Clip], config: SyncConfig, epoch: int = 0):
        super().__init__()
        self.clips = [c for c in clips if c.windows > env.SYNC_MIN_SHIFT and len(c.speech_windows())]
        self.starts = [c.speech_windows() for c in self.clips]
        self.config, self.epoch = config, epoch
        self.steps = max(1, len(self.clips) * config.windows // config.batch_size)

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, step: int):
        rng = np.random.default_rng((self.config.seed, self.epoch, step))
        chosen = rng.choice(len(self.clips), min(self.config.batch_size, len(self.clips)), replace=False)
        mouths, genuine, shifted = [], [], []
        for i in chosen:
            c = self.clips[i]
            j, s = draw_pair(c.windows, rng, int(rng.choice(self.starts[i])))
            mouths.append(video_windows(c.mouths, [j])[0])
            genuine.append(c.mfec[AUDIO_PER_VIDEO * j : AUDIO_PER_VIDEO * j + env.SYNC_AUDIO_FRAMES])
            shifted.append(c.mfec[AUDIO_PER_VIDEO * s : AUDIO_PER_VIDEO * s + env.SYNC_AUDIO_FRAMES])
        x = (np.stack(mouths), np.stack(genuine), np.stack(shifted))
        return x, np.zeros(len(chosen), np.float32)


def draw_pair(windows: int, rng: np.random.Generator, j: int | None = None) -> tuple[int, int]:
    """A window start (random unless given) and an impostor start in the same clip, `SYNC_MIN_SHIFT` ..
    `SYNC_MAX_OFFSET` frames away."""
    j = int(rng.integers(windows)) if j is None else j
    away = [s for s in range(windows) if env.SYNC_MIN_SHIFT <= abs(s - j) <= env.SYNC_MAX_OFFSET]
    return j, int(rng.choice(away))


def pairs(clips: list[Clip], every: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Evaluation pairs: every `every`-th speech window of each clip, each with its own speech (genuine) and
    one impostor, alternately the same clip's speech 5..15 frames away and another clip's at the same time.

    Returns arrays: clip, start (the video window), speech_clip, speech_start and genuine (1 or 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, c in enumerate(clips):
        for n, j in enumerate(c.speech_windows()[::every]):
            rows.append((i, j, i, j, 1))
            others = [k for k in range(len(clips)) if k != i and clips[k].windows > j]
            if n % 2 == 0 or not others:
                rows.append((i, j, i, draw_pair(c.windows, rng, j)[1], 0))
            else:
                rows.append((i, j, int(rng.choice(others)), j, 0))
    table = np.array(rows, dtype=np.int64).reshape(-1, 5)
    return {k: table[:, n] for n, k in enumerate(("clip", "start", "speech_clip", "speech_start", "genuine"))}


def pair_distances(model: SyncModel, clips: list[Clip], table: dict[str, np.ndarray]) -> np.ndarray:
    """Embedding distance of every pair of a `pairs` table."""
    video = [model.embed_video(c) for c in clips]
    speech = [model.embed_audio(c.mfec) for c in clips]
    v = np.stack([video[c][j] for c, j in zip(table["clip"], table["start"])])
    a = np.stack([speech[c][j] for c, j in zip(table["speech_clip"], table["speech_start"])])
    return model.distances(v, a)


def envelope_distances(clips: list[Clip], table: dict[str, np.ndarray]) -> np.ndarray:
    """The baseline's pair scores: minus the correlation of mouth opening and speech energy over the window."""
    n = env.SYNC_VIDEO_FRAMES
    return np.array(
        [
            -correlation(clips[c].opening[j : j + n], clips[d].loudness[s : s + n])
            for c, j, d, s in zip(table["clip"], table["start"], table["speech_clip"], table["speech_start"])
        ]
    )


@dataclass
class PairScores:
    """Genuine-vs-impostor detection figures (lower distance: more likely genuine)."""

    auc: float
    eer: float
    ap: float
    accuracy: float  # at the EER threshold


def score_pairs(distances: np.ndarray, genuine: np.ndarray) -> PairScores:
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    genuine = np.asarray(genuine).astype(bool)
    fpr, tpr, thresholds = roc_curve(genuine, -distances)
    i = int(np.nanargmin(np.abs(fpr - (1 - tpr))))
    eer = float((fpr[i] + 1 - tpr[i]) / 2)
    accuracy = float(((-distances >= thresholds[i]) == genuine).mean())
    return PairScores(
        float(roc_auc_score(genuine, -distances)), eer, float(average_precision_score(genuine, -distances)), accuracy
    )


def train(
    config: SyncConfig,
    train_clips: list[Clip],
    val_clips: list[Clip],
    run_dir: str | Path,
    about: dict | None = None,
    verbose: int = 1,
    steps: int | None = None,
) -> SyncModel:
    """Fit a sync model in a `lipnet.runs` run directory; returns its best epoch by validation EER.
    `steps` caps the steps an epoch (tests)."""
    config.check()
    run_dir = Path(run_dir)
    if (run_dir / "last.keras").exists():
        raise LipnetError(f"{run_dir}: holds a run already; continue it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    about = {**(about or {}), "steps": steps}
    atomic_write_text(run_dir / "config.json", json.dumps({"model": asdict(config), "data": about}, indent=2))
    return _fit(config, train_clips, val_clips, run_dir, verbose, steps)


def resume(run_dir: str | Path, train_clips: list[Clip], val_clips: list[Clip], verbose: int = 1) -> SyncModel:
    """Continue a run from its last completed epoch, optimizer state included."""
    run_dir = Path(run_dir)
    config, about = run_config(run_dir)
    network, done = runs.resumable(run_dir)
    return _fit(config, train_clips, val_clips, run_dir, verbose, about.get("steps"), network, done)


def run_config(run_dir: str | Path) -> tuple[SyncConfig, dict]:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise LipnetError(f"{run_dir}: not a sync run directory (no config.json)")
    saved = json.loads(path.read_text())
    return SyncConfig(**saved["model"]).check(), saved.get("data", {})


def _fit(config, train_clips, val_clips, run_dir: Path, verbose: int, steps=None, network=None, done: int = 0):
    keras.utils.set_random_seed(config.seed + done)
    if network is None:
        network = pair_net(config)
        network.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate), loss=Contrastive(config.selection, config.margin)
        )
    batches = Batches(train_clips, config, epoch=done)
    if steps:
        batches.steps = min(batches.steps, steps)
    table = pairs(val_clips)

    def validate(net) -> dict:
        found = score_pairs(pair_distances(SyncModel(config, net), val_clips, table), table["genuine"])
        return {"val_auc": found.auc, "val_eer": found.eer}

    def describe(row: dict) -> str:
        return f"epoch {row['epoch']}: loss {row['loss']:.4f}, held-out pairs AUC {row['val_auc']:.3f} EER {row['val_eer']:.1%}"

    runs.fit(
        network, batches, run_dir, lambda path, net: SyncModel(config, net).save(path), validate=validate,
        fields=LOG_FIELDS, curves=CURVES, describe=describe, epochs=config.epochs, monitor="val_eer", mode="min",
        done=done, train_items=batches.steps * config.batch_size, verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def training_clips(data: dict) -> tuple[list[Clip], list[Clip]]:
    """The training and validation clips of a --train run: the videos under ``data["train"]``, less the
    ``exclude`` lists, split by the ``val`` list (by clip, never by frame; a tenth of the clips without one).
    Mouth crops come from ``data["crops"]``, extracted there first when missing."""
    from lipnet import grid, mouth

    root, crops = Path(data["train"]), Path(data["crops"])
    if not root.is_dir():
        raise LipnetError(f"{root}: no such directory")
    excluded = set().union(*(grid.read_list(f) for f in data["exclude"]))
    validation = grid.read_list(data["val"]) if data["val"] else set()
    extractor = None
    train_clips, val_clips = [], []
    for path in grid.find_videos(root):
        key = f"{grid.speaker_of(path, root) or root.name}/{path.stem}"
        if key in excluded:
            continue
        npy = crops / path.relative_to(root).with_suffix(".npy")
        if not npy.is_file():
            extractor = extractor or mouth.MouthExtractor()
            extractor.extract(path, frames=None).save(npy)
        (val_clips if key in validation else train_clips).append(load_clip(path, npy))
    if not validation:
        val_clips, train_clips = train_clips[::10], [c for i, c in enumerate(train_clips) if i % 10]
    if len(train_clips) < 2 or not val_clips:
        raise LipnetError(f"{root}: too few clips to train and validate")
    return train_clips, val_clips

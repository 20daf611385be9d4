"""The sync network: does the voice match the lips? Its inputs, its two embedding networks, its loss, its file.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from lipnet import audio, env, grid, runs
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write_text
from lipnet.sync.offsets import AUDIO_PER_VIDEO, curve, energy, offset_of, spans

SAMPLES_PER_FRAME = env.SAMPLE_RATE // env.FPS  # 640 samples of 16 kHz audio a video frame
SELECTIONS = ("hard", "random")
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
class Streams:
    """What sync needs of one clip: its mouths and its sound, on the video's time base."""

    clip: grid.Clip
    mouths: np.ndarray  # (T, 50, 100) uint8 grey mouth crops, 25 fps
    opening: np.ndarray  # (T,) float32 inner-lip opening in mouth widths (the baseline's signal)
    samples: np.ndarray  # (n,) float32 16 kHz mono
    mfec: np.ndarray = field(init=False)  # (F, 40, 3) normalised speech features, F = n // 320
    loudness: np.ndarray = field(init=False)  # (F // 2,) speech energy per video frame, dB

    def __post_init__(self):
        mel = _mel(self.samples)
        self.mfec, self.loudness = normalised(mel), energy(mel[..., 0])

    @property
    def key(self) -> str:
        return self.clip.key

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

    def with_sound(self, samples: np.ndarray) -> "Streams":
        """These mouths with other sound (another clip's, a noisy or shifted copy)."""
        return Streams(self.clip, self.mouths, self.opening, samples)

    def delayed(self, frames: int) -> "Streams":
        """These streams with the sound `frames` video frames later (earlier when negative)."""
        return self.with_sound(delay(self.samples, frames))


def streams(clip: grid.Clip, crops: np.ndarray, landmarks: np.ndarray, samples: np.ndarray) -> Streams:
    """The `Streams` of `clip` from its mouth track's RGB crops and landmarks and its 16 kHz samples."""
    grey = np.round(crops.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    return Streams(clip, grey, mouth_opening(landmarks), samples)


def load_streams(clip: grid.Clip) -> Streams:
    """The `Streams` of a clip whose mouth crops (and their ``.track.npz`` sidecar) were extracted already: its
    ``media`` and ``crops`` files."""
    from lipnet import mouth

    track = mouth.load_sidecar(clip.crops)
    return streams(clip, np.load(clip.crops), track["landmarks"], audio.load(clip.media))


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

    def embed_video(self, clip: Streams) -> np.ndarray:
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

    def offsets(self, clip: Streams, max_offset: int = env.SYNC_MAX_OFFSET, window: int = env.SYNC_WINDOW) -> list:
        """The `Offset` of the clip, or of every `window` frames of a longer one (so drift shows)."""
        video, speech = self.embed_video(clip), self.embed_audio(clip.mfec)
        return [
            offset_of(curve(video, speech, max_offset, start, stop), start, stop)
            for start, stop in spans(len(video), window)
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
    return SyncModel(*runs.read_model(path, SyncConfig, "a sync model"))

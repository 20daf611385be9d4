"""Offsets: where the sound fits the picture best, from a (offsets, distances) curve, and how sure that is; and the
baseline that needs no learning, the mouth opening cross-correlated with the speech energy envelope.

A positive offset means the audio lags the picture (is heard late), a negative one that it leads. The confidence is
SyncNet's: the median distance over the searched offsets minus the minimum. Whether the sound is this face's speech
at all is another score, `agreement.same_speech`, which the verdict uses when it is there.
"""

import math
from dataclasses import dataclass

import numpy as np

from lipnet import audio, env
from lipnet.errors import LipnetError

AUDIO_PER_VIDEO = audio.frames_per_video_frame(env.SYNC_HOP_MS)  # 2 speech frames a video frame (checked to divide)
FRAME_MS = 1000 // env.FPS  # 40


@dataclass
class Offset:
    """Where the sound fits the picture best, over video frames [start, stop) of a clip."""

    offset: int  # video frames; > 0: the audio lags (comes late), < 0: it leads
    confidence: float  # median minus minimum of `distances`
    offsets: np.ndarray  # the offsets tried
    distances: np.ndarray  # mean distance at each (or correlation's negative, for the baseline)
    start: int = 0  # the first and one past the last window start searched (a window spans 8 frames)
    stop: int = 0
    same_speech: float | None = None  # `agreement.same_speech` at this offset; None: not judged

    @property
    def ms(self) -> int:
        return self.offset * FRAME_MS

    @property
    def seconds(self) -> tuple[float, float]:
        """The span of the clip the windows searched cover: (start, end) in seconds."""
        return self.start / env.FPS, (self.stop + env.SYNC_VIDEO_FRAMES - 1) / env.FPS

    @property
    def clear(self) -> bool:
        """Whether the offset may be trusted (and a clip moved by it): a clear minimum of the same speech."""
        return self.confidence >= env.SYNC_MIN_CONFIDENCE and self.speech is not False

    @property
    def speech(self) -> bool | None:
        """Whether the lips and the voice say the same thing (`agreement.same_speech`); None: not judged, or neither
        says anything."""
        if self.same_speech is None or math.isnan(self.same_speech):
            return None
        return self.same_speech >= env.SYNC_SAME_SPEECH

    def verdict(self) -> str:
        if self.same_speech is not None and math.isnan(self.same_speech):
            return "no speech seen or heard"
        if self.speech is False:
            return "not the same speech: the lips do not say what the voice says"
        off = f"off by {abs(self.offset)} frames: the audio {self.direction}"
        if self.confidence < env.SYNC_MIN_CONFIDENCE:
            if self.speech:  # the same speech, but no clear best offset: said as found, and not fixed
                return (
                    "in sync (no clear minimum)"
                    if abs(self.offset) <= env.SYNC_TOLERANCE
                    else f"{off}? (no clear minimum)"
                )
            return "no clear minimum: no speech, or another voice"
        return "in sync" if abs(self.offset) <= env.SYNC_TOLERANCE else off

    @property
    def direction(self) -> str:
        if self.offset == 0:
            return "is in step"
        return f"{'lags' if self.offset > 0 else 'leads'} by {abs(self.ms)} ms"

    def as_dict(self) -> dict:
        return {
            "start_s": self.seconds[0], "end_s": self.seconds[1], "offset_frames": self.offset,
            "offset_ms": self.ms, "audio": self.direction, "confidence": round(float(self.confidence), 4),
            "same_speech": None if self.same_speech is None or math.isnan(self.same_speech) else round(self.same_speech, 3),
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


def spans(frames: int, window: int) -> list[tuple[int, int]]:
    """[start, stop) spans of at most `window` frames covering `frames`, a short tail merged into the last."""
    if frames <= window * 3 // 2:
        return [(0, frames)]
    starts = list(range(0, frames - window // 2, window))
    return [(s, min(frames, s + window) if s != starts[-1] else frames) for s in starts]


# The baseline: no learning --------------------------------------------------------------------


def energy(mel_db: np.ndarray) -> np.ndarray:
    """(T,) speech energy per video frame in dB, from the (F, 40) mel energies (dB) of its speech frames."""
    power = 10 * np.log10(np.sum(10 ** (mel_db / 10), axis=-1))
    return audio.per_video_frame(power, len(power) // AUDIO_PER_VIDEO, env.SYNC_HOP_MS)


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

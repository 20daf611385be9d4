"""Lip reading end to end: video -> mouth crops -> logits -> text -> word timings.

`LipReader` is what `predict.py` and `evaluate.py` use, and what a program embedding lipnet should
use: it runs the same mouth extraction as training (`lipnet.mouth`) and the same model.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from lipnet import alphabet, env
from lipnet.errors import LipnetError
from lipnet.lipreading import decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.mouth import MouthExtractor, MouthTrack


@dataclass
class Reading:
    """What was read from one clip."""

    text: str
    decoder: str
    probs: np.ndarray  # (T, 28) per-frame character posteriors
    words: list[tuple[str, int, int]]  # (word, start frame, end frame) at env.FPS, from the CTC alignment
    track: MouthTrack | None = None  # the mouth crops and landmarks, when read from a video

    @property
    def duration(self) -> float:
        """Seconds of video the reading covers."""
        return len(self.probs) / env.FPS


class LipReader:
    """A trained model plus the mouth extractor. Create once: loading both takes a few seconds."""

    def __init__(self, weights: str | Path = env.DEFAULT_WEIGHTS, predictor_path: str | Path | None = None):
        self.weights = Path(weights)
        self.model, self.config, self.extra = lipnet_model.load(self.weights)
        self.default_decoder = "grammar" if self.extra.get("grammar") == "grid" else "beam"
        self._predictor_path = predictor_path
        self._extractor: MouthExtractor | None = None

    @property
    def extractor(self) -> MouthExtractor:
        """The dlib mouth extractor, loaded on first use (reading pre-extracted crops does not need it)."""
        if self._extractor is None:
            self._extractor = MouthExtractor(self._predictor_path)
        return self._extractor

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Per-frame posteriors (T, 28) of one clip of crops (T, 50, 100, 3), or (B, T, 28) of a batch.

        A clip longer than the model's training clips (env.READ_WINDOW frames) is read in windows of that
        length every env.READ_HOP frames, and each frame's posteriors are the windows' average, weighted
        towards the windows it sits in the middle of: the network saw 3 s clips only, and reads a whole
        long clip worse (held-out clips three in a row: CER 54% whole, 47% in windows).
        """
        if crops.ndim == 4 and len(crops) > env.READ_WINDOW:
            return self._windowed(crops)
        batch = crops if crops.ndim == 5 else crops[None]
        logits = keras.ops.convert_to_numpy(self.model.predict_on_batch(batch))  # compiled: ~10x faster than eager
        probs = decoding.softmax(logits)
        return probs if crops.ndim == 5 else probs[0]

    def _windowed(self, crops: np.ndarray) -> np.ndarray:
        window, frames = env.READ_WINDOW, len(crops)
        starts = list(range(0, frames - window + 1, env.READ_HOP))
        if starts[-1] + window < frames:
            starts.append(frames - window)
        weight = np.minimum(np.arange(window) + 0.5, window - np.arange(window) - 0.5)[:, None]  # a tent
        total, norm = np.zeros((frames, alphabet.NUM_CLASSES)), np.zeros((frames, 1))
        for first in range(0, len(starts), env.READ_BATCH):
            chunk = starts[first : first + env.READ_BATCH]
            for start, probs in zip(chunk, self.probabilities(np.stack([crops[s : s + window] for s in chunk]))):
                total[start : start + window] += weight * probs
                norm[start : start + window] += weight
        return (total / norm).astype(np.float32)

    def decoder_for(self, frames: int) -> str:
        """The default decoder for a clip: the model's own, but never the grammar (one GRID sentence)
        for clips longer than env.GRAMMAR_MAX_FRAMES, which may hold several sentences."""
        if self.default_decoder == "grammar" and frames > env.GRAMMAR_MAX_FRAMES:
            return "beam"
        return self.default_decoder

    def decode(self, probs: np.ndarray, decoder: str | None = None) -> str:
        """Text from one clip's posteriors with 'greedy', 'beam' or 'grammar' (default: `decoder_for`)."""
        decoder = decoder or self.decoder_for(len(probs))
        if decoder == "greedy":
            return decoding.greedy(probs)
        if decoder == "beam":
            return decoding.beam_search(probs)
        if decoder == "grammar":
            return decoding.grammar(probs)
        raise LipnetError(f"unknown decoder {decoder!r}: choose from {', '.join(decoding.DECODERS)}")

    def read_crops(self, crops: np.ndarray, decoder: str | None = None, track: MouthTrack | None = None) -> Reading:
        """Read one clip of mouth crops (T, 50, 100, 3) uint8."""
        probs = self.probabilities(crops)
        decoder = decoder or self.decoder_for(len(probs))
        text = self.decode(probs, decoder)
        try:
            words = decoding.word_spans(probs, text)
        except ValueError:  # the text needs more frames than the clip has: no timings, but still the text
            words = []
        return Reading(text, decoder, probs, words, track)

    def read(self, video: str | Path, decoder: str | None = None) -> Reading:
        """Read a video file of any length and frame rate (resampled to 25 fps)."""
        track = self.extractor.extract(video, frames=None)
        return self.read_crops(track.crops, decoder, track)

    def stream(
        self,
        frames: Iterable[np.ndarray],
        window: int = env.FRAME_COUNT,
        step: int = env.FPS,
        decoder: str | None = None,
    ) -> Iterator[tuple[int, Reading | None]]:
        """Read a live stream of RGB frames at 25 fps in sliding windows (real-time mode).

        Every `step` frames, the last `window` frames (3 s: a GRID sentence, what the model was trained on)
        are extracted and read. Yields (first frame of the window, its Reading), or None for a window
        without a usable face. On this 2-core CPU a window takes about 0.3 s, so one a second keeps up.
        """
        buffer: deque[np.ndarray] = deque(maxlen=window)
        for count, frame in enumerate(frames, 1):
            buffer.append(frame)
            if count >= window and (count - window) % step == 0:
                try:
                    track = self.extractor.extract_frames(list(buffer))
                except LipnetError:
                    yield count - window, None
                    continue
                yield count - window, self.read_crops(track.crops, decoder, track)

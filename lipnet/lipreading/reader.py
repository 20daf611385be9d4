"""Lip reading end to end: video -> mouth crops -> logits -> text -> timed words, phones and visemes.

`LipReader` is what `predict.py` and `evaluate.py` use, and what a program embedding lipnet should
use: it runs the same mouth extraction as training (`lipnet.mouth`) and the same model.

Nothing is read where nothing is said: a clip too short to hold a word, lips that do not move, or (with the model's
frame head) no frame of speech give an empty transcript and a notice why. The words of a transcript are timed on the
clip's sound when it has one (forced alignment, `lipnet.speech.align`), else on the lips: aligned to the phone
posteriors of the model's frame head (`align.guided`), or, for a model without one, from the CTC emissions, which
sit at fixed frames and are only a rough guide. Each word and the sentence carry a confidence.
"""

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from lipnet import audio, env, grid, video, visemes
from lipnet.errors import LipnetError
from lipnet.lipreading import decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.mouth import MouthExtractor, MouthTrack
from lipnet.speech import align, lipsync
from lipnet.speech.align import Segment

_SILENCE = visemes.PHONES.index(align.SILENCE)


@dataclass
class Reading:
    """What was read from one clip."""

    text: str  # "" when no speech was seen (`notice` says why)
    decoder: str
    probs: np.ndarray  # (T, 28) per-frame character posteriors
    words: list[Segment]  # (word, start, end) in seconds
    timing: str  # how the words were timed: "audio", "video" (the frame head), "ctc" (rough), "" (no words)
    confidence: float  # the probability that the sentence is exactly right (calibrated); 0 without speech
    word_confidences: list[float] = field(default_factory=list)  # 0-1, one per word
    notice: str = ""  # why nothing was read, when nothing was
    warning: str = ""  # what the reading could not see: a file cut short
    timeline: lipsync.Timeline | None = None  # the timed words' phones and viseme cues
    track: MouthTrack | None = None  # the mouth crops and landmarks, when read from a video
    phones: np.ndarray | None = None  # (T, phones) the frame head's posteriors, when the model has one
    modality: str = "video"  # what was read: the lips ("video"), the voice ("audio") or both ("av")

    @property
    def duration(self) -> float:
        """Seconds of video the reading covers."""
        return len(self.probs) / env.FPS

    @property
    def speech(self) -> bool:
        """Whether speech was seen (and so read)."""
        return not self.notice

    def cues(self, viseme_set: str = "ovr") -> list[visemes.Cue]:
        """The viseme timeline over the clip: decoded from the timed phones (`lipsync.Timeline.cues`), or, with CTC
        timings only, each word's span shared among its phonemes."""
        if self.timeline is not None:
            cues = [c for c in self.timeline.cues(viseme_set) if c.start < self.duration]
            # the sound may stop a little before the last picture, or run on past it: the cues span the pictures
            return cues[:-1] + [replace(cues[-1], end=self.duration)] if cues else cues
        return visemes.timeline(self.words, 1.0, viseme_set, self.duration)


class LipReader:
    """A trained model plus the mouth extractor. Create once: loading both takes a few seconds."""

    def __init__(
        self,
        weights: str | Path = env.DEFAULT_WEIGHTS,
        predictor_path: str | Path | None = None,
        teacher: str | Path = env.LIPSYNC_MODEL,
    ):
        self.weights = Path(weights)
        _, extra = lipnet_model.read_config(self.weights)
        self.heads: dict[str, int] = extra.get("heads") or {}  # the frame heads it was trained with
        model, self.config, self.extra = lipnet_model.load(self.weights, heads=self.heads or None)
        outputs = model.output if isinstance(model.output, dict) else {"logits": model.output}
        # its BiGRU features too: what the audio-visual recogniser (lipnet.recognition) hears the lips through
        self.model = keras.Model(model.input, {**outputs, "features": model.get_layer(lipnet_model.FEATURES).output})
        self.default_decoder = "grammar" if self.extra.get("grammar") == "grid" else "beam"
        self._predictor_path, self._teacher_path = predictor_path, teacher
        self._extractor: MouthExtractor | None = None
        self._teacher: lipsync.VisemeModel | None = None

    @property
    def extractor(self) -> MouthExtractor:
        """The dlib mouth extractor, loaded on first use (reading pre-extracted crops does not need it)."""
        if self._extractor is None:
            self._extractor = MouthExtractor(self._predictor_path)
        return self._extractor

    @property
    def teacher(self) -> lipsync.VisemeModel:
        """The audio phone classifier, loaded on first use: it times the words on the sound when alignment fails."""
        if self._teacher is None:
            self._teacher = lipsync.load(self._teacher_path)
        return self._teacher

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """Per-frame character posteriors (T, 28) of one clip of crops (T, 50, 100, 3), or (B, T, 28) of a batch."""
        return self.posteriors(crops)["chars"]

    def posteriors(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame posteriors of one clip of crops (T, 50, 100, 3), or of a batch (B, T, ...): ``chars`` (28
        classes) and each frame head's (``phones``: `visemes.PHONES`, ``visemes``: OVR), if the model has them; and
        ``features``, the BiGRU features (T, 512) they are read from.

        A clip longer than the model's training clips (env.READ_WINDOW frames) is read in windows of that
        length every env.READ_HOP frames, and each frame's posteriors are the windows' average, weighted
        towards the windows it sits in the middle of: the network saw 3 s clips only, and reads a whole
        long clip worse (held-out clips three in a row: CER 54% whole, 47% in windows).
        """
        if crops.ndim == 4 and len(crops) > env.READ_WINDOW:
            return self._windowed(crops)
        batch = crops if crops.ndim == 5 else crops[None]
        outputs = self.model.predict_on_batch(batch)  # compiled: ~10x faster than eager
        out = {}
        for name, values in outputs.items():
            values = keras.ops.convert_to_numpy(values)
            if name != "features":
                values = decoding.softmax(values if name == "logits" else values[..., :-1])  # a head's last: frame
            out["chars" if name == "logits" else name] = values if crops.ndim == 5 else values[0]
        return out

    def _windowed(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        window, frames = env.READ_WINDOW, len(crops)
        starts = list(range(0, frames - window + 1, env.READ_HOP))
        if starts[-1] + window < frames:
            starts.append(frames - window)
        weight = np.minimum(np.arange(window) + 0.5, window - np.arange(window) - 0.5)[:, None]  # a tent
        total, norm = {}, np.zeros((frames, 1))
        for first in range(0, len(starts), env.READ_BATCH):
            chunk = starts[first : first + env.READ_BATCH]
            read = self.posteriors(np.stack([crops[s : s + window] for s in chunk]))
            for i, start in enumerate(chunk):
                for name, probs in read.items():
                    total.setdefault(name, np.zeros((frames, probs.shape[-1])))[start : start + window] += (
                        weight * probs[i]
                    )
                norm[start : start + window] += weight
        return {name: (t / norm).astype(np.float32) for name, t in total.items()}

    def decoder_for(self, frames: int) -> str:
        """The default decoder for a clip: the model's own, but never the grammar (one GRID sentence) for clips
        longer than env.GRAMMAR_MAX_FRAMES, which may hold several sentences, or shorter than env.GRAMMAR_MIN_FRAMES,
        which cannot hold one."""
        if self.default_decoder == "grammar" and not env.GRAMMAR_MIN_FRAMES <= frames <= env.GRAMMAR_MAX_FRAMES:
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

    def read_crops(
        self,
        crops: np.ndarray,
        decoder: str | None = None,
        track: MouthTrack | None = None,
        samples: np.ndarray | None = None,
    ) -> Reading:
        """Read one clip of mouth crops (T, 50, 100, 3) uint8; `samples`, its sound (16 kHz mono on the video's
        clock), times the words when given."""
        posteriors = self.posteriors(crops)
        return self.reading(posteriors["chars"], decoder, track, samples, posteriors.get("phones"))

    def reading(
        self,
        probs: np.ndarray,
        decoder: str | None = None,
        track: MouthTrack | None = None,
        samples: np.ndarray | None = None,
        phones: np.ndarray | None = None,
        modality: str = "video",
        decided: tuple[str, list[float]] | None = None,
        heard: np.ndarray | None = None,
    ) -> Reading:
        """The reading of one clip's character posteriors (T, 28), read from `modality` (the lips, or with
        `lipnet.recognition` the voice or both): decoded, each word's confidence, the words timed (`_timed`), or
        nothing when the clip holds no speech (`_no_speech`, on the `track` of the lips and the `phones` of the
        frame head; what is heard is not second-guessed by the lips, but by `heard`, the voice's phone posteriors a
        video frame). `decided`: the text and its words' confidences when they were decided elsewhere (both streams
        read together), not from `probs`."""
        decoder = decoder or self.decoder_for(len(probs))
        seen = modality == "video"
        if notice := self._no_speech(
            len(probs), track, phones if seen else heard, "seen on the lips" if seen else "heard"
        ):
            return Reading(
                "", decoder, probs, [], "", 0.0, notice=notice, track=track, phones=phones, modality=modality
            )
        if decided is not None:
            text, confidences = decided
        else:
            text = self.decode(probs, decoder)
            confidences = decoding.word_confidences(probs, text, grid.GRAMMAR if decoder == "grammar" else None)
        guided = self.guided(text, phones)
        words, timeline, timing = self._timed(text, probs, guided, samples)
        confidence = self.sentence_confidence(confidences, decided is None, guided[1] if guided else None)
        return Reading(
            text, decoder, probs, words, timing, confidence, confidences,
            timeline=timeline, track=track, phones=phones, modality=modality,
        )  # fmt: skip

    def read(self, path: str | Path, decoder: str | None = None, timing: str = "auto") -> Reading:
        """Read a video file of any length and frame rate (resampled to 25 fps). `timing`: "audio" times the words on
        its sound (an error when it has none), "video" on the lips, "auto" on the sound when there is one."""
        if timing not in env.TIMINGS:
            raise LipnetError(f"unknown timing {timing!r}: choose from {', '.join(env.TIMINGS)}")
        track = self.extractor.extract(path, frames=None)
        samples = None
        if timing != "video":
            try:
                samples = audio.load(path)
            except LipnetError:
                if timing == "audio":
                    raise
        return warn_if_cut_short(self.read_crops(track.crops, decoder, track, samples), path)

    def sentence_confidence(
        self, word_confidences: list[float], lips_alone: bool = True, phone_fit: float | None = None
    ) -> float:
        """The probability that a sentence is exactly right, from its words' confidences: their product (all right),
        calibrated by the checkpoint's scaling (``confidence``, see `calibrated`: with a frame head it also weighs
        `phone_fit`, how well the sentence fits the head's phones) when the lips alone read it; a sentence decided
        with the voice (`lips_alone` False) is right far more often than the lips' own, which that scaling was fitted
        on, so it keeps the product."""
        if not word_confidences:
            return 0.0
        if not lips_alone:
            return float(np.prod(word_confidences))
        return float(calibrated(float(np.prod(word_confidences)), self.extra.get("confidence", (1.0, 0.0)), phone_fit))

    def _no_speech(
        self, frames: int, track: MouthTrack | None, phones: np.ndarray | None, where: str = "seen on the lips"
    ) -> str:
        """Why a clip holds no speech to read ("" when it may): too short, lips still, or no speech frames among the
        `phones` (T, phones) posteriors, those of the lips' frame head or of the voice (`where` says which)."""
        if frames < env.MIN_READ_FRAMES:
            return f"{frames / env.FPS:.2f} s of video is too short to hold a word"
        if track is not None and (motion := track.lip_motion()) < env.MIN_LIP_MOTION:
            return f"the lips do not move (they open by {motion:.3f} mouth widths)"
        if phones is not None and (speaking := float(np.sum(1.0 - phones[:, _SILENCE]))) < env.MIN_SPEECH_FRAMES:
            return f"no speech {where} ({speaking:.1f} frames of it)"
        return ""

    def guided(self, text: str, phones: np.ndarray | None) -> tuple[align.Alignment, float] | None:
        """`text` aligned to the frame head's `phones` and how well it fits them (`align.guided`): the words' times on
        the lips and the sentence confidence's second witness. None without a head or words, or when the words cannot
        fit the clip."""
        if not text or phones is None:
            return None
        try:
            return align.guided(phones, text, env.FPS)
        except LipnetError:
            return None

    def _timed(
        self,
        text: str,
        probs: np.ndarray,
        guided: tuple[align.Alignment, float] | None,
        samples: np.ndarray | None,
    ) -> tuple[list[Segment], lipsync.Timeline | None, str]:
        """The words of `text` timed on the sound if given and it takes them, else on the frame head's phones (as
        `guided` aligned them), else by the CTC alignment; with the timeline of their phones (none for CTC timings)
        and how they were timed."""
        if not text:
            return [], None, ""
        if samples is not None:
            try:
                timeline = lipsync.timeline(samples, self.teacher, text)
                return timeline.words, timeline, "audio"
            except LipnetError:
                pass  # the sound does not hold these words (or any): time them on the lips
        if guided is not None:
            result, fit = guided
            return result.words, lipsync.aligned(result, fit), "video"
        try:
            spans = decoding.word_spans(probs, text)
        except ValueError:  # the text needs more frames than the clip has: no timings, but still the text
            return [], None, ""
        return [Segment(w, round(s / env.FPS, 3), round(e / env.FPS, 3)) for w, s, e in spans], None, "ctc"

    def stream(
        self,
        frames: Iterable[np.ndarray],
        window: int = env.FRAME_COUNT,
        step: int = env.FPS,
        decoder: str | None = None,
        read: Callable[[MouthTrack, int], Reading] | None = None,
    ) -> Iterator[tuple[int, Reading | None]]:
        """Read a live stream of RGB frames at 25 fps in sliding windows (real-time mode).

        Every `step` frames, the last `window` frames (3 s: a GRID sentence, what the model was trained on)
        are extracted and read (a stream shorter than a window, once, whole): by `read(track, first frame)` when
        given (the voice beside them: `AudioVisualReader.stream`), else from the lips. Yields (first frame of the
        window, its Reading), or None for a window without a usable face. On a 2-core CPU a window takes about 0.12 s from the lips, 0.25 s with the
        voice (bench/predict.py), so one a second keeps up.
        """
        buffer: deque[np.ndarray] = deque(maxlen=window)
        count = 0
        for count, frame in enumerate(frames, 1):
            buffer.append(frame)
            if count >= window and (count - window) % step == 0:
                yield count - window, self._window(list(buffer), count - window, decoder, read)
        if 0 < count < window:  # a stream that ended before its first whole window is read as it is
            yield 0, self._window(list(buffer), 0, decoder, read)

    def _window(
        self,
        frames: list[np.ndarray],
        first: int,
        decoder: str | None,
        read: Callable[[MouthTrack, int], Reading] | None,
    ) -> Reading | None:
        """One window of `stream`: its Reading, or None without a usable face."""
        try:
            track = self.extractor.extract_frames(frames)
        except LipnetError:
            return None
        return read(track, first) if read else self.read_crops(track.crops, decoder, track)


def warn_if_cut_short(reading: Reading, path: str | Path) -> Reading:
    """`reading` of the file `path`, warned (`Reading.warning`) when the file is cut short."""
    if (end := video.cut_short(path)) is not None:
        reading.warning = f"the file is cut short: only its first {end:.2f} s could be read"
    return reading


def calibrated(
    probability: float | np.ndarray, scaling: Sequence[float], phone_fit: float | np.ndarray | None = None
) -> float | np.ndarray:
    """A raw probability through Platt scaling: scale and bias on its log-odds, and, when `scaling` has a third
    value, that weight on `phone_fit` (how well the sentence fits the frame head's phones: evidence the characters'
    posteriors do not hold; see `confidence_features`). (1, 0) leaves the probability as it is."""
    log_odds, fit = confidence_features(probability, phone_fit)
    scale, bias, *weight = scaling
    return 1.0 / (1.0 + np.exp(-(scale * log_odds + bias + (weight[0] * fit if weight else 0.0))))


def confidence_features(
    probability: float | np.ndarray, phone_fit: float | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """What the sentence confidence weighs (`calibrated`, and its fit in bench/reading.py): the raw probability's
    log-odds (clipped away from 0 and 1), and `phone_fit` (`LipReader.guided`'s) floored at env.PHONE_FIT_FLOOR,
    which a sentence that cannot fit the clip at all (None, or NaN in an array) gets."""
    p = np.clip(probability, 1e-9, 1 - 1e-9)
    fit = np.asarray(np.nan if phone_fit is None else phone_fit, float)
    return np.log(p / (1 - p)), np.maximum(np.nan_to_num(fit, nan=env.PHONE_FIT_FLOOR), env.PHONE_FIT_FLOOR)

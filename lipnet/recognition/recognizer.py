"""Reading with a trained recogniser: a clip's words from its lips, its voice, or both.

`AudioVisualReader` is what ``lipnet read --modality`` and a program embedding lipnet use: the lip reader
(`LipReader`) for the lips and everything after the posteriors (decoding, confidences, word timings, no-speech),
the recogniser (`Recognizer`) for the voice, and `fusion` to read both together. Every output format is the lip reader's `Reading`,
which says which modality it was read from.
"""

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import keras
import numpy as np

from lipnet import audio, env
from lipnet.errors import LipnetError
from lipnet.lipreading import decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.lipreading.reader import LipReader, Reading, warn_if_cut_short
from lipnet.mouth import MouthTrack
from lipnet.recognition import fusion
from lipnet.recognition.model import RecognizerConfig, audio_input, with_gate
from lipnet.speech import lipsync


class Recognizer:
    """A trained recogniser: per-frame character posteriors of a clip from its lip features, its sound, or both."""

    def __init__(self, config: RecognizerConfig, network: keras.Model):
        self.config, self.network = config, network
        self._reader = with_gate(network)

    def posteriors(self, lips: np.ndarray | None, samples: np.ndarray | None, frames: int) -> dict[str, np.ndarray]:
        """Character posteriors (frames, 28) of one clip: ``av`` and ``audio``; and with gated fusion, ``gate``, the
        weight (frames,) it gave the sound. `lips` (frames, 512) or `samples` may be None: that stream is absent."""
        x = {
            "lips": np.zeros((1, frames, self.config.lip_features), np.float32) if lips is None else lips[None],
            "sound": np.zeros((1, frames, self.config.sound_width), np.float32)
            if samples is None
            else audio_input(samples, frames, self.config.n_mels)[None],
        }
        read = {k: keras.ops.convert_to_numpy(v)[0] for k, v in self._reader.predict_on_batch(x).items()}
        return {k: v[:, 0] if k == "gate" else decoding.softmax(v) for k, v in read.items()}

    def voice(self, samples: np.ndarray, frames: int, phones: lipsync.VisemeModel) -> fusion.Voice:
        """What a clip's sound (16 kHz, `frames` video frames long) says, heard through each of the configuration's
        `listening_warps`: the audio head's character posteriors (one pass of the network for all the warps) and the
        phones of the phone model `phones` (the lip-sync model) and of the configuration's `phone_models`."""
        warps = self.config.listening_warps
        x = {
            "lips": np.zeros((len(warps), frames, self.config.lip_features), np.float32),
            "sound": np.stack([audio_input(samples, frames, self.config.n_mels, w) for w in warps]),
        }
        chars = decoding.softmax(keras.ops.convert_to_numpy(self.network.predict_on_batch(x)["audio"]))
        models = [phones, *self.phone_models]
        return fusion.Voice(list(chars), [fusion.Phones.heard(m, samples, w) for m in models for w in warps])

    @functools.cached_property
    def phone_models(self) -> list[lipsync.VisemeModel]:
        """The further phone models its configuration hears the voice by (`RecognizerConfig.phone_models`), loaded
        once. LipnetError naming the file when one does not hear phones every env.HOP_MS ms, as the teacher does
        (their posteriors are averaged frame by frame)."""
        models = []
        for path in self.config.phone_models:
            model = lipsync.load(env.ROOT / path)
            if model.config.classes != "phones" or model.config.hop_ms != env.HOP_MS:
                raise LipnetError(
                    f"{path}: hears {model.config.classes} every {model.config.hop_ms} ms; a recogniser's phone model "
                    f"hears phones every {env.HOP_MS} ms"
                )
            models.append(model)
        return models

    def batch_posteriors(self, inputs: dict[str, np.ndarray], frames: list[int]) -> dict[str, list[np.ndarray]]:
        """Character posteriors of both heads (``av``, ``audio``) for a batch of clips (`dataset.inputs`), each clip's
        cut to its `frames`: what training validates and the benchmark scores, in one pass of the network."""
        read = self.network.predict(inputs, verbose=0)
        return {
            head: [p[:n] for p, n in zip(decoding.softmax(keras.ops.convert_to_numpy(read[head])), frames)]
            for head in ("av", "audio")
        }

    def save(self, path: str | Path) -> Path:
        """Write the network (``.keras``) and its configuration (``.json``) beside it."""
        from lipnet import runs

        return runs.write_model(path, self.network, self.config, "a recogniser")


def load(path: str | Path, lip_reader: str | Path | None = None) -> Recognizer:
    """A recogniser `Recognizer.save` wrote. LipnetError naming the file when it is missing or not one, or (given
    the `lip_reader` checkpoint it will hear) when it learnt another lip reader's features."""
    from lipnet import runs

    config, network = runs.read_model(path, RecognizerConfig, "a recogniser")
    if lip_reader is not None and lipnet_model.fingerprint(lip_reader) != config.lip_reader_sha1:
        raise LipnetError(
            f"{path}: learnt the features of another lip reader than {lip_reader}: "
            "read with --modality video, or retrain it (bench/avsr.py --train)"
        )
    return Recognizer(config, network)


class AudioVisualReader:
    """The lip reader and the recogniser together. Create once: loading both takes a few seconds."""

    def __init__(self, lip_reader: LipReader | None = None, model: str | Path = env.AVSR_MODEL):
        self.lips = lip_reader or LipReader()
        self.model = Path(model)
        self._recognizer: Recognizer | None = None

    @property
    def recognizer(self) -> Recognizer:
        """The recogniser, loaded on first use (reading the lips alone does not need it); its tie to the lip reader
        checked once (`hears_lip_reader`: the lip reader's fingerprint reads its whole checkpoint)."""
        if self._recognizer is None:
            self._recognizer = load(self.model, None if self.hears_lip_reader else self.lips.weights)
        return self._recognizer

    @functools.cached_property
    def hears_lip_reader(self) -> bool:
        """Whether the recogniser is there and learnt this lip reader's features: what "auto" reads both with."""
        meta = self.model.with_suffix(".json")
        try:
            return json.loads(meta.read_text()).get("lip_reader_sha1") == lipnet_model.fingerprint(self.lips.weights)
        except (OSError, ValueError, AttributeError, LipnetError):
            return False

    def read(
        self, path: str | Path, decoder: str | None = None, timing: str = "auto", modality: str = "auto"
    ) -> Reading:
        """Read a clip from `modality`: "video" (the lips: `LipReader.read`), "audio" (the voice alone: a file of
        sound alone will do), "av" (both), or "auto" (both when the clip has sound and the recogniser hears this lip
        reader, else the lips; the voice for a file of sound alone). The words are
        timed on the sound when there is one (`timing` as `LipReader.read`'s). Nothing is read when nothing is heard
        (silence, or near it: the lip-sync model's phones, `said`); "av" then reads the lips alone. LipnetError naming
        the file when the modality needs sound and the file has none, or lips and it shows no face."""
        if modality not in env.MODALITIES:
            raise LipnetError(f"unknown modality {modality!r}: choose from {', '.join(env.MODALITIES)}")
        if modality == "video" or (modality == "auto" and not self.hears_lip_reader):
            return self.lips.read(path, decoder, timing)
        try:
            samples = audio.load(path)
        except LipnetError:
            if modality == "auto":  # no sound (or silence): the lips alone
                return self.lips.read(path, decoder, timing)
            raise
        if modality == "auto" and audio.video_start(path) is None:  # a file of sound alone: the voice is all there is
            modality = "audio"
        if modality == "audio":
            frames = audio.video_frames(len(samples))
            voice = self.voice(samples, frames)
            decoder = decoder or self.lips.decoder_for(frames)
            reading = self.lips.reading(
                voice.probs, decoder, samples=samples, modality="audio", decided=self.both(None, voice, decoder),
                heard=self.said(voice, frames),
            )  # fmt: skip
        else:
            reading = self.read_both(self.lips.extractor.extract(path, frames=None), samples, decoder, timing)
        return warn_if_cut_short(reading, path)

    def read_both(
        self, track: MouthTrack, samples: np.ndarray, decoder: str | None = None, timing: str = "auto"
    ) -> Reading:
        """Read a clip's mouth `track` and its sound `samples` (16 kHz mono on the video's clock) together; when
        nothing is heard, the lips alone (timed on themselves). `timing` "video" times the words on the lips."""
        seen = self.lips.posteriors(track.crops)
        voice = self.voice(samples, len(track.crops))
        decoder = decoder or self.lips.decoder_for(len(track.crops))
        timed = None if timing == "video" else samples
        reading = self.lips.reading(
            seen["chars"], decoder, None, timed, seen.get("phones"), "av",
            self.both(seen["chars"], voice, decoder), self.said(voice, len(track.crops)),
        )  # fmt: skip
        if not reading.speech:  # nothing heard: the lips may still say something (and are timed on themselves)
            reading = self.lips.reading(seen["chars"], decoder, track, None, seen.get("phones"))
        reading.track = track
        return reading

    def stream(
        self, frames: Iterable[np.ndarray], sound: Callable[[int, int], np.ndarray], decoder: str | None = None
    ) -> Iterator[tuple[int, Reading | None]]:
        """`LipReader.stream` with the voice: each window's pictures read with what `sound(first, frames)` gives, the
        samples heard over those frames (`lipnet.speech.microphone.Heard`: a microphone's last seconds)."""

        def read(track: MouthTrack, first: int) -> Reading:
            samples = sound(first, len(track.crops))
            need = len(track.crops) * audio.samples_per_video_frame()
            return self.read_both(track, np.pad(samples[:need], (0, max(0, need - len(samples)))), decoder)

        return self.lips.stream(frames, decoder=decoder, read=read)

    def voice(self, samples: np.ndarray, frames: int) -> fusion.Voice:
        """What the voice says over `frames` video frames (`Recognizer.voice`), its phones the lip-sync model's (the
        lip reader's teacher)."""
        return self.recognizer.voice(samples, frames, self.lips.teacher)

    @staticmethod
    def said(voice: fusion.Voice, frames: int) -> np.ndarray:
        """The phones (frames, phones) the voice says a video frame: what tells a silence or a noise from speech."""
        return audio.per_video_frame(voice.phone_probs, frames)

    def both(self, lips: np.ndarray | None, voice: fusion.Voice, decoder: str) -> tuple[str, list[float]]:
        """The sentence the lips' posteriors (T, 28) and the `voice` read together (`fusion`; `lips` None: the voice
        alone), and its words' confidences: the candidates are the grammar's n best of each stream and their
        neighbours, or each character stream's reading by `decoder`."""
        if decoder == "grammar":
            candidates = fusion.Candidates.proposed(lips, voice)
        else:
            streams = [voice.probs] if lips is None else [lips, voice.probs]
            candidates = fusion.Candidates.of(lips, voice, [self.lips.decode(p, decoder) for p in streams])
        config = self.recognizer.config
        text, weights = candidates.best(config.voice_weighting, config.phone_weighting)
        return text, fusion.word_confidences(lips, voice, weights, text, decoder == "grammar")

"""The recogniser's data: each clip's lip-reader features and sound, and training batches heard through noise.

A clip's lip features are the shipped lip reader's BiGRU features of its mouth crops (`LipReader.posteriors`),
computed once and cached beside the crops as ``<crop>.lips.npz`` with the reader's fingerprint. Training batches
are drawn afresh every epoch (`Batches`): each clip heard clean or in babble, white or pink noise at a random SNR,
sometimes band-limited, and with either stream withheld now and then (modality dropout), so that each alone still
reads.
"""

from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from lipnet import alphabet, audio, env, grid
from lipnet.lipreading import dataset as lip_dataset
from lipnet.recognition import noise, voices
from lipnet.recognition.model import RecognizerConfig, audio_input
from lipnet.storage import atomic_write

LIPS_SUFFIX = ".lips.npz"
TIME_MASKS = 2  # spans of the lip features a training clip loses (time masking, as the lip reader trains)...
TIME_MASK_FRAMES = 10  # ...each up to this long
MISREAD_SPANS = (1, 2)  # `misread`: spans of another clip's lip features a misread clip gets (at least, at most)...
MISREAD_FRAMES = (8, 20)  # ...each this many frames long (a GRID word lasts 6-20)


class Utterance(NamedTuple):
    """A clip to learn from or score on (its sentence known): the lip reader's features of its crops and its
    sound."""

    clip: grid.Clip
    lips: np.ndarray  # (T, 512) float32
    samples: np.ndarray  # 16 kHz mono on the video's clock

    @property
    def key(self) -> str:
        return self.clip.key

    @property
    def text(self) -> str:
        return self.clip.text

    @property
    def seen(self) -> bool:
        """Whether it has lips (a synthetic voice has none)."""
        return bool(self.lips.any())


def lip_features(crops: Path, reader, fingerprint: str) -> dict[str, np.ndarray]:
    """What `reader` (a `LipReader`) makes of the crop file `crops`: its BiGRU ``features`` (T, 512) and character
    posteriors ``chars`` (T, 28), cached beside it with the reader's `fingerprint` (`lipreading.model.fingerprint`), so
    recomputed when another reader asks."""
    cache = crops.with_name(crops.name.removesuffix(".npy") + LIPS_SUFFIX)
    try:
        with np.load(cache, allow_pickle=False) as saved:
            if str(saved["reader"]) == fingerprint:
                return {"features": saved["features"], "chars": saved["chars"]}
    except (OSError, ValueError, KeyError):
        pass
    read = reader.posteriors(lip_dataset.load_clip(crops, None))
    out = {"features": read["features"].astype(np.float32), "chars": read["chars"].astype(np.float32)}
    atomic_write(cache, lambda f: np.savez(f, reader=np.array(fingerprint), **out))
    return out


def voiced(config: RecognizerConfig, excluding: set[str] = frozenset()) -> list[Utterance]:
    """The synthetic voices `config` learns from (`RecognizerConfig.voices`), each saying `config.voiced` GRID
    sentences of its own drawn at random (none in `excluding`, the sentences kept to score on), a little faster or
    slower (`voices.STRETCH`), as lipless `Utterance`s: the same for the same configuration."""
    texts = voices.sentences(len(config.voices) * config.voiced, config.seed, excluding)
    rng, out = np.random.default_rng(config.seed), []
    for i, text in enumerate(texts):
        voice = config.voices[i % len(config.voices)]
        samples = voices.say(text, voice, rng.uniform(*voices.STRETCH))
        lips = np.zeros((audio.video_frames(len(samples)), config.lip_features), np.float32)
        out.append(Utterance(grid.Clip(f"{voice}/{i}", text), lips, samples))
    return out


def targets(texts: list[str]) -> np.ndarray:
    """Sentences as CTC labels (B, env.MAX_LABEL_LENGTH), padded with the blank."""
    return lip_dataset.labels([alphabet.normalize(t) for t in texts])


def inputs(
    utterances: list[Utterance],
    config: RecognizerConfig,
    sound: list[np.ndarray] | None = None,
    warps: list[float] | None = None,
) -> dict:
    """The network's inputs for clips as they are (or heard as `sound`, through vocal tracts warped by `warps`),
    zero-padded to the longest."""
    sound = sound if sound is not None else [u.samples for u in utterances]
    warps = warps if warps is not None else [1.0] * len(utterances)
    frames = max(len(u.lips) for u in utterances)
    lips = np.zeros((len(utterances), frames, config.lip_features), np.float32)
    heard = np.zeros((len(utterances), frames, config.sound_width), np.float32)
    for i, (u, s, w) in enumerate(zip(utterances, sound, warps)):
        lips[i, : len(u.lips)] = u.lips
        heard[i, : len(u.lips)] = audio_input(s, len(u.lips), config.n_mels, w)
    return {"lips": lips, "sound": heard}


def noisy(utterances: list[Utterance], kind: str, snr_db: float, pool: list[np.ndarray], seed: int) -> list:
    """The clips' sound in `kind` noise at `snr_db`; babble made of `pool`'s utterances other than the clip's own
    (so a clip is never its own babble); the same noise for the same seed."""
    out = []
    for i, u in enumerate(utterances):
        rng = np.random.default_rng([seed, i])
        others = [p for p in pool if p is not u.samples]
        out.append(noise.mix(u.samples, noise.make(kind, len(u.samples), rng, others), snr_db))
    return out


class Batches(keras.utils.PyDataset):
    """Training batches, drawn afresh each epoch: the clips shuffled, each heard as `RecognizerConfig` says (noise,
    band, speed, vocal tract warp, a stream withheld), the lip features time-masked."""

    def __init__(self, utterances: list[Utterance], config: RecognizerConfig, epoch: int = 0):
        super().__init__()
        self.utterances, self.config, self.epoch = utterances, config, epoch
        self.pool = [u.samples for u in utterances]  # babble is made of the training clips
        self.seen = [u for u in utterances if u.seen]  # clips with lips: the misread take another's
        self.order = self._order()

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.utterances))

    def __len__(self) -> int:
        return len(self.utterances) // self.config.batch_size

    def __getitem__(self, index: int):
        c = self.config
        chosen = [self.utterances[i] for i in self.order[index * c.batch_size : (index + 1) * c.batch_size]]
        rng = np.random.default_rng([c.seed, self.epoch, index])
        lips, sound, heard = [], [], np.ones(len(chosen), np.float32)
        for i, u in enumerate(chosen):
            samples, features, draw = u.samples, u.lips.copy(), rng.random()
            if draw < c.drop_video or not u.seen:  # a synthetic voice has no lips
                features[:] = 0
                if rng.random() < 0.5:  # without the lips to keep in step with, the voice may be faster or slower
                    samples = _speed(samples, rng.uniform(*c.speeds))
            else:
                _mask(features, rng)
                if rng.random() < c.lip_errors:
                    misread(features, self.seen[rng.integers(len(self.seen))].lips, rng)
            if rng.random() < c.noisy:
                kind = noise.KINDS[rng.integers(len(noise.KINDS))]
                samples = noise.mix(samples, noise.make(kind, len(samples), rng, self.pool), rng.uniform(*c.snr))
            if rng.random() < c.band:
                samples = noise.band_limit(samples, rng.uniform(0, 300), rng.uniform(3000, 7000), env.SAMPLE_RATE)
            if c.drop_video <= draw < c.drop_video + c.drop_audio and u.seen:
                samples, heard[i] = np.zeros_like(samples), 0.0  # nothing for the audio head to learn from
            lips.append(features)
            sound.append(samples)
        warps = list(rng.uniform(*c.warps, size=len(chosen)))  # drawn last: the other draws are as they were
        x = inputs([u._replace(lips=f) for u, f in zip(chosen, lips)], c, sound, warps)
        y = targets([u.text for u in chosen])
        return x, {"av": y, "audio": y}, {"av": np.ones(len(chosen), np.float32), "audio": heard}

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def misread(features: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> None:
    """Lips read wrong in places, in place: MISREAD_SPANS spans of MISREAD_FRAMES frames take `other` clip's
    features at the same frames, about a word each, as a lip reader errs on a clip it never saw."""
    for _ in range(rng.integers(MISREAD_SPANS[0], MISREAD_SPANS[1] + 1)):
        length = int(rng.integers(MISREAD_FRAMES[0], MISREAD_FRAMES[1] + 1))
        start = int(rng.integers(max(1, min(len(features), len(other)) - length)))
        features[start : start + length] = other[start : start + length]


def _speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """The sound played `factor` times as fast (and as much higher), as tape does: speed perturbation."""
    positions = np.arange(0, len(samples) - 1, factor)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def _mask(features: np.ndarray, rng: np.random.Generator) -> None:
    """Zero up to TIME_MASKS spans of up to TIME_MASK_FRAMES frames, in place."""
    for _ in range(rng.integers(TIME_MASKS + 1)):
        length = int(rng.integers(1, TIME_MASK_FRAMES + 1))
        start = int(rng.integers(max(1, len(features) - length)))
        features[start : start + length] = 0


def misread_some(utterances: list[Utterance], fraction: float, seed: int) -> list[Utterance]:
    """The clips with `fraction` of them `misread` (the same ones for the same seed): validation clips whose lips the
    lip reader read in training, made to read as unseen clips do."""
    rng = np.random.default_rng(seed)
    out = []
    for u in utterances:
        if rng.random() < fraction:
            lips = u.lips.copy()
            misread(lips, utterances[rng.integers(len(utterances))].lips, rng)
            u = u._replace(lips=lips)
        out.append(u)
    return out

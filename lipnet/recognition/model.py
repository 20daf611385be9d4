"""The recogniser's network: an audio encoder over log-mel frames, the lip reader's features, and their fusion into
one CTC head over the lip reader's characters (blank 0), all at 25 fps on the one time base.

Two outputs, both logits: ``audio``, the audio encoder's own CTC head (the audio recogniser: ``--modality audio``),
and ``av``, the fused streams' (``--modality av``). Fusion is ``early`` (the two streams' features side by side into a
BiGRU) or ``gated`` (a learned per-frame reliability weight g in 0..1 mixes them, g * audio + (1 - g) * lips, before
the BiGRU: it can turn to the lips when the voice is buried in noise, frame by frame). Either stream may be absent
(zeros), as training drops each at random.
"""

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from lipnet import audio, env
from lipnet.errors import LipnetError

FUSIONS = ("early", "gated")
MODALITIES = ("video", "audio", "av")


@dataclass
class RecognizerConfig:
    """What an audio-visual recogniser is and how it was trained; saved beside its weights."""

    kind: str = "recogniser"  # tells loaders what the file holds
    fusion: str = "gated"
    units: int = 128  # features a stream, and the GRU units of each direction of the fused BiGRU
    audio_units: int = 128  # the audio encoder's features (its convolutions' channels; its BiGRU's, both directions)
    n_mels: int = env.N_MELS
    lip_features: int = 512  # the lip reader's BiGRU features a frame
    dropout: float = 0.3
    lip_reader: str = str(env.DEFAULT_WEIGHTS.relative_to(env.ROOT))  # the lip reader whose features it hears
    # `lipreading.model.fingerprint` of that reader when it learnt (its configuration and weights): another reader's
    # features mean nothing to it
    lip_reader_sha1: str = ""
    epochs: int = 60
    batch_size: int = 16
    learning_rate: float = 2e-3
    noisy: float = 0.7  # fraction of training clips heard in noise...
    snr: tuple[float, float] = (-10.0, 20.0)  # ...at an SNR drawn from this range (dB)
    drop_video: float = 0.2  # fraction of training clips with the lips withheld (these may also be sped up)...
    drop_audio: float = 0.15  # ...and with the sound withheld
    speeds: tuple[float, float] = (0.9, 1.1)  # speed perturbation of clips heard without lips
    band: float = 0.3  # fraction of training clips band-limited (a telephone, a far microphone)
    # every training clip heard through a vocal tract warped by a factor drawn from this range (`audio.vtlp`): the
    # one speaker it learns from stands for many; (1, 1): off
    warps: tuple[float, float] = (0.9, 1.1)
    # fraction of clips whose lips are misread in places (`dataset.misread`): the lip reader's features of its own
    # training clips read almost without error, held-out ones do not (WER 16%), and a fusion that never saw the
    # lips wrong would trust them over a clean voice
    lip_errors: float = 0.5
    # synthetic voices (`voices`, ``engine:name``) each saying this many GRID sentences drawn at random, learnt from
    # beside s1 without lips (`dataset.voiced`): other voices than the one speaker here
    voices: tuple[str, ...] = ()
    voiced: int = 0
    # a recogniser (a .keras file, relative to the checkout) whose weights training starts from: fine-tuning; "" for
    # a new network
    start_from: str = ""
    seed: int = 0
    # reading both streams (`fusion`): the voice's weight against the lips is a + b ln(H_lips / H_voice), in 0..1,
    # H a stream's mean frame entropy; (a, b) calibrated on clips the lip reader never trained on (bench/avsr.py
    # --calibrate)
    voice_weighting: tuple[float, float] = (1.3, 0.35)
    # the voice's phones' weight beside its characters, g = c H_phones^-d (H: the lip-sync model's phone posteriors'
    # mean entropy); (c, d) calibrated with (a, b)
    phone_weighting: tuple[float, float] = (0.003, 2.0)
    # reading, the voice is heard through vocal tracts warped by each of these (`audio.vtlp`), its characters and its
    # phones, and each sentence scored by the mean (`fusion.Voice`). (0.9, 1.0, 1.1) read s1's voice shifted and
    # synthetic voices better but the other speakers worse (bench/RESULTS.md, 2026-12-04): one, as it learnt
    listening_warps: tuple[float, ...] = (1.0,)
    # further lip-sync models (paths relative to the checkout) whose phones the voice is heard by beside the lip
    # reader's teacher, each sentence's fit their mean (`fusion.Voice`): the shipped one learnt six synthetic voices
    # beside s1 and hears strangers better, the teacher hears s1 in noise better (bench/RESULTS.md, 2026-12-05)
    phone_models: tuple[str, ...] = ()

    def check(self) -> "RecognizerConfig":
        if self.fusion not in FUSIONS:
            raise LipnetError(f"a recogniser's fusion is one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        if min(self.units, self.audio_units, self.n_mels) < 1 or not 0 <= self.dropout < 1:
            raise LipnetError("a recogniser needs units, audio_units and n_mels >= 1 and dropout in 0..1")
        for name in ("warps", "listening_warps"):
            warps = getattr(self, name)
            if not warps or not 0.5 <= min(warps) <= max(warps) <= 1.5:
                raise LipnetError(f"a recogniser's {name} lie in 0.5..1.5, not {warps}")
            setattr(self, name, tuple(warps))  # JSON: lists
        if self.voiced < 0 or (self.voiced and not self.voices):
            raise LipnetError("a recogniser's voiced (sentences a synthetic voice says) is >= 0, and needs voices")
        self.snr, self.speeds, self.voices = tuple(self.snr), tuple(self.speeds), tuple(self.voices)
        self.phone_models = tuple(self.phone_models)
        self.voice_weighting, self.phone_weighting = tuple(self.voice_weighting), tuple(self.phone_weighting)
        return self

    @property
    def sound_width(self) -> int:
        """Values a video frame of sound gives the audio encoder: its log-mel frames side by side."""
        return audio.frames_per_video_frame() * self.n_mels


def audio_input(samples: np.ndarray, frames: int, n_mels: int = env.N_MELS, warp: float = 1.0) -> np.ndarray:
    """What the audio encoder hears of 16 kHz samples on the video's clock: (frames, 4 n_mels) float32, the log-mel
    frames each video frame holds side by side (`audio.per_video_frame`), each band's mean and spread over the clip
    taken out (so the level and the microphone's colour do not matter); `warp`: training's vocal tract warp."""
    mel = audio.log_mel(samples, n_mels=n_mels, warp=warp)
    mel = (mel - mel.mean(0)) / (mel.std(0) + 1.0)  # dB: +1 so a band silent throughout is not blown up
    return audio.per_video_frame(mel, frames, stack=True).astype(np.float32)


def build(config: RecognizerConfig, seed: int | None = None) -> keras.Model:
    """The network for `config`: inputs ``lips`` (B, T, lip_features) and ``sound`` (B, T, 4 n_mels), outputs
    ``av`` and ``audio`` logits (B, T, classes)."""
    lips = keras.Input((None, config.lip_features), name="lips")
    sound = keras.Input((None, config.sound_width), name="sound")
    a = layers.Conv1D(config.audio_units, 3, padding="same", activation="relu", name="audio_conv1")(sound)
    a = layers.Conv1D(config.audio_units, 3, padding="same", activation="relu", name="audio_conv2")(a)
    gru = layers.GRU(config.audio_units // 2, return_sequences=True, name="audio_gru")
    a = layers.Bidirectional(gru, name="audio_bigru")(a)
    a = layers.Dropout(config.dropout, name="audio_dropout")(a)
    audio_logits = layers.Dense(len(env.VOCABULARY) + 1, dtype="float32", name="audio")(a)
    v = layers.Dropout(config.dropout, seed=seed, name="lips_dropout")(lips)
    v = layers.Dense(config.units, activation="relu", name="lips_dense")(v)
    if config.fusion == "early":
        x = layers.Concatenate(name="early")([a, v])
    else:
        if config.audio_units != config.units:  # the gate mixes two streams of one width
            a = layers.Dense(config.units, activation="relu", name="audio_dense")(a)
        gate = layers.Dense(1, activation="sigmoid", name="gate")(layers.Concatenate(name="both")([a, v]))
        x = gate * a + (1.0 - gate) * v
    gru = layers.GRU(config.units // 2 if config.fusion == "gated" else config.units, return_sequences=True)
    x = layers.Bidirectional(gru, name="fused_bigru")(x)
    x = layers.Dropout(config.dropout, name="fused_dropout")(x)
    av_logits = layers.Dense(len(env.VOCABULARY) + 1, dtype="float32", name="av")(x)
    return keras.Model({"lips": lips, "sound": sound}, {"av": av_logits, "audio": audio_logits}, name="recogniser")


def with_gate(network: keras.Model) -> keras.Model:
    """The network with, for gated fusion, its per-frame weight on the sound (B, T, 1) as a third output ``gate``, so
    one call gives all three; early fusion's network as it is."""
    try:
        layer = network.get_layer("gate")
    except ValueError:
        return network
    return keras.Model(network.input, {**network.output, "gate": layer.output})

"""The real-time student: a small causal GRU that turns log-mel frames into visemes as the sound arrives.

The phoneme teacher (`lipnet.speech.teacher`) reads a frame best when it has heard the whole utterance; a game or a
video call needs the mouth shape within a frame or two. The student sees only the past, plus `StudentConfig.delay`
frames of look-ahead: its output for frame t comes when frame t + delay has been heard. It learns the
forced-aligned labels and, with ``distill`` > 0, the teacher's posteriors softened by a temperature (its phones
added up into the student's visemes): wav2vis's distillation. On GRID s1 it draws with the labels alone and
reads other voices better (bench/student.py); the shipped student is distilled, the default needs no teacher.

Its features are causal too: log-mel bands (`lipnet.audio.log_mel`, no deltas, which would look 40 ms ahead)
normalised by the training corpus's mean (or a running mean) and deviation, not by the utterance's. Offline
(`Student.probabilities`) and live (`Student.stream`) run the same network on the same frames and give the same
probabilities.
"""

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from lipnet import audio, env, runs, visemes
from lipnet.errors import LipnetError
from lipnet.speech import lipsync
from lipnet.speech.corpus import Recording


@dataclass
class StudentConfig:
    """What a student is and how it was trained; saved beside its weights."""

    kind: str = "student"  # tells lipsync.py's model loader what it holds
    classes: str = "ovr"  # a viseme set of lipnet.visemes
    units: int = 44  # GRU width
    layers: int = 1  # GRUs stacked, each `units` wide
    front: int = 0  # channels of a causal convolution over the last `front_width` frames before the GRU (0: none)
    front_width: int = 3
    stack: int = 1  # feature frames per GRU step: 2 runs the GRUs every 20 ms on pairs of frames, answering for both
    delay: int = 4  # frames of look-ahead: the output for frame t comes with frame t + delay (3: 1 point less)
    distill: float = 0.0  # weight of the teacher's softened posteriors in the loss (0: the labels alone; the shipped
    # student: 0.5)
    temperature: float = 1.0  # softening of the teacher's posteriors (2 did worse: bench/student.py)
    teacher: str = ""  # the teacher's file, for the record
    epochs: int = 80  # at most: env.LIPSYNC_PATIENCE epochs without a better validation end it
    batch_size: int = 32
    learning_rate: float = 3e-3
    schedule: str = "constant"  # or "cosine": annealed over all `epochs`, which it then runs (no early stop)
    augment: list[float] = field(default_factory=lambda: list(env.STUDENT_AUGMENT))  # speed factors of extra copies
    gain_db: float = 12.0  # the extra copies play up to this much louder or quieter: a microphone's level is unknown
    hop_ms: int = env.HOP_MS
    window_ms: int = env.WINDOW_MS
    n_mels: int = env.STUDENT_MELS
    mean: list[float] = field(default_factory=list)  # per band, over the training clips: set by `train`
    std: list[float] = field(default_factory=list)
    running_mean: float = 2.0  # seconds: subtract a running mean forgetting over this long (0: the corpus's mean)
    seed: int = 0

    def check(self) -> "StudentConfig":
        if self.classes not in visemes.VISEME_SETS:
            raise LipnetError(f"a student learns visemes, not {self.classes!r}: choose ovr, rhubarb or neti")
        if self.delay < 0 or not 0 <= self.distill <= 1 or self.temperature <= 0:
            raise LipnetError("a student needs delay >= 0, 0 <= distill <= 1 and temperature > 0")
        if self.layers < 1 or self.front < 0 or self.front_width < 1 or self.stack < 1:
            raise LipnetError("a student needs layers >= 1, front >= 0, front_width >= 1 and stack >= 1")
        audio.hop_length(self.hop_ms)
        return self

    @property
    def lookahead_ms(self) -> float:
        """How far past a frame's instant the sound must have arrived before the student gives that frame (the
        first of a step's frames waits for the others)."""
        return (self.delay + self.stack - 1) * self.hop_ms + 1000 * audio.LogMelStream(
            self.hop_ms, self.window_ms
        ).lookahead / (env.SAMPLE_RATE)


class Frame(NamedTuple):
    """One 10 ms frame of a stream's visemes."""

    index: int  # feature frame, at `time`
    time: float  # seconds from the start of the sound
    probabilities: np.ndarray  # (classes,)
    hidden: (
        np.ndarray
    )  # (units,) the GRU's output for the frame: the learned features `lipnet.animation.animator` reads


class Student:
    """A trained student: samples in, per-frame viseme probabilities out, offline or live."""

    def __init__(self, config: StudentConfig, network: keras.Model):
        self.config, self.network = config, network
        self._step: keras.Model | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return visemes.CLASS_SETS[self.config.classes]

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """(frames, classes) probabilities of every frame of a recording, the last `delay` with silence after it."""
        return self.outputs(samples)[1]

    def outputs(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frames, units) GRU outputs and (frames, classes) probabilities of every frame, as `probabilities`: the
        GRU's output is what the student has learnt to hear, the features `lipnet.animation.animator` reads."""
        n = audio.frame_count(len(samples), self.config.hop_ms)
        x = features(samples, self.config, after=_tail(self.config, n))
        hidden, logits, _ = self._run(np.concatenate([self._history(), x]), self._initial())
        d = self.config.delay
        return hidden[d : d + n], _softmax(logits[d : d + n])

    def visemes(self, samples: np.ndarray, viseme_set: str | None = None) -> np.ndarray:
        """As `probabilities`; `viseme_set` must be the student's own (it has no phones to add up into another)."""
        return self.probabilities(samples) @ visemes.pooling(self.config.classes, viseme_set or self.config.classes)

    def stream(self) -> "Stream":
        """A fresh live stream: push it chunks of 16 kHz samples, get frames back as soon as they are known."""
        return Stream(self)

    def step(self) -> keras.Model:
        """The network one chunk at a time, the same layers: (the chunk's frames, a whole number of steps, after
        the `front_width` - 1 before them; one state per GRU) -> (the last GRU's outputs a step, logits a frame,
        the GRUs' states after the chunk)."""
        if self._step is None:
            frames = keras.Input((None, self.network.input_shape[-1]))
            states = [keras.Input((self.config.units,)) for _ in range(self.config.layers)]
            x = self.network.get_layer("front")(frames) if self.config.front else frames
            if self.config.stack > 1:
                x = self.network.get_layer("stack")(x)
            finals = []
            for i, state in enumerate(states):
                x, final = self.network.get_layer(_gru_name(i))(x, initial_state=state)
                finals.append(final)
            logits = self.network.get_layer("logits")(x)
            if self.config.stack > 1:
                logits = self.network.get_layer("unstack")(logits)
            self._step = keras.Model([frames, *states], [x, logits, *finals])
        return self._step

    def _run(self, x: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(frames, units) GRU outputs (a step's for each of its frames), (frames, classes) logits and the states
        after `x`, whose first `front_width` - 1 frames are history."""
        hidden, logits, *finals = self.step().predict_on_batch([x[None], *states])
        hidden = np.repeat(np.asarray(hidden)[0], self.config.stack, axis=0)
        return hidden, np.asarray(logits)[0], [np.asarray(f) for f in finals]

    def _initial(self) -> list[np.ndarray]:
        """The GRUs' states before the first frame."""
        return [np.zeros((1, self.config.units), np.float32) for _ in range(self.config.layers)]

    def _history(self) -> np.ndarray:
        """The frames the front convolution sees before the first: zeros, as its padding in training."""
        width = self.config.front_width if self.config.front else 1
        return np.zeros((width - 1, self.config.n_mels), np.float32)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.keras``) and its ``.json`` config, atomically."""
        return runs.write_model(path, self.network, self.config, "a student")


class Stream:
    """A student's visemes of sound arriving in chunks (`Student.stream`). Frame t comes out once the sound up to
    `StudentConfig.lookahead_ms` past it has been pushed; `end` gives the last frames."""

    def __init__(self, student: Student):
        self.student, self.config = student, student.config
        self.features = audio.LogMelStream(self.config.hop_ms, self.config.window_ms, self.config.n_mels)
        self.normalised = Normaliser(self.config)
        self.state = student._initial()
        self.history = student._history()  # the last frames through the network, for the front convolution
        self.waiting = np.zeros((0, self.config.n_mels), np.float32)  # frames short of a whole GRU step
        self.fed = 0  # feature frames through the network

    def push(self, chunk: np.ndarray) -> list[Frame]:
        """The frames `chunk` (mono 16 kHz samples) completes, often none."""
        return self._run(self.normalised(self.features.push(chunk)))

    def end(self) -> list[Frame]:
        """The frames left when the sound ends (the last `delay` with silence after them)."""
        last = self.features.end()
        tail = silence(self.config, _tail(self.config, self.features.emitted))
        frames = self._run(self.normalised(np.concatenate([last, tail])))
        return [f for f in frames if f.index < self.features.emitted]

    def _run(self, x: np.ndarray) -> list[Frame]:
        x = np.concatenate([self.waiting, x])
        whole = len(x) - len(x) % self.config.stack
        x, self.waiting = x[:whole], x[whole:]
        if not len(x):
            return []
        seen = np.concatenate([self.history, x])
        self.history = seen[len(seen) - len(self.history) :]
        hidden, logits, self.state = self.student._run(seen, self.state)
        probabilities = _softmax(logits)
        first, self.fed = self.fed, self.fed + len(x)
        hop = self.config.hop_ms / 1000
        return [
            Frame(k - self.config.delay, (k - self.config.delay) * hop, p, h)
            for k, p, h in zip(range(first, self.fed), probabilities, hidden)
            if k >= self.config.delay
        ]


def features(samples: np.ndarray, config: StudentConfig, after: int = 0) -> np.ndarray:
    """(frames, bands) normalised log-mel frames of a recording, and of `after` frames of silence after it."""
    raw = audio.log_mel(samples, config.hop_ms, config.window_ms, config.n_mels)
    return Normaliser(config)(np.concatenate([raw, silence(config, after)]))


class Normaliser:
    """Log-mel frames less a mean, over the training corpus's deviation, band by band. The mean is the corpus's,
    or with ``running_mean`` a running one forgetting over that many seconds, starting from the corpus's: causal
    mean normalisation, which takes out a microphone's level and colouring as it goes. Call it on the frames of one
    recording in order, at once or in pieces: the same numbers either way."""

    def __init__(self, config: StudentConfig):
        self.mean, self.std = np.asarray(config.mean, np.float64), np.asarray(config.std, np.float64)
        self.rate = config.hop_ms / 1000 / config.running_mean if config.running_mean else 0.0
        self.state = (1 - self.rate) * self.mean[None]  # the filter's memory: the mean before the first frame

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.rate:
            return ((x - self.mean) / self.std).astype(np.float32)
        import scipy.signal

        if not len(x):
            return x.astype(np.float32)
        mean, self.state = scipy.signal.lfilter([self.rate], [1, self.rate - 1], x, axis=0, zi=self.state)
        return ((x - mean) / self.std).astype(np.float32)


def _tail(config: StudentConfig, frames: int) -> int:
    """Frames of silence to follow a recording's `frames`: the `delay` that brings out its last frames, and up
    to a whole GRU step."""
    return config.delay + (-(frames + config.delay)) % config.stack


def silence(config: StudentConfig, frames: int) -> np.ndarray:
    """Log-mel frames of digital silence (the floor): what follows the end of a recording."""
    return np.full((frames, config.n_mels), audio.LOG_MEL_FLOOR, np.float32)


def stream(student: Student, chunks: Iterable[np.ndarray]) -> Iterator[Frame]:
    """Frames of sound arriving as an iterable of sample chunks (a microphone, a file read at its pace...)."""
    live = student.stream()
    for chunk in chunks:
        yield from live.push(chunk)
    yield from live.end()


def network(config: StudentConfig) -> keras.Model:
    """Log-mel frames -> (a causal convolution ->) GRUs -> a logit per viseme, every frame; causal by
    construction."""
    frames = keras.Input((None, config.n_mels))
    x = frames
    if config.front:
        x = keras.layers.ZeroPadding1D((config.front_width - 1, 0), name="history")(x)
        x = keras.layers.Conv1D(config.front, config.front_width, activation="relu", name="front")(x)
    classes = len(visemes.CLASS_SETS[config.classes])
    if config.stack > 1:  # a whole number of steps: `train` and `Student` pad with silence
        x = keras.layers.Reshape((-1, config.stack * x.shape[-1]), name="stack")(x)
    for i in range(config.layers):
        x, _ = keras.layers.GRU(config.units, return_sequences=True, return_state=True, name=_gru_name(i))(x)
    logits = keras.layers.Dense(config.stack * classes, name="logits")(x)
    if config.stack > 1:
        logits = keras.layers.Reshape((-1, classes), name="unstack")(logits)
    return keras.Model(frames, logits)


def _gru_name(i: int) -> str:
    """The i-th GRU's layer name: "gru" for the first, as students had one before they could have more."""
    return "gru" if i == 0 else f"gru{i + 1}"


def train(
    config: StudentConfig,
    train_clips: list[Recording],
    val_clips: list[Recording],
    teacher: lipsync.VisemeModel | None,
    run_dir: str | Path,
    about: dict | None = None,
    verbose: int = 1,
) -> Student:
    """Fit a student on `train_clips` and perturbed copies of them, learning from `teacher` (needed unless
    ``config.distill`` is 0) and the clips' labels, in a `lipnet.runs` run directory; returns its best epoch."""
    config.check()
    if config.distill and teacher is None:
        raise LipnetError("a distilled student needs its teacher (or distill=0 for labels alone)")
    if (Path(run_dir) / "last.keras").exists():  # before the statistics of every clip are computed
        raise LipnetError(f"{run_dir}: holds a run already; continue it with --resume {run_dir}")
    bands = np.concatenate(
        [audio.log_mel(c.samples, config.hop_ms, config.window_ms, config.n_mels) for c in train_clips]
    )
    config.mean, config.std = bands.mean(0).tolist(), (bands.std(0) + 1e-3).tolist()
    run_dir = runs.start(run_dir, config, about)
    return _fit(config, train_clips, val_clips, teacher, run_dir, verbose)


def resume(
    run_dir: str | Path,
    train_clips: list[Recording],
    val_clips: list[Recording],
    teacher: lipsync.VisemeModel | None,
    verbose=1,
) -> Student:
    """Continue a student's run from its last completed epoch, optimizer state included."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)[0]
    model, done = runs.resumable(run_dir)
    return _fit(config, train_clips, val_clips, teacher, run_dir, verbose, model, done)


def run_config(run_dir: str | Path) -> tuple[StudentConfig, dict]:
    """The `StudentConfig` of a run directory and what it says of its data."""
    return runs.run_config(run_dir, StudentConfig, "a student", kind="student")


def targets(config: StudentConfig, clip: Recording, teacher: lipsync.VisemeModel | None) -> np.ndarray:
    """(frames, 2 classes): the teacher's posteriors softened by the temperature and added up into the student's
    visemes (zeros without a teacher), then the one-hot labels (all zero on frames outside the class set)."""
    hard = lipsync.clip_targets(clip, config.classes, config.hop_ms)
    n = len(hard)
    one_hot = np.zeros((n, len(visemes.CLASS_SETS[config.classes])), np.float32)
    one_hot[np.flatnonzero(hard >= 0), hard[hard >= 0]] = 1
    if teacher is None:
        return np.concatenate([np.zeros_like(one_hot), one_hot], axis=1)
    p = teacher.probabilities(clip.samples)[:n].astype(np.float64) ** (1 / config.temperature)
    soft = (p / p.sum(1, keepdims=True)) @ visemes.pooling(teacher.config.classes, config.classes)
    return np.concatenate([soft.astype(np.float32), one_hot], axis=1)


def _examples(config: StudentConfig, clips: list[Recording], teacher, augment: bool):
    """Per utterance: normalised features and targets `delay` frames late (output t answers for frame t - delay),
    and per-frame weights (0 for the first `delay` frames and frames outside the class set)."""
    rng = np.random.default_rng(config.seed)
    copies = list(clips)
    if augment:
        for factor in config.augment:
            for clip in clips:
                copy = lipsync.perturbed(clip, factor, rng)
                gain = 10 ** (rng.uniform(-config.gain_db, config.gain_db) / 20)
                copies.append(dataclasses.replace(copy, samples=(copy.samples * gain).astype(np.float32)))
    xs, ys, ws = [], [], []
    d, classes = config.delay, len(visemes.CLASS_SETS[config.classes])
    for clip in copies:
        n = audio.frame_count(len(clip.samples), config.hop_ms)
        x = features(clip.samples, config, after=-n % config.stack)  # a whole number of GRU steps
        y = targets(config, clip, teacher)[:n]
        late = np.concatenate([np.zeros((d, 2 * classes), np.float32), y, np.zeros((len(x), 2 * classes))])
        late = late[: len(x)].astype(np.float32)
        w = late[:, classes:].sum(1)  # 1 where a label is, 0 elsewhere
        xs.append(x)
        ys.append(late)
        ws.append(w.astype(np.float32))
    return lipsync.padded(xs, ys, ws), len(copies)


LOGBOOK = runs.Logbook(
    fields=lipsync.LOGBOOK.fields,
    curves=(
        ("Loss", "cross-entropy (+ the teacher's, distilling)", ("loss", "val_loss"), True),
        ("Frame accuracy", "%", ("accuracy", "val_accuracy"), False),
    ),
    monitor="val_accuracy",
    mode="max",
    describe="epoch {epoch}: loss {loss:.3f} frame accuracy {accuracy:.1%}, validation {val_accuracy:.1%}".format_map,
)


@keras.saving.register_keras_serializable("lipnet")
class DistillationLoss(keras.losses.Loss):
    """`distill` × T² × cross-entropy with the teacher's softened posteriors (at temperature T) + (1 - `distill`)
    × cross-entropy with the labels; targets are (soft, one-hot) side by side, predictions logits."""

    def __init__(self, distill: float = 0.5, temperature: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.distill, self.temperature = distill, temperature

    def call(self, y_true, y_pred):
        ops, n = keras.ops, y_pred.shape[-1]
        soft, hard = y_true[..., :n], y_true[..., n:]
        t = self.temperature
        distilled = -ops.sum(soft * ops.log_softmax(y_pred / t, axis=-1), axis=-1) * t * t
        labelled = -ops.sum(hard * ops.log_softmax(y_pred, axis=-1), axis=-1)
        return self.distill * distilled + (1 - self.distill) * labelled

    def get_config(self) -> dict:
        return {**super().get_config(), "distill": self.distill, "temperature": self.temperature}


@keras.saving.register_keras_serializable("lipnet")
def accuracy(y_true, y_pred):
    """Frame accuracy against the labels (the second half of the targets)."""
    n = y_pred.shape[-1]
    ops = keras.ops
    return ops.cast(ops.argmax(y_true[..., n:], axis=-1) == ops.argmax(y_pred, axis=-1), "float32")


def _fit(config: StudentConfig, train_clips, val_clips, teacher, run_dir: Path, verbose: int, model=None, done=0):
    keras.utils.set_random_seed(config.seed + done)
    data, items = _examples(config, train_clips, teacher if config.distill else None, augment=True)
    validation, _ = _examples(config, val_clips, teacher if config.distill else None, augment=False)
    if model is None:
        model = network(config)
        steps = config.epochs * -(-items // config.batch_size)
        model.compile(
            optimizer=keras.optimizers.Adam(runs.learning_rate(config.learning_rate, config.schedule, steps)),
            loss=DistillationLoss(config.distill, config.temperature),
            weighted_metrics=[accuracy],
        )

    runs.fit(
        model, data, run_dir, lambda path, net: Student(config, net).save(path), LOGBOOK, validation=validation,
        epochs=config.epochs, batch_size=config.batch_size, patience=None if config.schedule == "cosine" else env.LIPSYNC_PATIENCE, done=done, train_items=items,
        verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def load(path: str | Path) -> Student:
    """A student `Student.save` wrote. Raises LipnetError naming the file when it is missing or not one."""
    return Student(*runs.read_model(path, StudentConfig, "a student"))


def _softmax(z: np.ndarray) -> np.ndarray:
    import scipy.special

    return scipy.special.softmax(z, axis=-1).astype(np.float32)

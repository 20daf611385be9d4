"""Speech -> mouth animation: the lips' shape (`lipnet.animation.lipshape`'s PCA coefficients) every video frame, from sound.

Two routes, as the real-time audio-to-animation seed has, both reading the real-time student
(`lipnet.speech.student`), so nothing is downloaded and everything can run live:

- ``visemes``: the student's viseme probabilities (OVR: 15 a frame);
- ``features``: the student's GRU outputs, what it has learnt to hear (the seed's wav2vec 2.0 features' place).

and four networks over video frames, one output per frame:

- ``mlp``: each frame alone;
- ``cnn``: a causal temporal CNN over the frames before it;
- ``autoregressive``: the CNN with the coefficients it gave the previous frame as extra input;
- ``attention``: the CNN then self-attention over the last `AnimatorConfig.window` frames.

All are causal. Video frame j reads the student's four 10 ms frames ending at its instant (audio frames 4j-3..4j,
`lipnet.audio.frames_per_video_frame`), and the network's output for frame j comes with input frame
j + `AnimatorConfig.lookahead`: the look-ahead is the student's own plus that many video frames. The targets are
the PCA coefficients of the lips tracked on the same clip's video (`lipnet.animation.lipshape.cached`), the loss their
squared error: the components are orthonormal, so that is the squared landmark error within the PCA space.
"""

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from lipnet import audio, env, grid, runs, visemes
from lipnet.animation import lipshape
from lipnet.errors import LipnetError
from lipnet.speech import lipsync, student
from lipnet.speech.align import Segment
from lipnet.storage import sha1

ROUTES = ("visemes", "features")
NETWORKS = ("mlp", "cnn", "autoregressive", "attention")
BILABIALS = ("P", "B", "M")  # the phones whose lips must meet
_INNER_PAIRS = ((13, 19), (14, 18), (15, 17))  # inner upper and lower lip points (dlib 61-67, 62-66, 63-65)
LOGBOOK = runs.Logbook(
    fields=("epoch", "loss", "val_loss", "val_rmse", "val_opening", "learning_rate", "seconds", "clips_per_s"),
    curves=(
        ("Loss", "squared landmark error (PCA space)", ("loss", "val_loss"), True),
        ("Validation", "RMSE (mouth widths) / opening correlation", ("val_rmse", "val_opening"), False),
    ),
    monitor="val_rmse",
    mode="min",
    describe="epoch {epoch}: loss {loss:.2e}, validation {val_loss:.2e}, RMSE {val_rmse:.4f}, opening r "
    "{val_opening:.3f}".format_map,
)


@dataclass
class AnimatorConfig:
    """What an animator is and how it was trained; saved beside its weights."""

    kind: str = "animator"  # tells loaders what the file holds
    route: str = "features"
    network: str = "cnn"
    lookahead: int = 2  # video frames past the student's own look-ahead
    width: int = 64  # hidden units
    kernel: int = 5  # frames a convolution sees (3 layers: 13 frames, half a second)
    layers: int = 3
    window: int = env.FPS  # attention: frames back each frame attends to
    heads: int = 2
    feedback_noise: float = 0.5  # autoregressive: training feeds the previous frame's coefficients with noise this
    # large (relative to each component's spread) so the network leans on them no more than its own will bear
    components: int = env.ANIMATION_COMPONENTS
    student: str = str(env.LIPSYNC_STUDENT.relative_to(env.ROOT))  # the features' source (relative to the repo)
    student_sha1: str = ""  # of that file when this animator learnt its features: another student's mean nothing
    shape: str = ""  # fingerprint of the mouth-shape model whose coefficients it predicts
    epochs: int = 100  # at most: env.ANIMATOR_PATIENCE epochs without a better validation RMSE end it
    batch_size: int = 16
    learning_rate: float = 2e-3
    dropout: float = 0.1
    seed: int = 0

    def check(self) -> "AnimatorConfig":
        if self.route not in ROUTES or self.network not in NETWORKS:
            raise LipnetError(f"an animator's route is one of {ROUTES} and its network one of {NETWORKS}")
        if self.lookahead < 0 or self.kernel < 1 or self.layers < 1 or self.window < 1:
            raise LipnetError("an animator needs lookahead >= 0 and kernel, layers and window >= 1")
        return self

    @property
    def context(self) -> int:
        """Input frames an output depends on: all a live stream must keep."""
        reach = 1 if self.network == "mlp" else self.layers * (self.kernel - 1) + 1
        return reach + (self.window - 1 if self.network == "attention" else 0)


class Frame(NamedTuple):
    """One video frame of a stream's mouth."""

    index: int  # video frame, at `time`
    time: float  # seconds from the start of the sound
    coefficients: np.ndarray  # (components,)
    pressed: float  # 0..1: how far to press the lips together (`mouth`)


class Animator:
    """A trained animator: 16 kHz samples in, the mouth's shape every video frame out, offline or live."""

    def __init__(self, config: AnimatorConfig, network: keras.Model, reader: student.Student):
        self.config, self.network, self.student = config, network, reader
        self._head: keras.Model | None = None
        self._trunk: keras.Model | None = None

    @property
    def lookahead_ms(self) -> float:
        """How far past a video frame's instant the sound must have arrived before the frame's shape is known."""
        return self.student.config.lookahead_ms + 1000 * self.config.lookahead / env.FPS

    def inputs(self, samples: np.ndarray) -> np.ndarray:
        """(frames + lookahead, features) network input of a recording: a row per video frame, then `lookahead`
        rows of the silence after it."""
        return self.heard(samples)[0]

    def heard(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`inputs`, and for each row how surely the student hears /p b m/ there (`pressing`)."""
        padded = np.concatenate(
            [samples, np.zeros(self.config.lookahead * audio.samples_per_video_frame(), np.float32)]
        )
        hidden, probabilities = self.student.outputs(padded)
        rows = video_rate(probabilities)
        return video_rate(hidden) if self.config.route == "features" else rows, pressing(rows)

    def coefficients(self, samples: np.ndarray) -> np.ndarray:
        """(frames, components) PCA coefficients of the mouth at every video frame of a recording."""
        return self.answers(self.inputs(samples))[: audio.video_frames(len(samples))]

    def answers(self, x: np.ndarray) -> np.ndarray:
        """(frames, components) coefficients of the video frames `inputs` rows answer for (those `lookahead` rows
        back)."""
        return self.answers_of([x])[0]

    def answers_of(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """`answers` of several recordings' inputs, run as one batch: zero rows pad the shorter ones at their end,
        which a causal network never reads back."""
        batch = np.zeros((len(xs), max(len(x) for x in xs), xs[0].shape[1]), np.float32)
        for i, x in enumerate(xs):
            batch[i, : len(x)] = x
        if self.config.network != "autoregressive":
            y = np.asarray(self.network.predict_on_batch(batch))
        else:
            y = self._feedback(np.asarray(self.trunk().predict_on_batch(batch)))
        return [y[i, self.config.lookahead : len(x)] for i, x in enumerate(xs)]

    def parameters(
        self, samples: np.ndarray, shape: lipshape.ShapeModel, press: bool = True
    ) -> lipshape.MouthParameters:
        """Animation parameters (points, coefficients, channels) of every video frame of a recording, the lips
        pressed together where the student hears /p b m/ (unless `press` is False: `mouth`)."""
        x, pressed = self.heard(samples)
        frames = audio.video_frames(len(samples))
        return mouth(self.answers(x)[:frames], pressed[:frames] * press, shape)

    def stream(self) -> "Stream":
        """A fresh live stream: push it chunks of 16 kHz samples, get video frames back as soon as they are known."""
        return Stream(self)

    def trunk(self) -> keras.Model:
        """The layers before the feedback (autoregressive networks): inputs -> per-frame features."""
        if self._trunk is None:
            self._trunk = keras.Model(self.network.get_layer("inputs").output, self.network.get_layer("trunk").output)
        return self._trunk

    def _feedback(self, features: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
        """(batch, frames, features) trunk outputs -> (batch, frames, components): the autoregressive head frame by
        frame, each output the next frame's feedback (`previous`: (batch, components) before the first; zeros)."""
        if self._head is None:
            h = keras.Input((1, features.shape[-1]))
            p = keras.Input((1, self.config.components))
            merged = keras.layers.Concatenate()([h, p])
            out = self.network.get_layer("coefficients")(self.network.get_layer("feedback")(merged))
            self._head = keras.Model([h, p], out)
        batch = len(features)
        last = np.zeros((batch, 1, self.config.components), np.float32) if previous is None else previous[:, None]
        out = np.zeros((*features.shape[:2], self.config.components), np.float32)
        for t in range(features.shape[1]):
            last = keras.ops.convert_to_numpy(self._head([features[:, t : t + 1], last], training=False))
            out[:, t] = last[:, 0]
        return out

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.keras``) and its ``.json`` config, atomically."""
        return runs.write_model(path, self.network, self.config, "an animator")


class Stream:
    """An animator's mouth for sound arriving in chunks (`Animator.stream`): video frame j comes out once the sound
    up to `Animator.lookahead_ms` past its instant has been pushed; `end` gives the last ones."""

    def __init__(self, animator: Animator):
        self.animator, self.config = animator, animator.config
        self.heard = animator.student.stream()
        self.rows: list[np.ndarray] = []  # student frames of the video frame being filled
        self.inputs: list[np.ndarray] = []  # the last `context` input rows
        self.fed = 0  # input rows so far
        self.samples = 0
        self.previous: np.ndarray | None = None  # autoregressive: the last frame's coefficients
        self.pressed: deque[float] = deque(maxlen=self.config.lookahead + 1)  # `pressing` of the rows not answered

    def push(self, chunk: np.ndarray) -> list[Frame]:
        """The video frames `chunk` (mono 16 kHz samples) completes, often none."""
        self.samples += len(chunk)
        return self._take(self.heard.push(chunk))

    def end(self) -> list[Frame]:
        """The frames left when the sound ends (the last `lookahead` with silence after them)."""
        frames = audio.video_frames(self.samples)
        padding = np.zeros(self.config.lookahead * audio.samples_per_video_frame(), np.float32)
        out = self._take(self.heard.push(padding) + self.heard.end())
        return [f for f in out if f.index < frames]

    def _take(self, heard: list[student.Frame]) -> list[Frame]:
        out = []
        per = audio.frames_per_video_frame()
        for frame in heard:
            if frame.index == 0:  # video frame 0 reads silence before the sound, as `video_rate` pads
                self.rows = [(np.zeros_like(frame.hidden), np.zeros_like(frame.probabilities))] * (per - 1)
            self.rows.append((frame.hidden, frame.probabilities))
            if len(self.rows) == per:
                hidden, probabilities = (np.concatenate(column) for column in zip(*self.rows))
                row = hidden if self.config.route == "features" else probabilities
                self.inputs = [*self.inputs, row][-self.config.context :]
                self.pressed.append(float(pressing(probabilities[None])[0]))
                self.rows = []
                self.fed += 1
                index, coefficients = self.fed - 1 - self.config.lookahead, self._last()  # every row: the feedback
                if index >= 0:
                    out.append(Frame(index, index / env.FPS, coefficients, self.pressed[0]))
        return out

    def _last(self) -> np.ndarray:
        """The coefficients of the newest input row, from the rows kept (all it depends on)."""
        x = np.array(self.inputs, np.float32)[None]
        if self.config.network != "autoregressive":
            return np.asarray(self.animator.network.predict_on_batch(x))[0, -1]
        features = np.asarray(self.animator.trunk().predict_on_batch(x))[:, -1:]
        self.previous = self.animator._feedback(features, self.previous)[:, -1]
        return self.previous[0]


def video_rate(frames: np.ndarray) -> np.ndarray:
    """(audio frames, d) at the feature rate -> (video frames, 4 d): video frame j gets audio frames 4j-3..4j, the
    four ending at its instant (zeros before the sound starts)."""
    n = -(-len(frames) // audio.frames_per_video_frame())
    return audio.per_video_frame(frames, n, causal=True, stack=True).astype(np.float32)


def pressing(rows: np.ndarray) -> np.ndarray:
    """(frames,) 0..1 of video-rate viseme probability rows (`video_rate` of OVR probabilities): how far to press
    the lips together, from the surest /p b m/ (OVR ``PP``) of the frame's four 10 ms frames, ramping from
    `env.ANIMATION_PRESS_FROM` to `env.ANIMATION_PRESS_FULL`.

    The tracked lips GRID trains on barely close (the tracker's smoothing blurs 60-100 ms closures: see
    lipnet.animation.lipshape), so no network learns to close them; a rig must, or /p b m/ look wrong. The student hears
    them, so the lips are pressed where it does, as Rhubarb shows its closed shape for them.
    """
    classes = visemes.CLASS_SETS["ovr"]
    surest = rows.reshape(len(rows), -1, len(classes))[:, :, classes.index("PP")].max(1)
    low, high = env.ANIMATION_PRESS_FROM, env.ANIMATION_PRESS_FULL
    return np.clip((surest - low) / (high - low), 0.0, 1.0).astype(np.float32)


def mouth(coefficients: np.ndarray, pressed: np.ndarray, shape: lipshape.ShapeModel) -> lipshape.MouthParameters:
    """Animation parameters of predicted (T, components) PCA coefficients: the points they decode to with the lips
    pressed together by the (T,) 0..1 `pressed` (each inner lip pair meeting halfway, the outer lips and so the jaw
    where they were: ARKit's ``mouthClose`` on top of ``jawOpen``), the coefficients of those points and their
    channels."""
    points = shape.decode(coefficients)
    pressed = np.asarray(pressed, np.float64)
    if pressed.any():
        points = points.astype(np.float64)
        for upper, lower in _INNER_PAIRS:
            move = pressed * np.maximum(points[:, lower, 1] - points[:, upper, 1], 0) / 2
            points[:, upper, 1] += move
            points[:, lower, 1] -= move
        points = points.astype(np.float32)
        coefficients = shape.encode(points, coefficients.shape[1])
    times = (np.arange(len(points)) / env.FPS).astype(np.float32)
    return lipshape.MouthParameters(
        times, points, coefficients.astype(np.float32), shape.channels(points), shape.fingerprint
    )


@keras.saving.register_keras_serializable("lipnet")
class RecentAttention(keras.layers.Layer):
    """Self-attention of every frame over itself and the `window` - 1 frames before it: causal, and bounded, so a
    live stream keeps a fixed number of frames."""

    def __init__(self, heads: int, key_dim: int, window: int, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.key_dim, self.window = heads, key_dim, window
        self.attention = keras.layers.MultiHeadAttention(heads, key_dim, name="mha")

    def build(self, input_shape):
        self.attention.build(input_shape, input_shape)

    def call(self, x):
        ops = keras.ops
        steps = ops.arange(ops.shape(x)[1])
        back = steps[:, None] - steps[None, :]
        return self.attention(x, x, attention_mask=ops.logical_and(back >= 0, back < self.window)[None])

    def get_config(self) -> dict:
        return {**super().get_config(), "heads": self.heads, "key_dim": self.key_dim, "window": self.window}


def network(config: AnimatorConfig, inputs: int) -> keras.Model:
    """The animator's layers: (frames, inputs) -> (frames, components), causal by construction (module doc)."""
    layers = keras.layers
    x = layers.Input((None, inputs), name="inputs")
    h = x
    for i in range(2 if config.network == "mlp" else config.layers):
        if config.network == "mlp":
            h = layers.Dense(config.width, activation="relu", name=f"dense{i}")(h)
        else:
            h = layers.Conv1D(config.width, config.kernel, padding="causal", activation="relu", name=f"conv{i}")(h)
        h = layers.Dropout(config.dropout)(h)
    if config.network == "attention":
        attended = RecentAttention(config.heads, config.width // config.heads, config.window, name="attention")(h)
        h = layers.LayerNormalization()(layers.Add()([h, attended]))
    h = layers.Identity(name="trunk")(h)
    if config.network != "autoregressive":
        return keras.Model(x, layers.Dense(config.components, name="coefficients")(h))
    previous = layers.Input((None, config.components), name="previous")
    merged = layers.Concatenate()([h, previous])
    hidden = layers.Dense(config.width, activation="relu", name="feedback")(merged)
    return keras.Model([x, previous], layers.Dense(config.components, name="coefficients")(hidden))


class Utterance(NamedTuple):
    """A clip to learn from or score on: its sound and the mouth tracked on its video."""

    clip: grid.Clip
    samples: np.ndarray
    mouth: lipshape.MouthParameters
    phones: tuple[Segment, ...] | list[Segment] = ()  # forced-aligned, to score lip closures

    @property
    def key(self) -> str:
        return self.clip.key


def train(
    config: AnimatorConfig,
    train_set: list[Utterance],
    val_set: list[Utterance],
    shape: lipshape.ShapeModel,
    run_dir: str | Path,
    about: dict | None = None,
    verbose: int = 1,
) -> Animator:
    """Fit an animator in a `lipnet.runs` run directory on the tracked mouths of `train_set`, choosing the epoch
    on `val_set`; returns its best epoch."""
    config.shape, config.student_sha1 = shape.fingerprint, sha1(env.ROOT / config.student)
    config.check()
    run_dir = runs.start(run_dir, config, about)
    return _fit(config, train_set, val_set, shape, run_dir, verbose)


def resume(
    run_dir: str | Path, train_set: list[Utterance], val_set: list[Utterance], shape: lipshape.ShapeModel, verbose=1
) -> Animator:
    """Continue an animator's run from its last completed epoch, optimizer state included."""
    run_dir = Path(run_dir)
    config, _ = runs.run_config(run_dir, AnimatorConfig, "an animator", kind=AnimatorConfig.kind)
    model, done = runs.resumable(run_dir)
    return _fit(config, train_set, val_set, shape, run_dir, verbose, model, done)


def _examples(
    config: AnimatorConfig, inputs: list[np.ndarray], utterances: list[Utterance], rng: np.random.Generator | None
):
    """The utterances' `Animator.inputs`, targets `lookahead` frames late (output t answers for frame t -
    lookahead) and per-frame weights (0 where no frame is answered); with `rng`, the autoregressive feedback
    noised."""
    xs, previous, ys, ws = [], [], [], []
    spread = np.sqrt(_variance(utterances)) * config.feedback_noise
    for x, u in zip(inputs, utterances):
        n = min(len(x) - config.lookahead, len(u.mouth.coefficients))
        y = np.zeros((n + config.lookahead, config.components), np.float32)
        y[config.lookahead :] = u.mouth.coefficients[:n, : config.components]
        w = np.zeros(n + config.lookahead, np.float32)
        w[config.lookahead :] = 1
        p = np.concatenate([np.zeros_like(y[:1]), y[:-1]])
        if rng is not None:
            p = p + rng.normal(size=p.shape).astype(np.float32) * spread
        xs.append(x[: n + config.lookahead])
        previous.append(p)
        ys.append(y)
        ws.append(w)
    x, y, w = lipsync.padded(xs, ys, ws)
    if config.network == "autoregressive":
        x = [x, lipsync.padded(previous, ys, ws)[0]]
    return x, y, w


def _variance(utterances: list[Utterance]) -> np.ndarray:
    return np.concatenate([u.mouth.coefficients for u in utterances]).var(0).astype(np.float32)


def _fit(config, train_set, val_set, shape, run_dir: Path, verbose: int, model=None, done=0) -> Animator:
    keras.utils.set_random_seed(config.seed + done)
    reader = student.load(env.ROOT / config.student)
    heard = Animator(config, model, reader).inputs  # the student's features: once a clip, they do not change
    inputs = [heard(u.samples) for u in val_set]
    data = _examples(
        config, [heard(u.samples) for u in train_set], train_set, np.random.default_rng(config.seed + done)
    )
    validation = _examples(config, inputs, val_set, None)
    if model is None:
        width = data[0][0].shape[-1] if config.network == "autoregressive" else data[0].shape[-1]
        model = network(config, width)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")

    def validate(net: keras.Model) -> dict:
        answers = Animator(config, net, reader).answers_of(inputs)
        scores = score_points([shape.decode(y) for y in answers], val_set, shape)
        return {"val_rmse": scores.rmse, "val_opening": scores.opening}

    runs.fit(
        model, data, run_dir, lambda path, net: Animator(config, net, reader).save(path), LOGBOOK,
        validation=validation, validate=validate, epochs=config.epochs, batch_size=config.batch_size,
        patience=env.ANIMATOR_PATIENCE, done=done, train_items=len(train_set), verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def load(path: str | Path) -> Animator:
    """An animator `Animator.save` wrote, with the student it reads. LipnetError naming the file when it is missing
    or not one."""
    config, network = runs.read_model(path, AnimatorConfig, "an animator")
    reader = env.ROOT / config.student
    if reader.is_file() and sha1(reader) != config.student_sha1:
        raise LipnetError(f"{path}: learnt the features of another {config.student} than the one there now: retrain it")
    return Animator(config, network, student.load(reader))


def stream(animator: Animator, chunks: Iterable[np.ndarray]) -> Iterator[Frame]:
    """Video frames of the mouth for sound arriving as an iterable of sample chunks (a microphone, a paced file)."""
    live = animator.stream()
    for chunk in chunks:
        yield from live.push(chunk)
    yield from live.end()


@dataclass
class Scores:
    """How predicted mouths match the tracked ones over a set of clips."""

    rmse: float  # landmark RMSE, mouth widths: the 20 points' distance from the tracked, root mean square
    opening: float  # Pearson correlation over time of the outer lip height (jawOpen's measure), mean over clips
    closures: float  # /p b m/ during which the lips close (`closed`), fraction; NaN without phones
    clips: int
    measures: dict[str, float] = field(default_factory=dict)  # the same correlation for every measure (`MEASURES`)


def score(model, utterances: list[Utterance], shape: lipshape.ShapeModel) -> Scores:
    """Score an `Animator` (or any callable: samples -> (frames, components) coefficients) on tracked clips."""
    predict = model.coefficients if isinstance(model, Animator) else model
    return score_points([shape.decode(predict(u.samples)) for u in utterances], utterances, shape)


def score_points(predicted: list[np.ndarray], utterances: list[Utterance], shape: lipshape.ShapeModel) -> Scores:
    """Score predicted (T, 20, 2) lip shapes against the tracked ones of the same clips."""
    squared, correlations, closed, bilabials = [], [], 0, 0
    for points, u in zip(predicted, utterances):
        n = min(len(points), len(u.mouth.points))
        points, tracked = points[:n], u.mouth.points[:n]
        squared.append((np.linalg.norm(points - tracked, axis=-1) ** 2).ravel())
        correlations.append(
            [_correlation(a, b) for a, b in zip(lipshape.measures(points).T, lipshape.measures(tracked).T)]
        )
        for first, last in bilabial_frames(u.phones, n):
            bilabials += 1
            closed += bool(closed_lips(points[first : last + 1], shape).any())
    per_measure = np.mean(correlations, axis=0)
    return Scores(
        float(np.sqrt(np.concatenate(squared).mean())),
        float(per_measure[lipshape.MEASURES.index("height")]),
        closed / bilabials if bilabials else float("nan"),
        len(utterances),
        {name: float(r) for name, r in zip(lipshape.MEASURES, per_measure)},
    )


def _correlation(predicted: np.ndarray, tracked: np.ndarray) -> float:
    """Pearson correlation of two series; 0 when either never moves (it follows nothing)."""
    if predicted.std() < 1e-9 or tracked.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(predicted, tracked)[0, 1])


def bilabial_frames(phones: list[Segment], frames: int) -> list[tuple[int, int]]:
    """(first, last) video frames of each /p b m/, give or take a frame (40 ms) of timing."""
    spans = []
    for p in phones:
        if p.label in BILABIALS:
            first = max(0, int(np.floor(p.start * env.FPS)))
            last = min(frames - 1, int(np.ceil(p.end * env.FPS)))
            if first <= last:
                spans.append((first, last))
    return spans


def closed_lips(points: np.ndarray, shape: lipshape.ShapeModel) -> np.ndarray:
    """(T,) whether the lips meet: the inner lip gap within the lowest `env.ANIMATION_CLOSED` of its range."""
    opening = lipshape.measures(points)[:, 1]
    low, high = shape.low[1], shape.high[1]
    return opening <= low + env.ANIMATION_CLOSED * (high - low)

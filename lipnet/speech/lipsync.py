"""Audio -> visemes: classifiers over MFCC frames that say which mouth shape each 10 ms of speech needs.

Three kinds, as the Viseme-Classification seed had and one more:

- ``svm``: an RBF support-vector machine (scikit-learn) on a context window of MFCC frames around each frame;
- ``dnn``: a Keras multi-layer perceptron on the same windows;
- ``sequence``: a Keras temporal CNN + bidirectional GRU over the whole utterance, a class for every frame.

Each learns one *class set*: ``phones`` (39 ARPAbet phones and silence, from which every viseme set follows by
adding up the phones' probabilities), a viseme set of `lipnet.visemes` (``ovr``, ``rhubarb``, ``neti``), or the
seed's subsets of OVR, ``ovr9`` (CH SS nn RR aa E ih oh ou) and ``vowels5`` (aa E ih oh ou), whose other frames
are left out of training and scoring. Features are normalised per utterance (cepstral mean and variance), and
training audio is speed-perturbed, band-limited and noised so that other voices and channels read alike.

Models are saved without pickle: scikit-learn ones with skops, Keras ones in Keras's own ``.keras`` format, each
with a ``.json`` beside it holding the `ModelConfig`.
"""

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from lipnet import audio, env, runs, visemes
from lipnet.errors import LipnetError
from lipnet.speech import align
from lipnet.speech.align import Segment
from lipnet.speech.corpus import Recording
from lipnet.storage import atomic_write, atomic_write_text
from lipnet.visemes import CLASS_SETS, SUBSETS, pooling, targets

KINDS = ("svm", "dnn", "sequence")
BALANCING = ("none", "weights", "downsample")


@dataclass
class ModelConfig:
    """What a viseme classifier is and how it was trained; saved beside its weights."""

    kind: str = "sequence"
    classes: str = "phones"
    balance: str = "none"  # "weights": inverse-frequency class weights; "downsample": every class cut to the rarest
    hop_ms: int = env.HOP_MS
    window_ms: int = env.WINDOW_MS
    context: int = 5  # frames each side of the classified one (svm, dnn)
    units: int = 128  # hidden width (dnn, sequence)
    epochs: int = 25  # at most (dnn, sequence): env.LIPSYNC_PATIENCE epochs without a better validation end it
    batch_size: int = 32
    learning_rate: float = 2e-3
    augment: list[float] = field(default_factory=lambda: [0.85, 0.92, 1.08, 1.15])  # speed factors of extra copies
    svm_frames: int = 20000  # training frames the SVM sees (it is quadratic in them)
    svm_c: float = 8.0  # the SVM's C and RBF γ: chosen on validation by `train` from env.SVM_*_GRID
    svm_gamma: float = 0.0
    seed: int = 0

    def check(self) -> "ModelConfig":
        if self.kind not in KINDS:
            raise LipnetError(f"unknown classifier kind {self.kind!r}: choose from {', '.join(KINDS)}")
        if self.classes not in CLASS_SETS:
            raise LipnetError(f"unknown class set {self.classes!r}: choose from {', '.join(CLASS_SETS)}")
        if self.balance not in BALANCING:
            raise LipnetError(f"unknown balancing {self.balance!r}: choose from {', '.join(BALANCING)}")
        audio.hop_length(self.hop_ms)
        return self


def clip_targets(clip: Recording, classes: str, hop_ms: int = env.HOP_MS) -> np.ndarray:
    """A clip's frame targets (`targets`), from its phones or, for a clip labelled with OVR visemes, from those."""
    if clip.phones or not clip.visemes:
        return targets(clip.frame_phones(hop_ms), classes)
    if classes not in ("ovr", *SUBSETS):
        raise LipnetError(
            f"{clip.key}: labelled with OVR visemes, which give ovr, ovr9 or vowels5 classes, not {classes}"
        )
    n = audio.frame_count(len(clip.samples), hop_ms)
    ovr = visemes.frame_visemes(clip.visemes, 1000 / hop_ms, n, "ovr")
    index = {name: i for i, name in enumerate(CLASS_SETS[classes])}
    lookup = np.array([index.get(name, -1) for name in visemes.classes("ovr")], dtype=np.int64)
    return lookup[ovr]


def features(samples: np.ndarray, config: ModelConfig, warp: float = 1.0) -> np.ndarray:
    """(frames, 39) MFCC + Δ + ΔΔ, each coefficient normalised to zero mean and unit variance over the utterance;
    `warp`: heard through a vocal tract that much shorter or longer (`audio.vtlp`)."""
    x = audio.mfcc(samples, config.hop_ms, config.window_ms, warp=warp)
    return (x - x.mean(0)) / (x.std(0) + 1e-5)


def windows(x: np.ndarray, context: int) -> np.ndarray:
    """(frames, (2 context + 1) dims): each frame with its neighbours, the edges repeated."""
    padded = np.pad(x, ((context, context), (0, 0)), mode="edge")
    return np.concatenate([padded[i : i + len(x)] for i in range(2 * context + 1)], axis=1)


def perturbed(clip: Recording, factor: float, rng: np.random.Generator) -> Recording:
    """The clip played `factor` times faster (formants and pitch scale with it, like another vocal tract),
    through a random telephone-to-full band and at a random noise level; its phone times scaled to match."""
    import scipy.signal
    import soxr

    samples = clip.samples if factor == 1 else soxr.resample(clip.samples, env.SAMPLE_RATE * factor, env.SAMPLE_RATE)
    cutoff = rng.uniform(3400, 7900)
    samples = scipy.signal.sosfilt(scipy.signal.butter(8, cutoff, fs=env.SAMPLE_RATE, output="sos"), samples)
    level = np.sqrt(np.mean(samples**2)) * 10 ** (-rng.uniform(15, 45) / 20)
    samples = (samples + rng.normal(0, level, len(samples))).astype(np.float32)
    phones, shapes = (
        [s._replace(start=s.start / factor, end=s.end / factor) for s in x] for x in (clip.phones, clip.visemes)
    )
    return Recording(clip.clip, samples, phones, shapes)


class VisemeModel:
    """A trained classifier: samples in, per-frame class probabilities out."""

    def __init__(self, config: ModelConfig, estimator):
        self.config, self.estimator = config, estimator

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASS_SETS[self.config.classes]

    def probabilities(self, samples: np.ndarray, warp: float = 1.0) -> np.ndarray:
        """(frames, classes) probabilities of each 10 ms frame (the configured hop); `warp`: the voice heard through
        a warped vocal tract (`features`)."""
        return self.probabilities_of(features(samples, self.config, warp))

    def probabilities_of(self, x: np.ndarray) -> np.ndarray:
        """Probabilities from normalised features (`features`)."""
        if self.config.kind == "svm":
            scores = self.estimator.decision_function(windows(x, self.config.context))
            if scores.ndim == 1:  # two classes: one score, for the second
                scores = np.stack([-scores, scores], axis=1)
            # a column per class the SVM saw in training; a class it never saw gets none: never predicted
            full = np.full((len(scores), len(self.classes)), -np.inf, dtype=np.float64)
            full[:, self.estimator.classes_] = scores
            return _softmax(full)  # the SVM's one-vs-rest scores squashed: a ranking, not calibrated
        inputs = windows(x, self.config.context) if self.config.kind == "dnn" else x[None]
        # predict_on_batch runs the compiled graph: 60x faster than an eager call, and it does not retrace for
        # every new clip length on TensorFlow
        logits = np.asarray(self.estimator.predict_on_batch(inputs))
        return _softmax(logits.reshape(-1, len(self.classes)))

    def visemes(self, samples: np.ndarray, viseme_set: str = "ovr") -> np.ndarray:
        """(frames, visemes) probabilities in a viseme set (a phones model serves every set)."""
        return self.probabilities(samples) @ pooling(self.config.classes, viseme_set)

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.skops`` for svm, ``.keras`` otherwise) and its ``.json`` config, atomically."""
        path = Path(path)
        expected = ".skops" if self.config.kind == "svm" else ".keras"
        if path.suffix != expected:
            raise LipnetError(f"{path}: a {self.config.kind} model is saved as {expected}")
        if self.config.kind == "svm":
            import skops.io

            atomic_write(path, lambda f: f.write(skops.io.dumps(self.estimator)))
        else:
            import keras

            network = keras.models.clone_model(self.estimator)  # uncompiled: no optimizer state (2/3 of the file)
            network.set_weights(self.estimator.get_weights())
            runs.write_keras(path, network)
        atomic_write_text(path.with_suffix(".json"), json.dumps(asdict(self.config), indent=2))
        return path


def train(
    config: ModelConfig,
    train_clips: list[Recording],
    val_clips: list[Recording],
    run_dir: str | Path | None = None,
    about: dict | None = None,
    verbose: int = 1,
) -> VisemeModel:
    """Fit a classifier on `train_clips` and perturbed copies of them. Keras models train in a `lipnet.runs` run
    directory (`run_dir`, else a temporary one) and come back as their best validation epoch; `about` (where the
    data came from) is kept in its ``config.json`` beside the `ModelConfig`."""
    config.check()
    if config.kind == "svm":
        rng = np.random.default_rng(config.seed)
        return VisemeModel(config, _fit_svm(config, *_data(config, train_clips, val_clips, rng), rng))
    if run_dir is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return train(config, train_clips, val_clips, tmp, about, verbose)
    run_dir = runs.start(run_dir, config, about)
    return _fit_keras(config, *_data(config, train_clips, val_clips), run_dir, verbose)


def resume(
    run_dir: str | Path, train_clips: list[Recording], val_clips: list[Recording], verbose: int = 1
) -> VisemeModel:
    """Continue a Keras model's run from its last completed epoch, optimizer state included."""
    run_dir = Path(run_dir)
    config = run_config(run_dir)[0]
    model, done = runs.resumable(run_dir)
    return _fit_keras(config, *_data(config, train_clips, val_clips), run_dir, verbose, model, done)


def run_config(run_dir: str | Path) -> tuple[ModelConfig, dict]:
    """The `ModelConfig` of a run directory and what it says of its data."""
    return runs.run_config(run_dir, ModelConfig, "a lip-sync classifier")


def _data(
    config: ModelConfig,
    train_clips: list[Recording],
    val_clips: list[Recording],
    rng: np.random.Generator | None = None,
):
    """Training examples (the clips and their perturbed copies, the same on every call for a fresh `rng`) with
    balancing weights, and validation examples."""
    rng = rng or np.random.default_rng(config.seed)
    copies = train_clips + [perturbed(c, f, rng) for f in config.augment for c in train_clips]
    train_x, train_y = _examples(copies, config)
    val_x, val_y = _examples(val_clips, config)
    weights = _balanced(train_y, config.balance, len(CLASS_SETS[config.classes]), rng)
    return train_x, train_y, weights, val_x, val_y


def _examples(clips: list[Recording], config: ModelConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per clip: normalised features and their class indices (-1: not a frame of the class set)."""
    xs, ys = [], []
    for clip in clips:
        x = features(clip.samples, config)
        xs.append(x)
        ys.append(clip_targets(clip, config.classes, config.hop_ms)[: len(x)])
    return xs, ys


def _balanced(ys: list[np.ndarray], balance: str, n_classes: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per-frame training weights: 0 for frames outside the class set; then, corpus-wide, inverse-frequency class
    weights (``weights``) or every class's frames cut at random to the rarest class's count (``downsample``)."""
    weights = [(y >= 0).astype(np.float32) for y in ys]
    flat = np.concatenate(ys)
    counts = np.bincount(flat[flat >= 0], minlength=n_classes).astype(np.float64)
    if balance == "weights":
        per_class = np.where(counts > 0, counts.sum() / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0)
        return [w * per_class[np.maximum(y, 0)].astype(np.float32) for y, w in zip(ys, weights)]
    if balance == "downsample":
        keep_fraction = counts[counts > 0].min() / np.maximum(counts, 1)
        return [w * (rng.random(len(y)) < keep_fraction[np.maximum(y, 0)]) for y, w in zip(ys, weights)]
    return weights


def _fit_svm(config: ModelConfig, xs, ys, weights, val_x, val_y, rng: np.random.Generator):
    """An RBF SVM on at most `config.svm_frames` training frames drawn with the balancing weights as odds; C and γ
    are chosen on a fifth of that many frames by validation accuracy (recorded in `config`)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x = np.concatenate([windows(x, config.context) for x in xs])
    y, w = np.concatenate(ys), np.concatenate(weights).astype(np.float64)
    vx = np.concatenate([windows(x, config.context) for x in val_x])
    vy = np.concatenate(val_y)
    labelled = np.flatnonzero(vy >= 0)
    val = rng.choice(labelled, size=min(len(labelled), config.svm_frames // 4), replace=False)

    def fit(frames: int, c: float, gamma: float):
        chosen = rng.choice(len(y), size=min(frames, np.count_nonzero(w)), replace=False, p=w / w.sum())
        return make_pipeline(StandardScaler(), SVC(C=c, gamma=gamma, kernel="rbf")).fit(x[chosen], y[chosen])

    scale = 1.0 / x.shape[1]  # scikit-learn's "scale" on standardised inputs
    grid = [(c, g * scale) for c in env.SVM_C_GRID for g in env.SVM_GAMMA_GRID]
    accuracy = {cg: float(np.mean(fit(config.svm_frames // 5, *cg).predict(vx[val]) == vy[val])) for cg in grid}
    config.svm_c, config.svm_gamma = max(accuracy, key=accuracy.get)
    return fit(config.svm_frames, config.svm_c, config.svm_gamma)


LOGBOOK = runs.Logbook(
    fields=("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "clips_per_s", "seconds"),
    curves=(
        ("Loss", "cross-entropy", ("loss", "val_loss"), True),
        ("Frame accuracy", "%", ("accuracy", "val_accuracy"), False),
    ),
    monitor="val_accuracy",
    mode="max",
    describe="epoch {epoch}: loss {loss:.3f} val_loss {val_loss:.3f} frame accuracy {accuracy:.1%}, validation "
    "{val_accuracy:.1%}".format_map,
)


def _fit_keras(config: ModelConfig, xs, ys, weights, val_x, val_y, run_dir: Path, verbose: int, model=None, done=0):
    """Fit (or go on fitting, from epoch `done`) a Keras classifier in a run directory; returns its best epoch."""
    import keras

    from lipnet.speech import teacher

    keras.utils.set_random_seed(config.seed + done)
    n_classes = len(CLASS_SETS[config.classes])
    if config.kind == "dnn":
        x = np.concatenate([windows(x, config.context) for x in xs])
        y, w = np.concatenate(ys), np.concatenate(weights)
        vx = np.concatenate([windows(x, config.context) for x in val_x])
        vy = np.concatenate(val_y)
        batch = config.batch_size * 16  # frames, not clips
    else:
        x, y, w = padded(xs, ys, weights)
        vx, vy, _ = padded(val_x, val_y, [(v >= 0).astype(np.float32) for v in val_y])
        batch = config.batch_size
    if model is None:
        model = (
            _dnn(x.shape[1], n_classes, config.units)
            if config.kind == "dnn"
            else teacher.network(x.shape[2], n_classes, config.units)
        )
        model.compile(
            optimizer=keras.optimizers.Adam(config.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=["accuracy"],
        )

    runs.fit(
        model, (x, np.maximum(y, 0), w), run_dir, lambda path, network: VisemeModel(config, network).save(path),
        LOGBOOK, validation=(vx, np.maximum(vy, 0), (vy >= 0).astype(np.float32)), epochs=config.epochs, batch_size=batch,
        patience=env.LIPSYNC_PATIENCE, done=done, train_items=len(xs), verbose=verbose,
    )  # fmt: skip
    return load(run_dir / "best.keras")


def padded(xs, ys, ws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Utterances padded to the longest, (utterances, frames, ...) arrays, padding weighted 0 and labelled -1."""
    n = max(len(x) for x in xs)
    x = np.zeros((len(xs), n, *xs[0].shape[1:]), np.float32)
    y = np.full((len(xs), n, *ys[0].shape[1:]), -1, ys[0].dtype)
    w = np.zeros((len(xs), n), np.float32)
    for i, (a, b, c) in enumerate(zip(xs, ys, ws)):
        x[i, : len(a)], y[i, : len(b)], w[i, : len(c)] = a, b, c
    return x, y, w


def _dnn(inputs: int, classes: int, units: int):
    import keras

    return keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(2 * units, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(2 * units, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(classes),
        ]
    )


@dataclass
class Scores:
    """Frame-level scores of a viseme set on labelled clips."""

    accuracy: float  # all frames
    speech_accuracy: float  # frames whose reference is not silence
    balanced_accuracy: float  # mean recall over the classes present
    f1: dict[str, float]
    confusion: np.ndarray  # (reference, predicted) counts
    classes: tuple[str, ...]
    frames: int


def score(reference: np.ndarray, predicted: np.ndarray, classes: tuple[str, ...], silence: int | None = 0) -> Scores:
    """Scores of predicted class indices against reference ones (frames with reference -1 are left out)."""
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score

    keep = reference >= 0
    reference, predicted = reference[keep], predicted[keep]
    labels = np.arange(len(classes))
    speech = reference != silence if silence is not None else np.ones_like(reference, bool)
    f1 = f1_score(reference, predicted, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, reference)
    return Scores(
        accuracy=float(np.mean(reference == predicted)),
        speech_accuracy=float(np.mean(reference[speech] == predicted[speech])),
        balanced_accuracy=_quietly(balanced_accuracy_score, reference, predicted),
        f1={c: float(v) for c, v, p in zip(classes, f1, present) if p},
        confusion=confusion_matrix(reference, predicted, labels=labels),
        classes=classes,
        frames=int(len(reference)),
    )


def _quietly(metric, reference: np.ndarray, predicted: np.ndarray) -> float:
    """A scikit-learn metric without its warning that some predicted class never occurs in the reference."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true", UserWarning)
        return float(metric(reference, predicted))


def evaluate(model: VisemeModel, clips: list[Recording], classes: str | None = None) -> Scores:
    """Frame scores of `model` on labelled clips, in its own class set or (a phones model) a viseme set's."""
    classes = classes or model.config.classes
    predicted = [model.visemes(clip.samples, classes).argmax(1) for clip in clips]
    return score_clips(predicted, clips, classes, model.config.hop_ms)


def score_clips(predicted: list[np.ndarray], clips: list[Recording], classes: str, hop_ms: int = env.HOP_MS) -> Scores:
    """Scores of per-clip predicted class indices (of any method) against the clips' labels, frame for frame."""
    refs = [clip_targets(clip, classes, hop_ms)[: len(p)] for clip, p in zip(clips, predicted)]
    preds = [p[: len(r)] for p, r in zip(predicted, refs)]
    silence = None if classes in SUBSETS else 0  # silence is class 0 of every full set
    return score(np.concatenate(refs), np.concatenate(preds), CLASS_SETS[classes], silence)


def load(path: str | Path) -> VisemeModel:
    """A model `VisemeModel.save` wrote. Raises LipnetError naming the file when it is missing or not one."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise LipnetError(f"{path}: no such model (a .keras or .skops file with its .json beside it)")
    try:
        config = ModelConfig(**json.loads(meta.read_text())).check()
    except (ValueError, TypeError) as err:
        raise LipnetError(f"{meta}: not a lipsync model configuration ({err})") from None
    try:
        if config.kind == "svm":
            import skops.io

            estimator = skops.io.load(path, trusted=_SKOPS_TRUSTED)
        else:
            import keras

            estimator = keras.saving.load_model(path, compile=False)
    except Exception as err:  # a damaged or foreign file: one line, naming it
        raise LipnetError(f"{path}: cannot load the model ({type(err).__name__}: {err})") from None
    return VisemeModel(config, estimator)


_SKOPS_TRUSTED = [
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.svm._classes.SVC",
]


def _softmax(z: np.ndarray) -> np.ndarray:
    import scipy.special

    return scipy.special.softmax(z, axis=-1).astype(np.float32)


@dataclass
class Timeline:
    """What was said when, in mouth shapes: per-frame probabilities of each viseme set, and the timed phones
    (and words, when the words were given) they came from."""

    duration: float  # seconds
    rate: float  # frames per second of `probabilities`
    probabilities: dict[str, np.ndarray]  # viseme set -> (frames, classes)
    phones: list[Segment]  # recognised (runs of a phones model's argmax) or aligned
    words: list[Segment]  # when the words were given
    aligned: bool  # True: forced-aligned to given words; False: recognised from the sound
    fit: float | None = None  # aligned by `align.guided` (the sound could not be aligned): how well the words fit
    _decoded: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # cues by their settings

    def cues(
        self, viseme_set: str = "ovr", min_duration: float = env.LIPSYNC_MIN_CUE, extended: str = "GHX"
    ) -> list[visemes.Cue]:
        """The viseme timeline decoded from the frame probabilities (`visemes.decoded_runs`), no cue shorter than
        `min_duration` but the last: a short closure the frames clearly hold is kept, a flicker is not. Rhubarb
        shapes are chosen among A-F and the `extended` ones (G, H, X) a rig has. Each cue names the phones and
        word said in it when they are known (aligned to given words, or recognised phones). Decoded once for each
        setting: the files written and the line printed share them."""
        key = (viseme_set, min_duration, extended if viseme_set == "rhubarb" else "")
        if key not in self._decoded:
            p = self.probabilities_of(viseme_set)
            if viseme_set == "rhubarb":
                p = visemes.fold_extended(p, extended)
            cues = visemes.cues_from_probabilities(p, self.rate, viseme_set, min_duration, env.LIPSYNC_SWITCH_COST)
            self._decoded[key] = visemes.annotated(cues, self.phones, self.words)
        return [replace(cue) for cue in self._decoded[key]]  # copies: a caller may change its own

    def probabilities_of(self, viseme_set: str) -> np.ndarray:
        """(frames, classes) probabilities in a viseme set; LipnetError when the model does not give that set."""
        if viseme_set not in self.probabilities:
            raise LipnetError(f"this model gives {', '.join(self.probabilities)} visemes, not {viseme_set!r}")
        return self.probabilities[viseme_set]


def timeline(samples: np.ndarray, model: VisemeModel | None = None, text: str | None = None) -> Timeline:
    """Visemes of mono 16 kHz samples: recognised by `model`, or, given the words said, from their forced alignment
    (then the probabilities are the aligned classes, one-hot, at 100 Hz). When the sound cannot be aligned to the
    words and `model` reads phones, the words are aligned to its phone posteriors instead (`align.guided`: Rhubarb's
    fallback with a dialog file), and the timeline's `fit` says how well they fit."""
    duration = len(samples) / env.SAMPLE_RATE
    if text is not None:
        fit = None
        try:
            result = align.align(samples, text)
        except LipnetError:
            if model is None or model.config.classes != "phones":
                raise
            result, fit = align.guided(model.probabilities(samples), text, 1000 / model.config.hop_ms)
        return aligned(result, fit)
    if model is None:
        raise ValueError("give a model to recognise visemes, or the words said")
    rate = 1000 / model.config.hop_ms
    scores = model.probabilities(samples)
    names = CLASS_SETS[model.config.classes]
    probabilities = {
        name: scores @ pooling(model.config.classes, name)
        for name in visemes.VISEME_SETS
        if model.config.classes in ("phones", name)
    }
    phones = _runs(scores, names, rate, duration) if model.config.classes == "phones" else []
    return Timeline(duration, rate, probabilities, phones, [], aligned=False)


def aligned(result: align.Alignment, fit: float | None = None) -> Timeline:
    """The timeline of words and phones aligned to a clip (to its sound, or to a recogniser's frame posteriors,
    of the sound or of the lips): each viseme set's classes one-hot at the audio frame rate, so the cues of every
    timeline come from the one decoder."""
    rate, n = 1000 / env.HOP_MS, audio.frame_count(round(result.duration * env.SAMPLE_RATE))
    frame_phones = visemes.frame_phones(result.phones, rate, n)
    probabilities = {name: _one_hot(targets(frame_phones, name), len(CLASS_SETS[name])) for name in visemes.VISEME_SETS}
    return Timeline(result.duration, rate, probabilities, result.phones, result.words, aligned=True, fit=fit)


def _one_hot(indices: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes, dtype=np.float32)[indices]


def _runs(probabilities: np.ndarray, names: tuple[str, ...], rate: float, duration: float) -> list[Segment]:
    """The most probable class of each frame, as timed segments no shorter than env.PHONE_MIN_DURATION (a frame-wise
    argmax flickers at boundaries, and every flicker would be a phone); frame i stands for [i, i + 1) / rate."""
    runs = visemes.smoothed_runs(probabilities.argmax(1), rate, env.PHONE_MIN_DURATION, probabilities)
    return [Segment(names[k], round(s / rate, 3), round(min(e / rate, duration), 3)) for s, e, k in runs]

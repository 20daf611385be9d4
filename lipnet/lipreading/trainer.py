"""Training: fit a LipNet on extracted crops with CTC, validate every epoch, and survive being killed.

The run directory is `lipnet.runs`'s: ``config.json`` (the run's settings and model configuration), ``last.hdf5``
(weights + optimizer state + epoch, rewritten atomically after every epoch), ``best.hdf5`` (weights with the
lowest validation CER), ``log.csv``, ``curves.png`` and ``tensorboard/``. ``resume(run_dir)`` continues from the
last completed epoch.

Auxiliary losses learn from each clip's sound beside CTC (`TrainConfig.aux_visemes`, `aux_phones`, `distill`):
per-frame heads on the BiGRU (`lipnet.lipreading.model.build`) read the viseme and phone of every frame (forced alignment)
and the audio teacher's phone posteriors (`dataset.frame_targets`). The checkpoints keep the heads' weights apart,
so ``best.hdf5`` reads like any other model.
"""

import contextlib
import functools
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import keras
import numpy as np

from lipnet import env, grid, metrics, runs, visemes
from lipnet.errors import LipnetError
from lipnet.lipreading import dataset, decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.storage import atomic_write_text, remove_partial

LOG_FIELDS = (
    "epoch",
    "loss",
    "val_loss",
    "val_cer",
    "val_wer",
    "val_sentence_accuracy",
    "learning_rate",
    "clips_per_s",
    "seconds",
)


@dataclass
class TrainConfig:
    """The settings of a training run; saved in the run directory so `resume` can rebuild it."""

    data_dir: str = str(env.DATA_DIR)
    align_dirs: list[str] = field(default_factory=list)
    split: str = "unseen"
    # files listing clips kept out of training and validation alike (a test set)
    exclude: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)  # restrict to these speakers (empty: all)
    epochs: int = env.EPOCHS
    batch_size: int = env.BATCH_SIZE
    learning_rate: float = env.LEARNING_RATE
    schedule: str = "constant"  # or "cosine": anneal to env.LR_FINAL_FRACTION of the rate over the run's epochs
    mixed_precision: bool = False
    seed: int = 0
    workers: int = 4
    frames: int = env.FRAME_COUNT
    weights: str | None = None  # start from these weights (fine-tuning) instead of random
    curriculum_epochs: int = 0  # for this many first epochs, half the clips are cut down to one word (needs .align)
    windows: float = 0.0  # probability of replacing a clip by a window across two clips of its speaker (needs .align)
    model: dict = field(default_factory=dict)  # ModelConfig overrides, e.g. {"gru_units": 32}
    devices: int = 1  # data-parallel over this many accelerators (or virtual CPU devices): each a share of a batch
    # auxiliary losses' weights beside CTC's (0: off): per-frame cross-entropy of OVR visemes and of phones from the
    # forced alignment, and of the audio teacher's phone posteriors (distillation, on the phone head); they need
    # the clips' source recordings, found under `source_dirs` (or beside the crops)
    aux_visemes: float = 0.0
    aux_phones: float = 0.0
    distill: float = 0.0
    source_dirs: list[str] = field(default_factory=list)

    def heads(self) -> dict[str, int]:
        """The auxiliary heads these weights need: name -> classes."""
        heads = {"visemes": len(visemes.CLASS_SETS["ovr"])} if self.aux_visemes else {}
        return heads | ({"phones": len(visemes.PHONES)} if self.aux_phones or self.distill else {})


def train(config: TrainConfig, run_dir: str | Path | None = None, verbose: int = 1) -> Path:
    """Start a new run in `run_dir` (default ``runs/<timestamp>``); returns the run directory."""
    run_dir = Path(run_dir or env.RUNS_DIR / datetime.now().strftime("%Y%m%d-%H%M%S"))
    if (run_dir / "last.hdf5").exists():
        raise LipnetError(f"{run_dir}: holds a run already; continue it with --resume {run_dir}")
    train_set, val_set = _samples(config)  # bad data fails before anything is written
    targets = _frame_targets(config, train_set + val_set, verbose)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    _policy(config)
    with _distributed(config):
        model, model_config = _new_model(config, train_set)
        _compile(model, _optimizer(config, len(train_set)), config)
    run = {"train": asdict(config), "model": asdict(model_config)}
    atomic_write_text(run_dir / "config.json", json.dumps(run, indent=2))
    atomic_write_text(run_dir / "split.txt", "".join(f"{s.key}\n" for s in val_set))
    return _fit(model, model_config, config, train_set, val_set, targets, run_dir, start_epoch=0, verbose=verbose)


def _new_model(config: TrainConfig, train_set: list[grid.Clip]) -> tuple[keras.Model, "lipnet_model.ModelConfig"]:
    """The model a new run starts from: the fine-tuned checkpoint's, or a fresh one normalised for `train_set`."""
    if config.weights:  # fine-tuning keeps the checkpoint's architecture and input normalisation
        source, source_config, _ = lipnet_model.load(config.weights)
        if source_config.rotate_input:  # trained on turned crops: the same network, turned to read upright ones
            source, source_config = lipnet_model.upright(source, source_config)
        model_config = lipnet_model.ModelConfig.from_dict({**asdict(source_config), **config.model})
        model = lipnet_model.build(model_config, seed=config.seed, heads=config.heads())
        _copy_weights(source, model, config.weights)
    else:
        mean, std = dataset.channel_stats(train_set, seed=config.seed)
        model_config = lipnet_model.ModelConfig.from_dict({**config.model, "mean": mean, "std": std})
        model = lipnet_model.build(model_config, seed=config.seed, heads=config.heads())
    return model, model_config


def resume(run_dir: str | Path, epochs: int | None = None, verbose: int = 1) -> Path:
    """Continue a run from its last completed epoch, with its optimizer state; `epochs` may raise the total."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise LipnetError(f"{run_dir}: not a run directory (no config.json)")
    remove_partial(run_dir)  # a kill during a checkpoint write leaves its temporary file
    saved = json.loads((run_dir / "config.json").read_text())
    config = TrainConfig(**saved["train"])
    if epochs:
        config.epochs = epochs
    train_set, val_set = _samples(config)
    targets = _frame_targets(config, train_set + val_set, verbose)
    _policy(config)
    with _distributed(config):
        if not (run_dir / "last.hdf5").exists():  # killed before the first epoch ended: start again, as it started
            (model, model_config), start = _new_model(config, train_set), 0
            _compile(model, _optimizer(config, len(train_set)), config)
        else:
            optimizer = _optimizer(config, len(train_set))
            model, model_config, extra = lipnet_model.load(
                run_dir / "last.hdf5", optimizer=optimizer, seed=config.seed, heads=config.heads()
            )
            _compile(model, optimizer, config)
            start = extra["epoch"]
    keras.utils.set_random_seed(config.seed + start)
    return _fit(model, model_config, config, train_set, val_set, targets, run_dir, start_epoch=start, verbose=verbose)


HEAD_LOGBOOK = runs.Logbook(
    fields=("epoch", "loss", "val_loss", "val_viseme_accuracy", "learning_rate", "clips_per_s", "seconds"),
    curves=(
        ("Loss", "cross-entropy per clip", ("loss", "val_loss"), True),
        ("Viseme head", "%", ("val_viseme_accuracy",), False),
    ),
    monitor="val_viseme_accuracy",
    mode="max",
    describe="epoch {epoch}: loss {loss:.2f} val_loss {val_loss:.2f} visemes {val_viseme_accuracy:.1%}".format_map,
)


def fit_heads(config: TrainConfig, run_dir: str | Path | None = None, verbose: int = 1) -> Path:
    """Give a trained lip reader (`config.weights`) frame heads without changing how it reads: its BiGRU features of
    every clip are computed once, then only the heads learn, from those features and the clips' sound
    (`_frame_targets`), for `config.epochs` epochs of seconds each, where a whole-model fine-tune takes minutes an
    epoch on a CPU. ``best.hdf5`` is the reader with the heads that read the validation clips' visemes best;
    reading times words on the phone head and sees silence with it (`reader.LipReader`)."""
    if not config.weights or not config.heads():
        raise LipnetError("--heads-only needs the weights of a trained lip reader (-w) and a head (--aux-*/--distill)")
    run_dir = Path(run_dir or env.RUNS_DIR / datetime.now().strftime("%Y%m%d-%H%M%S"))
    if (run_dir / "best.hdf5").exists():
        raise LipnetError(f"{run_dir}: holds a run already")
    train_set, val_set = _samples(config)
    if verbose:
        print(f"per-frame targets of {len(train_set) + len(val_set)} clips (cached beside the crops)...", flush=True)
    labels = {s: dataset.frame_targets(s, [Path(d) for d in config.align_dirs]) for s in train_set + val_set}
    targets = {s: _head_targets(t, config) for s, t in labels.items()}
    source, model_config, extra = lipnet_model.load(config.weights)
    reader = lipnet_model.build(model_config, heads=config.heads())
    _copy_weights(source, reader, config.weights)
    trunk = keras.Model(reader.input, reader.get_layer(lipnet_model.FEATURES).output)
    if verbose:
        print(f"BiGRU features of {len(train_set) + len(val_set)} clips...", flush=True)
    features = {
        s: keras.ops.convert_to_numpy(trunk.predict_on_batch(dataset.load_clip(s.crops, config.frames)[None]))[0]
        for s in train_set + val_set
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps({"train": asdict(config), "model": asdict(model_config)}))
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input((None, trunk.output.shape[-1]))
    outputs = {  # the reader's own head layers (`lipnet_model.build`): their weights are copied back one to one
        name: keras.layers.Dense(classes, kernel_initializer="zeros", name=f"{lipnet_model.HEAD_PREFIX}{name}")(inputs)
        * env.AUX_HEAD_SPEEDUP
        for name, classes in config.heads().items()
    }
    heads = keras.Model(inputs, outputs)

    def arrays(samples):
        x = np.stack([features[s] for s in samples])
        return x, {
            name: np.stack([dataset.fit_frames(targets[s][name], config.frames) for s in samples])
            for name in config.heads()
        }

    (x, y), (val_x, val_y) = arrays(train_set), arrays(val_set)
    heads.compile(
        keras.optimizers.Adam(config.learning_rate),
        loss={name: keras.losses.CategoricalCrossentropy(from_logits=True) for name in config.heads()},
    )

    def validate(model: keras.Model) -> dict:
        read = model.predict(val_x, verbose=0)
        if "visemes" in read:
            visemes_read = read["visemes"].argmax(-1)
        else:
            visemes_read = (decoding.softmax(read["phones"]) @ visemes.pooling("phones", "ovr")).argmax(-1)
        truth = np.stack([dataset.fit_frames(labels[s]["visemes"], config.frames) for s in val_set])
        return {"val_viseme_accuracy": float(np.mean(visemes_read == truth))}

    def save(path: Path, model: keras.Model, with_optimizer: bool, row: dict) -> None:
        for name in config.heads():
            layer = f"{lipnet_model.HEAD_PREFIX}{name}"
            reader.get_layer(layer).set_weights(model.get_layer(layer).get_weights())
        lipnet_model.save(path, reader, model_config, None, {**extra, **row, "heads": config.heads()})

    runs.fit(
        heads, (x, y, None), run_dir, None, HEAD_LOGBOOK, epochs=config.epochs, validation=(val_x, val_y),
        validate=validate, batch_size=config.batch_size, train_items=len(train_set), verbose=verbose, checkpoint=save,
        suffix=".hdf5",
    )  # fmt: skip
    return run_dir


def _samples(config: TrainConfig) -> tuple[list[grid.Clip], list[grid.Clip]]:
    sources = [Path(d) for d in config.source_dirs] if config.heads() else None
    samples = dataset.discover(config.data_dir, [Path(d) for d in config.align_dirs], sources)
    if config.speakers:
        samples = [s for s in samples if s.speaker in config.speakers]
        if not samples:
            raise LipnetError(f"{config.data_dir}: no clips of speakers {', '.join(config.speakers)}")
    for path in config.exclude:
        excluded = grid.read_list(path)
        samples = [s for s in samples if s.key not in excluded]
    return dataset.split(samples, config.split, seed=config.seed)


def _distributed(config: TrainConfig) -> contextlib.AbstractContextManager:
    """Data parallelism over `config.devices` devices, to enter while the model is built and compiled: every
    device runs the model on its share of each batch and the gradients are averaged, so the run learns as on one
    device with the same (global) batch. JAX: Keras's own `DataParallel` distribution; TensorFlow: a
    `tf.distribute.MirroredStrategy`. Several hosts: see the README."""
    if config.devices == 1:
        return contextlib.nullcontext()
    if config.devices < 1 or config.batch_size % config.devices:
        raise LipnetError(f"--devices {config.devices} must be at least 1 and divide the batch ({config.batch_size})")
    backend = keras.backend.backend()
    if backend == "jax":
        if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:  # several hosts: join them first
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
        _enough(devices, config.devices, "XLA_FLAGS=--xla_force_host_platform_device_count=N")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[: config.devices]))
        return contextlib.nullcontext()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
        _enough(devices, config.devices, "tf.config.set_logical_device_configuration")
        return tf.distribute.MirroredStrategy(devices[: config.devices]).scope()
    raise LipnetError(f"--devices needs the JAX or TensorFlow backend (KERAS_BACKEND), not {backend}")


def _enough(devices: list, wanted: int, virtual: str) -> None:
    if len(devices) < wanted:
        raise LipnetError(
            f"--devices {wanted}: Keras sees {len(devices)} device(s) ({', '.join(map(str, devices))}); "
            f"on a CPU, split it into virtual devices with {virtual}"
        )


def _policy(config: TrainConfig) -> None:
    keras.config.set_dtype_policy("mixed_bfloat16" if config.mixed_precision else "float32")


def _optimizer(config: TrainConfig, train_clips: int) -> keras.optimizers.Optimizer:
    """Adam with gradient clipping, at the run's learning rate (`runs.learning_rate`)."""
    steps = config.epochs * dataset.batches_per_epoch(train_clips, config.batch_size)
    return keras.optimizers.Adam(runs.learning_rate(config.learning_rate, config.schedule, steps), clipnorm=5.0)


def _compile(model: keras.Model, optimizer: keras.optimizers.Optimizer, config: TrainConfig) -> None:
    """CTC on the logits; each auxiliary head's `frame_loss` at its weight (distillation and phones share the phone
    head: their targets are mixed in proportion, `_head_targets`, so one cross-entropy is both)."""
    if not config.heads():
        model.compile(optimizer=optimizer, loss=lipnet_model.ctc_loss)
        return
    weights = {"logits": 1.0, "visemes": config.aux_visemes, "phones": config.aux_phones + config.distill}
    losses = {name: lipnet_model.frame_loss for name in config.heads()}
    model.compile(
        optimizer=optimizer,
        loss={"logits": lipnet_model.ctc_loss, **losses},
        loss_weights={name: weights[name] for name in ("logits", *losses)},
    )


def _copy_weights(source: keras.Model, target: keras.Model, path: str) -> None:
    weights, _ = lipnet_model.head_weights(target)  # auxiliary heads start afresh
    if [tuple(w.shape) for w in source.weights] != [tuple(w.shape) for w in weights]:
        raise LipnetError(
            f"{path}: --model overrides change the architecture of these weights; only augmentation may change"
        )
    for t, w in zip(weights, source.weights):
        t.assign(w)


def _frame_targets(config: TrainConfig, samples: list[grid.Clip], verbose: int) -> dict:
    """Each clip's targets for the model's auxiliary heads (`_head_targets`), computed (or read from their cache)
    before training starts, so a clip without sound or labels stops the run at once, naming it."""
    if not config.heads():
        return {}
    if verbose:
        print(f"per-frame targets of {len(samples)} clips (cached beside the crops)...", flush=True)
    align_dirs = [Path(d) for d in config.align_dirs]
    return {s: _head_targets(dataset.frame_targets(s, align_dirs), config) for s in samples}


def _head_targets(targets: dict[str, np.ndarray], config: TrainConfig) -> dict[str, np.ndarray]:
    """(T, classes) float32 target distributions per head: one-hot visemes; on the phone head, the aligned phones
    and the teacher's posteriors mixed by their weights (cross-entropy being linear in its target, the mixture's at
    the summed weight is the weighted sum of both)."""
    heads = config.heads()
    out = {}
    if "visemes" in heads:
        out["visemes"] = np.eye(heads["visemes"], dtype=np.float32)[targets["visemes"]]
    if "phones" in heads:
        phones = np.eye(heads["phones"], dtype=np.float32)[targets["phones"]]
        mix = (config.aux_phones * phones + config.distill * targets["teacher"]) / (config.aux_phones + config.distill)
        out["phones"] = mix.astype(np.float32)
    return out


def _fit(
    model, model_config, config, train_set, val_set, targets: dict, run_dir: Path, start_epoch: int, verbose: int
) -> Path:
    if (config.curriculum_epochs or config.windows) and not any(s.words for s in train_set):
        raise LipnetError("--curriculum and --windows need word timings: give the .align files with -a")
    shared = {"frames": config.frames, "workers": config.workers, "multiple": config.devices, "targets": targets}
    batches = dataset.Batches(
        train_set,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        curriculum_epochs=config.curriculum_epochs,
        window_probability=config.windows,
        **shared,
    )
    batches.set_epoch(start_epoch)
    validation = dataset.Batches(val_set, config.batch_size, shuffle=False, **shared)
    # models trained on GRID sentences only decode with the GRID grammar by default (see reader.LipReader)
    grammar = "grid" if all(grid.is_sentence(s.text) for s in train_set + val_set) else None
    visemes = None  # the viseme head is scored on the validation clips' frames as the model sees them
    if "visemes" in config.heads():
        visemes = np.stack([dataset.fit_frames(targets[s]["visemes"], config.frames).argmax(-1) for s in val_set])
    if verbose:
        print(
            f"{len(train_set)} training clips, {len(val_set)} validation clips, {model.count_params():,} parameters, "
            f"backend {keras.backend.backend()}"
            f"{f' data-parallel on {config.devices} devices' if config.devices > 1 else ''}, run directory {run_dir}"
        )
    runs.fit(
        model, batches, run_dir, None, _logbook(config), epochs=config.epochs,
        validate=functools.partial(_validate, val_set=val_set, validation=validation, visemes=visemes),
        done=start_epoch, train_items=len(train_set), verbose=verbose,
        checkpoint=functools.partial(_save, model_config=model_config, grammar=grammar, heads=config.heads()),
        suffix=".hdf5", progress=1 if verbose and sys.stdout.isatty() else 0,  # off a terminal, a line an epoch
    )  # fmt: skip
    return run_dir


def _logbook(config: TrainConfig) -> runs.Logbook:
    """What a lip reader's run logs: LOG_FIELDS and CURVES; with auxiliary heads also each output's loss as Keras
    logs it (``<output>_loss``, unweighted; ``logits_loss`` is CTC's, ``loss`` their weighted sum) and the viseme
    head's validation accuracy. The best epoch is the one of least validation CER."""
    heads = config.heads()
    fields, curves = LOG_FIELDS, CURVES
    if heads:
        fields = (*LOG_FIELDS, "logits_loss", *(f"{h}_loss" for h in heads))
        fields += ("val_viseme_accuracy",) if "visemes" in heads else ()
        curves = CURVES + AUX_CURVES
    return runs.Logbook(fields, curves, monitor="val_cer", mode="min", describe=_describe)


def evaluate_logits(logits: np.ndarray, texts: list[str]) -> metrics.Scores:
    """Corpus scores of greedy decoding of a batch of logits against reference sentences."""
    probs = decoding.softmax(logits)
    return metrics.score(texts, [decoding.greedy(p) for p in probs])


CURVES = (
    ("Loss", "CTC loss", ("loss", "val_loss"), True),
    ("Validation error (greedy)", "%", ("val_cer", "val_wer"), False),
)
#: with auxiliary heads, ``loss`` is CTC's plus theirs (weighted): each is drawn on its own
AUX_CURVES = (
    ("Losses, auxiliary heads", "loss per clip", ("logits_loss", "visemes_loss", "phones_loss"), True),
    ("Viseme head", "%", ("val_viseme_accuracy",), False),
)


def _validate(
    model: keras.Model, val_set: list[grid.Clip], validation: dataset.Batches, visemes: np.ndarray | None
) -> dict:
    """Greedy CER/WER, sentence accuracy and CTC loss of the validation clips; with a viseme head and the clips'
    viseme per frame (`visemes`), the fraction of frames it reads right."""
    outputs = model.predict(validation, verbose=0)
    logits = (outputs["logits"] if isinstance(outputs, dict) else outputs)[
        : len(val_set)
    ]  # less a partial batch's padding
    scores = evaluate_logits(logits, [s.text for s in val_set])
    figures = {
        "val_loss": _val_loss(logits, val_set),
        "val_cer": scores.cer,
        "val_wer": scores.wer,
        "val_sentence_accuracy": scores.accuracy,
    }
    if visemes is not None:
        read = outputs["visemes"][: len(val_set), :, :-1].argmax(-1)  # the last channel is the frame index
        figures["val_viseme_accuracy"] = float(np.mean(read == visemes))
    return figures


def _save(path: Path, model: keras.Model, with_optimizer: bool, extra: dict, model_config, grammar, heads) -> None:
    """A checkpoint that names its decoding grammar and its frame heads (name -> classes), which reading uses."""
    optimizer = model.optimizer if with_optimizer else None
    lipnet_model.save(path, model, model_config, optimizer, {**extra, "grammar": grammar, "heads": heads})


def _describe(row: dict) -> str:
    visemes = f" visemes {row['val_viseme_accuracy']:.1%}" if row.get("val_viseme_accuracy") is not None else ""
    return (
        f"epoch {row['epoch']}: loss {row['loss']:.3f} val_loss {row['val_loss']:.3f} "
        f"val CER {row['val_cer']:.2%} WER {row['val_wer']:.2%}{visemes} ({_speed(row['clips_per_s'])} clips/s)"
    )


def _speed(clips_per_s: float) -> str:
    return f"{clips_per_s:.0f}" if clips_per_s >= 10 else f"{clips_per_s:.2f}"


def _val_loss(logits: np.ndarray, samples: list[grid.Clip]) -> float:
    y = dataset.labels([s.text for s in samples])
    return float(np.mean(keras.ops.convert_to_numpy(lipnet_model.ctc_loss(y, logits))))

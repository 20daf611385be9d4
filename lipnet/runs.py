"""Training runs: the one run directory every trained model of lipnet writes, whatever the model.

A run directory holds ``config.json`` (written by the trainer), ``last.<ext>`` (rewritten atomically after every
epoch, with what resuming needs), ``best.<ext>`` (the epoch best by the monitored figure), ``log.csv`` (a row an
epoch), ``curves.png`` and ``tensorboard/``. `Epochs` is the Keras callback that keeps all of it; each model
family gives it how to validate and how to save a checkpoint. A kill at any moment leaves the previous epoch's
files whole: everything goes through `lipnet.storage`'s atomic writes.
"""

import csv
import dataclasses
import importlib.util
import io
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras

from lipnet import env
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write, atomic_write_text, remove_partial

#: save(path, model, with_optimizer, extra): write a checkpoint of `model` (and its optimizer state if asked)
Save = Callable[[Path, keras.Model, bool, dict], None]


@dataclasses.dataclass(frozen=True)
class Logbook:
    """What a model family's runs record: the log's columns (`fields`), the panels of ``curves.png`` ((title, y label,
    fields, log scale) each), the figure whose best epoch is kept (`monitor`, best when `mode` is "min" or "max") and
    the line printed after each epoch (`describe(row)`; a format string's ``format_map`` serves)."""

    fields: tuple[str, ...]
    curves: tuple[tuple[str, str, tuple[str, ...], bool], ...]
    monitor: str
    mode: str
    describe: Callable[[dict], str]


class Epochs(keras.callbacks.Callback):
    """After every epoch: validate, log a row, checkpoint last and best, redraw the curves, print a line.

    `validate(model)` returns the epoch's validation figures (``val_...``); with Keras's own epoch logs (``loss``,
    and ``val_loss`` when fit validates) they make the row, in the `book`'s field order. The best epoch by its
    monitored figure is kept in ``best<suffix>``; nothing is printed when `verbose` is 0.
    """

    def __init__(
        self,
        run_dir: Path,
        book: Logbook,
        save: Save,
        suffix: str,
        validate: Callable[[keras.Model], dict] = lambda model: {},
        start_epoch: int = 0,
        train_items: int = 0,  # clips (or utterances) an epoch, for the log's clips_per_s
        verbose: int = 1,
    ):
        super().__init__()
        self.run_dir, self.book, self.save, self.suffix = run_dir, book, save, suffix
        self.sign = 1 if book.mode == "min" else -1
        self.validate, self.verbose, self.train_items = validate, verbose, train_items
        self.rows = read_log(run_dir / "log.csv", start_epoch)
        finished = [self.sign * float(r[book.monitor]) for r in self.rows if r.get(book.monitor) not in (None, "")]
        self.best = min(finished, default=math.inf)
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        logs = logs if logs is not None else {}
        figures = {**logs, **self.validate(self.model)}
        row = {"epoch": epoch + 1, **figures, "learning_rate": current_rate(self.model.optimizer), "seconds": seconds}
        if self.train_items:
            row["clips_per_s"] = self.train_items / seconds
        row = {field: row.get(field) for field in self.book.fields}
        logs.update({k: v for k, v in figures.items() if k.startswith("val_")})
        self.rows.append(row)
        write_log(self.run_dir / "log.csv", self.rows, self.book.fields)
        extra = {"epoch": epoch + 1, **{k: v for k, v in row.items() if k.startswith("val_")}}
        self.save(self.run_dir / f"last{self.suffix}", self.model, True, extra)
        if self.sign * float(row[self.book.monitor]) < self.best:
            self.best = self.sign * float(row[self.book.monitor])
            self.save(self.run_dir / f"best{self.suffix}", self.model, False, extra)
        from lipnet import pictures  # matplotlib: only once an epoch has ended

        pictures.plot_curves(self.run_dir / "curves.png", self.rows, self.book.curves)
        if self.verbose:
            print(self.book.describe(row), flush=True)


def fit(
    model: keras.Model,
    data,
    run_dir: Path,
    save_best: Callable[[Path, keras.Model], None] | None,
    book: Logbook,
    *,
    epochs: int,
    validation: tuple | None = None,
    validate: Callable[[keras.Model], dict] = lambda model: {},
    batch_size: int | None = None,
    patience: int | None = None,
    done: int = 0,
    train_items: int = 0,
    verbose: int = 1,
    checkpoint: Save | None = None,
    suffix: str = ".keras",
    progress: int = 0,
) -> None:
    """Fit a compiled model in a run directory, from epoch `done`: `data` is (x, y, sample weight) arrays or a
    Keras dataset; validation is Keras's on `validation` data and/or `validate(model)`'s figures. `Epochs` keeps
    the log, curves and checkpoints `book` describes (``last.keras`` with its optimizer, for `resumable`;
    ``best.keras`` by its monitored figure, written by `save_best`), TensorBoard its logs, and `patience` epochs
    without a better figure end the run early. A family with its own checkpoint format gives `checkpoint`
    (``(path, model, with_optimizer, extra)``, as `Epochs` calls it) and its `suffix` instead of `save_best`;
    `progress` is Keras's progress bar (1) or none (0)."""

    def save(path: Path, network: keras.Model, with_optimizer: bool, extra: dict) -> None:
        if with_optimizer:  # what resuming needs: the compiled model, then the epoch it reached
            write_keras(path, network)
            atomic_write_text(path.with_suffix(".json"), json.dumps(extra))
        else:
            save_best(path, network)

    callbacks = [
        Epochs(run_dir, book, checkpoint or save, suffix, validate, done, train_items, verbose),
        *_tensorboard(run_dir, verbose),
    ]
    if patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(book.monitor, patience=patience, mode=book.mode))
    x, y, w = data if isinstance(data, tuple) else (data, None, None)
    model.fit(
        x,
        y,
        sample_weight=w,
        validation_data=validation,
        epochs=epochs,
        initial_epoch=done,
        batch_size=batch_size,
        callbacks=callbacks,
        verbose=progress,
    )


def learning_rate(rate: float, schedule: str, steps: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The learning rate of a run of `steps` optimizer steps: constant, or (``cosine``) annealed to
    env.LR_FINAL_FRACTION of it. The schedule follows the optimizer's step count, so a resumed run (its step count
    restored) continues on the same curve."""
    if schedule not in env.LR_SCHEDULES:
        raise LipnetError(f"unknown learning-rate schedule {schedule!r}: choose from {', '.join(env.LR_SCHEDULES)}")
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, steps, alpha=env.LR_FINAL_FRACTION)
    return rate


def resumable(run_dir: Path) -> tuple[keras.Model | None, int]:
    """The compiled model of a run's last completed epoch and that epoch's number; (None, 0) when it was killed
    before finishing one. Clears what a kill during a checkpoint write left behind."""
    remove_partial(run_dir)
    if not (run_dir / "last.json").is_file():
        return None, 0
    return keras.saving.load_model(run_dir / "last.keras"), json.loads((run_dir / "last.json").read_text())["epoch"]


def write_keras(path: Path, network: keras.Model) -> None:
    """Save a Keras model in its own format (``.keras``), atomically (Keras itself saves to file names only)."""
    import tempfile

    def write(f) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            network.save(Path(tmp) / f"model{path.suffix}")
            f.write((Path(tmp) / f"model{path.suffix}").read_bytes())

    atomic_write(path, write)


def write_model(path: str | Path, network: keras.Model, config, what: str) -> Path:
    """Save a trained `network` as ``path`` (``.keras``, without optimizer state) and its `config` (a dataclass) as
    the ``.json`` beside it, each atomically: what `read_model` reads. `what` names the model in errors."""
    path = Path(path)
    if path.suffix != ".keras":
        raise LipnetError(f"{path}: {what} is saved as a .keras file")
    bare = keras.models.clone_model(network)  # uncompiled: no optimizer state
    bare.set_weights(network.get_weights())
    write_keras(path, bare)
    atomic_write_text(path.with_suffix(".json"), json.dumps(dataclasses.asdict(config), indent=2))
    return path


def start(run_dir: str | Path, config, about: dict | None = None) -> Path:
    """Begin a run in `run_dir`: the folder made, its ``config.json`` written (the model's `config`, a dataclass, and
    what `about` says of its data), what `run_config` reads back on --resume. LipnetError when the folder holds a
    run already (it is resumed, not overwritten)."""
    run_dir = Path(run_dir)
    if (run_dir / "last.keras").exists():
        raise LipnetError(f"{run_dir}: holds a run already; continue it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = {"model": dataclasses.asdict(config), "data": about or {}}
    atomic_write_text(run_dir / "config.json", json.dumps(saved, indent=2))
    return run_dir


def run_config(run_dir: str | Path, config_type: type, what: str, kind: str | None = None) -> tuple:
    """(configuration, what it says of its data) of a run directory: its ``config.json``, whose ``model`` is a
    `config_type` (a dataclass with ``check()``) of `kind` when given. LipnetError naming the folder when it is not
    `what`'s run."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise LipnetError(f"{run_dir}: not {what}'s run directory (no config.json)")
    saved = json.loads(path.read_text())
    model = saved.get("model", {})
    if kind is not None and model.get("kind") != kind:
        raise LipnetError(f"{run_dir}: not {what}'s run (a {model.get('kind')!r} run)")
    try:
        return config_type(**model).check(), saved.get("data", {})
    except (ValueError, TypeError) as err:
        raise LipnetError(f"{path}: not {what}'s configuration ({err})") from None


def read_model(path: str | Path, config_type: type, what: str) -> tuple:
    """(configuration, network) of a model `write_model` saved; `config_type` is its configuration's dataclass.

    LipnetError naming the file when either file is missing, the configuration is not `what`'s (another ``kind``,
    or a setting missing: a default standing in for a setting the model was trained without would make a silently
    wrong model) or the network does not load.
    """
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise LipnetError(f"{path}: no such model (a .keras file with its .json beside it)")
    try:
        saved = json.loads(meta.read_text())
        if saved.get("kind") != getattr(config_type, "kind", None):
            raise ValueError(f"its kind is {saved.get('kind')!r}")
        config = config_type(**saved).check()
    except (ValueError, TypeError, AttributeError) as err:
        raise LipnetError(f"{meta}: not {what}'s configuration ({err})") from None
    if missing := [f.name for f in dataclasses.fields(config_type) if f.name not in saved]:
        raise LipnetError(f"{meta}: written by an older lipnet, without {', '.join(missing)}: retrain it")
    try:
        network = keras.saving.load_model(path, compile=False)
    except Exception as err:  # a damaged or foreign file: one line, naming it
        raise LipnetError(f"{path}: cannot load the model ({type(err).__name__}: {err})") from None
    return config, network


def _tensorboard(run_dir: Path, verbose: int = 1) -> list[keras.callbacks.Callback]:
    """The TensorBoard callback writing ``<run_dir>/tensorboard`` (Keras writes summaries with TensorFlow), or none
    and a warning when TensorFlow or tensorboard is missing."""
    if all(importlib.util.find_spec(m) for m in ("tensorflow", "tensorboard")):
        return [keras.callbacks.TensorBoard(str(run_dir / "tensorboard"))]
    if verbose:
        print("warning: no TensorBoard logs (pip install tensorboard tensorflow to have them)", file=sys.stderr)
    return []


def current_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate now: the constant rate, or the schedule's value at the optimizer's step count."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def read_log(path: Path, before_epoch: int) -> list[dict]:
    """Log rows of epochs already checkpointed (a kill between log and checkpoint leaves a row to drop)."""
    if not path.exists():
        return []
    with path.open() as f:
        return [r for r in csv.DictReader(f) if int(r["epoch"]) <= before_epoch]


def write_log(path: Path, rows: list[dict], fields: tuple[str, ...]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())

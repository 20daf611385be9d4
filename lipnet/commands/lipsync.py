"""Lip-sync from sound: ``python lipsync.py speech.wav`` writes which mouth shape to show when (Rhubarb's job).

Any audio or video file, or a directory of them. By default a classifier recognises the mouth shapes from the sound
alone; with the words said (``--text``, ``--text-file``, or an ``.align``/``.lab`` file beside the clip: Rhubarb's
``--dialogFile``) the sound is force-aligned to them instead, which is more exact, and ``.words.tsv`` is written too.

Outputs, in ``-o DIR`` (default: the current directory), named after the clip:
  visemes  ``.visemes.json`` and ``.visemes.tsv``: the timeline in the ``--visemes`` set, as predict.py writes it
  rhubarb  Rhubarb Lip Sync's own files, in its shapes A-H and X: ``.rhubarb.tsv``, ``.rhubarb.json``,
           ``.rhubarb.xml`` and Moho's ``.dat`` (24 fps)
  npz      ``.visemes.npz``: per-frame probabilities of every viseme at 100 Hz (``probabilities``, ``classes``,
           ``times``), what OVRLipSync gives a game; ``csv`` writes the same as ``.visemes.csv``
  phones   ``.phones.tsv``: ``start end phone`` (seconds), ARPAbet, ``sil`` for silence
Cues are decoded from the frame probabilities (a Viterbi decoder with a cost per change of shape), none shorter than
``--min-duration`` (30 ms, chosen on validation clips: p/b/m closures are that short), so the timeline keeps the
model's accuracy and closes the mouth on the p/b/m it hears (bench/cues.py).

Live: ``python lipsync.py --live`` reads the default microphone (``--live DEVICE``: a device number or name;
``--live file.wav``: a file at the pace it plays) through the real-time student model and prints each change of
mouth shape as it happens, or every 10 ms frame with its probabilities as JSON lines (``--jsonl``).

Train your own classifier: ``python lipsync.py --train DIR -m mine.keras`` (see the README); ``--kind student``
distils the real-time student from a teacher (``--teacher``, default the shipped model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from lipnet import cli, env
from lipnet.errors import LipnetError

FORMATS = ("visemes", "rhubarb", "npz", "csv", "phones")
DEFAULT_FORMATS = ("visemes", "npz", "phones")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="audio or video files, or directories of them (searched recursively)")
    p.add_argument(
        "-m", "--model", help=f"classifier (default: {env.LIPSYNC_MODEL.name}; live: {env.LIPSYNC_STUDENT.name})"
    )
    p.add_argument("-o", "--output-dir", default=".", help="directory for the outputs (default: the current one)")
    p.add_argument("--visemes", default="ovr", choices=("ovr", "rhubarb", "neti"), help="viseme set of the timeline")
    p.add_argument(
        "-f",
        "--formats",
        type=cli.formats(FORMATS),
        default=DEFAULT_FORMATS,
        help=f"{','.join(FORMATS)} or all (default: %(default)s)",
    )
    text = p.add_mutually_exclusive_group()
    text.add_argument("--text", help="the words said: align to them instead of recognising")
    text.add_argument("--text-file", help="a file holding the words said")
    p.add_argument(
        "--min-duration", type=float, default=env.LIPSYNC_MIN_CUE, help="shortest cue, seconds (default: %(default)s)"
    )
    p.add_argument(
        "--plot",
        metavar="OUT",
        help="write waveform, spectrogram and viseme strip to this PNG (a directory run: a folder of them)",
    )
    rhubarb = p.add_argument_group("Rhubarb exports (-f rhubarb, --visemes rhubarb), as Rhubarb's own options")
    rhubarb.add_argument(
        "--extended-shapes", type=_extended, default="GHX", metavar="GHX",
        help="the extended shapes the rig has, of G, H, X ('' for A-F only; default GHX)",
    )  # fmt: skip
    rhubarb.add_argument(
        "--dat-frame-rate", type=_frame_rate, default=24, help="frames a second of the Moho .dat (default: 24)"
    )
    rhubarb.add_argument("--dat-preston-blair", action="store_true", help="Preston Blair's shape names in the .dat")
    cli.live_arguments(p, "visemes", ", with probabilities")
    training = p.add_argument_group("training (--train DIR)")
    training.add_argument("--train", metavar="DIR", help="train a classifier on the labelled clips under DIR into -m")
    training.add_argument("--run-dir", help="the run directory (default: runs/lipsync-<date>-<time>)")
    training.add_argument("--resume", metavar="RUN", help="continue a killed --train run from its last epoch")
    training.add_argument("--kind", default="sequence", help="svm | dnn | sequence | student (default: %(default)s)")
    training.add_argument(
        "--classes", help="phones | ovr | rhubarb | neti | ovr9 | vowels5 (default: phones; a student: ovr)"
    )
    training.add_argument("--teacher", default=str(env.LIPSYNC_MODEL), help="a student's teacher (default: shipped)")
    training.add_argument(
        "--distill",
        type=float,
        help="a student's loss weight on its teacher's posteriors, 0: labels alone (default 0)",
    )
    training.add_argument("--delay", type=int, help="a student's look-ahead, frames (default: the shipped student's)")
    training.add_argument("--units", type=int, help="a student's GRU width (default: the shipped student's)")
    training.add_argument("--bands", type=int, help="a student's log-mel bands (default: the shipped student's)")
    training.add_argument(
        "--stack", type=int, help="frames a student's GRU takes a step: 2 runs it every 20 ms (default: 1)"
    )
    training.add_argument(
        "--schedule", choices=env.LR_SCHEDULES, help="a student's learning rate: constant, or cosine over --epochs"
    )
    training.add_argument(
        "--running-mean", type=float, help="a student's mean normalisation: running over seconds, 0: fixed (default 2)"
    )
    training.add_argument("--balance", default="none", help="none | weights | downsample (default: %(default)s)")
    training.add_argument("--val", metavar="FILE", help="clips (speaker/stem per line) that choose the epoch")
    training.add_argument("--exclude", action="append", default=[], metavar="FILE", help="clips kept out (a test set)")
    training.add_argument("-a", "--aligns-path", action="append", default=[], help="directory of .align files")
    training.add_argument("--epochs", type=int, help="at most (default: 25; a student: 80)")
    training.add_argument(
        "--label-hop", type=float, default=8.0, help="ms per row of .visemes.txt label files (default: the seed's 8)"
    )
    training.add_argument(
        "--cache", default=str(env.DATA_DIR), help="where alignments are kept, per directory (default: %(default)s)"
    )
    return p.parse_args(argv)


def _frame_rate(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 240:
        raise argparse.ArgumentTypeError(f"a whole number of frames a second from 1 to 240, not {value!r}")
    return int(value)


def _extended(value: str) -> str:
    letters = value.upper().replace(",", "").strip()
    if set(letters) - set("GHX"):
        raise argparse.ArgumentTypeError(f"extended shapes are among G, H and X, not {value!r}")
    return "".join(sorted(set(letters)))


def sync_file(model, path: Path, args: argparse.Namespace, stem: Path, plot: Path | None = None) -> str:
    """Read one file, write its outputs at `stem` (and its picture at `plot`); returns the line to print.

    The web app (lipnet.app) calls it too, with the arguments this parser gives."""
    from lipnet import audio, writers
    from lipnet.speech import lipsync

    samples = audio.load(path)
    text = _text(path, args)
    try:
        result = lipsync.timeline(samples, model, text)
    except LipnetError as err:  # the aligner's words say what failed, not in which file
        raise LipnetError(f"{path}: {err}") from None
    if result.fit is not None:
        poorly = result.fit < env.GUIDED_MIN_FIT
        advice = f"; they fit poorly ({result.fit:.2f}): are they the words said?" if poorly else ""
        print(f"{path}: the sound would not align to the words: aligned to the phones heard instead{advice}",
              file=sys.stderr, flush=True)  # fmt: skip
    cues = result.cues(args.visemes, args.min_duration, args.extended_shapes)
    try:
        rhubarb = writers.RhubarbOptions(args.extended_shapes, args.dat_frame_rate, args.dat_preston_blair)
        writers.write_timeline(result, stem, args.formats, args.visemes, args.min_duration, path, rhubarb)
        if plot is not None:
            from lipnet import pictures

            pictures.plot_sound(samples, cues, plot, args.visemes)
    except OSError as err:
        raise LipnetError(f"cannot write {err.filename or 'output'}: {err.strerror or err}") from None
    how = (
        "recognised"
        if not result.aligned
        else "aligned to the words given"
        if result.fit is None
        else "guided by the words"
    )
    return f"{path}: {result.duration:.2f} s, {len(cues)} mouth cues, {how}: {' '.join(c.viseme for c in cues)}"


def _text(path: Path, args: argparse.Namespace) -> str | None:
    """The words said in a clip: --text, --text-file, or an .align/.lab file beside it (never its file name)."""
    from lipnet import grid

    if args.text is not None:
        return args.text
    if args.text_file is not None:
        try:
            return Path(args.text_file).read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise LipnetError(f"{args.text_file}: cannot read ({err.strerror or err})") from None
    if (align := path.with_suffix(".align")).is_file():
        try:
            return " ".join(w.text for w in grid.read_align(align))
        except ValueError as err:
            raise LipnetError(str(err)) from None
    if (label := path.with_suffix(".lab")).is_file():
        return label.read_text(encoding="utf-8", errors="replace")
    return None


def train(args: argparse.Namespace) -> int:
    """--train DIR: fit a classifier (or a student) on the labelled clips under DIR and save it as -m; --resume RUN:
    go on."""
    from lipnet.speech import lipsync, student

    try:
        if args.resume:
            kind = _saved_kind(Path(args.resume) / "config.json", "model")
            config, data = (student.run_config if kind == "student" else lipsync.run_config)(args.resume)
            run_dir, model_path = Path(args.resume), Path(data["model"])
        else:
            if args.model is None:
                raise LipnetError("give -m: the file the trained model is saved as")
            settings = {} if args.epochs is None else {"epochs": args.epochs}
            if args.kind == "student":
                chosen = {
                    "delay": args.delay, "distill": args.distill, "running_mean": args.running_mean,
                    "schedule": args.schedule, "units": args.units, "n_mels": args.bands, "stack": args.stack,
                }  # fmt: skip
                settings |= {k: v for k, v in chosen.items() if v is not None}
                config = student.StudentConfig(classes=args.classes or "ovr", **settings)
                config = dataclasses.replace(config, teacher=args.teacher if config.distill else "").check()
            else:
                config = lipsync.ModelConfig(
                    kind=args.kind, classes=args.classes or "phones", balance=args.balance, **settings
                ).check()
            model_path = Path(args.model)
            run_dir = Path(args.run_dir or env.RUNS_DIR / f"lipsync-{datetime.now():%Y%m%d-%H%M%S}")
            data = {
                "train": args.train, "val": args.val, "exclude": args.exclude, "aligns": args.aligns_path,
                "cache": args.cache, "label_hop": args.label_hop, "model": str(model_path),
            }  # fmt: skip
        suffix = ".skops" if config.kind == "svm" else ".keras"
        if model_path.suffix != suffix:
            raise LipnetError(f"{model_path}: a {config.kind} model is saved as a {suffix} file (-m)")
        if model_path.resolve() in (env.LIPSYNC_MODEL.resolve(), env.LIPSYNC_STUDENT.resolve()):
            raise LipnetError(f"{model_path}: give -m a new file; the shipped models are not overwritten")
        train_clips, val_clips = _labelled(data)
        if config.kind == "student":
            teacher = lipsync.load(config.teacher) if config.distill else None
            if args.resume:
                model = student.resume(run_dir, train_clips, val_clips, teacher)
            else:
                model = student.train(config, train_clips, val_clips, teacher, run_dir, data)
        elif args.resume:
            model = lipsync.resume(run_dir, train_clips, val_clips)
        else:
            model = lipsync.train(config, train_clips, val_clips, None if config.kind == "svm" else run_dir, data)
        scores = lipsync.evaluate(model, val_clips)
        model.save(model_path)
    except LipnetError as err:
        return cli.fail(err)
    where = "" if config.kind == "svm" else f" (run directory {run_dir})"
    print(
        f"validation: frame accuracy {scores.accuracy:.1%}, speech frames {scores.speech_accuracy:.1%}; "
        f"saved {model_path}{where}"
    )
    return 0


def _saved_kind(path: Path, *keys: str) -> str | None:
    """The ``kind`` a model's or run's JSON records (under `keys`), or None when it cannot be read."""
    try:
        saved = json.loads(path.read_text())
        for key in keys:
            saved = saved[key]
        return saved.get("kind")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def load_model(path: str | Path):
    """A lipsync classifier or a real-time student, whichever the file holds."""
    from lipnet.speech import lipsync, student

    path = Path(path)
    return (student.load if _saved_kind(path.with_suffix(".json")) == "student" else lipsync.load)(path)


def live(args: argparse.Namespace) -> Iterator[str]:
    """--live: visemes of a microphone's (or a paced file's) sound, as it arrives, from the real-time student: a
    line per change of viseme, or per frame with ``--jsonl``."""
    from lipnet import visemes
    from lipnet.speech import microphone, student

    model = load_model(args.model or env.LIPSYNC_STUDENT)
    if not isinstance(model, student.Student):
        raise LipnetError(f"{args.model}: not a real-time student (this model reads whole utterances)")
    if args.visemes != model.config.classes:
        raise LipnetError(f"the student gives {model.config.classes} visemes, not {args.visemes} (--visemes)")
    classes = model.classes
    hold = visemes.Hold(classes.index("PP"), *env.LIPSYNC_LIVE_HOLD)  # no 10 ms flicker; a closure shows at once
    for frame in student.stream(model, microphone.blocks(args.live, fast=args.fast)):
        changed = hold.push(frame.probabilities)
        if args.jsonl:
            shares = {c: round(float(p), 4) for c, p in zip(classes, frame.probabilities)}
            best, shown = classes[int(frame.probabilities.argmax())], classes[hold.shown]
            yield json.dumps({"time": round(frame.time, 3), "viseme": best, "shown": shown, "probabilities": shares})
        elif changed is not None:
            yield f"{frame.time:8.2f} s  {classes[changed]:<3} {frame.probabilities[changed]:4.0%}"


def _labelled(data: dict) -> tuple[list, list]:
    """The training and validation clips a --train run names (its directory, lists, align and cache folders)."""
    from lipnet import grid
    from lipnet.speech import corpus

    root = Path(data["train"])
    if not root.exists():
        raise LipnetError(f"{root}: no such file or directory")
    excluded = set().union(*(grid.read_list(f) for f in data["exclude"]))
    validation = grid.read_list(data["val"]) if data["val"] else set()
    clips, failed = [], 0
    for path in corpus.find(root):
        try:
            clip = corpus.load(path, [Path(a) for a in data["aligns"]], data["cache"], data["label_hop"])
        except LipnetError as err:
            print(f"skipped: {err}", file=sys.stderr)
            failed += 1
            continue
        if clip.key not in excluded:
            clips.append(clip)
    if not clips:
        raise LipnetError(f"{root}: no labelled audio (see --help: labels beside each file)")
    train_clips, val_clips, _ = grid.split(clips, set(), validation)
    if not val_clips:  # a tenth of the clips, by clip, never by frame
        val_clips, train_clips = train_clips[::10], [c for i, c in enumerate(train_clips) if i % 10]
    if not val_clips or not train_clips:
        raise LipnetError(f"{root}: too few clips to train and validate ({len(clips)})")
    print(f"{len(train_clips)} training clips, {len(val_clips)} validation clips, {failed} skipped", flush=True)
    return train_clips, val_clips


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if error := cli.missing(*args.inputs, args.train, args.resume):
        return cli.fail(error)
    if args.train or args.resume or args.live:
        cli.start()
        return train(args) if args.train or args.resume else cli.follow(live(args))
    if not args.inputs:
        return cli.fail("give audio or video files (or --train DIR); see --help")
    from lipnet.speech import corpus

    try:
        # the inputs before Keras: a wrong call is said at once
        found = cli.inputs(args.inputs, corpus.find, "audio or video files")
        cli.one_target(found, plot=args.plot)
        cli.start()
        model = load_model(args.model or env.LIPSYNC_MODEL)  # recognises, or guides words the sound will not align to
    except LipnetError as err:
        return cli.fail(err)

    def handle(item: cli.Input) -> str:
        plot = item.target(args.plot, ".png") if args.plot else None
        return sync_file(model, item.path, args, Path(args.output_dir) / item.name, plot)

    return cli.each(found, handle)


if __name__ == "__main__":
    sys.exit(main())

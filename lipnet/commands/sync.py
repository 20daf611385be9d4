"""Is the sound in sync with the lips? ``python sync.py -v clip.mp4`` says by how much it is off, how sure it is,
and can write the clip back in sync.

``-v`` is a video with sound, or a directory searched recursively for videos. The audio is slid against the
mouth (±15 frames by default) and a coupled 3D CNN scores every position; for each clip it prints:
  offset      in video frames and ms, with its sign spelt out: the audio *lags* (is heard late) or *leads*
  confidence  SyncNet's: the median distance over the offsets tried minus the least; below 0.15 there is no
              clear minimum, and the verdict says so
  same speech whether the lips say what the voice says: the lip reader's phones against the voice's (the lip-sync
              model's), frame by frame at the offset found; below -3.3 the sound is not this face's speech
              (another recording's, dubbed), whatever the curve says
  verdict     in sync (within a frame) / off by N frames / no clear minimum / not the same speech / no speech
Clips longer than 10 s get an offset for every 10 s window, so drift shows.

  --json       one JSON object per clip on standard output instead of the lines
  --plot OUT   the distance-vs-offset curve as a PNG (a directory when -v is one)
  --fix OUT    the clip with its audio moved back into sync (.mp4, .m4v, .mov, .mkv, .webm or .mpg; a directory
               when -v is one, each clip keeping its container): both streams are copied and only their time
               stamps move, unless the container cannot hold the sound's codec (then the sound alone is re-encoded).
               The copy must decode every video frame before it is written; a clip within a frame of sync is left.

The sound is placed on the picture's clock as a player does: offsets kept in the container's time stamps (stream
start times, edit lists) count as much as offsets in the samples.

Train your own model (mouth crops are extracted into --crops as needed): ``python sync.py --train DIR -m mine.keras``
(see models/SYNC_MODEL_CARD.md for the shipped model's command).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from lipnet import cli, env
from lipnet.errors import LipnetError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="videos with sound, or directories of them (the same as -v)")
    p.add_argument("-v", "--videos", action="append", default=[], help="a video with sound, or a directory of them")
    p.add_argument("-m", "--model", default=str(env.SYNC_MODEL), help="sync model (default: %(default)s)")
    p.add_argument("--max-offset", type=int, default=env.SYNC_MAX_OFFSET, help="frames tried either way (%(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON, one object per clip")
    p.add_argument(
        "--plot",
        metavar="OUT",
        help="write the distance-vs-offset curve to this PNG (a directory run: a folder of them)",
    )
    p.add_argument(
        "--fix", metavar="OUT", help="write the clip with its audio moved back into sync (a directory run: a folder)"
    )
    training = p.add_argument_group("training (--train DIR)")
    training.add_argument("--train", metavar="DIR", help="train a model on the videos under DIR into -m")
    training.add_argument("--crops", default=str(env.DATA_DIR / "sync" / "crops"), help="mouth crops of DIR's clips")
    training.add_argument("--val", metavar="FILE", help="clips (speaker/stem per line) that choose the epoch")
    training.add_argument("--exclude", action="append", default=[], metavar="FILE", help="clips kept out (a test set)")
    training.add_argument("--selection", default="hard", help="impostor pairs: hard (online selection) | random")
    training.add_argument("--epochs", type=int, default=20, help="(default: %(default)s)")
    training.add_argument("--run-dir", help="the run directory (default: runs/sync-<date>-<time>)")
    training.add_argument("--resume", metavar="RUN", help="continue a killed --train run from its last epoch")
    return p.parse_args(argv)


def check_file(model, judge, item: cli.Input, args: argparse.Namespace) -> str:
    """Find one clip's offset(s) with the sync `model`, whether it is the same speech with the `judge`
    (`agreement.Judge`, whose lip reader's extractor finds the mouth), write what was asked; returns what to print."""
    from lipnet import audio, grid, remux
    from lipnet.sync import network

    path = item.path
    samples = audio.load(path)  # before the face: a clip without sound fails fast
    track = judge.reader.extractor.extract(path, frames=None)
    clip = network.streams(grid.Clip(path.stem, media=path), track.crops, track.landmarks, samples)
    found = judge.judged(model.offsets(clip, args.max_offset), track.crops, samples)
    clear = [f.offset for f in found if f.clear]
    shift = -round(float(np.median(clear))) if clear else 0  # the whole track moves by the clear windows' median
    fixed = None
    try:
        if args.plot:
            from lipnet import pictures

            pictures.plot_offsets(found, item.target(args.plot, ".png"), path.name)
        if args.fix and clear and abs(shift) > env.SYNC_TOLERANCE:
            fixed = item.target(args.fix, fix_suffix(path))
            remux.shift_audio(path, fixed, shift)
    except OSError as err:
        raise LipnetError(f"cannot write {err.filename or 'output'}: {err.strerror or err}") from None
    if args.json:
        return json.dumps({"file": str(path), "fixed": fixed and str(fixed), "windows": [f.as_dict() for f in found]})
    lines = [
        f"{path}{_span(f, len(found))}: offset {f.offset:+d} frames ({f.ms:+d} ms, the audio {f.direction}), "
        f"confidence {f.confidence:.3f}{_same(f)}: {f.verdict()}"
        for f in found
    ]
    if args.fix:
        if fixed:
            lines.append(f"{path}: wrote {fixed} (the sound moved {shift * 1000 // env.FPS:+d} ms)")
        elif clear:
            lines.append(f"{path}: not rewritten (within {env.SYNC_TOLERANCE} frame of sync)")
        else:
            lines.append(
                f"{path}: not fixed ({'not the same speech' if any(f.speech is False for f in found) else 'no clear minimum'})"
            )
    return "\n".join(lines)


def fix_suffix(path: Path) -> str:
    """The fixed copy's file ending in a directory run: the source's own where it is written, else .mkv (which holds
    any codec)."""
    from lipnet import remux

    return path.suffix.lower() if path.suffix.lower() in remux.CONTAINERS else ".mkv"


def _same(found) -> str:
    return "" if found.same_speech is None else f", same speech {found.same_speech:.2f}"


def _span(found, windows: int) -> str:
    start, end = found.seconds
    return f" [{start:.1f}-{end:.1f} s]" if windows > 1 else ""


def train(args: argparse.Namespace) -> int:
    """--train DIR: fit a sync model on the clips under DIR and save it as -m; --resume RUN: go on."""
    from lipnet.sync import network, training

    try:
        if args.resume:
            config, data = training.run_config(args.resume)
            run_dir, model_path = Path(args.resume), Path(data["model"])
        else:
            config = network.SyncConfig(selection=args.selection, epochs=args.epochs).check()
            model_path = Path(args.model)
            run_dir = Path(args.run_dir or env.RUNS_DIR / f"sync-{datetime.now():%Y%m%d-%H%M%S}")
            data = {
                "train": args.train, "crops": args.crops, "val": args.val, "exclude": args.exclude,
                "model": str(model_path),
            }  # fmt: skip
        if model_path.suffix != ".keras":
            raise LipnetError(f"{model_path}: a sync model is saved as a .keras file (-m)")
        train_clips, val_clips = training.training_clips(data)
        print(f"{len(train_clips)} training clips, {len(val_clips)} validation clips", flush=True)
        if args.resume:
            model = training.resume(run_dir, train_clips, val_clips)
        else:
            model = training.train(config, train_clips, val_clips, run_dir, data)
        model.save(model_path)
    except LipnetError as err:
        return cli.fail(err)
    print(f"saved {model_path} (run directory {run_dir})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.videos = [*args.inputs, *args.videos]
    if error := cli.missing(*args.videos, args.train, args.resume):
        return cli.fail(error)
    if args.train or args.resume:
        cli.start()
        return train(args)
    if not args.videos:
        return cli.fail("give a video (or --train DIR); see --help")
    from lipnet import grid

    try:
        clips = cli.inputs(args.videos, grid.find_videos, "videos")  # before Keras: a wrong call is said at once
        cli.one_target(clips, plot=args.plot, fix=args.fix)
        cli.start()
        from lipnet.sync import agreement, network

        model = network.load(args.model)
        judge = agreement.Judge()
    except LipnetError as err:
        if args.json:
            print(json.dumps({"error": str(err)}), flush=True)
            return 1
        return cli.fail(err)
    report = None
    if args.json:  # one JSON object per input, failures too

        def report(item: cli.Input, message: str) -> str:
            return json.dumps({"file": str(item.path), "error": message})

    return cli.each(clips, lambda item: check_file(model, judge, item, args), report)


if __name__ == "__main__":
    sys.exit(main())

"""Mouth animation from speech: ``python animate.py -a speech.wav`` gives the mouth's shape every frame, and shows it.

Any audio or video file. The animator (lipnet.animation.animator: the real-time student's learnt features -> a causal
temporal CNN, trained on GRID's tracked lips) predicts the mouth at every video frame, 25 a second, from the sound
alone. Outputs, in ``--output-dir`` (default: the current directory), named after the file:

  ``.anim.json`` and ``.anim.csv``: a row per frame with its time, the rig channels (ARKit's ``jawOpen``,
  ``mouthClose``, ``mouthFunnel``, ``mouthPucker``, ``mouthStretchLeft``/``Right`` in 0..1, and the lips' height,
  opening, width and corners in mouth widths), the PCA coefficients of the lip shape and its 20 points
  (dlib 48-67, mouth widths from the mouth's centre, y down). ``--fps 30`` or ``60`` interpolates.

``--video mouth.mp4`` renders it with the sound: a drawn mouth, or ``--face photo.jpg`` a still face whose mouth moves
(a talking photo), and ``--side-by-side [clip.mp4]`` puts the real video (default: the input itself) on the left.

Live: ``python animate.py --live`` reads the default microphone (``--live DEVICE``, or ``--live file.wav`` at the
pace it plays) and prints the mouth as it moves, or every frame as a JSON line (``--jsonl``) for a renderer.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from lipnet import cli, env
from lipnet.errors import LipnetError, input_file

FORMATS = ("json", "csv")
LIVE_CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker")


def _fps(value: str) -> float:
    try:
        fps = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 1 <= fps <= 240:
        raise argparse.ArgumentTypeError(f"a frame rate from 1 to 240, not {value}")
    return fps


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    speech = p.add_mutually_exclusive_group()
    speech.add_argument("speech", nargs="?", help="the speech: any audio or video file (the same as -a)")
    speech.add_argument("-a", "--audio", help="the speech: any audio or video file")
    p.add_argument("-m", "--model", default=str(env.ANIMATOR_MODEL), help="animator (default: %(default)s)")
    p.add_argument("-o", "--output-dir", default=".", help="directory for .anim.json/.csv (default: the current one)")
    p.add_argument("-f", "--formats", type=cli.formats(FORMATS), default=FORMATS, help="json,csv (default: both)")
    p.add_argument("--fps", type=_fps, default=float(env.FPS), help="frames a second (default: %(default)s)")
    render = p.add_argument_group("rendering (--video)")
    render.add_argument("--video", metavar="OUT.mp4", help="render the mouth, with the sound, to this video")
    render.add_argument("--face", metavar="PHOTO", help="animate the mouth of this still face instead of a drawing")
    render.add_argument(
        "--side-by-side", nargs="?", const="", metavar="VIDEO",
        help="the real video (default: the input) on the left of the rendering",
    )  # fmt: skip
    cli.live_arguments(p, "the mouth", "")
    args = p.parse_args(argv)
    args.audio = args.audio or args.speech
    return args


def animate_file(args: argparse.Namespace, model=None, shape=None, extractor=None) -> str:
    """Animate ``args.audio``: write its parameter files and, with --video, its rendering; returns the line to print.

    `model` (an Animator), `shape` (its lip-shape model) and `extractor` (a MouthExtractor for --face) are loaded
    here when not given: a server (lipnet.app) passes the ones it keeps for every request."""
    from lipnet import audio, writers
    from lipnet.animation import animator, lipshape, renderer

    path = Path(args.audio)
    samples = audio.load(path)
    face = renderer.FaceWarp(args.face, extractor) if args.face else None  # a photo without a face fails first
    model = animator.load(args.model) if model is None else model
    shape = lipshape.load_model() if shape is None else shape
    params = lipshape.resample(model.parameters(samples, shape), args.fps, shape)
    try:
        written = writers.write_animation(params, Path(args.output_dir) / path.stem, args.formats, source=path)
    except OSError as err:
        raise LipnetError(f"cannot write {err.filename or 'output'}: {err.strerror or err}") from None
    if args.video:
        written.append(render(params, samples, face, args))
    opening = params.channel("jawOpen")
    return (
        f"{path}: {len(samples) / env.SAMPLE_RATE:.2f} s, {len(params.times)} frames at {args.fps:g} fps, jawOpen "
        f"mean {opening.mean():.2f} max {opening.max():.2f}; wrote {', '.join(str(p) for p in written)}"
    )


def render(params, samples, face, args: argparse.Namespace) -> Path:
    """Draw (or warp `face`, a photo, into) every frame's lips, beside the real video if asked, and encode it with
    the sound."""
    import cv2

    from lipnet import video
    from lipnet.animation import renderer

    frames = face.draw(params.points) if face is not None else renderer.draw(params.points)
    if args.side_by_side is not None:
        source = args.side_by_side or args.audio
        real = (cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in video.frames(source, args.fps))
        frames = _beside(source, real, frames)
    return video.write(args.video, frames, args.fps, samples)


def _beside(source: str, real, drawn):
    """Each drawn frame to the right of the real video's frame of the same instant (its last, once it has ended)."""
    from lipnet.animation import renderer

    last = None
    for frame in drawn:
        last = next(real, last)
        if last is None:
            raise LipnetError(f"{source}: no video frames to show beside the mouth")
        yield renderer.side_by_side(last, frame)


def live(args: argparse.Namespace) -> Iterator[str]:
    """--live: the mouth of a microphone's (or a paced file's) sound, as it arrives: a line per video frame, a
    JSON object with ``--jsonl``."""
    import numpy as np

    from lipnet.animation import animator, lipshape
    from lipnet.speech import microphone

    model, shape = animator.load(args.model), lipshape.load_model()
    for frame in animator.stream(model, microphone.blocks(args.live, fast=args.fast)):
        params = animator.mouth(frame.coefficients[None], np.array([frame.pressed]), shape)
        channels = dict(zip(lipshape.CHANNELS, params.channels[0].tolist()))
        if args.jsonl:
            yield json.dumps(
                {
                    "time": round(frame.time, 3),
                    "channels": {k: round(v, 4) for k, v in channels.items()},
                    "coefficients": np.round(params.coefficients[0], 5).tolist(),
                    "points": np.round(params.points[0], 5).tolist(),
                }
            )
        else:
            bar = "#" * round(20 * channels["jawOpen"])
            values = "  ".join(f"{name} {channels[name]:.2f}" for name in LIVE_CHANNELS)
            yield f"{frame.time:8.2f} s  |{bar:<20}|  {values}"


def check(args: argparse.Namespace) -> None:
    """What is wrong with the command line, found before the models load (seconds sooner)."""
    if args.live:
        if args.fps != env.FPS or args.video:
            raise LipnetError(
                f"--live gives {env.FPS} frames a second as lines of text: --fps and --video are for files"
            )
        return
    if not args.audio:
        raise LipnetError("give the speech: a sound or video file (or --live); see --help")
    input_file(args.audio, "a sound or video file")
    if Path(args.output_dir).suffix.lower() in (".mp4", ".m4v", ".mov"):  # the -o of earlier versions
        raise LipnetError(f"{args.output_dir}: -o names the output directory; render a video with --video OUT.mp4")
    if args.video and Path(args.video).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise LipnetError(f"{args.video}: renders are .mp4, .m4v or .mov files (--video)")
    if (args.face or args.side_by_side is not None) and not args.video:
        raise LipnetError("--face and --side-by-side draw a video: give --video OUT.mp4")
    for name in (args.face, args.side_by_side):
        if name:
            input_file(name, "an image or video")
    if args.side_by_side == "":  # the input itself goes beside the rendering: it must have pictures
        from lipnet import audio

        if audio.video_start(args.audio) is None:
            raise LipnetError(f"{args.audio}: has no video to put beside the mouth (--side-by-side VIDEO names one)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check(args)
    except LipnetError as err:
        return cli.fail(err)
    cli.start()
    if args.live:
        return cli.follow(live(args))
    try:
        print(animate_file(args), flush=True)
    except LipnetError as err:
        return cli.fail(err)
    return 0


if __name__ == "__main__":
    sys.exit(main())

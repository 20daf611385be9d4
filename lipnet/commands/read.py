"""Read lips: ``python predict.py -v clip.mp4`` prints what is said and writes it as text, subtitles and visemes.

``-v`` is a video or a directory searched recursively for videos. Each clip's transcript is printed, with its
reference sentence, CER and WER when known (an ``.align`` file beside the clip or under ``-a``, or a GRID file name),
and written to ``<output-dir>/<clip name>.<format>`` (a directory run keeps the clips' sub-directories there).
``--annotate`` and ``--plot`` draw the reading: a video with the tracked mouth and the words, a timeline image;
for a directory run they name directories, which receive ``<clip name>.mp4`` and ``<clip name>.png``.

Formats: txt (the transcript), json (text, decoder, word times, viseme cues, score), srt and vtt (a cue per word),
tsv (word start and end in seconds), visemes (``.visemes.json`` and ``.visemes.tsv``; with ``--visemes rhubarb`` also
Rhubarb Lip Sync's ``.rhubarb.tsv`` and ``.rhubarb.json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lipnet import cli, env, grid, metrics, visemes, writers
from lipnet.errors import LipnetError
from lipnet.lipreading import decoding

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from lipnet.recognition.recognizer import AudioVisualReader


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("clip", nargs="?", help="a video, or a directory of videos (the same as -v)")
    source.add_argument("-v", "--video-path", help="a video, or a directory of videos (searched recursively)")
    source.add_argument(
        "--live",
        metavar="SOURCE",
        help="real-time mode: read a camera (its index, e.g. 0) or a video as a stream, in 3 s windows every second",
    )
    p.add_argument("--fast", action="store_true", help="--live FILE: as fast as it is read, not at its pace")
    p.add_argument(
        "--microphone",
        nargs="?",
        const="default",
        metavar="DEVICE",
        help="--live: hear a microphone beside the pictures (the default input, or a device number or name) and read "
        "the lips and the voice together; a live file is heard with its own sound without it",
    )
    p.add_argument("-w", "--weights", default=str(env.DEFAULT_WEIGHTS), help="lipnet checkpoint (default: %(default)s)")
    p.add_argument("-pp", "--predictor-path", help="dlib 68-point landmark model (default: face-recognition-models')")
    p.add_argument("-a", "--aligns-path", action="append", default=[], help="directory of .align files (repeatable)")
    p.add_argument(
        "--decoder", choices=decoding.DECODERS, help="CTC decoder (default: the model's own, grammar for GRID models)"
    )
    p.add_argument(
        "--timing",
        choices=env.TIMINGS,
        default="auto",
        help="time the words on the clip's sound (audio), on the lips (video), or on the sound when it has one "
        "(auto, the default); the JSON says which was used",
    )
    p.add_argument(
        "--modality",
        choices=env.MODALITIES,
        default="auto",
        help="read the lips (video), the voice (audio: a sound file will do) or both (av); auto, the default: both "
        "when the clip has sound, else the lips. The JSON says which was used",
    )
    p.add_argument(
        "--av-model",
        default=str(env.AVSR_MODEL),
        help="the audio-visual recogniser, for --modality audio/av (default: %(default)s)",
    )
    p.add_argument(
        "-f",
        "--output-format",
        type=cli.formats(writers.FORMATS),
        default="all",
        help=f"comma-separated formats to write: {', '.join(writers.FORMATS)} or all (default: %(default)s)",
    )
    p.add_argument(
        "-o", "--output-dir", default=".", help="directory for the output files (default: the current directory)"
    )
    p.add_argument(
        "--visemes", default="ovr", choices=sorted(visemes.VISEME_SETS), help="viseme set (default: %(default)s)"
    )
    p.add_argument(
        "--annotate",
        metavar="OUT",
        help="write the clip annotated with the reading to this MP4 file (a directory run: a folder)",
    )
    p.add_argument(
        "--plot",
        metavar="OUT",
        help="write the reading's timeline to this PNG (or .pdf, .svg) file (a directory run: a folder)",
    )
    args = p.parse_args(argv)
    args.video_path = args.video_path or args.clip
    return args


def predict(reader: AudioVisualReader, item: cli.Input, args: argparse.Namespace) -> None:
    """Read one clip, print the transcript (and its score when the sentence is known) and write the outputs under
    the clip's output name."""
    clip, name, single = item.path, item.name, item.alone
    prefix = "" if single else f"{clip}: "
    try:
        reference = grid.transcript(clip, [Path(a) for a in args.aligns_path])
    except ValueError as err:  # a malformed .align file: read the clip anyway, unscored
        print(f"warning: {err}", file=sys.stderr)
        reference = None
    reading = reader.read(clip, args.decoder, args.timing, args.modality)
    if reading.warning:
        print(f"{clip}: warning: {reading.warning}", file=sys.stderr)
    if not reading.speech:
        print(f"{clip}: no speech: {reading.notice} (empty transcript)", file=sys.stderr)
    print(f"{prefix}{reading.text}")
    if reference is not None:
        cer, wer = metrics.sentence_cer(reference, reading.text), metrics.sentence_wer(reference, reading.text)
        print(f"{'' if single else '  '}reference: {reference}   CER {cer:.1%}, WER {wer:.1%}")
    try:
        writers.write(reading, Path(args.output_dir) / name, args.output_format, args.visemes, reference, source=clip)
        from lipnet import pictures  # matplotlib and OpenCV's drawing: only when a picture is asked for

        if args.annotate:
            pictures.annotate(clip, reading, item.target(args.annotate, ".mp4"), args.visemes)
        if args.plot:
            pictures.plot(reading, item.target(args.plot, ".png"), args.visemes, reference)
    except OSError as err:
        raise LipnetError(f"cannot write {err.filename or 'output'}: {err.strerror or err}") from None


def live(args: argparse.Namespace) -> int:
    """Real-time mode: print what is said in each 3 s window, every second, as frames arrive; read with the voice
    (`live_sound`) when there is one to hear and --modality allows."""
    from lipnet import video
    from lipnet.lipreading.reader import LipReader
    from lipnet.recognition.recognizer import AudioVisualReader

    try:
        if args.modality == "audio":
            raise LipnetError(
                "--live reads the lips, alone or with the voice: the voice alone is lipnet lipsync --live"
            )
        lips = LipReader(args.weights, args.predictor_path)
        lips.extractor  # noqa: B018  (the landmark model loaded before the pictures and the sound start)
        both = AudioVisualReader(lips, args.av_model)
        if args.live.isdigit():
            frames = video.camera(int(args.live))
        else:  # a file plays at its pace, as the camera it stands in for would (--fast: as fast as it reads)
            frames = video.frames(args.live) if args.fast else video.paced(video.frames(args.live))
        sound = live_sound(args, both)  # a microphone starts listening now, as the pictures start
        windows = (
            lips.stream(frames, decoder=args.decoder) if sound is None else both.stream(frames, sound, args.decoder)
        )
        for start, reading in windows:
            seconds = start / env.FPS
            length = env.FRAME_COUNT / env.FPS if reading is None else reading.duration  # a short stream: less
            span = f"{seconds:6.1f}s-{seconds + length:.1f}s"
            text = "(no face)" if reading is None else reading.text if reading.speech else "(no speech)"
            print(f"{span}  {text}", flush=True)
    except LipnetError as err:
        return cli.fail(err)
    except KeyboardInterrupt:
        pass
    return 0


def live_sound(args: argparse.Namespace, both: AudioVisualReader) -> Callable[[int, int], np.ndarray] | None:
    """What a live reading hears beside the pictures (`AudioVisualReader.stream`'s `sound`), or None to read the lips
    alone: --microphone's, else a live file's own sound; none for --modality video, or for auto without sound or
    without a recogniser that hears this lip reader. LipnetError when --modality av has nothing to hear."""
    from lipnet import audio
    from lipnet.speech import microphone

    if args.modality == "video":
        return None
    if args.microphone is None:  # a camera is heard only with --microphone; a file, with its own sound
        if args.live.isdigit():
            if args.modality == "av":
                raise LipnetError(f"--modality av hears a microphone beside camera {args.live}: add --microphone")
            return None
        try:
            recording = microphone.recorded(args.live)
        except LipnetError:
            if args.modality == "av":
                raise
            return None
    if args.modality == "auto" and not both.hears_lip_reader:
        return None
    both.recognizer  # noqa: B018  (loaded now: a bad --av-model fails before anything is read)
    if args.microphone is None:
        return recording
    return microphone.Heard(microphone.blocks(args.microphone, audio.samples_per_video_frame()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.live is None and args.microphone is not None:
        return cli.fail("--microphone hears beside --live: add --live CAMERA (or a video)")
    if args.live is None and (error := cli.missing(args.video_path)):
        return cli.fail(error)
    cli.start()  # Keras (and TensorFlow) only now, so --help and argument errors come back at once
    from lipnet.lipreading.reader import LipReader
    from lipnet.recognition.recognizer import AudioVisualReader

    if args.live is not None:
        return live(args)
    try:
        clips = cli.inputs([args.video_path], grid.find_videos, f"videos found ({', '.join(grid.VIDEO_EXTENSIONS)})")
        reader = AudioVisualReader(LipReader(args.weights, args.predictor_path), args.av_model)
        if args.modality != "audio":
            reader.lips.extractor  # noqa: B018  (load the landmark model now: a bad -pp fails once, not once per clip)
        if args.modality in ("audio", "av"):
            reader.recognizer  # noqa: B018  (and the recogniser: a bad --av-model fails once too)
    except LipnetError as err:
        return cli.fail(err)
    return cli.each(clips, lambda item: predict(reader, item, args))


if __name__ == "__main__":
    sys.exit(main())

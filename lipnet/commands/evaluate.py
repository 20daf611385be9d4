"""Score a model: ``python evaluate.py -w weights.hdf5 -d data --split lipnet/splits/s1_heldout.txt``.

Reads extracted crops (``-d``, all clips or the validation part of ``--split``) or videos (``-v``, a file
or directory, extracted on the fly exactly as predict.py does), decodes every clip with each decoder,
and prints corpus CER/WER (total edits / total reference length), mean per-sentence rates and
sentence accuracy, per decoder and per speaker. ``--output results.json`` (or ``.csv``) keeps them.
``--chain K`` scores continuous speech: each speaker's clips read K at a time, played in a row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lipnet import cli, env, grid, metrics
from lipnet.errors import LipnetError
from lipnet.lipreading.decoding import DECODERS
from lipnet.storage import atomic_write_text

if TYPE_CHECKING:
    from lipnet.lipreading.reader import LipReader


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-w", "--weights", default=str(env.DEFAULT_WEIGHTS), help="checkpoint to score")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("-d", "--dataset-path", help="extracted crops (.npy) to score")
    source.add_argument("-v", "--video-path", help="a video or a directory of videos to score")
    p.add_argument(
        "--split", help="with -d: score only the validation clips of this split (unseen, overlapped, or a list file)"
    )
    p.add_argument("--speakers", nargs="+", default=[], help="with -d: only these speakers")
    p.add_argument(
        "--chain",
        type=int,
        default=1,
        metavar="K",
        help="with -d: read the clips of each speaker K at a time, played in a row (continuous speech); "
        "grammar decoding, which reads one sentence, is left out",
    )
    p.add_argument("-a", "--aligns-path", action="append", default=[], help="directory of .align files (repeatable)")
    p.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=DECODERS)
    p.add_argument("-pp", "--predictor-path", help="dlib 68-point landmark model")
    p.add_argument("--output", help="write the scores to this .json or .csv file")
    return p.parse_args(argv)


def _crop_clips(args) -> list[tuple[str, str, list[Path]]]:
    """(sentence, speaker, crop files) per item to read: one clip each, or chains of --chain clips of a speaker."""
    from lipnet.lipreading import dataset

    samples = dataset.discover(args.dataset_path, [Path(a) for a in args.aligns_path])
    if args.speakers:
        samples = [s for s in samples if s.speaker in args.speakers]
    if args.split:
        samples = dataset.validation(samples, args.split)  # the data may hold nothing else
    by_speaker: dict[str, list] = {}
    for s in samples:
        by_speaker.setdefault(s.speaker, []).append(s)
    k = max(args.chain, 1)
    return [
        (" ".join(s.text for s in group), speaker, [s.crops for s in group])
        for speaker, clips in by_speaker.items()
        for group in (clips[i : i + k] for i in range(0, len(clips) - k + 1, k))
    ]


def evaluate(reader: LipReader, args) -> dict[str, metrics.Scores]:
    """Decode every clip with every decoder; returns scores per decoder (with per-speaker breakdowns)."""
    from lipnet.lipreading import dataset

    decoders = [d for d in args.decoders if args.chain <= 1 or d != "grammar"]
    refs, speakers, hyps = [], [], {d: [] for d in decoders}

    def score(crops: np.ndarray, text: str, speaker: str) -> None:
        probs = reader.probabilities(crops)
        refs.append(text)
        speakers.append(speaker)
        for d in decoders:
            hyps[d].append(reader.decode(probs, d))

    if args.dataset_path:
        for text, speaker, paths in _crop_clips(args):
            score(np.concatenate([np.asarray(dataset.load_clip(path, None)) for path in paths]), text, speaker)
    else:
        root = Path(args.video_path)
        for video in grid.find_videos(root):
            try:
                text = grid.transcript(video, [Path(a) for a in args.aligns_path])
            except ValueError as err:  # a malformed .align or .lab file, named in the message
                print(f"skipped: {err}", file=sys.stderr)
                continue
            if text is None:
                print(
                    f"skipped: {video}: sentence unknown (no .align or .lab file, not a GRID file name)",
                    file=sys.stderr,
                )
                continue
            try:
                track = reader.extractor.extract(video, frames=None)
            except LipnetError as err:
                print(f"failed: {err}", file=sys.stderr)
                continue
            score(track.crops, text, grid.speaker_of(video, root) if root.is_dir() else "")
    if not refs:
        raise LipnetError(f"{args.dataset_path or args.video_path}: no clip with a known sentence to score")
    return {d: metrics.score(refs, hyps[d], speakers) for d in decoders}


def table(scores: dict[str, metrics.Scores]) -> list[dict]:
    """One row per decoder and speaker ("all" first)."""
    rows = []
    for decoder, s in scores.items():
        for speaker, part in [("all", s), *sorted(s.speakers.items())]:
            if speaker != "all" and len(s.speakers) < 2:
                continue
            rows.append(
                {
                    "decoder": decoder,
                    "speaker": speaker or "-",
                    **{k: v for k, v in part.to_dict().items() if k != "speakers"},
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if error := cli.missing(args.dataset_path, args.video_path):
        return cli.fail(error)
    cli.start()  # Keras (and TensorFlow) only now, so --help and argument errors come back at once
    from lipnet.lipreading.reader import LipReader

    try:
        reader = LipReader(args.weights, args.predictor_path)
        rows = table(evaluate(reader, args))
    except LipnetError as err:
        return cli.fail(err)
    print(
        f"{'decoder':8} {'speaker':8} {'clips':>6} {'CER':>7} {'WER':>7} {'mean CER':>9} {'mean WER':>9} {'sentences':>9}"
    )
    for r in rows:
        print(
            f"{r['decoder']:8} {r['speaker']:8} {r['count']:6d} {r['cer']:7.2%} {r['wer']:7.2%} "
            f"{r['mean_cer']:9.2%} {r['mean_wer']:9.2%} {r['accuracy']:9.2%}"
        )
    if args.output:
        if args.output.endswith(".csv"):
            text = io.StringIO()
            writer = csv.DictWriter(text, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            atomic_write_text(args.output, text.getvalue())
        else:
            atomic_write_text(args.output, json.dumps({"weights": str(args.weights), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

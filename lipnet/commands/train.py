"""Train a LipNet: ``python train.py -e 70`` (data in data/, sentences from .align files or GRID file names)."""

import argparse
import json
import sys

from lipnet import cli, env
from lipnet.errors import LipnetError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument(
        "-d", "--dataset-path", default=str(env.DATA_DIR), help="extracted crops (preprocessing/extract.py output)"
    )
    p.add_argument(
        "-a",
        "--aligns-path",
        action="append",
        default=[],
        help="directory of .align files (repeatable); default: beside the data or GRID file names",
    )
    p.add_argument(
        "-e",
        "--epochs",
        type=int,
        help=f"total epochs (default {env.EPOCHS}; with --resume, default: as the run was started)",
    )
    p.add_argument(
        "--split",
        default="unseen",
        help="unseen | overlapped | random | a file listing validation clips (speaker/stem per line)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="FILE",
        help="a file listing clips (speaker/stem per line) kept out of training and validation, e.g. a test set (repeatable)",
    )
    p.add_argument("--speakers", nargs="+", default=[], help="train and validate on these speakers only, e.g. s1 s2")
    p.add_argument("-b", "--batch-size", type=int, default=env.BATCH_SIZE)
    p.add_argument("-lr", "--learning-rate", type=float, default=env.LEARNING_RATE)
    p.add_argument(
        "--schedule",
        choices=env.LR_SCHEDULES,
        default="constant",
        help=f"learning rate: constant, or cosine annealing to {env.LR_FINAL_FRACTION:g}x over the epochs given by -e",
    )
    p.add_argument("--mixed-precision", action="store_true", help="bfloat16 compute (GPUs)")
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="data-parallel over this many GPUs (JAX or TensorFlow backend); -b is the batch of all of them together",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=4, help="threads assembling batches")
    p.add_argument(
        "--curriculum",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="word-level curriculum (LipNet paper): in the first EPOCHS epochs half the clips show one word (needs .align files)",
    )
    p.add_argument(
        "--windows",
        type=float,
        default=0.0,
        metavar="P",
        help="with probability P a clip is replaced by a window across it and another clip of its speaker, "
        "so the model learns continuous speech, not only sentences framed by silence (needs .align files)",
    )
    p.add_argument("-w", "--weights", help="start from these weights (fine-tune the shipped model on your own data)")
    aux = p.add_argument_group(
        "learning from the sound",
        "per-frame heads on the BiGRU, trained beside CTC on each clip's audio (its source recording is needed); "
        "the weights are the losses' beside CTC's 1 (cross-entropy summed over frames, as CTC's loss is), 0: off",
    )
    aux.add_argument("--aux-visemes", type=float, default=0.0, metavar="W", help="OVR viseme of every frame (aligned)")
    aux.add_argument("--aux-phones", type=float, default=0.0, metavar="W", help="phone of every frame (aligned)")
    aux.add_argument(
        "--distill", type=float, default=0.0, metavar="W", help="the audio teacher's phone posteriors per frame"
    )
    aux.add_argument(
        "--sources",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of the clips' source videos or audio, <DIR>/<speaker>/<clip>.mp4 or <DIR>/<clip>.mp4 "
        "(repeatable); default: beside the crops",
    )
    p.add_argument(
        "--model", type=json.loads, default={}, help="model overrides as JSON, e.g. '{\"batch_norm\": true}'"
    )
    p.add_argument(
        "--heads-only",
        action="store_true",
        help="keep the lip reader of -w as it is and train only its frame heads (--aux-*, --distill) on its features: "
        "minutes on a CPU; the heads time words on the lips and see when nobody speaks",
    )
    p.add_argument("-o", "--run-dir", help="where the run's files go (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last completed epoch")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if error := cli.missing(args.resume or args.dataset_path):
        return cli.fail(error)
    cli.start()
    from lipnet.lipreading import trainer

    try:
        if args.resume:
            run_dir = trainer.resume(args.resume, epochs=args.epochs)
        else:
            config = trainer.TrainConfig(
                data_dir=args.dataset_path,
                align_dirs=args.aligns_path,
                split=args.split,
                exclude=args.exclude,
                speakers=args.speakers,
                epochs=args.epochs or env.EPOCHS,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                schedule=args.schedule,
                mixed_precision=args.mixed_precision,
                seed=args.seed,
                workers=args.workers,
                weights=args.weights,
                curriculum_epochs=args.curriculum,
                windows=args.windows,
                model=args.model,
                devices=args.devices,
                aux_visemes=args.aux_visemes,
                aux_phones=args.aux_phones,
                distill=args.distill,
                source_dirs=args.sources,
            )
            run_dir = (trainer.fit_heads if args.heads_only else trainer.train)(config, args.run_dir)
    except LipnetError as err:
        return cli.fail(err)
    except KeyboardInterrupt:
        print("interrupted: continue with --resume", file=sys.stderr)
        return 130
    print(f"done: weights in {run_dir}/best.hdf5 (lowest validation CER) and {run_dir}/last.hdf5")
    return 0


if __name__ == "__main__":
    sys.exit(main())

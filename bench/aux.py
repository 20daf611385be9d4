"""Ablation of learning from the sound (issue 14): CTC alone against CTC + per-frame visemes, + distillation of
the audio teacher, + both, at equal budget, scored on held-out GRID s1.

    nohup .venv/bin/python bench/aux.py > runs/aux-ablation.log 2>&1 &     # ~35 min on a 2-core CPU
    .venv/bin/python bench/aux.py --epochs 1 --clips 16 --runs runs/aux-smoke  # a smoke test, a few minutes

Scale, chosen for this 2-core CPU: every arm fine-tunes the shipped model (``models/lipnet-grid-s1.hdf5``, its
configuration kept, ``rotate_input`` included: its trunk learnt turned crops) for 4 epochs at a constant Adam 5e-5,
batch 32, seed 0, on the 575 s1 clips outside ``s1_val.txt`` and ``s1_heldout.txt``, keeping the epoch with the
lowest s1_val CER. At the 6-9 clips/s measured in these runs (TensorFlow with oneDNN) an epoch takes 1-1.5 min
with its validation, an arm 5-7 min, the four ~25 min and scoring the nine checkpoints ~10 min. Fine-tuning, not training from scratch (hundreds of epochs), is what
fits; the rate is small because the model has converged, so 72 steps move it without undoing it, while the heads,
new, learn env.AUX_HEAD_SPEEDUP times faster. Weights 0.3 (per-frame cross-entropy summed over a clip, as CTC's
loss is) put each signal at about a third of CTC's per frame.

Each arm is a normal training run in ``<runs>/<arm>``: rerun after a kill, the ablation resumes an unfinished arm
(``--resume``) and skips finished ones. Each arm's ``last.hdf5`` (the equal budget's end) and ``best.hdf5`` are
then read on ``s1_heldout.txt`` with evaluate.py's own scoring, greedy and with the GRID grammar, and a markdown
table is printed (and written to ``<runs>/results.md``) below the shipped model's own row. The shipped model was
trained on the s1_val clips too, so its fine-tunes read them almost perfectly (CER < 0.2%) and s1_val barely
chooses: the last epoch is the comparison at equal budget.
"""

import argparse
import sys
from pathlib import Path

import evaluate  # noqa: E402
from lipnet import (  # noqa: E402
    cli,
    env,  # noqa: E402
    grid,
)
from lipnet.lipreading import dataset  # noqa: E402
from lipnet.storage import atomic_write_text  # noqa: E402

ARMS: dict[str, dict[str, float]] = {
    "ctc": {},
    "visemes": {"aux_visemes": 0.3},
    "distill": {"distill": 0.3},
    "both": {"aux_visemes": 0.3, "distill": 0.3},
}
VAL = env.SPLITS_DIR / "s1_val.txt"
HELDOUT = env.SPLITS_DIR / "s1_heldout.txt"
DECODERS = ("greedy", "grammar")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-d", "--data", type=Path, default=env.DATA_DIR / "sync" / "crops", help="crops, <data>/s1/*.npy")
    p.add_argument("--sources", type=Path, default=env.ROOT.parent / "shared" / "grid", help="<sources>/s1/*.mp4")
    p.add_argument("-w", "--weights", type=Path, default=env.DEFAULT_WEIGHTS, help="the model every arm starts from")
    p.add_argument("--runs", type=Path, default=env.RUNS_DIR / "aux-ablation", help="a run directory per arm in it")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("-e", "--epochs", type=int, default=4)
    p.add_argument("-lr", "--learning-rate", type=float, default=5e-5)
    p.add_argument("-b", "--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="threads assembling batches")
    p.add_argument(
        "--clips",
        type=int,
        default=0,
        help="smoke test: train on this many clips, and validate and score on a quarter as many (0: all)",
    )
    return p.parse_args(argv)


def subset(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """(the validation list, the lists of clips kept out) for the arms, and the held-out list to score; with
    --clips, shortened lists written in the runs directory."""
    if not args.clips:
        return VAL, [HELDOUT]
    keys = [s.key for s in dataset.discover(args.data) if s.speaker == "s1"]
    val, heldout = grid.read_list(VAL), grid.read_list(HELDOUT)
    train = [k for k in keys if k not in val and k not in heldout][: args.clips]
    few = max(args.clips // 4, 1)
    kept = {"val": sorted(val)[:few], "heldout": sorted(heldout)[:few]}
    for name, listed in kept.items():
        atomic_write_text(args.runs / f"{name}.txt", "".join(f"{k}\n" for k in listed))
    left_out = sorted(set(keys) - set(train) - set(kept["val"]) - set(kept["heldout"]))
    atomic_write_text(args.runs / "left-out.txt", "".join(f"{k}\n" for k in left_out))
    return args.runs / "val.txt", [args.runs / "heldout.txt", args.runs / "left-out.txt"]


def run_arm(name: str, args: argparse.Namespace, val: Path, exclude: list[Path]) -> Path:
    """Train one arm to `args.epochs` epochs in ``<runs>/<name>``, resuming what a kill left; returns the run."""
    from lipnet.lipreading import model as lipnet_model
    from lipnet.lipreading import trainer

    run = args.runs / name
    if (run / "last.hdf5").is_file() and lipnet_model.read_config(run / "last.hdf5")[1]["epoch"] >= args.epochs:
        print(f"{name}: done already", flush=True)
        return run
    if (run / "config.json").is_file():
        print(f"{name}: resuming", flush=True)
        return trainer.resume(run, epochs=args.epochs)
    config = trainer.TrainConfig(
        data_dir=str(args.data),
        split=str(val),
        exclude=[str(path) for path in exclude],
        speakers=["s1"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        workers=args.workers,
        weights=str(args.weights),
        source_dirs=[str(args.sources)],
        **ARMS[name],
    )
    print(f"{name}: {ARMS[name] or 'CTC only'}", flush=True)
    return trainer.train(config, run)


def score(weights: Path, args: argparse.Namespace, heldout: Path) -> dict:
    """evaluate.py's scores of a checkpoint on the held-out clips, per decoder."""
    from lipnet.lipreading.reader import LipReader

    options = evaluate.parse_args(
        ["-w", str(weights), "-d", str(args.data), "--split", str(heldout), "--speakers", "s1"]
    )
    options.decoders = list(DECODERS)
    return evaluate.evaluate(LipReader(weights), options)


def table(rows: list[tuple[str, dict]]) -> str:
    """Markdown: a row per model, CER / WER / sentences right per decoder."""
    head = "| model | " + " | ".join(f"{d} CER | {d} WER | {d} sentences" for d in DECODERS) + " |"
    lines = [head, "|---" * (1 + 3 * len(DECODERS)) + "|"]
    for name, scores in rows:
        cells = [f"{scores[d].cer:.2%} | {scores[d].wer:.2%} | {scores[d].accuracy:.1%}" for d in DECODERS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from lipnet.lipreading import model as lipnet_model

    args = parse_args(argv)
    cli.start()
    args.runs.mkdir(parents=True, exist_ok=True)
    val, exclude = subset(args)
    runs = {name: run_arm(name, args, val, exclude) for name in args.arms}
    heldout = exclude[0]
    rows = [(f"shipped ({args.weights.name})", score(args.weights, args, heldout))]
    for name, run in runs.items():  # the budget's end, and the epoch s1_val chose
        best = lipnet_model.read_config(run / "best.hdf5")[1]["epoch"]
        rows.append((f"{name}, epoch {args.epochs} (last)", score(run / "last.hdf5", args, heldout)))
        rows.append((f"{name}, epoch {best} (best on s1_val)", score(run / "best.hdf5", args, heldout)))
    clips = rows[0][1]["greedy"].count
    text = (
        f"Held-out s1 ({clips} clips), each arm fine-tuned from {args.weights.name} for {args.epochs} epochs at "
        f"Adam {args.learning_rate:g}, batch {args.batch_size}, seed {args.seed}; scored at its last epoch and at "
        "its epoch of least s1_val CER (ties: the first):\n\n" + table(rows)
    )
    atomic_write_text(args.runs / "results.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

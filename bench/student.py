"""The real-time student against its teacher, and what distillation is worth, on the same clips.

    python bench/student.py            # trains what runs/student-bench lacks (resumable), then scores
    python bench/student.py --ship     # ... and saves the distilled student best on validation in models/

Every student trains on the same clips (bench/common.py: 575 s1 clips and 4 speed-perturbed copies, validation on
60) for at most the same number of epochs; they differ only in what the name says. Scores: OVR viseme frame
accuracy on the 110 held-out s1 clips and the 10 other-speaker samples, all frames and speech frames (reference
not silence), beside the teacher's (the shipped lipsync model, whose phones add up into visemes); size and
compute per frame (lipnet.flops) and look-ahead.
"""

import argparse
import datetime
import os
import platform
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import common  # noqa: E402

from lipnet import (
    env,  # noqa: E402
    flops,  # noqa: E402
)
from lipnet.speech import lipsync, student  # noqa: E402

DISTILLED_COSINE = {"distill": 0.5, "temperature": 1.0, "running_mean": 2.0, "schedule": "cosine"}  # the recipe below
AUGMENT8 = [0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2]  # speed factors of eight perturbed copies, not four
AUGMENT4 = [0.85, 0.92, 1.08, 1.15]  # the four copies every student had before StudentConfig's default became eight
#: name -> StudentConfig overrides
#: what every student below is unless it says otherwise, whatever StudentConfig's defaults become
BASE = {
    "n_mels": 40,
    "delay": 3,
    "stack": 1,
    "layers": 1,
    "front": 0,
    "temperature": 1.0,
    "schedule": "constant",
    "augment": AUGMENT4,
}
STUDENTS = {
    "distilled": {"distill": 0.5, "temperature": 2.0, "running_mean": 0.0, "units": 32},
    "hard": {"distill": 0.0, "running_mean": 0.0, "units": 32},
    "distilled-running": {"distill": 0.5, "temperature": 2.0, "running_mean": 2.0, "units": 32},
    "hard-running": {"distill": 0.0, "running_mean": 2.0, "units": 32},
    "distilled-t1-running": {"distill": 0.5, "temperature": 1.0, "running_mean": 2.0, "units": 32},
    "distilled-delay6": {"distill": 0.5, "temperature": 2.0, "delay": 6, "running_mean": 0.0, "units": 32},  # too late
    "distilled-t1-running-0.8": {"distill": 0.8, "temperature": 1.0, "running_mean": 2.0, "units": 32},
    "distilled-t1-running-u36": {"distill": 0.5, "temperature": 1.0, "running_mean": 2.0, "units": 36},
    "hard-running-u36": {"distill": 0.0, "running_mean": 2.0, "units": 36},
    "hard-running-u36-cosine": {"distill": 0.0, "running_mean": 2.0, "units": 36, "schedule": "cosine"},
    "distilled-t1-running-u36-cosine": {**DISTILLED_COSINE, "units": 36},
    "distilled-m20-u44": {**DISTILLED_COSINE, "units": 44, "n_mels": 20},
    "hard-m20-u44": {**DISTILLED_COSINE, "distill": 0.0, "units": 44, "n_mels": 20},
    "distilled-m24-u42": {**DISTILLED_COSINE, "units": 42, "n_mels": 24},
    "distilled-front16-u40": {**DISTILLED_COSINE, "units": 40, "front": 16},
    "distilled-2x25": {**DISTILLED_COSINE, "units": 25, "layers": 2},
    "distilled-m16-u46": {**DISTILLED_COSINE, "units": 46, "n_mels": 16},
    "distilled-m20-front16-u43": {**DISTILLED_COSINE, "units": 43, "n_mels": 20, "front": 16},
    "distilled-m20-pairs-u57": {**DISTILLED_COSINE, "units": 57, "n_mels": 20, "stack": 2, "delay": 2},
    "distilled-pairs-u45": {**DISTILLED_COSINE, "units": 45, "stack": 2, "delay": 2},
    "distilled-m20-u44-aug8": {**DISTILLED_COSINE, "units": 44, "n_mels": 20, "augment": AUGMENT8},
    "distilled-m20-pairs-u57-aug8": {
        **DISTILLED_COSINE,
        "units": 57,
        "n_mels": 20,
        "stack": 2,
        "delay": 2,
        "augment": AUGMENT8,
    },
    "distilled-m20-u44-delay4": {**DISTILLED_COSINE, "units": 44, "n_mels": 20, "delay": 4},
    "hard-m20-u44-delay4": {**DISTILLED_COSINE, "distill": 0.0, "units": 44, "n_mels": 20, "delay": 4},
    "distilled-m20-u44-delay4-aug8": {**DISTILLED_COSINE, "units": 44, "n_mels": 20, "delay": 4, "augment": AUGMENT8},
    "hard-m20-u44-delay4-aug8": {
        **DISTILLED_COSINE,
        "distill": 0.0,
        "units": 44,
        "n_mels": 20,
        "delay": 4,
        "augment": AUGMENT8,
    },
}
MAX_LOOKAHEAD_MS = 53  # the shipped student: the distilled one best on validation among those looking no further
# ahead (distilled, as wav2vis's student is; its labels-only twins are the ablation). 60 ms end to end less a live
# block's wait and the compute (bench/latency.py)
EPOCHS = 80


def trained(name: str, runs: Path, train, val, teacher) -> student.Student:
    """The student `name`, trained (or its killed run resumed) now unless a previous run finished it."""
    config = student.StudentConfig(epochs=EPOCHS, **{**BASE, **STUDENTS[name]})
    config.teacher = str(env.LIPSYNC_MODEL.relative_to(env.ROOT)) if config.distill else ""
    about = {"train": "bench/common.py", "clips": len(train)}
    return common.trained(
        name, runs, student.load,
        lambda run_dir: student.resume(run_dir, train, val, teacher, verbose=0),
        lambda run_dir: student.train(config, train, val, teacher, run_dir, about, verbose=0),
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(env.RUNS_DIR / "student-bench"), help="trained students and their runs")
    p.add_argument("--only", nargs="*", help="train and score only these students")
    p.add_argument(
        "--ship", action="store_true", help=f"save the distilled student best on validation as {env.LIPSYNC_STUDENT}"
    )
    args = p.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    train, val, test, others = common.load_clips()
    teacher = lipsync.load(env.LIPSYNC_MODEL)
    names = args.only or list(STUDENTS)
    students = {name: trained(name, runs, train, val, teacher) for name in names}
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    say(f"{datetime.date.today()}, {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}")
    teacher_cost = flops.multiply_adds(teacher.estimator)
    teacher_scores = [lipsync.evaluate(teacher, clips, "ovr") for clips in (test, others)]
    say("\n| model | params | MFLOPs per s of audio | compute vs teacher | look-ahead | epochs | validation | s1 all "
        "| s1 speech | speech vs teacher | others all | others speech |")  # fmt: skip
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    say(
        f"| teacher (CNN + BiGRU, phones) | {teacher.estimator.count_params():,} | {2 * teacher_cost * 100 / 1e6:.1f} "
        f"| 100% | whole utterance | — | — | {_cells(teacher_scores[0])} | 100% | {_cells(teacher_scores[1])} |"
    )
    validation = {}
    for name, model in students.items():
        scores = [lipsync.evaluate(model, clips, "ovr") for clips in (test, others)]
        cost = flops.multiply_adds(model.network)
        log = runs_log(runs / name)
        validation[name] = max(float(row["val_accuracy"]) for row in log)
        say(
            f"| student {name} | {model.network.count_params():,} | {2 * cost * 100 / 1e6:.2f} "
            f"| {cost / teacher_cost:.1%} | {model.config.lookahead_ms:g} ms | {len(log)} "
            f"| {validation[name]:.1%} | {_cells(scores[0])} "
            f"| {scores[0].speech_accuracy / teacher_scores[0].speech_accuracy:.1%} | {_cells(scores[1])} |"
        )
    eligible = [
        n for n in students if students[n].config.lookahead_ms <= MAX_LOOKAHEAD_MS and students[n].config.distill
    ]
    shipped = max(eligible, key=validation.get)
    say(f"\nthe distilled student best on validation within {MAX_LOOKAHEAD_MS} ms of look-ahead: {shipped}")
    (runs / "results.md").write_text("\n".join(out) + "\n")
    if args.ship:
        path = students[shipped].save(env.LIPSYNC_STUDENT)
        shutil.copy(runs / shipped / "curves.png", path.with_suffix(".curves.png"))
        shutil.copy(runs / shipped / "log.csv", path.with_suffix(".log.csv"))


def runs_log(run_dir: Path) -> list[dict]:
    """The epochs a run logged."""
    from lipnet import runs

    return runs.read_log(run_dir / "log.csv", 10**9)


def _cells(scores: lipsync.Scores) -> str:
    return f"{scores.accuracy:.1%} | {scores.speech_accuracy:.1%}"


if __name__ == "__main__":
    main()

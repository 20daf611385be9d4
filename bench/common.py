"""What the benchmarks share: where the GRID data is, the clips every benchmark scores on, split by clip as the
shipped models were trained.

GRID s1 (745 clips, ../shared/grid/s1): lipnet/splits/s1_heldout.txt (110 test clips), s1_val.txt (60, choosing
epochs), the other 575 for training; and the 10 other-speaker samples (../shared/grid/samples, 9 speakers; s1's
bbaf2n, also there, left out). Labels: every frame's phone from forced alignment to the known sentence
(lipnet.speech.align, validated in bench/align.py).
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path

from lipnet import env, grid
from lipnet.speech import corpus

SHARED = env.ROOT.parent / "shared" / "grid"
#: The other-speaker samples in shared/grid/samples and their speakers (its README)
OTHER_SPEAKERS = {
    "pwij3p": "s2", "swwp2s": "s2", "sbia1a": "s3", "lwbsza": "s4", "lbax4n": "s5", "brbk7n": "s20",
    "lbbc2a": "s22", "lrwp9a": "s23", "swiz3n": "s26", "sbwe5n": "s32",
}  # fmt: skip


def split(name: str) -> list[str]:
    """The clip names (stems) of a split of lipnet/splits (``s1_heldout``, ``s1_val``), sorted."""
    return sorted(key.split("/")[-1] for key in grid.read_list(env.SPLITS_DIR / f"{name}.txt"))


def load_clips() -> tuple[list, list, list, list]:
    """(training, validation, held-out s1, other speakers) labelled clips."""
    clips = [corpus.load(p, [SHARED / "align"]) for p in corpus.find(SHARED / "s1")]
    train, val, test = grid.split(
        clips,
        grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"),
        grid.read_list(env.SPLITS_DIR / "s1_val.txt"),
    )
    others = [corpus.load(p) for p in corpus.find(SHARED / "samples") if p.stem in OTHER_SPEAKERS]
    return train, val, test, others


def trained(name: str, runs: Path, load: Callable, resume: Callable, train: Callable):
    """A bench's model `name`: `load`ed from ``<runs>/<name>.keras`` when a previous run finished it, else its killed
    run in ``<runs>/<name>`` `resume`d (``resume(run_dir)``), else trained there now (``train(run_dir)``), and saved;
    the time it took goes to standard error."""
    path = runs / f"{name}.keras"
    if path.is_file():
        return load(path)
    started, run_dir = time.perf_counter(), runs / name
    model = resume(run_dir) if (run_dir / "config.json").is_file() else train(run_dir)
    model.save(path)
    print(f"trained {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return model

"""The clips every audio benchmark scores on, split by clip as the shipped models were trained.

GRID s1 (745 clips, ../shared/grid/s1): lipnet/splits/s1_heldout.txt (110 test clips), s1_val.txt (60, choosing
epochs), the other 575 for training; and the 10 other-speaker samples (../shared/grid/samples, 9 speakers).
Labels: every frame's phone from forced alignment to the known sentence (lipnet.speech.align, validated in
bench/align.py).
"""

from lipnet import env, grid
from lipnet.speech import corpus

SHARED = env.ROOT.parent / "shared" / "grid"


def load_clips() -> tuple[list, list, list, list]:
    """(training, validation, held-out s1, other speakers) labelled clips."""
    clips = [corpus.load(p, [SHARED / "align"]) for p in corpus.find(SHARED / "s1")]
    train, val, test = corpus.split(
        clips,
        grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"),
        grid.read_list(env.SPLITS_DIR / "s1_val.txt"),
    )
    others = [corpus.load(p) for p in corpus.find(SHARED / "samples") if p.stem != "bbaf2n"]  # bbaf2n is s1's
    return train, val, test, others

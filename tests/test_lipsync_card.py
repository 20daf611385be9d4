"""The shipped lip-sync model's card, reproduced: its OVR frame accuracy on held-out s1 and on other speakers.

Labels come from forced alignment of each clip's known sentence (as bench/lipsync.py makes them), so a change to
audio reading, features, alignment, frame labels or the model that moves the published figures fails here.
"""

from pathlib import Path

import pytest

import env
from lipnet import corpus, grid, lipsync

GRID = env.ROOT.parent / "shared" / "grid"
CARD = {  # models/LIPSYNC_MODEL_CARD.md, "Results": OVR frame accuracy, (all frames, speech frames)
    "held-out s1": (0.949, 0.907),
    "other speakers": (0.850, 0.767),
}


@pytest.fixture(scope="module")
def model() -> lipsync.VisemeModel:
    return lipsync.load(env.LIPSYNC_MODEL)


@pytest.mark.skipif(not GRID.is_dir(), reason="needs ../shared/grid (the GRID data beside the checkout)")
def test_held_out_and_other_speaker_accuracy_match_the_card(model, tmp_path):
    held_out = sorted(grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"))
    sets = {
        "held-out s1": [GRID / f"{key}.mp4" for key in held_out],
        "other speakers": [p for p in sorted((GRID / "samples").glob("*.mpg")) if p.stem != "bbaf2n"],
    }
    for name, paths in sets.items():
        clips = [corpus.load(path, [GRID / "align"], cache_dir=tmp_path) for path in paths]
        scores = lipsync.evaluate(model, clips, "ovr")
        everything, speech = CARD[name]
        assert scores.accuracy == pytest.approx(everything, abs=0.005), name
        assert scores.speech_accuracy == pytest.approx(speech, abs=0.005), name


def test_the_card_states_these_figures():
    card = (env.ROOT / "models" / "LIPSYNC_MODEL_CARD.md").read_text()
    for everything, speech in CARD.values():
        assert f"{everything:.1%}" in card and f"{speech:.1%}" in card


def test_shipped_model_is_the_default(model):
    assert Path(env.LIPSYNC_MODEL).is_file() and model.config.classes == "phones" and model.config.kind == "sequence"

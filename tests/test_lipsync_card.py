"""The shipped lip-sync models' cards, reproduced: the OVR frame accuracy of the offline model (the teacher) and of
the real-time student on held-out s1 and on other speakers.

Labels come from forced alignment of each clip's known sentence (as bench/lipsync.py makes them), so a change to
audio reading, features, alignment, frame labels or the model that moves the published figures fails here.
"""

from pathlib import Path

import pytest
from conftest import GRID

from lipnet import env, grid
from lipnet.speech import corpus, lipsync, student

CARD = {  # models/LIPSYNC_MODEL_CARD.md, "Results": OVR frame accuracy, (all frames, speech frames)
    "held-out s1": (0.949, 0.907),
    "other speakers": (0.850, 0.767),
}
VOICES_CARD = {  # models/LIPSYNC_MODEL_CARD.md, "The synthetic voices' model": the same figures
    "held-out s1": (0.945, 0.900),
    "other speakers": (0.887, 0.828),
}
STUDENT_CARD = {  # models/LIPSYNC_STUDENT_CARD.md, "Results", the shipped student's row
    "held-out s1": (0.930, 0.866),
    "other speakers": (0.750, 0.606),
}


@pytest.fixture(scope="module")
def model() -> lipsync.VisemeModel:
    return lipsync.load(env.LIPSYNC_MODEL)


@pytest.fixture(scope="module")
def clip_sets(tmp_path_factory, grid_data) -> dict[str, list[corpus.Recording]]:
    """Held-out s1 and the other speakers' samples, labelled by aligning their known sentences."""
    cache = tmp_path_factory.mktemp("alignments")
    held_out = sorted(grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"))
    sets = {
        "held-out s1": [GRID / f"{key}.mp4" for key in held_out],
        "other speakers": [p for p in sorted((GRID / "samples").glob("*.mpg")) if p.stem != "bbaf2n"],
    }
    return {name: [corpus.load(p, [GRID / "align"], cache_dir=cache) for p in paths] for name, paths in sets.items()}


@pytest.mark.parametrize("which", ["teacher", "voices", "student"])
def test_held_out_and_other_speaker_accuracy_match_the_card(model, clip_sets, which):
    shipped, card = {
        "teacher": lambda: (model, CARD),
        "voices": lambda: (lipsync.load(env.ROOT / "models" / "lipsync-voices-grid-s1.keras"), VOICES_CARD),
        "student": lambda: (student.load(env.LIPSYNC_STUDENT), STUDENT_CARD),
    }[which]()
    for name, clips in clip_sets.items():
        scores = lipsync.evaluate(shipped, clips, "ovr")
        everything, speech = card[name]
        assert scores.accuracy == pytest.approx(everything, abs=0.005), name
        assert scores.speech_accuracy == pytest.approx(speech, abs=0.005), name


@pytest.mark.parametrize(
    "name, figures",
    [
        ("LIPSYNC_MODEL_CARD.md", CARD),
        ("LIPSYNC_MODEL_CARD.md", VOICES_CARD),
        ("LIPSYNC_STUDENT_CARD.md", STUDENT_CARD),
    ],
)
def test_the_cards_state_these_figures(name, figures):
    card = (env.ROOT / "models" / name).read_text()
    for everything, speech in figures.values():
        assert f"{everything:.1%}" in card and f"{speech:.1%}" in card


def test_shipped_model_is_the_default(model):
    assert Path(env.LIPSYNC_MODEL).is_file() and model.config.classes == "phones" and model.config.kind == "sequence"

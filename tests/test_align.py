import json

import numpy as np
import pytest
from conftest import GRID, ROOT

from lipnet import audio, env, grid, visemes
from lipnet.errors import LipnetError
from lipnet.speech import align

CLIPS = {  # GRID clips with their hand-checked .align files: s1 (H.264 + MP2) and s5 (original MPEG-1)
    ROOT / "samples" / "lgil7a.mp4": ROOT / "samples" / "lgil7a.align",
    ROOT / "tests" / "fixtures" / "lbax4n.mpg": GRID / "align" / "s5" / "lbax4n.align",
}


@pytest.mark.parametrize(
    "clip", [pytest.param(c, marks=[pytest.mark.grid] * (GRID in a.parents)) for c, a in CLIPS.items()]
)
def test_aligns_grid_clips_within_a_frame_of_the_hand_checked_boundaries(clip):
    reference = grid.read_align(CLIPS[clip])
    samples = audio.load(clip)
    result = align.align(samples, " ".join(w.text for w in reference))
    assert [w.label for w in result.words] == [w.text for w in reference]
    errors = [abs(a - b / 25) for w, r in zip(result.words, reference) for a, b in ((w.start, r.start), (w.end, r.end))]
    assert np.mean(errors) <= 0.04 and max(errors) <= 0.2
    # phones: contiguous from 0 to the end, silence around the sentence, each word's phones its pronunciation
    phones = result.phones
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(len(samples) / 16000)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))
    assert phones[0].label == phones[-1].label == "sil"
    spoken = [p.label for p in phones if p.label != "sil"]
    assert spoken == [p for w in result.words for p in visemes.phonemes(w.label)]


@pytest.mark.grid
def test_the_letter_z_is_zed():
    clip = GRID / "s1" / "bbaz5s.mp4"  # "bin blue at z five soon"
    reference = grid.read_align(GRID / "align" / "s1" / "bbaz5s.align")
    result = align.align(audio.load(clip), "bin blue at z five soon")
    z = next(w for w in result.words if w.label == "z")
    assert [p.label for p in result.phones if z.start <= p.start < z.end] == ["Z", "EH", "D"]
    truth = reference[3]
    assert abs(z.start - truth.start / 25) <= 0.04 and abs(z.end - truth.end / 25) <= 0.04


def test_words_of_any_text():
    assert align.words_of("Bin BLUE, at F2 now!") == ["bin", "blue", "at", "f", "two", "now"]
    assert align.words_of("  ") == []


def test_cache_is_reused_and_refreshed_when_the_text_changes(tmp_path):
    samples = audio.load(ROOT / "samples" / "lgil7a.mp4")
    cache = tmp_path / "s1" / "lgil7a.alignment.json"
    first = align.cached(cache, samples, "lay green in l seven again")
    assert first == align.Alignment.from_json(cache.read_text())
    data = json.loads(cache.read_text())
    data["words"][0][1] = 0.5  # marked, so a second read shows it came from the file
    cache.write_text(json.dumps(data))
    assert align.cached(cache, samples, "lay green in l seven again").words[0].start == 0.5
    assert align.cached(cache, samples, "lay green in l seven soon").words[-1].label == "soon"  # realigned


def test_bad_input():
    samples = audio.load(ROOT / "samples" / "lgil7a.mp4")
    with pytest.raises(LipnetError, match="no words"):
        align.align(samples, "?!")
    with pytest.raises(LipnetError, match="could not align"):  # far more words than 3 s can hold
        align.align(samples, " ".join(["seven"] * 40))


def test_guided_alignment_follows_the_phones_heard():
    """The fallback: the words aligned to the shipped classifier's phone posteriors, not to the sound."""
    from lipnet.speech import lipsync

    samples = audio.load(ROOT / "samples" / "lgil7a.mp4")
    posteriors = lipsync.load(env.LIPSYNC_MODEL).probabilities(samples)
    text = "lay green in l seven again"
    guided, fit = align.guided(posteriors, text)
    exact = align.align(samples, text)
    assert [w.label for w in guided.words] == text.split()
    assert np.mean([abs(a.start - b.start) for a, b in zip(guided.words, exact.words)]) < 0.02  # two frames
    assert guided.phones[0].label == "sil" and guided.phones[-1].end == pytest.approx(len(posteriors) / 100)
    assert fit > env.GUIDED_MIN_FIT > align.guided(posteriors, "bin blue at f two now")[1]  # another sentence: warned
    with pytest.raises(LipnetError, match="too short"):
        align.guided(posteriors[:10], text)

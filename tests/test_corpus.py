import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from lipnet import audio, grid, visemes
from lipnet.errors import LipnetError
from lipnet.speech import align, corpus, lipsync

SAMPLE = ROOT / "samples" / "lgil7a.mp4"  # "lay green in l seven again", .align beside it
SENTENCE = "lay green in l seven again"


@pytest.fixture(scope="module")
def aligned() -> align.Alignment:
    return align.align(audio.load(SAMPLE), SENTENCE)


def test_a_clip_with_its_sentence_is_aligned_and_cached(tmp_path, aligned):
    clip = corpus.load(SAMPLE, cache_dir=tmp_path)
    assert clip.key == "samples/lgil7a"
    assert clip.phones == aligned.phones
    assert (tmp_path / "samples" / "lgil7a.alignment.json").is_file()
    n = len(clip.samples) // 160
    frames = clip.frame_phones()
    assert len(frames) == n and frames[0] == "sil" and "G" in frames


def test_labels_beside_the_clip(tmp_path, aligned):
    """Timed phones, timed visemes, or the seed's per-frame OVR rows: each gives the same OVR frame targets."""
    n = len(audio.load(SAMPLE)) // 160
    expected = visemes.frame_labels(aligned.phones, 100, n, "ovr")
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("phones", "timed", "frames"):
        shutil.copy(SAMPLE, folder / f"{name}.mp4")  # no .align beside these copies
    (folder / "phones.phones.tsv").write_text(
        "start\tend\tphone\n" + "".join(f"{p.start}\t{p.end}\t{p.label}\n" for p in aligned.phones)
    )
    cues = visemes.cues_from_frames(expected, 100, "ovr")
    (folder / "timed.visemes.tsv").write_text(visemes.to_tsv(cues))  # lipsync.py's own output, read back
    seed = np.zeros((n * 10 // 8, 15))  # 8 ms frames, as the seed's data set has them
    centres = visemes.frame_labels(aligned.phones, 250, 2 * len(seed), "ovr")[1::2]  # each 8 ms frame's middle
    seed[np.arange(len(seed)), centres] = 1
    np.savetxt(folder / "frames.visemes.txt", seed, fmt="%.0f")
    by_phones = corpus.load(folder / "phones.mp4", cache_dir=None)
    assert by_phones.phones == aligned.phones
    np.testing.assert_array_equal(lipsync.clip_targets(by_phones, "ovr"), expected)
    timed = corpus.load(folder / "timed.mp4", cache_dir=None)
    assert timed.phones == [] and timed.visemes
    np.testing.assert_array_equal(lipsync.clip_targets(timed, "ovr"), expected)
    frames = corpus.load(folder / "frames.mp4", cache_dir=None)
    agreement = np.mean(lipsync.clip_targets(frames, "ovr") == expected)
    assert agreement > 0.97  # 8 ms label frames resampled to 10 ms ones: a few boundary frames move
    assert set(lipsync.clip_targets(frames, "vowels5")) <= {-1, 0, 1, 2, 3, 4}
    with pytest.raises(LipnetError, match="labelled with OVR visemes"):
        lipsync.clip_targets(frames, "phones")


def test_bad_labels(tmp_path):
    clip = shutil.copy(SAMPLE, tmp_path / "clip.mp4")
    with pytest.raises(LipnetError, match="no labels"):
        corpus.load(tmp_path / "clip.mp4", cache_dir=None)  # no sentence in its name, no file beside it
    Path(clip).with_suffix(".visemes.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(LipnetError, match="3 values a frame, expected 15"):
        corpus.load(clip, cache_dir=None)
    Path(clip).with_suffix(".visemes.txt").unlink()
    Path(clip).with_suffix(".phones.tsv").write_text("0.0 zero B\n")
    with pytest.raises(LipnetError, match="line 1 is not 'start end phone'"):
        corpus.load(clip, cache_dir=None)


def test_split_is_by_clip(tmp_path):
    clips = [corpus.Recording(grid.Clip(f"s1/c{i}"), np.zeros(10, np.float32), []) for i in range(10)]
    train, val, test = grid.split(clips, {"s1/c0", "s1/c1"}, {"s1/c1", "s1/c2"})
    assert [c.key for c in test] == ["s1/c0", "s1/c1"] and [c.key for c in val] == ["s1/c2"]
    assert {c.key for c in train}.isdisjoint({c.key for c in val + test}) and len(train) == 7

"""Training data: discovery, splits, crop loading (never unpickled), labels, batches."""

from pathlib import Path

import numpy as np
import pytest
from conftest import GRID

from lipnet import alphabet, grid
from lipnet.errors import LipnetError
from lipnet.lipreading import dataset


def _crops(path, frames=75, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((frames, 50, 100, 3), value, np.uint8))


@pytest.fixture
def corpus(tmp_path):
    for speaker, names in {"s1": ["bbaf2n", "lgil7a"], "s2": ["pwij3p"], "s14": ["swwp2s", "lbax4n"]}.items():
        for name in names:
            _crops(tmp_path / speaker / f"{name}.npy")
    _crops(tmp_path / "s14" / "holiday.npy")  # no sentence known: skipped
    return tmp_path


def test_discover_pairs_crops_with_sentences(corpus):
    samples = dataset.discover(corpus)
    assert len(samples) == 5
    assert {s.key for s in samples} >= {"s1/bbaf2n", "s14/swwp2s"}
    assert next(s for s in samples if s.key == "s1/bbaf2n").text == "bin blue at f two now"


def test_discover_reports_missing_or_empty_directories(tmp_path):
    with pytest.raises(LipnetError, match="no such data directory"):
        dataset.discover(tmp_path / "nope")
    with pytest.raises(LipnetError, match="no .npy crops"):
        dataset.discover(tmp_path)


def test_unseen_split_holds_out_speakers(corpus):
    train, val = dataset.split(dataset.discover(corpus), "unseen")
    assert {s.speaker for s in val} == {"s1", "s2"} and {s.speaker for s in train} == {"s14"}


def test_random_split_is_fixed_by_seed_and_list_split_reads_keys(corpus, tmp_path):
    samples = dataset.discover(corpus)
    assert dataset.split(samples, "random", seed=3, val_fraction=0.4) == dataset.split(
        samples, "random", seed=3, val_fraction=0.4
    )
    listing = tmp_path / "val.txt"
    listing.write_text("# held out\ns14/lbax4n\n")
    train, val = dataset.split(samples, str(listing))
    assert [s.key for s in val] == ["s14/lbax4n"] and len(train) == 4


def test_split_that_leaves_nothing_to_train_is_refused(corpus):
    samples = [s for s in dataset.discover(corpus) if s.speaker == "s1"]
    with pytest.raises(LipnetError, match="0 training"):
        dataset.split(samples, "unseen")


def test_load_clip_pads_with_last_frame_and_trims(tmp_path):
    path = tmp_path / "c.npy"
    clip = np.arange(74)[:, None, None, None] * np.ones((74, 50, 100, 3), np.uint8)
    np.save(path, clip.astype(np.uint8))
    padded = dataset.load_clip(path, 75)
    assert padded.shape == (75, 50, 100, 3) and (padded[74] == 73).all() and (padded[73] == 73).all()
    assert dataset.load_clip(path, 40).shape[0] == 40
    assert dataset.load_clip(path, None).shape[0] == 74


def test_load_clip_refuses_wrong_shapes_and_pickles(tmp_path):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((75, 50, 100), np.uint8))
    with pytest.raises(LipnetError, match=r"wrong.npy: crop array has shape"):
        dataset.load_clip(wrong)
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(LipnetError, match="pickled.npy: not a crop array"):
        dataset.load_clip(pickled)
    text = tmp_path / "text.npy"
    text.write_text("hello")
    with pytest.raises(LipnetError, match="text.npy"):
        dataset.load_clip(text)


def test_labels_pad_with_blank():
    y = dataset.labels(["ab", "b"], length=4)
    assert y.tolist() == [[2, 3, 0, 0], [3, 0, 0, 0]]
    with pytest.raises(LipnetError, match="longer than 4"):
        dataset.labels(["abcde"], length=4)


def test_batches_are_uint8_and_shuffle_per_epoch(corpus):
    samples = dataset.discover(corpus)
    batches = dataset.Batches(samples, 2, shuffle=True, seed=1, workers=1)
    x, y = batches[0]
    assert x.shape == (2, 75, 50, 100, 3) and x.dtype == np.uint8 and y.dtype == np.int32
    assert len(batches) == 2  # training drops the last partial batch
    first = batches.order.copy()
    batches.on_epoch_end()
    batches.set_epoch(0)
    assert (batches.order == first).all()  # reproducible per (seed, epoch), so resumed runs match
    assert len(dataset.Batches(samples, 2, shuffle=False, workers=1)) == 3  # validation keeps every clip


def test_channel_stats_measures_pixels(tmp_path):
    _crops(tmp_path / "s1" / "bbaf2n.npy", value=10)
    _crops(tmp_path / "s1" / "bbaf3s.npy", value=30)
    mean, std = dataset.channel_stats(dataset.discover(tmp_path))
    assert mean == pytest.approx([20, 20, 20]) and std == pytest.approx([10, 10, 10])


def test_word_curriculum_cuts_clips_down_to_one_word(tmp_path):
    clip = (np.arange(75)[:, None, None, None] * np.ones((75, 50, 100, 3))).astype(np.uint8)
    np.save(tmp_path / "bbaf2n.npy", clip)
    (tmp_path / "bbaf2n.align").write_text("0 23750 sil\n23750 29500 bin\n29500 34000 blue\n34000 74500 sil\n")
    samples = dataset.discover(tmp_path)
    assert [w.text for w in samples[0].words] == ["bin", "blue"]
    during = dataset.Batches(samples, 1, shuffle=True, workers=1, curriculum_epochs=50)
    texts = set()
    for epoch in range(20):
        during.set_epoch(epoch)
        x, y = during[0]
        text = alphabet.decode(y[0])
        texts.add(text)
        if text == "bin":  # frames outside 23.75-29.5 show the word's first or last frame: a still mouth
            assert set(np.unique(x[0, :, 0, 0, 0])) == set(range(23, 30))
    assert texts == {"bin", "blue", "bin blue"}  # word instances and whole sentences, half and half
    during.set_epoch(50)
    assert all(alphabet.decode(during[0][1][0]) == "bin blue" for _ in range(5))  # curriculum over


def _numbered(frames, first=0):
    """A clip whose every pixel holds its frame number (from `first`), so a window shows which frames it took."""
    return (np.arange(first, first + frames)[:, None, None, None] * np.ones((frames, 50, 100, 3))).astype(np.uint8)


def test_window_across_two_clips_keeps_whole_words_and_freezes_cut_ones():
    from lipnet.grid import Word

    first, second = _numbered(75), _numbered(75, first=100)
    first_words = (Word("bin", 20, 30), Word("blue", 30, 40), Word("now", 60, 70))
    second_words = (Word("lay", 10, 22), Word("red", 28, 38))
    window, text = dataset.window_clip(first, first_words, second, second_words, start=35)
    shown = window[:, 0, 0, 0].astype(int)
    assert window.shape == first.shape
    # frames 35..109 of the pair: "blue" (30-40) is cut on the left, "red" (75+28=103 to 113) on the right
    assert text == "now lay"
    assert list(shown[:5]) == [40] * 5  # blue's frames inside the window hold the frame after it
    assert list(shown[5:40]) == list(range(40, 75)) and list(shown[40:68]) == list(range(100, 128))
    assert list(shown[68:]) == [127] * 7  # red's frames hold the frame before it
    _, whole = dataset.window_clip(first, first_words, second, second_words, start=0)
    assert whole == "bin blue now"


def test_window_batches_mix_sentences_of_one_speaker(tmp_path):
    sentences = {"bbaf2n": ["bin", "blue"], "lgil7a": ["lay", "green"]}
    (tmp_path / "s1").mkdir()
    for (name, (a, b)), first, at in zip(sentences.items(), (0, 100), (50, 5)):  # bin blue late, lay green early
        np.save(tmp_path / "s1" / f"{name}.npy", _numbered(75, first))
        timings = f"{at * 1000} {(at + 10) * 1000} {a}\n{(at + 10) * 1000} {(at + 20) * 1000} {b}\n"
        (tmp_path / "s1" / f"{name}.align").write_text(f"0 {at * 1000} sil\n{timings}{(at + 20) * 1000} 75000 sil\n")
    # a window shows a run of whole words from two sentences played in a row (the partner may be the clip itself)
    allowed = set()
    for p in sentences.values():
        for q in sentences.values():
            words = p + q
            allowed |= {" ".join(words[i:j]) for i in range(4) for j in range(i + 1, 5)}
    batches = dataset.Batches(dataset.discover(tmp_path), 2, shuffle=True, workers=1, window_probability=1.0)
    texts = set()
    for epoch in range(15):
        batches.set_epoch(epoch)
        x, y = batches[0]
        for clip, label in zip(x, y):
            texts.add(alphabet.decode(label))
            if alphabet.decode(label) == "bin blue lay green":
                assert set(clip[:5, 0, 0, 0]) < set(range(75)) and set(clip[-5:, 0, 0, 0]) < set(range(100, 175))
    assert texts <= allowed and "bin blue lay green" in texts and len(texts) > 4


def test_malformed_align_file_is_a_one_line_error_naming_it(tmp_path):
    _crops(tmp_path / "s1" / "bbaf2n.npy")
    (tmp_path / "s1" / "bbaf2n.align").write_text("0 10 sil\ngarbage\n")
    with pytest.raises(LipnetError, match=r"bbaf2n.align: line 2"):
        dataset.discover(tmp_path)


@pytest.mark.grid
def test_shipped_s1_lists_keep_test_and_validation_apart():
    """s1_heldout.txt (test, 110 clips) and s1_val.txt (model selection, 60) list real s1 clips, none twice."""
    splits = Path(__file__).resolve().parents[1] / "lipnet" / "splits"
    test, val = grid.read_list(splits / "s1_heldout.txt"), grid.read_list(splits / "s1_val.txt")
    assert len(test) == 110 and len(val) == 60 and not test & val
    grid_s1 = GRID / "s1"
    assert test | val <= {f"s1/{p.stem}" for p in grid_s1.glob("*.mp4")} and len(list(grid_s1.glob("*.mp4"))) == 745

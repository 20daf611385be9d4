"""The GRID data layer: sentences from names and alignments, the grammar, splits, vocabulary."""

import numpy as np
import pytest
from conftest import GRID

from lipnet import alphabet, grid


def test_sentence_from_name_decodes_every_slot():
    assert grid.sentence_from_name("bbaf2n") == "bin blue at f two now"
    assert grid.sentence_from_name("s1/swwp2s.mpg") == "set white with p two soon"
    assert grid.sentence_from_name("lgizza.mp4") == "lay green in z zero again"


@pytest.mark.parametrize("name", ["clip", "bbaw2n", "xbaf2n", "bbaf2nn", "bbaf0n"])
def test_sentence_from_name_rejects_non_grid_names(name):
    assert grid.sentence_from_name(name) is None


def test_grammar_has_51_words_and_64000_sentences():
    assert len(grid.WORDS) == 51
    assert np.prod([len(slot) for slot in grid.GRAMMAR]) == 64000
    assert "w" not in grid.GRAMMAR[3]
    assert grid.is_sentence("place red by w nine soon") is False
    assert grid.is_sentence("place red by x nine soon") is True


def test_read_align_drops_pauses_and_tolerates_crlf(tmp_path):
    path = tmp_path / "x.align"
    path.write_bytes(b"0 23750 sil\r\n23750 29500 bin\r\n29500 29600 sp\r\n29600 34000 blue\r\n\r\n34000 74500 sil\r\n")
    words = grid.read_align(path)
    assert [w.text for w in words] == ["bin", "blue"]
    assert words[0].start == pytest.approx(23.75) and words[1].end == pytest.approx(34.0)


def test_read_align_names_the_file_and_line_when_malformed(tmp_path):
    path = tmp_path / "bad.align"
    path.write_text("0 100 sil\nnot a line\n")
    with pytest.raises(ValueError, match=r"bad.align: line 2"):
        grid.read_align(path)


@pytest.mark.grid
def test_alignments_agree_with_file_names():
    for align in sorted((GRID / "align" / "s1").glob("*.align"))[:200]:
        assert " ".join(w.text for w in grid.read_align(align)) == grid.sentence_from_name(align.stem)


def test_transcript_prefers_align_file_beside_or_under_speaker_dir(tmp_path):
    (tmp_path / "aligns" / "s9").mkdir(parents=True)
    (tmp_path / "aligns" / "s9" / "bbaf2n.align").write_text("0 10 sil\n10 20 hello\n20 30 world\n")
    video = tmp_path / "s9" / "bbaf2n.npy"
    assert grid.transcript(video, [tmp_path / "aligns"]) == "hello world"
    assert grid.transcript(video) == "bin blue at f two now"  # no align found: the file name
    assert grid.transcript(tmp_path / "holiday.mp4") is None
    (tmp_path / "holiday.lab").write_text("Hello,  there!\n")
    assert grid.transcript(tmp_path / "holiday.mp4") == "hello there"  # as it is scored
    (tmp_path / "count.lab").write_text("take 2\n")  # the model reads letters: "two", not "2"
    with pytest.raises(ValueError, match=r"count.lab: digit '2'"):
        grid.transcript(tmp_path / "count.mp4")


def test_standard_splits_are_shipped():
    unseen_val = grid.read_split("unseen", "val")
    assert {speaker for speaker, _ in unseen_val} == set(grid.UNSEEN_SPEAKERS)
    overlapped_val = grid.read_split("overlapped", "val")
    per_speaker = {}
    for speaker, _ in overlapped_val:
        per_speaker[speaker] = per_speaker.get(speaker, 0) + 1
    assert set(per_speaker.values()) == {255}
    assert not overlapped_val & grid.read_split("overlapped", "train")


def test_alphabet_round_trip_and_blank_is_zero():
    ids = alphabet.encode("bin blue")
    assert ids.min() >= 1 and alphabet.NUM_CLASSES == 28
    assert alphabet.decode(np.concatenate([[0], ids, [0, 0]])) == "bin blue"
    assert alphabet.normalize("  Bin,  BLUE!\n") == "bin blue"
    with pytest.raises(ValueError, match="'7'"):
        alphabet.encode("set 7")

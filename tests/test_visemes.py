import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

import env
from lipnet import decoding, grid, visemes

ARPABET = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH",
    "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
}  # fmt: skip


def test_lexicon_covers_grid_and_letters():
    assert set(grid.WORDS) <= set(visemes.LEXICON)
    assert set("abcdefghijklmnopqrstuvwxyz") <= set(visemes.LEXICON)
    assert {p for phones in visemes.LEXICON.values() for p in phones} <= ARPABET


def test_phonemes():
    assert visemes.phonemes("f") == ["EH", "F"]
    assert visemes.phonemes("W") == ["D", "AH", "B", "AH", "L", "Y", "UW"]
    assert visemes.phonemes("three") == ["TH", "R", "IY"]
    assert visemes.phonemes("hello") == ["HH", "AH", "L", "OW"]  # CMUdict, stress digits dropped
    assert visemes.phonemes("xqzv") == ["EH", "K", "S", "K", "Y", "UW", "Z", "IY", "V", "IY"]  # spelt


def test_cmudict_is_not_loaded_at_import():
    code = "import sys, lipnet.visemes; assert 'cmudict' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=env.ROOT)


def test_viseme_sets_cover_arpabet():
    names = {
        "ovr": {"PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"},
        "rhubarb": set("ABCDEFGH"),
        "neti": {"V1", "V2", "V3", "V4", *"ABCDEFGH"},
    }
    for name, viseme_set in visemes.VISEME_SETS.items():
        assert set(viseme_set.visemes) == ARPABET
        assert set(viseme_set.visemes.values()) == names[name]
    assert [s.silence for s in visemes.VISEME_SETS.values()] == ["sil", "X", "S"]


@pytest.mark.parametrize(
    "viseme_set, word, expected",
    [
        ("ovr", "bin", ["PP", "ih", "nn"]),
        ("ovr", "five", ["FF", "aa", "FF"]),
        ("ovr", "with", ["ou", "ih", "TH"]),
        ("rhubarb", "bin", ["A", "B", "B"]),
        ("rhubarb", "blue", ["A", "H", "F"]),
        ("rhubarb", "five", ["G", "C", "G"]),
        ("neti", "bin", ["E", "V4", "C"]),
        ("neti", "green", ["H", "A", "V4", "C"]),
        ("neti", "soon", ["B", "V2", "C"]),
    ],
)
def test_word_visemes(viseme_set, word, expected):
    assert [visemes.viseme(p, viseme_set) for p in visemes.phonemes(word)] == expected


def test_viseme_ignores_stress_and_rejects_unknown_sets():
    assert visemes.viseme("IH1") == "ih"
    with pytest.raises(ValueError):
        visemes.viseme("IH", "preston")


def contiguous(cues, duration):
    assert cues[0].start == 0.0
    assert cues[-1].end == pytest.approx(duration)
    for cue, following in itertools.pairwise(cues):
        assert cue.start < cue.end == following.start
        assert cue.viseme != following.viseme  # merged


def test_timeline_covers_the_clip():
    words = [("bin", 3, 10), ("blue", 10, 16), ("now", 20, 30)]
    for name in visemes.VISEME_SETS:
        contiguous(visemes.timeline(words, fps=25, viseme_set=name, duration=1.5), 1.5)
    cues = visemes.timeline(words, fps=25, duration=1.5)
    assert (cues[0].start, cues[0].end, cues[0].viseme, cues[0].word) == (0.0, 0.12, "sil", None)
    assert (cues[-1].start, cues[-1].end, cues[-1].viseme) == (1.2, 1.5, "sil")
    assert [c.viseme for c in cues if c.word == "blue"] == ["PP", "nn", "ou"]
    assert [c.viseme for c in cues] == ["sil", "PP", "ih", "nn", "PP", "nn", "ou", "sil", "nn", "aa", "sil"]


def test_timeline_weighs_vowels_double():
    cues = visemes.timeline([("at", 0, 3)], fps=25)
    assert [(c.viseme, c.phoneme) for c in cues] == [("aa", "AE"), ("DD", "T")]
    assert cues[0].end == pytest.approx(0.08)  # 2/3 of 3 frames
    assert cues[1].end == pytest.approx(0.12)


def test_timeline_merges_equal_visemes_across_words():
    cues = visemes.timeline([("in", 0, 4), ("now", 4, 8)], fps=25)
    assert [(c.viseme, c.phoneme, c.word) for c in cues] == [
        ("ih", "IH", "in"),
        ("nn", "N N", "in now"),
        ("aa", "AW", "now"),
    ]


def test_timeline_cuts_at_duration_and_checks_spans():
    cues = visemes.timeline([("bin", 0, 10)], fps=25, duration=0.2)
    contiguous(cues, 0.2)
    assert visemes.timeline([], duration=1.0)[0].viseme == "sil"
    with pytest.raises(ValueError):
        visemes.timeline([("bin", 0, 10), ("blue", 8, 12)])
    with pytest.raises(ValueError):
        visemes.timeline([("bin", 5, 5)])


def test_timeline_from_decoded_spans():
    frames = "_bb_i_n__ _nn_o_w__"
    probs = np.full((len(frames), 28), 0.1 / 27)
    for t, ch in enumerate(frames):
        probs[t, 0 if ch == "_" else " abcdefghijklmnopqrstuvwxyz".index(ch) + 1] = 0.9
    words = decoding.word_spans(probs, "bin now")
    cues = visemes.timeline(words, fps=25, duration=len(frames) / 25)
    contiguous(cues, len(frames) / 25)
    assert [c.word for c in cues if c.word] == ["bin", "bin", "bin", "now", "now"]


def test_json_round_trip_and_tsv():
    cues = visemes.timeline([("place", 2, 12), ("zero", 14, 20)], fps=25, duration=1.0)
    assert visemes.from_json(visemes.to_json(cues)) == cues
    lines = visemes.to_tsv(cues).splitlines()
    assert lines[0] == "start\tend\tviseme\tphoneme\tword"
    assert lines[1] == "0.000\t0.080\tsil\t\t"
    assert lines[2] == "0.080\t0.160\tPP\tP\tplace"  # P L EY S: 1/5 of 10 frames
    assert len(lines) == len(cues) + 1


def test_rhubarb_exports():
    cues = visemes.timeline([("bin", 0, 4)], fps=25, viseme_set="rhubarb", duration=0.2)
    # B IH N over 0.16 s, weights 1:2:1 -> A [0, 0.04], B (IH, N) [0.04, 0.16], then rest
    assert visemes.to_rhubarb_tsv(cues) == "0.00\tA\n0.04\tB\n0.16\tX\n0.20\tX\n"
    data = json.loads(visemes.to_rhubarb_json(cues, sound_file="clip.wav"))
    assert data["metadata"] == {"soundFile": "clip.wav", "duration": 0.2}
    assert data["mouthCues"] == [
        {"start": 0.0, "end": 0.04, "value": "A"},
        {"start": 0.04, "end": 0.16, "value": "B"},
        {"start": 0.16, "end": 0.2, "value": "X"},
    ]
    assert json.loads(visemes.to_rhubarb_json(cues, duration=3.0))["metadata"]["duration"] == 3.0


def test_rhubarb_exports_need_the_rhubarb_set():
    cues = visemes.timeline([("bin", 0, 4)], fps=25, viseme_set="ovr")
    with pytest.raises(ValueError):
        visemes.to_rhubarb_tsv(cues)
    with pytest.raises(ValueError):
        visemes.to_rhubarb_json(cues)

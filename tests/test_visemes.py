import itertools
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from lipnet import env, grid, visemes
from lipnet.lipreading import decoding

SAMPLES = env.ROOT / "samples"

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
    assert visemes.phonemes("z") == ["Z", "EH", "D"]  # GRID's speakers are British
    assert visemes.phonemes("xqzv") == ["EH", "K", "S", "K", "Y", "UW", "Z", "EH", "D", "V", "IY"]  # spelt


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
    assert lines[0] == "start_s\tend_s\tviseme\tphoneme\tword"
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
    for export in (visemes.to_rhubarb_tsv, visemes.to_rhubarb_json, visemes.to_rhubarb_xml, visemes.to_moho_dat):
        with pytest.raises(ValueError):
            export(cues)


def test_rhubarb_xml_export():
    cues = visemes.timeline([("bin", 0, 4)], fps=25, viseme_set="rhubarb", duration=0.2)
    text = visemes.to_rhubarb_xml(cues, sound_file="Tom & Jerry <take 2>.wav")
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<rhubarbResult>\n  <metadata>\n')
    assert '    <mouthCue start="0.04" end="0.16">B</mouthCue>\n' in text
    root = ElementTree.fromstring(text.encode())
    assert root.findtext("metadata/soundFile") == "Tom & Jerry <take 2>.wav"
    assert root.findtext("metadata/duration") == "0.20"
    assert [(c.get("start"), c.get("end"), c.text) for c in root.iter("mouthCue")] == [
        ("0.00", "0.04", "A"),
        ("0.04", "0.16", "B"),
        ("0.16", "0.20", "X"),
    ]
    assert ElementTree.fromstring(visemes.to_rhubarb_xml(cues, duration=3.0)).findtext("metadata/duration") == "3.00"
    empty = ElementTree.fromstring(visemes.to_rhubarb_xml([]))
    assert [(c.get("start"), c.get("end"), c.text) for c in empty.iter("mouthCue")] == [("0.00", "0.00", "X")]


def test_moho_dat_export():
    cues = visemes.timeline([("bin", 0, 4)], fps=25, viseme_set="rhubarb", duration=0.2)
    assert visemes.to_moho_dat(cues, fps=100) == "MohoSwitch1\n1 A\n5 B\n17 X\n21 X\n"
    # at 24 fps B starts in A's frame (0.04 s * 24 = 0.96): Rhubarb keeps the first shape of a frame
    assert visemes.to_moho_dat(cues) == "MohoSwitch1\n1 A\n4 X\n5 X\n"
    # the closing X moves a frame on rather than share the last cue's frame
    assert visemes.to_moho_dat([visemes.Cue(0.0, 0.01, "X")]) == "MohoSwitch1\n1 X\n2 X\n"
    words = [(w.text, round(w.start), round(w.end)) for w in grid.read_align(SAMPLES / "lgil7a.align")]
    for fps in (24, 25, 30, 60):
        lines = visemes.to_moho_dat(visemes.timeline(words, viseme_set="rhubarb", duration=3.0), fps).splitlines()
        frames = [int(line.split()[0]) for line in lines[1:]]
        assert lines[0] == "MohoSwitch1"
        assert frames[0] == 1
        assert all(a < b for a, b in itertools.pairwise(frames))
        assert {line.split()[1] for line in lines[1:]} <= set("ABCDEFGHX")
        assert lines[-1] == f"{int(3.0 * fps) + 1} X"


def test_classes():
    assert visemes.classes() == (
        "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
    )  # fmt: skip
    assert visemes.classes("rhubarb") == tuple("XABCDEFGH")
    assert visemes.classes("neti") == ("S", "V1", "V2", "V3", "V4", *"ABCDEFGH")
    assert [len(visemes.classes(name)) for name in ("ovr", "rhubarb", "neti")] == [15, 9, 13]
    for name, viseme_set in visemes.VISEME_SETS.items():
        assert set(visemes.classes(name)) == {viseme_set.silence, *viseme_set.visemes.values()}
    assert visemes.classes("ovr") is visemes.classes("ovr")  # cached
    with pytest.raises(ValueError):
        visemes.classes("preston")


BIN = [("sil", 0.0, 0.1), ("B", 0.1, 0.15), ("IH1", 0.15, 0.3), ("N", 0.3, 0.4)]


def test_frame_labels_at_100_hz_and_25_fps():
    sil, pp, ih, nn = (visemes.classes().index(v) for v in ("sil", "PP", "ih", "nn"))
    audio = visemes.frame_labels(BIN, 100, 44)
    assert audio.dtype == np.int64
    assert audio.tolist() == [sil] * 10 + [pp] * 5 + [ih] * 15 + [nn] * 10 + [sil] * 4  # past the last phone: silence
    video = visemes.frame_labels(BIN, 25, 11)  # instants 0, 0.04, ..., 0.4
    assert video.tolist() == [sil] * 3 + [pp] + [ih] * 4 + [nn] * 2 + [sil]
    assert audio[::4].tolist() == video.tolist()
    assert visemes.frame_phones(BIN, 25, 11) == ["sil"] * 3 + ["B"] + ["IH"] * 4 + ["N"] * 2 + ["sil"]
    assert visemes.frame_labels(BIN, 25, 11, "rhubarb").tolist() == [0] * 3 + [1] + [2] * 6 + [0]  # X A B
    assert visemes.frame_labels(BIN, 100, 0).shape == (0,)


def test_frame_labels_of_a_grid_sentence():
    # The words of a real GRID alignment, each shared evenly among its phones; no phone boundary is on the 10 ms grid.
    phones = []
    for word in grid.read_align(SAMPLES / "lgil7a.align"):
        sounds = visemes.phonemes(word.text)
        bounds = [(word.start + (word.end - word.start) * i / len(sounds)) / 25 for i in range(len(sounds) + 1)]
        phones += zip(sounds, bounds, bounds[1:])
    audio = visemes.frame_labels(phones, 100, 300)
    assert audio[::4].tolist() == visemes.frame_labels(phones, 25, 75).tolist()
    said = [p for p, _ in itertools.groupby(visemes.frame_phones(phones, 100, 300))]
    assert said == ["sil", *"L EY G R IY N IH N EH L S EH V AH N AH G EH N".split(), "sil"]
    cues = visemes.cues_from_frames(audio, 100)
    contiguous(cues, 3.0)
    assert [c.viseme for c in cues] == [
        v for v, _ in itertools.groupby(visemes.viseme(p) if p != "sil" else "sil" for p in said)
    ]
    assert cues[1].start == pytest.approx(0.5)  # "lay" starts at frame 12.5 of the video
    smooth = visemes.cues_from_frames(audio, 100, min_duration=0.07)
    contiguous(smooth, 3.0)
    assert min(round((c.end - c.start) * 100) for c in smooth) >= 7
    assert len(smooth) < len(cues)


def test_frame_phones_silence_tokens_and_gaps():
    phones = [
        ("SIL", 0.0, 0.02), ("+NSN+", 0.02, 0.04), ("<sil>", 0.04, 0.06), ("sp", 0.06, 0.08), ("[noise]", 0.08, 0.1),
        ("", 0.1, 0.12), ("AH0", 0.12, 0.14), ("M", 0.16, 0.18),
    ]  # fmt: skip
    assert visemes.frame_phones(phones, 100, 20) == ["sil"] * 12 + ["AH"] * 2 + ["sil"] * 2 + ["M"] * 2 + ["sil"] * 2
    labels = visemes.frame_labels(phones, 100, 20)
    assert set(labels[:12].tolist()) == set(labels[14:16].tolist()) == {0}


def test_frame_labels_reject_bad_input():
    with pytest.raises(ValueError):
        visemes.frame_labels(BIN, 100, 10, viseme_set="preston")
    with pytest.raises(ValueError):
        visemes.frame_phones([("QX", 0.0, 0.1)], 100, 10)  # not ARPAbet
    with pytest.raises(ValueError):
        visemes.frame_phones([("B", 0.0, 0.2), ("IH", 0.1, 0.3)], 100, 10)  # overlapping
    with pytest.raises(ValueError):
        visemes.frame_phones(BIN, 0, 10)


def spans(cues):
    return [(round(c.start * 100), round(c.end * 100), c.viseme) for c in cues]


def test_cues_from_frames_without_smoothing():
    labels = np.array([0, 0, 1, 1, 1, 12, 0])
    cues = visemes.cues_from_frames(labels, 100)
    contiguous(cues, 0.07)
    assert spans(cues) == [(0, 2, "sil"), (2, 5, "PP"), (5, 6, "ih"), (6, 7, "sil")]
    assert all(c.phoneme is None and c.word is None for c in cues)
    assert visemes.cues_from_frames(np.array([0, 1, 2], dtype=np.int64), 25, "rhubarb")[-1].end == 0.12
    assert visemes.cues_from_frames(np.zeros(0, dtype=np.int64), 100) == []


def test_cues_from_frames_holds_shapes_for_min_duration():
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 15, 80), rng.integers(1, 12, 80))
    for min_duration in (0.04, 0.07, 0.2):
        cues = visemes.cues_from_frames(labels, 100, min_duration=min_duration)
        contiguous(cues, len(labels) / 100)
        assert min(round((c.end - c.start) * 100) for c in cues) >= round(min_duration * 100)
    assert cues == visemes.cues_from_frames(labels, 100, min_duration=0.2)  # deterministic
    # shorter than min_duration as a whole: one cue
    assert spans(visemes.cues_from_frames(np.array([1, 2, 1]), 100, min_duration=0.07)) == [(0, 3, "FF")]


def test_cues_from_frames_gives_short_cues_to_the_longer_or_likelier_neighbour():
    labels = np.array([1] * 10 + [5] * 3 + [8] * 6)  # PP, kk, nn
    assert spans(visemes.cues_from_frames(labels, 100, min_duration=0.05)) == [(0, 13, "PP"), (13, 19, "nn")]
    probabilities = np.full((len(labels), 15), 0.05)
    probabilities[10:13, 8] = 0.3  # the kk frames look more like nn than like PP
    cues = visemes.cues_from_frames(labels, 100, min_duration=0.05, probabilities=probabilities)
    assert spans(cues) == [(0, 10, "PP"), (10, 19, "nn")]
    # neighbours equally long and no probabilities: the earlier one
    labels = np.array([1] * 5 + [2] * 2 + [3] * 5)
    assert spans(visemes.cues_from_frames(labels, 100, min_duration=0.05)) == [(0, 7, "PP"), (7, 12, "TH")]


def test_cues_from_frames_merges_equal_neighbours():
    labels = np.array([1] * 6 + [2] * 2 + [1] * 6 + [0] * 8)
    assert spans(visemes.cues_from_frames(labels, 100, min_duration=0.05)) == [(0, 14, "PP"), (14, 22, "sil")]


def test_cues_from_frames_rejects_bad_input():
    with pytest.raises(ValueError):
        visemes.cues_from_frames(np.array([0, 15]), 100)  # ovr has 15 classes
    with pytest.raises(ValueError):
        visemes.cues_from_frames(np.array([0.0, 1.0]), 100)
    with pytest.raises(ValueError):
        visemes.cues_from_frames(np.array([0, 1]), 100, probabilities=np.ones((2, 9)))
    with pytest.raises(ValueError):
        visemes.cues_from_frames(np.array([0, 1]), 100, viseme_set="preston")


def test_frame_visemes_of_a_hand_labelled_timeline():
    shapes = [("sil", 0.0, 0.1), ("PP", 0.1, 0.15), ("ih", 0.15, 0.3)]
    labels = visemes.frame_visemes(shapes, 100, 35)
    names = visemes.classes("ovr")
    assert [names[i] for i in labels] == ["sil"] * 10 + ["PP"] * 5 + ["ih"] * 15 + ["sil"] * 5
    np.testing.assert_array_equal(visemes.frame_visemes(shapes, 25, 9), labels[::4][:9])
    with pytest.raises(ValueError, match="not a viseme of the 'ovr' set"):
        visemes.frame_visemes([("B", 0.0, 0.1)], 100, 10)


def _best_by_search(p: np.ndarray, m: int, cost: float) -> float:
    """The best score over every labelling whose runs (but the last) last m frames or more: the decoder's answer."""
    best = -np.inf
    for labels in itertools.product(range(p.shape[1]), repeat=len(p)):
        runs = visemes.smoothed_runs(np.array(labels), 100, 0.0)
        if all(e - s >= m for s, e, _ in runs[:-1]):
            best = max(best, np.log(p)[np.arange(len(p)), labels].sum() - cost * (len(runs) - 1))
    return best


def test_decoded_runs_are_the_best_sequence_with_runs_long_enough():
    rng = np.random.default_rng(0)
    for _ in range(40):
        frames, k, m, cost = rng.integers(1, 7), rng.integers(1, 4), rng.integers(1, 4), rng.uniform(0, 2)
        p = rng.dirichlet(np.ones(k), frames)
        runs = visemes.decoded_runs(p, 100, m / 100, cost)
        labels = np.concatenate([[label] * (e - s) for s, e, label in runs])
        score = np.log(p)[np.arange(frames), labels].sum() - cost * (len(runs) - 1)
        assert score == pytest.approx(_best_by_search(p, m, cost))
        assert all(e - s >= m for s, e, _ in runs[:-1]) and runs[0][0] == 0 and runs[-1][1] == frames


def test_decoded_cues_keep_a_short_closure_the_merge_lost():
    names = visemes.classes("ovr")
    p = np.full((30, len(names)), 0.01)
    p[:12, names.index("aa")] = p[16:, names.index("aa")] = 0.9  # a vowel, a 40 ms p/b/m, the vowel again
    p[12:16, names.index("PP")] = 0.9
    p /= p.sum(1, keepdims=True)
    merged = visemes.cues_from_frames(p.argmax(1), 100, "ovr", 0.07, p)
    decoded = visemes.cues_from_probabilities(p, 100, "ovr", 0.03, 1.0)
    assert [c.viseme for c in merged] == ["aa"]
    assert [(round(c.start * 100), round(c.end * 100), c.viseme) for c in decoded] == [
        (0, 12, "aa"), (12, 16, "PP"), (16, 30, "aa")
    ]  # fmt: skip
    flicker = p.copy()  # one frame that barely favours another shape is not a cue
    flicker[20, names.index("E")] = flicker[20].max() * 1.05
    assert [c.viseme for c in visemes.cues_from_probabilities(flicker, 100, "ovr", 0.03, 1.0)] == ["aa", "PP", "aa"]


def test_rigs_without_extended_shapes_get_the_basic_shape_that_stands_in():
    names = visemes.classes("rhubarb")
    p = np.full((4, len(names)), 0.01)
    p[0, names.index("X")] = p[1, names.index("G")] = p[2, names.index("H")] = p[3, names.index("D")] = 0.9
    assert [names[i] for i in visemes.fold_extended(p, "GHX").argmax(1)] == ["X", "G", "H", "D"]
    assert [names[i] for i in visemes.fold_extended(p, "").argmax(1)] == ["A", "B", "C", "D"]
    assert [names[i] for i in visemes.fold_extended(p, "X").argmax(1)] == ["X", "B", "C", "D"]
    np.testing.assert_allclose(visemes.fold_extended(p, "").sum(1), p.sum(1))  # nothing lost, only moved
    with pytest.raises(ValueError, match="among G, H and X"):
        visemes.fold_extended(p, "GQ")


def test_moho_dat_frame_rate_and_preston_blair_names():
    cues = [visemes.Cue(0.0, 0.5, "X"), visemes.Cue(0.5, 1.0, "A"), visemes.Cue(1.0, 1.5, "G")]
    assert visemes.to_moho_dat(cues, 24).splitlines() == ["MohoSwitch1", "1 X", "13 A", "25 G", "37 X"]
    assert visemes.to_moho_dat(cues, 30, preston_blair=True).splitlines() == [
        "MohoSwitch1", "1 rest", "16 MBP", "31 FV", "46 rest"
    ]  # fmt: skip
    assert visemes.to_moho_dat(cues, 30, rest="A").splitlines()[-1] == "46 A"


def test_cues_name_the_phones_and_word_said_in_them():
    from lipnet.speech.align import Segment

    phones = [Segment("sil", 0.0, 0.2), Segment("B", 0.2, 0.3), Segment("IH", 0.3, 0.4), Segment("N", 0.4, 0.5)]
    cues = [visemes.Cue(0.0, 0.2, "sil"), visemes.Cue(0.2, 0.3, "PP"), visemes.Cue(0.3, 0.5, "ih")]
    named = visemes.annotated(cues, phones, [Segment("bin", 0.2, 0.5)])
    assert [(c.phoneme, c.word) for c in named] == [(None, None), ("B", "bin"), ("IH N", "bin")]

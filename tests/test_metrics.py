import json

import pytest

from lipnet import metrics

REFS = ["bin blue at f two now", "set red", "lay green"]
HYPS = ["bin blue at f too now", "set", "lay green"]  # 1 substitution; 4 deletions (" red"); exact
SPEAKERS = ["s1", "s2", "s1"]


def test_sentence_rates():
    assert metrics.sentence_cer(REFS[0], HYPS[0]) == pytest.approx(1 / 21)
    assert metrics.sentence_wer(REFS[0], HYPS[0]) == pytest.approx(1 / 6)
    assert metrics.sentence_cer(REFS[1], HYPS[1]) == pytest.approx(4 / 7)
    assert metrics.sentence_wer(REFS[1], HYPS[1]) == pytest.approx(1 / 2)
    assert metrics.sentence_cer("ab", "abc") == pytest.approx(1 / 2)  # an insertion
    assert metrics.sentence_wer("a b", "c d e") == pytest.approx(3 / 2)  # more edits than reference words
    assert metrics.sentence_cer("same", "same") == 0.0


def test_empty_reference():
    assert metrics.sentence_cer("", "") == 0.0
    assert metrics.sentence_cer("", "abc") == 1.0
    assert metrics.sentence_wer("", "a b") == 1.0
    assert metrics.cer([], []) == 0.0


def test_corpus_rates_weigh_by_reference_length():
    assert metrics.cer(REFS, HYPS) == pytest.approx(5 / 37)  # (1 + 4 + 0) / (21 + 7 + 9)
    assert metrics.wer(REFS, HYPS) == pytest.approx(2 / 10)  # (1 + 1 + 0) / (6 + 2 + 2)


def test_score_with_speakers():
    scores = metrics.score(REFS, HYPS, SPEAKERS)
    assert scores.cer == pytest.approx(5 / 37)
    assert scores.wer == pytest.approx(0.2)
    assert scores.mean_cer == pytest.approx((1 / 21 + 4 / 7 + 0) / 3)
    assert scores.mean_wer == pytest.approx((1 / 6 + 1 / 2 + 0) / 3)
    assert scores.accuracy == pytest.approx(1 / 3)
    assert scores.count == 3
    assert sorted(scores.speakers) == ["s1", "s2"]
    s1, s2 = scores.speakers["s1"], scores.speakers["s2"]
    assert (s1.cer, s1.wer, s1.mean_cer, s1.accuracy, s1.count) == pytest.approx((1 / 30, 1 / 8, 1 / 42, 0.5, 2))
    assert (s2.cer, s2.wer, s2.accuracy, s2.count) == pytest.approx((4 / 7, 1 / 2, 0.0, 1))


def test_to_dict_is_plain_json():
    assert "speakers" not in metrics.score(REFS, HYPS).to_dict()
    data = json.loads(json.dumps(metrics.score(REFS, HYPS, SPEAKERS).to_dict()))
    assert set(data) == {"cer", "wer", "mean_cer", "mean_wer", "accuracy", "count", "speakers"}
    assert data["count"] == 3
    s2 = {"cer": 4 / 7, "wer": 0.5, "mean_cer": 4 / 7, "mean_wer": 0.5, "accuracy": 0.0, "count": 1}
    assert data["speakers"]["s2"] == s2


def test_lengths_must_match():
    with pytest.raises(ValueError):
        metrics.cer(["a"], [])
    with pytest.raises(ValueError):
        metrics.score(REFS, HYPS, speakers=["s1"])


def test_a_wer_interval_holds_the_wer_and_narrows_with_more_sentences():
    refs = ["bin blue at f two now"] * 10
    hyps = ["bin blue at s two now"] * 3 + refs[:7]  # 3 words wrong of 60: 5%
    low, high = metrics.wer_interval(refs, hyps)
    assert low <= metrics.wer(refs, hyps) == 0.05 <= high and low == 0.0 and high >= 0.1
    many = metrics.wer_interval(refs * 10, hyps * 10)  # the same rate over ten times the sentences
    assert low <= many[0] < 0.05 < many[1] < high
    assert metrics.wer_interval(refs, refs) == (0.0, 0.0)

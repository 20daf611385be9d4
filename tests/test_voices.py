"""Synthetic voices (flite, festival, espeak-ng: real synthesisers) saying GRID sentences, and the recogniser
learning from them without lips."""

import shutil

import numpy as np
import pytest

from lipnet import audio, env, grid
from lipnet.errors import LipnetError
from lipnet.recognition import dataset, voices
from lipnet.recognition.model import RecognizerConfig

TEXT = "bin blue at a one now"
pytestmark = pytest.mark.skipif(
    None in (shutil.which("flite"), shutil.which("text2wave"), shutil.which("espeak-ng")),
    reason="needs flite, festival and espeak-ng (apt-get install flite festival festvox-kdlpc16k festvox-us-slt-hts espeak-ng)",
)


@pytest.mark.parametrize("voice", [*voices.LEARNT, "espeak-ng:en-us"])
def test_a_voice_says_a_sentence_between_pauses_on_the_video_clock(voice):
    said = voices.say(TEXT, voice)
    assert len(said) % audio.samples_per_video_frame() == 0
    pause, frame = round(voices.PAUSE * env.SAMPLE_RATE), audio.samples_per_video_frame()
    assert not said[:pause].any() and not said[-(pause - frame) :].any()  # the end cut to whole frames
    speech = said[pause : -(pause - frame)]
    assert 1.0 < len(speech) / env.SAMPLE_RATE < 3.0 and np.sqrt(np.mean(speech**2)) > 0.01


def test_slower_is_longer_and_the_letters_are_their_names():
    pauses = 2 * voices.PAUSE * env.SAMPLE_RATE
    slow, usual = (len(voices.say(TEXT, "flite:slt", stretch)) - pauses for stretch in (1.3, 1.0))
    assert 1.2 < slow / usual < 1.4
    # "a" the letter is "ay", not the article; z is "zed": the same sound as spelling them so
    np.testing.assert_array_equal(voices.say(TEXT, "flite:slt"), voices.say("bin blue at ay one now", "flite:slt"))
    np.testing.assert_array_equal(
        voices.say("set red by z two now", "flite:kal16"), voices.say("set red by zed two now", "flite:kal16")
    )


@pytest.mark.parametrize("voice", ["flite:nobody", "festival:nobody", "espeak-ng:nobody", "nobody", "sapi:david"])
def test_a_voice_that_is_not_there_is_one_line(voice):
    with pytest.raises(LipnetError) as err:  # a synthesiser would otherwise say it in its default voice
        voices.say(TEXT, voice)
    assert "\n" not in str(err.value) and voice.partition(":")[0] in str(err.value)


def test_sentences_are_grid_sentences_the_same_for_a_seed_and_never_those_kept():
    drawn = voices.sentences(200, seed=3)
    assert all(grid.is_sentence(t) for t in drawn) and drawn == voices.sentences(200, seed=3)
    assert len(set(drawn)) > 190 and drawn != voices.sentences(200, seed=4)
    kept = set(drawn[:50])
    assert not kept & set(voices.sentences(200, seed=3, excluding=kept))


def test_a_synthetic_voice_is_learnt_from_without_lips():
    config = RecognizerConfig(voices=("flite:slt", "festival:ked_diphone"), voiced=2, batch_size=4, drop_audio=1.0)
    said = dataset.voiced(config)
    assert [u.key.split("/")[0] for u in said] == ["flite:slt", "festival:ked_diphone"] * 2
    assert all(not u.seen and len(u.lips) == audio.video_frames(len(u.samples)) for u in said)
    assert [u.text for u in said] == voices.sentences(4, config.seed)
    x, y, weights = dataset.Batches(said, config)[0]
    assert not x["lips"].any() and x["sound"].any()  # no lips, and never the sound withheld: it is all there is
    np.testing.assert_array_equal(weights["audio"], 1)
    with pytest.raises(LipnetError, match="needs voices"):
        RecognizerConfig(voiced=3).check()

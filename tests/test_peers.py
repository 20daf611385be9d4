"""The lip-sync benchmark's peers (bench/peers.py) on a real GRID clip: "lay green in l seven again", speech from
0.5 s to 2.1 s of 3 s."""

import importlib.util

import numpy as np
import pytest
from conftest import ROOT

from lipnet import audio

_spec = importlib.util.spec_from_file_location("bench_peers", ROOT / "bench" / "peers.py")
peers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peers)

ARPABET = {
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH",
    "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
}  # fmt: skip
OVR = {"sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou"}

# pylipsync pins numpy < 2.4, which lipnet's numpy is not: .ci/run installs it with --no-deps (it runs fine)
needs_pylipsync = pytest.mark.skipif(not importlib.util.find_spec("pylipsync"), reason="pylipsync not installed")
PEERS = [
    pytest.param(peers.pocketsphinx_visemes, id="pocketsphinx"),
    pytest.param(peers.pylipsync_visemes, id="pylipsync", marks=needs_pylipsync),
    pytest.param(
        peers.headaudio_visemes,
        id="headaudio",
        marks=pytest.mark.skipif(not peers.headaudio_available(), reason="Node.js or @met4citizen/headaudio missing"),
    ),
]


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return audio.load(ROOT / "samples" / "lgil7a.mp4")


@pytest.mark.parametrize("peer", PEERS)
def test_peer_labels_every_frame_with_ovr_visemes(peer, clip):
    visemes = peer(clip)
    assert isinstance(visemes, np.ndarray)
    assert len(visemes) == len(clip) // 160 == 297
    assert set(visemes.tolist()) <= OVR
    assert (visemes[:30] == "sil").mean() > 0.5  # the first 0.3 s: silence
    assert (visemes[70:170] != "sil").mean() > 0.3  # 0.7-1.7 s: "green in l seven" (pylipsync hears 44%)


def test_ovr_set_is_lipnets():
    assert peers.OVR_VISEMES == OVR
    assert set(peers.HEADAUDIO_TO_OVR) == OVR
    assert set(peers.PYLIPSYNC_TO_OVR.values()) == {"aa", "E", "ih", "oh", "ou", "sil"}


def test_pocketsphinx_phones_are_contiguous_and_cover_the_clip(clip):
    phones = peers.pocketsphinx_phones(clip)
    assert phones[0][1] == 0.0
    assert phones[-1][2] == pytest.approx(len(clip) / 16000)
    for (_, _, end), (_, start, _) in zip(phones, phones[1:]):
        assert start == end
    assert all(start < end for _, start, end in phones)
    assert {phone for phone, _, _ in phones} <= ARPABET | {"sil"}
    assert len([phone for phone, _, _ in phones if phone != "sil"]) >= 10  # 19 phonemes in the sentence


def test_pocketsphinx_does_not_depend_on_the_clip_before(clip):
    first = peers.pocketsphinx_phones(clip)
    peers.pocketsphinx_phones(audio.load(ROOT / "samples" / "pwbq6p.mp4"))
    assert peers.pocketsphinx_phones(clip) == first


@needs_pylipsync
def test_pylipsync_classes_are_the_bundled_profile():
    assert set(peers._analyzer().phoneme_mfccs) == set(peers.PYLIPSYNC_TO_OVR)


@pytest.mark.parametrize("peer", PEERS[:2])
def test_peer_on_a_clip_shorter_than_a_frame(peer):
    assert len(peer(np.zeros(100, dtype=np.float32))) == 0

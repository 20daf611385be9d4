"""Offsets kept in the container: files made by ffmpeg the way editors and recorders write them, read on the
picture's clock by the one audio loader, and moved back by `remux.shift_audio` without re-encoding."""

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.signal
from conftest import ROOT

from lipnet import audio, remux
from lipnet.errors import LipnetError

SAMPLE = ROOT / "samples" / "sbbn6n.mp4"  # held-out s1, H.264 + the original MPEG audio, in sync
MPEG = ROOT / "tests" / "fixtures" / "pwij3p.mpg"  # GRID's own MPEG-1 + MP2 (speaker s2)
FRAME = 640  # samples of 16 kHz sound in a 25 fps video frame
CLOSE = 32  # 2 ms: what container time stamps and priming are honoured within

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg program to make the files")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def lag(x: np.ndarray, reference: np.ndarray) -> int:
    """Samples by which `x` is late against `reference`, by cross-correlation."""
    n = min(len(x), len(reference))
    return int(np.argmax(scipy.signal.correlate(x[:n], reference[:n], method="fft")) - (n - 1))


@pytest.fixture(scope="module")
def aac(tmp_path_factory) -> Path:
    """The sample with its sound re-encoded AAC: 1024 priming samples, an MP4 edit list that hides them."""
    path = tmp_path_factory.mktemp("aac") / "clip.mp4"
    ffmpeg("-i", str(SAMPLE), "-c:v", "copy", "-c:a", "aac", str(path))
    return path


def test_aac_priming_is_dropped(aac):
    assert abs(lag(audio.load(aac), audio.load(SAMPLE))) <= CLOSE


@pytest.mark.parametrize("seconds", [0.2, -0.2, 0.12])
def test_itsoffset_is_read_from_the_stream_start_times(aac, tmp_path, seconds):
    shifted = tmp_path / "shifted.mp4"
    late = ["-itsoffset", str(abs(seconds))]
    if seconds > 0:  # the sound's stream starts late
        inputs = ["-i", str(aac), *late, "-i", str(aac)]
    else:  # the picture's stream starts late: the sound leads
        inputs = [*late, "-i", str(aac), "-i", str(aac)]
    ffmpeg(*inputs, "-map", "0:v", "-map", "1:a", "-c", "copy", str(shifted))
    assert abs(lag(audio.load(shifted), audio.load(aac)) - round(seconds * 16000)) <= CLOSE


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
@pytest.mark.parametrize("source", ["aac", "mpeg"])
def test_plain_remuxes_stay_in_sync(aac, tmp_path, suffix, source):
    original = aac if source == "aac" else MPEG
    copy = tmp_path / f"copy{suffix}"
    ffmpeg("-i", str(original), "-c", "copy", str(copy))
    assert abs(lag(audio.load(copy), audio.load(original))) <= CLOSE


def test_a_picture_without_sound_before_it_loses_the_sound_it_cannot_show(aac, tmp_path):
    early = tmp_path / "early.mp4"  # the picture starts 2.5 s in: half the sound plays before it
    ffmpeg("-itsoffset", "2.5", "-i", str(aac), "-i", str(aac), "-map", "0:v", "-map", "1:a", "-c", "copy", str(early))
    assert len(audio.load(early)) == pytest.approx(len(audio.load(aac)) - 2.5 * 16000, abs=CLOSE)


@pytest.mark.parametrize(
    "source, suffix",
    [("sample", ".mp4"), ("sample", ".mov"), ("sample", ".mkv"), ("mpeg", ".mp4"), ("mpeg", ".mkv"), ("mpeg", ".mpg")],
)
@pytest.mark.parametrize("frames", [5, -3])
def test_shift_moves_time_stamps_and_copies_both_streams(tmp_path, source, suffix, frames):
    original = SAMPLE if source == "sample" else MPEG
    moved = remux.shift_audio(original, tmp_path / f"moved{suffix}", frames)
    assert abs(lag(audio.load(moved), audio.load(original)) - frames * FRAME) <= CLOSE
    for kind in ("video", "audio"):  # nothing re-encoded: the same packets
        assert _packets(moved, kind) == _packets(original, kind)
    assert remux.video_frames(moved) == remux.video_frames(original) == 75


def _packets(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(getattr(container.streams, kind)[0]) if p.size]


def test_shift_from_matroska_keeps_every_frame(tmp_path):
    mkv = tmp_path / "obs.mkv"  # H.264 in Matroska, as OBS records: the first packets have no decoding time stamp
    ffmpeg("-i", str(SAMPLE), "-c:v", "copy", "-c:a", "aac", str(mkv))
    for suffix in (".mkv", ".mp4", ".mov"):
        moved = remux.shift_audio(mkv, tmp_path / f"moved{suffix}", 4)
        assert remux.video_frames(moved) == 75
        assert abs(lag(audio.load(moved), audio.load(mkv)) - 4 * FRAME) <= CLOSE


def test_a_sound_codec_the_container_refuses_is_re_encoded_alone(tmp_path):
    pcm = tmp_path / "pcm.mov"
    ffmpeg("-i", str(MPEG), "-c:v", "copy", "-c:a", "pcm_s16le", str(pcm))
    moved = remux.shift_audio(pcm, tmp_path / "moved.mpg", 3)  # MPEG-PS holds no little-endian PCM: MP2
    with av.open(str(moved)) as out:
        assert out.streams.audio[0].codec_context.name == "mp2"
        assert out.streams.video[0].codec_context.name == "mpeg1video"
    assert abs(lag(audio.load(moved), audio.load(pcm)) - 3 * FRAME) <= CLOSE


def test_a_copy_that_would_not_play_is_not_written(tmp_path):
    target = tmp_path / "moved.mpg"  # MPEG-PS takes H.264 packets but writes nothing a decoder can read
    with pytest.raises(LipnetError, match=r"moved\.mpg: not written, its copy decoded 0 of 75 video frames"):
        remux.shift_audio(SAMPLE, target, 2)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LipnetError, match=r"moved\.avi: write the clip as \.mp4"):
        remux.shift_audio(SAMPLE, tmp_path / "moved.avi", 2)


def test_a_file_that_is_no_video_is_one_error_and_nothing_written(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video\n")
    with pytest.raises(LipnetError, match=r"junk\.mp4: not a video FFmpeg can read"):
        remux.shift_audio(junk, tmp_path / "moved.mp4", 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]

"""sync.py as a user runs it: a real clip re-muxed with its sound moved, the offset found, the clip fixed."""

import json
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest
import scipy.signal
from conftest import ROOT, command, tool

import sync
from lipnet import audio, remux

SAMPLE = ROOT / "samples" / "sbbn6n.mp4"  # a held-out s1 clip: "set blue by n six now"


def run(*args: str) -> subprocess.CompletedProcess:
    """sync.py's main in this process (what it does; `tool` runs the script as a user does)."""
    return command(sync.main, *args)


def lag(x: np.ndarray, reference: np.ndarray) -> int:
    """Samples by which `x` is late against `reference`, by cross-correlation."""
    n = min(len(x), len(reference))
    return int(np.argmax(scipy.signal.correlate(x[:n], reference[:n], method="fft")) - (n - 1))


def test_the_script_runs_as_documented():
    """``python sync.py -v clip.mp4 --json``, as a user runs it: the shim starts the tool, quietly; a clip in sync."""
    result = tool("sync.py", "-v", str(SAMPLE), "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    (window,) = json.loads(result.stdout)["windows"]
    assert abs(window["offset_frames"]) <= 1


def test_finds_a_known_offset_and_fixes_it(tmp_path):
    shifted = remux.shift_audio(SAMPLE, tmp_path / "late.mp4", 7)  # the sound 7 frames (280 ms) late
    original = audio.load(SAMPLE)
    assert lag(audio.load(shifted), original) == 7 * 640  # the re-mux moved a time stamp; the loader honours it
    fixed, plot = tmp_path / "fixed.mp4", tmp_path / "curve.png"
    result = run("-v", str(shifted), "--json", "--plot", str(plot), "--fix", str(fixed))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    (window,) = json.loads(result.stdout)["windows"]
    assert abs(window["offset_frames"] - 7) <= 1 and window["offset_ms"] == 40 * window["offset_frames"]
    assert window["audio"].startswith("lags") and window["verdict"].startswith("off by")
    assert window["confidence"] >= 0.1 and len(window["distances"]) == 31
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the fix moved the sound back by the offset found: it now sits (7 - found) frames from the original
    assert lag(audio.load(fixed), original) == (7 - window["offset_frames"]) * 640
    with av.open(str(fixed)) as out, av.open(str(shifted)) as before:  # the picture copied, not re-encoded
        assert out.streams.video[0].codec_context.name == before.streams.video[0].codec_context.name
        packets = [bytes(p) for p in out.demux(out.streams.video[0]) if p.size]
        assert packets == [bytes(p) for p in before.demux(before.streams.video[0]) if p.size]
    again = run(str(fixed))  # and the fixed clip (named as read and lipsync name theirs) reads in sync, in words
    assert again.returncode == 0 and "in sync" in again.stdout and "frames (" in again.stdout


def test_a_directory_run_reports_each_clip_and_goes_on_after_a_bad_one(tmp_path):
    clips = tmp_path / "clips"
    remux.shift_audio(SAMPLE, clips / "take2" / "early.mp4", -4)
    (clips / "bad.mpg").write_text("not a video\n")
    result = run("-v", str(clips), "--fix", str(tmp_path / "fixed"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"failed: {clips / 'bad.mpg'}: ") and len(result.stderr.splitlines()) == 1
    line, wrote = result.stdout.splitlines()
    assert line.startswith(f"{clips / 'take2' / 'early.mp4'}: offset -") and "the audio leads by" in line
    assert wrote.startswith(
        f"{clips / 'take2' / 'early.mp4'}: wrote {tmp_path / 'fixed' / 'take2' / 'early.mp4'} (the sound moved +"
    )
    assert abs(lag(audio.load(tmp_path / "fixed" / "take2" / "early.mp4"), audio.load(SAMPLE))) <= 640


def _silent_copy(path: Path) -> Path:
    """A copy of the sample with its picture and no sound track."""
    with av.open(str(SAMPLE)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def _faceless(path: Path) -> Path:
    """Noise for a picture, with the sample's sound: no face to find."""
    sound = audio.load(SAMPLE)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        voice = out.add_stream("aac", rate=16000, layout="mono")
        for pixels in np.random.default_rng(0).integers(0, 256, (30, 120, 160, 3), dtype=np.uint8):
            out.mux(video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        out.mux(video.encode(None))
        frame = av.AudioFrame.from_ndarray(sound[None, :19200], format="flt", layout="mono")
        frame.sample_rate = 16000
        out.mux(voice.encode(frame))
        out.mux(voice.encode(None))
    return path


@pytest.mark.parametrize("kind", ["missing file", "no audio", "no face", "still image", "sound only"])
def test_bad_input_is_one_line(kind, tmp_path):
    if kind == "missing file":
        path = tmp_path / "missing.mp4"
    elif kind == "no audio":
        path = _silent_copy(tmp_path / "mute.mp4")
    elif kind == "no face":
        path = _faceless(tmp_path / "noise.mp4")
    elif kind == "still image":
        import cv2

        path = tmp_path / "still.png"
        cv2.imwrite(str(path), np.zeros((120, 160, 3), np.uint8))
    else:
        path = tmp_path / "speech.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((audio.load(SAMPLE) * 32767).astype("<i2").tobytes())
    result = run("-v", str(path), "--fix", str(tmp_path / "fixed.mp4"))
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"error: {path}"), result.stderr
    assert not (tmp_path / "fixed.mp4").exists()


def test_json_reports_every_input_and_a_clip_in_sync_is_left_alone(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "good.mp4").write_bytes(SAMPLE.read_bytes())  # in sync: nothing to fix
    (clips / "bad.mpg").write_text("not a video\n")
    result = run("-v", str(clips), "--json", "--fix", str(tmp_path / "fixed"))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    bad, good = (json.loads(line) for line in result.stdout.splitlines())
    assert bad["file"] == str(clips / "bad.mpg") and bad["error"].startswith(f"{clips / 'bad.mpg'}: ")
    assert good["file"] == str(clips / "good.mp4") and good["fixed"] is None
    assert all(w["verdict"] == "in sync" for w in good["windows"])
    assert not (tmp_path / "fixed").exists()


def test_another_sentence_of_the_same_voice_is_not_the_same_speech_and_is_not_fixed(tmp_path):
    """The picture of one s1 clip with the sound of another (same speaker, another sentence: a dub): the lips' and
    the voice's phones disagree, the verdict says so whatever the curve finds, and --fix writes nothing."""
    dubbed = tmp_path / "dubbed.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(SAMPLE), "-i", str(ROOT / "samples" / "lgil7a.mp4"),
         "-map", "0:v", "-map", "1:a", "-c", "copy", "-shortest", str(dubbed)],
        check=True,
    )  # fmt: skip
    result = run("-v", str(dubbed), "--json", "--fix", str(tmp_path / "fixed.mp4"))
    assert result.returncode == 0, result.stderr
    (window,) = json.loads(result.stdout)["windows"]
    assert window["verdict"].startswith("not the same speech"), window
    own = json.loads(run("-v", str(SAMPLE), "--json").stdout)["windows"][0]
    assert window["same_speech"] < -3.3 <= own["same_speech"]
    assert not (tmp_path / "fixed.mp4").exists()
    text = run("-v", str(dubbed), "--fix", str(tmp_path / "fixed.mp4")).stdout
    assert "same speech" in text and "not fixed (not the same speech)" in text

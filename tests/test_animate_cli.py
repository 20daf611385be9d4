"""animate.py as a user runs it on a real GRID clip: parameter files, renders with sound, a talking photo, the real
video beside the prediction, live JSON lines, and one-line errors for bad input."""

import csv
import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import ROOT, command, tool

import animate
from lipnet import video
from lipnet.animation import lipshape

SAMPLE = ROOT / "samples" / "pwbq6p.mp4"  # a held-out s1 clip, 3 s: "place white by q six please"


def run(*args: str) -> subprocess.CompletedProcess:
    """animate.py's main in this process (what it does; `tool` runs the script as a user does)."""
    return command(animate.main, *args)


def test_the_script_runs_as_documented(tmp_path):
    """``python animate.py -a speech -o out``, as a user runs it: the shim starts the tool, quietly."""
    result = tool("animate.py", "-a", str(SAMPLE), "-o", str(tmp_path))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads((tmp_path / "pwbq6p.anim.json").read_text())


def streams(path: Path) -> tuple[int, tuple[int, int], float]:
    """(video frames, (height, width), audio seconds) of an encoded file."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        sound = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    return len(frames), frames[0].shape[:2], sound


def test_parameters_and_a_render_with_sound(tmp_path):
    out = tmp_path / "mouth.mp4"
    result = run("-a", str(SAMPLE), "-o", str(tmp_path), "--video", str(out))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith(f"{SAMPLE}: ") and " s, 75 frames at 25 fps" in result.stdout
    saved = json.loads((tmp_path / "pwbq6p.anim.json").read_text())
    assert saved["fps"] == 25 and len(saved["frames"]) == 75 and saved["channels"] == list(lipshape.CHANNELS)
    jaw = np.array([f["channels"]["jawOpen"] for f in saved["frames"]])
    assert jaw[:5].mean() < jaw.max() - 0.3  # closed before "place", open during the words
    rows = list(csv.DictReader(open(tmp_path / "pwbq6p.anim.csv")))
    assert len(rows) == 75 and float(rows[40]["jawOpen"]) == pytest.approx(jaw[40], abs=1e-3)
    frames, size, seconds = streams(out)
    assert frames == 75 and size == (288, 360) and seconds == pytest.approx(3.0, abs=0.1)


def test_other_frame_rates_interpolate(tmp_path):
    result = run(str(SAMPLE), "--output-dir", str(tmp_path), "-f", "csv", "--fps", "60")  # the speech named as in read
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "pwbq6p.anim.csv")))
    assert len(rows) == 178 and float(rows[1]["time"]) == pytest.approx(1 / 60, abs=1e-4)  # 0 .. 2.96 s
    assert not (tmp_path / "pwbq6p.anim.json").exists()


def test_a_talking_photo_beside_the_real_video(tmp_path):
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), cv2.cvtColor(next(video.frames(ROOT / "samples" / "lgil7a.mp4")), cv2.COLOR_RGB2BGR))
    out = tmp_path / "photo.mp4"
    result = run(
        "-a", str(SAMPLE), "--output-dir", str(tmp_path), "--face", str(photo), "--side-by-side", "--video", str(out)
    )
    assert result.returncode == 0, result.stderr
    frames, size, _ = streams(out)
    assert frames == 75 and size == (288, 720)  # the clip's 360 x 288 video, then the 360 x 288 photo


def test_live_json_lines_from_a_file_at_its_pace():
    result = run("--live", str(SAMPLE), "--jsonl")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 75 and lines[1]["time"] == 0.04
    assert set(lines[0]["channels"]) == set(lipshape.CHANNELS) and len(lines[0]["points"]) == 20


@pytest.mark.parametrize(
    "args,message",
    [
        (["-a", "missing.wav"], "missing.wav: no such file"),
        (["-a", str(SAMPLE), "--video", "mouth.avi"], "mouth.avi: renders are .mp4"),
        (["-a", str(SAMPLE), "-o", "mouth.mp4"], "mouth.mp4: -o names the output directory"),
        (["-a", str(SAMPLE), "--face", str(SAMPLE)], "give --video OUT.mp4"),
        (["-a", str(SAMPLE), "-m", "models/lipsync-student-grid-s1.keras"], "not an animator"),
        ([], "give the speech: a sound or video file"),
        (["--live", str(SAMPLE), "--fps", "60"], "--fps and --video are for files"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, message):
    result = run("-o", str(tmp_path), *args)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_photo_without_a_face_is_one_line(tmp_path):
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    result = run(
        "-a", str(SAMPLE), "--output-dir", str(tmp_path), "--face", str(blank), "--video", str(tmp_path / "x.mp4")
    )
    assert result.returncode == 1 and result.stderr == f"error: {blank}: no face found\n"
    assert not (tmp_path / "x.mp4").exists()


def test_a_sound_without_video_cannot_go_beside_itself(tmp_path):
    import wave

    wav = tmp_path / "speech.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) / 5) * 8000).astype(np.int16).tobytes())
    result = run("-a", str(wav), "--output-dir", str(tmp_path), "--side-by-side", "--video", str(tmp_path / "x.mp4"))
    assert (
        result.returncode == 1 and result.stderr.startswith(f"error: {wav}: ") and len(result.stderr.splitlines()) == 1
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]  # said before anything was written

"""predict.py end to end on real clips: every output format, the pictures, and one-line errors for bad input."""

import json
import re
import shutil
import subprocess
import sys
import wave

import cv2
import h5py
import keras
import numpy as np
import pytest
from conftest import in_process

import predict
from lipnet import env, grid, visemes, writers
from lipnet.lipreading import model
from lipnet.lipreading.reader import Reading

SAMPLE = env.ROOT / "samples" / "lgil7a.mp4"
SRT_CUE = re.compile(r"(\d+)\n(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)\n(.+)")
VTT_CUE = re.compile(r"(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)\n(.+)")


def run(argv: list[str]) -> tuple[int, str, str]:
    """predict.main(argv) in this process: exit code, stdout, stderr."""
    return in_process(predict.main, argv)


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A small untrained GRID checkpoint: fast to load, and its grammar decoder still yields GRID sentences."""
    config = model.ModelConfig(filters=(4, 8, 8), gru_units=16)
    path = tmp_path_factory.mktemp("weights") / "tiny.hdf5"
    model.save(path, model.build(config, seed=0), config, extra={"grammar": "grid"})
    return path


@pytest.fixture(scope="module")
def everything(tiny_weights, tmp_path_factory):
    """One run writing every format, the rhubarb viseme files, an annotated video and a plot."""
    out = tmp_path_factory.mktemp("out")
    argv = ["-w", str(tiny_weights), "-v", str(SAMPLE), "-o", str(out), "--output-format", "all"]
    argv += ["--visemes", "rhubarb", "--annotate", str(out / "annotated.mp4"), "--plot", str(out / "plot.png")]
    code, stdout, stderr = run(argv)
    assert (code, stderr) == (0, "")
    return out, stdout.splitlines()


def test_prints_grid_sentence_and_reference(everything):
    _, lines = everything
    assert grid.is_sentence(lines[0])
    assert lines[1].startswith("reference: lay green in l seven again   CER ")


def test_writes_every_format(everything):
    out, lines = everything
    text = lines[0]
    assert (out / "lgil7a.txt").read_text() == text + "\n"

    data = json.loads((out / "lgil7a.json").read_text())
    assert data["text"] == text and data["decoder"] == "grammar" and data["duration"] == 3.0
    assert data["reference"] == "lay green in l seven again" and 0 <= data["cer"] and 0 <= data["wer"] <= 1
    assert [w["word"] for w in data["words"]] == text.split()
    assert all(0 <= w["start"] < w["end"] <= 3.0 for w in data["words"])
    assert data["visemes"]["set"] == "rhubarb" and data["visemes"]["cues"][-1]["end"] == 3.0

    srt = SRT_CUE.findall((out / "lgil7a.srt").read_text())
    assert [int(n) for n, *_ in srt] == list(range(1, len(srt) + 1))
    assert [re.search(r"<u>(\w+)</u>", t)[1] for *_, t in srt if "<u>" in t] == text.split()
    assert all(start < end for _, start, end, _ in srt)

    vtt = (out / "lgil7a.vtt").read_text()
    assert vtt.startswith("WEBVTT\n\n") and len(VTT_CUE.findall(vtt)) == len(srt)

    header, *rows = [line.split("\t") for line in (out / "lgil7a.tsv").read_text().splitlines()]
    assert header == ["start_s", "end_s", "word", "confidence"]  # seconds, as every TSV lipnet writes
    assert [word for _, _, word, _ in rows] == text.split()
    assert all(0 <= float(start) < float(end) <= 3.0 and 0 <= float(c) <= 1 for start, end, _, c in rows)

    cues = visemes.from_json((out / "lgil7a.visemes.json").read_text())
    assert cues[0].start == 0 and cues[-1].end == pytest.approx(3.0)
    assert {c.viseme for c in cues} <= set("ABCDEFGHX")
    assert (out / "lgil7a.visemes.tsv").read_text().startswith("start_s\tend_s\tviseme\tphoneme\tword\n")
    rhubarb = json.loads((out / "lgil7a.rhubarb.json").read_text())
    assert rhubarb["metadata"]["duration"] == 3.0
    assert {c["value"] for c in rhubarb["mouthCues"]} <= set("ABCDEFGHX")
    assert all(
        re.fullmatch(r"\d+\.\d\d\t[A-HX]", line) for line in (out / "lgil7a.rhubarb.tsv").read_text().split("\n")[:-1]
    )

    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files behind


def test_annotated_video_and_plot(everything):
    out, _ = everything
    capture = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert capture.isOpened() and capture.get(cv2.CAP_PROP_FPS) == env.FPS
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == 75
    import av

    with av.open(str(out / "annotated.mp4")) as annotated:  # what browsers play: H.264, and the clip's sound
        assert annotated.streams.video[0].codec_context.name == "h264"
        assert annotated.streams.audio[0].codec_context.name == "aac"
    image = cv2.imread(str(out / "plot.png"))
    assert image is not None and image.shape[1] > image.shape[0] > 300


def test_shipped_model_reads_sample(tmp_path):
    code, stdout, stderr = run(["-v", str(SAMPLE), "-o", str(tmp_path), "-f", "txt"])
    assert (code, stderr) == (0, "")
    assert stdout.splitlines()[0] == "lay green in l seven again"


def test_shipped_model_reads_the_sample_reshot_as_a_users_video(tmp_path):
    """The same clip as a user might film it: 1280x720, 30 fps, face 1.8x larger, off centre, head tilted 9 degrees.

    Resampling to 25 fps and the eye-levelling similarity warp must give the model the crops it knows.
    """
    from lipnet import video

    frames, _ = video.read(SAMPLE)
    clip = tmp_path / "lgil7a.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 30, (1280, 720))
    tilt = cv2.getRotationMatrix2D((820, 400), 9, 1.0)
    for i in range(len(frames) * 30 // 25):
        big = cv2.resize(frames[i * 25 // 30], None, fx=1.8, fy=1.8, interpolation=cv2.INTER_CUBIC)
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        canvas[150 : 150 + big.shape[0], 500 : 500 + big.shape[1]] = big
        writer.write(
            cv2.cvtColor(cv2.warpAffine(canvas, tilt, (1280, 720), borderValue=(90, 90, 90)), cv2.COLOR_RGB2BGR)
        )
    writer.release()
    code, stdout, stderr = run(["-v", str(clip), "-o", str(tmp_path / "out"), "-f", "txt"])
    assert (code, stderr) == (0, "")
    assert stdout.splitlines()[0] == "lay green in l seven again"


def _noise_video(path):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), env.FPS, (160, 120))
    for frame in np.random.default_rng(0).integers(0, 256, (10, 120, 160, 3), dtype=np.uint8):
        writer.write(frame)
    writer.release()


def _bad_input(kind, tmp_path, tiny_weights):
    """The -w and -v arguments of a bad input."""
    weights, video = tiny_weights, SAMPLE
    if kind == "missing video":
        video = tmp_path / "missing.mp4"
    elif kind == "text named .mpg":
        video = tmp_path / "clip.mpg"
        video.write_text("not a video\n")
    elif kind == "audio file":  # a sound track alone: OpenCV warns before failing, which must not show
        video = tmp_path / "speech.wav"
        with wave.open(str(video), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())
    elif kind == "video without a face":
        video = tmp_path / "noise.mp4"
        _noise_video(video)
    elif kind == "corrupt weights":
        weights = tmp_path / "corrupt.hdf5"
        weights.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "hdf5, not a checkpoint":
        weights = tmp_path / "other.h5"
        with h5py.File(weights, "w") as h5:
            h5["x"] = np.zeros(3)
    elif kind == "another architecture":
        weights = tmp_path / "other.hdf5"
        shutil.copy(tiny_weights, weights)
        with h5py.File(weights, "a") as h5:
            config = json.loads(h5.attrs["config"])
            h5.attrs["config"] = json.dumps(config | {"filters": [4, 8, 16]})
    return weights, video


@pytest.mark.parametrize(
    "kind",
    [
        "missing video",
        "text named .mpg",
        "audio file",
        "video without a face",
        "corrupt weights",
        "hdf5, not a checkpoint",
        "another architecture",
    ],
)
def test_bad_input_is_one_line(kind, tmp_path, tiny_weights):
    weights, video = _bad_input(kind, tmp_path, tiny_weights)
    code, stdout, stderr = run(["-w", str(weights), "-v", str(video), "-o", str(tmp_path / "out")])
    assert_one_line_error(code, stderr)
    assert stdout == "" and not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["corrupt weights", "text named .mpg", "audio file"])
def test_command_line_error_is_one_line(kind, tmp_path, tiny_weights):
    """As a process: the native logs of TensorFlow and OpenCV must not reach stderr either."""
    weights, video = _bad_input(kind, tmp_path, tiny_weights)
    result = subprocess.run(
        [sys.executable, "predict.py", "-w", str(weights), "-v", str(video), "-o", str(tmp_path)],
        cwd=env.ROOT,
        capture_output=True,
        text=True,
    )
    assert_one_line_error(result.returncode, result.stderr)
    assert str(weights if kind == "corrupt weights" else video) in result.stderr


def test_directory_run_reports_bad_clip_and_continues(tmp_path, tiny_weights):
    clips = tmp_path / "clips" / "s1"
    clips.mkdir(parents=True)
    shutil.copy(SAMPLE, clips / SAMPLE.name)
    shutil.copy(SAMPLE.with_suffix(".align"), clips / "lgil7a.align")
    (clips / "bad.mpg").write_text("not a video\n")
    out = tmp_path / "out"
    code, stdout, stderr = run(["-w", str(tiny_weights), "-v", str(tmp_path / "clips"), "-o", str(out), "-f", "txt"])
    assert code == 1
    assert len(stderr.splitlines()) == 1 and stderr.startswith(f"failed: {clips / 'bad.mpg'}: ")
    first, reference = stdout.splitlines()
    assert first.startswith(f"{clips / 'lgil7a.mp4'}: ") and grid.is_sentence(first.split(": ", 1)[1])
    assert reference.strip().startswith("reference: lay green in l seven again")
    assert (out / "s1" / "lgil7a.txt").read_text() == first.split(": ", 1)[1] + "\n"


def test_subtitles_group_long_readings_into_lines():
    words = [
        (f"word{i}", 0.4 * i, 0.4 * i + 0.32) for i in range(8)
    ]  # 8 words of 5 letters: two lines of 42 characters
    reading = Reading(" ".join(w for w, _, _ in words), "beam", np.zeros((80, 28)), words, "video", 0.5)
    cues = writers._subtitle_cues(reading)
    assert len(cues) == 8 + 6  # a cue per word, and one per gap within a line
    assert cues[0] == (0.0, 0.32, "<u>word0</u> word1 word2 word3 word4 word5 word6")
    assert cues[-1][2] == "<u>word7</u>"
    assert writers.to_srt(Reading("", "beam", np.zeros((75, 28)), [], "", 0.0)) == ""
    assert (
        writers.to_vtt(Reading("a b", "greedy", np.zeros((75, 28)), [], "", 0.5))
        == "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\na b\n\n"
    )


def test_live_mode_reads_a_stream_in_sliding_windows(tmp_path):
    """Two GRID sentences back to back, streamed: the windows that line up with them read them exactly."""
    from lipnet import video

    stream = tmp_path / "two.mp4"
    writer = cv2.VideoWriter(str(stream), cv2.VideoWriter_fourcc(*"mp4v"), env.FPS, (360, 288))
    for sample in ("lgil7a", "sbbn6n"):
        for frame in video.read(env.ROOT / "samples" / f"{sample}.mp4")[0]:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    code, stdout, stderr = run(["--live", str(stream), "--fast"])  # a file plays at its pace unless --fast
    assert (code, stderr) == (0, "")
    lines = stdout.splitlines()
    assert len(lines) == 4  # 150 frames: 3 s windows starting at 0, 1, 2 and 3 s
    assert lines[0].endswith("0.0s-3.0s  lay green in l seven again")
    assert lines[3].endswith("3.0s-6.0s  set blue by n six now")


def test_live_mode_without_a_camera_is_one_line_error():
    code, _, stderr = run(["--live", "97"])
    assert code == 1 and stderr.startswith("error: camera 97") and len(stderr.splitlines()) == 1
    for argv, says in (
        (["--live", "0", "--modality", "av"], "add --microphone"),  # nothing to hear beside a camera
        (["--live", "0", "--modality", "audio"], "lipnet lipsync --live"),
        (["--live", str(env.ROOT / "samples" / "lgil7a.mp4"), "--microphone", "97"], "input device 97"),
        ([str(env.ROOT / "samples" / "lgil7a.mp4"), "--microphone"], "add --live"),
    ):
        code, _, stderr = run(argv)
        assert code == 1 and says in stderr and len(stderr.splitlines()) == 1, argv


def test_live_mode_hears_the_voice_beside_the_lips(tmp_path):
    """Two GRID sentences back to back with their sound: each window is read from the lips and the voice together,
    the voice taken by the window's frames (`microphone.recorded`); a microphone's would be its last 3 s."""
    from lipnet import video
    from lipnet.lipreading.reader import LipReader
    from lipnet.recognition.recognizer import AudioVisualReader
    from lipnet.speech import microphone

    stream = tmp_path / "two.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(env.ROOT / "samples" / "lgil7a.mp4"),
         "-i", str(env.ROOT / "samples" / "sbbn6n.mp4"),
         "-filter_complex", "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
         str(stream)],
        check=True,
    )  # fmt: skip
    reader = AudioVisualReader(LipReader())
    windows = list(reader.stream(video.frames(stream), microphone.recorded(stream)))
    assert [first for first, _ in windows] == [0, 25, 50, 75]
    assert {r.modality for _, r in windows} == {"av"}
    assert windows[0][1].text == "lay green in l seven again" and windows[3][1].text == "set blue by n six now"
    code, stdout, stderr = run(["--live", str(stream), "--fast"])  # auto: a file with sound is heard
    assert (code, stderr) == (0, "")
    assert stdout.splitlines()[1].endswith("1.0s-4.0s  " + windows[1][1].text)
    short = tmp_path / "short.mp4"  # a stream that ends before its first 3 s window is read once, whole
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(stream), "-t", "2", str(short)], check=True)
    code, stdout, stderr = run(["--live", str(short), "--fast"])
    assert (code, stderr) == (0, "") and stdout.splitlines() == ["   0.0s-2.0s  lay green in l seven again"]


def test_long_clips_are_not_forced_into_one_grid_sentence():
    from lipnet.lipreading.reader import LipReader

    reader = LipReader()  # the shipped model decodes with the GRID grammar by default...
    assert reader.decoder_for(env.FRAME_COUNT) == "grammar"
    assert reader.decoder_for(env.GRAMMAR_MAX_FRAMES + 1) == "beam"  # ...but not clips that may hold several sentences


def test_long_clips_are_read_in_windows_as_long_as_the_training_clips():
    """The three samples played in a row: read in 3 s windows (posteriors averaged), better than whole."""
    from lipnet import metrics
    from lipnet.lipreading import decoding
    from lipnet.lipreading.reader import LipReader

    reader = LipReader()
    samples = sorted((env.ROOT / "samples").glob("*.mp4"))
    crops = np.concatenate([reader.extractor.extract(s).crops for s in samples])
    reference = " ".join(grid.transcript(s) for s in samples)
    windowed = reader.probabilities(crops)
    assert windowed.shape == (len(crops), 28) and np.allclose(windowed.sum(1), 1, atol=1e-4)
    # the first and last READ_HOP frames lie in one window only: its own posteriors
    np.testing.assert_allclose(
        windowed[: env.READ_HOP], reader.probabilities(crops[: env.READ_WINDOW])[: env.READ_HOP], atol=1e-5
    )
    np.testing.assert_allclose(
        windowed[-env.READ_HOP :], reader.probabilities(crops[-env.READ_WINDOW :])[-env.READ_HOP :], atol=1e-5
    )
    outputs = reader.model.predict_on_batch(crops[None])  # the whole clip at once, frame heads and all
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs
    whole = decoding.softmax(keras.ops.convert_to_numpy(logits))[0]
    cer = {
        name: metrics.sentence_cer(reference, decoding.beam_search(p))
        for name, p in [("windows", windowed), ("whole", whole)]
    }
    assert cer["windows"] < cer["whole"] - 0.05, cer

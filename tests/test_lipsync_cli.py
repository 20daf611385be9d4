"""lipsync.py end to end, as a user runs it: the shipped model on real GRID audio, every output parsed."""

import json
import shutil
import subprocess
import sys
import time
import wave
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import GRID, ROOT, command, tool

import lipsync
from lipnet import audio, env, grid, visemes
from lipnet.speech import align

SAMPLE = ROOT / "samples" / "lgil7a.mp4"  # "lay green in l seven again", its .align beside it


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """lipsync.py's main in this process (what it does; `tool` runs the script as a user does, where how it starts
    is the point)."""
    return command(lipsync.main, *args, cwd=cwd)


def test_the_script_runs_as_documented(tmp_path):
    """``python lipsync.py clip -o out``, as a user runs it: the shim starts the tool, quietly."""
    result = tool("lipsync.py", str(SAMPLE), "-o", str(tmp_path), "-f", "visemes")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert (tmp_path / "lgil7a.visemes.tsv").read_text().startswith("start_s\tend_s\tviseme")


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_recognises_visemes_and_writes_every_format(tmp_path):
    clip = shutil.copy(SAMPLE, tmp_path / "clip.mp4")  # no .align beside it: recognition from the sound alone
    out = tmp_path / "out"
    result = run(str(clip), "-o", str(out), "-f", "all", "--visemes", "rhubarb", "--plot", str(tmp_path / "p.png"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "recognised" in result.stdout
    n = len(audio.load(clip)) // 160
    cues = visemes.from_json((out / "clip.visemes.json").read_text())
    assert cues[0].start == 0 and cues[-1].end == pytest.approx(n / 100)
    assert all(a.end == b.start for a, b in zip(cues, cues[1:]))
    assert all(c.end - c.start >= env.LIPSYNC_MIN_CUE - 1e-9 for c in cues[:-1])
    assert {c.viseme for c in cues} <= set("ABCDEFGHX") and cues[0].viseme == "X" and len(cues) >= 8
    tsv = (out / "clip.rhubarb.tsv").read_text().splitlines()
    assert tsv[0].startswith("0.00\t") and tsv[-1].endswith("\tX")
    data = json.loads((out / "clip.rhubarb.json").read_text())
    assert data["mouthCues"][0]["start"] == 0 and data["metadata"]["duration"] == data["mouthCues"][-1]["end"]
    xml = ET.fromstring((out / "clip.rhubarb.xml").read_text())
    assert [c.text for c in xml.iter("mouthCue")] == [c["value"] for c in data["mouthCues"]]
    assert (out / "clip.dat").read_text().startswith("MohoSwitch1\n")
    probabilities = np.load(out / "clip.visemes.npz")  # no pickle needed to read it
    assert probabilities["probabilities"].shape == (n, 9) and list(probabilities["classes"]) == list("XABCDEFGH")
    np.testing.assert_allclose(probabilities["probabilities"].sum(1), 1, atol=1e-4)
    np.testing.assert_allclose(probabilities["times"][:3], [0, 0.01, 0.02])
    csv = (out / "clip.visemes.csv").read_text().splitlines()
    assert csv[0] == "time,X,A,B,C,D,E,F,G,H" and len(csv) == n + 1
    phones = [line.split("\t") for line in (out / "clip.phones.tsv").read_text().splitlines()[1:]]
    assert phones[0][2] == "sil" and {"G", "R", "IY", "N"} <= {p[2] for p in phones}  # "green"
    assert not (out / "clip.words.tsv").exists()
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_aligns_to_the_words_given(tmp_path):
    result = run(str(SAMPLE), "-o", str(tmp_path))  # samples/lgil7a.align beside it: its words are aligned
    assert result.returncode == 0, result.stderr
    assert "aligned to the words given" in result.stdout
    words = [line.split("\t") for line in (tmp_path / "lgil7a.words.tsv").read_text().splitlines()[1:]]
    cues = visemes.from_json((tmp_path / "lgil7a.visemes.json").read_text())  # each cue says what was said in it
    assert [c.word for c in cues if c.viseme == "PP"] == [] and {c.word for c in cues if c.word} == set(
        "lay green in l seven again".split()
    )
    assert all(c.phoneme for c in cues if c.viseme != "sil")
    assert [w[2] for w in words] == "lay green in l seven again".split()
    assert abs(float(words[1][0]) - 0.88) < 0.06  # "green" begins at frame 22 in the hand-checked .align
    clip = shutil.copy(SAMPLE, tmp_path / "bare.mp4")
    result = run(str(clip), "-o", str(tmp_path), "--text", "lay green in l seven again", "-f", "phones")
    assert result.returncode == 0, result.stderr
    given = [line.split("\t") for line in (tmp_path / "bare.words.tsv").read_text().splitlines()[1:]]
    assert [w[2] for w in given] == [w[2] for w in words]  # the same alignment, the same words...
    # ...each edge within two feature hops: two processes' threaded sums (oneDNN) differ in the last bits, and a
    # near-tie in the Viterbi then moves an edge by a hop (seen once in a full suite: 0.640 against 0.620 s)
    edges = np.array([w[:2] for w in given], float) - np.array([w[:2] for w in words], float)
    assert np.abs(edges).max() <= 2 * env.HOP_MS / 1000 + 1e-9


def test_directory_with_a_bad_file(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(SAMPLE, clips / "good.mp4")
    (clips / "broken.wav").write_text("not audio\n")
    result = run(str(clips), "-o", str(tmp_path / "out"), "-f", "visemes")
    assert result.returncode == 1
    assert "broken.wav" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "out" / "good.visemes.json").is_file()


def test_bad_input_one_line_and_nothing_written(tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000))
    (tmp_path / "text.wav").write_text("hello\n")
    for args, problem in [
        ([str(tmp_path / "missing.wav")], "no such file"),
        ([str(tmp_path / "text.wav")], "not an audio or video file"),
        ([str(silent)], "silent"),
        ([str(SAMPLE), "-m", str(tmp_path / "none.keras")], "no such model"),
        ([str(SAMPLE), "--text", "seven " * 40], "could not align"),
    ]:
        result = run(*args, "-o", str(tmp_path / "out"))
        assert result.returncode == 1, args
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and problem in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def mine(tmp_path_factory, grid_data) -> Path:
    """The seed's question, "I have wav files and their labels": ten recordings, each with a transcript (.lab)
    beside it, but one with timed phones (as lipsync.py writes them) and one with the seed's per-frame OVR rows."""
    data = tmp_path_factory.mktemp("own") / "mine"
    data.mkdir()
    sentences = {}
    for i, clip in enumerate(sorted((GRID / "s1").glob("l*.mp4"))[:10]):
        wav = write_wav(data / f"take{i}.wav", audio.load(clip) * 0.9)
        sentences[wav] = " ".join(w.text for w in grid.read_align(GRID / "align" / "s1" / f"{clip.stem}.align"))
        wav.with_suffix(".lab").write_text(sentences[wav] + "\n")
    last = data / "take9.wav"
    last.with_suffix(".lab").unlink()
    assert run(str(last), "-o", str(data), "-f", "phones", "--text", sentences[last]).returncode == 0
    assert (data / "take9.phones.tsv").is_file()
    eight = data / "take8.wav"  # a row of 15 OVR values per 8 ms frame
    eight.with_suffix(".lab").unlink()
    phones = align.align(audio.load(eight), sentences[eight]).phones
    rows = np.eye(15)[visemes.frame_labels(phones, 125, len(audio.load(eight)) // 128, "ovr")]
    np.savetxt(data / "take8.visemes.txt", rows, fmt="%.0f")
    return data


def test_train_on_your_own_data(mine, tmp_path):
    model, cache = tmp_path / "mine.keras", tmp_path / "cache"
    args = (
        "--kind",
        "dnn",
        "--classes",
        "ovr",
        "--epochs",
        "3",
        "--cache",
        str(cache),
        "--run-dir",
        str(tmp_path / "run"),
    )
    result = run("--train", str(mine), "-m", str(model), *args)
    assert result.returncode == 0, result.stderr
    assert "9 training clips, 1 validation clips" in result.stdout
    assert model.is_file() and model.with_suffix(".json").is_file()
    assert (tmp_path / "run" / "best.keras").is_file() and (tmp_path / "run" / "log.csv").is_file()
    assert (cache / "mine" / "take0.alignment.json").is_file()  # aligned once, cached with the extracted data
    result = run(str(mine / "take0.wav"), "-m", str(model), "-o", str(tmp_path / "out"), "-f", "visemes")
    assert result.returncode == 0, result.stderr
    result = run("--train", str(tmp_path / "nothing"), "-m", str(model))
    assert result.returncode == 1 and result.stderr.startswith("error: ")


def test_distil_a_student_on_your_own_data(mine, tmp_path):
    model = tmp_path / "student.keras"
    args = ["--kind", "student", "--distill", "0.5", "--epochs", "2", "--cache", str(tmp_path / "cache")]
    shape = ["--units", "12", "--bands", "20", "--stack", "2", "--delay", "2"]
    result = run("--train", str(mine), "-m", str(model), *args, *shape, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    saved = json.loads(model.with_suffix(".json").read_text())
    assert saved["kind"] == "student" and saved["teacher"].endswith("lipsync-grid-s1.keras") and saved["epochs"] == 2
    assert (saved["units"], saved["n_mels"], saved["stack"], saved["delay"]) == (12, 20, 2, 2)
    solo = shutil.copy(mine / "take0.wav", tmp_path / "solo.wav")  # no transcript beside it: recognised
    result = run(str(solo), "-m", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 0 and "recognised" in result.stdout, result.stderr  # a student reads files offline
    assert np.load(tmp_path / "out" / "solo.visemes.npz")["probabilities"].shape[1] == 15
    assert not (tmp_path / "out" / "solo.phones.tsv").exists()  # it reads visemes, not phones: no empty file
    result = run(str(solo), "-m", str(model), "--visemes", "rhubarb", "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "rhubarb" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_killed_training_run_resumes(mine, tmp_path):
    run_dir, model = tmp_path / "run", tmp_path / "mine.keras"
    command = [sys.executable, str(ROOT / "lipsync.py"), "--train", str(mine), "-m", str(model), "--classes", "ovr"]
    command += ["--epochs", "5", "--run-dir", str(run_dir), "--cache", str(tmp_path / "cache")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run_dir / "log.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    process.kill()  # SIGKILL: no cleanup runs
    process.wait()
    assert not model.exists() and len(log.read_text().splitlines()) >= 3
    result = run("--resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    epochs = [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]]
    assert (
        epochs == list(range(1, len(epochs) + 1))
        and json.loads((run_dir / "last.json").read_text())["epoch"] == epochs[-1]
    )
    assert model.is_file() and not list(run_dir.glob(".*.tmp"))


def test_live_from_a_file_at_its_pace(tmp_path):
    from lipnet.speech import student

    samples = audio.load(SAMPLE)
    wav = write_wav(tmp_path / "take.wav", samples)
    started = time.monotonic()
    result = run("--live", str(wav), "--jsonl")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["time"] for f in frames] == [round(i / 100, 3) for i in range(len(samples) // 160)]
    assert elapsed > len(samples) / 16000  # played at the pace of a microphone, not read at once
    model = student.load(ROOT / "models" / "lipsync-student-grid-s1.keras")
    offline = model.probabilities(audio.load(wav))
    assert [f["viseme"] for f in frames] == [model.classes[k] for k in offline.argmax(1)]
    assert all(abs(sum(f["probabilities"].values()) - 1) < 1e-3 for f in frames)
    hold = visemes.Hold(model.classes.index("PP"), *env.LIPSYNC_LIVE_HOLD)  # the shape shown: held, as offline
    shown = []
    for p in offline:
        hold.push(p)
        shown.append(model.classes[hold.shown])
    assert [f["shown"] for f in frames] == shown
    changes = run("--live", str(wav)).stdout.splitlines()  # a line per change of the shape shown
    assert len(changes) == 1 + sum(a != b for a, b in zip(shown, shown[1:])) and changes[0].split()[2] == "sil"
    times, shapes = [float(c.split()[0]) for c in changes], [c.split()[2] for c in changes]
    assert all(b - a >= 0.03 - 1e-9 or shape == "PP" for a, b, shape in zip(times, times[1:], shapes[1:]))


def test_live_at_telephone_rate(tmp_path):
    import soxr

    narrow = soxr.resample(audio.load(SAMPLE), 16000, 8000)
    wav = write_wav(tmp_path / "phone.wav", narrow, rate=8000)
    result = run("--live", str(wav), "--jsonl")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(narrow) * 2 // 160  # resampled to 16 kHz, not played at 2x


def test_live_bad_input_is_one_line(tmp_path):
    low = write_wav(tmp_path / "low.wav", np.sin(np.arange(8000) / 3) * 0.3, rate=4000)
    cases = {
        ("--live",): "microphone",  # this machine has none (or no PortAudio): either way, one line
        ("--live", "7"): "microphone",
        ("--live", str(low)): "too low for speech",
        ("--live", str(tmp_path / "missing.wav")): "no such file",
        ("--live", str(SAMPLE), "-m", str(ROOT / "models" / "lipsync-grid-s1.keras")): "not a real-time student",
        ("--live", str(SAMPLE), "--visemes", "rhubarb"): "gives ovr visemes",
    }
    for args, message in cases.items():
        result = run(*args)
        assert result.returncode == 1 and result.stdout == "", args
        assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1, result.stderr
        assert message in result.stderr, result.stderr


def test_rhubarb_options_choose_the_shapes_the_frame_rate_and_the_names(tmp_path):
    result = run(str(SAMPLE), "-o", str(tmp_path), "-f", "rhubarb", "--extended-shapes", "", "--dat-frame-rate", "30",
                 "--dat-preston-blair")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "lgil7a.rhubarb.json").read_text())
    assert {c["value"] for c in data["mouthCues"]} <= set("ABCDEF")  # a rig drawn with A-F: silence is A, not X
    assert data["mouthCues"][0]["value"] == "A" and data["metadata"]["duration"] == data["mouthCues"][-1]["end"]
    dat = (tmp_path / "lgil7a.dat").read_text().splitlines()
    assert dat[1] == "1 MBP" and dat[-1].endswith(" MBP")  # Preston Blair's names; Rhubarb's rest is A without X
    last = int(dat[-1].split()[0])
    assert last == 1 + int(30 * data["mouthCues"][-1]["end"]) or last == int(dat[-2].split()[0]) + 1  # at 30 fps


def test_words_the_sound_will_not_align_to_are_guided_by_the_phones_heard(tmp_path):
    text = "lay green in l seven again please now soon"  # three words too many: pocketsphinx gives up
    result = run(str(SAMPLE), "-o", str(tmp_path), "--text", text)
    assert result.returncode == 0, result.stderr
    assert "guided by the words" in result.stdout
    (notice,) = result.stderr.splitlines()  # one line, naming the file, and the warning: these are not the words
    assert notice.startswith(f"{SAMPLE}: the sound would not align to the words") and "fit poorly" in notice
    words = [line.split("\t")[2] for line in (tmp_path / "lgil7a.words.tsv").read_text().splitlines()[1:]]
    assert words == text.split()


def test_a_failure_in_a_directory_run_names_its_file(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(SAMPLE, clips / "good.mp4")
    (clips / "bad.wav").write_bytes(b"RIFF....WAVEfmt not really")
    result = run(str(clips), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and result.stderr.startswith(f"failed: {clips / 'bad.wav'}: ")


def test_plots_of_a_directory_mirror_it_and_one_plot_for_two_files_is_refused(tmp_path):
    """--plot names the picture of one file, or a folder of pictures in a directory run, laid out as the inputs are
    (the shared loop of every tool, `lipnet.cli`); two files named one by one would write one picture twice."""
    clips = tmp_path / "clips"
    (clips / "a").mkdir(parents=True)
    shutil.copy(SAMPLE, clips / "a" / "one.mp4")
    shutil.copy(SAMPLE.with_suffix(".align"), clips / "a" / "one.align")  # aligned, not recognised: seconds faster
    result = run(str(clips), "-o", str(tmp_path / "out"), "-f", "visemes", "--plot", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "plots" / "a" / "one.png").is_file() and (tmp_path / "out" / "a" / "one.visemes.tsv").is_file()
    result = run(str(SAMPLE), str(clips / "a" / "one.mp4"), "-o", str(tmp_path), "--plot", str(tmp_path / "p.png"))
    assert (result.returncode, result.stderr) == (1, "error: --plot names one file: give one file, or one directory\n")

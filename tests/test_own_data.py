"""The README's "Your own data" walkthrough, end to end: labelled videos -> extract -> fine-tune -> predict."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

SENTENCES = {"take1": ("lgil7a", "lay green in l seven again"), "take2": ("pwbq6p", "place white by q six please")}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def mydata(tmp_path_factory) -> Path:
    """Two clips of one speaker under names that are not GRID's, each with a .lab file holding its sentence."""
    root = tmp_path_factory.mktemp("own")
    (root / "mydata" / "me").mkdir(parents=True)
    for name, (sample, sentence) in SENTENCES.items():
        shutil.copy(ROOT / "samples" / f"{sample}.mp4", root / "mydata" / "me" / f"{name}.mp4")
        (root / "mydata" / "me" / f"{name}.lab").write_text(f"{sentence.capitalize()}.\n")
    return root


def test_labelled_videos_extract_fine_tune_and_predict(mydata):
    data, run_dir = mydata / "data", mydata / "run"
    extracted = run("preprocessing/extract.py", "-v", str(mydata / "mydata"), "-o", str(data), "--frames", "0")
    assert extracted.returncode == 0, extracted.stderr
    for name in SENTENCES:  # the sentences travel with the crops, where train.py looks for them
        assert (data / "me" / f"{name}.lab").read_text() == (mydata / "mydata" / "me" / f"{name}.lab").read_text()

    trained = run(
        "train.py",
        "-d",
        str(data),
        "--split",
        "random",
        "-w",
        "models/lipnet-grid-s1.hdf5",
        "-e",
        "1",
        "-o",
        str(run_dir),
    )
    assert trained.returncode == 0, trained.stderr
    assert "1 training clips, 1 validation clips" in trained.stdout
    assert (run_dir / "best.hdf5").is_file()

    video = mydata / "mydata" / "me" / "take1.mp4"
    predicted = run("predict.py", "-w", str(run_dir / "best.hdf5"), "-v", str(video), "-o", str(mydata / "out"))
    assert predicted.returncode == 0, predicted.stderr
    assert f"reference: {SENTENCES['take1'][1]}   CER" in predicted.stdout  # the .lab file, normalised


def test_a_label_with_digits_stops_training_with_one_line(mydata, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(mydata / "mydata", tmp_path / "videos")
    (tmp_path / "videos" / "me" / "take2.lab").write_text("place white by q 6 please\n")
    assert run("preprocessing/extract.py", "-v", str(tmp_path / "videos"), "-o", str(data)).returncode == 0
    trained = run("train.py", "-d", str(data), "--split", "random", "-e", "1", "-o", str(tmp_path / "run"))
    assert trained.returncode == 1
    assert (
        trained.stderr.strip()
        == f"error: {data / 'me' / 'take2.lab'}: digit '6' in the sentence; write numbers as words (the model reads letters)"
    )

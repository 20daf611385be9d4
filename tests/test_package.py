"""lipnet as an installed package: the wheel built from this checkout, installed apart from it, run from another
directory through its `lipnet` command, with the models it carries and nothing from the checkout."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

CLIP = ROOT / "tests" / "fixtures" / "lbax4n.mpg"  # GRID s5, "lay blue at x four now", with its sound


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel of this checkout installed into a folder of its own (its dependencies are this venv's)."""
    work = tmp_path_factory.mktemp("package")
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True)
    (wheel,) = work.glob("lipnet-*.whl")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(work / "site"), str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    return work / "site"


def lipnet(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [str(site / "bin" / "lipnet"), *args], capture_output=True, text=True, cwd=cwd, env=environment
    )


def test_the_installed_command_reads_lips_and_makes_a_timeline_from_elsewhere(installed, tmp_path):
    (tmp_path / "clip.mpg").write_bytes(CLIP.read_bytes())
    read = lipnet(installed, tmp_path, "read", "clip.mpg", "-o", "out", "-f", "json")
    assert read.returncode == 0 and read.stderr == "", read.stderr
    reading = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert reading["text"] == read.stdout.strip() and len(reading["text"].split()) == 6  # a GRID sentence
    sound = lipnet(installed, tmp_path, "lipsync", "clip.mpg", "-o", "out", "-f", "visemes")
    assert sound.returncode == 0 and sound.stderr == "", sound.stderr
    assert (tmp_path / "out" / "clip.visemes.tsv").read_text().startswith("start_s\tend_s\tviseme")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()  # nothing written unasked


def test_the_models_travel_inside_the_package(installed):
    models = installed / "lipnet" / "models"
    shipped = {"lipnet-grid-s1.hdf5", "lipsync-grid-s1.keras", "lipsync-student-grid-s1.keras", "sync-grid-s1.keras"}
    assert shipped | {"animator-grid-s1.keras", "mouth-shape-grid-s1.npz", "MODEL_CARD.md"} <= {
        p.name for p in models.iterdir()
    }
    assert (installed / "lipnet" / "splits" / "s1_heldout.txt").is_file()


@pytest.mark.parametrize(
    "command",
    [["read", "missing.mp4"], ["lipsync", "missing.wav"], ["sync", "-v", "missing.mp4"], ["train", "-d", "nowhere"]],
)
def test_a_missing_file_is_one_line_before_keras_loads(command, tmp_path):
    probe = (
        "import sys; from lipnet.__main__ import main; code = main(sys.argv[1:]); "
        "print(code, 'keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.split() == ["1", "False", "False"]
    assert result.stderr == f"error: {command[-1]}: no such file or directory\n"


def test_the_command_lists_its_subcommands_and_refuses_others(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "lipnet", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert listing.returncode == 0
    assert [line.split()[0] for line in listing.stdout.split("commands:\n")[1].splitlines()] == [
        "read", "lipsync", "sync", "animate", "extract", "train", "evaluate", "app"
    ]  # fmt: skip
    unknown = subprocess.run([sys.executable, "-m", "lipnet", "speak"], capture_output=True, text=True, cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.startswith("error: 'speak' is not a lipnet command")

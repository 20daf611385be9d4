import shutil
import subprocess
from pathlib import Path

import numpy as np
from conftest import ROOT, tool

from lipnet.mouth import load_sidecar

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return tool("preprocessing/extract.py", *args, cwd=cwd, timeout=120)


def test_extracts_a_tree_resumes_and_reports_failures(tmp_path):
    speaker = tmp_path / "GRID" / "s1"
    speaker.mkdir(parents=True)
    for name in ("bbaf2n.mpg", "pwij3p.mpg"):
        shutil.copy(FIXTURES / name, speaker / name)
    (speaker / "broken.mpg").write_text("not a video\n")
    data = tmp_path / "data"

    first = run("-v", str(tmp_path / "GRID"), "-o", str(data), "-j", "2", cwd=ROOT)  # from the repo root
    assert first.returncode == 1, first.stderr
    crops = sorted(data.rglob("*.npy"))
    assert [p.relative_to(data).as_posix() for p in crops] == ["s1/bbaf2n.npy", "s1/pwij3p.npy"]
    for path in crops:
        assert np.load(path, allow_pickle=False).shape == (75, 50, 100, 3)
        sidecar = load_sidecar(path)
        assert sidecar["landmarks"].shape == (75, 68, 2) and sidecar["filled"] == 0 and sidecar["padded"] == 0
    failures = (data / "failures.tsv").read_text().splitlines()
    assert len(failures) == 1 and failures[0].startswith(str(speaker / "broken.mpg") + "\t")
    assert "1 failed" in first.stdout

    mtimes = {p: p.stat().st_mtime_ns for p in crops}
    second = run("-v", "GRID", "-o", "data", "-j", "1", cwd=tmp_path)  # from elsewhere, relative paths
    assert second.returncode == 1, second.stderr
    assert "2 already extracted, 1 to do" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in crops} == mtimes

    (speaker / "broken.mpg").unlink()
    third = run("-v", "GRID", "-o", "data", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert not (data / "failures.tsv").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no temporary files left behind


def test_missing_videos_path_is_one_line_error(tmp_path):
    result = run("-v", str(tmp_path / "nowhere"), "-o", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and str(tmp_path / "nowhere") in result.stderr
    assert not (tmp_path / "data").exists()

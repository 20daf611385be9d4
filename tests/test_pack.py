"""preprocessing/pack.py: crops survive the trip through one small H.264 file."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from lipnet.mouth import MouthExtractor


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="packing needs the ffmpeg program")
def test_pack_and_unpack_round_trip(tmp_path):
    extractor = MouthExtractor()
    for name, speaker in (("bbaf2n", "s1"), ("pwij3p", "s2")):
        extractor.extract(ROOT / "tests" / "fixtures" / f"{name}.mpg").save(tmp_path / "data" / speaker / f"{name}.npy")
    script = str(ROOT / "preprocessing" / "pack.py")
    subprocess.run([sys.executable, script, "pack", str(tmp_path / "data"), "-o", str(tmp_path / "pack")], check=True)
    subprocess.run([sys.executable, script, "unpack", str(tmp_path / "pack"), "-o", str(tmp_path / "back")], check=True)
    for original in sorted((tmp_path / "data").rglob("*.npy")):
        before = np.load(original)
        after = np.load(tmp_path / "back" / original.relative_to(tmp_path / "data"))
        assert after.shape == before.shape and after.dtype == np.uint8
        assert np.abs(after.astype(int) - before).mean() < 3  # grey levels
    assert (tmp_path / "pack" / "crops.mp4").stat().st_size < 0.05 * 2 * before.nbytes

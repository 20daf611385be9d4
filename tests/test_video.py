from pathlib import Path

import cv2
import numpy as np
import pytest

from lipnet import video
from lipnet.errors import LipnetError

FIXTURES = Path(__file__).parent / "fixtures"


def write_video(path: Path, frames: np.ndarray, fps: float) -> Path:
    """Write (T, H, W, 3) RGB frames as Motion JPEG."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames.shape[2], frames.shape[1]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_reads_grid_clip_as_rgb_at_25_fps():
    clip, info = video.read(FIXTURES / "bbaf2n.mpg")
    assert clip.shape == (75, 288, 360, 3) and clip.dtype == np.uint8
    assert (info.fps, info.width, info.height) == (25.0, 360, 288)
    assert clip[..., 2].mean() > clip[..., 0].mean()  # GRID's backdrop is blue: channels are RGB, not BGR


def test_reading_at_half_rate_keeps_every_other_frame():
    clip, _ = video.read(FIXTURES / "bbaf2n.mpg")
    half = np.stack(list(video.frames(FIXTURES / "bbaf2n.mpg", fps=12.5)))
    assert len(half) == 38  # frames 0, 2, ..., 74
    np.testing.assert_array_equal(half, clip[::2])


def test_30_fps_clip_is_resampled_to_25(tmp_path):
    levels = np.arange(30) * 8  # source frame i is a flat grey of level 8 i
    source = np.repeat(levels.astype(np.uint8), 48 * 64 * 3).reshape(30, 48, 64, 3)
    clip, info = video.read(write_video(tmp_path / "thirty.avi", source, 30))
    assert info.fps == pytest.approx(30)
    assert len(clip) == 25  # one second
    shown = np.round(clip.reshape(25, -1).mean(1) / 8)  # which source frame each output frame is
    np.testing.assert_array_equal(shown, np.floor(np.arange(25) * 30 / 25 + 0.5))


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "directory"])
def test_unreadable_inputs_raise_lipnet_error_naming_the_file(tmp_path, kind):
    path = tmp_path / "clip.mpg"
    if kind == "empty":
        path.touch()
    elif kind == "text":
        path.write_text("not a video\n" * 100)
    elif kind == "directory":
        path.mkdir()
    for read in (video.read, video.probe, lambda p: list(video.frames(p))):
        with pytest.raises(LipnetError, match="clip.mpg") as err:
            read(path)
        assert "\n" not in str(err.value)


def test_paced_frames_come_at_the_pace_they_play():
    import time

    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(5)]
    start = time.perf_counter()
    out = list(video.paced(iter(frames), fps=50))
    assert [f[0, 0, 0] for f in out] == [0, 1, 2, 3, 4]
    assert time.perf_counter() - start >= 4 / 50  # the fifth frame is shown 80 ms after the first

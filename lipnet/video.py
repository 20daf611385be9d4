"""Reading video: any container OpenCV reads, any frame rate, resampled to a fixed rate, as RGB frames."""

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lipnet import env
from lipnet.errors import LipnetError, input_file


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: Path
    fps: float  # source frame rate (env.FPS when the container reports none)
    frame_count: int  # source frames as reported by the container (may be approximate, 0 if unknown)
    width: int
    height: int


def _open(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    path = input_file(path, "a video")
    # One decoding thread: clips are short, so FFmpeg's thread pool costs more to start than it saves,
    # and the extractor already runs one process per core.
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, env.DECODE_THREADS])
    if not capture.isOpened():
        raise LipnetError(f"{path}: not a video OpenCV can read")
    fps = capture.get(cv2.CAP_PROP_FPS)
    if not (1.0 <= fps <= 1000.0):
        fps = float(env.FPS)
    info = VideoInfo(
        path=path,
        fps=fps,
        frame_count=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    return capture, info


def probe(path: str | Path) -> VideoInfo:
    """Open a video and report its frame rate and size; raises LipnetError if it cannot be read."""
    capture, info = _open(path)
    capture.release()
    return info


def frames(path: str | Path, fps: float = env.FPS) -> Iterator[np.ndarray]:
    """Yield the video's frames as RGB uint8 (H, W, 3), resampled to `fps` by nearest source frame.

    Raises LipnetError if the file is missing, empty, or holds no decodable frame.
    """
    capture, info = _open(path)
    yield from _decode(capture, info, fps)


def paced(frames: Iterable[np.ndarray], fps: float = env.FPS) -> Iterator[np.ndarray]:
    """`frames` handed out at the pace a player shows them (`fps` a second): a file read as if it were a camera."""
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        time.sleep(max(0.0, start + i / fps - time.perf_counter()))
        yield frame


def camera(index: int, fps: float = env.FPS) -> Iterator[np.ndarray]:
    """Yield a camera's frames as RGB uint8, resampled to `fps`, until the camera stops."""
    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise LipnetError(f"camera {index}: cannot be opened")
    rate = capture.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(Path(f"camera{index}"), rate if 1.0 <= rate <= 1000.0 else float(env.FPS), 0, 0, 0)
    yield from _decode(capture, info, fps)


def read(path: str | Path, fps: float = env.FPS) -> tuple[np.ndarray, VideoInfo]:
    """All frames of a video as one (T, H, W, 3) RGB uint8 array, resampled to `fps`, and its info."""
    capture, info = _open(path)
    return np.stack(list(_decode(capture, info, fps))), info


def _decode(capture: cv2.VideoCapture, info: VideoInfo, fps: float) -> Iterator[np.ndarray]:
    """Read an opened capture to its end, yielding RGB frames resampled to `fps`; releases the capture."""
    step = info.fps / fps  # source frames per output frame
    emitted = 0
    try:
        source = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = None
            while int(emitted * step + 0.5) == source:
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb is None else rgb
                yield rgb
                emitted += 1
            source += 1
    finally:
        capture.release()
    if emitted == 0:
        raise LipnetError(f"{info.path}: no decodable frames (not a video, or corrupt)")

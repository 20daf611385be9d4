"""Video: reading any container OpenCV reads, at any frame rate, resampled to a fixed rate, as RGB frames; writing
H.264 with the sound, which browsers play."""

import contextlib
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from lipnet import env
from lipnet.errors import LipnetError, input_file
from lipnet.storage import atomic_write

_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}  # what `write` writes


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video."""

    path: Path
    fps: float  # source frame rate (env.FPS when the container reports none)
    frame_count: int  # source frames as reported by the container (may be approximate, 0 if unknown)
    width: int
    height: int


_STILL_FORMATS = {"image2", "gif", "webp", "apng"}  # FFmpeg's demuxers of pictures (and its *_pipe ones)
_TAIL_S = 2.0  # `cut_short` decodes this much of the end of a file...
_REORDER = 2  # ...and calls it cut short when the decoder complains within this many frames of its end


def _open(path: str | Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    path = input_file(path, "a video")
    if _still(path):  # OpenCV would read it as a one-frame video
        raise LipnetError(f"{path}: an image, not a video: lips are read from moving pictures")
    # One decoding thread: clips are short, so FFmpeg's thread pool costs more to start than it saves,
    # and the extractor already runs one process per core.
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, env.DECODE_THREADS])
    if not capture.isOpened():
        raise LipnetError(f"{path}: not a video OpenCV can read{_why(path)}")
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


def is_picture_format(name: str) -> bool:
    """Whether an FFmpeg demuxer (`av.container.Container.format.name`) reads still pictures, not a video."""
    return name in _STILL_FORMATS or name.endswith("_pipe")


def _still(path: Path) -> bool:
    """Whether the file is a picture (PNG, JPEG, GIF...), whatever its name; False when FFmpeg cannot open it."""
    import av

    try:
        with av.open(str(path)) as container:
            return is_picture_format(container.format.name)
    except (av.FFmpegError, UnicodeDecodeError, OSError):
        return False  # not a picture either: opening it as a video says what it is


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list]:
    """The error messages FFmpeg logs while the block runs, as (level, name, message) tuples: PyAV keeps its
    logging off otherwise."""
    import av.logging

    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(None)


def _why(path: Path) -> str:
    """FFmpeg's reason a file does not open, as `` (reason)``; a missing MP4 index says the file was cut short."""
    import av

    try:
        with _ffmpeg_errors() as logs:
            av.open(str(path)).close()
    except av.FFmpegError as err:
        said = " ".join(message.strip() for _, _, message in logs)
        if "moov atom not found" in said:
            return " (its index, the moov atom, is missing: the file is cut short, or still being written)"
        return f" ({said or getattr(err, 'strerror', None) or err})"
    except (UnicodeDecodeError, OSError):
        pass
    return ""


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


def cut_short(path: str | Path) -> float | None:
    """Seconds of a video that decode before its end is found damaged (a file cut short: a download or copy that
    stopped), or None when its last frames decode cleanly. Only the last `_TAIL_S` seconds are decoded again, with
    FFmpeg's error messages listened to: a damaged frame at the very end is the mark of a truncated file."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            frame_s = 1 / float(stream.average_rate or env.FPS)
            if container.duration and container.duration > _TAIL_S * av.time_base:
                container.seek(int(container.duration - _TAIL_S * av.time_base))
            end, since = None, _REORDER + 1  # frames decoded since the decoder last complained
            sound_end = None  # where the sound's last packet ends: a container's length may be the sound's
            with _ffmpeg_errors() as logs:
                for packet in container.demux(stream, *container.streams.audio[:1]):
                    if packet.stream.type == "audio":
                        if packet.pts is not None and packet.duration:
                            sound_end = float((packet.pts + packet.duration) * packet.time_base)
                        continue
                    for frame in packet.decode():
                        if frame.time is not None:
                            end = frame.time + frame_s
                        since = 0 if logs else since + 1
                        logs.clear()
                since = 0 if logs else since  # the demuxer's complaint that the data stops short
            promised = container.duration / av.time_base if container.duration else None
            if promised is not None and sound_end is not None and sound_end >= promised - 0.1:
                promised = None  # the sound runs to the end the header promises: it promised nothing of the pictures
    except av.FFmpegError:
        return None  # unreadable: reading it says why
    if end is None:
        return None
    # the damaged packet is the last one read, its frame among the last few shown (frames are reordered); or the
    # pictures stop well before the length the container's header promises
    short = promised is not None and end < promised - _REORDER * frame_s - 0.1
    return round(end, 2) if since <= _REORDER or short else None


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


def write(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = env.FPS,
    samples: np.ndarray | None = None,
    sample_rate: int = env.SAMPLE_RATE,
) -> Path:
    """Encode BGR frames (all one size) at `fps` to an mp4 file, atomically, with mono float `samples` as AAC sound.

    H.264 (`env.VIDEO_CODECS`: MPEG-4 part 2 where PyAV's FFmpeg lacks libx264), yuv420p: an odd height or width
    gains a repeated last row or column, as that format needs even sizes.
    """
    import av

    from lipnet import audio  # the sound's encoder: only when a video is written

    path = Path(path)
    if path.suffix.lower() not in _CONTAINERS:
        raise LipnetError(f"{path}: write the video as .mp4, .m4v or .mov")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise LipnetError(f"{path}: no frames to write")
    height, width = first.shape[:2]
    codec = next(name for name in env.VIDEO_CODECS if name in av.codecs_available)

    def write(f) -> None:
        with av.open(f, "w", format=_CONTAINERS[path.suffix.lower()]) as out:
            stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": str(env.VIDEO_CRF)}
            sound = None if samples is None else out.add_stream("aac", rate=sample_rate, layout="mono")
            for i, image in enumerate(itertools.chain([first], frames)):
                if image.shape[:2] != (height, width):
                    raise ValueError(f"frame {i} is {image.shape[1]}x{image.shape[0]}, the first {width}x{height}")
                even = cv2.copyMakeBorder(image, 0, height % 2, 0, width % 2, cv2.BORDER_REPLICATE)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="bgr24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
            if sound is not None:
                audio.mux_mono(out, sound, samples)

    return atomic_write(path, write)

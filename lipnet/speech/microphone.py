"""Live sound: 16 kHz mono sample blocks from a microphone as it hears them, or from a file at the pace it plays.

`blocks` is the one source every live entry point reads. The microphone goes through sounddevice, which needs the
PortAudio library of the system (Debian/Ubuntu ``apt-get install libportaudio2``, macOS ``brew install
portaudio``; the Windows and macOS wheels carry their own); without it, or without an input device, the error
is one line. A file is decoded by `lipnet.audio.load` and handed out block by block, each when its last sample
would have arrived from a microphone: how the live path is tested and measured without one.

Beside a camera (``lipnet read --live 0 --microphone``) the sound is read by the window, not by the block: `Heard`
keeps a microphone's last seconds, `recorded` gives a file's own sound by its frames.
"""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from lipnet import env
from lipnet.errors import LipnetError


def blocks(source: str | None = None, block: int = env.LIVE_BLOCK, fast: bool = False) -> Iterator[np.ndarray]:
    """Blocks of `block` samples of sound: from `source`, an existing audio or video file (at real-time pace, or as
    fast as they are taken with `fast`), else a microphone (None or "default": the system's default input; a device
    number or part of its name)."""
    if source not in (None, "default") and (Path(source).exists() or Path(source).suffix):
        return paced(source, block, fast)
    device = None if source in (None, "default") else int(source) if str(source).isdigit() else source
    return microphone(device, block)


def paced(path: str | Path, block: int = env.LIVE_BLOCK, fast: bool = False) -> Iterator[np.ndarray]:
    """A file's sound in blocks, each handed out when its last sample would have been heard (at once with `fast`)."""
    from lipnet import audio

    samples = audio.load(path)  # decoded first: a bad file fails before the stream starts

    def play() -> Iterator[np.ndarray]:
        start = time.perf_counter()
        for first in range(0, len(samples), block):
            chunk = samples[first : first + block]
            if not fast:
                time.sleep(max(0.0, start + (first + len(chunk)) / env.SAMPLE_RATE - time.perf_counter()))
            yield chunk

    return play()


def microphone(device: int | str | None = None, block: int = env.LIVE_BLOCK) -> Iterator[np.ndarray]:
    """A microphone's sound in blocks, as it arrives, until the caller stops. Raises LipnetError (one line) when
    PortAudio is missing or there is no such input device."""
    try:
        import sounddevice
    except OSError:  # the Python package is there, the system library it loads is not
        raise LipnetError(
            "no microphone access: the PortAudio library is missing "
            "(Debian/Ubuntu: apt-get install libportaudio2; macOS: brew install portaudio)"
        ) from None
    name = "the default input device" if device is None else f"input device {device!r}"
    try:
        sounddevice.query_devices(device, kind="input")  # raises when there is none
        stream = sounddevice.InputStream(
            samplerate=env.SAMPLE_RATE, blocksize=block, device=device, channels=1,
            dtype="float32",
        )  # fmt: skip
    except (sounddevice.PortAudioError, ValueError) as err:
        raise LipnetError(f"cannot open {name} (no microphone?): {err}") from None

    def listen() -> Iterator[np.ndarray]:
        with stream:
            while True:
                block, _ = stream.read(stream.blocksize)
                yield block[:, 0].copy()

    return listen()


class Heard:
    """A live source's last seconds of sound, kept for reading beside pictures that arrive on their own clock: a
    background thread takes `blocks` as they come (a microphone's) into a ring of `seconds`. Called as
    ``heard(first, frames)``, it gives the last `frames` video frames' worth of samples: the pictures' window ends
    now, and so does the sound's (`first`, the window's first frame, is not needed)."""

    def __init__(self, blocks: Iterator[np.ndarray], seconds: float = env.LIVE_SOUND_S):
        self._ring = np.zeros(int(seconds * env.SAMPLE_RATE), np.float32)
        self._heard, self._error = 0, None
        self._lock = threading.Lock()
        threading.Thread(target=self._take, args=(blocks,), daemon=True).start()

    def _take(self, blocks: Iterator[np.ndarray]) -> None:
        try:
            for block in blocks:
                with self._lock:
                    self._ring[(self._heard + np.arange(len(block))) % len(self._ring)] = block
                    self._heard += len(block)
        except Exception as err:  # said by the reader's next call in one line, not lost in this thread
            self._error = err if isinstance(err, LipnetError) else LipnetError(f"the microphone stopped: {err}")

    def __call__(self, first: int, frames: int) -> np.ndarray:
        if self._error is not None:
            raise self._error
        from lipnet import audio

        count = min(frames * audio.samples_per_video_frame(), len(self._ring))
        with self._lock:
            out = self._ring[(self._heard - count + np.arange(count)) % len(self._ring)].copy()
            silent = count - self._heard  # not heard yet: silence, not the ring's old samples
        if silent > 0:
            out[:silent] = 0.0
        return out


def recorded(path: str | Path) -> Callable[[int, int], np.ndarray]:
    """A file's own sound as a live reading of its pictures takes it: the samples over video frames first ..
    first + frames, by the file's clock, at whatever pace the pictures are read. LipnetError when it has none."""
    from lipnet import audio

    samples = audio.load(path)
    per = audio.samples_per_video_frame()
    return lambda first, frames: samples[first * per : (first + frames) * per]

"""Reading audio: any file with sound in it -> 16 kHz mono float32 -> MFCC or log-mel frames on the video's time base.

One loader (`load`) for every entry point: PyAV decodes the sound track of a video (AAC, MP2, MP3...) or an audio
file (WAV, FLAC, Ogg, MP3) with the FFmpeg libraries inside its wheel, and libswresample resamples it (a proper
low-pass filter, not dropped samples). Every other module takes the arrays this returns, not paths.

The clock: sample 0 is the instant the file's first video frame is shown (its first sound, in a file without
pictures). Containers keep audio/video offsets in their time stamps (stream start times, MP4/MOV edit lists,
Matroska block times) and codecs prime their decoders (AAC's 1024 samples); `load` honours both, padding the sound
with silence where it starts after the picture and dropping what plays before the first frame, so a remuxed or
container-shifted file reads as a player shows it.

The time base: feature frame ``i`` is centred on sample ``i * hop``, so it is at time ``i * hop_ms`` ms, and a
clip of ``n`` samples has ``n // hop`` frames. A 25 fps video frame lasts 40 ms, which the hop must divide:
with the default 10 ms hop, audio frame ``4 j`` is at video frame ``j``'s instant and frames ``4 j .. 4 j + 3``
fall within it (`video_frame`).
"""

import functools
from pathlib import Path

import numpy as np

from lipnet import env
from lipnet.errors import LipnetError, input_file

VIDEO_FRAME_MS = 1000 // env.FPS  # 40
LOG_MEL_FLOOR = -100.0  # dB: log-mel's value for no sound at all


def load(path: str | Path, sample_rate: int = env.SAMPLE_RATE) -> np.ndarray:
    """The sound of a file as mono float32 samples at `sample_rate`, channels averaged.

    Raises LipnetError naming the file when it is missing, empty, not a media file, has no audio track, an
    audio codec FFmpeg cannot decode, a sample rate below env.MIN_SAMPLE_RATE, no samples, or nothing but silence.
    """
    import av  # PyAV loads FFmpeg's libraries: only when a file is read

    path = input_file(path, "an audio or video file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as err:
        raise LipnetError(f"{path}: not an audio or video file FFmpeg can read ({_reason(err)})") from None
    with container:
        if not container.streams.audio:
            raise LipnetError(f"{path}: no audio track")
        stream, has_pictures = container.streams.audio[0], bool(_pictures(container))
        if stream.codec_context is None or stream.codec_context.name is None:
            raise LipnetError(f"{path}: an audio codec FFmpeg cannot decode")
        if stream.rate and stream.rate < env.MIN_SAMPLE_RATE:  # upsampled, it would hold no sound above rate / 2
            raise LipnetError(
                f"{path}: sampled at {stream.rate} Hz, too low for speech (at least {env.MIN_SAMPLE_RATE} Hz)"
            )
        chunks, first = [], None
        try:
            resampler = None
            for frame in container.decode(stream):
                if resampler is None:  # planar float at the target rate, the source's own channel layout
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=sample_rate)
                    # when the first sample plays (None without time stamps), the codec's priming already dropped
                    first = frame.time
                chunks += [out.to_ndarray() for out in resampler.resample(frame)]
            if resampler is not None:
                chunks += [out.to_ndarray() for out in resampler.resample(None)]
        except av.FFmpegError as err:
            if not chunks:
                raise LipnetError(
                    f"{path}: its {stream.codec_context.name} audio cannot be decoded ({_reason(err)})"
                ) from None
            # a damaged tail: keep what decoded, as players do
    if not chunks or not sum(chunk.shape[1] for chunk in chunks):
        raise LipnetError(f"{path}: the audio track holds no samples")
    samples = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)
    picture = video_start(path) if has_pictures else None  # a file of sound alone keeps its own clock
    if picture is not None and first is not None:  # on the picture's clock: pad a late start, trim an early one
        lead = round((first - picture) * sample_rate)
        samples = np.pad(samples, (lead, 0)) if lead > 0 else samples[-lead:]
        if not len(samples):
            raise LipnetError(f"{path}: the sound ends before the first video frame is shown")
    if not np.isfinite(samples).all() or np.abs(samples).max() < env.SILENCE_PEAK:
        raise LipnetError(f"{path}: the audio is silent")
    return samples


def video_start(path: str | Path) -> float | None:
    """When the first frame of a file's video is shown, in seconds on the container's clock (edit lists and
    stream start times applied, as a player does); None for a file without pictures (cover art is not a video)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not (streams := _pictures(container)):
                return None
            for frame in container.decode(streams[0]):
                return frame.time
    except av.FFmpegError:
        return None  # no decodable picture: the sound keeps its own clock
    return None


def _pictures(container) -> list:
    """An open container's video streams that move: cover art (an attached picture) is not a video."""
    import av

    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def mux_mono(container, stream, samples: np.ndarray, start: int = 0) -> None:
    """Encode mono float samples (clipped to -1..1) into `stream`, a mono AAC stream of the open PyAV output
    `container` (added before anything was muxed, as FFmpeg writes the header then), the first at sample `start`
    of the stream's rate; then flush the encoder. The writing counterpart of `load`, for tools that write video."""
    import av

    mono = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1, 1)
    rate = stream.codec_context.sample_rate
    size = stream.codec_context.frame_size or 1024  # AAC's frame
    for i in range(0, len(mono), size):
        frame = av.AudioFrame.from_ndarray(mono[None, i : i + size], format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, start + i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def hop_length(hop_ms: int = env.HOP_MS, sample_rate: int = env.SAMPLE_RATE) -> int:
    """Samples per feature frame; raises ValueError unless the hop is whole samples and divides a video frame."""
    if hop_ms <= 0 or VIDEO_FRAME_MS % hop_ms or (sample_rate * hop_ms) % 1000:
        raise ValueError(f"a hop of {hop_ms} ms does not divide a {VIDEO_FRAME_MS} ms video frame into whole samples")
    return sample_rate * hop_ms // 1000


def frames_per_video_frame(hop_ms: int = env.HOP_MS) -> int:
    """Audio frames in one video frame: 4 at the 10 ms hop."""
    hop_length(hop_ms)
    return VIDEO_FRAME_MS // hop_ms


def samples_per_video_frame() -> int:
    """Samples in one video frame (640 at 16 kHz and 25 fps)."""
    return hop_length() * frames_per_video_frame()


def video_frames(samples: int) -> int:
    """Video frames (at env.FPS) a recording of `samples` spans: frame j's instant is j / FPS, within the sound."""
    return -(-samples // samples_per_video_frame())


def frame_count(samples: int, hop_ms: int = env.HOP_MS, sample_rate: int = env.SAMPLE_RATE) -> int:
    """Feature frames of `samples` samples: one per whole hop."""
    return samples // hop_length(hop_ms, sample_rate)


def per_video_frame(
    frames: np.ndarray, video_frames: int, hop_ms: int = env.HOP_MS, causal: bool = False, stack: bool = False
) -> np.ndarray:
    """Audio frames (T, ...) on the one time base -> one row per video frame (`video_frames`, ...): the mean of the
    audio frames it holds, or with `stack` those frames side by side (`video_frames`, per * d).

    Video frame j holds audio frames per*j .. per*j + per - 1, the 40 ms it is shown from its instant; `causal`, the
    per frames ending at its instant, per*j - per + 1 .. per*j (zeros before the sound), for models that may not
    hear ahead. Missing frames at the end repeat the last; frames past `video_frames` are dropped.
    """
    per = frames_per_video_frame(hop_ms)
    x = np.asarray(frames)
    if causal:
        x = np.concatenate([np.zeros((per - 1, *x.shape[1:]), x.dtype), x])
    need = video_frames * per
    x = x[:need] if len(x) >= need else np.concatenate([x, np.repeat(x[-1:], need - len(x), axis=0)])
    x = x.reshape(video_frames, per, *x.shape[1:])
    return x.reshape(video_frames, -1) if stack else x.mean(axis=1)


def video_frame(audio_frame: int | np.ndarray, hop_ms: int = env.HOP_MS) -> int | np.ndarray:
    """The 25 fps video frame an audio frame falls in."""
    return audio_frame // frames_per_video_frame(hop_ms)


def mfcc(
    samples: np.ndarray,
    hop_ms: int = env.HOP_MS,
    window_ms: int = env.WINDOW_MS,
    deltas: bool = True,
    sample_rate: int = env.SAMPLE_RATE,
    warp: float = 1.0,
) -> np.ndarray:
    """(frames, 13) MFCC, or (frames, 39) with their deltas and delta-deltas appended; float32. `warp`: heard
    through a warped vocal tract, as `log_mel`'s."""
    import librosa

    hop, window = hop_length(hop_ms, sample_rate), sample_rate * window_ms // 1000
    mel = _mel_power(samples, hop, window, env.N_MELS, sample_rate, warp)
    cepstra = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=env.N_MFCC)
    return _frames(cepstra, deltas)


def log_mel(
    samples: np.ndarray,
    hop_ms: int = env.HOP_MS,
    window_ms: int = env.WINDOW_MS,
    n_mels: int = env.N_MELS,
    deltas: bool = False,
    sample_rate: int = env.SAMPLE_RATE,
    warp: float = 1.0,
) -> np.ndarray:
    """(frames, n_mels) log mel energies in dB (MFEC: MFCC before the DCT), or (frames, 3 n_mels) with their
    deltas and delta-deltas appended; float32. `LogMelStream` gives the same frames (without deltas) live. A `warp`
    other than 1 hears the voice through a longer (< 1) or shorter (> 1) vocal tract (`vtlp`): training
    augmentation that stands in for speakers a corpus of one lacks."""
    hop, window = hop_length(hop_ms, sample_rate), sample_rate * window_ms // 1000
    return _frames(_decibels(_mel_power(samples, hop, window, n_mels, sample_rate, warp)), deltas)


def vtlp(frequencies: np.ndarray, warp: float, sample_rate: int = env.SAMPLE_RATE) -> np.ndarray:
    """Frequencies (Hz) moved by vocal tract length perturbation: scaled by `warp` up to a knee, then a straight
    line to Nyquist, which stays put (Jaitly & Hinton 2013; the knee is env.VTLP_BOUNDARY_HZ, scaled for warps > 1
    so nothing passes Nyquist)."""
    nyquist, boundary = sample_rate / 2, env.VTLP_BOUNDARY_HZ * min(warp, 1.0)
    knee = boundary / warp
    above = nyquist - (nyquist - boundary) / (nyquist - knee) * (nyquist - frequencies)
    return np.where(frequencies <= knee, frequencies * warp, above)


def _mel_power(
    samples: np.ndarray, hop: int, window: int, n_mels: int, sample_rate: int, warp: float = 1.0
) -> np.ndarray:
    """(n_mels, frames) mel power spectrogram, frame i centred on sample i * hop, the partial last hop dropped."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (n,), got shape {samples.shape}")
    n_fft = _fft_size(window)
    padded = np.pad(samples, n_fft // 2)  # zeros before and after, so that frame i is centred on sample i * hop
    return _mel_frames(padded, hop, window, n_mels, sample_rate, warp)[:, : len(samples) // hop]


def _fft_size(window: int) -> int:
    return 1 << (window - 1).bit_length()


def _mel_frames(
    padded: np.ndarray, hop: int, window: int, n_mels: int, sample_rate: int, warp: float = 1.0
) -> np.ndarray:
    """(n_mels, frames) mel power of every whole FFT frame of `padded`, one every `hop` samples from its start:
    the one computation both `log_mel` on a recording and `LogMelStream` on its chunks make."""
    import librosa

    n_fft = _fft_size(window)
    spectrum = librosa.stft(padded, n_fft=n_fft, hop_length=hop, win_length=window, center=False)
    return _mel_basis(sample_rate, n_fft, n_mels, round(warp, 3)) @ (np.abs(spectrum) ** 2)


@functools.lru_cache(maxsize=256)
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int, warp: float = 1.0) -> np.ndarray:
    """librosa's mel filter bank (Slaney), made once a warp: building it costs more than a frame's FFT. Warped, each
    triangle is read at the FFT bins' `vtlp` frequencies (librosa's construction, which takes no frequencies)."""
    import librosa

    if warp == 1.0:
        return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
    edges = librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=sample_rate / 2)
    heard = vtlp(librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft), warp, sample_rate)
    widths = np.diff(edges)[:, None]
    rising, falling = (heard - edges[:-2, None]) / widths[:-1], (edges[2:, None] - heard) / widths[1:]
    slaney = 2.0 / (edges[2:] - edges[:-2])  # each triangle's area 1, as librosa's norm="slaney"
    return (np.maximum(0.0, np.minimum(rising, falling)) * slaney[:, None]).astype(np.float32)


def _decibels(power: np.ndarray) -> np.ndarray:
    """Power in dB re 1, floored at -100 dB: a fixed floor, not one below the loudest frame, so that a frame's value
    does not depend on what else is in the recording (a stream does not know)."""
    import librosa

    return librosa.power_to_db(power, amin=10 ** (LOG_MEL_FLOOR / 10), top_db=None)


class LogMelStream:
    """`log_mel` of sound arriving in chunks (a microphone's, say): `push` returns each frame as soon as the
    samples its window spans have arrived, `end` the last few; together the same numbers as `log_mel` of the
    whole recording. Frame i needs `lookahead` samples past its centre: to the end of its window, which is shorter
    than the FFT frame around it (400 samples in 512 at 16 kHz: 12.5 ms, not 16), whose edges it weighs by zero."""

    def __init__(
        self,
        hop_ms: int = env.HOP_MS,
        window_ms: int = env.WINDOW_MS,
        n_mels: int = env.N_MELS,
        sample_rate: int = env.SAMPLE_RATE,
    ):
        self.hop, self.window = hop_length(hop_ms, sample_rate), sample_rate * window_ms // 1000
        self.n_mels, self.sample_rate = n_mels, sample_rate
        self.n_fft = _fft_size(self.window)
        self.span = (self.n_fft - self.window) // 2 + self.window  # an FFT frame's samples up to its window's end
        self.lookahead = self.span - self.n_fft // 2  # samples
        self.buffer = np.zeros(self.n_fft // 2, np.float32)  # the padded recording from frame `emitted`'s start
        self.received = self.emitted = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """(frames, n_mels) of the frames `chunk` completes (often none)."""
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self.buffer = np.concatenate([self.buffer, chunk])
        self.received += len(chunk)
        return self._ready(max(0, (len(self.buffer) - self.span) // self.hop + 1))

    def end(self) -> np.ndarray:
        """(frames, n_mels): the frames left at the end of the sound, their windows padded with zeros."""
        return self._ready(max(0, self.received // self.hop - self.emitted))

    def _ready(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros((0, self.n_mels), np.float32)
        needed = (count - 1) * self.hop + self.n_fft
        frames = self.buffer[:needed]
        if len(frames) < needed:  # the last frame's FFT edge, or the end of the sound: zeros, as `log_mel` pads
            frames = np.pad(frames, (0, needed - len(frames)))
        power = _mel_frames(frames, self.hop, self.window, self.n_mels, self.sample_rate)
        self.buffer = self.buffer[count * self.hop :]
        self.emitted += count
        return _frames(_decibels(power), deltas=False)


def _frames(features: np.ndarray, deltas: bool) -> np.ndarray:
    """(dims, frames) -> (frames, dims), with Δ and ΔΔ (over 9 frames, fewer on very short input) when asked."""
    import librosa

    if deltas:
        n = features.shape[1]
        width = min(9, n if n % 2 else n - 1)
        if width >= 3:
            extra = [librosa.feature.delta(features, width=width, order=k, mode="nearest") for k in (1, 2)]
        else:
            extra = [np.zeros_like(features)] * 2
        features = np.concatenate([features, *extra])
    return np.ascontiguousarray(features.T, dtype=np.float32)


def _reason(err: Exception) -> str:
    """FFmpeg's own words for an error, without PyAV's errno and path decoration."""
    return getattr(err, "strerror", None) or str(err)

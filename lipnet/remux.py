"""Moving a clip's sound against its picture without touching either: a remux on the container's clock.

`shift_audio` writes a copy of a video whose sound starts earlier or later than it did. Where the target container
can hold the source's codecs, both streams are copied packet for packet and only their time stamps move (stream
start times and MP4/MOV edit lists, as editors store an offset), so nothing is re-encoded. Where it cannot (PCM in
MP4, say), the sound alone is re-encoded in the container's usual codec. The written file must decode every video
frame the source has, and its sound, before it replaces anything; otherwise nothing is written.
"""

from pathlib import Path

from lipnet import audio, env
from lipnet.errors import LipnetError, input_file
from lipnet.storage import atomic_path

# FFmpeg's muxer for each file name ending, and the sound codec to re-encode in when the source's cannot be copied
CONTAINERS = {
    ".mp4": ("mp4", "aac"),
    ".m4v": ("mp4", "aac"),
    ".mov": ("mov", "aac"),
    ".mkv": ("matroska", "aac"),
    ".webm": ("webm", "libopus"),
    ".mpg": ("mpeg", "mp2"),
}


def container(path: str | Path) -> tuple[str, str]:
    """(FFmpeg muxer, sound codec for a re-encode) of a file name; LipnetError for an ending not written."""
    path = Path(path)
    if path.suffix.lower() not in CONTAINERS:
        raise LipnetError(f"{path}: write the clip as {', '.join(CONTAINERS)}")
    return CONTAINERS[path.suffix.lower()]


def shift_audio(source: str | Path, target: str | Path, frames: int) -> Path:
    """Write `source` to `target` with its sound `frames` video frames (1/env.FPS s) later, earlier when negative.

    The later stream's time stamps move; the other stream keeps its own, so no time stamp becomes negative.
    Raises LipnetError, with nothing written, when the source has no video or no sound, the target's container
    cannot hold its video codec, or the written file does not decode every video frame.
    """
    import av

    source = input_file(source, "a video")
    target = Path(target)
    muxer, codec = container(target)
    seconds = frames / env.FPS
    try:
        with av.open(str(source)) as probe:
            if not probe.streams.video or not probe.streams.audio:
                raise LipnetError(f"{source}: needs a video and an audio track")
    except av.FFmpegError as err:
        raise LipnetError(f"{source}: not a video FFmpeg can read ({getattr(err, 'strerror', None) or err})") from None
    expected = video_frames(source)  # decoded whole: only once the file is known to have both tracks

    with atomic_path(target) as tmp:
        try:
            _remux(source, tmp, muxer, max(0.0, -seconds), max(0.0, seconds), None)
        except (av.FFmpegError, ValueError):  # the container refuses the sound codec: re-encode the sound alone
            try:
                _remux(source, tmp, muxer, max(0.0, -seconds), max(0.0, seconds), codec)
            except (av.FFmpegError, ValueError) as err:
                reason = getattr(err, "strerror", None) or str(err)
                raise LipnetError(f"{target}: a {muxer} file cannot hold {source.name}'s video ({reason})") from None
        written = video_frames(tmp, muxer)
        if written != expected:
            raise LipnetError(f"{target}: not written, its copy decoded {written} of {expected} video frames")
    return target


def _remux(source: Path, f: Path, muxer: str, video_delay: float, audio_delay: float, codec: str | None) -> None:
    """Copy `source`'s first video and audio streams into `f`, each delayed by its seconds; the sound copied
    packet for packet, or re-encoded mono in `codec` (on the picture's clock, as `audio.load` reads it)."""
    import av

    with av.open(str(source)) as src, av.open(str(f), "w", format=muxer) as out:
        video_in, sound_in = src.streams.video[0], src.streams.audio[0]
        video_out = out.add_stream_from_template(video_in)
        if codec is None:
            sound_out = out.add_stream_from_template(sound_in)
            streams = (video_in, sound_in)
        else:
            rate = sound_in.codec_context.sample_rate or env.SAMPLE_RATE
            sound_out = out.add_stream(codec, rate=rate, layout="mono")
            streams = (video_in,)
        last = {}  # the last decoding time stamp muxed, per stream
        for packet in src.demux(*streams):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            step = round((video_delay if packet.stream is video_in else audio_delay) / packet.time_base)
            if packet.pts is not None:
                packet.pts += step
            if packet.dts is not None:
                packet.dts += step
                previous = last.get(packet.stream.index)
                if previous is not None and packet.dts <= previous:  # MPEG-PS repeats some: MP4 needs them rising,
                    packet.dts = previous + 1  # and moves them as FFmpeg's command line does
                    if packet.pts is not None and packet.pts < packet.dts:
                        packet.pts = packet.dts
                last[packet.stream.index] = packet.dts
            packet.stream = video_out if packet.stream is video_in else sound_out
            out.mux(packet)
        if codec is not None:
            rate = sound_out.codec_context.sample_rate
            start = (audio.video_start(source) or 0.0) + audio_delay  # sample 0 is the first frame's instant
            audio.mux_mono(out, sound_out, audio.load(source, sample_rate=rate), round(start * rate))


def video_frames(path: Path, muxer: str | None = None) -> int:
    """How many video frames a file decodes to (0 when it has no video or the decoder gives up)."""
    import av

    try:
        with av.open(str(path), format=muxer) as src:
            if not src.streams.video:
                return 0
            return sum(1 for _ in src.decode(src.streams.video[0]))
    except av.FFmpegError:
        return 0

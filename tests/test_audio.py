import struct
import wave
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import ROOT

from lipnet import audio, env
from lipnet.errors import LipnetError

SAMPLE = ROOT / "samples" / "lgil7a.mp4"  # H.264 with GRID's original MP2 track
AAC = ROOT / "tests" / "fixtures" / "srbb4n.mp4"  # H.264 with 32 kb/s AAC
GRID_MPG = ROOT / "tests" / "fixtures" / "bbaf2n.mpg"  # GRID's original MPEG-1 with MP2 audio


def write_wav(path: Path, samples: np.ndarray, rate: int = env.SAMPLE_RATE, channels: int = 1) -> Path:
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def encode(path: Path, samples: np.ndarray, codec: str, rate: int = env.SAMPLE_RATE) -> Path:
    """Encode mono samples with PyAV (FLAC, Vorbis, MP3...), as another program would have written the file."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="flt", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_reads_the_sound_of_videos():
    for clip in (SAMPLE, AAC, GRID_MPG):
        samples = audio.load(clip)
        assert samples.dtype == np.float32 and samples.ndim == 1
        assert abs(len(samples) - 3 * env.SAMPLE_RATE) < 0.05 * env.SAMPLE_RATE  # a 3 s GRID sentence
        # stereo with identical channels is averaged, not summed: GRID peaks just under full scale
        assert 0.3 < np.abs(samples).max() < 1.05
        assert np.sqrt(np.mean(samples[: env.SAMPLE_RATE // 4] ** 2)) < np.sqrt(np.mean(samples**2))  # silent start


def test_a_wav_written_here_reads_back_the_same_samples(tmp_path):
    samples = audio.load(GRID_MPG)
    samples *= 0.9 / np.abs(samples).max()  # GRID's loudest samples reach full scale, which 16-bit PCM clips
    again = audio.load(write_wav(tmp_path / "clip.wav", samples))
    np.testing.assert_allclose(again, samples, atol=1.5 / 32768)
    stereo = audio.load(write_wav(tmp_path / "stereo.wav", samples, channels=2))
    np.testing.assert_allclose(stereo, samples, atol=1.5 / 32768)


@pytest.mark.parametrize(
    "suffix, codec, tolerance", [(".flac", "flac", 1e-4), (".ogg", "libopus", 0.05), (".mp3", "libmp3lame", 0.05)]
)
def test_audio_files(tmp_path, suffix, codec, tolerance):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    samples = audio.load(GRID_MPG)
    decoded = audio.load(encode(tmp_path / f"clip{suffix}", samples, codec))
    # lossy codecs add a few ms of priming: compare after the best shift within 30 ms
    n = min(len(samples), len(decoded)) - 480
    error = min(np.sqrt(np.mean((decoded[s : s + n] - samples[:n]) ** 2)) for s in range(0, 480, 8))
    assert error < tolerance * np.sqrt(np.mean(samples**2)) * 10


def test_resampling_filters_instead_of_dropping_samples(tmp_path):
    rate = 44100
    t = np.arange(rate) / rate
    kept = audio.load(write_wav(tmp_path / "kept.wav", 0.5 * np.sin(2 * np.pi * 3000 * t), rate))
    assert len(kept) == env.SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(kept))
    assert abs(np.argmax(spectrum) - 3000) <= 1  # 1 Hz bins over 1 s
    # 10 kHz is above the new Nyquist frequency (8 kHz): decimation would fold it to 6 kHz, a filter removes it
    folded = audio.load(write_wav(tmp_path / "folded.wav", 0.5 * np.sin(2 * np.pi * 10000 * t) + 0.01, rate))
    assert np.abs(folded - folded.mean())[100:-100].max() < 0.03  # but the filter's start and end transients


def test_features_share_the_video_time_base():
    samples = audio.load(GRID_MPG)
    n = len(samples)
    assert audio.mfcc(samples).shape == (n // 160, 39)
    assert audio.mfcc(samples, deltas=False).shape == (n // 160, 13)
    assert audio.log_mel(samples).shape == (n // 160, 40)
    assert audio.log_mel(samples, hop_ms=20, deltas=True).shape == (n // 320, 120)
    assert audio.mfcc(samples, hop_ms=8, window_ms=16).shape == (n // 128, 39)  # the seed's frames
    assert audio.frames_per_video_frame() == 4 and audio.frames_per_video_frame(8) == 5
    np.testing.assert_array_equal(audio.video_frame(np.arange(9)), [0, 0, 0, 0, 1, 1, 1, 1, 2])
    assert audio.frame_count(n) == n // 160
    with pytest.raises(ValueError, match="16 ms"):
        audio.hop_length(16)  # does not divide a 40 ms video frame
    speech = audio.log_mel(samples)[:, :20].mean(1)
    assert speech[150] > speech[5] + 20  # mid-sentence is louder (dB) than the silent start
    assert np.isfinite(audio.mfcc(samples[:400])).all()  # shorter than the delta window


def test_a_warped_vocal_tract_moves_the_formants_and_nothing_else():
    import librosa

    np.testing.assert_array_equal(audio.vtlp(np.array([0.0, 8000.0]), 0.9), [0.0, 8000.0])  # the ends stay put
    assert (np.diff(audio.vtlp(np.linspace(0, 8000, 257), 1.1)) > 0).all()  # nothing folds over
    unwarped = librosa.filters.mel(sr=env.SAMPLE_RATE, n_fft=512, n_mels=env.N_MELS)
    own = audio._mel_basis.__wrapped__(env.SAMPLE_RATE, 512, env.N_MELS, 1.0 + 1e-12)  # the warped construction
    np.testing.assert_allclose(own, unwarped, atol=1e-6)  # builds librosa's bank when it does not warp
    # a real voice (GRID bbaf2n): a shorter tract (1.1) lifts its energy into higher bands, a longer one lowers it
    samples = audio.load(GRID_MPG)
    centre = {w: (audio.log_mel(samples, warp=w).clip(-60) + 60).mean(0) for w in (0.9, 1.0, 1.1)}
    weighted = {w: float((np.arange(env.N_MELS) * c).sum() / c.sum()) for w, c in centre.items()}
    assert weighted[0.9] + 0.15 < weighted[1.0] < weighted[1.1] - 0.15  # bands: 13.12, 13.34, 13.52
    np.testing.assert_array_equal(audio.log_mel(samples, warp=1.0), audio.log_mel(samples))


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio\n")
    silent = write_wav(tmp_path / "silent.wav", np.zeros(16000))
    mute = tmp_path / "mute.mp4"  # a video without a sound track
    writer = cv2.VideoWriter(str(mute), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for _ in range(10):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    unknown = tmp_path / "unknown.wav"  # a WAV whose codec tag nothing decodes
    data = b"\x00\x01" * 16000
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        0x1234,
        1,
        16000,
        32000,
        2,
        16,
        b"data",
        len(data),
    )
    unknown.write_bytes(header + data)
    cases = {
        tmp_path / "missing.wav": "no such file",
        tmp_path: "is a directory",
        tmp_path / "empty.wav": "empty file",
        tmp_path / "text.wav": "not an audio or video file",
        silent: "silent",
        mute: "no audio track",
        unknown: "audio codec FFmpeg cannot decode",
        write_wav(tmp_path / "4k.wav", np.sin(np.arange(8000) / 3) * 0.3, rate=4000): "too low for speech",
    }
    for path, problem in cases.items():
        with pytest.raises(LipnetError, match=problem) as err:
            audio.load(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_log_mel_stream_gives_log_mel_chunk_by_chunk():
    samples = audio.load(SAMPLE)
    stream = audio.LogMelStream()
    rng = np.random.default_rng(1)
    parts, start = [], 0
    while start < len(samples):  # chunks of every size, from one sample to several frames
        size = int(rng.integers(1, 1000))
        parts.append(stream.push(samples[start : start + size]))
        start += size
    parts.append(stream.end())
    np.testing.assert_allclose(np.concatenate(parts), audio.log_mel(samples), atol=1e-3)
    first = audio.LogMelStream()
    assert first.lookahead == 200  # to the end of the 25 ms window (12.5 ms), not of the 512-sample FFT frame
    assert len(first.push(samples[: 100 * 160 + first.lookahead - 1])) == 100  # frame 100 needs one more sample
    assert len(first.push(samples[100 * 160 + first.lookahead - 1 : 100 * 160 + first.lookahead])) == 1


def test_live_blocks_end_where_frames_can_come_out():
    """Every frame's window ends on a live block's last sample: no frame waits for a block to fill."""
    stream = audio.LogMelStream()
    assert audio.hop_length() % env.LIVE_BLOCK == 0 and stream.lookahead % env.LIVE_BLOCK == 0
    samples = audio.load(SAMPLE)
    ready = [len(stream.push(samples[i : i + env.LIVE_BLOCK])) for i in range(0, 20 * 160, env.LIVE_BLOCK)]
    assert ready == [1 if (i + 1) * env.LIVE_BLOCK >= 200 and ((i + 1) * env.LIVE_BLOCK - 200) % 160 == 0 else 0
                     for i in range(len(ready))]  # fmt: skip


def test_log_mel_has_a_fixed_floor():
    quiet = np.zeros(16000, np.float32)
    quiet[8000] = 0.5  # one click in digital silence
    x = audio.log_mel(quiet)
    assert x.min() == pytest.approx(audio.LOG_MEL_FLOOR) and x.max() > audio.LOG_MEL_FLOOR + 40


def test_a_file_played_live_gives_its_sound_in_blocks_and_fast_skips_the_pace():
    from lipnet.speech import microphone

    blocks = list(microphone.blocks(str(SAMPLE), block=400, fast=True))  # 3 s of sound, not 3 s of waiting
    assert {len(b) for b in blocks[:-1]} == {400}
    np.testing.assert_array_equal(np.concatenate(blocks), audio.load(SAMPLE))


def test_what_a_live_source_heard_is_its_last_seconds():
    """`microphone.Heard` beside a camera: the last frames' worth of what came in, silence for what has not yet; a
    file's own sound (`recorded`) is taken by its frames instead."""
    import threading

    from lipnet.speech import microphone

    samples, go = audio.load(SAMPLE), threading.Event()

    def blocks():
        go.wait()
        yield from microphone.blocks(str(SAMPLE), block=640, fast=True)

    heard = microphone.Heard(blocks(), seconds=2.0)  # a ring shorter than the file: it wraps
    np.testing.assert_array_equal(heard(0, 5), np.zeros(5 * 640, np.float32))  # nothing heard yet
    go.set()
    for _ in range(200):
        if np.array_equal(heard(0, 25), samples[-16000:]):
            break
        threading.Event().wait(0.01)
    np.testing.assert_array_equal(heard(0, 25), samples[-16000:])  # the last second, after wrapping the ring
    assert len(heard(0, 75)) == 32000  # no more than it keeps
    np.testing.assert_array_equal(microphone.recorded(SAMPLE)(25, 10), samples[16000 : 16000 + 6400])

    def unplugged():
        yield samples[:640]
        raise OSError("device unavailable")

    broken = microphone.Heard(unplugged())
    for _ in range(100):
        try:
            broken(0, 1)
        except LipnetError as err:
            assert str(err) == "the microphone stopped: device unavailable"
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("a microphone that stopped went unsaid")


def test_audio_frames_pool_onto_video_frames_one_way():
    """Video frame j holds audio frames 4j..4j+3 (10 ms hop), or the four ending at its instant when causal."""
    x = np.arange(10, dtype=np.float32)[:, None]  # 2.5 video frames of audio frames 0..9
    np.testing.assert_array_equal(audio.per_video_frame(x, 3)[:, 0], [1.5, 5.5, 8.75])  # the last repeats frame 9
    causal = audio.per_video_frame(x, 3, causal=True, stack=True)
    np.testing.assert_array_equal(causal, [[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(audio.per_video_frame(np.arange(6.0), 3, hop_ms=20), [0.5, 2.5, 4.5])

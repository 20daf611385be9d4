"""Noise to hear speech through: babble of other utterances, white and pink noise, mixed at a chosen SNR.

What the audio-visual recogniser trains with (random SNR) and `bench/avsr.py` scores it in (fixed SNRs). Babble is
made of other utterances of the same set, so training and test babble never share a clip.
"""

import numpy as np
from scipy.fft import next_fast_len

KINDS = ("babble", "white", "pink")
BABBLE_TALKERS = (3, 6)  # babble sums this many utterances (at least, at most)


def white(length: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise."""
    return rng.standard_normal(length).astype(np.float32)


def pink(length: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise (power falling as 1/f): white noise shaped in the frequency domain."""
    size = next_fast_len(length)
    spectrum = np.fft.rfft(rng.standard_normal(size))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    return np.fft.irfft(spectrum, size)[:length].astype(np.float32)


def babble(pool: list[np.ndarray], length: int, rng: np.random.Generator, talkers: int | None = None) -> np.ndarray:
    """Several utterances of `pool` at once, each at the same loudness and starting anywhere (looped to `length`)."""
    talkers = talkers or int(rng.integers(BABBLE_TALKERS[0], BABBLE_TALKERS[1] + 1))
    out = np.zeros(length, np.float32)
    for i in rng.choice(len(pool), size=min(talkers, len(pool)), replace=False):
        voice = np.resize(pool[i], length)  # np.resize repeats it
        out += np.roll(voice, int(rng.integers(length))) / (_rms(voice) + 1e-9)
    return out


def make(kind: str, length: int, rng: np.random.Generator, pool: list[np.ndarray] | None = None) -> np.ndarray:
    """Noise of one of `KINDS`; babble needs the `pool` of utterances it is made of."""
    if kind == "babble":
        if not pool:
            raise ValueError("babble needs utterances to be made of")
        return babble(pool, length, rng)
    if kind == "white":
        return white(length, rng)
    if kind == "pink":
        return pink(length, rng)
    raise ValueError(f"unknown noise {kind!r}: choose from {', '.join(KINDS)}")


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`speech` with `noise` added at `snr_db` (speech power over noise power, over the whole clip), scaled back to
    the speech's peak if the sum would clip."""
    noise = np.resize(noise, len(speech))
    scaled = noise * (_rms(speech) / (_rms(noise) + 1e-12) / 10 ** (snr_db / 20))
    out = speech + scaled
    return (out / max(1.0, float(np.abs(out).max()))).astype(np.float32)


def band_limit(samples: np.ndarray, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    """Only the band `low_hz`..`high_hz` of the sound kept: a telephone, a small loudspeaker, a far microphone."""
    size = next_fast_len(len(samples))  # zero-padded to a length whose FFT is fast
    spectrum = np.fft.rfft(samples, size)
    hz = np.fft.rfftfreq(size, 1 / sample_rate)
    spectrum[(hz < low_hz) | (hz > high_hz)] = 0
    return np.fft.irfft(spectrum, size)[: len(samples)].astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))

"""Synthetic voices saying GRID sentences: other voices than s1's to learn from and to score on.

The only GRID speaker here with more than two clips is s1, and a recogniser learnt from one voice reads strangers
badly. Text-to-speech voices are the other speakers within reach: a voice is ``engine:name``, the engine one of the
Debian packages flite, festival (with festvox voices) and espeak-ng. flite's and festival's voices are made of
people's recordings (CMU ARCTIC's awb, rms and slt; the kal and ked diphone sets); espeak-ng's are formant
synthesis, nobody's voice, so they are kept to score on (bench/avsr.py) and never learnt from.
"""

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from lipnet import audio, env, grid
from lipnet.errors import LipnetError

ENGINES = ("flite", "festival", "espeak-ng")
# what the recogniser learns from beside s1 (`RecognizerConfig.voices`): five people (slt, a woman, twice)
LEARNT = (
    "flite:awb",
    "flite:rms",
    "flite:slt",
    "flite:kal16",
    "festival:ked_diphone",
    "festival:cmu_us_slt_arctic_hts",
)
STRETCH = (0.85, 1.15)  # learnt from, a voice says each sentence this many times as slowly as it would (at random)
PAUSE = 0.5  # seconds of silence either side, as a GRID clip has
# GRID's letters as a synthesiser says their names (the rest it spells right; GRID's speakers are British: "zed")
_SPOKEN = {"a": "ay", "z": "zed"}


def sentences(count: int, seed: int, excluding: set[str] = frozenset()) -> list[str]:
    """`count` GRID sentences drawn at random (the same for the same seed), none of them in `excluding` (sentences
    kept to score on)."""
    rng, out = np.random.default_rng(seed), []
    while len(out) < count:
        text = " ".join(slot[rng.integers(len(slot))] for slot in grid.GRAMMAR)
        if text not in excluding:
            out.append(text)
    return out


def say(text: str, voice: str, stretch: float = 1.0) -> np.ndarray:
    """The GRID sentence `text` said by `voice` (``engine:name``), `stretch` times as slow: 16 kHz mono samples
    with PAUSE seconds of silence either side, cut to whole video frames. Raises LipnetError if the engine fails
    (missing, or no such voice)."""
    engine, _, name = voice.partition(":")
    if engine not in ENGINES or not name:
        raise LipnetError(f"a synthetic voice is engine:name with engine one of {', '.join(ENGINES)}, not {voice!r}")
    spoken = " ".join(_SPOKEN.get(w, w) for w in text.split())
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "said.wav"
        command = {
            "flite": ["flite", "-voice", name, "--setf", f"duration_stretch={stretch}", "-t", spoken, "-o", str(wav)],
            "festival": [
                "text2wave", "-eval", f"(voice_{name})", "-eval", f"(Parameter.set 'Duration_Stretch {stretch})",
                "-o", str(wav),
            ],
            "espeak-ng": ["espeak-ng", "-v", name, "-s", str(round(150 / stretch)), "-w", str(wav), spoken],
        }[engine]  # fmt: skip
        if engine == "flite" and name not in _flite_voices():  # flite would say it in its default voice
            raise LipnetError(f"{voice}: flite has no such voice (it has {', '.join(_flite_voices())})")
        try:
            done = subprocess.run(command, input=spoken, text=True, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as err:
            raise LipnetError(f"{voice}: the synthesiser failed ({err})") from None
        if "SIOD ERROR" in done.stderr:  # festival's: no such voice (it would say it in its default voice)
            raise LipnetError(f"{voice}: festival failed ({done.stderr.strip().splitlines()[-1]})")
        if not wav.is_file() or wav.stat().st_size <= 44:
            raise LipnetError(f"{voice}: the synthesiser said nothing")
        samples = audio.load(wav)
    pad = np.zeros(round(PAUSE * env.SAMPLE_RATE), np.float32)
    samples = np.concatenate([pad, samples, pad])
    return samples[: len(samples) - len(samples) % audio.samples_per_video_frame()]


@functools.cache
def _flite_voices() -> tuple[str, ...]:
    try:
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        raise LipnetError(f"flite: not installed or not working ({err})") from None
    return tuple(listed.partition(":")[2].split())

"""Peers for the lip-sync benchmark: what users would run instead of lipnet's lipsync.py, as plain functions.

Every peer takes mono float32 16 kHz samples (`lipnet.audio.load`) and returns one OVR viseme per 10 ms frame,
frame ``i`` being the instant ``i * 10 ms`` and a clip of ``n`` samples having ``n // 160`` frames, with "sil" for
silence: the same time base as lipnet's audio features, so the benchmark scores every method on one grid.

``pocketsphinx_visemes`` -- Rhubarb Lip Sync's recogniser. Rhubarb (without a dialog file) runs PocketSphinx phone
recognition, no transcript: the en-us acoustic model with a phone n-gram language model (``allphone`` search) in
place of words. Here: pocketsphinx 5's bundled en-us model and ``en-us-phone.lm.bin``, with Rhubarb's settings
(``-lw 0.8``, batch CMN, context-independent phones) and pocketsphinx 5's default beams (1e-48, wider than
Rhubarb's 1e-20; on GRID, beams from 1e-20 to 1e-80 give the same phones). The samples are rounded to 16-bit PCM,
as Rhubarb feeds them: the phones can change with the last bit (truncating instead of rounding changes a few on
``samples/lgil7a.mp4``). `pocketsphinx_phones` gives the recognised phones, mapped to OVR visemes by
``lipnet.visemes.VISEME_SETS["ovr"]``; fillers (+NSN+ noise, +SPN+ speech-like noise) and SIL are "sil". What it
leaves out of Rhubarb: its WebRTC voice-activity split (PocketSphinx sees the whole clip, so it may hear phones in
the silences), its noise and schwa heuristics and its animation rules (shape tweening, minimum durations), which
belong to Rhubarb's own A-H mouth set, not to OVR. Dithering is off so that a clip always decodes the same way.

``pylipsync_visemes`` -- uLipSync's method (pylipsync, its Python port; ``pip install --no-deps pylipsync==0.2.1``:
it pins numpy < 2.4 but runs on lipnet's numpy): each 64 ms window's 12 MFCCs are compared
by cosine similarity with one MFCC profile per class, recorded from a speaker saying the Japanese vowels A I U E
O and silence (the package's bundled default profile, ``phonemes/template.json``). It can only express five vowel
mouths and a closed mouth: OVR A->aa, I->ih, U->ou, E->E, O->oh, silence->sil. Every consonant comes out as the
vowel or silence it sounds most like, so the consonant visemes (PP FF TH DD kk CH SS nn RR) are never predicted.
Beware its class names: the folders are named "aa", "ih", "ou", "ee", "oh", but "ee" holds the Japanese E (/e/,
OVR "E", not /i:/) and "ih" the Japanese I (/i/, OVR "ih"). It runs at 100 windows a second (one per 10 ms
frame, centred 5 ms after it: frame ``i`` takes the window of the 10 ms it opens). A quiet window (RMS under
-50 dBFS) that its silence test lets through gets every weight scaled to 0 by its volume gate, and its
``dominant_phoneme`` would then name the first class, "aa": such a window is a closed mouth here, "sil", as
uLipSync would animate it (none occurs on GRID, whose quiet frames all match the silence profile).

``headaudio_visemes`` -- HeadAudio (npm ``@met4citizen/headaudio`` 0.1.0, TalkingHead's audio-driven lip-sync):
12 MFCCs of 512-sample blocks every 256 samples (16 ms), a Gaussian prototype per phoneme
(``dist/model-en-mixed.bin``) with a Mahalanobis-distance classifier voting over 6 blocks, an energy gate as
voice-activity detection, all 15 OVR visemes. It is an AudioWorklet, but the worklet is a thin shell around a
plain-JS ``Processor`` that the package itself constructs with a dummy port for testing, so it runs headless
under Node.js 20 with no browser: ``bench/headaudio.mjs`` feeds it the clip in 128-sample render quanta, as a
browser would, with the worklet's default parameters (no silence calibration, which the app must trigger). The
clip is upsampled to 48 kHz first, the AudioContext rate a browser usually gives the worklet: HeadAudio
pre-emphasises before it downsamples to 16 kHz, so the rate it is fed changes its features, and fed 16 kHz
directly it hears speech in most of GRID's silences. Install::

    npm install --prefix ~/.cache/lipnet/headaudio @met4citizen/headaudio@0.1.0

(or set ``LIPNET_HEADAUDIO`` to another ``--prefix``). Node starts once per call (about 0.1 s).
"""

import functools
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from lipnet.visemes import VISEME_SETS  # noqa: E402

SAMPLE_RATE = 16000
HOP = 160  # samples per 10 ms frame
OVR = VISEME_SETS["ovr"]
OVR_VISEMES = frozenset(OVR.visemes.values()) | {OVR.silence}

# pylipsync's default profile classes (uLipSync's Japanese vowels, see the module docstring) -> OVR.
PYLIPSYNC_TO_OVR = {"aa": "aa", "ih": "ih", "ou": "ou", "ee": "E", "oh": "oh", "silence": OVR.silence}

# HeadAudio's viseme indices (its visemeNames order) -> OVR.
HEADAUDIO_TO_OVR = ("aa", "E", "ih", "oh", "ou", "PP", "SS", "TH", "DD", "FF", "kk", "nn", "RR", "CH", "sil")
HEADAUDIO_DIR = Path(os.environ.get("LIPNET_HEADAUDIO", Path.home() / ".cache" / "lipnet" / "headaudio"))
HEADAUDIO_PACKAGE = HEADAUDIO_DIR / "node_modules" / "@met4citizen" / "headaudio"
HEADAUDIO_SCRIPT = Path(__file__).resolve().parent / "headaudio.mjs"
HEADAUDIO_RATE = 48000  # the AudioContext rate the worklet is fed at


def frame_count(samples: np.ndarray) -> int:
    """10 ms frames of a clip: one per whole 160 samples."""
    return len(samples) // HOP


# PocketSphinx (Rhubarb Lip Sync's recogniser) ---------------------------------------------------


@functools.cache
def _decoder():
    """One PocketSphinx 5 phone decoder, built on first use from the models inside the wheel."""
    from pocketsphinx import Decoder, get_model_path

    return Decoder(
        hmm=get_model_path("en-us/en-us"),
        allphone=get_model_path("en-us-phone.lm.bin"),
        lm=None,
        allphone_ci=True,
        lw=0.8,
        beam=1e-48,
        pbeam=1e-48,
        cmn="batch",
        dither=False,
        samprate=SAMPLE_RATE,
        loglevel="FATAL",
    )


def pocketsphinx_phones(samples: np.ndarray) -> list[tuple[str, float, float]]:
    """Phones PocketSphinx hears in a clip, without a transcript: (ARPAbet phone or "sil", start s, end s).

    The segments are contiguous and cover the clip from 0 to ``len(samples) / 16000`` s (none for no samples).
    PocketSphinx times a phone by its 10 ms frames (frame ``f`` at ``f * 10`` ms, whose 25.6 ms window is centred
    12.8 ms later), as Rhubarb does.
    """
    samples = _mono(samples)
    duration = len(samples) / SAMPLE_RATE
    if not len(samples):
        return []
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder = _decoder()
    decoder.reinit_feat()  # a fresh noise estimate: a clip's phones must not depend on the clip decoded before
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    phones: list[tuple[str, float, float]] = []
    previous_end = 0.0
    for segment in decoder.seg() or []:  # None when nothing was decoded
        phone = segment.word if segment.word in OVR.visemes else OVR.silence
        end = min((segment.end_frame + 1) / 100, duration)
        if end <= previous_end:
            continue
        if phones and phones[-1][0] == phone == OVR.silence:  # SIL next to a filler: one silence
            phones[-1] = (phone, phones[-1][1], end)
        else:
            phones.append((phone, previous_end, end))  # from the previous end: no gaps
        previous_end = end
    if not phones:
        return [(OVR.silence, 0.0, duration)]
    phones[-1] = (phones[-1][0], phones[-1][1], duration)  # its last frames may not fill the clip
    return phones


def pocketsphinx_visemes(samples: np.ndarray) -> np.ndarray:
    """OVR viseme per 10 ms frame from `pocketsphinx_phones`: the phone at each frame's instant."""
    phones = pocketsphinx_phones(samples)
    if not phones:
        return np.array([], dtype="<U3")
    starts = np.round(np.array([start for _, start, _ in phones]) * 100).astype(int)  # in frames
    labels = np.array([OVR.visemes.get(phone, OVR.silence) for phone, _, _ in phones])
    return labels[np.searchsorted(starts, np.arange(frame_count(samples)), side="right") - 1]


# pylipsync (uLipSync's MFCC profiles) -----------------------------------------------------------------


@functools.cache
def _analyzer():
    """pylipsync's analyser with its bundled default profile (nothing is built or downloaded)."""
    from pylipsync import PhonemeAnalyzer

    return PhonemeAnalyzer()


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (n,), got shape {samples.shape}")
    return samples


def pylipsync_visemes(samples: np.ndarray) -> np.ndarray:
    """OVR viseme per 10 ms frame from pylipsync: aa, E, ih, oh, ou or sil only."""
    samples = _mono(samples)
    n = frame_count(samples)
    if n == 0:
        return np.array([], dtype="<U3")
    segments = _analyzer().extract_phoneme_segments(samples, SAMPLE_RATE, fps=SAMPLE_RATE // HOP)
    labels = []
    for segment in segments:
        best = segment.dominant_phoneme
        labels.append(PYLIPSYNC_TO_OVR[best.name] if best.target > 0 else OVR.silence)
    starts = np.array([segment.start for segment in segments])  # in samples
    index = np.searchsorted(starts, np.arange(n) * HOP, side="right") - 1  # the window of the 10 ms it opens
    return np.array(labels)[index]


# HeadAudio (TalkingHead's audio-driven lip-sync, Node.js) ---------------------------------------------


def headaudio_available() -> bool:
    """Whether Node.js and the HeadAudio npm package are installed (see the module docstring)."""
    return shutil.which("node") is not None and (HEADAUDIO_PACKAGE / "modules" / "processor.mjs").exists()


def headaudio_visemes(samples: np.ndarray) -> np.ndarray:
    """OVR viseme per 10 ms frame from HeadAudio run under Node.js: its 16 ms analysis step nearest in time."""
    from scipy.signal import resample_poly

    samples = _mono(samples)
    n = frame_count(samples)
    if n == 0:
        return np.array([], dtype="<U3")
    if not headaudio_available():
        raise RuntimeError(
            f"HeadAudio needs Node.js and its npm package in {HEADAUDIO_DIR}: "
            f"npm install --prefix {HEADAUDIO_DIR} @met4citizen/headaudio@0.1.0"
        )
    browser = resample_poly(samples, HEADAUDIO_RATE // SAMPLE_RATE, 1).astype("<f4")
    result = subprocess.run(
        ["node", str(HEADAUDIO_SCRIPT), str(HEADAUDIO_PACKAGE), str(HEADAUDIO_RATE)],
        input=browser.tobytes(),
        capture_output=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(f"HeadAudio failed: {result.stderr.decode(errors='replace').strip()}")
    steps = json.loads(result.stdout)
    if not steps["t"]:  # shorter than one 512-sample block
        return np.full(n, OVR.silence, dtype="<U3")
    labels = np.array([HEADAUDIO_TO_OVR[v] for v in steps["viseme"]])
    times = np.arange(n) * HOP / SAMPLE_RATE
    # the steps are evenly spaced, so the nearest is the fractional step index rounded
    nearest = np.rint(np.interp(times, steps["t"], np.arange(len(labels)))).astype(int)
    return labels[nearest]


PEERS = {"pocketsphinx": pocketsphinx_visemes, "pylipsync": pylipsync_visemes, "headaudio": headaudio_visemes}


def available(name: str) -> bool:
    """Whether a peer's package is installed (pocketsphinx always is: lipnet aligns with it)."""
    if name == "headaudio":
        return headaudio_available()
    return name != "pylipsync" or importlib.util.find_spec("pylipsync") is not None


@functools.cache
def _word_decoder():
    """A PocketSphinx 5 word recogniser held to GRID's grammar (a JSGF of its six slots), with the wheel's en-us
    acoustic model and dictionary: the fairest pocketsphinx for GRID sentences, knowing what lipnet's grammar
    decoder knows."""
    import tempfile

    from pocketsphinx import Decoder, get_model_path

    from lipnet import grid

    rules = " ".join("(" + " | ".join(slot) + ")" for slot in grid.GRAMMAR)
    with tempfile.NamedTemporaryFile("w", suffix=".gram", delete=False) as f:
        f.write(f"#JSGF V1.0;\ngrammar grid;\npublic <sentence> = {rules};\n")
    try:
        return Decoder(
            hmm=get_model_path("en-us/en-us"),
            dict=get_model_path("en-us/cmudict-en-us.dict"),
            jsgf=f.name,
            lm=None,
            dither=False,
            samprate=SAMPLE_RATE,
            loglevel="FATAL",
        )
    finally:
        Path(f.name).unlink()


def pocketsphinx_words(samples: np.ndarray) -> str:
    """The GRID sentence PocketSphinx hears in a clip (`_word_decoder`), lower case; "" when it hears none."""
    pcm = np.round(np.clip(_mono(samples), -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder = _word_decoder()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr.lower() if hypothesis is not None else ""

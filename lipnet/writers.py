"""Output files of a reading, one per format, written beside each other as whisper writes its transcripts.

``txt`` the transcript; ``json`` everything (text, whether speech was seen, confidence, decoder, word times and
confidences, viseme cues and, when the sentence is known, the reference with CER and WER); ``srt`` and ``vtt``
subtitles with one cue per word, the line shown throughout and the word spoken underlined (whisper's highlighted
words); ``tsv`` word start and end in seconds, and confidence; ``visemes`` the
viseme timeline as ``.visemes.json`` and ``.visemes.tsv``, plus Rhubarb Lip Sync's ``.rhubarb.tsv`` and
``.rhubarb.json`` when the viseme set is ``rhubarb``. Every time is the reading's (``timing`` in the JSON says whether
the words were timed on the sound, on the lips or, for a model without a frame head, by the CTC alignment).
Lip-sync timelines (`write_timeline`) and mouth animation parameters (`write_animation`) have writers here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lipnet import env, metrics, visemes
from lipnet.storage import atomic_write, atomic_write_text

if TYPE_CHECKING:  # the reader imports Keras, which writing text does not need
    from lipnet.animation.lipshape import MouthParameters
    from lipnet.lipreading.reader import Reading
    from lipnet.speech.lipsync import Timeline

FORMATS = ("txt", "json", "srt", "vtt", "tsv", "visemes")


def write(
    reading: Reading,
    stem: str | Path,
    formats: Iterable[str] = FORMATS,
    viseme_set: str = "ovr",
    reference: str | None = None,
    source: str | Path | None = None,
) -> list[Path]:
    """Write `formats` of a reading to ``<stem>.txt``, ``<stem>.json``... each atomically; returns the paths.

    `reference` is the known sentence (scored in the JSON); `source` the video, named in the JSON and Rhubarb files.
    """
    formats = set(formats)
    if unknown := formats - set(FORMATS):
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {', '.join(FORMATS)}")
    cues = []
    if formats & {"json", "visemes"}:
        cues = reading.cues(viseme_set)
    texts = {}
    if "txt" in formats:
        texts[".txt"] = reading.text + "\n"
    if "json" in formats:
        texts[".json"] = to_json(reading, cues, viseme_set, reference, source)
    if "srt" in formats:
        texts[".srt"] = to_srt(reading)
    if "vtt" in formats:
        texts[".vtt"] = to_vtt(reading)
    if "tsv" in formats:
        texts[".tsv"] = to_tsv(reading)
    if "visemes" in formats:
        texts[".visemes.json"] = visemes.to_json(cues)
        texts[".visemes.tsv"] = visemes.to_tsv(cues)
        if viseme_set == "rhubarb":
            texts[".rhubarb.tsv"] = visemes.to_rhubarb_tsv(cues)
            texts[".rhubarb.json"] = visemes.to_rhubarb_json(cues, str(source or ""), reading.duration)
    stem = Path(stem)
    return [atomic_write_text(stem.with_name(stem.name + suffix), text) for suffix, text in texts.items()]


def to_json(
    reading: Reading,
    cues: list[visemes.Cue],
    viseme_set: str,
    reference: str | None = None,
    source: str | Path | None = None,
) -> str:
    """The reading as one JSON object; times in seconds."""
    out = {"source": str(source)} if source is not None else {}
    out |= {
        "text": reading.text,
        "speech": reading.speech,
        **({"notice": reading.notice} if reading.notice else {}),
        **({"warning": reading.warning} if reading.warning else {}),
        "confidence": round(reading.confidence, 4),
        "modality": reading.modality,
        "timing": reading.timing,
        "decoder": reading.decoder,
        "duration": round(reading.duration, 3),
        "fps": env.FPS,
        "words": [
            {"word": w, "start": round(s, 3), "end": round(e, 3), "confidence": round(c, 4)}
            for (w, s, e), c in zip(reading.words, _word_confidences(reading))
        ],
        "visemes": {
            "set": viseme_set,
            "cues": [asdict(c) | {"start": round(c.start, 3), "end": round(c.end, 3)} for c in cues],
        },
    }
    if reading.track is not None:
        out["filled_frames"] = reading.track.filled  # frames without a face, tracked from their neighbours
    if reference is not None:
        out["reference"] = reference
        out["cer"] = round(metrics.sentence_cer(reference, reading.text), 4)
        out["wer"] = round(metrics.sentence_wer(reference, reading.text), 4)
    return json.dumps(out, indent=2, ensure_ascii=False) + "\n"


def to_srt(reading: Reading) -> str:
    """SubRip subtitles: numbered cues, times as ``HH:MM:SS,mmm``."""
    cues = _subtitle_cues(reading)
    return "".join(
        f"{i}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n\n"
        for i, (start, end, text) in enumerate(cues, 1)
    )


def to_vtt(reading: Reading) -> str:
    """WebVTT subtitles: times as ``HH:MM:SS.mmm``."""
    cues = _subtitle_cues(reading)
    return "WEBVTT\n\n" + "".join(
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n\n" for start, end, text in cues
    )


def to_tsv(reading: Reading) -> str:
    """Tab-separated words under a header that names the unit: start and end in seconds (3 decimals), the word and
    its confidence (0-1)."""
    rows = [f"{s:.3f}\t{e:.3f}\t{w}\t{c:.3f}" for (w, s, e), c in zip(reading.words, _word_confidences(reading))]
    return "\n".join(["start_s\tend_s\tword\tconfidence", *rows]) + "\n"


def _word_confidences(reading: Reading) -> list[float]:
    """One confidence per timed word (the timed words are the transcript's, unless timing failed: then none)."""
    confidences = reading.word_confidences
    return confidences if len(confidences) == len(reading.words) else [reading.confidence] * len(reading.words)


def _subtitle_cues(reading: Reading) -> list[tuple[float, float, str]]:
    """(start, end, text) cues: words grouped into lines of up to env.SUBTITLE_LINE_WIDTH characters; a cue per
    word shows its line with the word underlined, and a cue per gap between words of a line shows the line alone.

    A reading without word timings (its text needs more frames than the clip has) is one cue over the clip.
    """
    if not reading.words:
        return [(0.0, reading.duration, reading.text)] if reading.text else []
    lines: list[list[tuple[str, float, float]]] = [[]]
    for word in reading.words:
        if lines[-1] and len(" ".join(w for w, _, _ in [*lines[-1], word])) > env.SUBTITLE_LINE_WIDTH:
            lines.append([])
        lines[-1].append(word)
    cues = []
    for line in lines:
        words = [w for w, _, _ in line]
        last = line[0][1]
        for i, (_, start, end) in enumerate(line):
            if start > last:
                cues.append((last, start, " ".join(words)))
            highlighted = " ".join(f"<u>{w}</u>" if j == i else w for j, w in enumerate(words))
            cues.append((start, end, highlighted))
            last = end
    return cues


def _timestamp(seconds: float, decimal_marker: str) -> str:
    """``HH:MM:SS<marker>mmm``, rounded to the millisecond."""
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


TIMELINE_FORMATS = ("visemes", "rhubarb", "npz", "csv", "phones")


@dataclass(frozen=True)
class RhubarbOptions:
    """What Rhubarb Lip Sync's own options choose in its exports: the extended shapes a rig has (of G, H, X; the
    others stand in for those it lacks), the Moho ``.dat`` frame rate, and Preston Blair's shape names there."""

    extended_shapes: str = "GHX"
    dat_frame_rate: int = 24
    preston_blair: bool = False


def write_timeline(
    timeline: Timeline,
    stem: str | Path,
    formats: Iterable[str] = ("visemes", "npz", "phones"),
    viseme_set: str = "ovr",
    min_duration: float = env.LIPSYNC_MIN_CUE,
    source: str | Path | None = None,
    rhubarb: RhubarbOptions | None = None,
) -> list[Path]:
    """Write `formats` of an audio viseme timeline (`lipnet.speech.lipsync.timeline`) beside each other, each atomically.

    ``visemes``: ``.visemes.json``/``.tsv`` in `viseme_set`; ``rhubarb``: Rhubarb's ``.rhubarb.tsv``/``.json``/``.xml``
    and Moho ``.dat`` in its shapes; ``npz``/``csv``: per-frame probabilities of `viseme_set` (``.visemes.npz`` with
    ``probabilities``, ``classes``, ``times``; ``.visemes.csv`` with a ``time`` column and one per class); ``phones``:
    ``.phones.tsv`` (when the timeline has phones: not from a viseme model); and ``.words.tsv`` whenever the words
    were given. Times are seconds.
    """
    formats = set(formats)
    if unknown := formats - set(TIMELINE_FORMATS):
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {', '.join(TIMELINE_FORMATS)}")
    stem, sound = Path(stem), str(source or "")
    texts: dict[str, str] = {}
    if "visemes" in formats:
        cues = timeline.cues(viseme_set, min_duration)
        texts[".visemes.json"] = visemes.to_json(cues)
        texts[".visemes.tsv"] = visemes.to_tsv(cues)
    if "rhubarb" in formats:  # as Rhubarb writes them: the duration is the last cue's end
        rhubarb = rhubarb or RhubarbOptions()
        shapes = timeline.cues("rhubarb", min_duration, rhubarb.extended_shapes)
        rest = "X" if "X" in rhubarb.extended_shapes else visemes.EXTENDED_SHAPES["X"]
        texts[".rhubarb.tsv"] = visemes.to_rhubarb_tsv(shapes, rest)
        texts[".rhubarb.json"] = visemes.to_rhubarb_json(shapes, sound)
        texts[".rhubarb.xml"] = visemes.to_rhubarb_xml(shapes, sound)
        texts[".dat"] = visemes.to_moho_dat(shapes, rhubarb.dat_frame_rate, rhubarb.preston_blair, rest)
    if formats & {"csv", "npz"}:  # checked before anything is written: a model may not give this set
        probabilities, classes = timeline.probabilities_of(viseme_set), visemes.classes(viseme_set)
        times = np.arange(len(probabilities)) / timeline.rate
    if "csv" in formats:
        rows = [",".join(["time", *classes])]
        rows += [f"{t:.3f}," + ",".join(f"{v:.4f}" for v in row) for t, row in zip(times, probabilities)]
        texts[".visemes.csv"] = "\n".join(rows) + "\n"
    if "phones" in formats and (timeline.phones or timeline.aligned):  # a viseme model (a student) reads no phones
        texts[".phones.tsv"] = _segments_tsv("phone", timeline.phones)
    if timeline.words:
        texts[".words.tsv"] = _segments_tsv("word", timeline.words)
    paths = [atomic_write_text(stem.with_name(stem.name + suffix), text) for suffix, text in texts.items()]
    if "npz" in formats:
        arrays = {"probabilities": probabilities.astype(np.float32), "classes": np.array(classes), "times": times}
        paths.append(atomic_write(stem.with_name(stem.name + ".visemes.npz"), lambda f: np.savez(f, **arrays)))
    return paths


def _segments_tsv(name: str, segments) -> str:
    """``start end <name>`` lines under a header that names the unit, seconds with 3 decimals."""
    return "".join([f"start_s\tend_s\t{name}\n", *(f"{s.start:.3f}\t{s.end:.3f}\t{s.label}\n" for s in segments)])


ANIMATION_FORMATS = ("json", "csv")


def write_animation(
    params: MouthParameters, stem: str | Path, formats: Iterable[str] = ANIMATION_FORMATS, source: str | Path = ""
) -> list[Path]:
    """Write per-frame mouth parameters (`lipnet.animation.lipshape.MouthParameters`) as ``<stem>.anim.json`` and/or
    ``<stem>.anim.csv``, each atomically: a row per frame with its time (seconds), the named channels
    (`lipnet.animation.lipshape.CHANNELS`), the PCA coefficients ``c0..`` and the 20 mouth points ``x48, y48 .. x67, y67``
    (mouth widths from the mean mouth centre, y down)."""
    from lipnet.animation import lipshape

    formats = set(formats)
    if unknown := formats - set(ANIMATION_FORMATS):
        raise ValueError(f"unknown output formats {sorted(unknown)}; choose from {', '.join(ANIMATION_FORMATS)}")
    stem, texts = Path(stem), {}
    fps = 1 / float(params.times[1] - params.times[0]) if len(params.times) > 1 else env.FPS
    k = params.coefficients.shape[1]
    numbers = [f"x{48 + i}" for i in range(lipshape.POINTS)], [f"y{48 + i}" for i in range(lipshape.POINTS)]
    point_names = [name for pair in zip(*numbers) for name in pair]
    if "json" in formats:
        frames = [
            {
                "time": round(float(t), 4),
                "channels": {name: round(float(v), 4) for name, v in zip(lipshape.CHANNELS, channels)},
                "coefficients": [round(float(v), 5) for v in coefficients],
                "points": [[round(float(x), 5), round(float(y), 5)] for x, y in points],
            }
            for t, channels, coefficients, points in zip(
                params.times, params.channels, params.coefficients, params.points
            )
        ]
        about = {"source": str(source), "fps": round(fps, 3), "shape_model": params.model, "components": k}
        texts[".anim.json"] = json.dumps({**about, "channels": list(lipshape.CHANNELS), "frames": frames}) + "\n"
    if "csv" in formats:
        header = ["time", *lipshape.CHANNELS, *(f"c{i}" for i in range(k)), *point_names]
        rows = [",".join(header)]
        for t, channels, coefficients, points in zip(params.times, params.channels, params.coefficients, params.points):
            values = [*channels, *coefficients, *points.ravel()]
            rows.append(f"{t:.4f}," + ",".join(f"{v:.5f}" for v in values))
        texts[".anim.csv"] = "\n".join(rows) + "\n"
    return [atomic_write_text(stem.with_name(stem.name + suffix), text) for suffix, text in texts.items()]

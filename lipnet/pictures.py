"""Pictures of a reading, to see what the model saw and read: an annotated video and a timeline plot.

`annotate` redraws the clip (the frames the extractor saw, at env.FPS) with the tracked mouth box, the crop the model
read, the transcript as it unfolds and the current viseme. `plot` draws the per-frame character posteriors as a heat
map over the word spans and the viseme timeline.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from lipnet import env, metrics, video, visemes
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write

if TYPE_CHECKING:  # the reader imports Keras, which drawing does not need
    from lipnet.lipreading.reader import Reading

# Annotation layout, in output pixels, and colours (RGB).
_PAD = 10
_INSET = 2  # the model's crop is shown enlarged this many times
_PANEL_HEIGHT = env.IMAGE_HEIGHT * _INSET + 2 * _PAD
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE, _GREY, _YELLOW = (235, 235, 235), (150, 150, 150), (255, 210, 0)
_TRACKED, _FILLED = (0, 220, 0), (255, 150, 0)  # the mouth box where a face was found, and where it was filled in

_CLASS_LABELS = ["_", *("␣" if ch == " " else ch for ch in env.VOCABULARY)]  # blank, space, a-z
# tab20's strong colours, then its light ones, less its greys: grey is for silence
_VISEME_COLOURS = [colormaps["tab20"].colors[i] for i in (*range(0, 20, 2), *range(1, 20, 2)) if i not in (14, 15)]


def annotate(video_path: str | Path, reading: Reading, path: str | Path, viseme_set: str = "ovr") -> Path:
    """Write `video_path` annotated with `reading` (read from that video) to `path`, atomically: H.264 with the
    clip's own sound (none if it has none), which browsers play.

    Clips narrower than env.ANNOTATION_MIN_WIDTH are enlarged by a whole factor so that the text stays legible.
    """
    from lipnet import audio

    cues = reading.cues(viseme_set)
    try:
        samples = audio.load(video_path)
    except LipnetError:  # no sound track, or silence: the picture alone
        samples = None
    frames = video.frames(video_path)
    drawn = (cv2.cvtColor(_frame(frame, t, reading, cues), cv2.COLOR_RGB2BGR) for t, frame in enumerate(frames))
    return video.write(path, drawn, env.FPS, samples)


def plot(reading: Reading, path: str | Path, viseme_set: str = "ovr", reference: str | None = None) -> Path:
    """Write the reading's timeline as an image (PNG, or PDF/SVG by the name's suffix), atomically.

    Top: the character posteriors, frames x classes ("_" is the CTC blank, "␣" the space), frames without a face
    shaded red; below it the words and the visemes as spans on the same frame axis.
    """
    path = Path(path)
    probs, frames = reading.probs, len(reading.probs)
    fig = Figure(figsize=(min(max(8.0, frames / 6), 48.0), 7.0), layout="constrained")
    heat, words, shapes = fig.subplots(3, 1, sharex=True, height_ratios=[len(_CLASS_LABELS), 2.5, 2.5])

    image = heat.imshow(
        probs.T, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest",
        extent=(-0.5, frames - 0.5, len(_CLASS_LABELS) - 0.5, -0.5),
    )  # fmt: skip
    heat.set_yticks(range(len(_CLASS_LABELS)), _CLASS_LABELS, fontsize=8)
    heat.set_ylabel("class")
    seconds = heat.secondary_xaxis("top", functions=(lambda f: f / env.FPS, lambda s: s * env.FPS))
    seconds.set_xlabel("seconds")
    if reading.track is not None:
        for start, end in _runs(~reading.track.detected[:frames]):
            heat.axvspan(start - 0.5, end - 0.5, color="red", alpha=0.1, linewidth=0)
    fig.colorbar(image, ax=heat, label="probability", pad=0.01, fraction=0.02)
    shapes.set_xlim(-0.5, frames - 0.5)  # shared by the three rows; the spans' labels depend on it

    for word, start, end in reading.words:  # seconds, on the frame axis: frame i is shown from i / fps
        _span(words, start * env.FPS - 0.5, end * env.FPS - 0.5, word, "tab:blue", 0.25)
    _label_row(words, f"words\n({reading.timing or 'untimed'})")

    cues = reading.cues(viseme_set)
    _viseme_row(shapes, cues, viseme_set, scale=env.FPS, offset=-0.5)
    shapes.set_xlabel(f"frame ({env.FPS} fps)")

    title = (
        f"“{reading.text}”   ({reading.decoder} decoder, confidence {reading.confidence:.0%})"
        if reading.speech
        else f"no speech: {reading.notice}"
    )
    if reference is not None:
        cer, wer = metrics.sentence_cer(reference, reading.text), metrics.sentence_wer(reference, reading.text)
        title += f"\nreference: “{reference}”   CER {cer:.1%}, WER {wer:.1%}"
    fig.suptitle(title, fontsize=11)
    fmt = path.suffix.lower().lstrip(".") if path.suffix.lower() in (".png", ".pdf", ".svg") else "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=110))


def plot_sound(samples: np.ndarray, cues: list[visemes.Cue], path: str | Path, viseme_set: str = "ovr") -> Path:
    """Draw a lip-sync timeline: the waveform, its log-mel spectrogram and the viseme strip, over seconds. 2.5 inches
    a second, but never wider than env.PLOT_MAX_WIDTH: a long file's waveform is drawn as its envelope (the least and
    greatest sample of each pixel column), so neither the image nor the memory grows with the length."""
    from lipnet import audio

    path = Path(path)
    duration = len(samples) / env.SAMPLE_RATE
    width = min(max(8.0, 2.5 * duration), env.PLOT_MAX_WIDTH)
    fig = Figure(figsize=(width, 5.5))
    wave, spectrum, shapes = fig.subplots(3, 1, sharex=True, height_ratios=(1, 2, 0.6), gridspec_kw={"hspace": 0.08})
    columns = int(width * 110)
    if len(samples) > 4 * columns:  # an envelope, one column a pixel
        per = len(samples) // columns
        blocks = np.asarray(samples[: per * columns]).reshape(columns, per)
        times = (np.arange(columns) + 0.5) * per / env.SAMPLE_RATE
        wave.fill_between(times, blocks.min(axis=1), blocks.max(axis=1), lw=0, color="tab:blue")
    else:
        wave.plot(np.arange(len(samples)) / env.SAMPLE_RATE, samples, lw=0.4, color="tab:blue")
    wave.set(ylabel="waveform", yticks=[])
    mel = audio.log_mel(samples)
    spectrum.imshow(
        mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, len(mel) * env.HOP_MS / 1000, 0, mel.shape[1])
    )
    spectrum.set(ylabel="mel band")
    shapes.set_xlim(0, duration)
    _viseme_row(shapes, cues, viseme_set, scale=1.0, offset=0.0)
    shapes.set_xlabel("seconds")
    fig.suptitle(f"{path.stem}: {len(cues)} mouth cues", fontsize=11)
    fmt = path.suffix.lower().lstrip(".") if path.suffix.lower() in (".png", ".pdf", ".svg") else "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=110))


def _viseme_row(ax, cues: list[visemes.Cue], viseme_set: str, scale: float, offset: float) -> None:
    """The cues as coloured, labelled spans (silence grey) at x = seconds * scale + offset."""
    palette = sorted(set(visemes.VISEME_SETS[viseme_set].visemes.values()))
    silence = visemes.VISEME_SETS[viseme_set].silence
    for cue in cues:
        colour = (
            "lightgrey" if cue.viseme == silence else _VISEME_COLOURS[palette.index(cue.viseme) % len(_VISEME_COLOURS)]
        )
        _span(ax, cue.start * scale + offset, cue.end * scale + offset, cue.viseme, colour, 0.45)
    _label_row(ax, f"visemes\n({viseme_set})")


def _frame(frame: np.ndarray, t: int, reading: Reading, cues: list[visemes.Cue]) -> np.ndarray:
    """One annotated frame (RGB): the enlarged source frame with the mouth box, above a panel with the crop and text."""
    scale = max(1, math.ceil(env.ANNOTATION_MIN_WIDTH / frame.shape[1]))
    image = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR) if scale > 1 else frame.copy()
    panel = np.full((_PANEL_HEIGHT, image.shape[1], 3), 32, dtype=np.uint8)
    track = reading.track if reading.track is not None and t < len(reading.track.crops) else None
    x = _PAD
    if track is not None:
        h, w = env.IMAGE_HEIGHT, env.IMAGE_WIDTH
        inverse = cv2.invertAffineTransform(track.transforms[t])
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64) @ inverse[:, :2].T + inverse[:, 2]
        colour = _TRACKED if track.detected[t] else _FILLED
        cv2.polylines(image, [np.round(corners * scale).astype(np.int32)], True, colour, 2, cv2.LINE_AA)
        crop = cv2.resize(track.crops[t], None, fx=_INSET, fy=_INSET, interpolation=cv2.INTER_NEAREST)
        panel[_PAD : _PAD + crop.shape[0], _PAD : _PAD + crop.shape[1]] = crop
        x += crop.shape[1] + 2 * _PAD

    middle = (t + 0.5) / env.FPS
    spoken = [(word, start <= middle < end) for word, start, end in reading.words if start <= middle]
    _words(panel, spoken, (x, _PAD + 26), panel.shape[1] - _PAD - x)
    cue = next((c for c in cues if c.start <= middle < c.end), None)
    if cue is not None:
        detail = f"  ({cue.phoneme} in '{cue.word}')" if cue.word else ""
        _text(panel, f"viseme {cue.viseme}", (x, _PAD + 62), 0.7, _WHITE, 2)
        _text(panel, detail, (x + _width(f"viseme {cue.viseme}", 0.7, 2), _PAD + 62), 0.5, _GREY, 1)
    status = f"{t / env.FPS:5.2f} s   frame {t + 1}/{len(reading.probs)}"
    _text(panel, status, (x, _PAD + 92), 0.5, _GREY, 1)
    if track is not None and not track.detected[t]:
        _text(panel, "no face: box filled in", (x + _width(status, 0.5, 1) + 16, _PAD + 92), 0.5, _FILLED, 1)

    canvas = np.concatenate([image, panel])
    return np.pad(canvas, ((0, canvas.shape[0] % 2), (0, canvas.shape[1] % 2), (0, 0)))  # mp4v wants even sizes


def _words(panel: np.ndarray, spoken: list[tuple[str, bool]], origin: tuple[int, int], width: int) -> None:
    """The words spoken so far, the current one highlighted; the earliest are dropped when the line is full."""
    scale, thickness, space = 0.8, 2, _width(" ", 0.8, 2)
    widths = [_width(word, scale, thickness) for word, _ in spoken]
    first = 0
    while first < len(spoken) and sum(widths[first:]) + space * (len(spoken) - first) > width:
        first += 1
    x, y = origin
    for (word, current), w in zip(spoken[first:], widths[first:]):
        _text(panel, word, (x, y), scale, _YELLOW if current else _WHITE, thickness)
        x += w + space


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour, thickness: int) -> None:
    cv2.putText(image, text, origin, _FONT, scale, colour, thickness, cv2.LINE_AA)


def _width(text: str, scale: float, thickness: int) -> int:
    return cv2.getTextSize(text, _FONT, scale, thickness)[0][0]


def _span(ax, start: float, end: float, label: str, colour, alpha: float) -> None:
    """A span [start, end) on a one-row axis, labelled if the label fits in it (labels of neighbours would overlap)."""
    ax.add_patch(Rectangle((start, 0.1), end - start, 0.8, facecolor=colour, alpha=alpha, edgecolor="black", lw=0.5))
    left, right = ax.get_xlim()
    points = (end - start) / (right - left) * ax.get_figure().get_figwidth() * 72 * 0.85  # the axes' share of the width
    if points >= 5 * len(label) + 2:  # 8-point text is about 5 points a character
        ax.text((start + end) / 2, 0.5, label, ha="center", va="center", fontsize=8, clip_on=True)


def _label_row(ax, label: str) -> None:
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center")


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def plot_curves(path: Path, rows: list[dict], panels: tuple[tuple[str, str, tuple[str, ...], bool], ...]) -> None:
    """A training run's curves: one panel per (title, y label, fields, log scale) over epochs; fractions named
    ``*_cer``, ``*_wer`` and ``*accuracy`` are drawn in percent."""
    epochs = [int(r["epoch"]) for r in rows]
    fig = Figure(figsize=(5 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, ylabel, fields, log_scale) in zip(axes[0], panels):
        for field in fields:
            values = [float(r[field]) if r.get(field) not in (None, "") else math.nan for r in rows]
            percent = field.endswith(("_cer", "_wer", "accuracy"))
            name = field.removeprefix("val_").replace("_", " ")
            name = name.upper() if name in ("cer", "wer") else name
            label = f"validation {name}" if field.startswith("val_") else name  # "accuracy" and "val_accuracy" differ
            ax.plot(epochs, [100 * v for v in values] if percent else values, label=label)
        ax.set(xlabel="epoch", ylabel=ylabel, title=title, yscale="log" if log_scale else "linear")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


def plot_offsets(found: list, path: str | Path, title: str) -> Path:
    """A sync check's curves: mean distance against audio offset, a line per window (`lipnet.sync.offsets.Offset`),
    each chosen offset marked."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for f in found:
        span = "{:.1f}-{:.1f} s".format(*f.seconds)
        ax.plot(f.offsets, f.distances, marker=".", label=f"{span}: {f.offset:+d}" if len(found) > 1 else None)
        ax.axvline(f.offset, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="audio offset (video frames; > 0: audio lags)", ylabel="mean embedding distance", title=title)
    if len(found) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))

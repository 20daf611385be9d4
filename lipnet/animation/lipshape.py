"""Animation parameters from video: the tracked lips as a normalised shape, its PCA, and named rig channels.

The shape of a frame is the 20 mouth landmarks (dlib 48-67) in the extractor's crop frame (`lipnet.mouth`: eyes
level and a fixed distance apart, so head turns, tilts and distance to the camera are gone while the jaw and lips
still move against the skull), then moved so the clip's mean mouth centre is the origin and scaled so the clip's
mean corner-to-corner width is 1. One offset and one scale per clip, not per frame: a frame's own width and
opening stay in its shape, and a clip's mean width takes out how big this speaker's mouth is. Units are mouth
widths, x to the image's right, y down (as in the image).

Every channel is a function of those 20 points alone, so parameters predicted by any model (PCA coefficients
or points) give channels the same way. Measures, in mouth widths: ``height`` (outer lips, 51 to 57, vertical),
``opening`` (inner lips: the mean vertical gap of the pairs 61-67, 62-66, 63-65, at least 0), ``width``
(48 to 54) and the half widths ``cornerLeft``/``cornerRight`` (corner 54/48 from the lips' vertical centre line
through 51, 57, 62, 66; ARKit's left is the subject's, the image's right). ARKit channels are in 0..1: each
measure scaled linearly from 0 to 1 between two values fitted on training frames (stored in the shape model), and
clipped. ``height`` and ``opening`` run from their `env.ANIMATION_REST_PERCENTILE` (closed, relaxed lips) to their
`env.ANIMATION_FULL_PERCENTILE`; width and corners from their median, where speech spreads and rounds the lips
both ways, to the narrow (100 minus that percentile) or the wide end. The chin is not among the 20 points, so
the jaw is read from the lower lip, which it carries:

- ``jawOpen``: outer lip height (51 to 57), from rest to wide open.
- ``mouthClose``: lips held together against an open jaw, ``jawOpen - open``, where ``open`` is the inner lip
  gap on its own 0..1 scale: lips pressed shut while the mouth is stretched open, 0 at rest and on open vowels
  (ARKit's sense: a rig applies it on top of ``jawOpen``, so it never closes lips that are already closed).
  It stays low on GRID: the tracker averages landmarks over `env.SMOOTHING_WINDOW` frames, which blurs the
  60-100 ms closures of /p b m/ into their vowels.
- ``mouthPucker``: narrowing (width from its median, 0, to its narrow percentile, 1) with the lips closed,
  ``narrow * (1 - open)``; ``mouthFunnel``: the same narrowing with the lips open, ``narrow * open``.
- ``mouthStretchLeft``/``mouthStretchRight``: that corner's half width from its median (0) to its wide percentile.
"""

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipnet import env
from lipnet.errors import LipnetError
from lipnet.mouth import MOUTH, MouthTrack, load_sidecar, sidecar_path
from lipnet.storage import atomic_write

POINTS = MOUTH.stop - MOUTH.start  # 20 mouth landmarks, dlib 48-67
CACHE_SUFFIX = ".anim.npz"
MEASURES = ("height", "opening", "width", "cornerLeft", "cornerRight")
CHANNELS = (
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthStretchLeft",
    "mouthStretchRight",
    *MEASURES,
)
# Indices into the 20 mouth points (dlib index - 48).
_CORNER_RIGHT, _CORNER_LEFT = 0, 6  # dlib 48 (image left: the subject's right) and 54
_UPPER, _LOWER = 3, 9  # outer lip centres, dlib 51 and 57
_INNER_PAIRS = ((13, 19), (14, 18), (15, 17))  # inner upper and lower lips: dlib 61-67, 62-66, 63-65
_MIDLINE = (3, 9, 14, 18)  # dlib 51, 57, 62, 66
_MODEL_KEYS = ("mean", "components", "variance", "variance_ratio", "low", "high", "frames", "clips")


def normalise(landmarks: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """(T, 68, 2) source-pixel landmarks and the extractor's (T, 2, 3) crop transforms -> (T, 20, 2) lip shapes.

    The crop transform levels and scales by the eyes per frame; the clip's mean mouth centre and mean width then
    set the origin and the unit (see the module docstring).
    """
    lips = landmarks[:, MOUTH].astype(np.float64)
    crop = np.einsum("tij,tkj->tki", transforms[:, :, :2].astype(np.float64), lips) + transforms[:, None, :, 2]
    width = np.linalg.norm(crop[:, _CORNER_LEFT] - crop[:, _CORNER_RIGHT], axis=1).mean()
    return ((crop - crop.mean(axis=(0, 1))) / width).astype(np.float32)


def measures(points: np.ndarray) -> np.ndarray:
    """(T, 20, 2) lip shapes -> (T, 5) geometric measures in mouth widths, in the order of `MEASURES`."""
    points = np.asarray(points, dtype=np.float64)
    height = points[:, _LOWER, 1] - points[:, _UPPER, 1]
    gaps = [points[:, lower, 1] - points[:, upper, 1] for upper, lower in _INNER_PAIRS]
    opening = np.maximum(np.mean(gaps, axis=0), 0.0)
    width = np.linalg.norm(points[:, _CORNER_LEFT] - points[:, _CORNER_RIGHT], axis=1)
    middle = points[:, _MIDLINE, 0].mean(1)
    left, right = points[:, _CORNER_LEFT, 0] - middle, middle - points[:, _CORNER_RIGHT, 0]
    return np.stack([height, opening, width, left, right], axis=1)


@dataclass(frozen=True, eq=False)
class ShapeModel:
    """A PCA of the normalised lip shape and the percentiles that scale the channels, fitted on training clips."""

    mean: np.ndarray  # (20, 2)
    components: np.ndarray  # (K, 20, 2) orthonormal as (K, 40), by decreasing variance
    variance: np.ndarray  # (K,) variance of the frames along each component, mouth widths squared
    variance_ratio: np.ndarray  # (K,) fraction of the total shape variance
    low: np.ndarray  # (5,) per measure (`MEASURES`): the value a channel scales to 0 (width: its median)
    high: np.ndarray  # (5,) per measure: the value it scales to 1 (width: the narrow end, below `low`)
    frames: int  # training frames
    clips: int  # training clips

    @property
    def fingerprint(self) -> str:
        """Short hash of the shape space: cached parameters from another fit are recomputed."""
        digest = hashlib.sha1()
        for array in (self.mean, self.components, self.low, self.high):
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        return digest.hexdigest()[:16]

    def encode(self, points: np.ndarray, k: int = env.ANIMATION_COMPONENTS) -> np.ndarray:
        """(T, 20, 2) lip shapes -> (T, k) PCA coefficients."""
        flat = (np.asarray(points, dtype=np.float64) - self.mean).reshape(len(points), -1)
        return (flat @ self.components[:k].reshape(k, 2 * POINTS).T).astype(np.float32)

    def decode(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, k) PCA coefficients (any k up to all) -> (T, 20, 2) lip shapes."""
        coefficients = np.asarray(coefficients, dtype=np.float64)
        k = coefficients.shape[1]
        return (self.mean + np.einsum("tk,kpc->tpc", coefficients, self.components[:k])).astype(np.float32)

    def channels(self, points: np.ndarray) -> np.ndarray:
        """(T, 20, 2) lip shapes -> (T, len(CHANNELS)) channels, the ARKit ones in 0..1 (module docstring)."""
        raw = measures(points)
        scaled = np.clip((raw - self.low) / (self.high - self.low), 0.0, 1.0)
        jaw, opened, narrow, left, right = scaled.T
        arkit = [jaw, np.clip(jaw - opened, 0.0, 1.0), narrow * opened, narrow * (1 - opened), left, right]
        return np.concatenate([np.stack(arkit, axis=1), raw], axis=1).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        """Plain arrays in an ``.npz`` (no pickle), written atomically."""
        arrays = {key: np.asarray(getattr(self, key)) for key in _MODEL_KEYS}
        return atomic_write(path, lambda f: np.savez(f, measures=np.array(MEASURES), **arrays))


def load_model(path: str | Path = env.ANIMATION_MODEL) -> ShapeModel:
    """The shape model saved by `ShapeModel.save` (default: the one fitted on GRID s1)."""
    path = Path(path)
    _check_archive(path, "a mouth shape model")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in _MODEL_KEYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise LipnetError(f"{path}: not a mouth shape model ({_reason(err)})") from None
    k = len(arrays["components"])
    shapes = {"mean": (POINTS, 2), "components": (k, POINTS, 2), "variance": (k,), "variance_ratio": (k,)}
    shapes |= {"low": (len(MEASURES),), "high": (len(MEASURES),)}
    for key, shape in shapes.items():
        if arrays[key].shape != shape:
            raise LipnetError(f"{path}: {key} has shape {arrays[key].shape}, expected {shape}")
    return ShapeModel(
        **{key: arrays[key].astype(np.float64) for key in shapes},
        frames=int(arrays["frames"]),
        clips=int(arrays["clips"]),
    )


def fit(shapes: list[np.ndarray]) -> ShapeModel:
    """Fit the PCA and the channel percentiles on the (T, 20, 2) lip shapes of training clips."""
    points = np.concatenate(shapes).astype(np.float64)
    flat = points.reshape(len(points), -1)
    mean = flat.mean(0)
    _, singular, vt = np.linalg.svd(flat - mean, full_matrices=False)
    vt *= np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])[:, None]  # one sign whatever LAPACK picks
    variance = singular**2 / (len(flat) - 1)
    raw = measures(points)
    rest, full = env.ANIMATION_REST_PERCENTILE, env.ANIMATION_FULL_PERCENTILE
    low = np.percentile(raw, rest, axis=0)
    high = np.percentile(raw, full, axis=0)
    # Width and corners are 0 at their median (speech spreads and rounds the lips both ways from there): narrowing
    # reaches 1 at the narrow end, each corner (its own scale: the lips' centre line is rarely midway) at the wide.
    low[2:] = np.median(raw[:, 2:], axis=0)
    high[2] = np.percentile(raw[:, 2], 100 - full)
    return ShapeModel(
        mean.reshape(POINTS, 2),
        vt.reshape(-1, POINTS, 2),
        variance,
        variance / variance.sum(),
        low,
        high,
        len(points),
        len(shapes),
    )


@dataclass
class MouthParameters:
    """Animation parameters of one clip, one row per video frame at env.FPS."""

    times: np.ndarray  # (T,) seconds, frame j at j / env.FPS
    points: np.ndarray  # (T, 20, 2) float32 normalised lip shapes, mouth widths
    coefficients: np.ndarray  # (T, k) float32 PCA coefficients of `points`
    channels: np.ndarray  # (T, len(CHANNELS)) float32, named by `CHANNELS`
    model: str  # fingerprint of the shape model they were computed with

    def channel(self, name: str) -> np.ndarray:
        """One channel over time, by name (`CHANNELS`)."""
        return self.channels[:, CHANNELS.index(name)]

    def save(self, path: str | Path) -> Path:
        """Plain arrays in an ``.npz`` (no pickle), written atomically."""
        return atomic_write(
            path,
            lambda f: np.savez(
                f,
                times=self.times,
                points=self.points,
                coefficients=self.coefficients,
                channels=self.channels,
                channel_names=np.array(CHANNELS),
                model=np.array(self.model),
            ),
        )

    @classmethod
    def load(cls, path: str | Path) -> "MouthParameters":
        """Read what `save` wrote; LipnetError naming the file when it is not that."""
        _check_archive(Path(path), "animation parameters")
        try:
            with np.load(path, allow_pickle=False) as z:
                if tuple(z["channel_names"]) != CHANNELS:
                    raise ValueError("other channels")
                return cls(z["times"], z["points"], z["coefficients"], z["channels"], str(z["model"]))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
            raise LipnetError(f"{path}: not animation parameters ({_reason(err)})") from None


def resample(params: MouthParameters, fps: float, model: ShapeModel) -> MouthParameters:
    """The same motion at another frame rate: points and coefficients interpolated linearly between the frames
    (both are linear in each other), channels computed again from the points. Frames run to the last one's time."""
    if fps <= 0:
        raise LipnetError(f"a frame rate must be positive, not {fps}")
    times = np.arange(int(np.floor(float(params.times[-1]) * fps + 1e-6)) + 1) / fps
    flat = params.points.reshape(len(params.points), -1)
    points = np.stack([np.interp(times, params.times, column) for column in flat.T], axis=1)
    points = points.reshape(len(times), POINTS, 2).astype(np.float32)
    coefficients = np.stack([np.interp(times, params.times, c) for c in params.coefficients.T], axis=1)
    return MouthParameters(
        times.astype(np.float32), points, coefficients.astype(np.float32), model.channels(points), params.model
    )


def parameters(
    landmarks: np.ndarray, transforms: np.ndarray, model: ShapeModel, k: int = env.ANIMATION_COMPONENTS
) -> MouthParameters:
    """Animation parameters from a clip's tracked (T, 68, 2) landmarks and (T, 2, 3) crop transforms."""
    points = normalise(landmarks, transforms)
    times = (np.arange(len(points)) / env.FPS).astype(np.float32)
    return MouthParameters(times, points, model.encode(points, k), model.channels(points), model.fingerprint)


def from_track(track: MouthTrack, model: ShapeModel, k: int = env.ANIMATION_COMPONENTS) -> MouthParameters:
    """Animation parameters of an extracted clip; padding (repeated last frames) is left out."""
    n = min(len(track.landmarks), track.source_frames)
    return parameters(track.landmarks[:n], track.transforms[:n], model, k)


def read_track(npy_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A crop file's tracked landmarks (T, 68, 2) and crop transforms (T, 2, 3) from its sidecar, padding left out.

    LipnetError naming the sidecar when it is missing, unreadable or not shaped as the extractor writes it.
    """
    sidecar = sidecar_path(npy_path)
    _check_archive(sidecar, "a mouth track sidecar")
    try:
        track = load_sidecar(npy_path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise LipnetError(f"{sidecar}: not a mouth track sidecar ({_reason(err)})") from None
    landmarks, transforms = track["landmarks"], track["transforms"]
    if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or len(landmarks) == 0:
        raise LipnetError(f"{sidecar}: landmarks have shape {landmarks.shape}, expected (frames, 68, 2)")
    if transforms.shape != (len(landmarks), 2, 3):
        raise LipnetError(f"{sidecar}: transforms have shape {transforms.shape}, expected ({len(landmarks)}, 2, 3)")
    if not (np.isfinite(landmarks).all() and np.isfinite(transforms).all()):
        raise LipnetError(f"{sidecar}: landmarks or transforms are not all finite")
    n = min(len(landmarks), int(track.get("source_frames", len(landmarks))))
    return landmarks[:n], transforms[:n]


def cache_path(npy_path: str | Path) -> Path:
    """``data/s1/bbaf2n.npy`` -> ``data/s1/bbaf2n.anim.npz``."""
    npy_path = Path(npy_path)
    return npy_path.with_name(npy_path.name.removesuffix(".npy") + CACHE_SUFFIX)


def cached(npy_path: str | Path, model: ShapeModel, k: int = env.ANIMATION_COMPONENTS) -> MouthParameters:
    """A crop file's parameters from ``<stem>.anim.npz`` beside it; computed from its sidecar and stored when that
    is missing, unreadable, older than the sidecar, or from another shape model or number of components."""
    path, sidecar = cache_path(npy_path), sidecar_path(npy_path)
    if path.is_file() and sidecar.is_file() and path.stat().st_mtime >= sidecar.stat().st_mtime:
        try:
            params = MouthParameters.load(path)
            if params.model == model.fingerprint and params.coefficients.shape[1] == k:
                return params
        except LipnetError:
            pass  # unreadable or stale: compute again
    params = parameters(*read_track(npy_path), model, k)
    params.save(path)
    return params


def _check_archive(path: Path, what: str) -> None:
    """LipnetError naming `path` unless it is a file that can be an ``.npz`` archive (a zip)."""
    if not path.is_file():
        raise LipnetError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise LipnetError(f"{path}: not {what} (not an .npz archive)")


def _reason(err: Exception) -> str:
    """An exception as a few words for a one-line error."""
    if isinstance(err, KeyError):
        return f"no {str(err.args[0]).removesuffix(' is not a file in the archive')!r} array"
    return str(err).splitlines()[0] if str(err) else type(err).__name__

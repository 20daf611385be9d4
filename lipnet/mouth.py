"""Mouth extraction: dlib face landmarks tracked through a clip, then a similarity warp to a mouth crop.

The face detector runs once and again only when tracking is lost; between detections the 68-point
predictor is seeded with a box derived from the previous tracked frame's landmarks. It runs on every
`env.LANDMARK_STRIDE`-th frame, the frames between are interpolated. Landmark tracks are filled
across faceless frames and smoothed, then every frame is warped so the eyes are level and a
fixed distance apart (`env.CROP_EYE_DISTANCE`) and the clip's mean mouth centre sits in the middle
of a `env.IMAGE_WIDTH` x `env.IMAGE_HEIGHT` crop. Scale and rotation come from the eyes, which do not
move when a person speaks, so the lips move inside a steady frame.
"""

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from lipnet import env, video
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write

# iBUG 68-point layout, named by image side: 36-41 is the eye on the image's left (the subject's right).
_EYE_LEFT = slice(36, 42)
_EYE_RIGHT = slice(42, 48)
MOUTH = slice(48, 68)


def default_predictor_path() -> Path:
    """The 68-point landmark model shipped by the `face-recognition-models` package."""
    spec = importlib.util.find_spec("face_recognition_models")  # locate without importing (it needs pkg_resources)
    if spec is None or not spec.submodule_search_locations:
        raise LipnetError("face-recognition-models is not installed: pip install -r requirements.txt")
    return Path(spec.submodule_search_locations[0]) / "models" / "shape_predictor_68_face_landmarks.dat"


@dataclass
class MouthTrack:
    """The mouth crops of one clip and how they were made."""

    crops: np.ndarray  # (T, 50, 100, 3) uint8 RGB
    landmarks: np.ndarray  # (T, 68, 2) float32, source pixels, filled and smoothed
    # (T,) bool: a face was found in this frame, or on both sides of it when it was not tracked itself
    # (env.LANDMARK_STRIDE); False: filled from neighbours, or padding.
    detected: np.ndarray
    transforms: np.ndarray  # (T, 2, 3) float32 affine maps from source pixels to crop pixels
    source_fps: float
    source_frames: int  # frames after resampling to env.FPS, before padding or trimming
    padded: int  # frames appended (repeating the last) to reach the requested length; negative if trimmed
    detections: int  # how many times the face detector ran

    @property
    def filled(self) -> int:
        """Frames whose landmarks were filled from neighbouring frames (no face found there)."""
        return int((~self.detected[: self.source_frames]).sum())

    def lip_motion(self) -> float:
        """How much the lips open and close over the clip: the spread (5th to 95th percentile) of the gap between
        the inner lips' middles (landmarks 62 and 66), in mouth widths (corners 48 and 54). About 0 for a photo or a
        face that does not speak; speech opens and closes the mouth by a tenth of its width or more."""
        points = self.landmarks[: max(self.source_frames, 1)]
        gap = np.linalg.norm(points[:, 62] - points[:, 66], axis=-1)
        width = np.maximum(np.linalg.norm(points[:, 48] - points[:, 54], axis=-1), 1e-6)
        low, high = np.percentile(gap / width, [5, 95])
        return float(high - low)

    def save(self, path: str | Path) -> None:
        """Write ``<name>.npy`` (the crops) and its sidecar ``<name>.track.npz``, each atomically.

        The sidecar goes first, so an existing ``.npy`` always has its sidecar beside it.
        """
        path = Path(path)
        meta = {
            "source_fps": self.source_fps,
            "source_frames": self.source_frames,
            "padded": self.padded,
            "filled": self.filled,
            "detections": self.detections,
        }
        atomic_write(
            sidecar_path(path),
            lambda f: np.savez_compressed(
                f, landmarks=self.landmarks, detected=self.detected, transforms=self.transforms, meta=json.dumps(meta)
            ),
        )
        atomic_write(path, lambda f: np.save(f, self.crops, allow_pickle=False))


def sidecar_path(npy_path: str | Path) -> Path:
    """``data/s1/bbaf2n.npy`` -> ``data/s1/bbaf2n.track.npz``."""
    npy_path = Path(npy_path)
    return npy_path.with_name(npy_path.name.removesuffix(".npy") + ".track.npz")


def load_sidecar(npy_path: str | Path) -> dict:
    """The sidecar of a crop file: landmarks, detected, transforms (arrays) and its metadata fields."""
    with np.load(sidecar_path(npy_path), allow_pickle=False) as z:
        out = {k: z[k] for k in ("landmarks", "detected", "transforms")}
        out.update(json.loads(str(z["meta"])))
    return out


@dataclass
class _TrackState:
    """What tracking carries from one frame to the next, besides the previous landmarks."""

    calibration: np.ndarray | None = None  # the detector's box relative to the landmarks, at the last detection
    look: np.ndarray | None = None  # the face's `_appearance` at the last detection
    detections: int = 0


class MouthExtractor:
    """Finds, tracks and crops the mouth in videos. Create once and reuse: loading dlib's models is slow."""

    def __init__(self, predictor_path: str | Path | None = None):
        path = Path(predictor_path) if predictor_path else default_predictor_path()
        if not path.is_file():
            raise LipnetError(f"{path}: landmark model not found")
        try:
            self._predictor = dlib.shape_predictor(str(path))
        except RuntimeError as err:
            raise LipnetError(f"{path}: not a dlib shape predictor ({err})") from None
        self._detector = dlib.get_frontal_face_detector()

    def extract(self, path: str | Path, frames: int | None = env.FRAME_COUNT) -> MouthTrack:
        """Mouth crops of a video file, resampled to env.FPS; padded or trimmed to `frames` unless None."""
        clip, info = video.read(path)
        return self.extract_frames(list(clip), frames=frames, source_fps=info.fps, name=str(path))

    def extract_frames(
        self, clip: list[np.ndarray], frames: int | None = None, source_fps: float = env.FPS, name: str = "<frames>"
    ) -> MouthTrack:
        """Mouth crops of a sequence of RGB frames already at env.FPS."""
        raw, detections = self.landmarks(clip)
        detected = ~np.isnan(raw[:, 0, 0])
        if detected.sum() == 0:
            raise LipnetError(f"{name}: no face found in any of {len(clip)} frames")
        if (~detected).mean() > env.MAX_FILLED_FRACTION:
            raise LipnetError(f"{name}: no usable face: found in only {detected.sum()} of {len(clip)} frames")
        landmarks = _smooth(_fill(raw), env.SMOOTHING_WINDOW)
        transforms = crop_transforms(landmarks)
        crops = np.stack([_warp(frame, m) for frame, m in zip(clip, transforms)])
        track = MouthTrack(crops, landmarks, detected, transforms, source_fps, len(clip), 0, detections)
        return track if frames is None else _fit_length(track, frames)

    def landmarks(self, clip: list[np.ndarray], stride: int = env.LANDMARK_STRIDE) -> tuple[np.ndarray, int]:
        """Raw 68-point landmarks per frame, (T, 68, 2) float32 with NaN where no face was found, and the
        number of detector runs.

        Tracks every `stride`-th frame and the last; a frame in between is interpolated when the tracked
        frames either side of it both have a face, and tracked on its own otherwise.
        """
        grays = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in clip]
        out = np.full((len(clip), 68, 2), np.nan, dtype=np.float32)
        state = _TrackState()
        keyframes = sorted({*range(0, len(clip), stride), *range(len(clip))[-1:]})
        previous = None
        for t in keyframes:
            previous = out[t] = self._track(grays[t], previous, state)
        for a, b in zip(keyframes, keyframes[1:]):
            if b - a < 2:
                continue
            if not np.isnan(out[[a, b], 0, 0]).any():
                weight = ((np.arange(a + 1, b) - a) / (b - a))[:, None, None]
                out[a + 1 : b] = (1 - weight) * out[a] + weight * out[b]
                continue
            previous = None if np.isnan(out[a, 0, 0]) else out[a]
            for t in range(a + 1, b):
                previous = out[t] = self._track(grays[t], previous, state)
        return out, state.detections

    def _track(self, gray: np.ndarray, previous: np.ndarray | None, state: _TrackState) -> np.ndarray:
        """Landmarks of one frame, (68, 2) float32, all NaN if no face.

        Seeds the predictor with a box placed relative to the previous landmarks as the detector's box
        was at the last detection; detects when there are none or tracking is lost. The predictor always
        returns a shape, even on a blank frame, so a tracked shape counts only if it is near the previous
        one and the face still looks as it did at the last detection (see `_appearance`).
        """
        if previous is not None and not np.isnan(previous[0, 0]):
            points = self._predict(gray, _box_from(previous, state.calibration))
            if _plausible(points, previous) and _appearance(gray, points) @ state.look >= env.TRACK_MIN_SIMILARITY:
                return points
        state.detections += 1
        box = self._detect(gray)
        if box is None:
            return np.full((68, 2), np.nan, dtype=np.float32)
        points = self._predict(gray, box)
        state.calibration, state.look = _calibrate(box, points), _appearance(gray, points)
        return points

    def _detect(self, gray: np.ndarray) -> dlib.rectangle | None:
        """The largest frontal face in source pixels, or None.

        Large frames are shrunk to env.DETECT_MAX_SIDE. Smaller ones are searched at native size first
        (4x cheaper than upscaled; GRID faces are ~120 px, above the detector's 80 px minimum) and
        upscaled to env.DETECT_MAX_SIDE only when no face is found, for small or distant faces.
        """
        fit = env.DETECT_MAX_SIDE / max(gray.shape)
        scales = (fit,) if fit <= 1 else (1.0, fit)
        for scale in scales:
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = gray if scale == 1 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
            faces = self._detector(resized, 0)
            if faces:
                f = max(faces, key=lambda r: r.area())
                return dlib.rectangle(*(int(round(v / scale)) for v in (f.left(), f.top(), f.right(), f.bottom())))
        return None

    def _predict(self, gray: np.ndarray, box: dlib.rectangle) -> np.ndarray:
        return np.array([(p.x, p.y) for p in self._predictor(gray, box).parts()], dtype=np.float32)


def _calibrate(box: dlib.rectangle, points: np.ndarray) -> np.ndarray:
    """Where the detector's box sits relative to the landmarks' bounding box: (dx, dy, size) in box widths."""
    lo, hi = points.min(0), points.max(0)
    width = hi[0] - lo[0]
    centre = (lo + hi) / 2
    box_centre = np.array([(box.left() + box.right()) / 2, (box.top() + box.bottom()) / 2])
    return np.array([*(box_centre - centre) / width, box.width() / width])


def _box_from(points: np.ndarray, calibration: np.ndarray) -> dlib.rectangle:
    lo, hi = points.min(0), points.max(0)
    width = hi[0] - lo[0]
    cx, cy = (lo + hi) / 2 + calibration[:2] * width
    half = calibration[2] * width / 2
    return dlib.rectangle(int(cx - half), int(cy - half), int(cx + half), int(cy + half))


def _plausible(points: np.ndarray, previous: np.ndarray) -> bool:
    """Tracking is lost when the face jumps or changes size abruptly between tracked frames."""
    size, prev_size = np.ptp(points, 0).max(), np.ptp(previous, 0).max()
    shift = np.linalg.norm(points.mean(0) - previous.mean(0))
    return 0.8 < size / prev_size < 1.25 and shift < 0.25 * prev_size


def _appearance(gray: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How the face looks: its landmarks' bounding box shrunk to 32x32, zero mean, unit norm (zeros if flat).

    The dot product of two is their correlation: 0.83 or more between frames of a GRID face, 0.15 or
    less when tracking has run onto a blank or corrupt frame.
    """
    height, width = gray.shape
    lo = np.clip(np.floor(points.min(0)).astype(int), 0, (width, height))
    hi = np.clip(np.ceil(points.max(0)).astype(int), 0, (width, height))
    if (hi - lo < 8).any():
        return np.zeros(32 * 32, np.float32)
    patch = cv2.resize(gray[lo[1] : hi[1], lo[0] : hi[0]], (32, 32), interpolation=cv2.INTER_AREA)
    patch = patch.astype(np.float32).ravel()
    patch -= patch.mean()
    norm = np.linalg.norm(patch)
    return patch / norm if norm > 1e-3 else patch


def _fill(raw: np.ndarray) -> np.ndarray:
    """Fill faceless frames (NaN) by linear interpolation between the nearest frames with a face."""
    known = ~np.isnan(raw[:, 0, 0])
    if known.all():
        return raw.copy()
    t = np.arange(len(raw))
    flat = raw.reshape(len(raw), -1)
    filled = np.stack([np.interp(t, t[known], flat[known, j]) for j in range(flat.shape[1])], axis=1)
    return filled.reshape(raw.shape).astype(np.float32)


def _smooth(landmarks: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over time, edges padded by repetition; removes landmark jitter."""
    if window <= 1 or len(landmarks) < 2:
        return landmarks
    half = window // 2
    padded = np.concatenate([np.repeat(landmarks[:1], half, 0), landmarks, np.repeat(landmarks[-1:], half, 0)])
    cumulative = np.cumsum(padded, axis=0, dtype=np.float64)
    cumulative = np.concatenate([np.zeros_like(cumulative[:1]), cumulative])
    return ((cumulative[window:] - cumulative[:-window]) / window).astype(np.float32)


def crop_transforms(landmarks: np.ndarray) -> np.ndarray:
    """Per-frame affine maps (T, 2, 3) from source pixels to the mouth crop.

    Rotation and scale level the eyes at env.CROP_EYE_DISTANCE pixels apart; translation puts the
    clip's mean mouth centre (in that eye-aligned frame) at the crop centre.
    """
    left, right = landmarks[:, _EYE_LEFT].mean(1), landmarks[:, _EYE_RIGHT].mean(1)
    delta = right - left
    distance = np.linalg.norm(delta, axis=1)
    scale = env.CROP_EYE_DISTANCE / distance
    cos, sin = delta[:, 0] / distance * scale, delta[:, 1] / distance * scale
    rotation = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)  # (T, 2, 2): rotate by -angle, scale
    middle = (left + right) / 2
    mouth = np.einsum("tij,tj->ti", rotation, landmarks[:, MOUTH].mean(1) - middle)
    offset = np.array([env.IMAGE_WIDTH / 2, env.IMAGE_HEIGHT / 2]) - mouth.mean(0)
    translation = offset - np.einsum("tij,tj->ti", rotation, middle)
    return np.concatenate([rotation, translation[:, :, None]], axis=2).astype(np.float32)


def _warp(frame: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a crop transform; when it shrinks by more than 2x, pre-shrink with area averaging to avoid aliasing."""
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if scale < 0.5:
        factor = 2 * scale
        frame = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        transform = transform @ np.diag([1 / factor, 1 / factor, 1]).astype(np.float32)
    size = (env.IMAGE_WIDTH, env.IMAGE_HEIGHT)
    return cv2.warpAffine(frame, transform, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _fit_length(track: MouthTrack, frames: int) -> MouthTrack:
    """Pad (repeating the last frame, marked not detected) or trim a track to exactly `frames` frames."""
    n = len(track.crops)
    if n == frames:
        return track
    if n > frames:
        index = np.arange(frames)
    else:
        index = np.concatenate([np.arange(n), np.full(frames - n, n - 1)])
    detected = track.detected[index].copy()
    detected[n:] = False
    return MouthTrack(
        track.crops[index],
        track.landmarks[index],
        detected,
        track.transforms[index],
        track.source_fps,
        track.source_frames,
        frames - n,
        track.detections,
    )

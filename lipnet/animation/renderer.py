"""Pictures of predicted lips, to watch and judge them: a drawn mouth, a talking photo, and mp4 with sound.

The lips are the 20 mouth landmarks of `lipnet.animation.lipshape` (dlib 48-67: indices 0-11 the outer lip from the corner
on the image's left, 12-19 the inner lip), in its normalised frame: mouth widths, origin at the clip's mean mouth
centre, eyes level, y down. `draw` renders them as a cartoon mouth at a fixed scale, so opening and spreading show
as they are. `FaceWarp` moves the mouth of a still face photo into them: the photo's own mouth, normalised the same
way, sets where they go, and the face between the lips and two rings around them is warped piecewise-affinely, the
inner ring following the lips halfway and the outer one fixed, so the rest of the face stays put. Lips wider apart
than the photo's own show a dark mouth with the upper teeth (and the tongue when wide open), in both.

Images are BGR uint8, as OpenCV reads and writes them; `lipnet.video` gives RGB frames, which
``cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)`` turns into these. `side_by_side` joins two, and `lipnet.video.write` encodes
frames, with sound if given, to an mp4 file.
"""

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from lipnet import env
from lipnet.animation import lipshape
from lipnet.errors import LipnetError, input_file
from lipnet.mouth import MOUTH, MouthExtractor, crop_transforms

_SHIFT = 4  # fractional bits of the points OpenCV draws: sub-pixel positions, so slow motion does not jump
_UPPER, _LOWER = [1, 2, 3], [7, 6, 5]  # inner lip pairs (dlib 61-67, 62-66, 63-65), indexing the 8 inner points
_CIRCLE = np.array([(np.cos(t), np.sin(t)) for t in np.linspace(0, 2 * np.pi, 24, endpoint=False)])


def _spline_weights(steps: int) -> np.ndarray:
    """(steps, 4) Catmull-Rom weights of four consecutive points, at `steps` even positions from the second on."""
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    return 0.5 * np.hstack([-t * (1 - t) ** 2, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) * (1 - t)])


_SPLINE = _spline_weights(4)  # a lip curve is drawn with 4 points per landmark interval


def _mesh() -> np.ndarray:
    """Triangles (N, 3) over the 44 points of a warp: the 20 lip points, then the inner and outer ring (12 each).

    The lips are triangulated by hand, so no triangle crosses from one lip to the other: the upper and lower lip
    (outer to inner contour), the inside of the mouth, then strips from the outer lip to each ring.
    """
    upper = [(0, 1, 12), (1, 13, 12), (1, 2, 13), (2, 14, 13), (2, 3, 14)]
    upper += [(3, 4, 14), (4, 15, 14), (4, 5, 15), (5, 16, 15), (5, 6, 16)]
    lower = [(6, 7, 16), (7, 17, 16), (7, 8, 17), (8, 18, 17), (8, 9, 18)]
    lower += [(9, 10, 18), (10, 19, 18), (10, 11, 19), (11, 12, 19), (11, 0, 12)]
    inside = [(12, 13, 19), (13, 18, 19), (13, 14, 18), (14, 17, 18), (14, 15, 17), (15, 16, 17)]
    strips = []
    for inner, outer in ((0, 20), (20, 32)):
        for i in range(12):
            j = (i + 1) % 12
            strips += [(inner + i, inner + j, outer + j), (inner + i, outer + j, outer + i)]
    return np.array(upper + lower + inside + strips)


_TRIANGLES = _mesh()


def draw_frame(points: np.ndarray, size: tuple[int, int] = env.RENDER_SIZE) -> np.ndarray:
    """One (20, 2) normalised lip shape -> a (height, width, 3) BGR cartoon mouth, `env.RENDER_MOUTH_WIDTH` of the
    image wide at its mean width and centred on the clip's mean mouth centre."""
    height, width = size
    scale = env.RENDER_MOUTH_WIDTH * width
    to_pixels = np.array([[scale, 0, width / 2], [0, scale, height / 2]])
    points = np.asarray(points, dtype=np.float64)
    image = np.empty((height, width, 3), np.uint8)
    image[:] = env.RENDER_SKIN
    thickness = max(1, round(width / 240))
    outer = _fixed(_pixels(_outline(points[:12], 6), to_pixels))
    cv2.fillPoly(image, [outer], env.RENDER_LIP, cv2.LINE_AA, _SHIFT)
    cv2.polylines(image, [outer], True, env.RENDER_LIP_LINE, thickness, cv2.LINE_AA, _SHIFT)
    inner = points[12:]
    seam = _curve(np.concatenate([inner[:1], (inner[_UPPER] + inner[_LOWER]) / 2, inner[4:5]]))  # where lips meet
    cv2.polylines(image, [_fixed(_pixels(seam, to_pixels))], False, env.RENDER_LIP_LINE, thickness, cv2.LINE_AA, _SHIFT)
    _paint_inside(image, inner, env.RENDER_CLOSED_GAP, to_pixels, env.RENDER_TEETH)
    return image


def draw(points: np.ndarray, size: tuple[int, int] = env.RENDER_SIZE) -> Iterator[np.ndarray]:
    """(T, 20, 2) normalised lip shapes -> T cartoon mouths (`draw_frame`), one at a time."""
    for shape in points:
        yield draw_frame(shape, size)


class FaceWarp:
    """A still face photo whose mouth takes the shape of given lips: a talking photo.

    Build once per photo (it finds the face with dlib), then `frame` each shape. `points` is the photo's own mouth,
    normalised as `lipnet.animation.lipshape` does a one-frame clip: given it, `frame` returns the photo unchanged.
    """

    def __init__(self, photo: str | Path | np.ndarray, extractor: MouthExtractor | None = None):
        """`photo`: an image file, or a BGR uint8 array; `extractor`: a loaded one to reuse (dlib loads slowly)."""
        self.image, name = _read_photo(photo)
        extractor = extractor or MouthExtractor()
        landmarks, _ = extractor.landmarks([cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB)], stride=1)
        if np.isnan(landmarks[0, 0, 0]):
            raise LipnetError(f"{name}: no face found")
        transform = crop_transforms(landmarks)
        self.points = lipshape.normalise(landmarks, transform)[0].astype(np.float64)
        # The normalised frame -> photo pixels: scale by the mouth's width and shift to its centre in the eye-level
        # crop (as `lipshape.normalise` took them out), then undo the crop transform.
        rotation, shift = transform[0, :, :2].astype(np.float64), transform[0, :, 2].astype(np.float64)
        crop = landmarks[0, MOUTH] @ rotation.T + shift
        inverse = np.linalg.inv(rotation)
        width = np.linalg.norm(crop[6] - crop[0])
        self._to_photo = np.hstack([width * inverse, (inverse @ (crop.mean(0) - shift))[:, None]])
        inner = self.points[12:]
        self._rest_gaps = np.maximum(inner[_LOWER, 1] - inner[_UPPER, 1], 0)
        self._rings = _rings(self.points[:12])
        self._source = _pixels(np.concatenate([self.points, *self._rings]), self._to_photo)

    def frame(self, points: np.ndarray) -> np.ndarray:
        """One (20, 2) normalised lip shape -> the photo with its mouth in that shape (BGR, the photo's size)."""
        points = np.asarray(points, dtype=np.float64)
        follow = self._rings[0] + env.RENDER_WARP_FOLLOW * (points[:12] - self.points[:12])
        target = _pixels(np.concatenate([points, follow, self._rings[1]]), self._to_photo)
        image = self.image.copy()
        _warp_mesh(image, self.image, self._source, target)
        _paint_inside(image, points[12:], self._rest_gaps, self._to_photo, env.RENDER_PHOTO_TEETH)
        return image

    def draw(self, points: np.ndarray) -> Iterator[np.ndarray]:
        """(T, 20, 2) normalised lip shapes -> T frames of the talking photo, one at a time."""
        for shape in points:
            yield self.frame(shape)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two images side by side, `right` scaled (keeping its aspect) to `left`'s height: "real video | prediction"."""
    height = left.shape[0]
    if right.shape[0] != height:
        width = max(1, round(right.shape[1] * height / right.shape[0]))
        interpolation = cv2.INTER_AREA if right.shape[0] > height else cv2.INTER_LINEAR
        right = cv2.resize(right, (width, height), interpolation=interpolation)
    return np.hstack([left, right])


def _read_photo(photo: str | Path | np.ndarray) -> tuple[np.ndarray, str]:
    """The photo as a BGR uint8 array, and a name for messages; LipnetError naming the file when it is no image."""
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise ValueError(f"a photo array must be (height, width, 3) uint8 BGR, not {photo.shape} {photo.dtype}")
        return photo, "<photo>"
    path = input_file(photo, "an image")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise LipnetError(f"{path}: not an image OpenCV can read")
    return image, str(path)


def _rings(outer: np.ndarray) -> np.ndarray:
    """(2, 12, 2): the outer lip pushed out from its centre by each of `env.RENDER_WARP_RINGS`' margins."""
    direction = outer - outer.mean(0)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    rings = []
    for sideways, up, down in env.RENDER_WARP_RINGS:
        margin = np.stack([np.full(len(outer), sideways), np.where(direction[:, 1] < 0, up, down)], axis=1)
        rings.append(outer + direction * margin)
    return np.stack(rings)


def _curve(points: np.ndarray) -> np.ndarray:
    """A smooth curve through points (N, 2): Catmull-Rom, 4 points per interval, ends extended straight."""
    padded = np.concatenate([2 * points[:1] - points[1:2], points, 2 * points[-1:] - points[-2:-1]])
    windows = np.stack([padded[i : i + len(points) - 1] for i in range(4)], axis=1)  # (N - 1, 4, 2)
    return np.concatenate([np.einsum("sk,nkd->nsd", _SPLINE, windows).reshape(-1, 2), points[-1:]])


def _outline(contour: np.ndarray, corner: int) -> np.ndarray:
    """A closed lip contour (corner at index 0 and `corner`) as two smooth curves meeting in pointed corners."""
    upper, lower = _curve(contour[: corner + 1]), _curve(np.concatenate([contour[corner:], contour[:1]]))
    return np.concatenate([upper[:-1], lower[:-1]])


def _pixels(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Normalised points (N, 2) through a (2, 3) affine map to image pixels."""
    return points @ affine[:, :2].T + affine[:, 2]


def _fixed(points: np.ndarray, origin: np.ndarray | None = None) -> np.ndarray:
    """Pixel points (N, 2) as OpenCV's fixed-point drawing coordinates (`_SHIFT` fractional bits), from `origin`."""
    if origin is not None:
        points = points - origin
    return np.round(points * (1 << _SHIFT)).astype(np.int32)


def _paint_inside(
    image: np.ndarray, inner: np.ndarray, rest_gaps: float | np.ndarray, to_pixels: np.ndarray, teeth: tuple
) -> None:
    """Draw the open mouth into `image`: dark where the inner lips (8 normalised points) are further apart than
    `rest_gaps` (touching lips are that far apart, per pair), with the upper teeth (in colour `teeth`) and the tongue
    as it opens. Its edge is anti-aliased and softened by a pixel, so it blends into a photo."""
    inner = inner.copy()
    gaps = np.maximum(inner[_LOWER, 1] - inner[_UPPER, 1] - rest_gaps, 0)
    middle = (inner[_LOWER, 1] + inner[_UPPER, 1]) / 2
    inner[_UPPER, 1], inner[_LOWER, 1] = middle - gaps / 2, middle + gaps / 2
    gap = float(gaps.mean())
    if gap <= 0:
        return
    polygon = _pixels(_outline(inner, 4), to_pixels)
    low = np.maximum(np.floor(polygon.min(0)).astype(int) - 3, 0)
    high = np.minimum(np.ceil(polygon.max(0)).astype(int) + 4, (image.shape[1], image.shape[0]))
    if (high <= low).any():
        return
    region = image[low[1] : high[1], low[0] : high[0]]
    inside = np.empty_like(region)
    inside[:] = env.RENDER_INSIDE
    if gap > env.RENDER_TEETH_GAP:  # a band hanging from the upper inner lip, growing as the lips part
        edge = _curve(inner[:5])
        height = min(0.4 * (gap - env.RENDER_TEETH_GAP), env.RENDER_TEETH_HEIGHT)
        band = np.concatenate([edge, edge[::-1] + (0, height)])
        cv2.fillPoly(inside, [_fixed(_pixels(band, to_pixels), low)], teeth, cv2.LINE_AA, _SHIFT)
    if gap > env.RENDER_TONGUE_GAP:  # an ellipse on the lower inner lip's middle, showing 0.6 of its width wide
        radii = np.array([0.3 * np.linalg.norm(inner[4] - inner[0]), 0.35 * gap])
        tongue = inner[6] + _CIRCLE * radii
        cv2.fillPoly(inside, [_fixed(_pixels(tongue, to_pixels), low)], env.RENDER_TONGUE, cv2.LINE_AA, _SHIFT)
    mask = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_fixed(polygon, low)], 255, cv2.LINE_AA, _SHIFT)
    alpha = cv2.GaussianBlur(mask, (0, 0), 0.7)[:, :, None].astype(np.float32) / 255
    region[:] = (inside * alpha + region * (1 - alpha) + 0.5).astype(np.uint8)


def _warp_mesh(image: np.ndarray, photo: np.ndarray, source: np.ndarray, target: np.ndarray) -> None:
    """Move the mesh (`_TRIANGLES`) of `photo` from its `source` pixel points to `target`, writing into `image`.

    Every pixel of the mesh's bounding box is labelled with the target triangle it lies in (0: none, unmoved) and
    fetched from that triangle's affine map back into the photo, in one `cv2.remap`: the maps agree along shared
    edges, so there are no seams.
    """
    points = np.concatenate([source, target])
    low = np.maximum(np.floor(points.min(0)).astype(int), 0)
    high = np.minimum(np.ceil(points.max(0)).astype(int) + 1, (photo.shape[1], photo.shape[0]))
    if (high <= low).any():
        return
    corners = target[_TRIANGLES]  # (N, 3, 2)
    edges = corners[:, 1:] - corners[:, :1]
    drawn = np.abs(edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 0, 1] * edges[:, 1, 0]) > 1.0  # twice the area, px²
    label = np.zeros((high[1] - low[1], high[0] - low[0]), np.uint8)
    for index in np.flatnonzero(drawn):
        cv2.fillConvexPoly(label, _fixed(corners[index], low), int(index) + 1, cv2.LINE_8, _SHIFT)
    # (N + 1, 3, 2) maps [x, y, 1] -> source (x, y), the identity first; degenerate triangles are never looked up.
    homogeneous = np.concatenate([corners, np.ones((len(corners), 3, 1))], axis=2)
    maps = np.zeros((len(corners) + 1, 3, 2))
    maps[0] = [[1, 0], [0, 1], [0, 0]]
    maps[1:][drawn] = np.linalg.solve(homogeneous[drawn], source[_TRIANGLES][drawn])
    ys, xs = np.mgrid[low[1] : high[1], low[0] : high[0]].astype(np.float64)
    chosen = maps[label]
    map_x = (xs * chosen[..., 0, 0] + ys * chosen[..., 1, 0] + chosen[..., 2, 0]).astype(np.float32)
    map_y = (xs * chosen[..., 0, 1] + ys * chosen[..., 1, 1] + chosen[..., 2, 1]).astype(np.float32)
    image[low[1] : high[1], low[0] : high[0]] = cv2.remap(
        photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )

"""Rendering predicted lips, on a real GRID clip tracked by dlib: the drawn mouth, the talking photo, mp4 output."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import ROOT

from lipnet import audio, env, video
from lipnet.animation import lipshape, renderer
from lipnet.errors import LipnetError

CLIP = ROOT / "samples" / "pwbq6p.mp4"  # s1: "place white by q six please"


@pytest.fixture(scope="module")
def tracked(extractor) -> dict:
    """The clip's frames (BGR), tracked landmarks, normalised lip shapes and their inner-lip opening."""
    track = extractor.extract(CLIP)
    params = lipshape.from_track(track, lipshape.load_model())
    frames, _ = video.read(CLIP)
    bgr = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in frames]
    return {"frames": bgr, "landmarks": track.landmarks, "points": params.points, "opening": params.channel("opening")}


@pytest.fixture(scope="module")
def photo(tracked, tmp_path_factory) -> Path:
    """The clip's first frame as a still photo (closed lips, as a portrait has them)."""
    path = tmp_path_factory.mktemp("photo") / "face.png"
    cv2.imwrite(str(path), tracked["frames"][0])
    return path


def dark_area(image: np.ndarray) -> int:
    """Pixels as dark as the inside of the drawn mouth."""
    return int((image.max(axis=2) < 70).sum())


def open_area(image: np.ndarray) -> int:
    """Pixels of a drawn mouth's inside: its dark and its teeth (the tongue is too near the lips' colour to count)."""
    near = [np.abs(image.astype(int) - colour).sum(axis=2) < 60 for colour in (env.RENDER_INSIDE, env.RENDER_TEETH)]
    return int((near[0] | near[1]).sum())


def test_draw_gives_a_frame_per_shape_and_the_mouth_opens_with_the_lips(tracked):
    points, opening = tracked["points"], tracked["opening"]
    frames = list(renderer.draw(points, size=(144, 180)))
    assert len(frames) == len(points) == 75
    assert all(f.shape == (144, 180, 3) and f.dtype == np.uint8 for f in frames)
    inside = np.array([open_area(f) for f in frames])
    closed, wide = int(np.argmin(opening)), int(np.argmax(opening))
    assert inside[closed] == 0 and inside[wide] > 400  # lips at rest are shut; wide open: dark, with teeth
    assert dark_area(frames[wide]) > 150
    assert np.corrcoef(inside, opening)[0, 1] > 0.95  # one fixed scale: the drawn opening follows the tracked one
    # Mouth about half the width, centred; the background is skin.
    lips = np.argwhere(np.abs(frames[closed].astype(int) - env.RENDER_SKIN).sum(axis=2) > 60)
    assert 0.4 < np.ptp(lips[:, 1]) / 180 < 0.6 and abs(lips[:, 1].mean() - 90) < 5 and abs(lips[:, 0].mean() - 72) < 8
    assert (frames[closed][0, 0] == env.RENDER_SKIN).all()
    assert np.array_equal(renderer.draw_frame(points[wide], (144, 180)), frames[wide])


def test_face_warp_moves_the_lips_and_nothing_far_from_them(tracked, photo, extractor):
    warp = renderer.FaceWarp(photo, extractor)
    still = cv2.imread(str(photo))
    assert np.array_equal(warp.frame(warp.points), still)  # its own mouth: the photo as it is
    landmarks = tracked["landmarks"][0]
    left, top = np.floor(landmarks[48:68].min(0)).astype(int) - 2
    right, bottom = np.ceil(landmarks[48:68].max(0)).astype(int) + 3
    opening = tracked["opening"]
    changes = {}
    for name, index in ("closed", int(np.argmin(opening))), ("wide", int(np.argmax(opening))):
        image = warp.frame(tracked["points"][index])
        assert image.shape == still.shape and image.dtype == np.uint8
        difference = np.abs(image.astype(int) - still).sum(axis=2)
        changes[name] = difference[top:bottom, left:right].mean()
        eyes = landmarks[36:48]
        below_eyes = int(eyes[:, 1].max()) + 5
        assert not difference[:below_eyes].any()  # the eyes and everything above them stay put
        assert dark_area(image[top:bottom, left:right]) >= dark_area(still[top:bottom, left:right])
    assert changes["wide"] > 20 and changes["wide"] > 2 * changes["closed"]
    array = renderer.FaceWarp(still, extractor)  # an array works as a file does
    np.testing.assert_allclose(array.points, warp.points)


def test_face_warp_refuses_a_photo_without_a_face_or_no_image(tmp_path, extractor):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), np.full((240, 320, 3), 128, np.uint8))
    with pytest.raises(LipnetError, match=f"^{grey}: no face found$"):
        renderer.FaceWarp(grey, extractor)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(LipnetError, match=str(broken)):
        renderer.FaceWarp(broken, extractor)
    with pytest.raises(LipnetError, match="no such file"):
        renderer.FaceWarp(tmp_path / "missing.png", extractor)


def test_side_by_side_scales_the_right_to_the_left_height():
    left = np.full((288, 360, 3), 10, np.uint8)
    right = np.full((144, 200, 3), 200, np.uint8)
    joined = renderer.side_by_side(left, right)
    assert joined.shape == (288, 760, 3)
    assert (joined[:, :360] == 10).all() and (joined[:, 360:] == 200).all()


def test_write_video_round_trip_with_sound(tracked, tmp_path):
    samples = audio.load(CLIP)[: 2 * env.SAMPLE_RATE]  # 2 s of the clip's sound, 50 frames of its lips
    path = video.write(tmp_path / "lips.mp4", renderer.draw(tracked["points"][:50], (99, 121)), 25, samples)
    assert path == tmp_path / "lips.mp4" and [p.name for p in tmp_path.iterdir()] == ["lips.mp4"]  # no temporary
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (122, 100)  # yuv420p: even sizes
        assert container.streams.audio, "no audio stream"
        sound = container.streams.audio[0]
        assert sound.codec_context.name == "aac" and sound.sample_rate == env.SAMPLE_RATE
        assert float(sound.duration * sound.time_base) == pytest.approx(2.0, abs=0.1)
        decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(decoded) == 50
    first = renderer.draw_frame(tracked["points"][0], (99, 121))
    assert np.abs(decoded[0][:99, :121].astype(int) - first).mean() < 4  # the picture survives the encoding


def test_write_video_without_sound_and_bad_names(tracked, tmp_path):
    path = video.write(tmp_path / "silent.mp4", list(renderer.draw(tracked["points"][:10])), 25)
    with av.open(str(path)) as container:
        assert not container.streams.audio and container.streams.video[0].frames == 10
    with pytest.raises(LipnetError, match="lips.avi"):
        video.write(tmp_path / "lips.avi", renderer.draw(tracked["points"][:2]), 25)
    with pytest.raises(LipnetError, match="no frames"):
        video.write(tmp_path / "empty.mp4", [], 25)

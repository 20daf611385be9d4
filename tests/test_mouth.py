from pathlib import Path

import cv2
import numpy as np
import pytest

from lipnet import env, mouth, video
from lipnet.errors import LipnetError
from lipnet.mouth import MOUTH, MouthExtractor, MouthTrack, load_sidecar

FIXTURES = Path(__file__).parent / "fixtures"
SPEAKERS = {"bbaf2n.mpg": "s1", "pwij3p.mpg": "s2", "lbax4n.mpg": "s5", "sbwe5n.mpg": "s32"}


@pytest.fixture(scope="module")
def tracks(extractor) -> dict[str, MouthTrack]:
    return {name: extractor.extract(FIXTURES / name) for name in SPEAKERS}


def in_crop(track: MouthTrack) -> np.ndarray:
    """The track's landmarks mapped through each frame's transform: (T, 68, 2) crop pixels."""
    return np.einsum("tij,tkj->tki", track.transforms[:, :, :2], track.landmarks) + track.transforms[:, None, :, 2]


@pytest.mark.parametrize("name", SPEAKERS)
def test_every_speaker_gives_75_upright_crops_with_the_lips_in_the_middle(tracks, name):
    track = tracks[name]
    assert track.crops.shape == (75, 50, 100, 3) and track.crops.dtype == np.uint8
    assert track.detected.all() and track.filled == 0 and track.padded == 0 and track.detections == 1
    points = in_crop(track)
    lips = points[:, MOUTH]
    assert lips[..., 0].min() >= 15 and lips[..., 0].max() <= 85
    assert lips[..., 1].min() >= 5 and lips[..., 1].max() <= 45
    # Upright and not mirrored: nose tip (33) above the lips above the chin (8); corner 48 on the image's left.
    assert (points[:, 33, 1] < lips[..., 1].min(1)).all() and (lips[..., 1].max(1) < points[:, 8, 1]).all()
    assert (points[:, 48, 0] < points[:, 54, 0]).all()


@pytest.mark.parametrize("name", SPEAKERS)
def test_crops_are_steady_from_frame_to_frame(tracks, name):
    corners = in_crop(tracks[name])[:, [48, 54]]
    assert np.abs(np.diff(corners, axis=0)).max() < 3  # crop pixels; speech moves them ~1 px per frame


def test_speakers_are_framed_alike(tracks):
    widths = {name: np.linalg.norm(p[:, 54] - p[:, 48], axis=1).mean() for name, p in map(_mapped, tracks.items())}
    assert all(32 < w < 52 for w in widths.values()), widths  # mouth corner to corner, crop pixels


def _mapped(item: tuple[str, MouthTrack]) -> tuple[str, np.ndarray]:
    return item[0], in_crop(item[1])


def test_74_frame_clip_is_padded_with_its_last_frame(extractor, tmp_path):
    track = extractor.extract(FIXTURES / "srbb4n.mp4")  # GRID s1 clip one frame short
    assert track.crops.shape == (75, 50, 100, 3)
    assert (track.source_frames, track.padded, track.filled) == (74, 1, 0)
    np.testing.assert_array_equal(track.crops[74], track.crops[73])
    assert track.detected[:74].all() and not track.detected[74]
    track.save(tmp_path / "srbb4n.npy")
    assert np.load(tmp_path / "srbb4n.npy").shape == (75, 50, 100, 3)
    sidecar = load_sidecar(tmp_path / "srbb4n.npy")
    assert (sidecar["padded"], sidecar["source_frames"], sidecar["filled"]) == (1, 74, 0)
    assert sidecar["landmarks"].shape == (75, 68, 2) and sidecar["transforms"].shape == (75, 2, 3)
    assert extractor.extract(FIXTURES / "srbb4n.mp4", frames=None).crops.shape == (74, 50, 100, 3)


def test_frames_without_a_face_are_filled_and_counted(extractor, tracks):
    clip = list(video.read(FIXTURES / "bbaf2n.mpg")[0])
    blank = [0, 1, 30, 31, 32]
    for t in blank:
        clip[t] = np.zeros_like(clip[t])
    track = extractor.extract_frames(clip, frames=75)
    assert track.filled == len(blank) and np.flatnonzero(~track.detected).tolist() == blank
    assert not np.isnan(track.landmarks).any()
    # The filled frames' mouths are where the whole clip's are (interpolated from neighbours).
    whole = in_crop(tracks["bbaf2n.mpg"])[:, MOUTH].mean(1)
    np.testing.assert_allclose(in_crop(track)[:, MOUTH].mean(1), whole, atol=2)


def test_video_without_a_face_raises_one_line_naming_the_file(extractor, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (10, 144, 180, 3), dtype=np.uint8)
    path = tmp_path / "noise.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (180, 144))
    for frame in noise:
        writer.write(frame)
    writer.release()
    with pytest.raises(LipnetError, match="noise.avi") as err:
        extractor.extract(path)
    assert "\n" not in str(err.value) and "no face" in str(err.value)


def test_bad_predictor_path_raises_lipnet_error(tmp_path):
    with pytest.raises(LipnetError, match="landmark model not found"):
        MouthExtractor(tmp_path / "missing.dat")
    (tmp_path / "junk.dat").write_bytes(b"junk")
    with pytest.raises(LipnetError, match="junk.dat"):
        MouthExtractor(tmp_path / "junk.dat")


def test_tracking_every_other_frame_matches_tracking_every_frame(extractor, tracks):
    clip = list(video.read(FIXTURES / "bbaf2n.mpg")[0])
    every, _ = extractor.landmarks(clip, stride=1)
    strided, _ = extractor.landmarks(clip, stride=2)
    assert not np.isnan(strided).any()
    assert np.abs(every - strided).mean() < 0.5  # source pixels
    # The crop windows (their corners in source pixels) stay within a pixel or so of each other.
    corners = np.array([[0, 0, 1], [99, 0, 1], [0, 49, 1], [99, 49, 1]], dtype=np.float32)
    exact = mouth.crop_transforms(mouth._smooth(mouth._fill(every), env.SMOOTHING_WINDOW))
    windows = [
        np.stack([cv2.invertAffineTransform(m) for m in t]) @ corners.T
        for t in (exact, tracks["bbaf2n.mpg"].transforms)
    ]
    assert np.abs(windows[0] - windows[1]).max() < 1.5


def test_small_faces_are_found_by_enlarging_the_frame(extractor):
    clip = [cv2.resize(f, (180, 144), interpolation=cv2.INTER_AREA) for f in video.read(FIXTURES / "sbwe5n.mpg")[0][:8]]
    track = extractor.extract_frames(clip)  # a ~60 px face: below the detector's 80 px window at native size
    assert track.detected.all() and track.crops.shape == (8, 50, 100, 3)

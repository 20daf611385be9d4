"""Animation parameters from real tracked clips: reconstruction, channels, the cache, the shipped model, bad input."""

import dataclasses
import os

import numpy as np
import pytest
from conftest import ROOT

from lipnet import audio, env, grid
from lipnet.animation import lipshape
from lipnet.errors import LipnetError
from lipnet.mouth import MouthExtractor, MouthTrack, sidecar_path
from lipnet.speech import align

HELD_OUT = ROOT / "samples" / "pwbq6p.mp4"  # s1, held out of the fit: "place white by q six please"
OTHER = ROOT / "tests" / "fixtures" / "lbax4n.mpg"  # speaker s5, never seen by the fit
VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


@pytest.fixture(scope="module")
def model() -> lipshape.ShapeModel:
    return lipshape.load_model()


@pytest.fixture(scope="module")
def tracks() -> dict[str, MouthTrack]:
    extractor = MouthExtractor()
    return {path.stem: extractor.extract(path) for path in (HELD_OUT, OTHER)}


@pytest.fixture(scope="module")
def params(tracks, model) -> dict[str, lipshape.MouthParameters]:
    return {name: lipshape.from_track(track, model) for name, track in tracks.items()}


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean square distance between corresponding points."""
    return float(np.sqrt((np.linalg.norm(a - b, axis=-1) ** 2).mean()))


def test_shipped_model_has_the_documented_arrays(model):
    with np.load(env.ANIMATION_MODEL, allow_pickle=False) as z:
        documented = {"mean", "components", "variance", "variance_ratio", "low", "high", "measures", "frames", "clips"}
        assert set(z.files) == documented
        assert tuple(z["measures"]) == lipshape.MEASURES
    assert env.ANIMATION_MODEL.stat().st_size < 100_000
    assert model.mean.shape == (20, 2) and model.components.shape == (40, 20, 2)
    flat = model.components.reshape(40, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(40), atol=1e-6)
    assert (np.diff(model.variance) <= 0).all() and model.variance_ratio.sum() == pytest.approx(1)
    assert model.variance_ratio[: env.ANIMATION_COMPONENTS].sum() > 0.95
    assert model.clips == 575 and model.frames > 40_000


@pytest.mark.parametrize("name, tolerance", [("pwbq6p", 0.01), ("lbax4n", 0.025)])
def test_eight_components_reconstruct_the_tracked_lips(params, model, name, tolerance):
    """RMSE in mouth widths: 0.007 here and on s1's held-out clips, 0.018 here and 0.016 on other speakers (bench)."""
    p = params[name]
    assert rmse(model.decode(p.coefficients), p.points) < tolerance
    assert rmse(model.decode(model.encode(p.points, 40)), p.points) < 1e-5
    assert rmse(model.decode(np.zeros((len(p.points), 0))), p.points) > 2 * tolerance  # the mean mouth is worse


def test_points_are_in_mouth_widths_about_the_clip_mouth_centre(params, tracks):
    p = params["pwbq6p"]
    assert p.points.shape == (75, 20, 2) and p.coefficients.shape == (75, env.ANIMATION_COMPONENTS)
    np.testing.assert_allclose(p.times, np.arange(75) / env.FPS, atol=1e-6)
    np.testing.assert_allclose(p.points.mean(axis=(0, 1)), 0, atol=1e-5)
    assert p.channel("width").mean() == pytest.approx(1, abs=1e-5)
    assert (p.points[:, 0, 0] < p.points[:, 6, 0]).all()  # corner 48 on the image's left
    # A similarity change of the source frame (the camera closer, tilted, elsewhere) changes nothing.
    track = tracks["pwbq6p"]
    angle, scale, shift = 0.2, 1.7, np.array([30.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = track.landmarks @ rotation.T + shift
    inverse = np.linalg.inv(np.vstack([np.hstack([rotation, shift[:, None]]), [0, 0, 1]]))
    transforms = np.einsum("tij,jk->tik", track.transforms, inverse)
    np.testing.assert_allclose(lipshape.normalise(moved, transforms), p.points, atol=1e-4)


def test_channels_are_in_range_and_jaw_opens_in_speech(params):
    for p in params.values():
        arkit = p.channels[:, :6]
        assert arkit.min() >= 0 and arkit.max() <= 1
        assert (p.channel("mouthClose") <= p.channel("jawOpen") + 1e-6).all()
    p = params["pwbq6p"]
    words = grid.read_align(HELD_OUT.with_suffix(".align"))
    start, end = round(words[0].start), round(words[-1].end)  # video frames
    silence, speech = p.channel("jawOpen")[:5], p.channel("jawOpen")[start:end]
    assert speech.mean() > silence.mean() + 0.3, (silence.mean(), speech.mean())
    assert p.channel("opening")[start:end].mean() > 2 * p.channel("opening")[:5].mean()


def test_lips_are_closer_on_p_b_m_than_on_vowels(params):
    """The forced-aligned phones' middle frames: /p b m/ close the lips (0.105 vs 0.142 mouth widths on s1)."""
    sentence = grid.transcript(HELD_OUT)
    phones = align.align(audio.load(HELD_OUT), sentence).phones
    middles = {label: [] for label in ("bilabial", "vowel")}
    for phone in phones:
        frame = round((phone.start + phone.end) / 2 * env.FPS)
        if phone.label in ("P", "B", "M"):
            middles["bilabial"].append(frame)
        elif phone.label in VOWELS:
            middles["vowel"].append(frame)
    opening = params["pwbq6p"].channel("opening")
    assert len(middles["bilabial"]) == 3  # place, by, please
    assert opening[middles["bilabial"]].mean() < opening[middles["vowel"]].mean()


def test_parameters_are_cached_beside_the_crops(tracks, params, model, tmp_path):
    npy = tmp_path / "s1" / "pwbq6p.npy"
    tracks["pwbq6p"].save(npy)
    first = lipshape.cached(npy, model)
    cache = tmp_path / "s1" / "pwbq6p.anim.npz"
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))
    np.testing.assert_allclose(first.points, params["pwbq6p"].points, atol=1e-6)
    np.testing.assert_allclose(first.channels, params["pwbq6p"].channels, atol=1e-5)
    with np.load(cache, allow_pickle=False) as z:
        assert set(z.files) == {"times", "points", "coefficients", "channels", "channel_names", "model"}

    stamp = cache.stat().st_mtime_ns
    again = lipshape.cached(npy, model)
    assert cache.stat().st_mtime_ns == stamp and again.model == model.fingerprint  # read, not recomputed
    np.testing.assert_array_equal(again.coefficients, first.coefficients)

    assert lipshape.cached(npy, model, k=4).coefficients.shape == (75, 4)  # other k: recomputed
    cache.write_bytes(b"not an npz")
    assert lipshape.cached(npy, model).coefficients.shape == (75, env.ANIMATION_COMPONENTS)  # unreadable: again
    other = dataclasses.replace(model, mean=model.mean + 0.01)
    assert lipshape.cached(npy, other).model == other.fingerprint != model.fingerprint  # another fit: again
    stamp = cache.stat().st_mtime_ns
    os.utime(sidecar_path(npy), ns=(stamp + 10**9,) * 2)
    lipshape.cached(npy, model)
    assert cache.stat().st_mtime_ns != stamp  # re-extracted since: again


@pytest.mark.parametrize(
    "shapes, message",
    [
        ({"transforms": (3, 2, 3)}, "not a mouth track sidecar (no 'landmarks' array)"),
        (
            {"landmarks": (3, 20, 2), "transforms": (3, 2, 3)},
            "landmarks have shape (3, 20, 2), expected (frames, 68, 2)",
        ),
        ({"landmarks": (3, 68, 2), "transforms": (2, 2, 3)}, "transforms have shape (2, 2, 3), expected (3, 2, 3)"),
    ],
)
def test_bad_sidecars_are_one_line_naming_the_file(tmp_path, model, shapes, message):
    npy = tmp_path / "clip.npy"
    arrays = {name: np.ones(shape, np.float32) for name, shape in shapes.items()}
    np.savez(sidecar_path(npy), detected=np.ones(3, bool), meta="{}", **arrays)
    assert _error(lipshape.cached, npy, model) == f"{sidecar_path(npy)}: {message}"
    assert not lipshape.cache_path(npy).exists()


def test_missing_or_corrupt_files_are_one_line(tmp_path, model):
    missing = tmp_path / "gone.npy"
    sidecar = sidecar_path(missing)
    assert _error(lipshape.cached, missing, model) == f"{sidecar}: no such file"
    sidecar.write_bytes(b"garbage")
    assert _error(lipshape.cached, missing, model) == f"{sidecar}: not a mouth track sidecar (not an .npz archive)"
    broken = tmp_path / "model.npz"
    np.savez(broken, mean=model.mean)
    assert _error(lipshape.load_model, broken) == f"{broken}: not a mouth shape model (no 'components' array)"
    model.save(broken)
    with np.load(broken) as z:
        arrays = dict(z)
    np.savez(broken, **arrays | {"mean": np.zeros((68, 2))})
    assert _error(lipshape.load_model, broken) == f"{broken}: mean has shape (68, 2), expected (20, 2)"


def _error(function, *args) -> str:
    """The message of the LipnetError that `function(*args)` raises."""
    with pytest.raises(LipnetError) as err:
        function(*args)
    return str(err.value)


def test_the_card_states_the_shipped_variance(model):
    """models/MOUTH_SHAPE_CARD.md's variance table is the shipped file's."""
    card = (env.ROOT / "models" / "MOUTH_SHAPE_CARD.md").read_text()
    cumulative = np.cumsum(model.variance_ratio)
    for k in (1, 2, 3, 4, 6, 8):
        assert f"| {k} | {model.variance_ratio[k - 1]:.1%} | {cumulative[k - 1]:.1%} |" in card, k
    assert f"({model.frames:,} frames)" in card

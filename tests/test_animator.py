"""Speech -> mouth animation on real GRID clips: the time base, every route and network learning, live = offline,
the scores, resampling and files, and the shipped model's card figures."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GRID, ROOT

from lipnet import audio, env, grid, writers
from lipnet.animation import animator, lipshape
from lipnet.errors import LipnetError
from lipnet.speech import corpus, student

CLIPS = [ROOT / "samples" / f"{stem}.mp4" for stem in ("lgil7a", "sbbn6n", "pwbq6p")]  # s1, with .align files


@pytest.fixture(scope="module")
def shape() -> lipshape.ShapeModel:
    return lipshape.load_model()


def utterance(extractor, path: Path, shape, phones: bool = True) -> animator.Utterance:
    """A clip's sound, the mouth tracked on its video and (aligned when asked) its phones."""
    mouth = lipshape.from_track(extractor.extract(path), shape)
    if not phones:
        return animator.Utterance(grid.Clip(path.stem, media=path), audio.load(path), mouth)
    clip = corpus.load(path, cache_dir=None)
    return animator.Utterance(clip.clip, clip.samples, mouth, clip.phones)


@pytest.fixture(scope="module")
def clips(extractor, shape) -> list[animator.Utterance]:
    return [utterance(extractor, path, shape) for path in CLIPS]


@pytest.fixture(scope="module")
def reader() -> student.Student:
    return student.load(env.LIPSYNC_STUDENT)


def test_video_frame_j_reads_the_four_audio_frames_ending_at_its_instant():
    frames = np.arange(10, dtype=np.float32)[:, None] + 1  # audio frames 0..9 hold 1..10
    rows = animator.video_rate(frames)
    assert rows.shape == (3, 4)
    assert rows[0].tolist() == [0, 0, 0, 1]  # frame 0: silence before the sound, then audio frame 0
    assert rows[1].tolist() == [2, 3, 4, 5]  # frame 1 (40 ms): audio frames 1..4 (10..40 ms)
    assert [len(animator.video_rate(np.ones((m, 2)))) for m in (1, 4, 5, 100, 101)] == [1, 1, 2, 25, 26]
    assert audio.frames_per_video_frame() == 4
    assert audio.video_frames(3 * env.SAMPLE_RATE) == 75 and audio.video_frames(641) == 2


@pytest.mark.parametrize(
    "route,net", [("visemes", "mlp"), ("features", "cnn"), ("features", "autoregressive"), ("features", "attention")]
)
def test_each_route_and_network_learns_on_real_clips(clips, shape, tmp_path, route, net):
    config = animator.AnimatorConfig(route=route, network=net, width=16, layers=2, window=8, epochs=5, batch_size=1)
    model = animator.train(config, clips[:2], clips[2:], shape, tmp_path / "run")
    losses = [float(row["loss"]) for row in csv.DictReader(open(tmp_path / "run" / "log.csv"))]
    assert len(losses) == 5 and losses[-1] < losses[0]
    for name in ("best.keras", "last.keras", "config.json", "curves.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert model.coefficients(clips[2].samples).shape == (75, env.ANIMATION_COMPONENTS)
    model.save(tmp_path / "mine.keras")
    again = animator.load(tmp_path / "mine.keras")
    np.testing.assert_allclose(
        again.coefficients(clips[2].samples), model.coefficients(clips[2].samples), rtol=1e-4, atol=1e-5
    )


def test_a_killed_run_resumes_where_it_stopped(clips, shape, tmp_path):
    config = animator.AnimatorConfig(width=8, layers=1, epochs=2, batch_size=1)
    animator.train(config, clips[:2], clips[2:], shape, tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(
        json.dumps({"model": {**json.loads((tmp_path / "run" / "config.json").read_text())["model"], "epochs": 3}})
    )
    animator.resume(tmp_path / "run", clips[:2], clips[2:], shape)
    assert [row["epoch"] for row in csv.DictReader(open(tmp_path / "run" / "log.csv"))] == ["1", "2", "3"]
    with pytest.raises(LipnetError, match="holds a run already"):
        animator.train(config, clips[:2], clips[2:], shape, tmp_path / "run")


@pytest.mark.parametrize("net", ["cnn", "autoregressive", "attention"])
def test_live_gives_what_offline_gives(clips, reader, net):
    config = animator.AnimatorConfig(network=net, width=16, layers=2, window=6, lookahead=2)
    model = animator.Animator(config, animator.network(config, 4 * reader.config.units), reader)
    samples = clips[1].samples  # "set blue by n six now"
    offline = model.coefficients(samples)
    for chunk in (160, 1000):
        frames = list(animator.stream(model, [samples[i : i + chunk] for i in range(0, len(samples), chunk)]))
        assert [f.index for f in frames] == list(range(len(offline)))
        np.testing.assert_allclose(np.array([f.coefficients for f in frames]), offline, atol=2e-5)
    pressed = model.heard(samples)[1][: len(offline)]
    np.testing.assert_allclose([f.pressed for f in frames], pressed, atol=1e-5)
    assert pressed.max() == 1 and (pressed == 0).mean() > 0.8  # the two b's, little else


def test_scores_of_the_tracked_mouth_and_of_the_mean_mouth(clips, shape):
    tracked = animator.score_points([u.mouth.points for u in clips], clips, shape)
    assert tracked.rmse == 0 and tracked.opening == pytest.approx(1)
    assert tracked.measures == pytest.approx(dict.fromkeys(lipshape.MEASURES, 1.0))
    mean = animator.score(lambda s: np.zeros((audio.video_frames(len(s)), 8), np.float32), clips, shape)
    by_hand = np.sqrt(np.mean([(np.linalg.norm(u.mouth.points - shape.mean, axis=-1) ** 2).mean() for u in clips]))
    assert mean.rmse == pytest.approx(by_hand, rel=0.05) and mean.opening == 0
    closed = shape.mean.copy()
    closed[[13, 14, 15], 1] = closed[[19, 18, 17], 1]  # inner upper lip down onto the inner lower lip
    shut = animator.score_points([np.repeat(closed[None], len(u.mouth.points), 0) for u in clips], clips, shape)
    spans = sum(len(animator.bilabial_frames(u.phones, 75)) for u in clips)
    assert spans >= 3 and shut.closures == 1  # "lay green", "bin blue ... please", "place ... please"
    assert mean.closures == 0


def test_pressed_lips_meet_and_the_jaw_stays(clips, shape, reader):
    coefficients = clips[0].mouth.coefficients
    pressed = animator.mouth(coefficients, np.ones(len(coefficients)), shape)
    free = animator.mouth(coefficients, np.zeros(len(coefficients)), shape)
    np.testing.assert_allclose(free.points, shape.decode(coefficients), atol=1e-6)
    assert animator.closed_lips(pressed.points, shape).all() and not animator.closed_lips(free.points, shape).all()
    np.testing.assert_allclose(pressed.points[:, :12], free.points[:, :12])  # the outer lips (the jaw) stay
    middle = pressed.points[:, [14, 18], 1]  # the inner lips meet halfway
    np.testing.assert_allclose(middle[:, 0], middle[:, 1], atol=1e-6)
    np.testing.assert_allclose(middle[:, 0], free.points[:, [14, 18], 1].mean(1), atol=1e-6)
    assert pressed.channel("opening").max() < 1e-6 < free.channel("opening").max()
    assert (pressed.channel("mouthClose") >= free.channel("mouthClose")).all()
    np.testing.assert_allclose(pressed.channel("jawOpen"), free.channel("jawOpen"))


def test_resampled_parameters_keep_the_motion(clips, shape):
    params = clips[0].mouth
    fifty = lipshape.resample(params, 50, shape)
    assert len(fifty.times) == 2 * len(params.times) - 1
    np.testing.assert_allclose(fifty.points[::2], params.points, atol=1e-6)
    np.testing.assert_allclose(fifty.points[1], (params.points[0] + params.points[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(fifty.channels, shape.channels(fifty.points), atol=1e-6)
    with pytest.raises(LipnetError):
        lipshape.resample(params, 0, shape)


def test_parameter_files_parse(clips, tmp_path):
    params = clips[0].mouth
    paths = writers.write_animation(params, tmp_path / "clip", source="clip.mp4")
    assert [p.name for p in paths] == ["clip.anim.json", "clip.anim.csv"]
    saved = json.loads(paths[0].read_text())
    assert saved["fps"] == 25 and saved["channels"] == list(lipshape.CHANNELS) and len(saved["frames"]) == 75
    assert np.allclose(saved["frames"][10]["points"], params.points[10], atol=1e-4)
    rows = list(csv.DictReader(open(paths[1])))
    assert len(rows) == 75 and float(rows[10]["jawOpen"]) == pytest.approx(params.channel("jawOpen")[10], abs=1e-4)
    assert float(rows[10]["y57"]) == pytest.approx(params.points[10, 9, 1], abs=1e-4)


def test_bad_model_files_are_one_line_errors(tmp_path):
    with pytest.raises(LipnetError, match="no such model"):
        animator.load(tmp_path / "none.keras")
    with pytest.raises(LipnetError, match="not an animator"):
        animator.load(env.LIPSYNC_STUDENT)
    saved = json.loads(env.ANIMATOR_MODEL.with_suffix(".json").read_text())
    (tmp_path / "old.keras").write_bytes(env.ANIMATOR_MODEL.read_bytes())
    (tmp_path / "old.json").write_text(json.dumps({**saved, "student_sha1": "0" * 40}))  # learnt another student
    with pytest.raises(LipnetError, match="features of another .* retrain it"):
        animator.load(tmp_path / "old.keras")


CARD = {  # models/ANIMATOR_CARD.md, "Results": (landmark RMSE, opening correlation)
    "held-out s1": (0.0255, 0.904),
    "other speakers": (0.0525, 0.772),
}


@pytest.mark.grid
def test_shipped_animator_matches_its_card(extractor, shape):
    """The card's headline, reproduced from the videos and their sound (closures need every clip aligned: bench)."""
    model = animator.load(env.ANIMATOR_MODEL)
    sets = {
        "held-out s1": [GRID / f"{key}.mp4" for key in sorted(grid.read_list(env.SPLITS_DIR / "s1_heldout.txt"))],
        "other speakers": [p for p in sorted((GRID / "samples").glob("*.mpg")) if p.stem != "bbaf2n"],
    }
    for name, paths in sets.items():
        found = animator.score(model, [utterance(extractor, p, shape, phones=False) for p in paths], shape)
        assert (found.rmse, found.opening) == pytest.approx(CARD[name], abs=0.002), name

"""The phoneme teacher and the real-time student: training on real GRID audio, distillation targets, cost,
and the live path giving what the offline path gives."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GRID, ROOT

from lipnet import audio, env, flops, visemes
from lipnet.errors import LipnetError
from lipnet.speech import corpus, lipsync, student, teacher
from lipnet.speech.align import Segment

SAMPLE = ROOT / "samples" / "lgil7a.mp4"


@pytest.fixture(scope="module")
def clips(tmp_path_factory, grid_data) -> list[corpus.Recording]:
    """Eight real s1 clips with their forced-aligned phones."""
    cache = tmp_path_factory.mktemp("alignments")
    paths = sorted((GRID / "s1").glob("p*.mp4"))[:8]
    return [corpus.load(p, [GRID / "align"], cache) for p in paths]


@pytest.fixture(scope="module")
def shipped_teacher() -> lipsync.VisemeModel:
    return lipsync.load(env.LIPSYNC_MODEL)


def losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.csv").read_text().splitlines()
    column = lines[0].split(",").index("loss")
    return [float(line.split(",")[column]) for line in lines[1:]]


def test_tiny_teacher_learns_phones(clips, tmp_path):
    config = lipsync.ModelConfig(kind="sequence", classes="phones", units=16, epochs=4, batch_size=2, augment=[])
    lipsync.train(config, clips[:6], clips[6:], tmp_path / "run", verbose=0)
    curve = losses(tmp_path / "run")
    assert len(curve) == 4 and curve[-1] < curve[0]


@pytest.mark.parametrize("distill", [0.5, 0.0])
def test_tiny_student_learns_and_resumes(clips, shipped_teacher, tmp_path, distill):
    config = student.StudentConfig(units=8, epochs=3, batch_size=2, augment=[1.1], distill=distill)
    model = student.train(
        config, clips[:6], clips[6:], shipped_teacher if distill else None, tmp_path / "run", verbose=0
    )
    curve = losses(tmp_path / "run")
    assert len(curve) == 3 and curve[-1] < curve[0]
    assert len(model.config.mean) == env.STUDENT_MELS and min(model.config.std) > 0  # global, from the training clips
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert saved["distill"] == distill and saved["kind"] == "student"
    # two more epochs, from the last checkpoint, optimizer and all
    run_config = json.loads((tmp_path / "run" / "config.json").read_text())
    run_config["model"]["epochs"] = 5
    (tmp_path / "run" / "config.json").write_text(json.dumps(run_config))
    student.resume(tmp_path / "run", clips[:6], clips[6:], shipped_teacher if distill else None, verbose=0)
    epochs = np.loadtxt(tmp_path / "run" / "log.csv", delimiter=",", skiprows=1)[:, 0]
    assert epochs.astype(int).tolist() == [1, 2, 3, 4, 5]
    again = student.load(model.save(tmp_path / "student.keras"))
    np.testing.assert_allclose(again.probabilities(clips[7].samples), model.probabilities(clips[7].samples), atol=1e-5)


def test_a_distilled_student_needs_its_teacher(clips, tmp_path):
    with pytest.raises(LipnetError, match="teacher"):
        config = student.StudentConfig(epochs=1, distill=0.5)
        student.train(config, clips[:2], clips[2:3], None, tmp_path / "run", verbose=0)
    with pytest.raises(LipnetError, match="visemes"):
        student.StudentConfig(classes="phones").check()


def test_distillation_targets_are_the_teachers_visemes_softened(clips, shipped_teacher):
    clip = clips[0]
    sharp = student.targets(student.StudentConfig(temperature=1.0), clip, shipped_teacher)
    soft = student.targets(student.StudentConfig(temperature=4.0), clip, shipped_teacher)
    n = len(visemes.CLASS_SETS["ovr"])
    pooled = shipped_teacher.visemes(clip.samples, "ovr")
    np.testing.assert_allclose(sharp[:, :n], pooled[: len(sharp)], atol=1e-5)  # T = 1: the teacher's own
    np.testing.assert_allclose(soft[:, :n].sum(1), 1, atol=1e-5)
    assert soft[:, :n].max(1).mean() < sharp[:, :n].max(1).mean()  # softer: less sure of its best class
    hard = lipsync.clip_targets(clip, "ovr")
    np.testing.assert_array_equal(soft[:, n:].argmax(1), hard[: len(soft)])  # the labels, one-hot
    labelled_only = student.targets(student.StudentConfig(), clip, None)
    assert not labelled_only[:, :n].any()


def test_streaming_gives_the_offline_visemes():
    assert_streams_as_offline(student.load(env.LIPSYNC_STUDENT))


@pytest.mark.parametrize(
    "shape, cost",
    [
        # a front convolution (3 frames x 20 bands -> 6) and two GRUs of 8, every 10 ms
        ({"layers": 2, "front": 6}, 3 * 20 * 6 + 3 * 8 * (6 + 8) + 3 * 8 * (8 + 8) + 8 * 15),
        # a GRU every 20 ms on pairs of frames, answering for both: half its cost a frame
        ({"stack": 2, "delay": 2}, (3 * 8 * (40 + 8) + 8 * 30) // 2),
    ],
)
def test_deeper_and_slower_students_learn_and_stream(clips, tmp_path, shape, cost):
    config = student.StudentConfig(units=8, epochs=2, batch_size=2, augment=[], distill=0, **shape)
    model = student.train(config, clips[:4], clips[4:5], None, tmp_path / "run", verbose=0)
    curve = losses(tmp_path / "run")
    assert curve[-1] < curve[0]
    assert flops.multiply_adds(model.network) == cost
    # the delay's frames (and the wait for a step's second frame), then the 12.5 ms to the end of the last window
    assert model.config.lookahead_ms == (model.config.delay + model.config.stack - 1) * 10 + 12.5 in (42.5, 52.5)
    assert_streams_as_offline(student.load(model.save(tmp_path / "student.keras")))


def assert_streams_as_offline(model: student.Student) -> None:
    """Pushed in chunks of every size, from a sample to several frames, the sample clip gives the offline
    probabilities frame for frame."""
    samples = audio.load(SAMPLE)
    offline = model.probabilities(samples)
    rng = np.random.default_rng(0)
    live, start = model.stream(), 0
    frames = []
    while start < len(samples):  # chunks of every size, from a sample to several frames
        size = int(rng.integers(1, 800))
        frames += live.push(samples[start : start + size])
        start += size
    frames += live.end()
    assert [f.index for f in frames] == list(range(len(offline))) == list(range(len(samples) // 160))
    np.testing.assert_allclose(np.stack([f.probabilities for f in frames]), offline, atol=1e-4)
    assert frames[100].time == pytest.approx(1.0)


def test_a_frame_comes_out_once_its_lookahead_has_arrived():
    model = student.load(env.LIPSYNC_STUDENT)
    samples = audio.load(SAMPLE)
    live = model.stream()
    lookahead = round(model.config.lookahead_ms * env.SAMPLE_RATE / 1000)
    got = live.push(samples[: 100 * 160 + lookahead - 1])
    assert got[-1].index == 99  # frame 100 needs one more sample
    assert [f.index for f in live.push(samples[100 * 160 + lookahead - 1 : 100 * 160 + lookahead])] == [100]


def test_compute_counts(shipped_teacher):
    # conv 39 -> 128 (5 taps), conv 128 -> 128 (5 taps), GRU 64 each way over 128, dense 128 -> 40
    expected = 5 * 39 * 128 + 5 * 128 * 128 + 2 * 3 * 64 * (128 + 64) + 128 * 40
    assert flops.multiply_adds(shipped_teacher.estimator) == expected
    small = student.network(student.StudentConfig(units=32, n_mels=40))
    assert flops.multiply_adds(small) == 3 * 32 * (40 + 32) + 32 * 15


def test_phone_error_rate():
    ref = [Segment("sil", 0, 0.1), Segment("b", 0.1, 0.2), Segment("ih1", 0.2, 0.3), Segment("n", 0.3, 0.4)]
    assert teacher.said(ref) == "B IH N"
    hyp = [Segment("b", 0, 0.1), Segment("b", 0.1, 0.15), Segment("eh", 0.15, 0.3), Segment("+nsn+", 0.3, 0.4)]
    assert teacher.said(hyp) == "B EH"
    assert teacher.phone_error_rate([ref], [hyp]) == pytest.approx(2 / 3)  # one substitution, one deletion


def test_a_model_saved_without_a_setting_is_refused(tmp_path):
    """A setting missing from a model's file must not silently take today's default: the model would read
    differently normalised features than it was trained on."""
    import shutil

    model = shutil.copy(env.LIPSYNC_STUDENT, tmp_path / "old.keras")
    saved = json.loads(env.LIPSYNC_STUDENT.with_suffix(".json").read_text())
    del saved["running_mean"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    with pytest.raises(LipnetError, match="without running_mean"):
        student.load(model)


def test_shipped_student_costs_what_the_card_says(shipped_teacher):
    shipped = student.load(env.LIPSYNC_STUDENT)
    assert shipped.config.lookahead_ms == 52.5  # 4 frames and the half of a 25 ms window after its centre
    assert flops.multiply_adds(shipped.network) / flops.multiply_adds(shipped_teacher.estimator) < 0.05
    assert shipped.config.running_mean > 0 and shipped.config.units == 44

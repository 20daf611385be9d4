import json

import numpy as np
import pytest
from conftest import GRID, ROOT

from lipnet import audio, env, visemes
from lipnet.errors import LipnetError
from lipnet.speech import align, corpus, lipsync


@pytest.fixture(scope="module")
def clips(tmp_path_factory, grid_data) -> list[corpus.Recording]:
    """Eight real s1 clips with their forced-aligned phones."""
    cache = tmp_path_factory.mktemp("alignments")
    paths = sorted((GRID / "s1").glob("b*.mp4"))[:8]
    return [corpus.load(p, [GRID / "align"], cache) for p in paths]


def test_targets_of_each_class_set():
    phones = ["sil", "B", "IH", "N", "S", "AA"]
    assert [visemes.CLASS_SETS["phones"][i] for i in visemes.targets(phones, "phones")] == phones
    assert [visemes.classes("ovr")[i] for i in visemes.targets(phones, "ovr")] == ["sil", "PP", "ih", "nn", "SS", "aa"]
    assert visemes.targets(phones, "ovr9").tolist() == [-1, -1, 6, 2, 1, 4]  # only CH SS nn RR aa E ih oh ou
    assert visemes.targets(phones, "vowels5").tolist() == [-1, -1, 2, -1, -1, 0]
    assert [visemes.classes("rhubarb")[i] for i in visemes.targets(phones, "rhubarb")] == ["X", "A", "B", "B", "B", "D"]
    assert len(visemes.CLASS_SETS["phones"]) == 40


def test_pooling_phones_into_every_viseme_set():
    for name in visemes.VISEME_SETS:
        matrix = visemes.pooling("phones", name)
        assert matrix.shape == (40, len(visemes.classes(name)))
        np.testing.assert_array_equal(matrix.sum(1), 1)
    np.testing.assert_array_equal(visemes.pooling("ovr", "ovr"), np.eye(15))
    with pytest.raises(LipnetError, match="cannot give"):
        visemes.pooling("ovr", "rhubarb")  # OVR's aa (AA AE AH AW AY) straddles Rhubarb's C and D


def test_features_are_normalised_per_utterance(clips):
    config = lipsync.ModelConfig()
    x = lipsync.features(clips[0].samples, config)
    assert x.shape == (len(clips[0].samples) // 160, 39)
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-2)
    w = lipsync.windows(x, 2)
    assert w.shape == (len(x), 5 * 39)
    np.testing.assert_array_equal(w[10, 2 * 39 : 3 * 39], x[10])
    np.testing.assert_array_equal(w[0, :39], x[0])  # edges repeated


def test_speed_perturbation_scales_the_phone_times(clips):
    fast = lipsync.perturbed(clips[0], 1.25, np.random.default_rng(0))
    assert abs(len(fast.samples) - len(clips[0].samples) / 1.25) < 2
    assert fast.phones[1].start == pytest.approx(clips[0].phones[1].start / 1.25)


@pytest.mark.parametrize("kind, suffix", [("dnn", ".keras"), ("sequence", ".keras"), ("svm", ".skops")])
def test_tiny_classifiers_learn_and_round_trip(clips, tmp_path, kind, suffix):
    config = lipsync.ModelConfig(
        kind=kind, classes="ovr", units=16, epochs=6, batch_size=2, augment=[1.1], svm_frames=2000
    )
    model = lipsync.train(config, clips[:6], clips[6:], verbose=0)
    scores = lipsync.evaluate(model, clips[:6])
    silence_share = np.mean(np.concatenate([lipsync.clip_targets(c, "ovr") for c in clips[:6]]) == 0)
    assert scores.accuracy > silence_share + 0.05  # better than always answering "silence"
    path = model.save(tmp_path / f"model{suffix}")
    again = lipsync.load(path)
    assert again.config == model.config
    np.testing.assert_allclose(again.probabilities(clips[7].samples), model.probabilities(clips[7].samples), atol=1e-5)
    with pytest.raises(LipnetError, match="saved as"):
        model.save(tmp_path / "model.pkl")


def test_balancing_weights(clips):
    ys = [lipsync.clip_targets(c, "ovr") for c in clips]
    rng = np.random.default_rng(0)
    flat = np.concatenate(ys)
    for balance in lipsync.BALANCING:
        weights = np.concatenate(lipsync._balanced(ys, balance, 15, rng))
        per_class = np.array([weights[flat == k].sum() for k in np.unique(flat)])
        if balance == "none":
            np.testing.assert_array_equal(per_class, np.bincount(flat)[np.unique(flat)])
        elif balance == "weights":  # every class carries the same total weight
            np.testing.assert_allclose(per_class, per_class.mean(), rtol=1e-4)
        else:  # every class cut to about the rarest class's count
            assert per_class.max() <= 3 * per_class.min() + 10


def test_timeline_from_given_words_is_the_alignment():
    samples = audio.load(ROOT / "samples" / "lgil7a.mp4")
    result = lipsync.timeline(samples, text="lay green in l seven again")
    assert result.aligned and [w.label for w in result.words] == "lay green in l seven again".split()
    expected = align.align(samples, "lay green in l seven again").phones
    frames = visemes.frame_labels(expected, 100, len(samples) // 160, "ovr")
    np.testing.assert_array_equal(result.probabilities["ovr"].argmax(1), frames)
    cues = result.cues("rhubarb", 0.07)
    assert cues[0].start == 0 and cues[-1].end == pytest.approx(len(samples) // 160 / 100)
    assert all(c.end - c.start >= 0.07 - 1e-9 for c in cues[:-1])  # the last may be cut by the end of the sound


def test_load_bad_model(tmp_path):
    with pytest.raises(LipnetError, match="no such model"):
        lipsync.load(tmp_path / "missing.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text('{"kind": "sequence"}')
    with pytest.raises(LipnetError, match="cannot load"):
        lipsync.load(tmp_path / "bad.keras")


def test_training_writes_a_run_directory_and_resumes(clips, tmp_path):
    config = lipsync.ModelConfig(kind="dnn", classes="ovr", units=16, epochs=2, batch_size=2, augment=[])
    run = tmp_path / "run"
    model = lipsync.train(config, clips[:6], clips[6:], run, about={"train": "here"}, verbose=0)
    for name in ("config.json", "last.keras", "last.json", "best.keras", "best.json", "log.csv", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert lipsync.run_config(run) == (config, {"train": "here"})
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0] == ",".join(lipsync.LOGBOOK.fields) and len(rows) == 3
    with pytest.raises(LipnetError, match="holds a run already"):
        lipsync.train(config, clips[:6], clips[6:], run, verbose=0)
    saved = json.loads((run / "config.json").read_text())  # ask for two more epochs, then go on
    saved["model"]["epochs"] = 4
    (run / "config.json").write_text(json.dumps(saved))
    again = lipsync.resume(run, clips[:6], clips[6:], verbose=0)
    assert [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()[1:]] == ["1", "2", "3", "4"]
    assert json.loads((run / "last.json").read_text())["epoch"] == 4
    assert again.probabilities(clips[7].samples).shape == model.probabilities(clips[7].samples).shape  # the best epoch


def test_recognised_phones_do_not_flicker():
    model = lipsync.load(ROOT / "models" / "lipsync-grid-s1.keras")
    samples = audio.load(ROOT / "samples" / "sbbn6n.mp4")  # "set blue by n six now"
    phones = lipsync.timeline(samples, model).phones
    assert phones[0].start == 0 and all(a.end == b.start for a, b in zip(phones, phones[1:]))
    assert all(p.end - p.start >= 0.03 - 1e-9 for p in phones[:-1])
    spoken = [p.label for p in phones if p.label != "sil"]
    assert spoken[:3] == ["S", "EH", "T"] and "AY" in spoken  # "set", "by"


def test_a_viseme_set_the_model_lacks_is_refused_before_anything_is_written(tmp_path):
    from lipnet import writers

    only_ovr = lipsync.Timeline(0.1, 100, {"ovr": np.full((10, 15), 1 / 15, np.float32)}, [], [], aligned=False)
    for formats in (["npz"], ["csv"], ["visemes", "npz"]):
        with pytest.raises(LipnetError, match="not 'rhubarb'"):
            writers.write_timeline(only_ovr, tmp_path / "clip", formats, "rhubarb")
    assert not list(tmp_path.iterdir())
    assert len(writers.write_timeline(only_ovr, tmp_path / "clip", ["npz", "csv"], "ovr")) == 2


def test_the_plot_of_a_long_file_stays_one_readable_image(tmp_path):
    import cv2

    from lipnet import pictures

    seconds = 120  # 2.5 inches a second would make 33,000 pixels
    samples = (0.1 * np.sin(np.arange(seconds * 16000) / 16000 * 2 * np.pi * 220)).astype(np.float32)
    cues = [visemes.Cue(i * 0.5, (i + 1) * 0.5, ["sil", "PP", "aa"][i % 3]) for i in range(2 * seconds)]
    image = cv2.imread(str(pictures.plot_sound(samples, cues, tmp_path / "long.png")))
    assert image.shape[1] == round(env.PLOT_MAX_WIDTH * 110)

"""Learning from the sound: per-frame targets of real GRID clips, auxiliary heads and distillation in training."""

import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from conftest import ROOT

import train
from lipnet import env, grid, visemes
from lipnet.errors import LipnetError
from lipnet.lipreading import dataset, decoding, trainer
from lipnet.lipreading import model as lipnet_model
from lipnet.lipreading.reader import LipReader
from lipnet.mouth import MouthExtractor
from lipnet.speech import align
from tests.test_trainer import ENV

SOURCES = {"bbaf2n": ROOT / "tests" / "fixtures" / "bbaf2n.mpg"} | {p.stem: p for p in (ROOT / "samples").glob("*.mp4")}
TINY = {"filters": [4, 8, 8], "gru_units": 8}
#: run train.py in a process whose one CPU Keras sees as two devices (XLA's host device count; TF logical devices)
TWO_DEVICES = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import train
for args in json.loads(sys.argv[1]):  # one start-up for the runs compared: the imports take longer than they do
    print("=== run", flush=True)
    if train.main(args):
        sys.exit(1)
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Four real s1 clips: crops extracted into crops/s1/, their videos (and .align files) in sources/s1/, and
    their frame targets cached beside the crops (alignments cached here, not in data/)."""
    root = tmp_path_factory.mktemp("aux")
    extractor = MouthExtractor()
    for stem, video in SOURCES.items():
        extractor.extract(video).save(root / "crops" / "s1" / f"{stem}.npy")
        (root / "sources" / "s1").mkdir(parents=True, exist_ok=True)
        for source in video.parent.glob(f"{stem}.*"):
            shutil.copy(source, root / "sources" / "s1")
    for sample in dataset.discover(root / "crops", source_dirs=[root / "sources"]):
        dataset.frame_targets(sample, alignments=root / "alignments")
    return root


def samples(corpus: Path) -> dict[str, grid.Clip]:
    return {s.key: s for s in dataset.discover(corpus / "crops", source_dirs=[corpus / "sources"])}


def test_frame_targets_follow_the_alignment(corpus):
    """lgil7a ("lay green in l seven again"): one target per crop frame, silence at both ends; the frames whose
    instant falls in a word of the clip's forced alignment carry that word's phones, and mostly those inside GRID's
    own (looser) word timings too, so video and sound share a time base; the teacher mostly agrees."""
    sample = samples(corpus)["s1/lgil7a"]
    assert sample.media == corpus / "sources" / "s1" / "lgil7a.mp4"
    targets = dataset.frame_targets(sample, alignments=corpus / "alignments")
    frames = len(dataset.load_clip(sample.crops, None))
    assert targets["phones"].shape == targets["visemes"].shape == (frames,) and frames == 75
    assert targets["teacher"].shape == (frames, len(visemes.PHONES))
    np.testing.assert_allclose(targets["teacher"].sum(1), 1, atol=1e-4)
    phones = [visemes.PHONES[i] for i in targets["phones"]]
    assert phones[:10] == ["sil"] * 10 and phones[-10:] == ["sil"] * 10
    alignment = align.Alignment.from_json((corpus / "alignments" / "s1" / "lgil7a.alignment.json").read_text())
    for word, start, end in alignment.words:
        said = [phones[i] for i in range(frames) if start <= i / env.FPS < end]
        assert said and set(said) <= set(visemes.phonemes(word)), (word, said)
    inside = []
    for word in grid.read_align(corpus / "sources" / "s1" / "lgil7a.align"):
        inside += [phones[i] in visemes.phonemes(word.text) for i in range(int(word.start), int(np.ceil(word.end)))]
    assert len(inside) > 30 and np.mean(inside) >= 0.75
    ovr = visemes.CLASS_SETS["ovr"]
    assert [ovr[i] for i in targets["visemes"]] == [ovr[k] for k in visemes.targets(phones, "ovr")]
    assert np.mean(targets["teacher"].argmax(1) == targets["phones"]) >= 0.75


def test_frame_targets_are_cached_and_recomputed_when_stale(corpus):
    sample = samples(corpus)["s1/pwbq6p"]
    cache = sample.crops.with_name("pwbq6p.frames.npz")
    first = dataset.frame_targets(sample, alignments=corpus / "alignments")
    with np.load(cache, allow_pickle=False) as saved:  # plain arrays: no pickle needed to read them
        np.testing.assert_array_equal(saved["phones"], first["phones"])
    written = cache.stat().st_mtime_ns
    dataset.frame_targets(sample, alignments=corpus / "alignments")
    assert cache.stat().st_mtime_ns == written
    os.utime(sample.media, ns=(written + 10**9, written + 10**9))  # the recording changed: computed again
    again = dataset.frame_targets(sample, alignments=corpus / "alignments")
    assert cache.stat().st_mtime_ns != written
    np.testing.assert_array_equal(again["phones"], first["phones"])


def test_targets_moved_without_their_recording_are_used_as_they_are(corpus, tmp_path):
    sample = samples(corpus)["s1/pwbq6p"]
    first = dataset.frame_targets(sample, alignments=corpus / "alignments")
    for suffix in (".npy", dataset.FRAME_TARGETS_SUFFIX):  # crops and targets alone, as to a GPU machine
        shutil.copy(sample.crops.with_name("pwbq6p" + suffix), tmp_path)
    alone = dataclasses.replace(sample, crops=tmp_path / "pwbq6p.npy", media=None)
    np.testing.assert_array_equal(dataset.frame_targets(alone)["teacher"], first["teacher"])


def test_a_clip_without_a_recording_is_one_line_naming_it(corpus, tmp_path):
    shutil.copytree(corpus / "crops", tmp_path / "crops", ignore=shutil.ignore_patterns("*.frames.npz"))
    config = trainer.TrainConfig(data_dir=str(tmp_path / "crops"), split="random", aux_visemes=0.3, model=TINY)
    with pytest.raises(LipnetError, match=r"^s1/\w+: no source video or audio found"):
        trainer.train(config, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()  # nothing written


def test_head_targets_follow_the_frame_jitter():
    """The training model says which input frame each output frame shows, and `frame_loss` scores each output frame
    against the target of the frame it shows."""
    augment = lipnet_model.Augment(flip=0, jitter=1.0, seed=0)
    x = np.broadcast_to(np.arange(75, dtype="float32")[None, :, None, None, None], (2, 75, 4, 4, 1))
    shown, index = (keras.ops.convert_to_numpy(t) for t in augment(x, training=True, frame_index=True))
    assert (index != np.arange(75)).mean() > 0.5
    np.testing.assert_array_equal(shown[:, :, 0, 0, 0], index)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(augment(x, frame_index=True)[1])[0], np.arange(75))
    targets = np.eye(3, dtype="float32")[np.arange(75) % 3][None]
    logits = 20 * targets[:, index[0]]  # right about the frames it is shown, wrong about the original ones
    shown_frames = np.concatenate([logits, index[:1, :, None].astype("float32")], axis=-1)
    in_order = np.concatenate([logits, np.arange(75, dtype="float32")[None, :, None]], axis=-1)
    assert float(lipnet_model.frame_loss(targets, shown_frames)[0]) < 1e-3
    assert float(lipnet_model.frame_loss(targets, in_order)[0]) > 100


def test_aux_training_learns_saves_a_reading_model_and_resumes(corpus, tmp_path):
    """train.py --aux-visemes --distill: the heads' losses fall, the checkpoint keeps the heads' weights apart and
    names them, reading gives what the plain network gives plus each head's posteriors, the log has the viseme head's
    accuracy, and --resume keeps the weights."""
    run = tmp_path / "run"
    (tmp_path / "val.txt").write_text("s1/sbbn6n\n")
    args = ["-d", str(corpus / "crops"), "--sources", str(corpus / "sources"), "--split", str(tmp_path / "val.txt")]
    args += ["-e", "4", "-b", "3", "-lr", "3e-3", "--workers", "1", "--model", json.dumps(TINY), "-o", str(run)]
    assert train.main([*args, "--aux-visemes", "0.3", "--distill", "0.5"]) == 0
    saved = json.loads((run / "config.json").read_text())["train"]
    assert (saved["aux_visemes"], saved["aux_phones"], saved["distill"]) == (0.3, 0.0, 0.5)
    rows = list(csv.DictReader((run / "log.csv").open()))
    for head in ("visemes_loss", "phones_loss"):
        assert float(rows[-1][head]) < float(rows[0][head]), head
    assert 0 <= float(rows[-1]["val_viseme_accuracy"]) <= 1
    with h5py.File(run / "best.hdf5") as h5:
        assert sorted(h5) == ["aux", "weights"] and len(h5["aux"]) == 4  # two heads' kernels and biases
    reader = LipReader(run / "best.hdf5")  # predict.py's path
    assert reader.heads == {"visemes": 15, "phones": 40}
    crops = np.asarray(dataset.load_clip(corpus / "crops" / "s1" / "lgil7a.npy"))
    posteriors = reader.posteriors(crops)
    features = posteriors.pop("features")  # the BiGRU's, which the audio-visual recogniser hears the lips through
    assert features.shape == (75, 2 * reader.config.gru_units)
    assert {k: v.shape for k, v in posteriors.items()} == {"chars": (75, 28), "visemes": (75, 15), "phones": (75, 40)}
    plain, _, _ = lipnet_model.load(run / "best.hdf5")  # without its heads: the same reading
    logits = keras.ops.convert_to_numpy(plain.predict_on_batch(crops[None]))[0]
    np.testing.assert_allclose(posteriors["chars"], decoding.softmax(logits), atol=1e-5)
    assert train.main(["--resume", str(run), "-e", "5"]) == 0
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4", "5"] and rows[-1]["phones_loss"]
    assert lipnet_model.read_config(run / "last.hdf5")[1]["epoch"] == 5


def test_heads_only_leaves_the_reader_as_it_was(corpus, tmp_path):
    """train.py --heads-only: the heads learn on the frozen reader's features; the trunk's weights are the same to
    the bit, so the text read is too, and the checkpoint names its heads."""
    base = tmp_path / "base.hdf5"
    lipnet_model.save(
        base, lipnet_model.build(lipnet_model.ModelConfig(**TINY), seed=0), lipnet_model.ModelConfig(**TINY)
    )
    (tmp_path / "val.txt").write_text("s1/sbbn6n\n")
    args = ["-d", str(corpus / "crops"), "--sources", str(corpus / "sources"), "--split", str(tmp_path / "val.txt")]
    args += ["--heads-only", "-w", str(base), "--aux-visemes", "1", "--aux-phones", "1", "--distill", "1"]
    assert train.main([*args, "-e", "30", "-lr", "1e-2", "-o", str(tmp_path / "run")]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 30 and float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(max(r["val_viseme_accuracy"] for r in rows)) > 0.3  # silence and more, from a head that began uniform
    with h5py.File(tmp_path / "run" / "best.hdf5") as h5, h5py.File(base) as before:
        assert all(np.array_equal(h5["weights"][k][()], before["weights"][k][()]) for k in before["weights"])
    assert lipnet_model.read_config(tmp_path / "run" / "best.hdf5")[1]["heads"] == {"visemes": 15, "phones": 40}
    with pytest.raises(LipnetError, match="--heads-only needs"):
        trainer.fit_heads(dataclasses.replace(trainer.TrainConfig(), weights=str(base)))


@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_two_devices_learn_as_one_with_heads_and_windows(corpus, tmp_path, backend):
    """--devices 2 (virtual CPU devices): data parallelism splits each batch over the devices and averages their
    gradients, so the losses are one device's with the same batches, epoch for epoch (augmentation and dropout off,
    so that both runs see the same numbers); and with --windows the heads' targets travel with the windows' frames."""
    pytest.importorskip(backend)
    (tmp_path / "val.txt").write_text("s1/pwbq6p\ns1/sbbn6n\n")  # two to train on, a batch of two: no padding
    still = {**TINY, "dropout": 0, "gru_dropout": 0, "flip_probability": 0, "jitter_probability": 0, "shift": 0}
    still |= {"zoom": 0, "brightness": 0}
    common = ["-d", str(corpus / "crops"), "--sources", str(corpus / "sources"), "-a", str(corpus / "sources")]
    common += ["--split", str(tmp_path / "val.txt"), "-b", "2", "--workers", "1", "--seed", "1"]
    common += ["--model", json.dumps(still), "--aux-visemes", "0.3", "--distill", "0.3"]
    runs = {"one": tmp_path / "one", "two": tmp_path / "two", "windows": tmp_path / "windows"}
    args = [
        [*common, "-e", "2", "-o", str(runs["one"]), "--devices", "1"],
        [*common, "-e", "2", "-o", str(runs["two"]), "--devices", "2"],
        [*common, "-e", "1", "-o", str(runs["windows"]), "--devices", "2", "--windows", "0.5"],
    ]
    variables = {**ENV, "KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES, json.dumps(args)], cwd=ROOT, env=variables, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    said = result.stdout.split("=== run")[1:]
    assert ["data-parallel on 2 devices" in out for out in said] == [False, True, True]
    logs = {name: list(csv.DictReader((run / "log.csv").open())) for name, run in runs.items()}
    assert all(float(r["visemes_loss"]) > 0 and float(r["phones_loss"]) > 0 for rows in logs.values() for r in rows)
    curves = [[float(r["loss"]) for r in logs[name]] for name in ("one", "two")]
    assert len(curves[0]) == 2 and curves[0][-1] < curves[0][0]
    np.testing.assert_allclose(curves[1], curves[0], rtol=2e-3)

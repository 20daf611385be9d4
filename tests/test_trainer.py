"""Training on real extracted GRID crops with tiny models: learning, artefacts, resuming after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import ROOT

from lipnet import env, runs
from lipnet.errors import LipnetError
from lipnet.lipreading import dataset, decoding, trainer
from lipnet.lipreading import model as lipnet_model
from lipnet.mouth import MouthExtractor

CLIPS = {"s1": ["bbaf2n"], "s2": ["pwij3p"], "s5": ["lbax4n"], "s32": ["sbwe5n"]}
TINY = {"filters": [4, 8, 8], "gru_units": 8}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """The fixture clips of four GRID speakers, extracted for real into data/<speaker>/<clip>.npy."""
    root = tmp_path_factory.mktemp("data")
    extractor = MouthExtractor()
    for speaker, names in CLIPS.items():
        for name in names:
            extractor.extract(ROOT / "tests" / "fixtures" / f"{name}.mpg").save(root / speaker / f"{name}.npy")
    for sample in sorted((ROOT / "samples").glob("*.mp4")):
        extractor.extract(sample).save(root / "s1" / f"{sample.stem}.npy")
    return root


def test_tiny_model_overfits_four_real_clips(crops):
    """The whole learning path works: crops -> normalisation -> CTC -> greedy decoding of the right sentences.
    Every second frame (12.5 fps, 38 frames for a sentence's ~25 characters): the same path at half the cost."""
    samples = [s for s in dataset.discover(crops) if s.speaker != "s1" or s.key == "s1/bbaf2n"]
    x = np.stack([np.asarray(dataset.load_clip(s.crops))[::2] for s in samples])
    y = dataset.labels([s.text for s in samples])
    mean, std = dataset.channel_stats(samples)
    still = {"flip_probability": 0, "jitter_probability": 0, "shift": 0, "zoom": 0, "brightness": 0}
    config = lipnet_model.ModelConfig(
        filters=(8, 16, 16), gru_units=64, dropout=0, gru_dropout=0, batch_norm=True, mean=mean, std=std, **still
    )
    keras.utils.set_random_seed(0)
    model = lipnet_model.build(config, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=lipnet_model.ctc_loss)
    decoded = []
    for _ in range(80):  # done after 155 epochs (2026-12-04; 1e-2, 6e-3 and 128 units took longer)
        model.fit(x, y, batch_size=4, epochs=5, verbose=0)
        decoded = [decoding.greedy(p) for p in decoding.softmax(model.predict_on_batch(x))]
        if decoded == [s.text for s in samples]:
            break
    assert decoded == [s.text for s in samples]


def test_one_epoch_writes_every_artefact(crops, tmp_path):
    config = trainer.TrainConfig(data_dir=str(crops), split="unseen", epochs=1, batch_size=2, workers=1, model=TINY)
    run = trainer.train(config, tmp_path / "run", verbose=0)
    for name in ("config.json", "split.txt", "last.hdf5", "best.hdf5", "log.csv", "curves.png"):
        assert (run / name).stat().st_size > 0, name
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["split"] == "unseen" and len(saved["model"]["mean"]) == 3
    assert (run / "split.txt").read_text().split() == ["s1/bbaf2n", "s1/lgil7a", "s1/pwbq6p", "s1/sbbn6n", "s2/pwij3p"]
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1"] and 0 <= float(rows[0]["val_cer"]) <= 1
    _, _, extra = lipnet_model.load(run / "best.hdf5")
    assert extra["epoch"] == 1 and extra["grammar"] == "grid"
    assert not list(run.glob(".*.tmp"))
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))  # TensorBoard logs, every epoch
    with pytest.raises(LipnetError, match="holds a run already"):
        trainer.train(config, run, verbose=0)


def test_excluded_clips_are_neither_trained_nor_validated_on(crops, tmp_path):
    """A test set kept out with --exclude: the split file picks validation clips from what remains."""
    (tmp_path / "test.txt").write_text("# held-out test clips\ns2/pwij3p\ns1/sbbn6n\n")
    (tmp_path / "val.txt").write_text("s1/bbaf2n\ns1/sbbn6n\n")  # sbbn6n is excluded: it must not validate
    config = trainer.TrainConfig(
        data_dir=str(crops), split=str(tmp_path / "val.txt"), exclude=[str(tmp_path / "test.txt")]
    )
    train_set, val_set = trainer._samples(config)
    assert [s.key for s in val_set] == ["s1/bbaf2n"]
    assert sorted(s.key for s in train_set) == ["s1/lgil7a", "s1/pwbq6p", "s32/sbwe5n", "s5/lbax4n"]
    with pytest.raises(LipnetError, match="missing.txt: cannot read the clip list"):
        trainer._samples(trainer.TrainConfig(data_dir=str(crops), exclude=[str(tmp_path / "missing.txt")]))


def test_cosine_schedule_anneals_and_resumes_on_the_same_curve(crops, tmp_path):
    config = trainer.TrainConfig(
        data_dir=str(crops), epochs=3, batch_size=2, workers=1, learning_rate=1e-3, schedule="cosine", model=TINY
    )
    run = trainer.train(config, tmp_path / "run", verbose=0)
    rates = [float(r["learning_rate"]) for r in csv.DictReader((run / "log.csv").open())]
    assert 1e-3 > rates[0] > rates[1] > rates[2] == pytest.approx(1e-3 * env.LR_FINAL_FRACTION)
    # a resumed run rebuilds the schedule from config.json and the step count from last.hdf5
    train_set, _ = trainer._samples(config)
    optimizer = trainer._optimizer(config, len(train_set))
    lipnet_model.load(run / "last.hdf5", optimizer=optimizer)
    assert runs.current_rate(optimizer) == pytest.approx(rates[2])


def test_resume_after_sigkill_loses_at_most_one_epoch(crops, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "train.py",
        "-d",
        str(crops),
        "--split",
        "unseen",
        "-b",
        "2",
        "--workers",
        "1",
        "--model",
        json.dumps(TINY),
        "-o",
        str(run),
    ]
    process = subprocess.Popen(
        [*command, "-e", "50"], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if (run / "log.csv").exists() and len((run / "log.csv").read_text().splitlines()) >= 3:  # 2 epochs logged
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, _, extra = lipnet_model.load(run / "last.hdf5")
    done = extra["epoch"]
    assert done >= 1
    resumed = subprocess.run(
        [sys.executable, "train.py", "--resume", str(run), "-e", str(done + 1)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch {done + 1}:" in resumed.stdout
    assert [int(r["epoch"]) for r in csv.DictReader((run / "log.csv").open())] == list(range(1, done + 2))
    assert lipnet_model.read_config(run / "last.hdf5")[1]["epoch"] == done + 1
    assert not list(run.glob(".*.tmp"))


def test_train_cli_reports_bad_data_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "-d", str(tmp_path / "nothing"), "-e", "1"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_more_devices_than_there_are_is_one_line(crops, tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "-d", str(crops), "-e", "1", "-b", "4", "--devices", "4", "-o", str(tmp_path)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stderr.startswith("error: --devices 4")
    assert len(result.stderr.strip().splitlines()) == 1

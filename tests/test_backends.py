"""Backend independence, checked on every installed Keras backend against TensorFlow (this process's).

The shipped model was trained on JAX and runs on TensorFlow by default; these tests make sure that
holds both ways: the same checkpoint gives the same logits everywhere, and a model trained a step on
another backend (augmentation and CTC included) saves a checkpoint TensorFlow reads back exactly.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import ROOT

from lipnet import env
from lipnet.lipreading import dataset, decoding
from lipnet.lipreading import model as lipnet_model
from lipnet.mouth import MouthExtractor

OTHER_BACKENDS = [b for b in ("jax", "torch") if importlib.util.find_spec(b)]

# Run in a subprocess with KERAS_BACKEND set: read the shipped model's logits on the crops, then train
# a tiny model two steps and save it with its predictions.
SCRIPT = """
import sys, numpy as np, keras
from lipnet.lipreading import dataset, model
crops_path, out = sys.argv[1], sys.argv[2]
x = np.asarray(dataset.load_clip(crops_path))[None]
shipped, _, _ = model.load(model.env.DEFAULT_WEIGHTS)
np.save(out + "/shipped.npy", keras.ops.convert_to_numpy(shipped.predict_on_batch(x)))
keras.utils.set_random_seed(0)
config = model.ModelConfig(filters=(4, 8, 8), gru_units=8)
tiny = model.build(config, seed=0)
tiny.compile(optimizer=keras.optimizers.Adam(1e-3), loss=model.ctc_loss)
y = dataset.labels(["lay green in l seven again"])
losses = [float(tiny.train_on_batch(x, y)) for _ in range(2)]
model.save(out + "/tiny.hdf5", tiny, config, tiny.optimizer)
np.save(out + "/tiny.npy", keras.ops.convert_to_numpy(tiny.predict_on_batch(x)))
print(keras.backend.backend(), *losses)
"""


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crops") / "lgil7a.npy"
    MouthExtractor().extract(ROOT / "samples" / "lgil7a.mp4").save(path)
    return path


@pytest.mark.skipif(not OTHER_BACKENDS, reason="no Keras backend besides TensorFlow installed")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_checkpoints_read_and_train_alike_on_every_backend(backend, crops, tmp_path):
    run_env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(crops), str(tmp_path)],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, *losses = out.stdout.split("\n")[-2].split()
    assert name == backend and all(np.isfinite(float(loss)) and float(loss) > 0 for loss in losses)

    x = np.asarray(dataset.load_clip(crops))[None]
    shipped, _, _ = lipnet_model.load(env.DEFAULT_WEIGHTS)
    here = keras.ops.convert_to_numpy(shipped.predict_on_batch(x))
    there = np.load(tmp_path / "shipped.npy")
    np.testing.assert_allclose(there, here, atol=2e-3)
    assert decoding.greedy(decoding.softmax(there)[0]) == decoding.greedy(decoding.softmax(here)[0])

    trained, _, _ = lipnet_model.load(tmp_path / "tiny.hdf5", optimizer=keras.optimizers.Adam(1e-3))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trained.predict_on_batch(x)), np.load(tmp_path / "tiny.npy"), atol=1e-4
    )


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_command_line_stays_quiet_on_every_backend(backend, tmp_path):
    """Keras loads TensorFlow whatever the backend; its start-up logging must not reach the user either way."""
    result = subprocess.run(
        [sys.executable, "train.py", "-d", str(tmp_path / "nothing"), "-e", "1", "-o", str(tmp_path / "run")],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "run").exists()  # bad data fails before the run directory is made

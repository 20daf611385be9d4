"""The LipNet model: architecture on every installed backend, augmentation, CTC loss, checkpoints."""

import importlib.util
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
from conftest import ROOT

from lipnet.errors import LipnetError
from lipnet.lipreading import model

TINY = model.ModelConfig(filters=(4, 8, 8), gru_units=8)
BACKENDS = [
    b
    for b, module in [("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")]
    if importlib.util.find_spec(module)
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_model_builds_on_every_installed_backend(backend):
    """4,574,466 parameters: the paper's architecture (stride 2 on the first conv only, 1,728 features per frame)."""
    code = (
        "from lipnet.lipreading import model; import numpy as np; m = model.build(); "
        "print(m.count_params(), m.get_layer('flatten').output.shape[-1], "
        "tuple(m.predict_on_batch(np.zeros((1, 30, 50, 100, 3), np.uint8)).shape))"
    )
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "4574466 1728 (1, 30, 28)"


def test_augmentation_only_acts_in_training():
    layer = model.Augment(flip=1.0, jitter=0.0, seed=0)
    x = np.random.default_rng(0).integers(0, 255, (2, 5, 50, 100, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)), x[:, :, :, ::-1])


def test_warp_is_an_affine_transform_with_edge_pixels_extended():
    """The separable warp gives what Keras' general affine warp gives: zoom about the centre, shift, mirror."""
    x = np.random.default_rng(0).integers(0, 255, (4, 2, 50, 100, 3)).astype("float32")
    scale = np.array([[1.0], [1.0], [1.08], [0.93]], "float32")
    dy = np.array([[0.0], [0.0], [2.5], [-3.2]], "float32")
    dx = np.array([[0.0], [0.0], [-1.7], [3.9]], "float32")
    flipped = np.array([[False], [True], [True], [False]])
    got = keras.ops.convert_to_numpy(model.Augment.warp(x, scale, dy, dx, flipped))
    np.testing.assert_array_equal(got[0], x[0])  # identity
    np.testing.assert_array_equal(got[1], x[1, :, :, ::-1])  # a plain mirror image
    cy, cx = 49 / 2, 99 / 2
    source = np.where(flipped[:, :, None, None, None], x[:, :, :, ::-1], x)
    for i in (2, 3):
        s = scale[i, 0]
        transform = [s, 0, cx * (1 - s) + dx[i, 0], 0, s, cy * (1 - s) + dy[i, 0], 0, 0]
        expected = keras.ops.image.affine_transform(
            source[i], np.array([transform] * 2, "float32"), fill_mode="nearest"
        )
        np.testing.assert_allclose(got[i], keras.ops.convert_to_numpy(expected), atol=0.01)  # of 255


def test_jitter_only_repeats_or_drops_neighbouring_frames():
    layer = model.Augment(flip=0.0, jitter=0.5, seed=1)
    x = np.broadcast_to(np.arange(40, dtype="float32")[None, :, None, None, None], (3, 40, 50, 100, 3))
    y = keras.ops.convert_to_numpy(layer(x, training=True))[:, :, 0, 0, 0]
    shift = y - np.arange(40)
    assert set(np.unique(shift)) <= {-1, 0, 1} and (shift != 0).any()


def test_time_masks_show_the_clips_mean_frame():
    layer = model.Augment(flip=0.0, jitter=0.0, time_mask=6, seed=3)
    x = np.broadcast_to(np.arange(40, dtype="float32")[None, :, None, None, None], (8, 40, 50, 100, 3))
    y = keras.ops.convert_to_numpy(layer(x, training=True))[:, :, 0, 0, 0]
    masked = y != np.arange(40)
    assert masked.any() and np.all(y[masked] == 19.5)  # the mean of frames 0..39
    assert masked.sum(1).max() <= 3 * 6  # env.TIME_MASKS spans of up to 6 frames
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)  # never at inference


def test_a_model_trained_on_turned_crops_is_turned_to_read_upright_ones():
    """`upright` turns the kernels and the features the BiGRU reads. Where every strided window and pooling is
    symmetric (15 x 31 crops: each block's output even), the turned network reads upright crops exactly as the
    original read them turned; on 50 x 100 crops it is off by a pixel here and there (see `upright`)."""
    config = model.ModelConfig(height=15, width=31, filters=(4, 8, 8), gru_units=8, rotate_input=True)
    turned = model.build(config, seed=0)
    upright, upright_config = model.upright(turned, config)
    assert not upright_config.rotate_input and upright_config.height == 15
    crops = np.random.default_rng(0).integers(0, 255, (2, 10, 15, 31, 3)).astype("uint8")
    want = keras.ops.convert_to_numpy(turned.predict_on_batch(crops))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(upright.predict_on_batch(crops)), want, atol=1e-4)
    plain = model.build(upright_config, seed=0)  # the same weights, not turned: another network
    plain.set_weights(turned.get_weights())
    assert np.abs(keras.ops.convert_to_numpy(plain.predict_on_batch(crops)) - want).max() > 1e-2


def test_checkpoint_extra_fields_are_rewritten_in_place(tmp_path):
    built = model.build(TINY, seed=0)
    path = model.save(tmp_path / "m.hdf5", built, TINY, extra={"grammar": "grid"})
    model.update_extra(path, {"grammar": "grid", "confidence": [1.5, -0.2]})
    loaded, config, extra = model.load(path)
    assert extra == {"grammar": "grid", "confidence": [1.5, -0.2]} and config == TINY
    for a, b in zip(loaded.weights, built.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_ctc_loss_replaces_non_finite_values_by_zero():
    logits = np.zeros((3, 5, 28), "float32")
    logits[2, 1, 4] = np.nan  # a diverged batch element must not poison the whole batch
    labels = np.zeros((3, 40), "int32")
    labels[0, :2] = [2, 3]
    labels[1:, :2] = [5, 6]
    loss = keras.ops.convert_to_numpy(model.ctc_loss(labels, logits))
    assert np.isfinite(loss).all() and loss[0] > 0 and loss[1] > 0 and loss[2] == 0


def test_checkpoint_round_trip_keeps_config_weights_and_extra(tmp_path):
    config = model.ModelConfig(filters=(4, 8, 8), gru_units=8, mean=[1.0, 2.0, 3.0], std=[4.0, 5.0, 6.0])
    m = model.build(config)
    path = model.save(tmp_path / "weights.hdf5", m, config, extra={"epoch": 3, "grammar": "grid"})
    loaded, loaded_config, extra = model.load(path)
    assert loaded_config == config and extra == {"epoch": 3, "grammar": "grid"}
    x = np.random.default_rng(0).integers(0, 255, (1, 10, 50, 100, 3)).astype("uint8")
    np.testing.assert_allclose(loaded.predict_on_batch(x), m.predict_on_batch(x), atol=1e-6)
    assert not list(tmp_path.glob("*.tmp"))


def test_checkpoint_with_optimizer_state_restores_it(tmp_path):
    m = model.build(TINY)
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=model.ctc_loss)
    x = np.zeros((2, 10, 50, 100, 3), "uint8")
    y = np.zeros((2, 40), "int32")
    y[:, :2] = [2, 3]
    m.fit(x, y, epochs=2, verbose=0)
    path = model.save(tmp_path / "last.hdf5", m, TINY, m.optimizer)
    optimizer = keras.optimizers.Adam(1e-3)
    model.load(path, optimizer=optimizer)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 2


def test_bad_weight_files_give_one_line_errors(tmp_path):
    with pytest.raises(LipnetError, match="no such weights file"):
        model.load(tmp_path / "missing.hdf5")
    corrupt = tmp_path / "corrupt.hdf5"
    corrupt.write_bytes(os.urandom(4096))
    with pytest.raises(LipnetError, match="corrupt.hdf5: not an HDF5"):
        model.load(corrupt)
    foreign = tmp_path / "keras2.hdf5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("model_weights", data=np.zeros(3))
    with pytest.raises(LipnetError, match="keras2.hdf5: not a lipnet checkpoint"):
        model.load(foreign)
    mismatched = model.save(tmp_path / "mismatch.hdf5", model.build(TINY), TINY)
    with h5py.File(mismatched, "a") as f:  # claims a bigger GRU than its weights hold
        f.attrs["config"] = f.attrs["config"].replace('"gru_units": 8', '"gru_units": 16')
    with pytest.raises(LipnetError, match="mismatch.hdf5: .* has shape"):
        model.load(mismatched)

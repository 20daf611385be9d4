"""The LipNet network (Assael et al. 2016) in Keras 3, its CTC loss, and its checkpoint files.

Frames (B, T, 50, 100, 3) uint8 -> [augment, training only] -> standardise -> 3 x (Conv3D, ReLU,
MaxPool, SpatialDropout) -> per-frame features (T, 1728) -> 2 x BiGRU(256) -> Dense logits (T, 28).
Only `keras.ops` is used, so the model runs on the TensorFlow, JAX and PyTorch backends.

Training may add auxiliary heads (`build`'s `heads`): per-frame Dense layers ``aux_<name>`` on the BiGRU features
the logits read, scored against per-frame targets (visemes, phones, an audio teacher's posteriors) by `frame_loss`.
They are training-only: the model that reads is the same with or without them.

A checkpoint is one HDF5 file holding the model configuration (with the normalisation statistics),
the weights in model order, and optionally the optimizer state and the training epoch. It loads
whatever its file name (``.hdf5``, ``.h5``...), and nothing in it is pickled.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np
from keras import layers, ops

from lipnet import alphabet, env
from lipnet.errors import LipnetError
from lipnet.storage import atomic_write

FORMAT = "lipnet-checkpoint/1"
HEAD_PREFIX = "aux_"  # the layers of auxiliary heads, kept apart in checkpoints (their ``aux`` group)
FEATURES = "gru_dropout2"  # the layer whose output, the BiGRU features, the logits and every head read


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: architecture sizes and input normalisation."""

    height: int = env.IMAGE_HEIGHT
    width: int = env.IMAGE_WIDTH
    channels: int = env.IMAGE_CHANNELS
    filters: tuple[int, int, int] = (32, 64, 96)
    gru_units: int = 256
    dropout: float = 0.5  # spatial dropout after each conv block
    gru_dropout: float = 0.3  # dropout after each BiGRU
    batch_norm: bool = False
    num_classes: int = alphabet.NUM_CLASSES
    mean: list[float] = field(default_factory=lambda: [0.0] * env.IMAGE_CHANNELS)  # per channel, 0..255 scale
    std: list[float] = field(default_factory=lambda: [255.0] * env.IMAGE_CHANNELS)
    flip_probability: float = env.FLIP_PROBABILITY
    jitter_probability: float = env.JITTER_PROBABILITY
    shift: float = env.AUGMENT_SHIFT
    zoom: float = env.AUGMENT_ZOOM
    brightness: float = env.AUGMENT_BRIGHTNESS
    time_mask: int = 0  # frames: the longest of env.TIME_MASKS spans per training clip shown as its mean frame
    # Turn input crops by 180 degrees. Only for the first shipped model: it was trained on crops an
    # extraction bug (since fixed) had turned upside down; new models leave this False.
    rotate_input: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "filters" in known:
            known["filters"] = tuple(known["filters"])
        return cls(**known)


@keras.saving.register_keras_serializable("lipnet")
class Standardize(layers.Layer):
    """(x - mean) / std per channel, with the training set's statistics stored as (frozen) weights."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self._init = (list(mean), list(std))

    def build(self, input_shape):
        mean, std = self._init
        self.mean = self.add_weight(
            shape=(len(mean),), initializer=keras.initializers.Constant(mean), trainable=False, name="mean"
        )
        self.std = self.add_weight(
            shape=(len(std),), initializer=keras.initializers.Constant(std), trainable=False, name="std"
        )

    def call(self, x):
        return (ops.cast(x, self.compute_dtype) - ops.cast(self.mean, self.compute_dtype)) / ops.cast(
            self.std, self.compute_dtype
        )

    def get_config(self):
        return {**super().get_config(), "mean": self._init[0], "std": self._init[1]}


@keras.saving.register_keras_serializable("lipnet")
class Augment(layers.Layer):
    """Training-time augmentation on the accelerator, one random draw per clip (all its frames alike).

    - horizontal flip with probability `flip` (the LipNet paper trains on both orientations);
    - frame jitter: each frame, with probability `jitter`, shows its predecessor (a duplicated frame)
      or its successor (a dropped frame), keeping the clip length and so the labels' timing;
    - a random translation of up to `shift` pixels and zoom of up to `zoom` (relative), standing in
      for the crop placement another face or tracker would give;
    - brightness and contrast scaled by up to `brightness` (relative);
    - time masking (Ma et al. 2022): env.TIME_MASKS spans of up to `time_mask` frames each show the clip's mean
      frame, so the network cannot tie a word to one stretch of frames and must use the context around it.

    Flip, shift and zoom are one bilinear resampling (`warp`), done as two small matrix products per
    image: a fraction of the cost of a general affine warp on every backend, on matrix units on GPUs.
    Inactive at inference, so validation and prediction see the frames unchanged.
    """

    def __init__(self, flip=0.5, jitter=0.05, shift=0.0, zoom=0.0, brightness=0.0, time_mask=0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.flip, self.jitter, self.shift, self.zoom, self.brightness = flip, jitter, shift, zoom, brightness
        self.time_mask = time_mask
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, shape, low=0.0, high=1.0):
        return keras.random.uniform(shape, low, high, seed=self.seed_generator)

    def call(self, x, training=False, frame_index=False):
        """The augmented clips; with `frame_index`, also (B, T) int32: the input frame each output frame shows
        (the jitter's mapping; the identity at inference), so per-frame targets can follow the frames."""
        if not training and not frame_index:
            return x
        batch, frames, height, width, channels = (ops.shape(x)[i] for i in range(5))
        index = ops.broadcast_to(ops.arange(frames, dtype="int32")[None, :], (batch, frames))
        if training and self.jitter > 0:
            u = self._uniform((batch, frames))
            offset = ops.where(u < self.jitter / 2, -1, ops.where(u < self.jitter, 1, 0))
            index = ops.clip(index + ops.cast(offset, "int32"), 0, frames - 1)
            rows = index + ops.arange(batch, dtype="int32")[:, None] * frames  # into the batch's frames in a row
            x = ops.reshape(
                ops.take(ops.reshape(x, (-1, height, width, channels)), ops.reshape(rows, (-1,)), axis=0), ops.shape(x)
            )
        if training and self.brightness > 0:  # before the warp, which keeps values and means (and is slower on XLA)
            contrast = 1.0 + self._uniform((batch, 1, 1, 1, 1), -self.brightness, self.brightness)
            brightness = 1.0 + self._uniform((batch, 1, 1, 1, 1), -self.brightness, self.brightness)
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            x = ops.clip((x - mean) * contrast + mean * brightness, 0.0, 255.0)
        if training and (self.flip > 0 or self.shift > 0 or self.zoom > 0):
            x = self.warp(
                x,
                scale=1.0 + self._uniform((batch, 1), -self.zoom, self.zoom),
                dy=self._uniform((batch, 1), -self.shift, self.shift),
                dx=self._uniform((batch, 1), -self.shift, self.shift),
                flipped=self._uniform((batch, 1)) < self.flip,
            )
        if training and self.time_mask > 0:
            x = self.masked(x, batch, frames)
        return (x, index) if frame_index else x

    def masked(self, x, batch, frames):
        """The clips with env.TIME_MASKS random spans of 0..`time_mask` frames each replaced by the clip's mean frame."""
        count = env.TIME_MASKS
        starts = ops.floor(self._uniform((batch, count, 1)) * ops.cast(frames, "float32"))
        lengths = ops.floor(self._uniform((batch, count, 1)) * (self.time_mask + 1))
        t = ops.cast(ops.arange(frames), "float32")[None, None, :]
        hidden = ops.any((t >= starts) & (t < starts + lengths), axis=1)[:, :, None, None, None]  # (B, T, 1, 1, 1)
        mean = ops.mean(ops.cast(x, "float32"), axis=1, keepdims=True)
        return ops.where(hidden, ops.cast(mean, x.dtype), x)

    @staticmethod
    def warp(x, scale, dy, dx, flipped):
        """Zoom each clip (B, T, H, W, C) by `scale` about the image centre, shift it by (`dy`, `dx`) pixels and
        mirror it where `flipped` (all (B, 1)); bilinear, edge pixels extend outwards.

        Output pixel (i, j) shows input point (scale * (i - cy) + cy + dy, scale * (j - cx) + cx + dx) of the
        (flipped) clip, as `keras.ops.image.affine_transform` would; being separable, it is two small matrix
        products per image instead of a gather per pixel.
        """
        height, width = x.shape[2], x.shape[3]
        rows = Augment._source(height, scale, dy)
        cols = Augment._source(width, scale, dx)
        cols = ops.where(flipped, (width - 1) - cols, cols)
        x = ops.transpose(x, (0, 1, 4, 2, 3))  # (B, T, C, H, W): each image a matrix
        across = ops.transpose(Augment._interpolation(cols, width, x.dtype), (0, 2, 1))[:, None, None]
        x = ops.matmul(Augment._interpolation(rows, height, x.dtype)[:, None, None], ops.matmul(x, across))
        return ops.transpose(x, (0, 1, 3, 4, 2))

    @staticmethod
    def _source(size, scale, offset):
        """(B, size): the input coordinate each output pixel takes along one axis."""
        centre = (size - 1) / 2
        return (ops.cast(ops.arange(size), "float32")[None, :] - centre) * scale + centre + offset

    @staticmethod
    def _interpolation(source, size, dtype):
        """(B, size, size) bilinear weights: output pixel i takes input pixel k with weight max(0, 1 - |source_i - k|)."""
        source = ops.clip(source, 0.0, size - 1.0)  # beyond the edge: the edge pixel
        pixels = ops.cast(ops.arange(size), "float32")[None, None, :]
        return ops.cast(ops.relu(1.0 - ops.abs(source[:, :, None] - pixels)), dtype)

    def get_config(self):
        return {
            **super().get_config(),
            **{k: getattr(self, k) for k in ("flip", "jitter", "shift", "zoom", "brightness", "time_mask")},
        }


def build(
    config: ModelConfig | None = None, seed: int | None = None, heads: dict[str, int] | None = None
) -> keras.Model:
    """The LipNet model for `config`; input (B, T, H, W, C) uint8 frames with any T, output logits (B, T, classes).

    With `heads` (name -> classes), the training model with those auxiliary heads: its output is a dict of the
    ``logits`` and, per head, (B, T, classes + 1): the per-frame logits of a Dense layer ``aux_<name>`` on the BiGRU
    features the logits read (learning env.AUX_HEAD_SPEEDUP times faster), then the input frame each output frame
    shows (`Augment`'s jitter), for `frame_loss`.
    Its other layers are the plain model's, created in the same order, so their weights are the reading model's.
    """
    c = config or ModelConfig()
    frames = keras.Input((None, c.height, c.width, c.channels), dtype="uint8", name="frames")
    x = ops.cast(frames, "float32")
    if c.rotate_input:
        x = ops.flip(ops.flip(x, axis=2), axis=3)
    augment = Augment(
        c.flip_probability, c.jitter_probability, c.shift, c.zoom, c.brightness, c.time_mask, seed=seed, name="augment"
    )
    x, shown = augment(x, frame_index=True) if heads else (augment(x), None)
    x = Standardize(c.mean, c.std, name="standardize")(x)
    blocks = zip(c.filters, ((3, 5, 5), (3, 5, 5), (3, 3, 3)), ((1, 2, 2), (1, 1, 1), (1, 1, 1)))
    for i, (filters, kernel, strides) in enumerate(blocks, 1):
        x = layers.ZeroPadding3D(tuple(k // 2 for k in kernel), name=f"pad{i}")(x)
        x = layers.Conv3D(filters, kernel, strides=strides, kernel_initializer="he_normal", name=f"conv{i}")(x)
        if c.batch_norm:
            x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.Activation("relu", name=f"relu{i}")(x)
        x = layers.MaxPooling3D((1, 2, 2), name=f"pool{i}")(x)
        x = layers.SpatialDropout3D(c.dropout, name=f"dropout{i}")(x)
    features = x.shape[2] * x.shape[3] * x.shape[4]
    x = layers.Reshape((-1, features), name="flatten")(x)
    for i in (1, 2):
        gru = layers.GRU(c.gru_units, return_sequences=True, kernel_initializer="orthogonal", name=f"gru{i}")
        x = layers.Bidirectional(gru, merge_mode="concat", name=f"bigru{i}")(x)
        x = layers.Dropout(c.gru_dropout, name=f"gru_dropout{i}")(x)
    logits = layers.Dense(c.num_classes, dtype="float32", name="logits")(x)
    if not heads:
        return keras.Model(frames, logits, name="lipnet")
    outputs = {"logits": logits}
    for name, classes in heads.items():
        # from zero: uniform at first, so no gradient reaches the trunk through a head that has learnt nothing yet;
        # its logits scaled up so that under Adam it takes steps env.AUX_HEAD_SPEEDUP times larger than the trunk's
        head = layers.Dense(classes, kernel_initializer="zeros", dtype="float32", name=f"{HEAD_PREFIX}{name}")(x)
        head = head * env.AUX_HEAD_SPEEDUP
        outputs[name] = ops.concatenate([head, ops.cast(shown, "float32")[..., None]], axis=-1)
    return keras.Model(frames, outputs, name="lipnet_aux")


def upright(model: keras.Model, config: ModelConfig) -> tuple[keras.Model, ModelConfig]:
    """The same network reading upright crops, from one built with `rotate_input` (trained on crops turned 180°).

    Turning the input is the same as turning every convolution kernel and every feature map: the kernels are turned
    in place, and the first BiGRU's input weights are permuted to read the last feature map turned back. Strided
    convolutions and pooling on even sizes are only equivariant up to a pixel, so the result reads nearly, not
    exactly, as the original (held-out s1, 40 clips, grammar: WER 15.8% -> 17.1%); fine-tuning closes the gap.
    """
    config = ModelConfig.from_dict({**asdict(config), "rotate_input": False})
    turned = build(config)
    height, width = _feature_map(turned)
    for new, old in zip(turned.weights, model.weights):
        value = np.asarray(ops.convert_to_numpy(old))
        if new.path.startswith("conv") and new.path.endswith("kernel"):
            value = value[:, ::-1, ::-1]  # (depth, height, width, in, out)
        elif new.path.startswith("bigru1/") and new.path.endswith("gru_cell/kernel"):
            value = value.reshape(height, width, -1, value.shape[-1])[::-1, ::-1].reshape(value.shape)
        new.assign(value)
    return turned, config


def _feature_map(model: keras.Model) -> tuple[int, int]:
    """Height and width of the last convolution block's output, which the BiGRU reads flattened."""
    shape = model.get_layer("flatten").input.shape
    return shape[2], shape[3]


@keras.saving.register_keras_serializable(package="lipnet")  # a run's last.keras (the recogniser's) names it
def ctc_loss(y_true, y_pred):
    """Keras 3 CTC (blank 0, logits) per clip; non-finite losses become 0 so one bad batch cannot poison training.

    `y_true` is (B, L) int labels padded with 0 (the blank never occurs inside a label).
    """
    loss = keras.losses.ctc(y_true, ops.cast(y_pred, "float32"))
    return ops.where(ops.isfinite(loss), loss, ops.zeros_like(loss))


def frame_loss(y_true, y_pred):
    """Cross-entropy of an auxiliary head's per-frame logits against per-frame target distributions, summed over
    the clip's frames as CTC's loss is, so a head's weight compares per-frame signals.

    `y_true` is (B, T, classes) (one-hot, or soft); `y_pred` is a head output of `build`, whose last channel is the
    input frame each output frame shows: frame t is scored against that frame's target, so targets follow the jitter.
    """
    shown = ops.cast(y_pred[..., -1], "int32")[..., None]
    target = ops.take_along_axis(ops.cast(y_true, "float32"), ops.broadcast_to(shown, ops.shape(y_true)), axis=1)
    return ops.sum(keras.losses.categorical_crossentropy(target, y_pred[..., :-1], from_logits=True), axis=-1)


def head_weights(model: keras.Model) -> tuple[list, list]:
    """(the reading model's weights, the auxiliary heads' weights) of a model `build` made, each in model order."""
    weights = [(w.path.startswith(HEAD_PREFIX), w) for w in model.weights]
    return [w for aux, w in weights if not aux], [w for aux, w in weights if aux]


def save(path: str | Path, model: keras.Model, config: ModelConfig, optimizer=None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically: config + weights (+ optimizer state, + extra JSON such as the epoch).

    The weights of auxiliary heads, if `model` has any, go in a group of their own (``aux``), which reading ignores.
    """
    weights, aux = head_weights(model)

    def write(f):
        with h5py.File(f, "w") as h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["config"] = json.dumps(asdict(config))
            h5.attrs["extra"] = json.dumps(extra or {})
            _write_variables(h5.create_group("weights"), weights)
            if aux:
                _write_variables(h5.create_group("aux"), aux)
            if optimizer is not None:
                _write_variables(h5.create_group("optimizer"), optimizer.variables)

    return atomic_write(path, write)


def update_extra(path: str | Path, extra: dict) -> Path:
    """Rewrite a checkpoint's extra fields (a calibration, its frame heads...), atomically; the weights stay."""
    read_config(path)  # a lipnet checkpoint, or a one-line error

    def write(f):
        with h5py.File(path, "r") as source, h5py.File(f, "w") as h5:
            for name, value in source.attrs.items():
                h5.attrs[name] = value
            h5.attrs["extra"] = json.dumps(extra)
            for name in source:
                source.copy(source[name], h5, name)

    return atomic_write(path, write)


def read_config(path: str | Path) -> tuple[ModelConfig, dict]:
    """The model configuration and extra fields of a checkpoint, without building the model."""
    with _open(path) as h5:
        try:
            return ModelConfig.from_dict(json.loads(h5.attrs["config"])), json.loads(h5.attrs.get("extra", "{}"))
        except (KeyError, ValueError, TypeError) as err:
            raise LipnetError(f"{path}: damaged lipnet checkpoint (configuration unreadable: {err})") from None


def fingerprint(path: str | Path) -> str:
    """SHA-1 of what a checkpoint computes: its configuration and weights, frame heads included, not its extra fields
    (a confidence calibration, the epoch), so a model that learnt this reader's outputs stays tied to it when those
    change. LipnetError naming the file when it is not a lipnet checkpoint."""
    digest = hashlib.sha1(str(read_config(path)[0]).encode())

    def add(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(item[()]).tobytes())

    with _open(path) as h5:
        for group in ("weights", "aux"):
            if group in h5:
                h5[group].visititems(add)
    return digest.hexdigest()


def load(
    path: str | Path, optimizer=None, seed: int | None = None, heads: dict[str, int] | None = None
) -> tuple[keras.Model, ModelConfig, dict]:
    """Build the model a checkpoint describes and load its weights (and optimizer state, if given one); with
    `heads`, the training model with those auxiliary heads (`build`), whose weights the checkpoint must hold.

    Raises LipnetError naming the file when it is not a lipnet checkpoint or does not match the architecture.
    """
    config, extra = read_config(path)
    model = build(config, seed=seed, heads=heads)
    weights, aux = head_weights(model)
    with _open(path) as h5:
        try:
            _read_variables(path, h5["weights"], weights)
            if aux:
                _read_variables(path, h5["aux"], aux)
            if optimizer is not None and "optimizer" in h5:
                optimizer.build(model.trainable_variables)
                _read_variables(path, h5["optimizer"], optimizer.variables)
        except (KeyError, ValueError, TypeError, OSError) as err:
            raise LipnetError(f"{path}: damaged lipnet checkpoint ({err})") from None
    return model, config, extra


def _open(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise LipnetError(f"{path}: no such weights file")
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        raise LipnetError(f"{path}: not an HDF5 weights file (corrupt or another format)") from None
    if h5.attrs.get("format") != FORMAT:
        h5.close()
        raise LipnetError(
            f"{path}: not a lipnet checkpoint (Keras 2 or other LipNet weights are not supported; retrain with train.py)"
        )
    return h5


def _write_variables(group: h5py.Group, variables) -> None:
    for i, v in enumerate(variables):
        dataset = group.create_dataset(f"{i:04d}", data=np.asarray(ops.convert_to_numpy(v)))
        dataset.attrs["path"] = v.path


def _read_variables(path, group: h5py.Group, variables) -> None:
    if len(group) != len(variables):
        raise LipnetError(
            f"{path}: holds {len(group)} {group.name[1:]} arrays, the model has {len(variables)}: architecture mismatch"
        )
    for i, v in enumerate(variables):
        value = group[f"{i:04d}"][()]
        if tuple(value.shape) != tuple(v.shape):
            raise LipnetError(
                f"{path}: {group[f'{i:04d}'].attrs['path']} has shape {value.shape}, the model expects {tuple(v.shape)}"
            )
        v.assign(np.asarray(value, dtype=v.dtype))

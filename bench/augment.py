"""Cost of the training augmentation (flip, frame jitter, shift/zoom, brightness) on the installed backends.

    python bench/augment.py -d data --batch-size 32

Times `lipnet.lipreading.model.Augment` (one bilinear warp as two matrix products per image, jitter as one gather)
against the baseline it replaced in the same run: Keras' general `ops.image.affine_transform` per frame,
`take_along_axis` jitter and a separate flip. Each is compiled (tf.function / jax.jit; torch eager) and
timed after a warm-up call. Run it once per backend: KERAS_BACKEND=jax python bench/augment.py ...
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from lipnet import env  # noqa: E402
from lipnet.lipreading import dataset  # noqa: E402
from lipnet.lipreading.model import Augment  # noqa: E402


class Baseline(Augment):
    """The augmentation as first written: flip by select, jitter by take_along_axis, affine_transform per frame."""

    def call(self, x, training=False):
        batch, frames, height, width, channels = (ops.shape(x)[i] for i in range(5))
        x = ops.where(self._uniform((batch, 1, 1, 1, 1)) < self.flip, ops.flip(x, axis=3), x)
        u = self._uniform((batch, frames))
        offset = ops.where(u < self.jitter / 2, -1, ops.where(u < self.jitter, 1, 0))
        index = ops.clip(ops.arange(frames, dtype="int32")[None, :] + ops.cast(offset, "int32"), 0, frames - 1)
        x = ops.take_along_axis(x, ops.reshape(index, (batch, frames, 1, 1, 1)), axis=1)
        scale = 1.0 + self._uniform((batch, 1), -self.zoom, self.zoom)
        dx = self._uniform((batch, 1), -self.shift, self.shift)
        dy = self._uniform((batch, 1), -self.shift, self.shift)
        cx, cy, zero = (width - 1) / 2, (height - 1) / 2, ops.zeros_like(scale)
        row = [scale, zero, cx * (1 - scale) + dx, zero, scale, cy * (1 - scale) + dy, zero, zero]
        transform = ops.reshape(ops.tile(ops.concatenate(row, axis=1)[:, None], (1, frames, 1)), (-1, 8))
        flat = ops.image.affine_transform(ops.reshape(x, (-1, height, width, channels)), transform, fill_mode="nearest")
        x = ops.reshape(flat, (batch, frames, height, width, channels))
        contrast = 1.0 + self._uniform((batch, 1, 1, 1, 1), -self.brightness, self.brightness)
        brightness = 1.0 + self._uniform((batch, 1, 1, 1, 1), -self.brightness, self.brightness)
        mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
        return ops.clip((x - mean) * contrast + mean * brightness, 0.0, 255.0)


def compiled(layer):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: layer(x, training=True))
    if backend == "jax":
        import jax

        return jax.jit(lambda x: layer(x, training=True))
    return lambda x: layer(x, training=True)


def seconds_per_batch(layer, x, repeats: int) -> float:
    run = compiled(layer)
    ops.convert_to_numpy(run(x))  # compile and warm up
    started = time.perf_counter()
    for _ in range(repeats):
        y = run(x)
    ops.convert_to_numpy(y)
    return (time.perf_counter() - started) / repeats


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-d", "--data", default="data", help="extracted crops (random frames if absent)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    if Path(args.data).is_dir():
        samples = dataset.discover(args.data)[: args.batch_size]
        clips = np.stack([np.asarray(dataset.load_clip(s.crops)) for s in samples])
    else:
        clips = np.random.default_rng(0).integers(0, 256, (args.batch_size, 75, 50, 100, 3), dtype=np.uint8)
    x = ops.convert_to_tensor(clips.astype("float32"))
    settings = dict(
        flip=env.FLIP_PROBABILITY,
        jitter=env.JITTER_PROBABILITY,
        shift=env.AUGMENT_SHIFT,
        zoom=env.AUGMENT_ZOOM,
        brightness=env.AUGMENT_BRIGHTNESS,
        seed=0,
    )
    base = seconds_per_batch(Baseline(**settings), x, args.repeats)
    now = seconds_per_batch(Augment(**settings), x, args.repeats)
    print(f"backend {keras.backend.backend()}, batch of {len(clips)} clips")
    print("| augmentation | s per batch | clips/s | speed-up |\n|---|---|---|---|")
    print(f"| baseline (affine_transform) | {base:.3f} | {len(clips) / base:.0f} | 1.00x |")
    print(f"| lipnet (separable warp) | {now:.3f} | {len(clips) / now:.0f} | {base / now:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

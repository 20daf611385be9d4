"""Training throughput (clips/s) with the real input pipeline, per precision and batch size, and per Keras backend.

    python bench/train.py -d data --batch-sizes 32 128 --precisions float32 mixed_bfloat16
    python bench/train.py -d data --backends tensorflow jax torch   # the same run on each backend

The first configuration is the baseline; the others are quoted as ratios to it. Also measures the
input pipeline alone (batches assembled per second by one worker thread), which must outrun the model.
With ``--backends``, each backend runs the same timing in a process of its own (Keras picks its backend once, when
imported; TensorFlow with oneDNN on), and one table compares them.
"""

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from lipnet.lipreading import dataset  # noqa: E402
from lipnet.lipreading import model as lipnet_model  # noqa: E402


def pipeline_rate(samples, batch_size: int, batches: int) -> float:
    """Clips per second one thread assembles into batches (memory-mapped .npy -> uint8 arrays)."""
    data = dataset.Batches(samples, batch_size, shuffle=True)
    started = time.perf_counter()
    n = min(batches, len(data))
    for i in range(n):
        data[i]
    return n * batch_size / (time.perf_counter() - started)


def train_rate(samples, batch_size: int, precision: str, epochs: int, model_overrides: dict) -> float:
    """Clips per second of model.fit after one warm-up epoch (compilation excluded)."""
    keras.config.set_dtype_policy(precision)
    model = lipnet_model.build(lipnet_model.ModelConfig.from_dict(model_overrides), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=lipnet_model.ctc_loss)
    data = dataset.Batches(samples, batch_size, shuffle=True, workers=8)
    model.fit(data, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(data, epochs=epochs, verbose=0)
    return len(data) * batch_size * epochs / (time.perf_counter() - started)


def per_backend(args: argparse.Namespace) -> int:
    """Run this benchmark on each of `args.backends` in a fresh process and print one table of their clips/s."""
    argv = [
        "-d",
        args.data,
        "--epochs",
        str(args.epochs),
        "--clips",
        str(args.clips),
        "--model",
        json.dumps(args.model),
    ]
    argv += ["--batch-sizes", *map(str, args.batch_sizes), "--precisions", *args.precisions, "--json"]
    print("| backend | precision | batch | clips/s | vs first |\n|---|---|---|---|---|", flush=True)
    first = None
    for backend in args.backends:
        variables = {**os.environ, "KERAS_BACKEND": backend, "TF_ENABLE_ONEDNN_OPTS": "1"}
        result = subprocess.run([sys.executable, __file__, *argv], env=variables, capture_output=True, text=True)
        if result.returncode:
            print(f"| {backend} | failed: {(result.stderr.strip().splitlines() or ['?'])[-1]} | | | |", flush=True)
            continue
        for row in json.loads(result.stdout.strip().splitlines()[-1]):
            first = first or row["clips_per_s"]
            print(
                f"| {backend} | {row['precision']} | {row['batch']} | {row['clips_per_s']:.3g} | "
                f"{row['clips_per_s'] / first:.2f}x |",
                flush=True,
            )
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-d", "--data", default="data", help="extracted crops")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    p.add_argument("--precisions", nargs="+", default=["float32"], help="float32, mixed_bfloat16, mixed_float16")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per configuration")
    p.add_argument("--clips", type=int, default=0, help="use only this many clips (0: all)")
    p.add_argument("--model", type=json.loads, default={}, help="ModelConfig overrides as JSON")
    p.add_argument("--backends", nargs="+", choices=("tensorflow", "jax", "torch"), help="time each, in turn")
    p.add_argument("--json", action="store_true", help="end with the rows as one line of JSON")
    args = p.parse_args()
    if args.backends:
        return per_backend(args)
    samples = dataset.discover(args.data)
    if args.clips:
        samples = samples[: args.clips]
    print(f"backend {keras.backend.backend()}, {len(samples)} clips")
    print(f"input pipeline: {pipeline_rate(samples, max(args.batch_sizes), 8):.0f} clips/s per worker thread")
    baseline, rows = None, []
    print("| precision | batch | clips/s | vs baseline |\n|---|---|---|---|")
    for precision in args.precisions:
        for batch_size in args.batch_sizes:
            rate = train_rate(samples, batch_size, precision, args.epochs, args.model)
            baseline = baseline or rate
            rows.append({"precision": precision, "batch": batch_size, "clips_per_s": rate})
            print(f"| {precision} | {batch_size} | {rate:.3g} | {rate / baseline:.2f}x |", flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prediction latency on one 3 s GRID clip: warm (LipReader reused) and cold (the predict.py command).

The lips alone (``--modality video``, what the command reads of a clip without sound), then the voice alone and both
together (`AudioVisualReader`, the same lip reader inside).

    python bench/predict.py [-v samples/lgil7a.mp4] [--runs 10]

Warm time is broken down into mouth extraction, the network and each decoder. The baseline in the
same run is the network called eagerly (``model(x)``), which is how Keras code often runs inference.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from lipnet import cli  # noqa: E402

cli.start()

from lipnet import audio, env, grid, video  # noqa: E402
from lipnet.lipreading import decoding  # noqa: E402
from lipnet.lipreading.reader import LipReader  # noqa: E402
from lipnet.recognition.recognizer import AudioVisualReader  # noqa: E402
from lipnet.speech import align, lipsync  # noqa: E402


def median_seconds(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-v", "--video", default=str(ROOT / "samples" / "lgil7a.mp4"))
    p.add_argument("-w", "--weights", default=str(env.DEFAULT_WEIGHTS))
    p.add_argument("--runs", type=int, default=10)
    args = p.parse_args()

    reader = LipReader(args.weights)
    reading = reader.read(args.video)  # warm-up: loads dlib, traces the model
    both = AudioVisualReader(reader)
    both.read(args.video, modality="av")  # warm-up: loads and traces the recogniser
    crops, probs = reading.track.crops, reading.probs
    samples = audio.load(args.video)
    frames = list(video.frames(args.video))[: env.FRAME_COUNT]  # one live window's pictures
    voice = both.voice(samples, len(probs))
    rows = {
        "mouth extraction": median_seconds(lambda: reader.extractor.extract(args.video, frames=None), args.runs),
        "network (compiled)": median_seconds(lambda: reader.probabilities(crops), args.runs),
        "network (eager, baseline)": median_seconds(lambda: reader.model(crops[None], training=False), args.runs),
        "greedy decoding": median_seconds(lambda: decoding.greedy(probs), args.runs),
        "beam decoding": median_seconds(lambda: decoding.beam_search(probs), args.runs),
        "grammar decoding": median_seconds(lambda: decoding.grammar(probs), args.runs),
        "word alignment, CTC (the old timings)": median_seconds(
            lambda: decoding.word_spans(probs, reading.text), args.runs
        ),
        "word confidences (grammar slots)": median_seconds(
            lambda: decoding.word_confidences(probs, reading.text, grid.GRAMMAR), args.runs
        ),
        "words timed on the sound (forced alignment)": median_seconds(
            lambda: lipsync.timeline(samples, reader.teacher, reading.text), args.runs
        ),
        "words timed on the lips (phone head)": median_seconds(
            lambda: align.guided(reading.phones, reading.text, env.FPS), args.runs
        ),
        "cut-short check (last 2 s decoded again)": median_seconds(lambda: video.cut_short(args.video), args.runs),
        "read(), end to end": median_seconds(lambda: reader.read(args.video), args.runs),
        "read(), words timed on the lips": median_seconds(lambda: reader.read(args.video, timing="video"), args.runs),
        "the voice through the listening warps (audio head's characters, lip-sync model's phones)": median_seconds(
            lambda: both.voice(samples, len(probs)), args.runs
        ),
        "lips, voice and phones read together (late fusion, confidences)": median_seconds(
            lambda: both.both(probs, voice, "grammar"), args.runs
        ),
        "read(), --modality av": median_seconds(lambda: both.read(args.video, modality="av"), args.runs),
        "read(), --modality audio": median_seconds(lambda: both.read(args.video, modality="audio"), args.runs),
        "a live window (3 s of frames in memory), the lips": median_seconds(
            lambda: list(reader.stream(iter(frames))), args.runs
        ),
        "a live window, the lips and the voice": median_seconds(
            lambda: list(both.stream(iter(frames), lambda first, count: samples)), args.runs
        ),
    }
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, str(ROOT / "predict.py"), "-v", args.video, "-o", out, "--output-format", "txt"]
        cold = median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), max(2, args.runs // 4))
    print(f"clip {args.video}: {len(probs)} frames ({len(probs) / env.FPS:.1f} s), read as {reading.text!r}")
    print("| step | median ms |\n|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds * 1000:.1f} |")
    print(f"| predict.py command, cold | {cold * 1000:.0f} |")
    ratio = rows["network (eager, baseline)"] / rows["network (compiled)"]
    print(f"compiled network vs eager baseline: {ratio:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())

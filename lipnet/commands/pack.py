"""Pack extracted crops into one small H.264 video (and back), to move a dataset through a narrow pipe.

``python preprocessing/pack.py pack data/s1 -o pack/``  -> ``pack/crops.mp4`` + ``pack/index.json``
``python preprocessing/pack.py unpack pack/ -o data/s1`` -> ``data/s1/*.npy`` again

745 GRID clips (840 MB of uint8 crops) pack into a few tens of MB at CRF 16 in 4:4:4 colour; the
round-trip error is a couple of grey levels, well under the camera noise of the source videos.
Packing needs the ``ffmpeg`` program; unpacking only needs OpenCV.
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from lipnet import env
from lipnet.storage import atomic_write, atomic_write_text


def pack(data_dir: Path, out_dir: Path, crf: int = 16) -> Path:
    """Encode every ``.npy`` under `data_dir` into ``out_dir/crops.mp4`` with an index of clip names and lengths."""
    if shutil.which("ffmpeg") is None:
        raise SystemExit("error: packing needs ffmpeg (apt-get install ffmpeg)")
    files = sorted(data_dir.rglob("*.npy"))
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "crops.mp4"
    size = f"{env.IMAGE_WIDTH}x{env.IMAGE_HEIGHT}"
    partial = out_dir / ".crops.mp4.tmp.mp4"  # renamed into place only when complete
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size]
    command += ["-r", str(env.FPS), "-i", "-", "-c:v", "libx264", "-preset", "slow", "-crf", str(crf)]
    command += ["-pix_fmt", "yuv444p", str(partial)]  # 4:4:4 keeps the lips' colour at full resolution
    index = []
    try:
        with subprocess.Popen(command, stdin=subprocess.PIPE) as ffmpeg:
            for f in files:
                clip = np.load(f, allow_pickle=False)
                if clip.shape[1:] != (env.IMAGE_HEIGHT, env.IMAGE_WIDTH, 3) or clip.dtype != np.uint8:
                    raise SystemExit(f"error: {f}: not a crop array (shape {clip.shape}, {clip.dtype})")
                ffmpeg.stdin.write(np.ascontiguousarray(clip).tobytes())
                index.append({"path": str(f.relative_to(data_dir)), "frames": len(clip)})
            ffmpeg.stdin.close()
        if ffmpeg.returncode:
            raise SystemExit(f"error: ffmpeg failed with exit code {ffmpeg.returncode}")
        partial.replace(video)
    finally:
        partial.unlink(missing_ok=True)
    atomic_write_text(out_dir / "index.json", json.dumps(index))
    return video


def unpack(pack_dir: Path, out_dir: Path) -> int:
    """Decode ``pack_dir/crops.mp4`` back into ``.npy`` files under `out_dir`; returns the clip count."""
    index = json.loads((pack_dir / "index.json").read_text())
    capture = cv2.VideoCapture(str(pack_dir / "crops.mp4"))
    for entry in index:
        frames = []
        for _ in range(entry["frames"]):
            ok, frame = capture.read()
            if not ok:
                raise SystemExit(f"error: {pack_dir / 'crops.mp4'}: ends before {entry['path']}")
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        clip = np.stack(frames)
        atomic_write(out_dir / entry["path"], lambda f: np.save(f, clip, allow_pickle=False))  # noqa: B023
    return len(index)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("pack", "unpack"))
    p.add_argument("source", type=Path, help="crop directory (pack) or pack directory (unpack)")
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--crf", type=int, default=16, help="x264 quality (lower is better and larger)")
    args = p.parse_args(argv)
    if args.action == "pack":
        video = pack(args.source, args.output, args.crf)
        print(f"packed into {video} ({video.stat().st_size / 2**20:.1f} MiB)")
    else:
        print(f"unpacked {unpack(args.source, args.output)} clips into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The web app's targets (issue #26): how long ``lipnet app`` takes to answer on loopback, and a warm ``/read`` of a
3 s clip against the command line's warm read of the same clip, measured in the same run.

    .venv/bin/python bench/app.py                      # the figures
    .venv/bin/python bench/app.py --screenshot docs/app.png   # and the README's picture of the page, after a read

The app runs as a user starts it (the venv's ``lipnet app``, a process of its own) and is called through
`gradio_client`; the command line's time is `lipnet.commands.read.predict` (what ``lipnet read CLIP`` runs for a
clip: the reading and its files) with its reader warm, in this process, once the app has stopped. ``/read`` does what
``lipnet read`` does; ``/read`` then ``/annotate`` (what the page runs) is timed against ``lipnet read --annotate``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "samples" / "lgil7a.mp4"  # 3 s, GRID s1, held out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answering(url: str, timeout: float) -> float:
    """Seconds until `url` answers 200, polled every 0.1 s."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def app_reads(url: str, repeats: int) -> tuple[float, list[float], list[float], str]:
    """The first /read of CLIP through gradio_client (cold: the models load), then the warm /read times and the
    warm /read + /annotate times (the annotated video, which the page asks for next), and the text read."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="lipnet-bench-"))
    start = time.perf_counter()
    text = client.predict(handle_file(str(CLIP)), "ovr", api_name="/read")[0]
    cold = time.perf_counter() - start
    client.predict(api_name="/annotate")
    reads, annotated = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        client.predict(handle_file(str(CLIP)), "ovr", api_name="/read")
        reads.append(time.perf_counter() - start)
        client.predict(api_name="/annotate")
        annotated.append(time.perf_counter() - start)
    return cold, reads, annotated, text


def cli_reads(repeats: int, annotate: bool) -> list[float]:
    """Warm times of the command line's read of CLIP (`read.predict`, its reader loaded and used once first)."""
    from lipnet import cli

    cli.start()
    from lipnet.commands import read
    from lipnet.lipreading.reader import LipReader

    out = tempfile.mkdtemp(prefix="lipnet-bench-")
    args = read.parse_args([str(CLIP), "-o", out, *(["--annotate", f"{out}/a.mp4"] if annotate else [])])
    reader = LipReader()
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            read.predict(reader, CLIP, Path(CLIP.stem), args, single=True)
        times.append(time.perf_counter() - start)
    return times[1:]


def screenshot(url: str, path: Path) -> None:
    """The page after reading CLIP in headless chromium, as a PNG of at most 256 colours (small enough for git)."""
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]")).send_keys(str(CLIP))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "video"))
        driver.find_element(By.XPATH, "//button[normalize-space()='Read']").click()
        box = driver.find_element(By.CSS_SELECTOR, "#transcript textarea")
        wait.until(lambda d: box.get_attribute("value"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "video")) > 1)  # the annotated video too
        time.sleep(1)  # its first picture
        raw = path.with_suffix(".raw.png")
        driver.save_screenshot(str(raw))
    finally:
        driver.quit()
    Image.open(raw).convert("RGB").quantize(256).save(path, optimize=True)
    raw.unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="warm reads of each kind (default: %(default)s)")
    p.add_argument("--screenshot", type=Path, help="also save the page after a read to this PNG")
    args = p.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [str(Path(sys.executable).parent / "lipnet"), "app", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    try:
        started = answering(url, 120)
        cold, warm, warm_annotated, text = app_reads(url, args.repeats)
        if args.screenshot:
            screenshot(url, args.screenshot)
    finally:
        server.terminate()
        server.wait(30)
    cli, cli_annotated = cli_reads(args.repeats, annotate=False), cli_reads(args.repeats, annotate=True)
    app_warm, cli_warm = statistics.median(warm), statistics.median(cli)
    both, cli_both = statistics.median(warm_annotated), statistics.median(cli_annotated)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    print(f"lipnet app answers on loopback after {started:.1f} s")
    print(f"/read {CLIP.name}: {text!r}; first {cold:.2f} s (models load), warm median {app_warm:.2f} s")
    print(f"lipnet read {CLIP.name}: warm median {cli_warm:.2f} s")
    print(f"warm /read over the command line's warm read: {app_warm / cli_warm:.2f}x (target <= 2x)")
    print(
        f"/read then /annotate: warm median {both:.2f} s; lipnet read --annotate {cli_both:.2f} s: {both / cli_both:.2f}x"
    )


if __name__ == "__main__":
    main()

"""The web app (`lipnet app`) served for real on a free loopback port, once for the module, and called as a user's
program calls it (`gradio_client`) and as a person does (headless Debian chromium driven by Selenium)."""

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import pytest
from conftest import ROOT

gradio_client = pytest.importorskip("gradio_client", reason="the web app needs gradio (requirements.txt)")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from lipnet import grid, video  # noqa: E402

SAMPLES = ROOT / "samples"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def sentence(clip: str) -> str:
    """What a bundled sample says, from the .align file beside it."""
    return " ".join(w.text for w in grid.read_align(SAMPLES / f"{clip}.align"))


def streams(path: str | Path) -> set[str]:
    """The kinds of stream a media file holds: {"video", "audio"} for a clip with its sound."""
    with av.open(str(path)) as container:
        return {s.type for s in container.streams}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`lipnet app` on a free loopback port, a process of its own for this module (its models load once, on their
    first request); stopped with a kill, after which it has exited cleanly and removed every file it kept."""
    temp = tmp_path_factory.mktemp("temp")  # its temporary folder goes here: the test sees it go
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "lipnet", "app", "--port", str(port)]
    app = subprocess.Popen(command, env={**os.environ, "TMPDIR": str(temp)}, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert app.stdout.readline() == f"lipnet app: {url[:-1]} (Ctrl-C stops it)\n"
        assert urllib.request.urlopen(url, timeout=10).status == 200
        assert [p.name for p in temp.glob("lipnet-app-*")], "no temporary folder of its own"
        yield url
    finally:
        app.terminate()
        code = app.wait(60)
    assert code == 0
    assert not list(temp.iterdir()), "uploads or outputs left behind"


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def still(tmp_path_factory) -> Path:
    """A still photo of a face: a sample's first frame as a PNG."""
    path = tmp_path_factory.mktemp("still") / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(next(video.frames(SAMPLES / "lgil7a.mp4")), cv2.COLOR_RGB2BGR))
    return path


def test_read_gives_a_held_out_clips_transcript_timings_files_and_then_the_annotated_video(client):
    text, confidence, summary, words, files = client.predict(
        handle_file(str(SAMPLES / "lgil7a.mp4")), "rhubarb", "video", api_name="/read"
    )
    assert text == sentence("lgil7a")  # s1 held out: never trained on
    assert "CER 0.0%" in summary and "read from the lips with" in summary  # the GRID file name gives the reference
    assert confidence is None or 0 <= confidence <= 1
    assert {"lgil7a.txt", "lgil7a.srt", "lgil7a.json", "lgil7a.rhubarb.tsv"} <= {Path(f).name for f in files}
    assert Path(next(f for f in files if f.endswith(".txt"))).read_text().strip() == text
    header, *rows = [line.split("\t") for line in Path(next(f for f in files if Path(f).name == "lgil7a.tsv")).open()]
    assert words["headers"] == [h.strip() for h in header]  # the table is the word file
    assert [r[words["headers"].index("word")] for r in words["data"]] == text.split()
    start, end = words["headers"].index("start_s"), words["headers"].index("end_s")
    assert [[r[start], r[end]] for r in words["data"]] == [[float(r[start]), float(r[end])] for r in rows]
    assert all(0 <= r[start] < r[end] <= 3.0 for r in words["data"])
    annotated, files = client.predict(api_name="/annotate")  # the session's last reading
    assert streams(annotated) == {"video", "audio"}
    assert "lgil7a.annotated.mp4" in {Path(f).name for f in files}


def test_bad_uploads_are_answered_with_a_message_and_the_server_keeps_serving(client, still, tmp_path):
    with pytest.raises(AppError, match=r"^face\.png: a still image, not a video$"):
        client.predict(handle_file(str(still)), "ovr", api_name="/read")
    sound = tmp_path / "speech.wav"
    with wave.open(str(sound), "wb") as wav:  # a second of 16-bit mono silence
        wav.setparams((1, 2, 16000, 0, "NONE", "not compressed"))
        wav.writeframes(bytes(32000))
    with pytest.raises(AppError, match=r"^speech\.wav: sound only, not a video$"):
        client.predict(handle_file(str(sound)), "ovr", api_name="/read")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(AppError, match="empty"):
        client.predict(handle_file(str(empty)), "ovr", api_name="/read")
    silent = video.write(tmp_path / "silent.mp4", video.frames(SAMPLES / "sbbn6n.mp4"), 25)  # the picture alone
    with pytest.raises(AppError, match=r"^silent\.mp4: no audio track$"):
        client.predict(handle_file(str(silent)), api_name="/sync")
    text, _, summary, *_ = client.predict(handle_file(str(SAMPLES / "sbbn6n.mp4")), "ovr", api_name="/read")
    assert text == sentence("sbbn6n") and "from the lips and the voice" in summary  # auto: the clip has sound


def test_two_requests_at_once_are_both_answered(client):
    clips = ("pwbq6p", "sbbn6n")
    jobs = [client.submit(handle_file(str(SAMPLES / f"{c}.mp4")), "ovr", api_name="/read") for c in clips]
    with ThreadPoolExecutor(2) as pool:
        texts = list(pool.map(lambda job: job.result(timeout=120)[0], jobs))
    assert texts == [sentence(c) for c in clips]


def test_lipsync_gives_cue_files_a_strip_and_the_mouth_with_sound(client):
    line, strip, mouth, files = client.predict(
        handle_file(str(SAMPLES / "pwbq6p.mp4")), None, "", "rhubarb", api_name="/lipsync"
    )
    assert line.startswith("pwbq6p.mp4: ") and "mouth cues, recognised" in line
    names = {Path(f).name for f in files}
    assert {"pwbq6p.rhubarb.tsv", "pwbq6p.rhubarb.json", "pwbq6p.visemes.tsv", "pwbq6p.dat"} <= names
    cues = Path(next(f for f in files if f.endswith(".rhubarb.tsv"))).read_text().split("\n")
    assert len(cues) > 5
    assert cv2.imread(strip).shape[1] > 300
    assert streams(mouth) == {"video", "audio"}


def test_sync_finds_a_shifted_clip_and_gives_it_back_in_sync(client, tmp_path):
    from lipnet import remux

    shifted = remux.shift_audio(SAMPLES / "lgil7a.mp4", tmp_path / "late.mp4", 6)  # the sound 240 ms late
    summary, windows, curve, fixed = client.predict(handle_file(str(shifted)), api_name="/sync")
    assert abs(windows["data"][0][2] - 6) <= 1, summary
    assert "wrote late.fixed.mp4" in summary and streams(fixed) == {"video", "audio"}
    assert cv2.imread(curve) is not None
    summary, windows, _, fixed = client.predict(handle_file(str(SAMPLES / "lgil7a.mp4")), api_name="/sync")
    assert abs(windows["data"][0][2]) <= 1 and windows["data"][0][5] == "in sync" and fixed is None


def test_animate_makes_a_photo_talk(client, still):
    line, rendered, files = client.predict(
        handle_file(str(SAMPLES / "pwbq6p.mp4")), None, handle_file(str(still)), api_name="/animate"
    )
    assert "75 frames at 25 fps" in line
    assert streams(rendered) == {"video", "audio"}
    with av.open(rendered) as container:
        assert container.streams.video[0].height == cv2.imread(str(still)).shape[0]  # the photo's own size
    assert {Path(f).name for f in files} >= {"pwbq6p.anim.json", "pwbq6p.anim.csv"}


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (apt)")
def test_a_person_uploads_a_clip_in_the_browser_and_sees_the_transcript(server):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 90)
        upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]"))
        upload.send_keys(str(SAMPLES / "pwbq6p.mp4"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "video"))  # the upload is shown
        driver.find_element(By.XPATH, "//button[normalize-space()='Read']").click()
        box = driver.find_element(By.CSS_SELECTOR, "#transcript textarea")
        text = wait.until(lambda d: box.get_attribute("value"))
        assert text == sentence("pwbq6p")
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith((server, "data:", "blob:")) for url in loaded), loaded  # offline
    finally:
        driver.quit()

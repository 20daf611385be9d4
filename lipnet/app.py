"""The local web app (``lipnet app``): one page, a tab per job, for people who would rather drop a file than type.

Each tab is also a named API endpoint (``/read``, ``/lipsync``, ``/sync``, ``/animate``) that `gradio_client` calls;
``/annotate`` follows ``/read`` with the annotated video (drawing it takes longer than reading the words).
The work is done by the functions the command-line tools use (`LipReader`, `writers`, `pictures`, and the commands'
own per-file functions), so a page and a command line give the same answer.

Offline and private: analytics off, no share link, a theme of system fonts (nothing fetched from anywhere), models
loaded once on first use and shared by every request, uploads and outputs in one temporary folder removed when the
server stops. A queue answers requests in turn; an upload over the size or duration limit, an image given as a
video, an empty file or a video without sound is answered with a one-line message on the page.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lipnet import cli, env, grid, metrics, visemes, writers
from lipnet.errors import LipnetError, input_file

if TYPE_CHECKING:  # gradio is imported by `serve`, once its settings (no analytics, its folder) are made
    import gradio as gr
    import pandas as pd

    from lipnet.recognition.recognizer import AudioVisualReader

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "DejaVu Sans", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "DejaVu Sans Mono", "monospace"]
VIDEO_HEIGHT = 300  # pixels: a video beside its results, not above them
READ_FROM = {"video": "the lips", "audio": "the voice", "av": "the lips and the voice"}  # a reading's modality


def _load_reader() -> AudioVisualReader:
    from lipnet.recognition.recognizer import AudioVisualReader

    reader = AudioVisualReader()
    reader.lips.extractor  # noqa: B018 (dlib's landmark model too, now rather than during the first request)
    return reader


def _load_lipsync() -> Any:
    from lipnet.commands import lipsync

    return lipsync.load_model(env.LIPSYNC_MODEL)


def _load_sync() -> tuple[Any, Any]:
    from lipnet.sync import agreement, network

    return network.load(env.SYNC_MODEL), agreement.Judge()


def _load_animator() -> tuple[Any, Any, Any]:
    from lipnet.animation import animator, lipshape
    from lipnet.mouth import MouthExtractor

    return animator.load(env.ANIMATOR_MODEL), lipshape.load_model(), MouthExtractor()


LOADERS: dict[str, Callable[[], Any]] = {
    "reader": _load_reader,
    "lipsync": _load_lipsync,
    "sync": _load_sync,
    "animator": _load_animator,
}


class Models:
    """The models every request shares. Each is loaded on its first use, once, and used by one request at a time
    (a lock each: a Keras model and dlib's tracker keep state while they run), so different jobs run side by side."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] = {}
        self._locks = {name: threading.Lock() for name in LOADERS}

    @contextmanager
    def use(self, name: str) -> Iterator[Any]:
        """The model `name` (see LOADERS), loaded if need be, held for this request alone while the block runs."""
        with self._locks[name]:
            if name not in self._loaded:
                self._loaded[name] = LOADERS[name]()
            yield self._loaded[name]


class Jobs:
    """Where uploads and outputs live: one temporary folder (gradio's upload cache is inside it), a sub-folder per
    request; outputs older than env.APP_KEEP_SECONDS are removed as new requests come, the whole folder when the server
    stops."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lipnet-app-"))
        self.outputs = self.root / "jobs"
        self.outputs.mkdir()

    def new(self) -> Path:
        """A fresh folder for one request's outputs, after removing those of requests past env.APP_KEEP_SECONDS."""
        now = time.time()
        for old in self.outputs.iterdir():
            if now - old.stat().st_mtime > env.APP_KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(dir=self.outputs))

    def public(self, message: str) -> str:
        """`message` without the temporary folders it names: ``clip.mp4: no face found``, not its cache path."""
        return re.sub(re.escape(str(self.root)) + r"/(?:[^/\s]+/)*", "", message)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def checked(path: str | None, kind: str, pictures: bool = False) -> Path:
    """An uploaded file, checked before any model sees it: given, not empty, within the size and duration limits,
    and (`pictures`) a moving picture, not a still image. LipnetError says what is wrong."""
    import av

    from lipnet import video

    if not path:
        raise LipnetError(f"no {kind} given: upload one or record one")
    path = input_file(path, kind)
    if (size := path.stat().st_size) > env.APP_MAX_UPLOAD_MB * 1e6:
        raise LipnetError(f"{path}: {size / 1e6:.0f} MB, over the limit of {env.APP_MAX_UPLOAD_MB} MB")
    try:
        with av.open(str(path)) as container:
            still = video.is_picture_format(container.format.name)
            seconds = container.duration / 1e6 if container.duration else None
            frames = [s.frames for s in container.streams.video]  # 0: not counted by the container
    except (av.FFmpegError, UnicodeDecodeError):
        raise LipnetError(f"{path}: not an audio or video file FFmpeg can read") from None
    if pictures and not frames:
        raise LipnetError(f"{path}: sound only, not {kind}")
    if pictures and (still or frames == [1]):
        raise LipnetError(f"{path}: a still image, not {kind}")
    if seconds is not None and seconds > env.APP_MAX_SECONDS:
        raise LipnetError(f"{path}: {seconds:.0f} s long, over the limit of {env.APP_MAX_SECONDS:.0f} s")
    return path


def files_in(folder: Path) -> list[str]:
    """The files a request wrote in `folder` (not its sub-folders), sorted: what the page offers to download."""
    return sorted(str(p) for p in folder.iterdir() if p.is_file())


def table(tsv: str) -> pd.DataFrame:
    """A TSV with a header line (what the writers write) as a table for the page, numbers as numbers: the page shows
    the columns the files hold."""
    import pandas as pd

    def cell(value: str) -> float | str:
        try:
            return float(value)
        except ValueError:
            return value

    header, *rows = tsv.splitlines()
    return pd.DataFrame([[cell(v) for v in row.split("\t")] for row in rows], columns=header.split("\t"))


class Pages:
    """The four jobs, each a function of the page's inputs to its outputs (an endpoint of the same name)."""

    def __init__(self, models: Models, jobs: Jobs) -> None:
        self.models, self.jobs = models, jobs

    def read(self, video: str | None, viseme_set: str = "ovr", modality: str = "auto") -> tuple:
        """Reading, as ``lipnet read --modality`` does it (the lips, the voice or both): transcript, confidence, a
        summary, the word timings and every output file; last, what `annotate` draws (the page's state, not in the
        API)."""
        clip, out = checked(video, "a video", pictures=True), self.jobs.new()
        with self.models.use("reader") as reader:
            reading = reader.read(clip, modality=modality)
        try:
            reference = grid.transcript(clip)  # a GRID file name (or a .lab beside it) gives the sentence said
        except ValueError:
            reference = None
        confidence = getattr(reading, "confidence", None)  # readers before confidences gave none
        confidence = None if confidence is None else round(float(confidence), 3)
        summary = f"{reading.duration:.2f} s read from {READ_FROM[reading.modality]} with the {reading.decoder} decoder"
        if confidence is not None:
            summary += f", confidence {confidence:.2f}"
        for remark in (getattr(reading, "notice", ""), getattr(reading, "warning", "")):
            summary += f"\n{remark}" if remark else ""
        if reference is not None:
            cer, wer = metrics.sentence_cer(reference, reading.text), metrics.sentence_wer(reference, reading.text)
            summary += f"\nreference: {reference}   CER {cer:.1%}, WER {wer:.1%}"
        writers.write(reading, out / clip.stem, writers.FORMATS, viseme_set, reference, source=clip)
        return (
            reading.text,
            confidence,
            summary,
            table(writers.to_tsv(reading)),
            files_in(out),
            (clip, reading, out, viseme_set),
        )

    def annotate(self, read: tuple | None) -> tuple:
        """The clip last read in this session annotated with its reading (``lipnet read --annotate``), with its
        sound, and the output files with it. A step of its own: the words show while the video is drawn."""
        from lipnet import pictures

        if read is None:
            raise LipnetError("read a video first (/read), then annotate it")
        clip, reading, out, viseme_set = read
        annotated = pictures.annotate(clip, reading, out / f"{clip.stem}.annotated.mp4", viseme_set)
        return str(annotated), files_in(out)

    def lipsync(self, upload: str | None, recording: str | None, text: str = "", viseme_set: str = "ovr") -> tuple:
        """Lip-sync from sound, as ``lipnet lipsync -f all --plot`` does it: the line it prints, the viseme strip over
        the waveform, the Rhubarb/OVR files, and the animator's mouth rendered with the sound."""
        from lipnet.commands import animate, lipsync

        speech, out = checked(upload or recording, "a sound or video file"), self.jobs.new()
        words = ["--text", text] if text.strip() else []
        args = lipsync.parse_args([str(speech), "-o", str(out), "-f", "all", "--visemes", viseme_set, *words])
        plot = out / f"{speech.stem}.png"
        with self.models.use("lipsync") as model:
            line = lipsync.sync_file(model, speech, args, out / speech.stem, plot)
        mouth = out / "mouth" / f"{speech.stem}.mouth.mp4"
        render = animate.parse_args(["-a", str(speech), "-o", str(mouth.parent), "--video", str(mouth)])
        with self.models.use("animator") as (animator, shape, extractor):
            animate.animate_file(render, animator, shape, extractor)
        return self.jobs.public(line), str(plot), str(mouth), files_in(out)

    def sync(self, video: str | None) -> tuple:
        """The sync check, as ``lipnet sync --plot --fix`` does it: a summary, each window's offset, confidence and
        verdict, the distance curve, and the clip moved back into sync (none when it is within a frame of sync)."""
        import json

        from lipnet.commands import sync

        clip, out = checked(video, "a video", pictures=True), self.jobs.new()
        plot, fixed = out / f"{clip.stem}.png", out / f"{clip.stem}.fixed{sync.fix_suffix(clip)}"
        args = sync.parse_args(["-v", str(clip), "--json", "--plot", str(plot), "--fix", str(fixed)])
        with self.models.use("sync") as (model, judge):
            found = json.loads(sync.check_file(model, judge, cli.Input(clip, Path(clip.stem), alone=True), args))
        windows = found["windows"]
        rows = [
            [
                w["start_s"],
                w["end_s"],
                w["offset_frames"],
                w["offset_ms"],
                w["confidence"],
                w["verdict"],
                w["same_speech"],
            ]
            for w in windows
        ]
        summary = "\n".join(
            f"offset {w['offset_frames']:+d} frames ({w['offset_ms']:+d} ms, the audio {w['audio']}), "
            f"confidence {w['confidence']:.3f}: {w['verdict']}"
            for w in windows
        )
        if found["fixed"]:
            summary += f"\nwrote {fixed.name}: the sound moved back into sync"
        elif any(w["verdict"] == "in sync" for w in windows):
            summary += f"\nnot rewritten: within {env.SYNC_TOLERANCE} frame of sync"
        else:
            summary += f"\nnot fixed: {windows[0]['verdict']}"
        return summary, rows, str(plot), found["fixed"]

    def animate(self, upload: str | None, recording: str | None, photo: str | None = None) -> tuple:
        """Mouth animation, as ``lipnet animate --video [--face]`` does it: the line it prints, the talking mouth (or
        photo) with the sound, and the parameter files."""
        from lipnet.commands import animate

        speech, out = checked(upload or recording, "a sound or video file"), self.jobs.new()
        face = ["--face", str(checked(photo, "a face photo"))] if photo else []
        video = out / f"{speech.stem}.{'talking' if photo else 'mouth'}.mp4"
        args = animate.parse_args(["-a", str(speech), "-o", str(out), "--video", str(video), *face])
        animate.check(args)
        with self.models.use("animator") as (animator, shape, extractor):
            line = animate.animate_file(args, animator, shape, extractor)
        return self.jobs.public(line), str(video), files_in(out)


def answered(jobs: Jobs, work: Callable[..., tuple]) -> Callable[..., tuple]:
    """`work` with its failures answered on the page: a LipnetError's one line as it is, anything else named in one
    line (and its traceback on the server's standard error); the server goes on serving either way."""

    @functools.wraps(work)
    def run(*inputs: Any) -> tuple:
        try:
            return work(*inputs)
        except LipnetError as err:
            message = str(err)
        except Exception as err:  # a page must answer whatever an upload breaks
            traceback.print_exc(file=sys.stderr)
            first = str(err).splitlines()[0] if str(err) else ""
            message = f"could not process this file ({type(err).__name__}: {first})"
        import gradio as gr

        raise gr.Error(html.escape(jobs.public(message)), print_exception=False)

    return run


def page(pages: Pages) -> gr.Blocks:
    """The page: a tab per job, each button an API endpoint named after the job."""
    import gradio as gr

    viseme_sets = sorted(visemes.VISEME_SETS)
    speech_types = ["audio", "video"]
    with gr.Blocks(
        title="lipnet", analytics_enabled=False, delete_cache=(env.APP_KEEP_SECONDS, env.APP_KEEP_SECONDS)
    ) as demo:
        gr.Markdown("# lipnet\nLip reading, lip-sync, sync checks and mouth animation, on this computer.")
        with gr.Tab("Read lips"), gr.Row():
            with gr.Column():
                video = gr.Video(label="Video of a face speaking", sources=["upload", "webcam"], height=VIDEO_HEIGHT)
                modality = gr.Radio(
                    list(env.MODALITIES), value="auto", label="Read from",
                    info="auto: the lips and the voice when the clip has sound, else the lips",
                )  # fmt: skip
                viseme_set = gr.Radio(viseme_sets, value="ovr", label="Viseme set")
                button = gr.Button("Read", variant="primary")
                annotated = gr.Video(label="Annotated video", height=VIDEO_HEIGHT)
            with gr.Column():
                transcript = gr.Textbox(label="Transcript", elem_id="transcript")
                confidence = gr.Number(label="Confidence")
                summary = gr.Textbox(label="Details", lines=2)
                words = gr.Dataframe(label="Word timings", interactive=False)
                files = gr.File(label="Output files", file_count="multiple")
            reading = gr.State()
            button.click(
                answered(pages.jobs, pages.read),
                [video, viseme_set, modality],
                [transcript, confidence, summary, words, files, reading],
                api_name="read",
            ).success(answered(pages.jobs, pages.annotate), [reading], [annotated, files], api_name="annotate")
        with gr.Tab("Lip-sync from sound"), gr.Row():
            with gr.Column():
                upload = gr.File(label="Audio or video", file_types=speech_types)
                recording = gr.Audio(label="or record", sources=["microphone"], type="filepath")
                text = gr.Textbox(label="Words said (optional: aligned to them instead of recognised)")
                viseme_set = gr.Radio(viseme_sets, value="ovr", label="Viseme set")
                button = gr.Button("Lip-sync", variant="primary")
                mouth = gr.Video(label="Mouth", height=VIDEO_HEIGHT)
            with gr.Column():
                summary = gr.Textbox(label="Mouth cues", lines=3)
                strip = gr.Image(label="Visemes over the waveform", type="filepath")
                files = gr.File(label="Rhubarb and OVR files", file_count="multiple")
            button.click(
                answered(pages.jobs, pages.lipsync),
                [upload, recording, text, viseme_set],
                [summary, strip, mouth, files],
                api_name="lipsync",
            )
        with gr.Tab("Sync check"), gr.Row():
            with gr.Column():
                video = gr.Video(label="Video with sound", sources=["upload"], height=VIDEO_HEIGHT)
                button = gr.Button("Check", variant="primary")
                fixed = gr.File(label="The clip back in sync")
            with gr.Column():
                summary = gr.Textbox(label="Verdict", lines=2)
                windows = gr.Dataframe(
                    headers=["start_s", "end_s", "offset_frames", "offset_ms", "confidence", "verdict", "same_speech"],
                    label="Offset per window",
                    interactive=False,
                )
                curve = gr.Image(label="Distance by offset", type="filepath")
            button.click(answered(pages.jobs, pages.sync), [video], [summary, windows, curve, fixed], api_name="sync")
        with gr.Tab("Animate"), gr.Row():
            with gr.Column():
                upload = gr.File(label="Speech: audio or video", file_types=speech_types)
                recording = gr.Audio(label="or record", sources=["microphone"], type="filepath")
                photo = gr.Image(label="Face photo (optional: a talking photo)", type="filepath", sources=["upload"])
                button = gr.Button("Animate", variant="primary")
            with gr.Column():
                summary = gr.Textbox(label="Mouth", lines=2)
                rendered = gr.Video(label="Talking mouth", height=VIDEO_HEIGHT)
                files = gr.File(label="Animation files", file_count="multiple")
            button.click(
                answered(pages.jobs, pages.animate),
                [upload, recording, photo],
                [summary, rendered, files],
                api_name="animate",
            )
    return demo


def serve(host: str = env.APP_HOST, port: int = env.APP_PORT) -> None:
    """Serve the app on `host`:`port` until Ctrl-C or a kill (SIGTERM), then remove its files."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no version check, no telemetry
    os.environ["HF_HUB_OFFLINE"] = "1"
    jobs = Jobs()
    os.environ["GRADIO_TEMP_DIR"] = str(jobs.root)  # uploads land in our folder, removed when the server stops
    try:
        import gradio as gr

        demo = page(Pages(Models(), jobs)).queue(
            default_concurrency_limit=env.APP_CONCURRENCY, max_size=env.APP_QUEUE_SIZE
        )
        demo.launch(
            server_name=host,
            server_port=port,
            share=False,
            show_error=True,  # Gradio's own refusals (a file of the wrong type) say why on the page too
            max_file_size=f"{env.APP_MAX_UPLOAD_MB}mb",
            prevent_thread_lock=True,
            quiet=True,
            ssr_mode=False,
            theme=gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONO_FONTS),
        )
        print(f"lipnet app: http://{host}:{port} (Ctrl-C stops it)", flush=True)
        for stop in (signal.SIGINT, signal.SIGTERM):  # a kill stops it as Ctrl-C does (also when started in the
            signal.signal(stop, signal.default_int_handler)  # background, where a shell ignores Ctrl-C for it)
        demo.block_thread()  # until KeyboardInterrupt, then it closes the server
    finally:
        jobs.remove()

"""What the tests share: where the checkout and the GRID data are, one way to run a tool, one mouth extractor.

Tests that read GRID data beyond the bundled fixtures carry ``@pytest.mark.grid`` (or use the `grid_data`
fixture) and are skipped, with a reason, when ``../shared/grid`` is not beside the checkout; ``LIPNET_GRID``
points elsewhere.
"""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GRID = Path(os.environ.get("LIPNET_GRID", ROOT.parent / "shared" / "grid"))
NO_GRID = f"needs the GRID data in {GRID} (../shared/grid beside the checkout, or LIPNET_GRID)"
#: test files of a minute or more of one worker each on a 2-core CPU (``--durations``, 2026-12-04), slowest first
SLOW_FILES = (
    "test_aux.py",
    "test_trainer.py",
    "test_recognition.py",
    "test_lipsync_cli.py",
    "test_model_card.py",
    "test_own_data.py",
    "test_backends.py",
    "test_sync.py",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "grid: reads the GRID data in ../shared/grid; skipped without it")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files that take minutes first (`SLOW_FILES`), the rest in their order: pytest-xdist's workers (the
    README's test command runs one a core, a file to a worker) then start the long ones at once, and no worker is
    left running one alone at the end while the others wait."""
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # a stable sort


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("grid") and not GRID.is_dir():
        pytest.skip(NO_GRID)


@pytest.fixture(scope="session")
def grid_data() -> Path:
    """../shared/grid; the test is skipped without it."""
    if not GRID.is_dir():
        pytest.skip(NO_GRID)
    return GRID


@pytest.fixture(scope="session")
def held_out_crops(tmp_path_factory, grid_data, worker_id) -> Path:
    """The 110 held-out s1 clips (lipnet/splits/s1_heldout.txt) extracted by the card's own command,
    ``preprocessing/extract.py -v VIDEOS -o DATA``, once for the whole run: ``DATA/s1/<stem>.npy`` and their track
    sidecars. The lip reader's and the sync model's card tests both start from them; with pytest-xdist's workers,
    the first to ask extracts (a file lock in the run's shared temporary folder) and the others wait for it."""
    from filelock import FileLock

    from lipnet import grid

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    data, videos = shared / "held-out" / "data", shared / "held-out" / "videos" / "s1"
    with FileLock(shared / "held-out.lock"):
        if not (data / "done").is_file():
            videos.mkdir(parents=True, exist_ok=True)
            for key in sorted(grid.read_list(ROOT / "lipnet" / "splits" / "s1_heldout.txt")):
                stem = key.split("/")[1]
                if not (videos / f"{stem}.mp4").exists():
                    (videos / f"{stem}.mp4").symlink_to(grid_data / "s1" / f"{stem}.mp4")
            result = tool("preprocessing/extract.py", "-v", str(videos.parent), "-o", str(data), "-j", "2")
            assert result.returncode == 0, result.stderr
            (data / "done").touch()
    return data


@pytest.fixture(scope="session")
def extractor():
    """One dlib mouth extractor for the whole run: loading the landmark model takes a second."""
    from lipnet.mouth import MouthExtractor

    return MouthExtractor()


def tool(script: str, *args: str, cwd: Path = ROOT, timeout: float | None = None) -> subprocess.CompletedProcess:
    """A script of the checkout (``"sync.py"``, ``"preprocessing/extract.py"``) run as a user runs it."""
    command = [sys.executable, str(ROOT / script), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def in_process(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    """A tool's ``main(argv)`` in this process: exit code, standard output, standard error. Seconds faster than
    `tool` (Keras is imported once for the whole run), for tests of what a tool does rather than how it starts."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse: --help, or a bad option
            code = exit.code if isinstance(exit.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def command(main: Callable[[list[str]], int], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`in_process`, from the folder `cwd`, as `tool` answers (a CompletedProcess)."""
    with contextlib.chdir(cwd):
        code, out, err = in_process(main, list(args))
    return subprocess.CompletedProcess(list(args), code, out, err)

"""Where the test videos are: the generated fixtures (``scripts/fixtures.sh``) and, when
present, the shared real-world media folder (``../shared/media`` or ``$VFRAME_MEDIA``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import vframe

REPO = Path(__file__).resolve().parents[3]


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return f"vframe {vframe.__version__}: library {vframe.library_path()} ({vframe.library_version()})"
    except OSError as e:
        return f"vframe {vframe.__version__}: library NOT FOUND ({e})"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The generated fixture folder (made on the spot if needed: ~5 s, needs the ffmpeg CLI)."""
    directory = Path(os.environ.get("VFRAME_FIXTURES", REPO / "target" / "fixtures"))
    if shutil.which("ffmpeg") is None:
        if not (directory / "gop25_25fps.mp4").is_file():
            pytest.skip(f"no fixtures in {directory} and no ffmpeg CLI to make them (run scripts/fixtures.sh)")
        return directory
    subprocess.run([str(REPO / "scripts" / "fixtures.sh"), str(directory)], check=True, stdout=subprocess.DEVNULL)
    return directory


@pytest.fixture
def media(request: pytest.FixtureRequest) -> Path:
    """The shared real-world videos described by MANIFEST.tsv. When the folder is absent the
    test skips, loudly: ``pytest -rs`` prints why, and a line goes to
    ``target/media-skips.log``, which ``make test`` prints at the end. Under ``CI=true`` it
    fails instead."""
    directory = Path(os.environ.get("VFRAME_MEDIA", REPO.parent / "shared" / "media"))
    if not (directory / "MANIFEST.tsv").is_file():
        absent = f"no media collection at {directory} (set VFRAME_MEDIA)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {absent}", pytrace=False)
        try:
            with open(REPO / "target" / "media-skips.log", "a") as log:
                log.write(f"SKIPPED python {request.node.nodeid}: {absent}\n")
        except OSError:
            pass  # no target/ here: -rs still says it
        pytest.skip(absent)
    return directory


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg CLI, the ground truth for which frame is the right one."""
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("the ffmpeg CLI is not installed")
    return path

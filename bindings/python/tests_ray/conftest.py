"""vframe.ray's tests (``make test-ray``, in their own venv with Ray): a local Ray cluster of 2
CPUs shared by the session, the generated fixtures and the shared real-world media."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import ray
import ray.data

import vframe

REPO = Path(__file__).resolve().parents[3]


def pytest_report_header(config: pytest.Config) -> str:
    return f"vframe {vframe.__version__} (library {vframe.library_path()}), ray {ray.__version__}"


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A local Ray cluster (2 CPUs, whatever the machine has) for the session; its address.

    It starts without VFRAME_LIBRARY in its environment, as a cluster started elsewhere would
    (``make test-ray`` unsets it anyway): the workers use the library of the installed package."""
    library = os.environ.pop("VFRAME_LIBRARY", None)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if library is not None:
            os.environ["VFRAME_LIBRARY"] = library
    # Ray Data's progress bars: noise in a captured log, and CPU on a 2-core machine.
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The generated fixture folder (``scripts/fixtures.sh``, made on the spot if need be)."""
    directory = Path(os.environ.get("VFRAME_FIXTURES", REPO / "target" / "fixtures"))
    if shutil.which("ffmpeg") is None:
        if not (directory / "gop25_25fps.mp4").is_file():
            pytest.skip(f"no fixtures in {directory} and no ffmpeg CLI to make them (run scripts/fixtures.sh)")
        return directory
    subprocess.run([str(REPO / "scripts" / "fixtures.sh"), str(directory)], check=True, stdout=subprocess.DEVNULL)
    return directory


@pytest.fixture
def media(request: pytest.FixtureRequest) -> Path:
    """The shared real-world videos (``../shared/media`` or ``$VFRAME_MEDIA``). When the folder
    is absent the test skips, loudly: ``pytest -rs`` prints why, and a line goes to
    ``target/media-skips.log``, which ``make test`` prints at the end. Under ``CI=true`` it
    fails instead."""
    directory = Path(os.environ.get("VFRAME_MEDIA", REPO.parent / "shared" / "media"))
    if not (directory / "MANIFEST.tsv").is_file():
        absent = f"no media collection at {directory} (set VFRAME_MEDIA)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {absent}", pytrace=False)
        try:
            with open(REPO / "target" / "media-skips.log", "a") as log:
                log.write(f"SKIPPED ray {request.node.nodeid}: {absent}\n")
        except OSError:
            pass  # no target/ here: -rs still says it
        pytest.skip(absent)
    return directory


def pytest_configure(config: pytest.Config) -> None:
    # Ray Data's own DataContext warns about its own deprecated settings on every run.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ray.data.context")

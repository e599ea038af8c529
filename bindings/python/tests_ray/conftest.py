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

import vframe

REPO = Path(__file__).resolve().parents[3]


def pytest_report_header(config: pytest.Config) -> str:
    return f"vframe {vframe.__version__} (library {vframe.library_path()}), ray {ray.__version__}"


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A local Ray cluster (2 CPUs, whatever the machine has) for the session; its address.

    It starts without VFRAME_LIBRARY in its environment, as a cluster started elsewhere would:
    its workers see the library only through what vframe.ray passes them (or, when the package
    carries the library, by finding it next to the package)."""
    library = os.environ.pop("VFRAME_LIBRARY", None)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if library is not None:
            os.environ["VFRAME_LIBRARY"] = library
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


@pytest.fixture(scope="session")
def media() -> Path:
    """The shared real-world videos (``../shared/media`` or ``$VFRAME_MEDIA``): skipped when
    absent, except under CI, where a missing folder is a failure."""
    directory = Path(os.environ.get("VFRAME_MEDIA", REPO.parent / "shared" / "media"))
    if not (directory / "MANIFEST.tsv").is_file():
        message = f"shared media folder absent ({directory}; set VFRAME_MEDIA to use another)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — required under CI=true")
        pytest.skip(message)
    return directory


def pytest_configure(config: pytest.Config) -> None:
    # Ray Data's own DataContext warns about its own deprecated settings on every run.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ray.data.context")

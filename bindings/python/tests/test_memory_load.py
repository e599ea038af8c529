"""Thousands of asynchronous jobs over one large video in memory: the process's memory stays
within a bound set by the pool's size, not by the number of jobs.

Each run is a fresh interpreter (``memory_load.py``) that holds the pool's workers until the
pool is full, so the producer outruns the pool, the worst case. The bounds come from the
memory model (README, "Memory model") and were checked by measurement (2 cores, a 42 MB
input): 2000 jobs over ``bytes`` grew the process by about 1 MB (nothing is copied; the
bound is one copy of the input); jobs over a ``bytearray`` (copied once each) by 4 copies
with 3 places in the pool (its 3 jobs' copies and the one a waiting submit holds; the bound
allows 5). What vframe did before, a copy per job and a queue without bound, passes either
bound after ten jobs: the last test runs it (a test-only patch in ``memory_load.py``) to
show that these bounds tell the two apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from child import python_env

import vframe

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "mkfifo"), reason="reads /proc/self/status; named pipes"
)

WORKER = Path(__file__).with_name("memory_load.py")
PADDING = 40 * 1024 * 1024
UNBOUNDED = 2**32 - 1  # max_queued: a queue of four billion jobs, as good as none


@pytest.fixture(scope="module")
def big_video(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """A 1-second 64x48 H.264 MP4 (moov first) followed by a 40 MiB ``free`` box: a large
    file whose frame at 0 costs little to decode, so that thousands of jobs take seconds."""
    directory = tmp_path_factory.mktemp("load")
    small = directory / "small.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=1", "-c:v", "libx264"]
        + ["-pix_fmt", "yuv420p", "-movflags", "+faststart", str(small)],
        check=True,
    )
    big = directory / "big.mp4"
    big.write_bytes(small.read_bytes() + (8 + PADDING).to_bytes(4, "big") + b"free" + bytes(PADDING))
    assert vframe.extract(big, "vframe/jpg/offset/0") == vframe.extract(small, "vframe/jpg/offset/0")
    return big


def load(video: Path, kind: str, jobs: int, threads: int, max_queued: int, limit: int, *inject: str) -> dict[str, Any]:
    env = python_env()
    args = [str(video), kind, str(jobs), str(threads), str(max_queued), str(limit), *inject]
    run = subprocess.run(
        [sys.executable, str(WORKER), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0 and run.stderr == "", run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    print(kind, jobs, threads, max_queued, *inject, report)
    return report


def test_thousands_of_jobs_over_one_bytes_input_share_it(big_video: Path) -> None:
    size = big_video.stat().st_size
    report = load(big_video, "bytes", 2000, 2, 8, size)
    assert report["stopped_at"] is None, f"grew past one copy of the input: {report}"
    assert report["growth"] < size, report
    assert report["right"] == 2000 and report["wrong"] == 0, report
    assert report["full_at"] == 8, "the pool filled: 10 places, 2 taken by the jobs holding the workers"


def test_jobs_over_a_bytearray_hold_a_copy_each_bounded_by_the_pool(big_video: Path) -> None:
    size = big_video.stat().st_size
    threads, max_queued = 1, 2
    bound = (threads + max_queued + 2) * size
    report = load(big_video, "bytearray", 30, threads, max_queued, bound)
    assert report["stopped_at"] is None and report["growth"] <= bound, report
    # Each place holds a copy: well over two copies' worth (RSS counts pages, and the first
    # copy's may be partly counted at the start, so not exactly three).
    assert report["growth"] > (threads + max_queued - 1) * size, f"the copies are made and held: {report}"
    assert report["right"] == 30 and report["wrong"] == 0, report


def test_the_bounds_catch_a_copy_per_job_and_an_unbounded_queue(big_video: Path) -> None:
    size = big_video.stat().st_size
    old = load(big_video, "bytes", 2000, 2, UNBOUNDED, 2 * size, "copy-per-job")
    assert old["stopped_at"] is not None and old["growth"] > 2 * size and old["full_at"] is None, old
    unbounded = load(big_video, "bytearray", 30, 1, UNBOUNDED, 5 * size)
    assert unbounded["stopped_at"] is not None and unbounded["growth"] > 5 * size, unbounded

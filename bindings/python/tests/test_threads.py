"""Many Python threads calling the library at once: correct results, and real parallelism
(ctypes releases the GIL for the whole call)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from child import python_env

import vframe

REPO = Path(__file__).resolve().parents[3]


def test_eight_threads_get_the_images_one_thread_gets(fixtures: Path) -> None:
    jobs: list[tuple[Path | bytes, str]] = []
    for name, specs in {
        "gop25_25fps.mp4": ["vframe/jpg/offset/0", "vframe/png/offset/3.2/w/100"],
        "bframes_gop250.mp4": ["vframe/jpg/offset/7.7", "vframe/jpg/offset/2/h/60"],
        "start600.ts": ["vframe/jpg/offset/5", "vframe/png/offset/0.5/w/64/h/64"],
        "vfr.mkv": ["vframe/jpg/offset/4"],
        "rotate90.mp4": ["vframe/jpg/offset/1/rotate/auto"],
        "yuv422p10.mkv": ["vframe/png/offset/1"],
        "vp9.webm": ["vframe/jpg/offset/2"],
        "mpeg4.avi": ["vframe/jpg/offset/1.5"],
    }.items():
        path = fixtures / name
        for spec in specs:
            jobs += [(path, spec), (path.read_bytes(), spec)]
    # A failing call among them must not disturb the others.
    jobs.append((fixtures / "audio_only.m4a", "vframe/jpg/offset/1"))

    def run(job: tuple[Path | bytes, str]) -> bytes | str:
        try:
            return vframe.extract(*job)
        except vframe.VframeError as e:
            return f"{type(e).__name__}: {e}"

    expected = [run(job) for job in jobs]
    last = expected[-1]
    assert isinstance(last, str) and last.startswith("NoVideoStreamError")
    assert len(set(expected)) == len(jobs) // 2 + 1, "path and bytes agree, every job differs from the others"
    repeats = 6
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, jobs * repeats))
    assert len(results) == len(jobs) * repeats
    for i, result in enumerate(results):
        assert result == expected[i % len(jobs)], f"call {i} ({jobs[i % len(jobs)][1]})"


# Eight threads each call vframe.extract on a named pipe. The main thread opens each pipe's
# write end, which returns only once that call has opened the pipe inside the library, so
# when all eight are open, eight calls are inside the library at the same time while the
# main thread still runs Python. Had a call kept the GIL, the main thread could not run:
# the script would hang (and the test fail by its time limit) instead of printing "ok".
_PARALLEL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from concurrent.futures import ThreadPoolExecutor
    import vframe

    video, directory, calls = sys.argv[1], sys.argv[2], 8
    data = open(video, "rb").read()
    pipes = [os.path.join(directory, f"pipe{i}") for i in range(calls)]
    for pipe in pipes:
        os.mkfifo(pipe)
    with ThreadPoolExecutor(calls) as pool:
        futures = [pool.submit(vframe.extract, pipe, "vframe/jpg/offset/0") for pipe in pipes]
        writers = [os.open(pipe, os.O_WRONLY) for pipe in pipes]
        print("inside the library at once:", sum(not f.done() for f in futures), flush=True)
        for fd in writers:
            try:
                os.write(fd, data)
            except BrokenPipeError:
                pass  # the call had read enough and closed its end
            os.close(fd)
        results = [f.result() for f in futures]
    assert results == [vframe.extract(video, "vframe/jpg/offset/0")] * calls
    print("ok")
    """
)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_calls_from_threads_run_inside_the_library_at_the_same_time(fixtures: Path, tmp_path: Path) -> None:
    env = python_env()
    run = subprocess.run(
        [sys.executable, "-c", _PARALLEL_SCRIPT, str(fixtures / "tiny_h264.ts"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["inside the library at once: 8", "ok"]

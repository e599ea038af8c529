"""Run by test_memory_load.py in a fresh interpreter: submits JOBS asynchronous jobs over one
video held in memory and reports, as one JSON line, how much the process's resident memory
grew above its level before the first of them.

usage: memory_load.py VIDEO KIND JOBS THREADS MAX_QUEUED LIMIT_BYTES [copy-per-job]

KIND is how the video is given: ``bytes`` (lent to the library) or ``bytearray`` (copied
once per job). ``copy-per-job`` brings back what vframe did before pools were bounded and
bytes lent: every job gets a private copy of the input (here, a copy lent in place of the
caller's bytes); with MAX_QUEUED 4294967295 the queue is as good as unbounded, as it was.

The worst case is a producer faster than the pool, so the workers are first held (each by
a job reading a named pipe nobody writes) and released only when the pool first answers
``BusyError``, i.e. when it is full: from then on ``submit`` waits for room. A pool that
never fills (the old unbounded queue) keeps them held, and the jobs pile up. Submission
stops early once the growth passes LIMIT_BYTES, so a run that would need gigabytes fails
in a moment.

Resident memory is read from /proc/self/status: ``VmRSS`` before the jobs (after a warm-up
that loads the decoders), then the peak ``VmHWM`` after resetting it (``/proc/self/clear_refs``),
or, where the reset is refused, the highest ``VmRSS`` sampled during submission.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path

import vframe
from vframe import _buffer, _pool

SPEC = "vframe/jpg/offset/0"


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main() -> None:
    video, kind, (jobs, threads, max_queued, limit) = sys.argv[1], sys.argv[2], map(int, sys.argv[3:7])
    if sys.argv[7:] == ["copy-per-job"]:
        real = _buffer.LentBuffer
        setattr(_pool, "LentBuffer", lambda source: real(bytes(memoryview(source))))  # noqa: B010 (a test-only patch)
    data: bytes | bytearray = Path(video).read_bytes()
    if kind == "bytearray":
        data = bytearray(data)
    expected = vframe.extract(data, SPEC)
    pool = vframe.Pool(threads=threads, max_queued=max_queued)
    for _ in range(2):  # loads and warms what every job uses
        assert pool.submit(data, SPEC, threads=1).result(timeout=60) == expected

    lock = threading.Lock()
    outcomes = {"right": 0, "wrong": 0}

    def check(future: Future[bytes]) -> None:
        right = future.exception() is None and future.result() == expected
        with lock:
            outcomes["right" if right else "wrong"] += 1

    with tempfile.TemporaryDirectory() as directory:
        never_written = os.path.join(directory, "held.fifo")
        os.mkfifo(never_written)
        holds = [pool.submit(never_written, SPEC) for _ in range(threads)]

        base = status_kb("VmRSS") * 1024
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            peak_resets = True
        except OSError:
            peak_resets = False
        sampled, stopped_at, full_at = base, None, None
        for i in range(jobs):
            try:
                future = pool.submit_nowait(data, SPEC, threads=1)
            except vframe.BusyError:
                if full_at is None:
                    full_at = i
                    for hold in holds:
                        hold.cancel()
                future = pool.submit(data, SPEC, threads=1)
            future.add_done_callback(check)
            if i % 10 == 0:
                sampled = max(sampled, status_kb("VmRSS") * 1024)
                if sampled - base > limit:
                    stopped_at = i + 1
                    break
        if stopped_at is None:
            pool.wait()
        peak = status_kb("VmHWM") * 1024 if peak_resets else sampled
        pool.close()
    report = dict(growth=peak - base, stopped_at=stopped_at, full_at=full_at, peak_resets=peak_resets, **outcomes)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

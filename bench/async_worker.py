#!/usr/bin/env python3
"""One run of `make bench`'s asynchronous load, in a fresh interpreter: JOBS jobs over one
video file through a `vframe.Pool` (a thread per CPU, the default queue of 4 per thread, one
decoder thread per job), the video given as MODE:

- path: the file's path (each job opens the file);
- bytes: the file's bytes, lent to the library (no copy);
- bytearray: the file's bytes in a bytearray, copied once per job (the pool's bound caps the copies);
- bytearray-unbounded: the same with a queue of 2**32 - 1 jobs, as good as no bound: a copy
  per job and every job queued at once, what vframe did for memory input before pools were
  bounded. Since that needs JOBS copies of the file, submission stops once the process has
  grown by CAP_MB (default 1024), and the run reports how many jobs it took.

The producer submits every job (`Pool.submit` waits while the pool is full), then waits for
all. Prints one JSON line: wall seconds from the first submit to the last result, resident
memory before the first submit and its peak during the run (VmHWM, reset through
/proc/self/clear_refs), how many images were right (equal to `vframe.extract` on the path),
and, for a run stopped at the cap, after how many jobs.

usage: async_worker.py VIDEO SPEC JOBS MODE [CAP_MB]
"""

import json
import sys
import threading
import time
from pathlib import Path

import vframe


def status_kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def main():
    video, spec, jobs, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cap_kb = int(sys.argv[5] if len(sys.argv) > 5 else 1024) * 1024
    expected = vframe.extract(video, spec)
    if mode == "path":
        source = video
    elif mode == "bytes":
        source = Path(video).read_bytes()
    elif mode in ("bytearray", "bytearray-unbounded"):
        source = bytearray(Path(video).read_bytes())
    else:
        raise SystemExit(f"unknown mode {mode}")
    pool = vframe.Pool(max_queued=2**32 - 1 if mode.endswith("-unbounded") else None)
    for _ in range(2):  # loads and warms what every job uses
        assert pool.submit(source, spec, threads=1).result() == expected

    lock = threading.Lock()
    outcomes = {"right": 0, "wrong": 0}

    def check(future):
        right = future.exception() is None and future.result() == expected
        with lock:
            outcomes["right" if right else "wrong"] += 1

    base_kb = status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        pass  # the peak then counts from the process's start (the input is loaded by then)
    started = time.perf_counter()
    stopped_at = None
    for i in range(jobs):
        pool.submit(source, spec, threads=1).add_done_callback(check)
        if i % 10 == 0 and status_kb("VmRSS") - base_kb > cap_kb:
            stopped_at = i + 1
            break
    if stopped_at is None:
        pool.wait()
    seconds = time.perf_counter() - started
    peak_kb = status_kb("VmHWM")
    pool.close()
    print(json.dumps({"mode": mode, "jobs": jobs, "seconds": seconds, "base_kb": base_kb, "peak_kb": peak_kb,
                      "bytes": Path(video).stat().st_size, "stopped_at": stopped_at, **outcomes}))


if __name__ == "__main__":
    main()

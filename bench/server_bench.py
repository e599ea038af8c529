#!/usr/bin/env python3
"""The service section of `make bench`: sync thumbnails per second and p50/p99 latency of
vframe-server (`GET /<key>?vframe/jpg/offset/T/w/640`), against the same requests answered by
bench/ffmpeg_service.py (one ffmpeg CLI process per request), side by side in one run: the two
services alternate in rounds, each round the same requests from the same client threads.

Uses bench.py's corpus (bench/work/corpus, made when missing). Writes bench/work/server.json and puts
its table at the end of BENCHMARKS.md (replacing an earlier one). `--report-only` rewrites the
table from bench/work/server.json.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import bench  # noqa: E402
from bench import CORPUS, CORPUS_DIR, REPORT, WORK  # noqa: E402

SERVER = ROOT / "target/release/vframe-server"
RESULTS = WORK / "server.json"
FILES = ["h264_1080p_gop250_bf3.mp4", "h264_720p_gop30.mp4", "hevc_1080p_opengop.mp4", "mpeg2_576p.ts"]
WIDTH = 640
CLIENTS = 4
MARKER = "## Service: vframe-server vs an ffmpeg-per-request service"


def start(command: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise SystemExit(f"server_bench: {command[0]} did not start: {line!r}")
    return proc, line.strip().split()[-1]


def upload_token(ak: str, sk: str, bucket: str) -> str:
    policy = json.dumps({"scope": bucket, "deadline": int(time.time()) + 3600}, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(policy.encode()).decode()
    sign = base64.urlsafe_b64encode(hmac.new(sk.encode(), encoded.encode(), hashlib.sha1).digest()).decode()
    return f"{ak}:{sign}:{encoded}"


def form_upload(base: str, token: str, key: str, path: Path) -> None:
    boundary = uuid.uuid4().hex
    fields = [("token", token.encode()), ("key", key.encode())]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n'.encode() + v + b"\r\n" for n, v in fields
    )
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{key}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(base + "/", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200


def run_round(base: str, requests: list[str]) -> tuple[float, list[float]]:
    def one(target: str) -> float:
        started = time.perf_counter()
        with urllib.request.urlopen(base + target, timeout=120) as response:
            data = response.read()
        assert response.status == 200 and data[:2] == b"\xff\xd8", target
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        latencies = list(pool.map(one, requests))
    return time.perf_counter() - started, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(rounds: int, per_file: int) -> dict[str, object]:
    # bench.py's recipes for the files used here, made when missing (kept in bench/work/corpus).
    everything = bench.CORPUS
    bench.CORPUS = [c for c in everything if c.name in FILES]
    try:
        bench.make_corpus()
    finally:
        bench.CORPUS = everything
    clips = {c.name: c for c in CORPUS}
    files = [f for f in FILES if (CORPUS_DIR / f).exists()]
    if not files:
        raise SystemExit("server_bench: no corpus in bench/work/corpus (run bench/bench.py first)")
    requests = [f"/{f}?vframe/jpg/offset/{clips[f].offset}/w/{WIDTH}" for _ in range(per_file) for f in files]
    ak, sk = "bench-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="vframe-server-bench-") as data:
        env = dict(os.environ, VFRAME_ACCESS_KEY=ak, VFRAME_SECRET_KEY=sk, VFRAME_LOG="warn")
        server, server_base = start(
            [str(SERVER), "--listen", "127.0.0.1:0", "--data", data, "--default-bucket", "bench"], env
        )
        baseline, baseline_base = start([sys.executable, str(BENCH / "ffmpeg_service.py"), str(CORPUS_DIR)])
        try:
            token = upload_token(ak, sk, "bench")
            for f in files:
                form_upload(server_base, token, f, CORPUS_DIR / f)
            services = {"vframe-server": server_base, "ffmpeg CLI per request (Python http.server)": baseline_base}
            for base in services.values():  # warm-up: one request per file each
                run_round(base, [r for r in requests[: len(files)]])
            results: dict[str, dict[str, list[float]]] = {s: {"wall": [], "latency": []} for s in services}
            for index in range(rounds):
                order = list(services.items()) if index % 2 == 0 else list(services.items())[::-1]
                for name, base in order:
                    wall, latencies = run_round(base, requests)
                    results[name]["wall"].append(wall)
                    results[name]["latency"].extend(latencies)
        finally:
            server.terminate()
            baseline.terminate()
            server.wait(timeout=30)
            baseline.wait(timeout=30)
    rows = []
    for name, r in results.items():
        count = len(r["latency"])
        rows.append({
            "service": name,
            "requests": count,
            "per_second": count / sum(r["wall"]),
            "p50_ms": 1000 * statistics.median(r["latency"]),
            "p99_ms": 1000 * percentile(r["latency"], 99),
        })
    return {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "clients": CLIENTS,
        "files": files,
        "width": WIDTH,
        "rounds": rounds,
        "rows": rows,
    }


def render(results: dict[str, object]) -> str:
    rows = results["rows"]
    assert isinstance(rows, list)
    ours = rows[0]
    lines = [
        MARKER,
        "",
        f"Run {results['date']} on {results['cores']} cores: {results['clients']} client threads send "
        f"`GET /<key>?vframe/jpg/offset/T/w/{results['width']}` for {', '.join(f'`{f}`' for f in results['files'])} "
        f"(each at its deep offset above), {results['rounds']} rounds per service, the services alternating. "
        "vframe-server runs with its defaults (one engine thread per core); the baseline is "
        "`bench/ffmpeg_service.py`, Python's `http.server` running `ffmpeg -ss T -i FILE -frames:v 1` per request.",
        "",
        "| service | requests | thumbnails/s | ratio | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['service']} | {row['requests']} | {row['per_second']:.1f} | "
            f"{row['per_second'] / ours['per_second']:.2f} | {row['p50_ms']:.0f} | {row['p99_ms']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, object]) -> None:
    text = REPORT.read_text() if REPORT.exists() else ""
    if MARKER in text:
        text = text[: text.index(MARKER)]
    REPORT.write_text(text.rstrip("\n") + "\n\n" + render(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-file", type=int, default=6)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.report_only:
        results = json.loads(RESULTS.read_text())
    else:
        results = measure(args.rounds, args.per_file)
        RESULTS.write_text(json.dumps(results, indent=1))
    write_report(results)
    print(render(results))


if __name__ == "__main__":
    main()

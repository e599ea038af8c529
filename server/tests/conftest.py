"""Fixtures for the vframe-server suite: the real server binary on 127.0.0.1 with a temporary
data directory, a notify receiver, media files, and the real `qiniu` SDK pointed at the server."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import qiniu
import requests

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "target/release/vframe-server"
CLI = ROOT / "target/release/vframe"
AK = "test-access-key"
SK = "test-secret-key"
BUCKET = "videos"
PRIVATE = "secret"


def media_dir() -> Path:
    folder = Path(os.environ.get("VFRAME_MEDIA") or ROOT.parent / "shared/media")
    if not folder.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"media folder {folder} is missing (CI=true)")
        pytest.skip(f"SKIPPED LOUDLY: media folder {folder} is missing; set VFRAME_MEDIA")
    return folder


@pytest.fixture(scope="session")
def media() -> Path:
    return media_dir()


@pytest.fixture(scope="session")
def small_video(media: Path) -> Path:
    return media / "h264_high_bframes_960x540_aac.mp4"


@pytest.fixture(scope="session")
def big_video(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real video over 8 MiB (so `put_file` goes resumable): a media file looped with the
    ffmpeg CLI, stream copy (no re-encoding)."""
    out = tmp_path_factory.mktemp("big") / "big.mp4"
    source = media / "h264_high_bframes_960x540_aac.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "8", "-i", str(source), "-c", "copy", str(out)],
        check=True,
    )
    assert out.stat().st_size > 8 * 1024 * 1024, "the big video must be over 8 MiB (three 4 MiB blocks)"
    return out


def engine_thumbnail(path: Path, spec: str) -> bytes:
    """What the engine itself gives for SPEC (the CLI runs the same library)."""
    return subprocess.run([str(CLI), str(path), spec, "-o", "-"], check=True, capture_output=True).stdout


def engine_files(path: Path, spec: str, folder: Path) -> dict[str, bytes]:
    """The files the engine itself writes for a vsample or storyboard SPEC into FOLDER (the
    CLI: numbered frames, or sheets with storyboard.vtt and storyboard.json), by name."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(CLI), str(path), spec, "-o", f"{folder}/"], check=True, capture_output=True)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def upload_token(auth: qiniu.Auth, bucket: str, key: str | None = None, expires: int = 3600, **policy: Any) -> str:
    token: str = auth.upload_token(bucket, key, expires, policy or None)
    return token


def wait_done(pid: str, auth: qiniu.Auth, timeout: float = 60) -> dict[str, Any]:
    """The job's status once it is done (code 0, 3 or 4), read with the SDK's get_status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ret, info = qiniu.PersistentFop(auth, BUCKET).get_status(pid)
        assert info.status_code == 200, info
        if ret["code"] not in (1, 2):
            done: dict[str, Any] = ret
            return done
        time.sleep(0.05)
    raise AssertionError(f"job {pid} not done in {timeout}s")


def get(server: Server, key: str, query: str = "", host: str | None = None) -> requests.Response:
    base = server.base if host is None else f"http://{host}:{server.port}"
    return requests.get(f"{base}/{key}" + (f"?{query}" if query else ""), timeout=60)


@dataclass
class Receiver:
    """A notify receiver: records every POST; `fail[path] = n` answers 500 n times first."""

    url: str
    bodies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.bodies.get(path, []))

    def wait(self, path: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no notify on {path} within {timeout}s (got {self.received(path)})")


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with state.lock:
                attempts = state.bodies.setdefault("attempts:" + self.path, [])
                attempts.append({"content_type": self.headers.get("Content-Type")})
                left = state.fail.get(self.path, 0)
                if left:
                    state.fail[self.path] = left - 1
                else:
                    state.bodies.setdefault(self.path, []).append(json.loads(body))
            self.send_response(500 if left else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()


CONFIG = """
workers = 2
[limits]
queue = {queue}
sync_queue = {sync_queue}
sync_wait_ms = {sync_wait_ms}
max_upload_bytes = {max_upload}
max_frames = {max_frames}
{limits}
[notify]
attempts = 3
delay_ms = 100
max_delay_ms = 400
timeout_ms = 3000
"""


@dataclass
class Server:
    data: Path
    args: list[str]
    config: Path
    proc: subprocess.Popen[str] | None = None
    base: str = ""
    port: int = 0
    log: Path | None = None
    # Where the server's stderr goes instead of the log file (a file descriptor).
    stderr: int | None = None

    def start(self) -> None:
        env = dict(os.environ, VFRAME_ACCESS_KEY=AK, VFRAME_SECRET_KEY=SK, VFRAME_LOG="info")
        self.log = self.data.parent / f"server-{time.monotonic_ns()}.log"
        log = open(self.log, "w")
        self.proc = subprocess.Popen(
            [
                str(SERVER),
                "--listen",
                "127.0.0.1:0",
                "--data",
                str(self.data),
                "--config",
                str(self.config),
                *self.args,
            ],
            stdout=subprocess.PIPE,
            stderr=log if self.stderr is None else self.stderr,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match, f"unexpected first line {line!r}; log: {self.log.read_text()}"
        self.base, self.port = match.group(1), int(match.group(2))
        assert requests.get(self.base + "/health", timeout=5).status_code == 200
        self.point_sdk()

    def point_sdk(self) -> None:
        region = qiniu.Region(
            up_host=self.base, io_host=self.base, rs_host=self.base, rsf_host=self.base, api_host=self.base
        )
        qiniu.config.set_default(
            default_zone=region,
            default_api_host=self.base,
            default_rs_host=self.base,
            default_rsf_host=self.base,
            default_uc_host=self.base,
            default_query_region_host=self.base,
        )

    def connect(self, timeout: float = 30) -> socket.socket:
        """A raw TCP connection to the server."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metric(self, name: str, labels: str = "") -> float:
        """The sum of a metric's samples whose labels contain LABELS."""
        total = 0.0
        for line in requests.get(self.base + "/metrics", timeout=5).text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            sample, value = line.rsplit(" ", 1)
            if sample.split("{")[0] == name and labels in sample:
                total += float(value)
        return total


def read_until_closed(s: socket.socket) -> bytes:
    """Everything a connection gives until the server closes it."""
    data = bytearray()
    while chunk := s.recv(1 << 20):
        data += chunk
    return bytes(data)


def make_server(
    tmp: Path,
    *,
    queue: int = 50,
    sync_queue: int = 32,
    sync_wait_ms: int = 30000,
    max_upload: int = 64 * 1024 * 1024,
    max_frames: int = 1000,
    limits: str = "",
    workers: int | None = None,
    extra: list[str] | None = None,
) -> Server:
    data = tmp / "data"
    config = tmp / "server.toml"
    config.write_text(
        CONFIG.format(
            queue=queue,
            sync_queue=sync_queue,
            sync_wait_ms=sync_wait_ms,
            max_upload=max_upload,
            max_frames=max_frames,
            limits=limits,
        )
    )
    args = [
        "--private",
        PRIVATE,
        "--domain",
        f"localhost={PRIVATE}",
        "--default-bucket",
        BUCKET,
        "--notify-allow",
        "127.0.0.1",
    ]
    if workers is not None:
        args += ["--workers", str(workers)]
    return Server(data=data, args=args + (extra or []), config=config)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = make_server(tmp_path_factory.mktemp("server"))
    s.start()
    yield s
    s.stop()
    dump_log_on_failure(s)


def dump_log_on_failure(s: Server) -> None:
    if s.log and os.environ.get("VFRAME_SERVER_LOG"):
        print(s.log.read_text())


@pytest.fixture
def sdk(server: Server) -> Server:
    """Points the (process-global) SDK configuration at the module's server."""
    server.point_sdk()
    return server


@pytest.fixture(scope="session")
def auth() -> qiniu.Auth:
    return qiniu.Auth(AK, SK)


@pytest.fixture
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="vframe-server-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)

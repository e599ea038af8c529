#!/usr/bin/env python3
"""The baseline of `make bench`'s service section: what a quick home-made thumbnail service
does. Python's stdlib HTTP server answers `GET /<key>?vframe/jpg/offset/<s>/w/<W>` by running
the ffmpeg CLI once per request (input seeking, the fast and common way), from files in ROOT.

    ffmpeg_service.py ROOT   -> prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import urllib.parse
from pathlib import Path


def ffmpeg_thumbnail(path: Path, op: str) -> bytes:
    parts = op.split("/")
    if len(parts) < 4 or parts[0] != "vframe" or parts[1] not in ("jpg", "jpeg"):
        raise ValueError(f"unsupported operation {op!r}")
    values = dict(zip(parts[2::2], parts[3::2], strict=False))
    width = values.get("w", "-2")
    height = values.get("h", "-2")
    command = ["ffmpeg", "-v", "error", "-ss", values["offset"], "-i", str(path), "-frames:v", "1",
               "-vf", f"scale={width}:{height}", "-q:v", "3", "-f", "image2pipe", "-c:v", "mjpeg", "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def main() -> None:
    root = Path(sys.argv[1]).resolve()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            target = urllib.parse.urlsplit(self.path)
            path = (root / urllib.parse.unquote(target.path.lstrip("/"))).resolve()
            try:
                if root not in path.parents:
                    raise ValueError("outside the root")
                body, status, kind = ffmpeg_thumbnail(path, target.query), 200, "image/jpeg"
            except (ValueError, KeyError, subprocess.CalledProcessError) as e:
                body, status, kind = str(e).encode(), 400, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Checks shared by the tests: an image is what vframe.extract gives in this process, and an
output directory is what its index says it is."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import vframe
import vframe.ray

# The specs of these tests scale by at most ~20x. A KNOWN LIBRARY BUG, not vframe.ray's: at
# larger ratios (e.g. 4000 px wide to 64, 1920 to 32) swscale reads uninitialised memory
# (valgrind: "Conditional jump or move depends on uninitialised value(s)" in sws_scale under
# Scaler::convert_to_rgb) and the bytes vary from call to call, in one process as well.


def assert_same_image(got: bytes | None, want: bytes | None, path: str) -> None:
    """``got`` (from a worker) is ``want`` (from vframe.extract in this process), byte for byte."""
    assert got == want, path


def image_files(out: Path) -> set[str]:
    """Every file under OUT/images, relative to OUT."""
    return {str(p.relative_to(out)) for p in (out / "images").rglob("*") if p.is_file()}


def check_output(out: Path, pairs: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """The index of ``out`` has exactly one row per (opened, spec) of ``pairs``; each OK row's
    file exists with the recorded size and SHA-256, and holds what vframe.extract gives here;
    each failed row has no file; and no image file is outside the index. Returns the rows."""
    rows: list[dict[str, Any]] = vframe.ray.read_index(out).to_pylist()
    assert sorted((r["opened"], r["spec"]) for r in rows) == sorted(pairs)
    listed = set()
    for row in rows:
        if row["status"] == "OK":
            data = (out / row["file"]).read_bytes()
            assert len(data) == row["size"]
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert_same_image(data, vframe.extract(row["opened"], row["spec"]), row["opened"])
            assert row["file"].startswith(f"images/{row['key'][:2]}/{row['key'][2:4]}/{row['key']}_")
            assert row["error"] is None
            listed.add(row["file"])
        else:
            assert row["file"] is None and row["size"] is None and row["sha256"] is None
            assert row["error"], row
    assert image_files(out) == listed
    assert not any((out / "tmp").iterdir()), "temporary files left behind"
    return rows


def stats(out: Path, files: set[str]) -> dict[str, tuple[int, int]]:
    """(inode, mtime in ns) of each file: a file written again gets a new inode (it is renamed
    into place) and a new mtime."""
    result = {}
    for name in files:
        st = os.stat(out / name)
        result[name] = (st.st_ino, st.st_mtime_ns)
    return result

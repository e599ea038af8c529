"""vframe.ray.thumbnails: one row per (path, spec), computed by Ray actors, equal to what
vframe.extract gives in this process; failures are rows with the library's status."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path
from typing import Any

import pytest
import ray.data
from sink import assert_same_image

import vframe
import vframe.ray
from vframe.ray._rows import row_key
from vframe.ray._worker import Extractor, Limits

SPECS = ["vframe/jpg/offset/0.2/w/240", "vframe/png/offset/0/w/200/rotate/auto", "vframe/gif/offset/1"]

# Files of the shared media folder that must fail, and how.
EXPECTED_FAILURES = {
    "corrupt_mp4_malformed_free_box_no_moov.mp4": "CANNOT_OPEN",
    "corrupt_vp9_invalid_bitstream.webm": "DECODE_ERROR",
    "hls/sd-hls.m3u8": "UNSUPPORTED_INPUT",
}


def in_driver(path: str, spec: str, **limits: Any) -> tuple[str, bytes | None]:
    """What this process gets for (path, spec): ("OK", image) or (status name, None)."""
    try:
        return "OK", vframe.extract(path, spec, **limits)
    except vframe.VframeError as e:
        return vframe.Status(e.status).name, None


def media_files(media: Path) -> list[str]:
    """The names MANIFEST.tsv lists (relative to the media folder)."""
    with open(media / "MANIFEST.tsv", newline="") as manifest:
        names = [row["file"] for row in csv.DictReader(manifest, delimiter="\t")]
    assert names, "MANIFEST.tsv lists no file"
    return names


def garbage_files(directory: Path) -> dict[str, str]:
    """Files that are not video, each with the status it must get."""
    rng = random.Random(14)
    (directory / "random.mp4").write_bytes(rng.randbytes(65536))
    (directory / "empty.mkv").write_bytes(b"")
    (directory / "text.webm").write_text("not a video\n" * 100)
    (directory / "folder.mp4").mkdir()
    return {name: "CANNOT_OPEN" for name in ("random.mp4", "empty.mkv", "text.webm", "folder.mp4", "missing.mp4")}


def test_every_row_is_what_extract_gives_in_the_driver(
    cluster: str, media: Path, fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = garbage_files(tmp_path)
    # Fixtures and garbage by relative path (from tmp_path), media by absolute path.
    monkeypatch.chdir(tmp_path)
    fixture_links = []
    for video in sorted(fixtures.iterdir()):
        if video.is_file() and not video.name.startswith("."):
            link = tmp_path / "fixtures" / video.name
            link.parent.mkdir(exist_ok=True)
            link.symlink_to(video)
            fixture_links.append(f"fixtures/{video.name}")
    media_names = media_files(media)
    inputs = [str(media / name) for name in media_names] + fixture_links + sorted(garbage)
    assert len(fixture_links) >= 20

    rows = vframe.ray.thumbnails(inputs, SPECS, workers=2, batch_size=4).take_all()

    assert sorted((r["path"], r["spec"]) for r in rows) == sorted((p, s) for p in inputs for s in SPECS)
    for row in rows:
        path, spec = row["path"], row["spec"]
        assert row["opened"] == (path if os.path.isabs(path) else str(tmp_path / path))
        assert row["key"] == row_key(row["opened"], spec)
        status, image = in_driver(row["opened"], spec)
        assert row["status"] == status, (path, spec, row["error"])
        assert_same_image(row["image"], image, path)
        assert row["elapsed"] >= 0
        assert (row["error"] is None) == (status == "OK"), (path, spec)
    # What the inputs must give (so that the equality above is not between two failures).
    statuses = {(r["path"], r["spec"]): r["status"] for r in rows}
    for path in inputs:
        assert statuses[path, SPECS[2]] == "INVALID_SPEC", path
    for name in media_names:
        for spec in SPECS[:2]:
            assert statuses[str(media / name), spec] == EXPECTED_FAILURES.get(name, "OK"), (name, spec)
    for name, status in garbage.items():
        assert statuses[name, SPECS[0]] == statuses[name, SPECS[1]] == status, name
    # The generated fixtures: videos in every container and codec, plus some that are not
    # video (still images, audio with cover art), which the library refuses as such.
    fixture_statuses = [statuses[link, spec] for link in fixture_links for spec in SPECS[:2]]
    assert set(fixture_statuses) <= {"OK", "NO_VIDEO_STREAM", "UNSUPPORTED_INPUT"}
    assert fixture_statuses.count("OK") >= 0.75 * len(fixture_statuses)


def test_a_worker_gives_what_extract_gives_in_any_order(fixtures: Path, tmp_path: Path) -> None:
    """A worker's library calls (here, without Ray): several specs of one file from one
    opening, each result what vframe.extract gives, message included; also when files that
    cannot be opened come before any spec was seen to parse (extract checks the spec first)."""
    specs = [SPECS[2], SPECS[0], "vframe/jpg/offset/1/w/100", "vframe/jpg/offset/0.5/w/x", "vframe/png/offset/0.4"]
    missing = str(tmp_path / "missing.mp4")
    paths = [missing, "", "a\0b.mp4", str(fixtures / "gop25_25fps.mp4"), str(fixtures / "audio_only.m4a")]
    paths += [str(fixtures / "wide_4000x1000.mp4"), missing, str(fixtures / "vp9.webm")]
    cases: list[Limits] = [{}, {"max_input_pixels": 640 * 480}]
    for limits in cases:
        worker = Extractor(limits)
        for path in paths:
            for spec, (got, elapsed) in zip(specs, worker.extract(path, specs)):
                try:
                    want: bytes | vframe.VframeError = vframe.extract(path, spec, **limits)
                except vframe.VframeError as e:
                    want = e
                if isinstance(want, bytes):
                    assert_same_image(got if isinstance(got, bytes) else None, want, path)
                else:
                    assert isinstance(got, vframe.VframeError), (path, spec)
                    assert (got.status, got.message) == (want.status, want.message), (path, spec)
                assert elapsed >= 0


def test_specs_from_a_column_carry_the_other_columns(cluster: str, fixtures: Path) -> None:
    video, other = str(fixtures / "gop25_25fps.mp4"), str(fixtures / "vp9.webm")
    items: list[dict[str, Any]] = [
        {"video_id": 1, "path": video, "specs": ["vframe/jpg/offset/1", "vframe/png/offset/2/w/64"]},
        {"video_id": 2, "path": other, "specs": ["vframe/jpg/offset/0.5/w/100"]},
        {"video_id": 3, "path": video, "specs": None},
        {"video_id": 4, "path": None, "specs": ["vframe/jpg/offset/1"]},
        {"video_id": 5, "path": other, "specs": []},
    ]
    dataset = ray.data.from_items(items)
    rows = vframe.ray.thumbnails(dataset, spec_column="specs", workers=1, calls_per_worker=2, batch_size=2).take_all()
    got = sorted(((r["video_id"], r["spec"], r["status"]) for r in rows), key=str)
    assert got == sorted(
        [
            (1, "vframe/jpg/offset/1", "OK"),
            (1, "vframe/png/offset/2/w/64", "OK"),
            (2, "vframe/jpg/offset/0.5/w/100", "OK"),
            (3, None, "INVALID_SPEC"),
            (4, "vframe/jpg/offset/1", "INVALID_ARGUMENT"),
        ],
        key=str,
    )
    assert set(rows[0]) == {"video_id", "key", "path", "opened", "spec", "status", "image", "error", "elapsed"}
    for row in rows:
        if row["status"] == "OK":
            assert_same_image(row["image"], vframe.extract(row["path"], row["spec"]), row["path"])


def test_the_library_limits_apply_to_each_row(cluster: str, fixtures: Path, tmp_path: Path) -> None:
    # A pipe whose writer (this process) never writes: reading it blocks until the time limit.
    fifo = tmp_path / "stalled.fifo"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        inputs = [fixtures / "gop25_25fps.mp4", fixtures / "wide_4000x1000.mp4", fifo]
        dataset = vframe.ray.thumbnails(
            inputs, "vframe/jpg/offset/0.1", workers=1, batch_size=1, timeout=1.5, max_input_pixels=640 * 480
        )
        statuses = {Path(r["path"]).name: (r["status"], r["error"]) for r in dataset.take_all()}
    finally:
        os.close(writer)
    assert statuses["gop25_25fps.mp4"] == ("OK", None)
    assert statuses["wide_4000x1000.mp4"][0] == "LIMIT_EXCEEDED"
    assert statuses["stalled.fifo"][0] == "TIMEOUT"
    assert "1.500 s" in statuses["stalled.fifo"][1]


def test_bad_arguments_fail_before_any_work(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    with pytest.raises(TypeError, match="either specs"):
        vframe.ray.thumbnails([video])
    with pytest.raises(TypeError, match="either specs"):
        vframe.ray.thumbnails([video], "vframe/jpg/offset/1", spec_column="spec")
    with pytest.raises(ValueError, match="specs is empty"):
        vframe.ray.thumbnails([video], [])
    with pytest.raises(ValueError, match="no file matches"):
        vframe.ray.thumbnails(str(fixtures / "nothing-like-this-*"), "vframe/jpg/offset/1")
    with pytest.raises(ValueError, match="workers"):
        vframe.ray.thumbnails([video], "vframe/jpg/offset/1", workers=0)

"""The sink: images in a directory tree on a pyarrow filesystem plus a Parquet index that
matches them; a re-run skips what the index has and leaves its files alone."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs
import pytest
from sink import check_output, image_files, stats

import vframe.ray

SPECS = ["vframe/jpg/offset/0.2/w/48", "vframe/png/offset/0/rotate/auto", "vframe/jpg/offset/-1"]


def inputs(fixtures: Path, tmp_path: Path) -> list[str]:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(20000))
    videos = sorted(str(p) for p in fixtures.glob("tiny_*"))
    assert len(videos) >= 6
    return videos + [str(fixtures / "audio_only.m4a"), str(garbage), str(tmp_path / "missing.mp4")]


def test_thumbnails_to_writes_images_and_an_index_and_a_rerun_skips_them(
    cluster: str, fixtures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first_inputs = inputs(fixtures, tmp_path)
    pairs = {(p, s) for p in first_inputs for s in SPECS}

    first = vframe.ray.thumbnails_to(first_inputs, SPECS, out, workers=1, batch_size=2)
    rows = check_output(out, pairs)
    ok = sum(1 for r in rows if r["status"] == "OK")
    assert (first.done, first.failed, first.skipped) == (ok, len(pairs) - ok, 0)
    assert ok == 2 * (len(first_inputs) - 3)  # every tiny video, both valid specs
    assert first.failures["INVALID_SPEC"] == len(first_inputs)
    assert {r["run"] for r in rows} == {first.run}
    assert first.compacted > 1 and len(list((out / "index").iterdir())) == 1
    before = stats(out, image_files(out))

    # Again, with one more video: only its thumbnails are made; the other files are untouched.
    more = str(fixtures / "gop25_25fps.mp4")
    second = vframe.ray.thumbnails_to([*first_inputs, more], SPECS, out, workers=1, batch_size=2)
    rows = check_output(out, pairs | {(more, s) for s in SPECS})
    assert (second.done, second.failed, second.skipped) == (2, 1, len(pairs))
    assert {r["opened"] for r in rows if r["run"] == second.run} == {more}
    assert {k: v for k, v in stats(out, image_files(out)).items() if k in before} == before

    # Failed rows are done too, unless asked to retry them; inputs named by a glob pattern.
    tiny = sorted(str(p) for p in fixtures.glob("tiny_*"))
    third = vframe.ray.thumbnails_to(str(fixtures / "tiny_*"), SPECS, out, workers=1, retry_failed=True)
    assert (third.done, third.failed, third.skipped) == (0, len(tiny), 2 * len(tiny))
    rows = check_output(out, pairs | {(more, s) for s in SPECS})
    assert {r["opened"] for r in rows if r["run"] == third.run} == set(tiny)
    assert {r["spec"] for r in rows if r["run"] == third.run} == {SPECS[2]}
    assert stats(out, set(before)) == before


def test_write_thumbnails_from_a_dataset_or_rows_on_any_filesystem(
    cluster: str, fixtures: Path, tmp_path: Path
) -> None:
    videos = inputs(fixtures, tmp_path)
    pairs = {(p, s) for p in videos for s in SPECS}
    dataset = vframe.ray.thumbnails(videos, SPECS, workers=1, batch_size=3).materialize()
    subtree = pyarrow.fs.SubTreeFileSystem(str(tmp_path), pyarrow.fs.LocalFileSystem())

    by_ray = vframe.ray.write_thumbnails(dataset, "by-ray", filesystem=subtree)
    index = check_output(tmp_path / "by-ray", pairs)
    assert (by_ray.done + by_ray.failed, by_ray.skipped) == (len(pairs), 0)

    by_driver = vframe.ray.write_thumbnails(dataset.take_all(), tmp_path / "by-driver")
    same = check_output(tmp_path / "by-driver", pairs)
    assert (by_driver.done, by_driver.failed) == (by_ray.done, by_ray.failed)
    assert sorted((r["key"], r["file"], r["sha256"]) for r in index) == sorted(
        (r["key"], r["file"], r["sha256"]) for r in same
    )

    before = stats(tmp_path / "by-ray", image_files(tmp_path / "by-ray"))
    again = vframe.ray.write_thumbnails(dataset, "by-ray", filesystem=subtree)
    assert (again.done, again.failed, again.skipped) == (0, 0, len(pairs))
    assert stats(tmp_path / "by-ray", set(before)) == before

    with pytest.raises(ValueError, match="missing"):
        vframe.ray.write_thumbnails([{"path": "x", "spec": "y"}], tmp_path / "bad")

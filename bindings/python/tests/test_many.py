"""vframe.extract_many: many thumbnails of one file in one call, equal to single calls."""

from __future__ import annotations

from pathlib import Path

import pytest

import vframe

SPECS = [
    "vframe/png/offset/7.01",
    "vframe/jpg/offset/2/w/160",
    "vframe/png/offset/7",
    "vframe/png/offset/60",
]


def test_each_image_equals_a_single_call(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    images = vframe.extract_many(video, SPECS)
    assert images == [vframe.extract(video, spec) for spec in SPECS]


def test_a_bad_spec_raises_or_is_returned_alone(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    specs = ["vframe/png/offset/1", "vframe/png/offset/x", "vframe/jpg/offset/3"]
    with pytest.raises(vframe.InvalidSpecError, match="offset 'x'"):
        vframe.extract_many(video, specs)
    results = vframe.extract_many(video, specs, return_exceptions=True)
    assert isinstance(results[1], vframe.InvalidSpecError)
    assert results[0] == vframe.extract(video, specs[0])
    assert results[2] == vframe.extract(video, specs[2])


def test_an_input_without_video_fails_every_spec(fixtures: Path) -> None:
    results = vframe.extract_many(fixtures / "audio_only.m4a", SPECS[:2], return_exceptions=True)
    assert all(isinstance(r, vframe.NoVideoStreamError) for r in results)
    assert vframe.extract_many(fixtures / "audio_only.m4a", []) == []

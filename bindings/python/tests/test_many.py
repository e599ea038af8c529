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


def test_specs_must_be_a_list_of_str_not_one_str(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    for specs in ("vframe/jpg/offset/1", b"vframe/jpg/offset/1", ["vframe/jpg/offset/1", b"vframe/jpg/offset/2"], 7):
        with pytest.raises(TypeError, match="spec"):
            vframe.extract_many(video, specs)  # type: ignore[arg-type]


def test_a_nul_in_one_spec_fails_that_spec_alone(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    specs = ["vframe/jpg/offset/1", "vframe/jpg/offset/2\0/w/10", "vframe/png/offset/3"]
    results = vframe.extract_many(video, specs, return_exceptions=True)
    assert isinstance(results[1], vframe.InvalidArgumentError) and "NUL" in str(results[1])
    assert results[0] == vframe.extract(video, specs[0]) and results[2] == vframe.extract(video, specs[2])
    with pytest.raises(vframe.InvalidArgumentError, match="NUL"):
        vframe.extract_many(video, specs)
    with pytest.raises(vframe.InvalidArgumentError, match="NUL"):
        vframe.extract_many(f"{video}\0.txt", specs[:1])


def test_arguments_that_stop_the_call_fail_every_spec(fixtures: Path) -> None:
    specs = ["vframe/jpg/offset/1", "vframe/png/offset/2"]
    results = vframe.extract_many("", specs, return_exceptions=True)
    assert [type(r) for r in results] == [vframe.InvalidArgumentError] * 2, results
    assert "empty" in str(results[0])
    results = vframe.extract_many("/nonexistent/movie.mp4", [*specs, "vframe/bad"], return_exceptions=True)
    assert [type(r) for r in results] == [vframe.CannotOpenError] * 2 + [vframe.InvalidSpecError], results


def test_every_failing_spec_keeps_its_own_message(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    specs = ["vframe/jpg/offset/1", "vframe/gif/offset/1", "vframe/png/offset/soon", "vframe/png/offset/2"]
    results = vframe.extract_many(video, specs, return_exceptions=True)
    assert isinstance(results[1], vframe.InvalidSpecError) and "gif" in str(results[1]), results[1]
    assert isinstance(results[2], vframe.InvalidSpecError) and "soon" in str(results[2]), results[2]
    for i in (1, 2):  # each message is the one a single call gives for that spec
        with pytest.raises(vframe.InvalidSpecError) as single:
            vframe.extract(video, specs[i])
        assert str(results[i]) == str(single.value)
    # A file that cannot be opened: the open's message for each spec it fails, after a
    # malformed spec's own.
    results = vframe.extract_many("/nonexistent/movie.mp4", ["vframe/bad", *specs[:1]], return_exceptions=True)
    assert isinstance(results[0], vframe.InvalidSpecError) and "bad" in str(results[0]), results[0]
    assert isinstance(results[1], vframe.CannotOpenError) and "/nonexistent/movie.mp4" in str(results[1]), results[1]

"""Spec strings built by Qiniu's own Python SDK go straight into vframe.extract (SPEC §1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from images import image_size

import vframe

qiniu = pytest.importorskip("qiniu", reason="the Qiniu SDK is not installed (pip install qiniu)")


def test_sdk_built_specs_give_the_image_they_describe(fixtures: Path) -> None:
    plain, rotated = fixtures / "gop25_25fps.mp4", fixtures / "rotate90.mp4"  # 320x240, 6 s
    cases = [
        (plain, qiniu.build_op("vframe", "jpg", offset=3), ("jpg", 320, 240)),
        (plain, qiniu.build_op("vframe", "jpg", offset=3, w=480, h=360), ("jpg", 480, 360)),
        (plain, qiniu.build_op("vframe", "png", offset=1.5, w=200), ("png", 200, 150)),
        (plain, qiniu.build_op("vframe", "jpeg", offset=0.04, h=120), ("jpg", 160, 120)),
        (rotated, qiniu.build_op("vframe", "jpg", offset=2, w=120, rotate="auto"), ("jpg", 120, 160)),
        (rotated, qiniu.build_op("vframe", "png", offset=2, rotate=180), ("png", 320, 240)),
    ]
    for video, spec, expected in cases:
        assert spec.startswith("vframe/")
        image = vframe.extract(video, spec)
        assert image_size(image) == expected, spec


def test_sdk_offsets_printed_with_an_exponent_are_read(fixtures: Path) -> None:
    # str() of a float below 0.0001 has an exponent: the SDK sends "offset/1e-05".
    video = fixtures / "gop25_25fps.mp4"
    spec = qiniu.build_op("vframe", "jpg", offset=0.00001, w=64)
    assert "offset/1e-05" in spec
    assert vframe.extract(video, spec) == vframe.extract(video, "vframe/jpg/offset/0/w/64")


def test_the_sdk_and_the_keyword_form_make_the_same_request(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    for parts in (
        dict(offset=7, w=480, h=360),
        dict(offset=7.5),
        dict(offset=0.125, w=100, rotate=90),
        dict(offset=9.96, h=48, rotate="auto"),
    ):
        sdk = qiniu.build_op("vframe", "jpg", **parts)
        assert vframe.build_spec("jpg", **parts) == sdk
        assert vframe.extract(video, sdk) == vframe.extract(video, format="jpg", **parts)


def test_a_url_query_form_is_accepted(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    spec = qiniu.build_op("vframe", "jpg", offset=7, w=480, h=360)
    assert vframe.extract(video, "?" + spec) == vframe.extract(video, spec)


def test_sdk_specs_the_service_would_refuse_are_refused(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    with pytest.raises(vframe.InvalidSpecError, match="'gif'"):
        vframe.extract(video, qiniu.build_op("vframe", "gif", offset=1))
    with pytest.raises(vframe.InvalidSpecError, match="'4000'"):
        vframe.extract(video, qiniu.build_op("vframe", "jpg", offset=1, w=4000))
    # A persistent-processing pipeline ("|saveas/...") is not a vframe spec.
    with pytest.raises(vframe.InvalidSpecError):
        vframe.extract(video, qiniu.op_save(qiniu.build_op("vframe", "jpg", offset=1), "bucket", "key.jpg"))

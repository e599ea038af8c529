"""vframe.sample and vframe.storyboard: every frame equals a single vframe.extract call;
a real WebVTT parser (webvtt-py) reads the storyboard's index and every cue's tile,
cropped from its sheet (Pillow), is the single thumbnail at that time; WebP decodes and
matches the PNG; fast mode; failures; streaming."""

from __future__ import annotations

import io
import math
import sys
import types
from pathlib import Path

import pytest
import webvtt
from PIL import Image, ImageChops, ImageStat

import vframe


def test_sample_frames_equal_single_calls(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    frames = vframe.sample(video, "vsample/jpg/interval/0.9/s/160x/pattern/dmZyYW1lLSQoY291bnQp")
    assert [f.offset_ms for f in frames] == [i * 900 for i in range(12)]
    for i, frame in enumerate(frames):
        assert frame.index == i and frame.key == f"vframe-{i + 1:06d}"
        assert frame.image == vframe.extract(video, f"vframe/jpg/offset/{frame.offset}/w/160")
        assert abs(frame.time - frame.offset) < 0.04


def test_sample_from_bytes_and_streaming(fixtures: Path) -> None:
    data = (fixtures / "gop25_25fps.mp4").read_bytes()
    frames = vframe.sample(data, "vsample/png/frames/3/mode/fast")
    assert [f.offset_ms for f in frames] == [0, 2000, 4000]
    seen: list[vframe.Frame] = []
    assert vframe.sample(data, "vsample/png/frames/3/mode/fast", on_frame=seen.append) == []
    assert seen == frames

    def stop(frame: vframe.Frame) -> None:
        raise KeyError(frame.index)

    with pytest.raises(KeyError):
        vframe.sample(fixtures / "gop25_25fps.mp4", "vsample/jpg", on_frame=stop)


def test_sample_raises_a_keyboard_interrupt_from_on_frame(fixtures: Path) -> None:
    def interrupted(frame: vframe.Frame) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vframe.sample(fixtures / "gop25_25fps.mp4", "vsample/jpg/interval/1", on_frame=interrupted)


def test_sample_raises_a_signal_that_lands_between_frames(fixtures: Path) -> None:
    # Ctrl-C between two frames: Python raises KeyboardInterrupt in the next Python code,
    # the first line of vframe's ctypes callback, before its try. A trace function raising
    # at that function's "call" event does the same, deterministically.
    fired: list[str] = []
    calls: list[int] = []

    def tracer(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_filename.endswith("_frames.py") and not fired:
            fired.append(frame.f_code.co_name)
            raise KeyboardInterrupt

    def on_frame(frame: vframe.Frame) -> None:
        calls.append(frame.index)
        if len(calls) == 2:
            sys.settrace(tracer)  # fires when the library calls back for the next frame

    try:
        with pytest.raises(KeyboardInterrupt):
            vframe.sample(fixtures / "gop25_25fps.mp4", "vsample/jpg/interval/1", on_frame=on_frame)
    finally:
        sys.settrace(None)
    assert fired and calls == [0, 1], (fired, calls)


def test_sample_failures(fixtures: Path) -> None:
    for call in (vframe.sample, vframe.storyboard):
        for spec in (None, 3, b"vsample/jpg"):
            with pytest.raises(TypeError, match=f"^spec must be a str, not {type(spec).__name__}$"):
                call(fixtures / "gop25_25fps.mp4", spec)  # type: ignore[arg-type]
    with pytest.raises(vframe.InvalidSpecError, match="interval and frames"):
        vframe.sample(fixtures / "gop25_25fps.mp4", "vsample/jpg/interval/1/frames/2")
    with pytest.raises(vframe.NoVideoStreamError):
        vframe.sample(fixtures / "audio_only.m4a", "vsample/jpg")
    with pytest.raises(vframe.VframeTimeoutError):
        vframe.sample(fixtures / "long_single_gop.ts", "vsample/png/interval/5", timeout=0.001)


def _pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def _seconds(timestamp: str) -> float:
    h, m, s = timestamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_storyboard_cues_point_at_the_single_thumbnails(fixtures: Path, tmp_path: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    board = vframe.storyboard(video, "storyboard/png/interval/0.8/s/64x48/columns/4/rows/2/margin/2/padding/1")
    assert [s.name for s in board.sheets] == [f"storyboard-{i:06d}.png" for i in (1, 2)]
    (tmp_path / "storyboard.vtt").write_text(board.vtt)
    cues = webvtt.read(str(tmp_path / "storyboard.vtt"))
    assert len(cues) == 13 == len(board.index["tiles"])
    sheets = {s.name: _pixels(s.image) for s in board.sheets}
    for i, cue in enumerate(cues):
        name, xywh = cue.text.split("#xywh=")
        x, y, w, h = (int(v) for v in xywh.split(","))
        assert (w, h) == (64, 48)
        tile = sheets[name].crop((x, y, x + w, y + h))
        start = _seconds(cue.start)
        assert start == pytest.approx(i * 0.8)
        single = _pixels(vframe.extract(video, f"vframe/png/offset/{start:.3f}/w/64/h/48"))
        assert ImageChops.difference(tile, single).getbbox() is None, f"cue {i} at {cue.start}"
    assert board.index["sheets"][1] == {
        "name": "storyboard-000002.png",
        "width": 4 * 64 + 4 + 3,
        "height": 4 + 48 * 2 + 1,
        "tiles": 5,
    }


def test_webp_decodes_close_to_the_png(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    png = _pixels(vframe.extract(video, "vframe/png/offset/2.5/w/240"))
    sizes = []
    for q in (20, 60, 95):
        webp = vframe.extract(video, f"vframe/webp/offset/2.5/w/240/q/{q}")
        decoded = Image.open(io.BytesIO(webp))
        assert decoded.format == "WEBP" and decoded.size == png.size
        mse = sum(v * v for v in ImageStat.Stat(ImageChops.difference(decoded.convert("RGB"), png)).rms) / 3
        assert 10 * math.log10(255 * 255 / max(mse, 1e-9)) > 22, f"q {q}"
        sizes.append(len(webp))
    assert sizes == sorted(sizes) and len(set(sizes)) == 3


def test_the_format_keyword_takes_webp(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    webp = vframe.extract(video, format="webp", offset=2.5, w=240)
    assert webp == vframe.extract(video, "vframe/webp/offset/2.5/w/240")
    with vframe.open(video) as source:
        assert source.extract(format="webp", offset=2.5, w=240) == webp
    with pytest.raises(vframe.InvalidSpecError, match="jpg, jpeg, png or webp"):
        vframe.extract(video, format="gif", offset=1)


def test_storyboard_from_bytes_and_failures(fixtures: Path) -> None:
    data = (fixtures / "gop25_25fps.mp4").read_bytes()
    board = vframe.storyboard(data, "storyboard/webp/frames/4/s/80x")
    assert len(board.sheets) == 1 and Image.open(io.BytesIO(board.sheets[0].image)).format == "WEBP"
    assert board.vtt.startswith("WEBVTT\n")
    with pytest.raises(vframe.LimitExceededError, match="over the limit"):
        vframe.storyboard(data, "storyboard/jpg/s/3000x/interval/0.5/columns/10")
    with pytest.raises(vframe.InvalidSpecError, match="color"):
        vframe.storyboard(data, "storyboard/jpg/color/blue")

"""Failures as a user meets them: one exception class per library status, carrying the
library's message for that very call."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import vframe
from vframe import errors

REPO = Path(__file__).resolve().parents[3]

ERROR_CLASSES = {
    vframe.Status.INVALID_SPEC: vframe.InvalidSpecError,
    vframe.Status.INVALID_ARGUMENT: vframe.InvalidArgumentError,
    vframe.Status.CANNOT_OPEN: vframe.CannotOpenError,
    vframe.Status.UNSUPPORTED_INPUT: vframe.UnsupportedInputError,
    vframe.Status.NO_VIDEO_STREAM: vframe.NoVideoStreamError,
    vframe.Status.DECODE_ERROR: vframe.DecodeError,
    vframe.Status.ENCODE_ERROR: vframe.EncodeError,
    vframe.Status.TIMEOUT: vframe.VframeTimeoutError,
    vframe.Status.LIMIT_EXCEEDED: vframe.LimitExceededError,
    vframe.Status.CANCELLED: vframe.CancelledError,
    vframe.Status.INTERNAL: vframe.InternalError,
    vframe.Status.BUSY: vframe.BusyError,
}


def _raised(call: object, *args: object, **kwargs: object) -> vframe.VframeError:
    with pytest.raises(vframe.VframeError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize(
    "spec, bad_part",
    [
        ("", "empty"),
        ("vframe/gif/offset/1", "'gif'"),
        ("vframe/jpg/offset/abc", "'abc'"),
        ("vframe/jpg/offset/-1", "'-1'"),
        ("vframe/jpg/offset/1/w/0", "'0'"),
        ("vframe/jpg/offset/1/h/9999", "'9999'"),
        ("vframe/jpg/offset/1/rotate/45", "'45'"),
        ("vframe/jpg", "offset"),
        ("vframe/jpg/offset/1/x/2", "'x'"),
        ("vframe/jpg/offset/1/w/10/w/20", "'w'"),
        ("imageView2/1/w/2", "vframe/"),
    ],
)
def test_a_bad_spec_raises_invalid_spec_naming_the_bad_part(fixtures: Path, spec: str, bad_part: str) -> None:
    error = _raised(vframe.extract, fixtures / "gop25_25fps.mp4", spec)
    assert type(error) is vframe.InvalidSpecError
    assert error.status == vframe.Status.INVALID_SPEC and int(error.status) == 1
    assert bad_part in str(error) and str(error) == error.message


def test_keyword_parts_are_checked_as_a_spec_string_is(fixtures: Path) -> None:
    # A range: the library's check. A value outside the grammar: refused before the call.
    # Both the same way: InvalidSpecError naming the part.
    error = _raised(vframe.extract, fixtures / "gop25_25fps.mp4", format="jpg", offset=1, w=99999)
    assert type(error) is vframe.InvalidSpecError and "'99999'" in str(error)
    error = _raised(vframe.extract, fixtures / "gop25_25fps.mp4", format="bmp", offset=1)
    assert type(error) is vframe.InvalidSpecError and "'bmp'" in str(error)


def test_inputs_that_cannot_be_opened(fixtures: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no such video.mp4"
    error = _raised(vframe.extract, missing, "vframe/jpg/offset/1")
    assert type(error) is vframe.CannotOpenError and str(missing) in str(error)
    assert type(_raised(vframe.extract, tmp_path, "vframe/jpg/offset/1")) is vframe.CannotOpenError
    assert type(_raised(vframe.extract, b"not a video at all" * 64, "vframe/jpg/offset/1")) is vframe.CannotOpenError
    assert type(_raised(vframe.extract, b"", "vframe/jpg/offset/1")) is vframe.CannotOpenError
    truncated = (fixtures / "gop25_25fps.mp4").read_bytes()[:2000]
    assert isinstance(_raised(vframe.extract, truncated, "vframe/jpg/offset/1"), vframe.VframeError)


def test_a_playlist_is_refused_even_under_a_video_name(tmp_path: Path, fixtures: Path) -> None:
    segment = tmp_path / "segment.ts"
    segment.write_bytes((fixtures / "start600.ts").read_bytes())
    playlist = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:8\n#EXTINF:8.0,\nsegment.ts\n#EXT-X-ENDLIST\n"
    disguised = tmp_path / "movie.mp4"
    disguised.write_text(playlist)
    for source in (disguised, playlist.encode()):
        error = _raised(vframe.extract, source, "vframe/jpg/offset/1")
        assert type(error) is vframe.UnsupportedInputError and "hls" in str(error).lower()


def test_audio_only_input_has_no_video_stream(fixtures: Path) -> None:
    error = _raised(vframe.extract, fixtures / "audio_only.m4a", "vframe/jpg/offset/1")
    assert type(error) is vframe.NoVideoStreamError and error.status == 5


def test_limits_raise_their_own_classes(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"  # 320x240, keyframes at 0 and 8.33 s: offset 8 needs ~240 frames
    error = _raised(vframe.extract, video, "vframe/jpg/offset/8", max_decoded_frames=10)
    assert type(error) is vframe.LimitExceededError and "10" in str(error)
    error = _raised(vframe.extract, video, "vframe/jpg/offset/1", max_input_pixels=320 * 240 - 1)
    assert type(error) is vframe.LimitExceededError and "320x240" in str(error)
    error = _raised(vframe.extract, video, "vframe/jpg/offset/9.9", timeout=0.001)
    assert type(error) is vframe.VframeTimeoutError and error.status == vframe.Status.TIMEOUT
    assert not isinstance(error, TimeoutError), "the builtin TimeoutError is not shadowed or reused"


def test_arguments_the_library_cannot_take(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    error = _raised(vframe.extract, video, "vframe/jpg/offset/1", threads=5000)
    assert type(error) is vframe.InvalidArgumentError and "5000" in str(error)
    assert type(_raised(vframe.extract, "", "vframe/jpg/offset/1")) is vframe.InvalidArgumentError
    # A NUL would silently cut a C string: refused before the call.
    assert type(_raised(vframe.extract, f"{video}\0.txt", "vframe/jpg/offset/1")) is vframe.InvalidArgumentError
    assert type(_raised(vframe.extract, video, "vframe/jpg/offset/1\0/w/9")) is vframe.InvalidArgumentError
    # A lone surrogate is no text, nor a file name: refused as such, not a UnicodeEncodeError.
    for path, spec in ((f"{video}\ud800", "vframe/jpg/offset/1"), (video, "vframe/jpg/offset/1\udcff")):
        error = _raised(vframe.extract, path, spec)
        assert type(error) is vframe.InvalidArgumentError and "surrogate" in str(error), repr(error)
    error = _raised(vframe.sample, video, "vsample/jpg\udcff")
    assert type(error) is vframe.InvalidArgumentError and "surrogate" in str(error), repr(error)
    # Values a C field cannot hold are refused rather than wrapped around.
    assert type(_raised(vframe.extract, video, "vframe/jpg/offset/1", timeout=-1)) is vframe.InvalidArgumentError
    error = _raised(vframe.extract, video, "vframe/jpg/offset/1", max_decoded_frames=-5)
    assert type(error) is vframe.InvalidArgumentError


def test_misuse_of_the_python_api_is_a_type_error(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    with pytest.raises(TypeError):
        vframe.extract(video, "vframe/jpg/offset/1", w=10)  # both a spec and keywords
    with pytest.raises(TypeError):
        vframe.extract(video)  # neither
    with pytest.raises(TypeError):
        vframe.extract(video, offset=1)  # no format
    with pytest.raises(TypeError):
        vframe.extract(42, "vframe/jpg/offset/1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        vframe.extract(video, "vframe/jpg/offset/1", threads=1.5)  # type: ignore[arg-type]


def test_each_status_has_its_class_and_the_library_knows_each_status() -> None:
    assert set(ERROR_CLASSES) == set(vframe.Status) - {vframe.Status.OK}
    for status, cls in ERROR_CLASSES.items():
        error = errors.error_for_status(status, "a message")
        assert type(error) is cls and error.status == status and str(error) == "a message"
        assert issubclass(cls, vframe.VframeError)
        assert vframe._native.status_text(status) != "unknown status"
    # A status newer than this package still raises a VframeError with its code.
    newer = errors.error_for_status(len(vframe.Status), "from the future")
    assert type(newer) is vframe.VframeError and newer.status == len(vframe.Status)
    assert vframe._native.status_text(len(vframe.Status)) == "unknown status", "the library has a status Python lacks"


def test_status_values_match_the_c_header() -> None:
    header = REPO / "include" / "vframe.h"
    if not header.is_file():
        pytest.skip(f"{header} not generated yet")
    in_header = {name: int(value) for name, value in re.findall(r"VFRAME_STATUS_(\w+) = (\d+)", header.read_text())}
    assert in_header == {status.name: status.value for status in vframe.Status}


def test_each_call_reports_its_own_message_from_many_threads(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"
    bad_offsets = [f"bad{i}x" for i in range(64)]

    def message_for(offset: str) -> str:
        return _raised(vframe.extract, video, format="jpg", offset=offset).message

    with ThreadPoolExecutor(8) as pool:
        messages = list(pool.map(message_for, bad_offsets))
    for offset, message in zip(bad_offsets, messages):
        assert f"'{offset}'" in message


def test_real_world_damaged_files(media: Path) -> None:
    cases = {
        "corrupt_mp4_malformed_free_box_no_moov.mp4": vframe.CannotOpenError,
        "corrupt_vp9_invalid_bitstream.webm": vframe.DecodeError,
        "hls/sd-hls.m3u8": vframe.UnsupportedInputError,
    }
    for name, cls in cases.items():
        path = media / name
        assert path.is_file(), f"the shared media folder lacks {name}"
        for source in (path, path.read_bytes()):
            error = _raised(vframe.extract, source, "vframe/jpg/offset/1")
            assert type(error) is cls, f"{name}: {error!r}"
            assert error.message

"""vframe.extract as a user calls it: paths and bytes, spec strings and keywords, options."""

from __future__ import annotations

import decimal
import fractions
import mmap
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from images import image_size

import vframe

REPO = Path(__file__).resolve().parents[3]


def test_a_path_gives_a_jpeg_of_the_video_size(fixtures: Path) -> None:
    video = fixtures / "gop25_25fps.mp4"  # 320x240
    for source in (str(video), video):
        image = vframe.extract(source, "vframe/jpg/offset/2")
        assert isinstance(image, bytes)
        assert image_size(image) == ("jpg", 320, 240)


def test_the_bytes_of_a_file_give_the_same_image_as_its_path(fixtures: Path) -> None:
    for name, spec in [
        ("gop25_25fps.mp4", "vframe/png/offset/2.5"),
        ("bframes_gop250.mp4", "vframe/jpg/offset/9.5/w/160"),
        ("start600.ts", "vframe/jpg/offset/4"),
        ("vfr.mkv", "vframe/jpg/offset/3"),
    ]:
        path = fixtures / name
        data = path.read_bytes()
        from_path = vframe.extract(path, spec)
        for source in (data, bytearray(data), memoryview(data), memoryview(bytearray(data))):
            assert vframe.extract(source, spec) == from_path, f"{name} from {type(source).__name__}"


def test_a_memory_mapped_file_is_read_as_its_bytes(fixtures: Path) -> None:
    path = fixtures / "gop25_25fps.mp4"
    spec = "vframe/jpg/offset/2"
    expected = vframe.extract(path, spec)
    with open(path, "rb") as file:
        for access in (mmap.ACCESS_READ, mmap.ACCESS_COPY):
            with mmap.mmap(file.fileno(), 0, access=access) as mapped:
                assert vframe.extract(mapped, spec) == expected
                with vframe.open(mapped) as source:
                    assert source.extract(spec) == expected
                assert vframe.sample(mapped, "vsample/jpg/frames/3") == vframe.sample(path, "vsample/jpg/frames/3")


def test_a_slice_of_a_larger_buffer_is_read_as_the_video(fixtures: Path) -> None:
    data = (fixtures / "gop25_25fps.mp4").read_bytes()
    padded = bytearray(b"junk" * 100) + bytearray(data) + bytearray(b"tail" * 100)
    view = memoryview(padded)[400 : 400 + len(data)]
    assert vframe.extract(view, "vframe/jpg/offset/1") == vframe.extract(data, "vframe/jpg/offset/1")


def test_keywords_give_the_same_image_as_the_spec_string(fixtures: Path) -> None:
    video = fixtures / "rotate90.mp4"
    assert vframe.extract(video, format="jpg", offset=1.5, w=120, rotate="auto") == vframe.extract(
        video, "vframe/jpg/offset/1.5/w/120/rotate/auto"
    )
    assert vframe.extract(video, format="png", offset=2, h=100, rotate=90) == vframe.extract(
        video, "vframe/png/offset/2/h/100/rotate/90"
    )


def test_build_spec_writes_numbers_as_the_spec_syntax_wants() -> None:
    assert vframe.build_spec("jpg", 7) == "vframe/jpg/offset/7"
    assert vframe.build_spec("jpg", 7, w=480, h=360) == "vframe/jpg/offset/7/w/480/h/360"
    assert vframe.build_spec("png", 7.5, rotate="auto") == "vframe/png/offset/7.5/rotate/auto"
    assert vframe.build_spec("jpg", 0.00001) == "vframe/jpg/offset/0.00001"  # never "1e-05"
    assert vframe.build_spec("jpg", 3600.125) == "vframe/jpg/offset/3600.125"
    assert vframe.build_spec("jpg", decimal.Decimal("1E+1")) == "vframe/jpg/offset/10"
    assert vframe.build_spec("jpeg", "12.5", h=90, rotate=270) == "vframe/jpeg/offset/12.5/h/90/rotate/270"


def test_width_height_and_rotation_shape_the_image(fixtures: Path) -> None:
    plain, rotated = fixtures / "gop25_25fps.mp4", fixtures / "rotate90.mp4"  # 320x240
    assert image_size(vframe.extract(plain, format="jpg", offset=1, w=160)) == ("jpg", 160, 120)
    assert image_size(vframe.extract(plain, format="png", offset=1, h=60)) == ("png", 80, 60)
    assert image_size(vframe.extract(plain, format="jpg", offset=1, w=100, h=50)) == ("jpg", 100, 50)
    assert image_size(vframe.extract(rotated, format="jpg", offset=1, rotate="auto")) == ("jpg", 240, 320)
    assert image_size(vframe.extract(rotated, format="jpg", offset=1)) == ("jpg", 320, 240)


def test_different_moments_give_different_images(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    images = {vframe.extract(video, format="png", offset=t) for t in (0, 3.3, 6.6, 9.9)}
    assert len(images) == 4


def _rgb(ffmpeg: str, *args: str, stdin: bytes = b"") -> bytes:
    command = [ffmpeg, "-nostdin", "-v", "error", *args, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return subprocess.run(command, input=stdin, capture_output=True, check=True).stdout


def _mean_difference(a: bytes, b: bytes) -> float:
    assert len(a) == len(b)
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


def test_the_frame_is_the_one_ffmpeg_picks_not_a_neighbour(fixtures: Path, ffmpeg: str) -> None:
    video = str(fixtures / "gop25_25fps.mp4")  # 25 fps: frames every 0.04 s
    ours = _rgb(ffmpeg, "-i", "-", stdin=vframe.extract(video, format="png", offset=2))
    truth, before, after = (_rgb(ffmpeg, "-i", video, "-ss", t, "-frames:v", "1") for t in ("2", "1.96", "2.04"))
    # Colour conversion differs a little between vframe and the ffmpeg CLI; the picture must
    # be far closer to the right frame than to the frames either side of it.
    nearest = _mean_difference(ours, truth)
    assert nearest < 0.6 * _mean_difference(ours, before)
    assert nearest < 0.6 * _mean_difference(ours, after)


def test_options_that_do_not_bite_leave_the_image_unchanged(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    spec = "vframe/jpg/offset/5"
    plain = vframe.extract(video, spec)
    assert vframe.extract(video, spec, threads=1) == plain
    assert vframe.extract(video, spec, timeout=120, max_decoded_frames=1000, max_input_pixels=320 * 240) == plain
    assert vframe.extract(video, spec, timeout=0) == plain  # 0: no time limit
    assert vframe.extract(video.read_bytes(), spec, threads=2, timeout=30) == plain


def test_vframe_library_overrides_the_library_found_otherwise(tmp_path: Path, fixtures: Path) -> None:
    override = tmp_path / "override" / "libvframe.so"
    override.parent.mkdir()
    shutil.copyfile(vframe.library_path(), override)
    video = fixtures / "gop25_25fps.mp4"
    code = f"import vframe; vframe.extract({str(video)!r}, 'vframe/jpg/offset/1'); print(vframe.library_path())"
    env = dict(os.environ, VFRAME_LIBRARY=str(override))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(override)


def test_package_library_and_crate_versions_agree() -> None:
    cargo = (REPO / "Cargo.toml").read_text()
    crate_version = re.search(r'(?m)^version\s*=\s*"([^"]+)"', cargo)
    assert crate_version is not None
    assert vframe.__version__ == vframe.library_version() == crate_version.group(1)


def _run_checkout_package(env: dict, code: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """Runs ``code`` in a fresh Python that imports vframe from this checkout's sources."""
    full_env = {k: v for k, v in os.environ.items() if k != "VFRAME_LIBRARY"}
    full_env.update(env, PYTHONPATH=str(REPO / "bindings" / "python" / "src"))
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=60)


def test_a_wrong_vframe_library_is_reported_not_skipped(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "libvframe.so"
    run = _run_checkout_package(
        {"VFRAME_LIBRARY": str(missing)}, "import vframe; vframe.extract('x.mp4', 'vframe/jpg/offset/1')"
    )
    assert run.returncode != 0
    assert "VFRAME_LIBRARY" in run.stderr and str(missing) in run.stderr


def test_a_source_checkout_finds_its_own_build() -> None:
    build = REPO / "target" / "release" / "libvframe.so"
    if not build.is_file():
        pytest.skip(f"no build at {build} (cargo build --release)")
    run = _run_checkout_package({}, "import vframe; print(vframe.library_path())")
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()) == build


def test_a_library_next_to_the_package_comes_before_the_checkout_build(tmp_path: Path, fixtures: Path) -> None:
    package = tmp_path / "vframe"
    shutil.copytree(REPO / "bindings" / "python" / "src" / "vframe", package)
    shutil.copy(vframe.library_path(), package / "libvframe.so")
    env = {k: v for k, v in os.environ.items() if k != "VFRAME_LIBRARY"}
    env["PYTHONPATH"] = str(tmp_path)
    code = "import sys, vframe; print(vframe.library_path(), len(vframe.extract(sys.argv[1], 'vframe/jpg/offset/1')))"
    video = fixtures / "gop25_25fps.mp4"
    run = subprocess.run([sys.executable, "-c", code, str(video)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    where, size = run.stdout.split()
    assert Path(where) == package / "libvframe.so" and int(size) > 0


@pytest.mark.parametrize(
    "parts, bad",
    [
        ({"offset": "1/w/10"}, "'1/w/10'"),  # would add a key
        ({"offset": "1?w=10"}, "'1?w=10'"),
        ({"offset": "1|imageView2/1/w/10"}, "'1|imageView2/1/w/10'"),
        ({"offset": " 1"}, "' 1'"),
        ({"offset": "1\n"}, "'1\\n'"),
        ({"offset": "1\0"}, "'1\\x00'"),
        ({"offset": "1e3"}, "'1e3'"),
        ({"offset": "-1"}, "'-1'"),
        ({"offset": -1}, "'-1'"),
        ({"offset": -0.5}, "'-0.5'"),
        ({"offset": decimal.Decimal("-2")}, "'-2'"),
        ({"offset": float("nan")}, "'nan'"),
        ({"offset": float("inf")}, "'inf'"),
        ({"offset": decimal.Decimal("NaN")}, "'NaN'"),
        ({"offset": 1, "w": "10/h/20"}, "'10/h/20'"),
        ({"offset": 1, "w": -5}, "'-5'"),
        ({"offset": 1, "w": "1.5"}, "'1.5'"),
        ({"offset": 1, "h": "20 "}, "'20 '"),
        ({"offset": 1, "rotate": "auto/w/10"}, "'auto/w/10'"),
        ({"offset": 1, "rotate": 45}, "'45'"),
        ({"offset": 1, "rotate": "Auto"}, "'Auto'"),
        ({"offset": 1, "format": "jpg/w/10"}, "'jpg/w/10'"),
        ({"offset": 1, "format": "JPG"}, "'JPG'"),
        ({"offset": 1, "format": "bmp"}, "'bmp'"),
    ],
)
def test_a_keyword_value_the_spec_cannot_hold_is_an_invalid_spec(
    fixtures: Path, parts: dict[str, object], bad: str
) -> None:
    """No keyword can add a key or smuggle text into the spec: every value must be one value
    of the spec's grammar, and the error names it, as the library names a bad part."""
    keywords: dict[str, Any] = {"format": "jpg", **parts}
    video = fixtures / "gop25_25fps.mp4"
    with pytest.raises(vframe.InvalidSpecError) as built:
        vframe.build_spec(**keywords)
    assert bad in str(built.value) and str(built.value).startswith("invalid spec: ")
    with pytest.raises(vframe.InvalidSpecError, match=re.escape(bad)):
        vframe.extract(video, **keywords)
    future = vframe.extract_async(video, **keywords)  # a bad spec comes through the future
    assert type(future.exception(timeout=60)) is vframe.InvalidSpecError


@pytest.mark.parametrize(
    "parts",
    [
        {"offset": True},
        {"offset": [1]},
        {"offset": b"1"},
        {"offset": 1j},
        {"offset": 1, "w": 1.5},
        {"offset": 1, "w": 160.0},
        {"offset": 1, "h": True},
        {"offset": 1, "w": b"10"},
        {"offset": 1, "rotate": 90.0},
        {"offset": 1, "rotate": False},
        {"offset": 1, "format": b"jpg"},
    ],
)
def test_a_keyword_of_the_wrong_type_is_a_type_error(fixtures: Path, parts: dict[str, object]) -> None:
    keywords: dict[str, Any] = {"format": "jpg", **parts}
    with pytest.raises(TypeError):
        vframe.build_spec(**keywords)
    with pytest.raises(TypeError):
        vframe.extract(fixtures / "gop25_25fps.mp4", **keywords)
    with pytest.raises(TypeError):
        vframe.extract_async(fixtures / "gop25_25fps.mp4", **keywords)


def test_every_accepted_keyword_value_makes_the_spec_it_says() -> None:
    assert (
        vframe.build_spec("png", "0.5", w="160", h="120", rotate="auto")
        == "vframe/png/offset/0.5/w/160/h/120/rotate/auto"
    )
    assert vframe.build_spec("jpg", fractions.Fraction(15, 2), rotate=0) == "vframe/jpg/offset/7.5/rotate/0"
    assert vframe.build_spec("jpg", -0.0) == "vframe/jpg/offset/0"
    assert vframe.build_spec("jpg", decimal.Decimal("7.50"), rotate="270") == "vframe/jpg/offset/7.50/rotate/270"
    assert vframe.build_spec("jpg", 10**8, w=99999) == "vframe/jpg/offset/100000000/w/99999"  # ranges: the library's

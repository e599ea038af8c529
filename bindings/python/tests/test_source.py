"""vframe.open / vframe.Source: a video opened once; every extraction equals a fresh
vframe.extract, in any order, from a path or bytes; errors leave it usable; threads may
share it; closing is final."""

from __future__ import annotations

import copy
import decimal
import pickle
import threading
from pathlib import Path

import pytest

import vframe

# Offsets that make one source decode on, seek back, repeat and go past the end.
SPECS = [
    "vframe/png/offset/2",
    "vframe/png/offset/2.01",
    "vframe/jpg/offset/7/w/160",
    "vframe/png/offset/60",
    "vframe/png/offset/0",
    "vframe/jpg/offset/7.01/h/90/rotate/90",
    "vframe/png/offset/2",
]


def test_every_extraction_equals_a_fresh_call(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    want = [vframe.extract(video, spec) for spec in SPECS]
    with vframe.open(video) as source:
        assert [source.extract(spec) for spec in SPECS] == want
        assert source.extract(format="png", offset=2) == want[0]
    with vframe.open(str(video), timeout=30, threads=1) as source:
        assert [source.extract(spec) for spec in reversed(SPECS)] == want[::-1]


def test_bytes_are_copied_at_open(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    data = bytearray(video.read_bytes())
    source = vframe.open(data)
    data[:] = b"\0" * len(data)  # the source has its own copy
    try:
        assert source.extract(SPECS[2]) == vframe.extract(video, SPECS[2])
    finally:
        source.close()


def test_failures_raise_and_leave_the_source_usable(fixtures: Path) -> None:
    with vframe.open(fixtures / "gop25_25fps.mp4") as source:
        with pytest.raises(vframe.InvalidSpecError, match="offset 'x'"):
            source.extract("vframe/jpg/offset/x")
        with pytest.raises(TypeError):
            source.extract("vframe/jpg/offset/1", w=3)
        # As for vframe.extract, w and h are whole pixels: the type hints say so (mypy --strict
        # checks these lines, and an ignore it finds unused fails it).
        with pytest.raises(TypeError, match="w must be a whole number"):
            source.extract(format="jpg", offset=1, w=64.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="h must be a whole number"):
            source.extract(format="jpg", offset=1, h=decimal.Decimal(2))  # type: ignore[arg-type]
        assert source.extract(format="jpg", offset=1, w=64, h="48") == source.extract("vframe/jpg/offset/1/w/64/h/48")
        assert source.extract("vframe/jpg/offset/1") == vframe.extract(
            fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1"
        )
    with pytest.raises(vframe.NoVideoStreamError):
        vframe.open(fixtures / "audio_only.m4a")
    with pytest.raises(vframe.CannotOpenError):
        vframe.open(b"not a video at all")
    with pytest.raises(vframe.InvalidArgumentError):
        vframe.open(fixtures / "gop25_25fps.mp4", threads=100_000)


def test_a_closed_source_refuses_calls(fixtures: Path) -> None:
    source = vframe.open(fixtures / "gop25_25fps.mp4")
    assert not source.closed
    source.close()
    source.close()  # twice is fine
    assert source.closed
    with pytest.raises(ValueError, match="closed"):
        source.extract("vframe/jpg/offset/1")
    with pytest.raises(ValueError, match="closed"), source:
        pass


def test_a_source_cannot_be_copied_or_pickled(fixtures: Path) -> None:
    # A copy would share the native source, and close it a second time.
    with vframe.open(fixtures / "gop25_25fps.mp4") as source:
        for copy_it in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="vframe.Source owns an open input.*open another one"):
                copy_it(source)
        assert source.extract("vframe/jpg/offset/1") == vframe.extract(
            fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/1"
        )


def test_threads_share_one_source(fixtures: Path) -> None:
    video = fixtures / "bframes_gop250.mp4"
    want = {spec: vframe.extract(video, spec) for spec in SPECS}
    errors: list[BaseException] = []
    with vframe.open(video) as source:

        def work(first: int) -> None:
            try:
                for k in range(len(SPECS)):
                    spec = SPECS[(first + k) % len(SPECS)]
                    assert source.extract(spec) == want[spec], spec
            except BaseException as e:  # reported below, from the main thread
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i * 2,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors

"""Sources and pools collected in reference cycles are closed or freed exactly once.

The cycle collector clears weak references before it calls ``__del__``; a Source or Pool
opened meanwhile (by another finaliser in the same garbage, or by another thread) runs the
sweep for dropped handles (called directly here), which then sees such an object as dropped. The sweep and the
object's own close claim the handle under one lock, so only one of them releases it (before,
both did: a double close, then heap corruption)."""

from __future__ import annotations

import collections
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vframe
from vframe import _native, _source


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[int]]:
    """Counts each handle the library is asked to close or free."""
    lib = _native.library()
    calls: collections.Counter[int] = collections.Counter()

    def counting(name: str) -> Callable[[Any], Any]:
        real = getattr(lib, name)

        def call(handle: Any) -> Any:
            value = handle if isinstance(handle, int) else getattr(handle, "value", handle)
            calls[int(value)] += 1
            return real(handle)

        return call

    monkeypatch.setattr(lib, "vframe_source_close", counting("vframe_source_close"))
    monkeypatch.setattr(lib, "vframe_pool_free", counting("vframe_pool_free"))
    yield calls


def test_sources_in_cycles_are_closed_once(fixtures: Path, counted: collections.Counter[int]) -> None:
    video = fixtures / "gop25_25fps.mp4"

    class Opener:
        def __del__(self) -> None:
            # What opening a Source does first (opening one here could reuse a closed
            # handle's address, which the count would take for a second close).
            _source._unclosed.end_dropped()

    gc.disable()
    try:
        for i in range(12):
            source = vframe.open(video)
            source.cycle = source  # type: ignore[attr-defined]
            if i == 4:
                opener = Opener()
                opener.cycle = opener  # type: ignore[attr-defined]
                del opener
            del source
        gc.collect()
    finally:
        gc.enable()
    assert counted, "sources were closed"
    assert max(counted.values()) == 1, f"a handle closed twice: {counted}"


def test_pools_in_cycles_are_freed_once(counted: collections.Counter[int]) -> None:
    class Maker:
        def __del__(self) -> None:
            _native.free_dropped_pools()  # what making a Pool does first

    gc.disable()
    try:
        for i in range(8):
            pool = vframe.Pool(threads=1)
            pool.cycle = pool  # type: ignore[attr-defined]
            if i == 3:
                maker = Maker()
                maker.cycle = maker  # type: ignore[attr-defined]
                del maker
            del pool
        gc.collect()
    finally:
        gc.enable()
    assert counted, "pools were freed"
    assert max(counted.values()) == 1, f"a pool freed twice: {counted}"

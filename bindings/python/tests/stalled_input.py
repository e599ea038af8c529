"""A video fed through a named pipe, a little at a time: a call reading it blocks inside
the library until the test feeds more, so tests can hold a call in flight for as long as
they need, with no timing guesses."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Callable


class StalledInput:
    def __init__(self, directory: Path, data: bytes, name: str = "stalled.fifo") -> None:
        self.path = directory / name
        os.mkfifo(self.path)
        self.data = data
        self.fed = 0
        self._fd: int | None = None

    def wait_opened(self, failed: Callable[[], bool] = lambda: False, limit_s: float = 30.0) -> None:
        """Returns once the library has opened the pipe (the call is then inside the library).
        Stops early if ``failed()`` becomes true (the call ended without opening it)."""
        deadline = time.monotonic() + limit_s
        while True:
            try:
                # Non-blocking: fails with ENXIO while no reader has the pipe open.
                # Writes stay non-blocking, so a stuck reader can never hang a test.
                self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                return
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
            assert not failed(), "the call ended before it opened its input"
            assert time.monotonic() < deadline, "the library never opened the pipe"
            time.sleep(0.005)

    def feed(self, count: int) -> bool:
        """Writes up to the next ``count`` bytes (as many as the pipe takes now); False when
        nothing could be written: all is fed, the reader has gone, or the pipe is full."""
        assert self._fd is not None, "wait_opened() first"
        chunk = self.data[self.fed : self.fed + count]
        if not chunk:
            return False
        try:
            self.fed += os.write(self._fd, chunk)
        except (BrokenPipeError, BlockingIOError):
            return False
        return True

    def finish(self, limit_s: float = 30.0) -> None:
        """Feeds the rest and closes the pipe (the reader then sees the end of the file)."""
        deadline = time.monotonic() + limit_s
        while self.fed < len(self.data) and time.monotonic() < deadline:
            try:
                self.fed += os.write(self._fd, self.data[self.fed : self.fed + 65536])  # type: ignore[arg-type]
            except BlockingIOError:
                time.sleep(0.002)
            except BrokenPipeError:
                break
        self.close()

    def close(self) -> None:
        """Closes the pipe: the reader sees the end of the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        # A reader that reopened the pipe meanwhile would wait for a writer forever: give
        # it one that closes at once (the end of the file again).
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader waiting

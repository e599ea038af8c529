"""Running another Python process on the vframe under test."""

from __future__ import annotations

import os
import sys

import vframe


def python_env() -> dict[str, str]:
    """The environment for a child ``python``: this process's, with its module path (so it
    imports the same vframe) and the library this process loaded (unless one is named)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    env.setdefault("VFRAME_LIBRARY", vframe.library_path())
    return env

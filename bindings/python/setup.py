"""Builds the vframe library with cargo and puts it inside the package, next to ``_native.py``.

The package is ctypes over the library's C ABI: the wheel carries ``vframe/libvframe.so``
(``.dylib``, ``.dll``) and no Python extension module. So it is tagged ``py3-none-<platform>``
(any Python 3, no CPython ABI, one platform) rather than ``py3-none-any`` or ``cp3X-cp3X``.

The library is built with ``cargo build --release --locked --lib``, which is exactly the
library of a ``cargo build --release`` (``make``): when that one is up to date, cargo does
nothing. Set ``CARGO`` to choose the cargo binary and ``CARGO_TARGET_DIR`` to build elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

# The crate this package binds: the root of the vframe checkout this folder is part of.
CRATE_MANIFEST = Path(__file__).resolve().parent.parent.parent / "Cargo.toml"

if sys.platform == "darwin":
    LIBRARY_FILE = "libvframe.dylib"
elif os.name == "nt":
    LIBRARY_FILE = "vframe.dll"
else:
    LIBRARY_FILE = "libvframe.so"


def _cargo() -> str:
    """The cargo to run: ``$CARGO``, else the one on PATH, else rustup's default place."""
    for candidate in (os.environ.get("CARGO"), shutil.which("cargo"), str(Path.home() / ".cargo" / "bin" / "cargo")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SystemExit("vframe: cargo is needed to build the library (install Rust: https://rustup.rs)")


def build_library() -> Path:
    """Runs cargo and returns the path of the shared library it built (or found up to date)."""
    if not CRATE_MANIFEST.is_file():
        raise SystemExit(
            f"vframe: the Rust crate is not at {CRATE_MANIFEST}; build the package from a vframe checkout "
            "(pip install ./bindings/python), not from an sdist"
        )
    command = [_cargo(), "build", "--release", "--locked", "--lib", "--message-format=json-render-diagnostics"]
    command += ["--manifest-path", str(CRATE_MANIFEST)]
    print("vframe: " + " ".join(command), file=sys.stderr)
    run = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if run.returncode != 0:
        raise SystemExit(f"vframe: cargo failed with status {run.returncode} (its messages are above)")
    for line in run.stdout.decode("utf-8", "replace").splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("reason") != "compiler-artifact" or message["target"]["name"] != "vframe":
            continue
        for filename in message["filenames"]:
            if Path(filename).name == LIBRARY_FILE:
                return Path(filename)
    raise SystemExit(f"vframe: cargo built no {LIBRARY_FILE}")


class BuildPyWithLibrary(build_py):
    """The package's Python files, plus the library copied into the package folder."""

    def run(self) -> None:
        super().run()
        library = build_library()
        target = Path(self.build_lib) / "vframe" / LIBRARY_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, target)
        target.chmod(0o755)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / "vframe" / LIBRARY_FILE)]


class WithNativeLibrary(Distribution):
    """Not pure Python: built into the platform's library folder, installed into platlib."""

    def has_ext_modules(self) -> bool:
        return True


class PlatformWheel(bdist_wheel):
    """A platform wheel (it holds a native library) for any Python 3 (ctypes needs no ABI)."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(distclass=WithNativeLibrary, cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel})

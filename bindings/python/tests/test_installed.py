"""What ``make test-python`` tests is the installed wheel: the library inside the package, found
with no ``VFRAME_LIBRARY``, and not the source tree. (Elsewhere, e.g. ``pytest`` over an editable
install, these checks are skipped: ``make test-python`` sets ``VFRAME_TEST_INSTALLED=1``.)"""

from __future__ import annotations

import importlib.metadata
import os
import sysconfig
from pathlib import Path

import pytest

import vframe

pytestmark = pytest.mark.skipif(
    os.environ.get("VFRAME_TEST_INSTALLED") != "1",
    reason="checks of the installed wheel: run by make test-python (VFRAME_TEST_INSTALLED=1)",
)


def test_the_library_is_the_one_inside_the_installed_package() -> None:
    assert "VFRAME_LIBRARY" not in os.environ
    package = Path(vframe.__file__).resolve().parent
    site_packages = Path(sysconfig.get_paths()["platlib"]).resolve()
    assert package == site_packages / "vframe", f"vframe imported from {package}, not from the installed wheel"
    assert Path(vframe.library_path()) == package / "libvframe.so"
    assert vframe.library_version() == vframe.__version__


def test_the_wheel_is_a_platform_wheel_for_any_python3() -> None:
    dist = importlib.metadata.distribution("vframe")
    wheel = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    assert tags == [f"py3-none-{platform}"]
    assert "Root-Is-Purelib: false" in wheel
    assert "vframe/libvframe.so" in [str(f) for f in dist.files or []]


def test_the_installed_package_extracts(fixtures: Path) -> None:
    jpeg = vframe.extract(fixtures / "gop25_25fps.mp4", "vframe/jpg/offset/2/w/160")
    assert jpeg[:3] == b"\xff\xd8\xff"

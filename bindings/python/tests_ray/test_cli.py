"""The command line (``vframe-ray``, ``python -m vframe.ray``): usage errors, and a run killed
midway (SIGKILL to the driver) then run again: nothing is computed twice, nothing is lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
import ray
from sink import check_output, image_files, stats

import vframe.ray
from vframe.ray.__main__ import main

SPECS = ["vframe/jpg/offset/0/w/200", "vframe/png/offset/0.3/h/120"]
SUMMARY = re.compile(
    r"^vframe-ray: (\d+) done, (\d+) failed(?: \(([^)]*)\))?, (\d+) skipped in [\d.]+ s; run (\S+),", re.M
)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "vframe.ray", *args]


def free_cpus() -> float:
    cpus: float = ray.available_resources().get("CPU", 0)  # type: ignore[no-untyped-call]
    return cpus


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = str(tmp_path / "a.mp4")
    for args, message in (
        ([video, "--out", str(tmp_path)], "at least one --spec"),
        ([video, "--out", str(tmp_path), "--spec", "s", "--spec-column", "c"], "not both"),
        ([str(tmp_path), "--glob", "*.nothing", "--spec", "s", "--out", str(tmp_path)], "no input files match"),
        ([video, "--spec", "s", "--out", str(tmp_path), "--workers", "0"], "--workers must be at least 1"),
        ([video, "--spec", "s"], "--out"),
        (["--list", str(tmp_path / "absent.txt"), "--spec", "s", "--out", str(tmp_path)], "cannot read the list"),
    ):
        with pytest.raises(SystemExit) as exit:
            main(args)
        assert exit.value.code == 2, args
        assert message in capsys.readouterr().err, args


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("vframe-ray")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--address" in done.stdout


def test_a_parquet_list_with_a_spec_column(
    cluster: str, fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = tmp_path / "videos.parquet"
    videos = [str(fixtures / "gop25_25fps.mp4"), str(fixtures / "vp9.webm"), str(fixtures / "audio_only.m4a")]
    specs = [["vframe/jpg/offset/1/w/100", "vframe/png/offset/2"], ["vframe/jpg/offset/0.5"], ["vframe/jpg/offset/1"]]
    pyarrow.parquet.write_table(pyarrow.table({"video": videos, "specs": specs, "size": [1, 2, 3]}), listing)
    out = tmp_path / "out"
    args = ["--list", str(listing), "--path-column", "video", "--spec-column", "specs", "--out", str(out)]
    assert main([*args, "--address", cluster, "--workers", "1", "--quiet"]) == 0
    summary = SUMMARY.search(capsys.readouterr().out)
    assert summary and (summary[1], summary[2], summary[3], summary[4]) == ("3", "1", "1 NO_VIDEO_STREAM", "0")
    check_output(out, {(v, s) for v, ss in zip(videos, specs) for s in ss})


def test_a_killed_run_resumes_without_computing_anything_twice(cluster: str, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(4096))
    listing = tmp_path / "more.txt"
    listing.write_text(f"{garbage}\n{tmp_path / 'missing.mp4'}\n")
    # Every file the CLI finds in the fixture folder (hidden ones too), and the listed two.
    videos = sorted(str(p) for p in fixtures.rglob("*") if p.is_file()) + [str(garbage), str(tmp_path / "missing.mp4")]
    pairs = {(p, s) for p in videos for s in SPECS}
    args = [str(fixtures), "--list", str(listing), "--out", str(out), "--address", cluster]
    args += ["--workers", "2", "--batch-size", "1", *(a for s in SPECS for a in ("--spec", s))]

    # First run: killed (SIGKILL, no chance to clean up) once some batches are in the index.
    first = subprocess.Popen(cli(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob("index/*.parquet")):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "no index part after 120 s"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    # Its actors die with their driver: wait for the cluster's CPUs to be free again.
    deadline = time.monotonic() + 60
    while free_cpus() < 2:
        assert time.monotonic() < deadline, "the killed run's actors still hold CPUs after 60 s"
        time.sleep(0.2)
    done_first = vframe.ray.read_index(out).to_pylist()
    keys_first = {r["key"] for r in done_first}
    assert 0 < len(done_first) < len(pairs) / 2, "the first run was not interrupted midway"
    files_first = {r["file"] for r in done_first if r["file"]}
    before = stats(out, files_first)

    second = subprocess.run(cli(*args), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = SUMMARY.search(second.stdout)
    assert summary, second.stdout
    done, failed, skipped, run = int(summary[1]), int(summary[2]), int(summary[4]), summary[5]

    # Nothing lost: every pair is in the index once, with its file.
    rows = check_output(out, pairs)
    # Nothing computed twice: the second run skipped exactly what the first had recorded,
    # computed only the rest, and did not touch the first run's files.
    assert skipped == len(keys_first)
    assert done + failed == len(pairs) - len(keys_first)
    assert {r["key"] for r in rows if r["run"] == run} == {r["key"] for r in rows} - keys_first
    assert stats(out, files_first) == before
    assert image_files(out) == {r["file"] for r in rows if r["file"]}
    assert failed == sum(1 for r in rows if r["run"] == run and r["status"] != "OK")
    assert {r["status"] for r in rows} >= {"OK", "CANNOT_OPEN", "NO_VIDEO_STREAM", "UNSUPPORTED_INPUT"}
    assert os.listdir(out / "index") and len(os.listdir(out / "index")) == 1

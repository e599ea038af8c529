"""Real-world videos from the shared media folder (skipped when it is absent): every
readable file gives the same thumbnail from its path, from its bytes, and asynchronously."""

from __future__ import annotations

import csv
from pathlib import Path

from images import image_size

import vframe

# Files MANIFEST.tsv lists that must fail (damaged on purpose, or a playlist): test_errors.py
# covers them.
REFUSED = {"corrupt_mp4_malformed_free_box_no_moov.mp4", "corrupt_vp9_invalid_bitstream.webm", "hls/sd-hls.m3u8"}


def _videos(media: Path) -> list[Path]:
    with open(media / "MANIFEST.tsv", newline="") as manifest:
        names = [row["file"] for row in csv.DictReader(manifest, delimiter="\t")]
    missing = [name for name in names if not (media / name).is_file()]
    assert not missing, f"MANIFEST.tsv lists files the folder lacks: {missing}"
    return [media / name for name in names if name not in REFUSED]


def test_every_real_video_gives_one_thumbnail_by_path_bytes_and_future(media: Path) -> None:
    videos = _videos(media)
    assert videos, "MANIFEST.tsv lists no readable video"
    spec = "vframe/jpg/offset/1/w/160"
    futures = [vframe.extract_async(video, spec) for video in videos]
    for video, future in zip(videos, futures):
        from_path = vframe.extract(video, spec)
        kind, width, height = image_size(from_path)
        assert kind == "jpg" and width == 160 and 1 <= height <= 2160, video.name
        assert vframe.extract(video.read_bytes(), spec) == from_path, video.name
        assert future.result(timeout=120) == from_path, video.name

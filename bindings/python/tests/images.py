"""Reading an image's format and size from its own header (independently of vframe)."""

from __future__ import annotations

import struct

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers (every SOFn but DHT, JPG and DAC, which share the range).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[str, int, int]:
    """("png" or "jpg", width, height) of an encoded image; AssertionError if it is neither."""
    if data.startswith(PNG_SIGNATURE):
        assert data[12:16] == b"IHDR", "a PNG starts with its IHDR chunk"
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    assert data.startswith(b"\xff\xd8"), f"neither PNG nor JPEG: {data[:8]!r}"
    at = 2
    while at + 4 <= len(data):
        assert data[at] == 0xFF, f"JPEG marker expected at byte {at}"
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return "jpg", width, height
        at += 2 + length
    raise AssertionError("JPEG without a start-of-frame segment")

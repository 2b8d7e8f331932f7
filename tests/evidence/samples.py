"""Evidence files generated in the tests: JPEG with EXIF time and GPS, HEIC, PNG, PDF, MP4."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
# 34°45'30.5"N 113°37'40"E — Zhengzhou
GPS = {1: "N", 2: (34.0, 45.0, 30.5), 3: "E", 4: (113.0, 37.0, 40.0)}
GPS_LAT, GPS_LNG = 34 + 45 / 60 + 30.5 / 3600, 113 + 37 / 60 + 40 / 3600


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _picture(size: tuple[int, int] = (1200, 900)) -> Image.Image:
    img = Image.new("RGB", size, (30, 120, 200))
    for x in range(0, size[0], 40):
        img.paste((220, 60, 40), (x, 0, x + 10, size[1]))
    return img


def jpeg_with_gps(taken: str = "2026:11:23 14:05:09") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Xiaomi"
    exif[EXIF_IFD] = {0x9003: taken, 0x9011: "+08:00"}
    exif[GPS_IFD] = GPS
    out = io.BytesIO()
    _picture().save(out, format="JPEG", quality=85, exif=exif)
    return out.getvalue()


def plain_jpeg() -> bytes:
    out = io.BytesIO()
    _picture((640, 480)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def heic() -> bytes:
    out = io.BytesIO()
    _picture((800, 600)).save(out, format="HEIF", quality=60)
    return out.getvalue()


def pdf() -> bytes:
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + b"% padding\n" * 400 + b"%%EOF\n"
    return body


def mp4(size: int) -> bytes:
    """An MP4-looking file (ftyp box, then random bytes) of exactly `size` bytes."""
    header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return header + os.urandom(size - len(header))


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()


def declaration(
    data: bytes, *, kind: str = "photo", content_type: str = "image/jpeg", **extra: Any
) -> dict[str, Any]:
    """What a device declares when it registers `data`."""
    args: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "sha256": sha256(data),
        "size": len(data),
        "content_type": content_type,
        "taken_at": datetime(2026, 11, 23, 6, 5, 9, tzinfo=UTC).isoformat(),
        "lat": 34.7585,
        "lng": 113.6278,
    }
    args.update(extra)
    return args

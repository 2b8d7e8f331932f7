"""What the bytes are: type sniffed from content, and for images the EXIF facts, a JPEG thumbnail and a
browser-ready copy without location (HEIC from iPhones converted to JPEG)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from typing import Any

import filetype
import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from backend.evidence.models import AttachmentKind
from backend.kernel.china_time import CHINA_TZ

pillow_heif.register_heif_opener()

SNIFF_BYTES = 8192
THUMBNAIL_BOX = (480, 480)
# EXIF times carry no zone unless OffsetTimeOriginal says so; our devices are in China.
EXIF_DEFAULT_TZ = CHINA_TZ

ALLOWED_TYPES: dict[str, frozenset[str]] = {
    AttachmentKind.PHOTO: frozenset({"image/jpeg", "image/png", "image/heic", "image/webp"}),
    AttachmentKind.VIDEO: frozenset({"video/mp4", "video/quicktime", "video/webm", "video/3gpp"}),
    AttachmentKind.SIGNATURE: frozenset({"image/png", "image/jpeg"}),
    AttachmentKind.DOCUMENT: frozenset({"application/pdf", "image/jpeg", "image/png"}),
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/heic", "image/webp"})
_ALIASES = {"image/heif": "image/heic", "image/jpg": "image/jpeg", "video/x-m4v": "video/mp4"}

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME, _DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x0132, 0x9003, 0x9011


def normalize_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff_type(head: bytes) -> str | None:
    """The media type the bytes themselves say (magic numbers), whatever the uploader declared."""
    mime = filetype.guess_mime(head)
    return normalize_type(mime) if mime else None


class UnreadableImage(Exception):
    """The bytes look like an image but cannot be decoded (truncated, corrupt, or absurdly large)."""


@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    taken_at: datetime | None
    lat: float | None
    lng: float | None
    thumbnail: bytes  # JPEG
    display: bytes  # JPEG (PNG for PNG sources); no GPS or device tags, orientation applied
    display_type: str


def process_image(data: bytes) -> ImageFacts:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            exif = img.getexif()
            taken_at = _exif_time(exif)
            lat, lng = _exif_gps(exif)
            keeps_alpha = img.format == "PNG"
            upright = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(str(exc)) from exc
    display, display_type = _display_copy(upright, taken_at, keeps_alpha=keeps_alpha)
    return ImageFacts(
        width=upright.width,
        height=upright.height,
        taken_at=taken_at,
        lat=lat,
        lng=lng,
        thumbnail=_thumbnail(upright),
        display=display,
        display_type=display_type,
    )


def _thumbnail(img: Image.Image) -> bytes:
    thumb = _flatten(img)
    thumb.thumbnail(THUMBNAIL_BOX)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=80, optimize=True)
    return out.getvalue()


def _display_copy(img: Image.Image, taken_at: datetime | None, *, keeps_alpha: bool) -> tuple[bytes, str]:
    """A fresh image from the pixels: nothing of the original's metadata but the capture time."""
    exif = Image.Exif()
    if taken_at is not None:
        local = taken_at.astimezone(EXIF_DEFAULT_TZ)
        exif[_EXIF_IFD] = {
            _DATETIME_ORIGINAL: local.strftime("%Y:%m:%d %H:%M:%S"),
            _OFFSET_TIME_ORIGINAL: "+08:00",
        }
    out = io.BytesIO()
    if keeps_alpha:  # signatures: PNG with transparency stays PNG
        rgba = img.convert("RGBA")
        clean = Image.new("RGBA", rgba.size)
        clean.paste(rgba)
        clean.save(out, format="PNG", exif=exif.tobytes())
        return out.getvalue(), "image/png"
    clean = Image.new("RGB", img.size)
    clean.paste(_flatten(img))
    clean.save(out, format="JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue(), "image/jpeg"


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _exif_time(exif: Image.Exif) -> datetime | None:
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        local = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    tz: timezone = EXIF_DEFAULT_TZ
    if isinstance(offset, str):
        try:
            tz = datetime.strptime(offset.strip("\x00 "), "%z").tzinfo  # type: ignore[assignment]
        except ValueError:
            tz = EXIF_DEFAULT_TZ
    return local.replace(tzinfo=tz).astimezone(UTC)


def _exif_gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    gps = exif.get_ifd(_GPS_IFD)
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lng = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None, None
    return lat, lng


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    degrees, minutes, seconds = (float(v) for v in dms)
    value = degrees + minutes / 60 + seconds / 3600
    ref_text = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref_text.strip("\x00 ").upper() == negative else value

"""Marshmallow building blocks for every input: HTTP bodies and device mutations' arguments.

Flask-free, so that mutation handlers in services and domain packages can declare their schemas
without importing the HTTP layer (`backend.api.schemas` re-exports these for the resources).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError


class AwareDateTime(ma.fields.AwareDateTime):
    """ISO 8601 with an offset on the way in (naive times are refused); UTC on the way out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", default_timezone=None, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        # datetime.fromisoformat (Python 3.11 reads ISO 8601) is fifty times faster than marshmallow's
        # parser, which counts on a push of hundreds of mutations; anything it refuses gets the field's
        # own message.
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    raise self.make_error("invalid_awareness", awareness="aware", obj_type="datetime")
                return parsed
        result: datetime = super()._deserialize(value, attr, data, **kwargs)
        return result

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None:
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class StrictSchema(ma.Schema):
    """Input schema: unknown fields are an error, not silently ignored."""

    class Meta:
        unknown = ma.RAISE


def latitude(**kwargs: Any) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-90, max=90), allow_nan=False, **kwargs)


def longitude(**kwargs: Any) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-180, max=180), allow_nan=False, **kwargs)


def validate_window(data: dict[str, Any], start: str, end: str) -> None:
    if data.get(start) and data.get(end) and data[end] <= data[start]:
        raise ValidationError("Must be after the window's start.", field_name=end)


def lat_lng_together(data: dict[str, Any]) -> None:
    """Optional coordinates come as a pair (for `@validates_schema`)."""
    if ("lat" in data) != ("lng" in data):
        raise ValidationError("lat and lng go together.", field_name="lng" if "lat" in data else "lat")


# Fields every device mutation uses.
SHA256 = ma.validate.Regexp(r"^[0-9a-f]{64}$", error="A lowercase hex sha256.")


def device_row_id() -> ma.fields.String:
    return ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=36),
        metadata={"description": "Generated on the device (UUIDv7/ULID)."},
    )


def work_order_id_field() -> ma.fields.String:
    return ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))


def text_field(max_length: int, **kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(min=1, max=max_length), **kwargs)

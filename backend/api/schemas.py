"""Marshmallow schemas shared by several resources; resource-specific ones live beside their views."""

from __future__ import annotations

import marshmallow as ma

# Defined Flask-free (mutation handlers outside the HTTP layer use them too); re-exported for resources.
from backend.validation import AwareDateTime as AwareDateTime
from backend.validation import StrictSchema as StrictSchema
from backend.validation import latitude as latitude
from backend.validation import longitude as longitude
from backend.validation import validate_window as validate_window


class EventSchema(ma.Schema):
    id = ma.fields.String()
    seq = ma.fields.Integer()
    kind = ma.fields.String()
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String(allow_none=True)
    actor_role = ma.fields.String()
    message = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    created_at = AwareDateTime()
    device_time = AwareDateTime(allow_none=True)

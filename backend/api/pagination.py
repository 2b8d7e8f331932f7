"""Cursor pagination for lists: keyset on (created_at, id), newest first, cursor signed and opaque."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from backend.errors import Problem


class PageArgs(ma.Schema):
    cursor = ma.fields.String(
        metadata={"description": "Opaque cursor from the previous page's `next_cursor`."}
    )
    limit = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, max=200),
        metadata={"description": "Page size, 1 to 200."},
    )


class PageSchema(ma.Schema):
    next_cursor = ma.fields.String(allow_none=True)
    has_more = ma.fields.Boolean()


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="list-cursor")


def paginate(
    session: Session, stmt: sa.Select[Any], model: Any, cursor: str | None, limit: int
) -> dict[str, Any]:
    if cursor:
        try:
            created_raw, last_id = _serializer().loads(cursor)
            created = datetime.fromisoformat(created_raw)
        except (BadSignature, ValueError, TypeError):
            raise Problem(
                "pagination.bad_cursor", "The cursor is not one this server issued.", status=400
            ) from None
        stmt = stmt.where(
            sa.tuple_(model.created_at, model.id)
            < sa.tuple_(sa.literal(created, model.created_at.type), sa.literal(last_id))
        )
    rows = list(session.scalars(stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _serializer().dumps([rows[-1].created_at.isoformat(), rows[-1].id]) if has_more else None
    return {"items": rows, "next_cursor": next_cursor, "has_more": has_more}

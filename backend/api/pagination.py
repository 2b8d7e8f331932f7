"""Cursor pagination for lists: keyset on a declared order (`paginate_by`; `paginate` is newest first);
cursors are signed and opaque."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import InstrumentedAttribute, Session

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


def newest_first(model: Any) -> tuple[SortKey, SortKey]:
    """The usual order of a list: newest first, by `created_at` then id."""
    return SortKey(model.created_at, descending=True), SortKey(model.id, descending=True)


def paginate(
    session: Session, stmt: sa.Select[Any], model: Any, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of `stmt`, newest first (`paginate_by` in the order of `newest_first`)."""
    return paginate_by(session, stmt, newest_first(model), cursor, limit)


# --- keyset on any order --------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order. The last key must be unique (an id) so that every row has one
    place. A `nullable` column puts its NULLs first in either direction, on every database."""

    column: InstrumentedAttribute[Any]
    descending: bool = False
    nullable: bool = False
    # How a listed row gives this key's value, when the column is another table's (a join's).
    read: Callable[[Any], Any] | None = None

    def value_of(self, row: Any) -> Any:
        return self.read(row) if self.read is not None else getattr(row, self.column.key)

    @property
    def name(self) -> str:
        return str(self.column)

    def order_by(self) -> sa.UnaryExpression[Any]:
        ordered = self.column.desc() if self.descending else self.column.asc()
        return ordered.nulls_first() if self.nullable else ordered

    def beyond(self, value: Any) -> sa.ColumnElement[bool]:
        """Rows that come after `value` in this key's order."""
        if value is None:
            return self.column.is_not(None)
        bound = sa.literal(value, self.column.type)
        return self.column < bound if self.descending else self.column > bound

    def equal(self, value: Any) -> sa.ColumnElement[bool]:
        return self.column.is_(None) if value is None else self.column == sa.literal(value, self.column.type)

    def dump(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    def load(self, raw: Any) -> Any:
        if raw is not None and self._holds_datetimes():
            loaded = datetime.fromisoformat(raw)
            if loaded.tzinfo is None:
                raise ValueError("naive datetime in a cursor")
            return loaded
        return raw

    def _holds_datetimes(self) -> bool:
        column_type = self.column.type
        # A TypeDecorator (our UTCDateTime) reports `object` as its python_type: ask what it wraps.
        return isinstance(getattr(column_type, "impl", column_type), sa.DateTime)


def paginate_by(
    session: Session,
    stmt: sa.Select[Any],
    keys: Sequence[SortKey],
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """A page of `stmt` in the order of `keys` (e.g. devices by when they were last heard from), with the
    same response as `paginate`. The cursor names its keys: a cursor from another list is refused."""
    names = [key.name for key in keys]
    if cursor:
        values = _load_keyset_cursor(cursor, keys, names)
        stmt = stmt.where(_after(keys, values))
    rows = list(session.scalars(stmt.order_by(*(key.order_by() for key in keys)).limit(limit + 1)))
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        next_cursor = _keyset_serializer().dumps([names, [key.dump(key.value_of(last)) for key in keys]])
    return {"items": rows, "next_cursor": next_cursor, "has_more": has_more}


def _after(keys: Sequence[SortKey], values: list[Any]) -> sa.ColumnElement[bool]:
    """Rows after the cursor's row. Keys all in one direction and never NULL: one row comparison
    (`(a, b) < (x, y)`, an index range). Otherwise equal on the first i keys and beyond it on key i,
    for some i (a row comparison cannot mix directions or place NULLs)."""
    if not any(key.nullable for key in keys) and len({key.descending for key in keys}) == 1:
        row = sa.tuple_(*(key.column for key in keys))
        bound = sa.tuple_(*(sa.literal(v, k.column.type) for k, v in zip(keys, values, strict=True)))
        return row < bound if keys[0].descending else row > bound
    branches = []
    for i, key in enumerate(keys):
        ties = [k.equal(v) for k, v in zip(keys[:i], values[:i], strict=True)]
        branches.append(sa.and_(*ties, key.beyond(values[i])))
    return sa.or_(*branches)


def _keyset_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="keyset-cursor")


def _load_keyset_cursor(cursor: str, keys: Sequence[SortKey], names: list[str]) -> list[Any]:
    try:
        cursor_names, raw_values = _keyset_serializer().loads(cursor)
        if cursor_names != names or len(raw_values) != len(keys):
            raise ValueError("a cursor of another list")
        return [key.load(raw) for key, raw in zip(keys, raw_values, strict=True)]
    except (BadSignature, ValueError, TypeError):
        raise Problem(
            "pagination.bad_cursor", "The cursor is not one this server issued.", status=400
        ) from None

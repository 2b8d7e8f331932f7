"""The synced entities: every mapped model declaring `__sync__`, with what the feed needs to know.

Derived from the models themselves, so a model joins sync by its declaration alone: the scope column,
the work-order column that references it, the columns a device receives and the version the
convergence checksum uses.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from backend.kernel.base import Base, UTCDateTime
from backend.kernel.sync_spec import Scope, SyncSpec

CHECKSUM_MODULUS = 2**64


@dataclass(frozen=True)
class SyncedEntity:
    name: str
    model: type[Any]
    spec: SyncSpec
    table: sa.Table
    pk: sa.ColumnElement[Any]
    columns: tuple[tuple[str, sa.ColumnElement[Any]], ...]
    scope_column: sa.ColumnElement[Any] | None
    via: sa.ColumnElement[Any] | None
    version: sa.ColumnElement[Any] | None
    keys: tuple[str, ...] = ()
    # Columns whose values are not JSON as they come (dates, decimals), each with its conversion.
    convert: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
    _version_at: int = -1  # `version_index`, computed once by `_describe`

    @property
    def scope(self) -> Scope:
        return self.spec.scope

    @property
    def is_root(self) -> bool:
        """The job itself: its scope key is its own id, and it names its holder."""
        return self.spec.is_root

    @property
    def pk_key(self) -> str:
        return str(self.pk.key)

    @property
    def scope_key(self) -> str | None:
        """Attribute name of the scope column (`work_order_id`, `technician_id`), if any."""
        return None if self.scope_column is None else str(self.scope_column.key)

    @property
    def via_key(self) -> str:
        """REFERENCED: the work-order attribute pointing at this entity's rows."""
        assert self.via is not None
        return str(self.via.key)

    def selectable(self) -> list[sa.ColumnElement[Any]]:
        """The columns a device receives, then the row's version unless it is one of them (rows without
        a version column end with NULL: `content_version` hashes that row)."""
        cols = [col for _, col in self.columns]
        if self.version is None:
            return [*cols, sa.null()]
        if any(col is self.version for col in cols):
            return cols
        return [*cols, self.version]

    @property
    def version_index(self) -> int:
        """Position of the row's version in `selectable()`."""
        for i, (_, col) in enumerate(self.columns):
            if col is self.version:
                return i
        return len(self.columns)

    @property
    def pk_index(self) -> int:
        """Position of the primary key in `selectable()`."""
        return [key for key, _ in self.columns].index(self.pk_key)

    def serialize(self, row: Any) -> dict[str, Any]:
        """A row selected with `selectable()` as the JSON object the device stores."""
        out = dict(zip(self.keys, row, strict=False))
        for key, to_json in self.convert:
            value = out[key]
            if value is not None:
                out[key] = to_json(value)
        out["sync_version"] = (
            version_number(row[self._version_at]) if self.version is not None else content_version(row)
        )
        return out


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _isoformat(value: date | time) -> str:
    return value.isoformat()


def version_number(value: Any) -> int:
    """A row's version as the integer devices keep in `sync_version` (1 for rows never changed)."""
    if value is None:
        return 1
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    return int(value)


def content_version(row: Any) -> int:
    """For rows without a version column: a 48-bit hash of the row's values (computed by the server
    only; devices store it as given)."""
    return int.from_bytes(hashlib.blake2b(repr(tuple(row)).encode(), digest_size=6).digest(), "big")


def row_hash(row_id: str, version: int) -> int:
    """The per-row term of the convergence checksum: first 8 bytes of sha256("id:version")."""
    return int.from_bytes(hashlib.sha256(f"{row_id}:{version}".encode()).digest()[:8], "big")


# The same two functions as PostgreSQL expressions, so that a scope's checksum is summed where its rows
# are (tests compare them with the Python ones on awkward values).


def version_number_sql(version: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """`version_number` on PostgreSQL. Timestamps go through the same double arithmetic as
    `datetime.timestamp() * 1_000_000`: the exact epoch (numeric) rounded once to a double, multiplied
    by 10^6 and truncated."""
    if isinstance(_base_type(version.type), sa.DateTime):
        epoch = sa.cast(sa.extract("epoch", version), postgresql.DOUBLE_PRECISION)
        number = sa.cast(
            sa.func.trunc(epoch * sa.literal(1_000_000.0, postgresql.DOUBLE_PRECISION)), sa.BigInteger
        )
    else:
        number = sa.cast(version, sa.BigInteger)
    return sa.func.coalesce(number, 1)


def row_hash_sql(row_id: sa.ColumnElement[Any], version: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """`row_hash` on PostgreSQL as a signed bigint: the same 64 bits, so sums agree modulo 2^64."""
    text = sa.cast(row_id, sa.Text).concat(":").concat(sa.cast(version, sa.Text))
    digest = sa.func.sha256(sa.func.convert_to(text, "UTF8"))
    first_8_bytes = sa.func.left(sa.func.encode(digest, "hex"), 16)
    return sa.cast(sa.cast(sa.literal("x").concat(first_8_bytes), postgresql.BIT(64)), sa.BigInteger)


# -- rows read fast ------------------------------------------------------------------------------------
# A page's rows and a scope's versions are mostly timestamps. Read through SQLAlchemy each becomes an
# aware datetime, then ISO text and a version number, which took most of a pull's time. On SQLite and
# PostgreSQL a UTC timestamp is fetched instead as the text 'YYYY-MM-DD HH:MM:SS.ffffff' (how SQLite
# stores it) and converted directly. `serialize` stays the reference: tests compare the two.

_UTC_TEXT = "YYYY-MM-DD HH24:MI:SS.US"
_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)


def utc_text(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any] | None:
    """A `UTCDateTime` column fetched as its UTC text, or None (another type or dialect)."""
    if not isinstance(column.type, UTCDateTime):
        return None
    if dialect == "sqlite":
        return sa.type_coerce(column, sa.String)
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), _UTC_TEXT)
    return None


def iso_of_utc_text(text: str) -> str:
    """`isoformat()` of the timestamp as `UTCDateTime` reads it (an aware UTC datetime)."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        return at.isoformat() + "+00:00"  # the same time in UTC, without building it
    return at.astimezone(UTC).isoformat()


def version_of_utc_text(text: str | None) -> int:
    """`version_number` of the timestamp: its exact seconds since 1970 rounded once to a double (as
    `timestamp()` computes them), times 10^6, truncated."""
    if text is None:
        return 1
    at = datetime.fromisoformat(text)
    if at.tzinfo is not None:
        return version_number(at)
    return int((at - _EPOCH) / _SECOND * 1_000_000)


def fetched_version(entity: SyncedEntity, dialect: str) -> tuple[sa.ColumnElement[Any], Callable[[Any], int]]:
    """What to select for a versioned entity's version on `dialect`, and how it becomes the number."""
    assert entity.version is not None
    text = utc_text(entity.version, dialect)
    return (entity.version, version_number) if text is None else (text, version_of_utc_text)


@dataclass(frozen=True)
class DeviceRows:
    """An entity's rows for devices on one dialect: the `columns` to select (the device's, then the
    version) and `read`, giving for such a row what `serialize` gives for it read with `selectable()`."""

    columns: tuple[sa.ColumnElement[Any], ...]
    read: Callable[[Any], dict[str, Any]]


@functools.cache
def device_rows(entity: SyncedEntity, dialect: str) -> DeviceRows:
    if entity.version is None:  # its version hashes the row as `selectable()` reads it
        return DeviceRows(tuple(entity.selectable()), entity.serialize)
    to_json = dict(entity.convert)
    columns: list[sa.ColumnElement[Any]] = []
    convert: list[tuple[int, str, Callable[[Any], Any]]] = []
    for i, (key, column) in enumerate(entity.columns):
        text = utc_text(column, dialect)
        columns.append(column if text is None else text)
        conversion = to_json.get(key) if text is None else iso_of_utc_text
        if conversion is not None:
            convert.append((i, key, conversion))
    version, version_of = fetched_version(entity, dialect)
    keys = entity.keys

    def read(row: Any) -> dict[str, Any]:
        out = dict(zip(keys, row, strict=False))
        for i, key, conversion in convert:
            value = row[i]
            if value is not None:
                out[key] = conversion(value)
        out["sync_version"] = version_of(row[-1])
        return out

    return DeviceRows((*columns, version), read)


_CACHE: dict[str, dict[str, SyncedEntity]] = {}
_ROOT: dict[str, SyncedEntity] = {}
_BY_MODEL: dict[type[Any], SyncedEntity | None] = {}


@sa.event.listens_for(sa.orm.Mapper, "after_mapper_constructed")
def _forget(*_: Any) -> None:
    """A model mapped later (a module imported late) may sync too: describe the entities again."""
    _CACHE.clear()
    _ROOT.clear()
    _BY_MODEL.clear()


def synced_entities() -> dict[str, SyncedEntity]:
    """Entity name -> description, in a stable order (work orders first, then by name)."""
    entities = _CACHE.get("all")
    if entities is None:
        mappers = list(Base.registry.mappers)
        found = [_describe(m.class_, m) for m in mappers if getattr(m.class_, "__sync__", None) is not None]
        names = [e.name for e in found]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise RuntimeError(f"sync entity names declared twice: {sorted(duplicates)}")
        found.sort(key=lambda e: (not e.is_root, e.name))
        entities = _CACHE["all"] = {e.name: e for e in found}
    return entities


def root_entity() -> SyncedEntity:
    """The one synced model declaring a holder (the job): every scope hangs off it."""
    entity = _ROOT.get("root")
    if entity is None:
        roots = [m.class_ for m in Base.registry.mappers if getattr(m.class_, "__sync__", None) is not None]
        roots = [model for model in roots if model.__sync__.is_root]
        if len(roots) != 1:
            raise RuntimeError(f"exactly one synced model must declare a holder, found {len(roots)}")
        entity = _ROOT["root"] = _describe(roots[0], sa.inspect(roots[0]))
    return entity


def entity_for(model: type[Any]) -> SyncedEntity | None:
    try:
        return _BY_MODEL[model]
    except KeyError:
        pass
    spec = getattr(model, "__sync__", None)
    entity = None if spec is None else synced_entities().get(spec.entity)
    _BY_MODEL[model] = entity
    return entity


def _describe(model: type[Any], mapper: Any) -> SyncedEntity:
    spec: SyncSpec = model.__sync__
    table = mapper.local_table
    if len(mapper.primary_key) != 1:
        raise RuntimeError(f"{model.__name__}: a synced model needs a single-column primary key")
    pk = mapper.primary_key[0]
    by_key = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
    keys = spec.fields if spec.fields is not None else tuple(by_key)
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise RuntimeError(f"{model.__name__}.__sync__ names unknown fields: {unknown}")
    if pk.key not in keys:
        keys = (pk.key, *keys)
    entity = SyncedEntity(
        name=spec.entity,
        model=model,
        spec=spec,
        table=table,
        pk=pk,
        columns=tuple((k, by_key[k]) for k in keys),
        keys=tuple(keys),
        convert=tuple((k, to_json) for k in keys if (to_json := _to_json(by_key[k])) is not None),
        scope_column=_scope_column(model, spec, by_key),
        via=_via(model, spec, table),
        version=_version_column(model, spec, by_key),
    )
    return dataclasses.replace(entity, _version_at=entity.version_index)


def _base_type(column_type: Any) -> Any:
    """The SQL type under a `TypeDecorator` (`UTCDateTime` is a DateTime)."""
    return column_type.impl_instance if isinstance(column_type, sa.types.TypeDecorator) else column_type


def _to_json(column: Any) -> Callable[[Any], Any] | None:
    """How a column's (non-null) values become JSON: none for JSON-ready types (strings, numbers,
    JSON documents), `isoformat` for dates and times, `jsonable` for anything else."""
    column_type = _base_type(column.type)
    if isinstance(column_type, sa.JSON):
        return None
    if isinstance(column_type, sa.DateTime | sa.Date | sa.Time):
        return _isoformat
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return jsonable
    if python_type in (datetime, date, time, Decimal) or not issubclass(
        python_type, str | int | float | bool | dict | list
    ):
        return jsonable
    return None


def _scope_column(model: type[Any], spec: SyncSpec, by_key: dict[str, Any]) -> Any:
    default = {Scope.WORK_ORDER: "work_order_id", Scope.TECHNICIAN: "technician_id"}.get(spec.scope)
    if default is None and spec.scope_column:
        # Their feed rows carry no scope key: pulls route them by scope (and row id) alone.
        raise RuntimeError(f"{model.__name__}: scope {spec.scope} takes no scope column")
    name = spec.scope_column or default
    if name is None:
        return None
    if name not in by_key:
        raise RuntimeError(f"{model.__name__}: scope {spec.scope} needs a `{name}` column")
    return by_key[name]


def _via(model: type[Any], spec: SyncSpec, table: sa.Table) -> Any:
    if spec.scope != Scope.REFERENCED:
        return None
    columns = root_entity().table.c
    if spec.via:
        return columns[spec.via]
    pointing = [c for c in columns if any(fk.column.table is table for fk in c.foreign_keys)]
    if len(pointing) != 1:
        raise RuntimeError(f"{model.__name__}: REFERENCED needs `via=` (work-order columns: {pointing})")
    return pointing[0]


def _version_column(model: type[Any], spec: SyncSpec, by_key: dict[str, Any]) -> Any:
    if spec.version_column:
        return by_key[spec.version_column]
    for candidate in ("version", "updated_at"):
        if candidate in by_key:
            return by_key[candidate]
    return None

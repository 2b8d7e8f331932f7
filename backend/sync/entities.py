"""The synced entities: every mapped model declaring `__sync__`, with what the feed needs to know.

Derived from the models themselves, so a model joins sync by its declaration alone: the scope column,
the work-order column that references it, the columns a device receives and the version the
convergence checksum uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from backend.models.base import Base
from backend.models.work_orders import WorkOrder
from backend.sync.spec import Scope, SyncSpec

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
    convert: tuple[str, ...] = ()  # columns whose values are not JSON as they come (dates, decimals)
    _version_at: int = -1  # `version_index`, computed once by `_describe`

    @property
    def scope(self) -> Scope:
        return self.spec.scope

    @property
    def is_root(self) -> bool:
        """The work order itself: its scope key is its own id."""
        return self.model is WorkOrder

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

    def serialize_version(self, value: Any) -> int:
        return version_number(value)

    def serialize(self, row: Any) -> dict[str, Any]:
        """A row selected with `selectable()` as the JSON object the device stores."""
        out = dict(zip(self.keys, row, strict=False))
        for key in self.convert:
            value = out[key]
            if value is not None:
                out[key] = jsonable(value)
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


_CACHE: dict[str, dict[str, SyncedEntity]] = {}
_BY_MODEL: dict[type[Any], SyncedEntity | None] = {}


@sa.event.listens_for(sa.orm.Mapper, "after_mapper_constructed")
def _forget(*_: Any) -> None:
    """A model mapped later (a module imported late) may sync too: describe the entities again."""
    _CACHE.clear()
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
        convert=tuple(k for k in keys if _needs_conversion(by_key[k])),
        scope_column=_scope_column(model, spec, by_key),
        via=_via(model, spec, table),
        version=_version_column(model, spec, by_key),
    )
    return dataclasses.replace(entity, _version_at=entity.version_index)


def _needs_conversion(column: Any) -> bool:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return True
    return bool(
        python_type in (datetime, date, time, Decimal)
        or not issubclass(python_type, str | int | float | bool | dict | list)
    )


def _scope_column(model: type[Any], spec: SyncSpec, by_key: dict[str, Any]) -> Any:
    default = {Scope.WORK_ORDER: "work_order_id", Scope.TECHNICIAN: "technician_id"}.get(spec.scope)
    name = spec.scope_column or default
    if name is None:
        return None
    if name not in by_key:
        raise RuntimeError(f"{model.__name__}: scope {spec.scope} needs a `{name}` column")
    return by_key[name]


def _via(model: type[Any], spec: SyncSpec, table: sa.Table) -> Any:
    if spec.scope != Scope.REFERENCED:
        return None
    columns = WorkOrder.__table__.c
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

"""The mutation registry: a device's push names a mutation; each is a validated, named handler.

A mutation lives in its domain's `mutations.py`: a handler decorated with `@mutation(...)`, in a
module the domain names in its `register()` (`registry.domain(..., mutations=(mutations,))`). The
decorator only marks the handler; the registry of a running app is built from the installed domains
(`mutations_by_name()`), so it never depends on which module happened to be imported.

    @mutation("work_order.note", NoteArgs, description="Add a note to a job.")
    def add_note(ctx: MutationContext, args: dict) -> dict:
        ...
        return {"work_order": {"id": order.id, "version": order.version}}

A handler:
- gets `args` already loaded by its marshmallow schema (invalid args never reach it);
- raises `Problem` with status 409 for a conflict (the push result is `conflict` with the server's
  state in the problem's extra fields), any other `Problem` to reject;
- never rejects field facts (parts used, photos, notes, check-ins, signatures) because the job moved
  on: it applies them and calls `ctx.flag(...)` so a dispatcher sees the oddity;
- returns a JSON-able dict naming each touched row's new version (echo is harmless);
- reads the app's configuration (keys, the blob store's settings) from `ctx.settings`, handed down by
  the HTTP boundary: no handler imports Flask.

A mutation pushed in bulk (a day of notes from a basement without signal) may also have a *batch
form*, registered with `@batch_of(name)`: it applies a run of consecutive mutations of that name with
set-based statements, and must leave the rows, results and flags the handler would leave one by one
(receive times aside). For a run that is anything but the plain case (a job out of scope, an id
already taken) it raises `NotBatchable`, or fails; the push then undoes the run and applies it one
mutation at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import FunctionType, MappingProxyType, ModuleType
from typing import Any

import marshmallow as ma
from sqlalchemy.orm import Session

from backend.kernel.registration import installed
from backend.policy import Principal


@dataclass
class Flag:
    code: str
    detail: str
    work_order_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class MutationContext:
    session: Session
    principal: Principal
    device_id: str
    mutation_id: str
    client_time: datetime | None
    base_version: int | None
    # The app's configuration (upper-case keys, as `backend.config.Settings.as_flask()` names them).
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    flags: list[Flag] = field(default_factory=list)

    def flag(self, code: str, detail: str, *, work_order_id: str | None = None, **data: Any) -> None:
        """Accept the fact but raise it for a dispatcher's attention (kept with the mutation)."""
        self.flags.append(Flag(code=code, detail=detail, work_order_id=work_order_id, data=data))


Handler = Callable[[MutationContext, dict[str, Any]], dict[str, Any]]
# A run of mutations (each with its own context and loaded args) -> their results, in order.
BatchHandler = Callable[[list[tuple[MutationContext, dict[str, Any]]]], list[dict[str, Any]]]


class NotBatchable(Exception):
    """Raised by a batch form for a run it cannot apply exactly as the handler would, one by one."""


@dataclass(frozen=True)
class Mutation:
    name: str
    schema: type[ma.Schema]
    handler: Handler
    description: str
    roles: frozenset[str]
    batch: BatchHandler | None = None


# The mutations of the installed domains, by name (built by `mutations_by_name`; tests may patch it).
MUTATIONS: dict[str, Mutation] = {}
_BUILT_FROM: list[object] = []
_MARK = "__sync_mutation__"
_BATCH_MARK = "__sync_batch_of__"


def mutation(
    name: str, schema: type[ma.Schema], *, description: str, roles: frozenset[str] = frozenset({"technician"})
) -> Callable[[Handler], Handler]:
    """Mark `handler` as the phone mutation `name` (registered with its domain's mutation modules)."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _MARK, Mutation(name, schema, handler, description, roles))
        return handler

    return mark


def batch_of(name: str) -> Callable[[BatchHandler], BatchHandler]:
    """Mark `batch` as the batch form of the mutation `name` (defined in the same module)."""

    def mark(batch: BatchHandler) -> BatchHandler:
        setattr(batch, _BATCH_MARK, name)
        return batch

    return mark


def declared_in(module: ModuleType) -> list[Mutation]:
    """The mutations a module defines, each with its batch form if the module has one."""
    found: dict[str, Mutation] = {}
    batches: dict[str, BatchHandler] = {}
    for value in vars(module).values():
        if type(value) is not FunctionType:  # type(): a proxy (flask's current_app) is never touched
            continue
        spec = getattr(value, _MARK, None)
        if isinstance(spec, Mutation) and getattr(value, "__module__", None) == module.__name__:
            if spec.name in found:
                raise RuntimeError(f"mutation {spec.name!r} defined twice in {module.__name__}")
            found[spec.name] = spec
        batch_name = getattr(value, _BATCH_MARK, None)
        if isinstance(batch_name, str) and getattr(value, "__module__", None) == module.__name__:
            if batch_name in batches:
                raise RuntimeError(f"mutation {batch_name!r} has two batch forms")
            batches[batch_name] = value
    for name, batch in batches.items():
        if name not in found:
            raise RuntimeError(f"batch form of unknown mutation {name!r} in {module.__name__}")
        found[name] = replace(found[name], batch=batch)
    return list(found.values())


def mutations_by_name() -> dict[str, Mutation]:
    """Every mutation of the installed domains (`backend.domains.setup()`), by name."""
    registry = installed()
    if not _BUILT_FROM or _BUILT_FROM[0] is not registry:
        built: dict[str, Mutation] = {}
        for module in registry.mutation_modules:
            for spec in declared_in(module):
                if spec.name in built:
                    raise RuntimeError(f"mutation {spec.name!r} registered twice")
                built[spec.name] = spec
        MUTATIONS.clear()
        MUTATIONS.update(built)
        _BUILT_FROM[:] = [registry]
    return MUTATIONS

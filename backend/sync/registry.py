"""The mutation registry: a device's push names a mutation; each is a validated, named handler.

Adding a mutation touches one place: a module that decorates its handler with `@mutation(...)`, listed
in `backend.sync.handlers.MODULES`.

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
from types import MappingProxyType
from typing import Any

import marshmallow as ma
from sqlalchemy.orm import Session

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


MUTATIONS: dict[str, Mutation] = {}


def mutation(
    name: str, schema: type[ma.Schema], *, description: str, roles: frozenset[str] = frozenset({"technician"})
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in MUTATIONS and MUTATIONS[name].handler is not handler:
            raise RuntimeError(f"mutation {name!r} registered twice")
        MUTATIONS[name] = Mutation(name, schema, handler, description, roles)
        return handler

    return register


def batch_of(name: str) -> Callable[[BatchHandler], BatchHandler]:
    """Register the batch form of the mutation `name` (registered first, in the same module)."""

    def register(batch: BatchHandler) -> BatchHandler:
        spec = MUTATIONS.get(name)
        if spec is None:
            raise RuntimeError(f"batch form of unknown mutation {name!r}")
        if spec.batch is not None and spec.batch is not batch:
            raise RuntimeError(f"mutation {name!r} has two batch forms")
        MUTATIONS[name] = replace(spec, batch=batch)
        return batch

    return register

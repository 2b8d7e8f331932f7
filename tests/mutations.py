"""Run one device mutation the way `POST /sync/push` does (schema, handler in a savepoint, commit),
without HTTP: for domain tests of mutation handlers. End-to-end tests go through the push endpoint."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Flask
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.models import new_id
from backend.policy import Principal
from backend.sync.handlers import load_handlers
from backend.sync.registry import MUTATIONS, Flag, MutationContext


class MutationOutcome:
    """One mutation's outcome as the push endpoint reports it."""

    def __init__(self, result: dict[str, Any] | None, problem: Problem | None, flags: list[Flag]) -> None:
        self.result, self.problem, self.flags = result, problem, flags

    @property
    def status(self) -> str:
        if self.problem is None:
            return "applied"
        return "conflict" if self.problem.status == 409 else "rejected"

    @property
    def flag_codes(self) -> list[str]:
        return [flag.code for flag in self.flags]


def run_mutation(
    db: Session,
    app: Flask,
    principal: Principal,
    name: str,
    args: dict[str, Any],
    *,
    device_id: str = "device-1",
) -> MutationOutcome:
    load_handlers()
    registered = MUTATIONS[name]
    ctx = MutationContext(
        session=db,
        principal=principal,
        device_id=device_id,
        mutation_id=new_id(),
        client_time=None,
        base_version=None,
        settings=app.config,
    )
    try:
        try:
            loaded = registered.schema().load(args)
        except ma.ValidationError as exc:
            raise Problem(
                "mutation.invalid_args", "Invalid arguments.", status=422, errors=exc.messages
            ) from None
        with db.begin_nested():
            result = registered.handler(ctx, loaded)
    except Problem as problem:
        db.commit()
        return MutationOutcome(None, problem, ctx.flags)
    db.commit()
    db.expire_all()
    return MutationOutcome(result, None, ctx.flags)

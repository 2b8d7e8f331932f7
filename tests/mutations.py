"""Run one device mutation the way `POST /sync/push` does (schema, handler in a savepoint, commit),
without HTTP: for domain tests of mutation handlers. End-to-end tests go through the push endpoint.
`spy_on_batch` records what a mutation's batch form did with each run a push handed it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import marshmallow as ma
from flask import Flask
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.kernel.base import new_id
from backend.policy import Principal
from backend.sync.registry import MUTATIONS, Flag, MutationContext, NotBatchable, mutations_by_name


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
    registered = mutations_by_name()[name]
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


def spy_on_batch(monkeypatch: Any, name: str) -> list[str]:
    """What the batch form of `name` did with each run, in order: 'applied', 'declined' (it raised
    `NotBatchable`) or 'failed' (any other exception; the push then applies the run one by one)."""
    spec = mutations_by_name()[name]
    batch = spec.batch
    assert batch is not None, f"{name} has no batch form"
    seen: list[str] = []

    def spy(run: list[tuple[MutationContext, dict[str, Any]]]) -> list[dict[str, Any]]:
        try:
            results = batch(run)
        except NotBatchable:
            seen.append("declined")
            raise
        except Exception:
            seen.append("failed")
            raise
        seen.append("applied")
        return results

    monkeypatch.setitem(MUTATIONS, name, replace(spec, batch=spy))
    return seen

"""Device mutations in tests.

- `run_mutation`: one mutation the way `POST /sync/push` applies it (schema, handler in a savepoint,
  commit), without HTTP: for domain tests of a handler.
- `envelope` and `push_over_http`: a phone's outbox through the real endpoint (exactly once, retries
  answered `duplicate`, results and flags as the phone sees them).
- `spy_on_batch`: what a mutation's batch form did with each run a push handed it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import marshmallow as ma
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.kernel.base import new_id
from backend.policy import Principal
from backend.sync.registry import MUTATIONS, Flag, MutationContext, NotBatchable, mutations_by_name

PROTOCOL_HEADERS = {"X-Sync-Protocol": "2"}
CLIENT_TIME = "2026-11-23T07:30:00+00:00"


def envelope(name: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A mutation as a phone queues it: a fresh device-generated id, the name, the args, its clock."""
    return {"id": str(uuid.uuid4()), "name": name, "args": args, "client_time": CLIENT_TIME, **extra}


def push_over_http(
    client: FlaskClient, headers: dict[str, str], *mutations: dict[str, Any], device_id: str = "phone-1"
) -> list[dict[str, Any]]:
    """`POST /sync/push` with the protocol header; the per-mutation results (the push itself must be
    accepted). Send the same envelopes again to see them answered `duplicate`."""
    response = client.post(
        "/sync/push",
        json={"device_id": device_id, "mutations": list(mutations)},
        headers={**headers, **PROTOCOL_HEADERS},
    )
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["results"])


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

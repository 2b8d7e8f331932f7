"""mobile_contracts/: the committed JSON Schemas match the code, examples and live responses match them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from backend.sync.contracts import BASE, SCHEMA_DIR, all_schemas, render
from tests import factories

EXAMPLES = Path(__file__).resolve().parents[2] / "mobile_contracts" / "examples"


def _validator(name: str) -> Draft202012Validator:
    schemas = all_schemas()
    registry = Registry().with_resources(
        (BASE + path, Resource.from_contents(schema)) for path, schema in schemas.items()
    )
    return Draft202012Validator(
        schemas[name], registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _valid(name: str, document: object) -> None:
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_the_committed_schemas_are_the_ones_the_code_generates(app):
    generated = all_schemas()
    stale = [
        p
        for p, schema in generated.items()
        if not (SCHEMA_DIR / p).exists() or (SCHEMA_DIR / p).read_text(encoding="utf-8") != render(schema)
    ]
    assert not stale, f"run `make contracts` (stale: {stale})"


@pytest.mark.parametrize("name", ["pull-response.json", "push-request.json", "push-response.json"])
def test_example_payloads_follow_the_schemas(app, name):
    _valid(name, json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


def test_live_pull_and_push_follow_the_schemas(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="assigned")
    now = datetime.now(UTC).isoformat()
    body = {
        "device_id": "contract-phone",
        "mutations": [
            {
                "id": str(uuid.uuid4()),
                "name": "work_order.note",
                "args": {"id": str(uuid.uuid4()), "work_order_id": order.id, "text": "到达"},
                "client_time": now,
            },
            {
                "id": str(uuid.uuid4()),
                "name": "work_order.transition",
                "args": {"work_order_id": order.id, "to": "completed"},
                "client_time": now,
            },
            {"id": str(uuid.uuid4()), "name": "no.such", "args": {}},
        ],
    }
    _valid("push-request.json", {**body, "mutations": body["mutations"][:2]})

    pushed = client.post("/sync/push", json=body, headers=sync_headers(tech.user))
    again = client.post("/sync/push", json=body, headers=sync_headers(tech.user))
    pulled = client.get(
        "/sync/pull", query_string={"device_id": "contract-phone"}, headers=sync_headers(tech.user)
    )

    assert [r["status"] for r in pushed.json["results"]] == ["applied", "conflict", "rejected"]
    assert {r["status"] for r in again.json["results"]} == {"duplicate"}
    _valid("push-response.json", pushed.json)
    _valid("push-response.json", again.json)
    _valid("pull-response.json", pulled.json)
    assert pulled.json["changes"]["work_order_events"]["upserts"]
    assert pulled.json["changes"]["customers"]["upserts"]

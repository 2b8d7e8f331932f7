"""Batch forms: a run of one mutation applied with set-based statements leaves exactly what the handler
leaves one by one, and anything but the plain case falls back to one by one."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa

import backend.sync.push as push
from backend.sync.models import SyncChange, SyncFlag, SyncMutation
from backend.sync.registry import MUTATIONS, mutations_by_name
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from tests import factories
from tests.mutations import spy_on_batch

NOTE = "work_order.note"


def _note(order_id: str, text: str, event_id: str | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "name": NOTE,
        "args": {"id": event_id or str(uuid.uuid4()), "work_order_id": order_id, "text": text},
        "client_time": datetime(2026, 11, 23, 8, 30, tzinfo=UTC).isoformat(),
    }


def _job_and_headers(sync_headers) -> tuple[WorkOrder, dict[str, str]]:
    """A technician's job on site, and their phone's sync headers."""
    tech = factories.TechnicianFactory()
    return factories.WorkOrderFactory(assignee=tech, status="on_site"), sync_headers(tech.user)


def _push(client, headers, mutations, device_id="phone-1"):
    return client.post("/sync/push", json={"device_id": device_id, "mutations": mutations}, headers=headers)


def _written(db, jobs: list[str], mutation_ids: list[str]) -> list[tuple]:
    """The rows a run of notes left, with ids replaced by what they stand for."""
    db.expire_all()
    events = db.scalars(
        sa.select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id.in_(jobs), WorkOrderEvent.kind == "note")
        .order_by(WorkOrderEvent.work_order_id, WorkOrderEvent.seq)
    ).all()
    out = []
    for e in events:
        feed = db.execute(
            sa.select(SyncChange.entity, SyncChange.op, SyncChange.scope, SyncChange.scope_key).where(
                SyncChange.row_id == e.id
            )
        ).all()
        record = db.get(SyncMutation, e.data["mutation_id"])
        out.append(
            (
                jobs.index(e.work_order_id),
                e.seq,
                e.message,
                e.actor_role,
                e.customer_visible,
                e.device_time,
                mutation_ids.index(e.data["mutation_id"]),
                [(f.entity, f.op, f.scope, jobs.index(f.scope_key)) for f in feed],
                (record.status, record.result["result"]["work_order_events"][0]["seq"]),
            )
        )
    return sorted(out, key=lambda row: row[:2])


def test_a_run_of_notes_applied_by_the_batch_form_leaves_what_one_by_one_leaves(
    db, client, sync_headers, monkeypatch
):
    tech = factories.TechnicianFactory()
    batched_jobs = [factories.WorkOrderFactory(assignee=tech, status="on_site").id for _ in range(3)]
    single_jobs = [factories.WorkOrderFactory(assignee=tech, status="on_site").id for _ in range(3)]
    headers = sync_headers(tech.user)
    seen = spy_on_batch(monkeypatch, NOTE)

    batched = [_note(batched_jobs[i % 3], f"第{i}条") for i in range(30)]
    resp = _push(client, headers, batched)
    assert resp.status_code == 200, resp.json
    assert seen == ["applied"]

    monkeypatch.setitem(MUTATIONS, NOTE, replace(mutations_by_name()[NOTE], batch=None))
    singles = [_note(single_jobs[i % 3], f"第{i}条") for i in range(30)]
    one_by_one = _push(client, headers, singles)
    assert one_by_one.status_code == 200, one_by_one.json

    def told(results):
        return [(r["status"], r["result"]["work_order_events"][0]["seq"], r["flags"]) for r in results]

    assert told(resp.json["results"])[:4] == [
        ("applied", 1, []),
        ("applied", 1, []),
        ("applied", 1, []),
        ("applied", 2, []),
    ]
    assert told(resp.json["results"]) == told(one_by_one.json["results"])
    batched_rows = _written(db, batched_jobs, [m["id"] for m in batched])
    assert len(batched_rows) == 30
    assert batched_rows == _written(db, single_jobs, [m["id"] for m in singles])


def test_a_run_with_a_moved_job_and_a_reused_event_id_is_applied_one_by_one(
    db, client, sync_headers, auth, monkeypatch
):
    tech = factories.TechnicianFactory()
    own = factories.WorkOrderFactory(assignee=tech, status="on_site")
    moved = factories.WorkOrderFactory(assignee=tech, status="accepted")
    headers = sync_headers(tech.user)
    earlier = _note(own.id, "早先的记录")
    assert _push(client, headers, [earlier]).json["results"][0]["status"] == "applied"
    other = factories.TechnicianFactory()
    dispatcher = factories.UserFactory(role="dispatcher")
    reassigned = client.post(
        f"/work-orders/{moved.id}/assign", json={"technician_id": other.id}, headers=auth(dispatcher)
    )
    assert reassigned.status_code == 200, reassigned.json
    seen = spy_on_batch(monkeypatch, NOTE)

    run = [
        _note(own.id, "一"),
        _note(moved.id, "改派前写的"),
        _note(own.id, "重复的事件编号", event_id=earlier["args"]["id"]),
        _note(own.id, "四"),
    ]
    resp = _push(client, headers, run)

    assert resp.status_code == 200, resp.json
    assert seen == ["declined"]
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected", "applied"]
    assert [f["code"] for f in results[1]["flags"]] == ["work_order.reassigned_meanwhile"]
    assert results[2]["problem"]["code"] == "work_order_event.id_taken"
    db.expire_all()
    notes = db.scalars(
        sa.select(WorkOrderEvent.message)
        .where(WorkOrderEvent.kind == "note", WorkOrderEvent.work_order_id.in_([own.id, moved.id]))
        .order_by(WorkOrderEvent.created_at, WorkOrderEvent.seq)
    ).all()
    assert sorted(notes) == sorted(["早先的记录", "一", "改派前写的", "四"])
    assert db.scalar(sa.select(SyncFlag.code).where(SyncFlag.mutation_id == run[1]["id"])) == (
        "work_order.reassigned_meanwhile"
    )
    assert db.get(SyncMutation, run[2]["id"]).status == "rejected"


def test_a_note_reusing_an_event_id_fails_its_run_which_is_applied_one_by_one(
    db, client, sync_headers, monkeypatch
):
    order, headers = _job_and_headers(sync_headers)
    first = _note(order.id, "一")
    seen = spy_on_batch(monkeypatch, NOTE)
    run = [first, _note(order.id, "二"), _note(order.id, "同一个事件编号", event_id=first["args"]["id"])]

    resp = _push(client, headers, run)

    assert seen == ["failed"]
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"]
    assert results[2]["problem"]["code"] == "work_order_event.id_taken"
    assert [r["result"]["work_order_events"][0]["seq"] for r in results[:2]] == [1, 2]
    db.expire_all()
    assert db.scalars(
        sa.select(WorkOrderEvent.message)
        .where(WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.kind == "note")
        .order_by(WorkOrderEvent.seq)
    ).all() == ["一", "二"]


def test_a_mutation_id_another_device_recorded_meanwhile_undoes_the_whole_push(
    db, client, sync_headers, monkeypatch
):
    order, headers = _job_and_headers(sync_headers)
    taken = _note(order.id, "另一台设备先记下的")
    assert _push(client, headers, [taken], device_id="old-phone").json["results"][0]["status"] == "applied"
    # This push read the records before the other device's push committed: it does not see the id.
    monkeypatch.setattr(push, "_recorded", lambda session, ids: {})
    fresh = _note(order.id, "新的")

    resp = _push(client, headers, [fresh, taken], device_id="new-phone")

    assert resp.status_code == 409, resp.json
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json["code"] == "sync.concurrent_push"
    assert resp.json["mutation_ids"] == [taken["id"]]
    db.expire_all()
    assert db.get(SyncMutation, fresh["id"]) is None
    assert db.scalar(sa.select(WorkOrderEvent.id).where(WorkOrderEvent.id == fresh["args"]["id"])) is None

    monkeypatch.undo()
    retry = _push(client, headers, [fresh, taken], device_id="new-phone")
    assert [r["status"] for r in retry.json["results"]] == ["applied", "duplicate"]

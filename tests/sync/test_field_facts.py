"""The job a field fact belongs to: every way a job was a technician's keeps their facts (flagged), and
a job that was never theirs stays not found, even once the change feed has been pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from backend.sync.maintenance import prune_feed
from backend.sync.models import SyncFlag
from backend.work_orders.models import WorkOrderEvent
from tests import factories


def _note(order_id, text="换了电容"):
    return {
        "id": str(uuid.uuid4()),
        "name": "work_order.note",
        "args": {"id": str(uuid.uuid4()), "work_order_id": order_id, "text": text},
        "client_time": datetime.now(UTC).isoformat(),
    }


def _push_note(client, headers, order_id, text="换了电容"):
    response = client.post(
        "/sync/push", json={"device_id": "phone-1", "mutations": [_note(order_id, text)]}, headers=headers
    )
    assert response.status_code == 200, response.json
    return response.json["results"][0]


def _notes(db, order_id):
    db.expire_all()
    return [
        e.message
        for e in db.scalars(
            sa.select(WorkOrderEvent).where(
                WorkOrderEvent.work_order_id == order_id, WorkOrderEvent.kind == "note"
            )
        )
    ]


def _flags(db, order_id):
    return [
        (f.code, f.technician_id)
        for f in db.scalars(sa.select(SyncFlag).where(SyncFlag.work_order_id == order_id))
    ]


def _prune(db):
    assert prune_feed(db, keep_seconds=0) > 0
    db.commit()


def test_a_note_from_the_technician_a_job_was_taken_from_is_kept_after_the_feed_was_pruned(
    db, client, sync_headers, auth
):
    old, new = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=old, status="accepted")  # no assignment event of its own
    dispatcher = factories.UserFactory(role="dispatcher")
    moved = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": new.id}, headers=auth(dispatcher)
    )
    assert moved.status_code == 200, moved.json
    _prune(db)

    result = _push_note(client, sync_headers(old.user), order.id, "已更换压缩机")

    assert result["status"] == "applied"
    assert [f["code"] for f in result["flags"]] == ["work_order.reassigned_meanwhile"]
    assert _notes(db, order.id) == ["已更换压缩机"]
    assert _flags(db, order.id) == [("work_order.reassigned_meanwhile", old.id)]


def test_a_note_from_a_technician_who_declined_the_job_is_kept_after_the_feed_was_pruned(
    db, client, sync_headers, auth
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(status="new")
    dispatcher = factories.UserFactory(role="dispatcher")
    assigned = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": tech.id}, headers=auth(dispatcher)
    )
    declined = client.post(
        f"/work-orders/{order.id}/decline", json={"reason": "车坏了"}, headers=auth(tech.user)
    )
    assert assigned.status_code == 200 and declined.status_code == 200, (assigned.json, declined.json)
    _prune(db)

    result = _push_note(client, sync_headers(tech.user), order.id, "客户不在家")

    assert result["status"] == "applied"
    assert [f["code"] for f in result["flags"]] == ["work_order.reassigned_meanwhile"]
    assert _notes(db, order.id) == ["客户不在家"]
    assert _flags(db, order.id) == [("work_order.reassigned_meanwhile", tech.id)]


def test_a_note_on_a_closed_job_still_assigned_to_the_technician_is_kept_and_flagged_no_longer_active(
    db, client, sync_headers
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="closed")

    result = _push_note(client, sync_headers(tech.user), order.id, "补充：已清洗滤网")

    assert result["status"] == "applied"
    assert [f["code"] for f in result["flags"]] == ["work_order.no_longer_active"]
    assert _notes(db, order.id) == ["补充：已清洗滤网"]
    assert _flags(db, order.id) == [("work_order.no_longer_active", tech.id)]


def test_a_note_on_a_job_that_was_never_the_technicians_is_not_found_even_after_pruning(
    db, client, sync_headers, auth
):
    stranger, first, second = (factories.TechnicianFactory() for _ in range(3))
    order = factories.WorkOrderFactory(assignee=first, status="accepted")
    dispatcher = factories.UserFactory(role="dispatcher")
    moved = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": second.id}, headers=auth(dispatcher)
    )
    assert moved.status_code == 200, moved.json
    _prune(db)

    result = _push_note(client, sync_headers(stranger.user), order.id)

    assert result["status"] == "rejected"
    assert result["problem"]["code"] == "work_order.not_found" and result["problem"]["status"] == 404
    assert _notes(db, order.id) == []
    assert _flags(db, order.id) == []

"""Push: exactly-once mutations, per-mutation outcomes, quarantine, flags, devices and their health."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from backend.sync.models import SyncMutation
from backend.work_orders.models import WorkOrderEvent
from tests import factories


def _mutation(name, args, **extra):
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "args": args,
        "client_time": datetime.now(UTC).isoformat(),
        **extra,
    }


def _note(order_id, text="换了电容", **extra):
    return _mutation(
        "work_order.note", {"id": str(uuid.uuid4()), "work_order_id": order_id, "text": text}, **extra
    )


def _push(client, headers, mutations, device_id="phone-1"):
    return client.post("/sync/push", json={"device_id": device_id, "mutations": mutations}, headers=headers)


def _notes(db, order_id):
    db.expire_all()
    return list(
        db.scalars(
            sa.select(WorkOrderEvent).where(
                WorkOrderEvent.work_order_id == order_id, WorkOrderEvent.kind == "note"
            )
        )
    )


def test_a_note_is_applied_once_and_a_retry_gets_the_original_result(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")
    note = _note(order.id)

    first = _push(client, sync_headers(tech.user), [note])
    again = _push(client, sync_headers(tech.user), [note])

    assert first.status_code == 200, first.json
    result = first.json["results"][0]
    assert result["status"] == "applied"
    assert result["result"]["work_order_events"][0]["id"] == note["args"]["id"]
    assert again.json["results"][0] == {"id": note["id"], "status": "duplicate", "original": result}
    notes = _notes(db, order.id)
    assert [n.id for n in notes] == [note["args"]["id"]]
    assert notes[0].device_time is not None and notes[0].message == "换了电容"


def test_concurrent_duplicate_pushes_apply_a_mutation_once(app, db, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")
    note = _note(order.id)
    headers = sync_headers(tech.user)
    answers: list[dict] = []
    barrier = threading.Barrier(4)

    def send():
        client = app.test_client()
        barrier.wait()
        resp = _push(client, headers, [note])
        answers.append({"status": resp.status_code, "body": resp.json})

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [a["status"] for a in answers] == [200] * 4, answers
    outcomes = sorted(a["body"]["results"][0]["status"] for a in answers)
    assert outcomes == ["applied", "duplicate", "duplicate", "duplicate"]
    assert len(_notes(db, order.id)) == 1


def test_bad_mutations_are_rejected_one_by_one_and_quarantined_while_the_rest_apply(
    db, client, sync_headers, auth
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")
    stranger_job = factories.WorkOrderFactory(assignee=factories.TechnicianFactory(), status="on_site")
    batch = [
        _mutation("work_order.teleport", {"work_order_id": order.id}),
        _mutation("work_order.note", {"work_order_id": order.id, "text": ""}),
        _note(stranger_job.id),
        _note(order.id, "still applied"),
    ]

    resp = _push(client, sync_headers(tech.user), batch)

    assert resp.status_code == 200, resp.json
    results = resp.json["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "rejected", "applied"]
    assert results[0]["problem"]["code"] == "mutation.unknown"
    assert results[1]["problem"]["code"] == "mutation.invalid_args"
    assert set(results[1]["problem"]["errors"]) == {"id", "text"}
    assert results[2]["problem"]["code"] == "work_order.not_found"
    assert _notes(db, stranger_job.id) == []
    assert [n.message for n in _notes(db, order.id)] == ["still applied"]

    dispatcher = factories.UserFactory(role="dispatcher")
    listed = client.get("/sync/quarantine", headers=auth(dispatcher))
    assert listed.status_code == 200
    assert {q["id"] for q in listed.json["items"]} == {m["id"] for m in batch[:3]}
    assert {q["result"]["problem"]["code"] for q in listed.json["items"]} == {
        "mutation.unknown",
        "mutation.invalid_args",
        "work_order.not_found",
    }
    resolved = client.post(
        f"/sync/quarantine/{batch[0]['id']}/resolve",
        json={"resolution": "dismissed", "note": "old app build"},
        headers=auth(dispatcher),
    )
    assert resolved.status_code == 200 and resolved.json["resolution"] == "dismissed"
    still_open = client.get("/sync/quarantine", headers=auth(dispatcher)).json["items"]
    assert {q["id"] for q in still_open} == {m["id"] for m in batch[1:3]}
    assert client.get("/sync/quarantine", headers=auth(tech.user)).status_code == 403
    assert (
        client.post(
            f"/sync/quarantine/{batch[3]['id']}/resolve",
            json={"resolution": "dismissed"},
            headers=auth(dispatcher),
        ).status_code
        == 404
    )

    devices = client.get("/sync/devices", headers=auth(tech.user)).json["items"]
    assert devices[0]["quarantined"] == 2
    assert devices[0]["last_error_code"] == "work_order.not_found"


def test_an_oversized_batch_is_a_413_problem_and_nothing_is_applied(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")

    resp = _push(client, sync_headers(tech.user), [_note(order.id) for _ in range(501)])

    assert resp.status_code == 413
    assert resp.json["code"] == "sync.batch_too_large" and resp.json["max_batch"] == 500
    assert _notes(db, order.id) == []
    assert db.scalar(sa.select(sa.func.count()).select_from(SyncMutation)) == 0


def test_a_malformed_push_body_is_a_422_problem(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    resp = client.post(
        "/sync/push", json={"device_id": "p", "mutations": [{"name": "x"}]}, headers=sync_headers(tech.user)
    )
    assert resp.status_code == 422 and resp.json["code"] == "request.invalid"


def test_an_illegal_transition_is_a_conflict_with_the_server_state_and_later_mutations_apply(
    db, client, sync_headers
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="assigned")
    batch = [
        _mutation("work_order.transition", {"work_order_id": order.id, "to": "completed"}),
        _mutation("work_order.transition", {"work_order_id": order.id, "from": "assigned", "to": "accepted"}),
        _note(order.id, "接单"),
    ]

    results = _push(client, sync_headers(tech.user), batch).json["results"]

    assert [r["status"] for r in results] == ["conflict", "applied", "applied"]
    problem = results[0]["problem"]
    assert problem["code"] == "work_order.illegal_transition"
    assert problem["server_state"]["entity"] == "work_orders"
    assert problem["server_state"]["row"]["status"] == "assigned"
    assert problem["server_state"]["row"]["id"] == order.id
    assert results[1]["result"]["work_orders"][0]["status"] == "accepted"
    db.refresh(order)
    assert order.status == "accepted"


def test_a_transition_from_a_status_the_server_left_is_a_conflict(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="accepted")
    move = _mutation(
        "work_order.transition", {"work_order_id": order.id, "from": "assigned", "to": "accepted"}
    )

    result = _push(client, sync_headers(tech.user), [move]).json["results"][0]

    assert result["status"] == "conflict"
    assert result["problem"]["code"] == "work_order.status_changed"
    assert result["problem"]["server_state"]["row"]["status"] == "accepted"


def test_a_stale_base_version_is_a_conflict_whatever_the_device_clock_says(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="assigned")
    future = (datetime.now(UTC) + timedelta(hours=9)).isoformat()
    move = _mutation(
        "work_order.transition",
        {"work_order_id": order.id, "to": "accepted"},
        base_version=order.version + 1,
        client_time=future,
    )

    result = _push(client, sync_headers(tech.user), [move]).json["results"][0]

    assert result["status"] == "conflict"
    assert result["problem"]["code"] == "work_order.version_mismatch"
    assert result["problem"]["current_version"] == order.version


def test_a_note_on_a_job_taken_away_is_kept_and_flagged_for_the_dispatcher(db, client, sync_headers, auth):
    old, new = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=old, status="assigned")
    dispatcher = factories.UserFactory(role="dispatcher")
    assert (
        client.post(
            f"/work-orders/{order.id}/assign", json={"technician_id": new.id}, headers=auth(dispatcher)
        ).status_code
        == 200
    )

    result = _push(client, sync_headers(old.user), [_note(order.id, "offline note")]).json["results"][0]

    assert result["status"] == "applied"
    assert result["flags"][0]["code"] == "work_order.reassigned_meanwhile"
    assert [n.message for n in _notes(db, order.id)] == ["offline note"]
    flags = client.get("/sync/flags", headers=auth(dispatcher)).json["items"]
    assert [(f["code"], f["work_order_id"], f["technician_id"]) for f in flags] == [
        ("work_order.reassigned_meanwhile", order.id, old.id)
    ]
    done = client.post(f"/sync/flags/{flags[0]['id']}/resolve", json={"note": "ok"}, headers=auth(dispatcher))
    assert done.status_code == 200 and done.json["resolved_at"]
    assert client.get("/sync/flags", headers=auth(dispatcher)).json["items"] == []
    assert client.get("/sync/flags", headers=auth(old.user)).status_code == 403


def test_devices_are_bound_to_their_technician_and_others_get_404(db, client, sync_headers, auth):
    tech, intruder = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="on_site")
    reg = client.post(
        "/sync/devices",
        json={"device_id": "phone-A", "platform": "android", "app_version": "3.1.0"},
        headers=sync_headers(tech.user),
    )
    assert reg.status_code == 200 and reg.json["technician_id"] == tech.id and reg.json["protocol"] == 2

    stolen = _push(client, sync_headers(intruder.user), [_note(order.id)], device_id="phone-A")
    grabbed = client.post("/sync/devices", json={"device_id": "phone-A"}, headers=sync_headers(intruder.user))
    pulled = client.get(
        "/sync/pull", query_string={"device_id": "phone-A"}, headers=sync_headers(intruder.user)
    )

    for resp in (stolen, grabbed, pulled):
        assert resp.status_code == 404 and resp.json["code"] == "sync_device.not_found"
    assert _notes(db, order.id) == []
    assert client.get("/sync/devices", headers=auth(intruder.user)).json["items"] == []


def test_dispatchers_list_devices_silent_for_n_hours(db, client, sync_headers, auth):
    from backend.sync.models import SyncDevice

    quiet, busy = factories.TechnicianFactory(), factories.TechnicianFactory()
    client.post("/sync/devices", json={"device_id": "quiet"}, headers=sync_headers(quiet.user))
    client.get("/sync/pull", query_string={"device_id": "busy"}, headers=sync_headers(busy.user))
    row = db.get(SyncDevice, "quiet")
    row.last_seen_at = datetime.now(UTC) - timedelta(hours=30)
    db.commit()
    dispatcher = factories.UserFactory(role="dispatcher")

    silent = client.get("/sync/devices", query_string={"silent_hours": 24}, headers=auth(dispatcher))

    assert silent.status_code == 200
    assert [d["id"] for d in silent.json["items"]] == ["quiet"]
    everyone = client.get("/sync/devices", headers=auth(dispatcher)).json["items"]
    assert {d["id"] for d in everyone} == {"quiet", "busy"}
    busy_row = next(d for d in everyone if d["id"] == "busy")
    assert busy_row["last_pull_at"] and busy_row["last_push_at"] is None and busy_row["quarantined"] == 0
    assert (
        client.get("/sync/devices", query_string={"silent_hours": 0}, headers=auth(dispatcher)).status_code
        == 422
    )


def test_the_mutation_list_names_the_registered_handlers(db, client, sync_headers):
    tech = factories.TechnicianFactory()
    names = {m["name"] for m in client.get("/sync/mutations", headers=sync_headers(tech.user)).json}
    assert {"work_order.note", "work_order.transition"} <= names

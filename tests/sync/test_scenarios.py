"""End-to-end device scenarios with the reference client: flaky networks, offline reassignment."""

from __future__ import annotations

import random
import threading
import time

import sqlalchemy as sa

from backend.sync.models import SyncMutation
from backend.work_orders.models import WorkOrderEvent
from mobile_contracts.reference_client import FlakyTransport, FlaskTransport, new_id
from tests import factories
from tests.sync.helpers import pull_until_converged

DEVICES = 10
NOTES_PER_DEVICE = 200
ROUNDS = 8


def test_flaky_network_two_thousand_mutations_ten_devices_nothing_lost_nothing_duplicated(app, db, device):
    techs = [factories.TechnicianFactory() for _ in range(DEVICES)]
    jobs = {
        t.id: [factories.WorkOrderFactory(assignee=t, status="on_site").id for _ in range(2)] for t in techs
    }
    phones = []
    for i, tech in enumerate(techs):
        flaky = FlakyTransport(FlaskTransport(app.test_client()), drop_rate=0.2, rng=random.Random(i))
        phones.append(device(tech.user, transport=flaky, batch_size=40))
    sent: dict[str, list[str]] = {p.device_id: [] for p in phones}
    errors: list[BaseException] = []

    def run(phone, tech) -> None:
        local = random.Random(phone.device_id)
        try:
            per_round = NOTES_PER_DEVICE // ROUNDS
            answered: list[dict] = []
            for _ in range(ROUNDS):
                for _ in range(per_round):
                    note_id = new_id()
                    sent[phone.device_id].append(note_id)
                    args = {"id": note_id, "work_order_id": local.choice(jobs[tech.id]), "text": "现场记录"}
                    phone.enqueue("work_order.note", args)
                if answered and local.random() < 0.5:
                    phone.outbox.extend(local.sample(answered, k=min(3, len(answered))))  # duplicate sends
                pending = list(phone.outbox)
                phone.sync(attempts=200)
                answered.extend(pending)
                time.sleep(local.random() * 0.01)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p, t)) for p, t in zip(phones, techs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors, errors
    assert sum(p.transport.dropped for p in phones) > 20  # the network really was bad
    all_sent = [note_id for ids in sent.values() for note_id in ids]
    assert len(all_sent) == DEVICES * NOTES_PER_DEVICE
    db.expire_all()
    stored = list(db.scalars(sa.select(WorkOrderEvent.id).where(WorkOrderEvent.kind == "note")))
    assert len(stored) == len(set(stored)) == len(all_sent), "0 duplicated"
    assert set(stored) == set(all_sent), "0 lost"
    statuses = db.execute(sa.select(SyncMutation.status, sa.func.count()).group_by(SyncMutation.status)).all()
    assert dict(statuses) == {"applied": len(all_sent)}
    for phone, tech in zip(phones, techs, strict=True):
        assert phone.outbox == []
        assert {r["status"] for r in phone.results.values()} == {"applied"}
        phone.transport.drop_rate = 0
        pull_until_converged(app, phone, tech.id)
        notes = [e for e in phone.replica["work_order_events"].values() if e["kind"] == "note"]
        assert len(notes) == NOTES_PER_DEVICE
        assert phone.resyncs == []


def test_reassignment_while_offline_keeps_the_old_technicians_work_flagged_and_moves_the_job(
    app, db, device, client, auth
):
    old, new = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=old, status="assigned")
    old_phone, new_phone = device(old.user), device(new.user)
    old_phone.pull()
    new_phone.pull()
    assert order.id in old_phone.replica["work_orders"]

    # offline on the old phone
    notes = [new_id(), new_id()]
    for note_id in notes:
        old_phone.enqueue("work_order.note", {"id": note_id, "work_order_id": order.id, "text": "已检查外机"})
    move = old_phone.enqueue(
        "work_order.transition", {"work_order_id": order.id, "from": "assigned", "to": "accepted"}
    )
    # meanwhile the dispatcher hands the job to someone else
    dispatcher = factories.UserFactory(role="dispatcher")
    resp = client.post(
        f"/work-orders/{order.id}/assign", json={"technician_id": new.id}, headers=auth(dispatcher)
    )
    assert resp.status_code == 200, resp.json

    old_phone.sync()
    new_phone.sync()

    assert [old_phone.results[n]["status"] for n in []] == []
    note_results = [r for r in old_phone.results.values() if r["status"] == "applied"]
    assert len(note_results) == 2
    assert all(r["flags"][0]["code"] == "work_order.reassigned_meanwhile" for r in note_results)
    assert old_phone.results[move]["status"] == "rejected"
    assert old_phone.results[move]["problem"]["code"] == "work_order.not_found"
    assert order.id not in old_phone.replica["work_orders"]
    assert not [
        e for e in old_phone.replica.get("work_order_events", {}).values() if e["work_order_id"] == order.id
    ]
    assert order.id in new_phone.replica["work_orders"]
    arrived = {
        e["id"] for e in new_phone.replica["work_order_events"].values() if e["work_order_id"] == order.id
    }
    assert set(notes) <= arrived
    flags = client.get(
        "/sync/flags", query_string={"work_order_id": order.id}, headers=auth(dispatcher)
    ).json["items"]
    assert len(flags) == 2 and {f["technician_id"] for f in flags} == {old.id}
    quarantined = client.get("/sync/quarantine", headers=auth(dispatcher)).json["items"]
    assert [q["id"] for q in quarantined] == [move]
    pull_until_converged(app, old_phone, old.id)
    pull_until_converged(app, new_phone, new.id)


def test_an_illegal_transition_made_offline_conflicts_and_the_devices_later_work_still_applies(
    app, db, device
):
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="assigned")
    phone = device(tech.user)
    phone.pull()
    illegal = phone.enqueue(
        "work_order.transition", {"work_order_id": order.id, "from": "assigned", "to": "completed"}
    )
    accept = phone.enqueue(
        "work_order.transition", {"work_order_id": order.id, "from": "assigned", "to": "accepted"}
    )
    note = phone.enqueue("work_order.note", {"id": new_id(), "work_order_id": order.id, "text": "客户不在家"})
    phone.replica["work_orders"][order.id]["status"] = "completed"  # the optimistic local change

    phone.sync()

    conflict = phone.results[illegal]
    assert conflict["status"] == "conflict"
    assert conflict["problem"]["code"] == "work_order.illegal_transition"
    assert conflict["problem"]["server_state"]["row"]["status"] == "assigned"
    assert phone.results[accept]["status"] == "applied"
    assert phone.results[note]["status"] == "applied"
    assert phone.replica["work_orders"][order.id]["status"] == "accepted"  # server rows are truth
    pull_until_converged(app, phone, tech.id)

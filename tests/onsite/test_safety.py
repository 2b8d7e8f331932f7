"""Safety on hazardous jobs: checklists before repair, certificates on the job date, stop-work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.onsite.models import ChecklistSubmission
from backend.onsite.service import template_id
from backend.work_orders.models import WorkOrderEvent
from tests import factories
from tests.onsite.conftest import days_from_today

ELECTRICAL_OK = {"isolation": True, "insulated_gloves": True, "insulated_tools": True, "warning_signs": True}


def _start_repair(client, auth, technician, order):
    return client.post(
        f"/work-orders/{order.id}/transitions", json={"to": "in_repair"}, headers=auth(technician.user)
    )


def test_checklist_templates_cover_electrical_gas_and_height_with_ppe_items(client, db, auth, technician):
    resp = client.get("/checklist-templates", headers=auth(technician.user))
    assert resp.status_code == 200
    by_hazard = {t["hazard"]: t for t in resp.json}
    assert set(by_hazard) == {"electrical", "gas", "height"}
    assert by_hazard["electrical"]["id"] == template_id("electrical")
    assert by_hazard["electrical"]["required_certificate"] == "electrician"
    codes = {h: {i["code"] for i in t["items"]} for h, t in by_hazard.items()}
    assert {"insulated_gloves", "isolation", "warning_signs"} <= codes["electrical"]
    assert {"helmet", "harness"} <= codes["height"]


def test_hazardous_job_cannot_start_repair_without_its_checklist(client, db, auth, push, job, technician):
    order = job(status="on_site", hazards=["electrical"])
    refused = _start_repair(client, auth, technician, order)
    assert refused.status_code == 409
    assert refused.json["code"] == "safety.checklist_required"
    assert refused.json["missing_hazards"] == ["electrical"]

    out = push(
        technician,
        "checklist.submit",
        {"id": "chk-1", "work_order_id": order.id, "hazard": "electrical", "answers": ELECTRICAL_OK},
    )
    assert out.status == "applied" and out.result["checklist_submission"]["passed"] is True
    started = _start_repair(client, auth, technician, order)
    assert started.status_code == 200, started.json
    assert started.json["work_order"]["status"] == "in_repair"


def test_job_without_hazards_starts_repair_without_checklist(client, db, auth, job, technician):
    order = job(status="on_site")
    assert _start_repair(client, auth, technician, order).status_code == 200


def test_checklist_is_refused_for_a_technician_whose_electrician_certificate_expired(db, push, job):
    tech = factories.TechnicianFactory()
    factories.CertificateFactory(technician=tech, type="electrician", expires_on=days_from_today(-1))
    order = job(status="on_site", hazards=["electrical"])
    order.assignee_id = tech.id
    db.commit()
    out = push(
        tech,
        "checklist.submit",
        {"id": "chk-2", "work_order_id": order.id, "hazard": "electrical", "answers": ELECTRICAL_OK},
    )
    assert out.status == "rejected"
    assert out.problem.code == "safety.certificate_invalid"
    assert out.problem.extra["required_certificate"] == "electrician"
    assert db.query(ChecklistSubmission).count() == 0


def test_certificate_valid_today_but_expired_on_the_appointment_day_is_refused(db, push, job):
    tech = factories.TechnicianFactory()
    factories.CertificateFactory(technician=tech, type="electrician", expires_on=days_from_today(3))
    appointment = datetime.now(UTC) + timedelta(days=10)
    order = job(status="on_site", hazards=["electrical"], appointment_start=appointment)
    order.assignee_id = tech.id
    db.commit()
    out = push(
        tech,
        "checklist.submit",
        {"id": "chk-3", "work_order_id": order.id, "hazard": "electrical", "answers": ELECTRICAL_OK},
    )
    assert out.problem is not None and out.problem.code == "safety.certificate_invalid"


def test_checklist_missing_a_required_item_is_kept_flagged_and_does_not_open_repair(
    client, db, auth, push, job, technician
):
    order = job(status="on_site", hazards=["height"])
    out = push(
        technician,
        "checklist.submit",
        {
            "id": "chk-4",
            "work_order_id": order.id,
            "hazard": "height",
            "answers": {"helmet": True, "ladder": True},
        },
    )
    assert out.status == "applied"
    assert out.flag_codes == ["safety.checklist_failed"]
    stored = db.get(ChecklistSubmission, "chk-4")
    assert stored.passed is False and stored.missing_items == ["harness", "warning_signs"]
    assert _start_repair(client, auth, technician, order).json["code"] == "safety.checklist_required"


def test_checklist_naming_unknown_items_is_rejected(db, push, job, technician):
    order = job(status="on_site", hazards=["gas"])
    out = push(
        technician,
        "checklist.submit",
        {"id": "chk-5", "work_order_id": order.id, "hazard": "gas", "answers": {"vibes": True}},
    )
    assert out.problem.code == "safety.unknown_items"
    assert db.query(ChecklistSubmission).count() == 0


def test_stop_work_halts_the_job_alerts_the_dispatcher_until_resolved(
    client, db, auth, push, job, technician
):
    order = job(status="on_site")
    out = push(
        technician,
        "safety.stop_work",
        {
            "id": "stop-1",
            "work_order_id": order.id,
            "hazard": "gas",
            "description": "闻到明显燃气味，疑似泄漏",
        },
    )
    assert out.status == "applied"
    assert out.flag_codes == ["safety.stop_work"]
    halted = _start_repair(client, auth, technician, order)
    assert halted.status_code == 409 and halted.json["code"] == "safety.stop_work_active"

    dispatcher = factories.UserFactory(role="dispatcher")
    listed = client.get("/stop-work-reports", headers=auth(dispatcher))
    assert listed.status_code == 200, listed.json
    assert [r["id"] for r in listed.json["items"]] == ["stop-1"]
    assert client.get("/stop-work-reports", headers=auth(technician.user)).status_code == 403
    resolved = client.post(
        "/stop-work-reports/stop-1/resolve",
        json={"resolution": "燃气公司已关阀检修"},
        headers=auth(dispatcher),
    )
    assert resolved.status_code == 200 and resolved.json["resolved_at"]
    assert client.get("/stop-work-reports", headers=auth(dispatcher)).json["items"] == []
    assert _start_repair(client, auth, technician, order).status_code == 200
    kinds = [
        e.kind
        for e in db.query(WorkOrderEvent).filter_by(work_order_id=order.id).order_by(WorkOrderEvent.seq)
    ]
    assert "stop_work" in kinds and "stop_work_resolved" in kinds

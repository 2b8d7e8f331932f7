"""The visit: appointment, check-in/out with GPS, the identity link, consents and the service record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.onsite.models import AppointmentConfirmation, Consent, ServiceRecord, Visit
from backend.work_orders.models import WorkOrder
from tests import factories


def test_service_desk_confirms_the_window_with_the_customer_and_the_job_becomes_scheduled(
    client, db, auth, job
):
    order = job(status="accepted")
    desk = factories.UserFactory(role="customer_service")
    start = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    resp = client.post(
        f"/work-orders/{order.id}/appointment",
        json={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=2)).isoformat(),
            "agreed_with": "张女士",
            "channel": "phone",
        },
        headers=auth(desk),
    )
    assert resp.status_code == 201, resp.json
    assert resp.json["agreed_with"] == "张女士"
    assert resp.json["confirmed_by_user_id"] == desk.id
    db.expire_all()
    stored = db.get(WorkOrder, order.id)
    assert stored.status == "scheduled"
    assert stored.appointment_start == start
    assert db.query(AppointmentConfirmation).filter_by(work_order_id=order.id).count() == 1


def test_appointment_window_ending_before_it_starts_is_refused_and_nothing_is_written(client, db, auth, job):
    order = job(status="accepted")
    desk = factories.UserFactory(role="customer_service")
    start = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    resp = client.post(
        f"/work-orders/{order.id}/appointment",
        json={
            "window_start": start.isoformat(),
            "window_end": start.isoformat(),
            "agreed_with": "张",
            "channel": "phone",
        },
        headers=auth(desk),
    )
    assert resp.status_code == 422
    assert resp.json["code"] == "request.invalid"
    assert "window_end" in resp.json["errors"]
    assert db.query(AppointmentConfirmation).count() == 0


def test_technician_confirms_the_appointment_offline(push, db, job, technician):
    order = job(status="accepted")
    start = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    out = push(
        technician,
        "visit.confirm_appointment",
        {
            "id": "appt-1",
            "work_order_id": order.id,
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=1)).isoformat(),
            "agreed_with": "张女士",
            "channel": "phone",
            "device_time": "2026-11-23T08:00:00+08:00",
        },
    )
    assert out.status == "applied", out.problem and out.problem.to_dict()
    assert out.result["work_order"]["status"] == "scheduled"
    row = db.get(AppointmentConfirmation, "appt-1")
    assert row.technician_id == technician.id and row.window_start == start


def test_check_in_far_from_the_job_is_kept_and_flagged_for_the_dispatcher(push, db, job, technician):
    order = job(status="en_route")  # the job is at 34.77, 113.66
    out = push(
        technician,
        "visit.check_in",
        {"id": "visit-1", "work_order_id": order.id, "lat": 34.78, "lng": 113.66},
    )
    assert out.status == "applied"
    assert out.flag_codes == ["visit.far_from_job"]
    visit = db.get(Visit, "visit-1")
    assert visit.far_from_job is True
    assert 1000 < visit.check_in_distance_m < 1200
    assert db.get(WorkOrder, order.id).status == "on_site"


def test_check_in_at_the_door_is_not_flagged(push, db, job, technician):
    order = job(status="en_route")
    out = push(
        technician,
        "visit.check_in",
        {"id": "visit-2", "work_order_id": order.id, "lat": 34.7701, "lng": 113.6601, "accuracy_m": 8},
    )
    assert out.status == "applied" and out.flags == []
    assert db.get(Visit, "visit-2").check_in_distance_m < 50


def test_another_technician_cannot_check_in_on_a_job_never_theirs(push, job):
    order = job(status="en_route")
    stranger = factories.TechnicianFactory()
    out = push(
        stranger, "visit.check_in", {"id": "visit-x", "work_order_id": order.id, "lat": 34.77, "lng": 113.66}
    )
    assert out.status == "rejected"
    assert out.problem.code == "work_order.not_found"


def test_identity_link_shows_name_certificates_and_job_only_while_the_visit_is_open(
    client, db, auth, push, job, technician
):
    order = job(status="en_route")
    push(
        technician,
        "visit.check_in",
        {"id": "visit-3", "work_order_id": order.id, "lat": 34.77, "lng": 113.66},
    )
    factories.CertificateFactory(
        technician=technician, type="appliance", expires_on=datetime.now(UTC).date() - timedelta(days=1)
    )
    issued = client.post("/visits/visit-3/identity-token", headers=auth(technician.user))
    assert issued.status_code == 201, issued.json
    assert issued.json["url"].endswith(issued.json["token"])

    card = client.get(f"/identity/{issued.json['token']}")  # the customer at the door: no login
    assert card.status_code == 200, card.json
    assert card.json["name"] == "李师傅"
    assert card.json["employee_no"] == technician.employee_no
    assert card.json["job_number"] == order.number
    assert sorted(c["type"] for c in card.json["certificates"]) == ["electrician", "gas", "height"]
    assert "张女士" not in str(card.json) and "花园路" not in str(card.json)

    push(technician, "visit.check_out", {"visit_id": "visit-3", "work_order_id": order.id})
    after = client.get(f"/identity/{issued.json['token']}")
    assert after.status_code == 410
    assert after.json["code"] == "identity.expired"


def test_a_forged_identity_token_is_not_found(client, db):
    resp = client.get("/identity/not-a-real-token")
    assert resp.status_code == 404
    assert resp.json["code"] == "identity.invalid"


def test_only_the_visiting_technician_gets_an_identity_link(client, db, auth, push, job, technician):
    order = job(status="en_route")
    push(
        technician,
        "visit.check_in",
        {"id": "visit-4", "work_order_id": order.id, "lat": 34.77, "lng": 113.66},
    )
    other = factories.TechnicianFactory()
    resp = client.post("/visits/visit-4/identity-token", headers=auth(other.user))
    assert resp.status_code == 404
    assert resp.json["code"] == "visit.not_found"


def test_service_record_touching_device_data_without_consent_is_kept_and_flagged(push, db, job, technician):
    order = job(status="in_repair")
    record = {
        "work_order_id": order.id,
        "cause": "主板电源芯片损坏",
        "method": "更换主板",
        "items_done": ["备份用户数据", "更换主板", "恢复数据"],
        "function_tests": [{"name": "开机自检", "passed": True}],
        "touched_customer_data": True,
    }
    out = push(technician, "service_record.update", record)
    assert out.status == "applied"
    assert out.flag_codes == ["privacy.no_data_consent"]

    consent = push(
        technician,
        "consent.record",
        {
            "id": "consent-1",
            "work_order_id": order.id,
            "kind": "data_access",
            "subject": "维修过程中需要备份并恢复手机数据",
            "granted": True,
            "signer_name": "张女士",
            "method": "signature",
            "data_handling": "维修完成后清除临时数据",
        },
    )
    assert consent.status == "applied"
    again = push(technician, "service_record.update", record)
    assert again.status == "applied" and again.flags == []
    stored = db.query(ServiceRecord).filter_by(work_order_id=order.id).one()
    assert stored.revision == 2
    assert stored.items_done == ["备份用户数据", "更换主板", "恢复数据"]
    assert db.get(Consent, "consent-1").data_handling == "维修完成后清除临时数据"


def test_work_on_a_new_finding_needs_the_customers_consent(push, db, job, technician):
    order = job(status="in_repair")
    base = {"work_order_id": order.id, "cause": "电容老化", "method": "更换电容", "items_done": ["更换电容"]}
    finding = {"description": "室外机支架锈蚀，已加固", "worked_on": True}
    out = push(technician, "service_record.update", {**base, "findings": [finding]})
    assert out.flag_codes == ["consent.missing_for_finding"]
    push(
        technician,
        "consent.record",
        {
            "id": "consent-2",
            "work_order_id": order.id,
            "kind": "new_finding",
            "subject": "加固室外机支架",
            "granted": True,
            "signer_name": "张女士",
            "method": "verbal",
        },
    )
    out = push(
        technician, "service_record.update", {**base, "findings": [{**finding, "consent_id": "consent-2"}]}
    )
    assert out.flags == []


def test_onsite_record_is_for_the_jobs_technician_and_staff_only(client, db, auth, push, job, technician):
    order = job(status="en_route")
    push(
        technician,
        "visit.check_in",
        {"id": "visit-5", "work_order_id": order.id, "lat": 34.77, "lng": 113.66},
    )
    mine = client.get(f"/work-orders/{order.id}/onsite", headers=auth(technician.user))
    assert mine.status_code == 200
    assert [v["id"] for v in mine.json["visits"]] == ["visit-5"]
    dispatcher = factories.UserFactory(role="dispatcher")
    assert client.get(f"/work-orders/{order.id}/onsite", headers=auth(dispatcher)).status_code == 200
    other = factories.TechnicianFactory()
    resp = client.get(f"/work-orders/{order.id}/onsite", headers=auth(other.user))
    assert resp.status_code == 404
    assert resp.json["code"] == "work_order.not_found"

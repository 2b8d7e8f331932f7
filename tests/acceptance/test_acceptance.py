"""Acceptance: the canonical summary and its vectors, sealed and stale signatures, tampering, rework,
verification, ratings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from backend.acceptance.models import Acceptance
from backend.acceptance.service import canonical_json, job_summary, summary_hash
from backend.work_orders.models import WorkOrder
from tests import factories

VECTORS = Path(__file__).resolve().parents[2] / "mobile_contracts" / "acceptance_vectors.json"
STROKES = [[[0, 0, 0], [12, 30, 16], [25, 5, 33]], [[30, 10, 400], [60, 12, 420]]]
SIGNATURE_SHA = hashlib.sha256(b"signature png bytes").hexdigest()


def _keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys(value[0])] if value else []
    return None


@pytest.mark.parametrize("vector", json.loads(VECTORS.read_text("utf-8"))["vectors"], ids=lambda v: v["name"])
def test_mobile_test_vectors_match_the_servers_canonical_json_and_hash(vector, db):
    canonical = canonical_json(vector["input"])
    assert canonical.decode("utf-8") == vector["canonical"]
    assert hashlib.sha256(canonical).hexdigest() == vector["sha256"] == summary_hash(vector["input"])


def test_canonical_json_refuses_floats(db):
    refused = json.loads(VECTORS.read_text("utf-8"))["refused"]
    for case in refused:
        with pytest.raises(TypeError):
            canonical_json(case["input"])


def _completed_job(db, push, job, technician, **kwargs):
    factories.LabourRateFactory()
    order = job(status="in_repair", **kwargs)
    out = push(
        technician,
        "service_record.update",
        {
            "work_order_id": order.id,
            "cause": "启动电容老化，压缩机无法启动",
            "method": "更换启动电容",
            "items_done": ["更换压缩机启动电容", "检测冷媒压力"],
            "function_tests": [{"name": "制冷 15 分钟出风温度", "passed": True, "reading": "12°C"}],
            "findings": [{"description": "室外机支架锈蚀，建议更换"}],
        },
    )
    assert out.status == "applied"
    order.status = "completed"
    db.commit()
    return order


def _summary(client, auth, user, order) -> dict[str, Any]:
    resp = client.get(f"/work-orders/{order.id}/acceptance-summary", headers=auth(user))
    assert resp.status_code == 200, resp.json
    return resp.json


def _sign(push, technician, order, summary_sha256, *, id="acc-1", role="customer", outcome="accept", **extra):
    args = {
        "id": id,
        "work_order_id": order.id,
        "summary_sha256": summary_sha256,
        "signer_name": "张女士",
        "signer_role": role,
        "signer_relation": "本人",
        "outcome": outcome,
        "strokes": STROKES,
        "signature_attachment_id": f"img-{id}",
        "signature_sha256": SIGNATURE_SHA,
        "device_time": "2026-11-23T15:30:00+08:00",
        "lat": 34.77,
        "lng": 113.66,
        **extra,
    }
    return push(technician, "acceptance.record", args)


def test_the_whole_job_summary_has_the_shape_of_the_mobile_vector(client, db, auth, push, job, technician):
    order = _completed_job(db, push, job, technician)
    body = _summary(client, auth, technician.user, order)
    assert body["canonical"] == canonical_json(body["summary"]).decode()
    assert body["summary_sha256"] == hashlib.sha256(body["canonical"].encode()).hexdigest()
    whole = next(
        v
        for v in json.loads(VECTORS.read_text("utf-8"))["vectors"]
        if v["name"] == "a whole acceptance summary"
    )
    assert set(body["summary"]) == set(whole["input"])
    assert _keys(body["summary"]["work_done"]) == _keys(whole["input"]["work_done"])
    assert body["summary"]["work_done"]["items"] == ["更换压缩机启动电容", "检测冷媒压力"]
    charges = body["summary"]["charges"]
    assert charges["total_fen"] == sum(line["amount_fen"] for line in charges["lines"])
    assert [line["kind"] for line in charges["lines"]] == ["labour"]


def test_customer_signature_on_the_current_summary_is_sealed_and_the_job_accepted(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    out = _sign(push, technician, order, digest)
    assert out.status == "applied", out.problem and out.problem.to_dict()
    assert out.result["acceptance"]["status"] == "sealed"
    assert db.get(WorkOrder, order.id).status == "accepted_by_customer"
    verify = client.get("/acceptances/acc-1/verify", headers=auth(order.customer.user))
    assert verify.json["intact"] is True
    assert verify.json["signer_name"] == "张女士"
    assert verify.json["summary_sha256"] == digest


def test_signature_pushed_after_the_job_gained_a_part_is_stale_and_a_new_one_is_sealed(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    signed_offline = _summary(client, auth, technician.user, order)["summary_sha256"]
    part = factories.PartFactory(sku="CAP-35UF", name="压缩机启动电容 35μF", unit_price_fen=3500)
    consumed = push(
        technician,
        "parts.consume",
        {"id": "use-1", "work_order_id": order.id, "sku": part.sku, "quantity": 1},
    )
    assert consumed.status == "applied", consumed.problem and consumed.problem.to_dict()

    stale = _sign(push, technician, order, signed_offline)
    assert stale.status == "applied"
    assert stale.result["acceptance"]["status"] == "stale"
    assert stale.result["resign_required"] is True
    assert "acceptance.stale" in stale.flag_codes
    assert [p["sku"] for p in stale.result["summary"]["parts"]] == ["CAP-35UF"]
    assert db.get(WorkOrder, order.id).status == "completed"
    assert db.get(Acceptance, "acc-1").seal is None

    resigned = _sign(push, technician, order, stale.result["summary_sha256"], id="acc-2")
    assert resigned.result["acceptance"]["status"] == "sealed"
    assert db.get(WorkOrder, order.id).status == "accepted_by_customer"
    listed = client.get(f"/work-orders/{order.id}/acceptances", headers=auth(technician.user)).json["items"]
    assert [(a["id"], a["status"]) for a in listed] == [("acc-1", "stale"), ("acc-2", "sealed")]


def test_several_signatures_by_role_are_each_bound_to_the_same_hash(client, db, auth, push, job, technician):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    assert (
        _sign(push, technician, order, digest, id="acc-t", role="technician").result["acceptance"]["status"]
        == "sealed"
    )
    assert db.get(WorkOrder, order.id).status == "completed"  # the technician's own signature decides nothing
    _sign(push, technician, order, digest, id="acc-w", role="witness", signer_relation="邻居")
    _sign(push, technician, order, digest, id="acc-c", role="customer")
    rows = db.scalars(sa.select(Acceptance).where(Acceptance.work_order_id == order.id)).all()
    assert {a.signer_role for a in rows} == {"technician", "witness", "customer"}
    assert {a.summary_sha256 for a in rows} == {digest}
    assert all(a.status == "sealed" for a in rows)
    assert db.get(WorkOrder, order.id).status == "accepted_by_customer"


@pytest.mark.parametrize(
    "column,value", [("signer_name", "李四"), ("signature_sha256", "0" * 64), ("outcome", "reject")]
)
def test_a_sealed_record_altered_in_the_database_no_longer_verifies(
    client, db, auth, push, job, technician, column, value
):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    _sign(push, technician, order, digest)
    assert client.get("/acceptances/acc-1/verify").json["intact"] is True
    db.execute(sa.update(Acceptance).where(Acceptance.id == "acc-1").values({column: value}))
    db.commit()
    broken = client.get("/acceptances/acc-1/verify", headers=auth(order.customer.user))
    assert broken.status_code == 200
    assert broken.json["intact"] is False
    assert broken.json["problems"] == ["seal_mismatch"]


def test_rejection_opens_a_rework_order_the_customer_sees_and_the_original_cannot_close(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    out = _sign(push, technician, order, digest, outcome="reject", reason="制冷效果仍然不好")
    assert out.result["acceptance"]["status"] == "sealed"
    rework_id = out.result["rework_order"]["id"]
    assert db.get(WorkOrder, order.id).status == "rejected_by_customer"
    rework = db.get(WorkOrder, rework_id)
    assert rework.rework_of_id == order.id
    assert rework.assignee_id == technician.id
    assert rework.status == "rework"

    customer = order.customer.user
    tracked = client.get("/tracking/orders", headers=auth(customer)).json["items"]
    assert {o["id"]: o["rework_of_id"] for o in tracked}[rework_id] == order.id
    assert (
        client.get(f"/tracking/orders/{rework_id}", headers=auth(customer)).json["status_label"] == "返修中"
    )

    desk = factories.UserFactory(role="customer_service")
    refused = client.post(f"/work-orders/{order.id}/transitions", json={"to": "closed"}, headers=auth(desk))
    assert refused.status_code == 409
    assert refused.json["code"] == "acceptance.rework_pending"
    assert refused.json["rework_order_ids"] == [rework_id]

    # The rework is done and accepted: now the original closes.
    rework.status = "completed"
    db.commit()
    rework_digest = _summary(client, auth, technician.user, rework)["summary_sha256"]
    assert (
        _sign(push, technician, rework, rework_digest, id="acc-r").result["acceptance"]["status"] == "sealed"
    )
    closed = client.post(f"/work-orders/{order.id}/transitions", json={"to": "closed"}, headers=auth(desk))
    assert closed.status_code == 200, closed.json


def test_rejection_without_a_reason_is_refused_and_nothing_is_written(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    out = _sign(push, technician, order, digest, outcome="reject")
    assert out.status == "rejected" and out.problem.code == "acceptance.reason_required"
    assert db.query(Acceptance).count() == 0
    assert db.get(WorkOrder, order.id).status == "completed"


def test_other_customers_learn_only_the_seal_status(client, db, auth, push, job, technician):
    order = _completed_job(db, push, job, technician)
    _sign(push, technician, order, _summary(client, auth, technician.user, order)["summary_sha256"])
    stranger = factories.CustomerFactory().user
    theirs = client.get("/acceptances/acc-1/verify", headers=auth(stranger))
    assert theirs.status_code == 200
    assert theirs.json == {"acceptance_id": "acc-1", "intact": True, "status": "sealed"}
    anonymous = client.get("/acceptances/acc-1/verify")
    assert anonymous.json == {"acceptance_id": "acc-1", "intact": True, "status": "sealed"}
    assert client.get(f"/work-orders/{order.id}/acceptances", headers=auth(stranger)).status_code == 404
    assert (
        client.get(f"/work-orders/{order.id}/acceptance-summary", headers=auth(stranger)).status_code == 404
    )
    assert client.get("/acceptances/no-such-id/verify").json["code"] == "acceptance.not_found"


def test_customer_rates_the_service_once_after_accepting(client, db, auth, push, job, technician):
    order = _completed_job(db, push, job, technician)
    customer = order.customer.user
    rating = {"attitude": 5, "quality": 4, "effect": 5, "response_speed": 3, "comment": "师傅很专业"}
    early = client.post(f"/work-orders/{order.id}/rating", json=rating, headers=auth(customer))
    assert early.status_code == 409 and early.json["code"] == "rating.not_accepted_yet"
    _sign(push, technician, order, _summary(client, auth, technician.user, order)["summary_sha256"])
    created = client.post(f"/work-orders/{order.id}/rating", json=rating, headers=auth(customer))
    assert created.status_code == 201, created.json
    assert created.json["technician_id"] == technician.id and created.json["response_speed"] == 3
    again = client.post(f"/work-orders/{order.id}/rating", json=rating, headers=auth(customer))
    assert again.json["code"] == "rating.already_rated"
    bad = client.post(
        f"/work-orders/{order.id}/rating", json={**rating, "quality": 6}, headers=auth(customer)
    )
    assert bad.status_code == 422 and "quality" in bad.json["errors"]
    stranger = factories.CustomerFactory().user
    assert client.get(f"/work-orders/{order.id}/rating", headers=auth(stranger)).status_code == 404
    assert (
        client.get(f"/work-orders/{order.id}/rating", headers=auth(technician.user)).json["comment"]
        == "师傅很专业"
    )


def test_the_summary_is_defined_once_and_the_service_agrees_with_the_endpoint(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    body = _summary(client, auth, technician.user, order)
    db.expire_all()
    assert summary_hash(job_summary(session=db, order=db.get(WorkOrder, order.id))) == body["summary_sha256"]

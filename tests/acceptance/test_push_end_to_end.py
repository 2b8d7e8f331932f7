"""The visit and the signature through the real `POST /sync/push`, as the phone sends them offline."""

from __future__ import annotations

from backend.acceptance.models import Acceptance
from backend.work_orders.models import WorkOrder
from tests.acceptance.test_acceptance import SIGNATURE_SHA, STROKES, _completed_job, _summary
from tests.mutations import PROTOCOL_HEADERS, envelope


def test_offline_batch_checks_in_far_away_and_seals_the_customers_signature_exactly_once(
    client, db, auth, push, job, technician
):
    order = _completed_job(db, push, job, technician)
    digest = _summary(client, auth, technician.user, order)["summary_sha256"]
    headers = {**auth(technician.user), **PROTOCOL_HEADERS}
    batch = [
        envelope("visit.check_in", {"id": "v-e2e", "work_order_id": order.id, "lat": 34.80, "lng": 113.66}),
        envelope(
            "acceptance.record",
            {
                "id": "acc-e2e",
                "work_order_id": order.id,
                "summary_sha256": digest,
                "signer_name": "张女士",
                "signer_role": "customer",
                "outcome": "accept",
                "strokes": STROKES,
                "signature_attachment_id": "img-e2e",
                "signature_sha256": SIGNATURE_SHA,
            },
        ),
    ]
    body = {"device_id": "phone-1", "mutations": batch}
    first = client.post("/sync/push", json=body, headers=headers)
    assert first.status_code == 200, first.json
    check_in, signed = first.json["results"]
    assert check_in["status"] == "applied"
    assert [f["code"] for f in check_in["flags"]] == ["visit.far_from_job"]
    assert signed["status"] == "applied"
    assert signed["result"]["acceptance"]["status"] == "sealed"
    assert signed["result"]["work_order"]["status"] == "accepted_by_customer"

    again = client.post("/sync/push", json=body, headers=headers)  # the response was lost; the phone retries
    assert [r["status"] for r in again.json["results"]] == ["duplicate", "duplicate"]
    db.expire_all()
    assert db.query(Acceptance).filter_by(work_order_id=order.id).count() == 1
    assert db.get(WorkOrder, order.id).status == "accepted_by_customer"
    assert client.get("/acceptances/acc-e2e/verify").json["intact"] is True

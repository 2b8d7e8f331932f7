"""A device's evidence through the real sync endpoints: register and complete pushed as mutations,
bytes sent with the ticket, the attachment's state pulled back."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.evidence.models import Attachment
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import Device
from tests.mutations import PROTOCOL_HEADERS, envelope, push_over_http


def test_device_registers_uploads_and_completes_a_photo_through_push_and_pulls_its_verified_state(
    db: Session, client: FlaskClient, auth: Any, device: Device
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    headers = {**auth(technician.user), **PROTOCOL_HEADERS}
    photo = samples.jpeg_with_gps()
    register = envelope("attachment.register", {**samples.declaration(photo), "work_order_id": order.id})
    attachment_id = register["args"]["id"]

    [registered] = push_over_http(client, headers, register)
    device.send(registered["result"]["ticket"], photo)
    complete = envelope("attachment.complete", {"id": attachment_id})
    [completed] = push_over_http(client, headers, complete)
    replay = push_over_http(
        client, headers, register, complete
    )  # the whole push retried after a lost response

    assert registered["status"] == "applied" and registered["result"]["attachment"]["state"] == "pending"
    assert completed["status"] == "applied" and completed["result"]["attachment"]["state"] == "verified"
    assert [r["status"] for r in replay] == ["duplicate", "duplicate"]
    assert db.query(Attachment).filter_by(id=attachment_id).count() == 1
    db.rollback()  # end this read transaction: the pull serves changes below the oldest open one
    pulled = client.get("/sync/pull?device_id=phone-1", headers=headers)
    assert pulled.status_code == 200, pulled.get_json()
    rows = pulled.get_json()["changes"]["attachments"]["upserts"]
    assert [(row["id"], row["state"]) for row in rows] == [(attachment_id, "verified")]
    assert rows[0]["exif_lat"] == samples.GPS_LAT or abs(rows[0]["exif_lat"] - samples.GPS_LAT) < 1e-6


def test_a_bad_upload_pushed_for_completion_comes_back_rejected_with_a_fresh_ticket(
    db: Session, client: FlaskClient, auth: Any, device: Device
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    headers = {**auth(technician.user), **PROTOCOL_HEADERS}
    photo = samples.plain_jpeg()
    register = envelope("attachment.register", {**samples.declaration(photo), "work_order_id": order.id})
    [registered] = push_over_http(client, headers, register)
    device.send(registered["result"]["ticket"], samples.pdf())

    [completed] = push_over_http(
        client, headers, envelope("attachment.complete", {"id": register["args"]["id"]})
    )

    assert completed["status"] == "applied"
    assert completed["result"]["attachment"]["state"] == "rejected"
    assert completed["result"]["attachment"]["rejection_code"] in {
        "attachment.size_mismatch",
        "attachment.type_mismatch",
    }
    assert completed["result"]["ticket"]["attachment_id"] == register["args"]["id"]

"""A device's evidence through the real sync endpoints: register and complete pushed as mutations,
bytes sent with the ticket, the attachment's state pulled back."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.evidence.models import Attachment
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import Device

PROTOCOL = {"X-Sync-Protocol": "2"}


def _push(client: FlaskClient, headers: dict[str, str], *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(
        "/sync/push", json={"device_id": "phone-1", "mutations": list(mutations)}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["results"])


def _mutation(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": name, "args": args, "client_time": "2026-11-23T06:05:09+00:00"}


def test_device_registers_uploads_and_completes_a_photo_through_push_and_pulls_its_verified_state(
    db: Session, client: FlaskClient, auth: Any, device: Device
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    headers = {**auth(technician.user), **PROTOCOL}
    photo = samples.jpeg_with_gps()
    register = _mutation("attachment.register", {**samples.declaration(photo), "work_order_id": order.id})
    attachment_id = register["args"]["id"]

    [registered] = _push(client, headers, register)
    device.send(registered["result"]["ticket"], photo)
    complete = _mutation("attachment.complete", {"id": attachment_id})
    [completed] = _push(client, headers, complete)
    replay = _push(client, headers, register, complete)  # the whole push retried after a lost response

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
    headers = {**auth(technician.user), **PROTOCOL}
    photo = samples.plain_jpeg()
    register = _mutation("attachment.register", {**samples.declaration(photo), "work_order_id": order.id})
    [registered] = _push(client, headers, register)
    device.send(registered["result"]["ticket"], samples.pdf())

    [completed] = _push(client, headers, _mutation("attachment.complete", {"id": register["args"]["id"]}))

    assert completed["status"] == "applied"
    assert completed["result"]["attachment"]["state"] == "rejected"
    assert completed["result"]["attachment"]["rejection_code"] in {
        "attachment.size_mismatch",
        "attachment.type_mismatch",
    }
    assert completed["result"]["ticket"]["attachment_id"] == register["args"]["id"]

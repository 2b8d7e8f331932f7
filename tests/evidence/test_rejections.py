"""What arrived is checked by the server, whatever the store enforced: each kind of bad upload is
rejected with its own code, deleted, nothing is marked verified, and a new ticket is offered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.evidence import storage_for
from backend.evidence.models import Attachment, AttachmentState
from backend.kernel.base import utcnow
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import Device


@pytest.fixture
def job(db: Session) -> Any:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    return order, technician


def _register(
    client: FlaskClient, auth: Any, user: Any, order: Any, data: bytes, **declared: Any
) -> dict[str, Any]:
    body = {**samples.declaration(data, **declared), "work_order_id": order.id}
    response = client.post("/attachments", json=body, headers=auth(user))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _assert_rejected(db: Session, app: Flask, response: Any, attachment_id: str, code: str) -> dict[str, Any]:
    problem = response.get_json()
    assert response.status_code == 422 and problem["code"] == code, problem
    assert problem["attachment"]["state"] == "rejected" and problem["attachment"]["rejection_code"] == code
    assert problem["ticket"]["attachment_id"] == attachment_id and problem["ticket"]["expires_at"]
    db.expire_all()
    row = db.get(Attachment, attachment_id)
    assert row.state == AttachmentState.REJECTED and row.verified_at is None and row.object_key is None
    store = storage_for(app).store
    assert store.head(row.upload_key) is None
    assert list(store.list_objects(f"evidence/{attachment_id}")) == []
    return problem


def test_wrong_sha256_is_rejected_deleted_and_a_reupload_with_the_new_ticket_verifies(
    db: Session, job: Any, client: FlaskClient, auth: Any, device: Device, app: Flask
) -> None:
    order, technician = job
    photo = samples.plain_jpeg()
    registered = _register(client, auth, technician.user, order, photo)
    attachment_id = registered["attachment"]["id"]
    tampered = photo[:-10] + bytes(10)  # same size and type, different bytes
    device.send(registered["ticket"], tampered)

    response = client.post(f"/attachments/{attachment_id}/complete", headers=auth(technician.user))

    problem = _assert_rejected(db, app, response, attachment_id, "attachment.checksum_mismatch")
    device.send(problem["ticket"], photo)
    again = client.post(f"/attachments/{attachment_id}/complete", headers=auth(technician.user))
    assert again.status_code == 200 and again.get_json()["attachment"]["state"] == "verified"
    assert again.get_json()["attachment"]["rejections"] == 1


def test_truncated_upload_is_rejected_as_a_size_mismatch(
    db: Session, job: Any, client: FlaskClient, auth: Any, device: Device, app: Flask
) -> None:
    order, technician = job
    photo = samples.plain_jpeg()
    registered = _register(client, auth, technician.user, order, photo)
    device.send(registered["ticket"], photo[: len(photo) // 2])

    response = client.post(
        f"/attachments/{registered['attachment']['id']}/complete", headers=auth(technician.user)
    )

    _assert_rejected(db, app, response, registered["attachment"]["id"], "attachment.size_mismatch")


def test_pdf_sent_as_image_jpeg_is_rejected_by_the_sniffed_type(
    db: Session, job: Any, client: FlaskClient, auth: Any, device: Device, app: Flask
) -> None:
    order, technician = job
    document = samples.pdf()
    registered = _register(client, auth, technician.user, order, document, content_type="image/jpeg")
    device.send(registered["ticket"], document)

    response = client.post(
        f"/attachments/{registered['attachment']['id']}/complete", headers=auth(technician.user)
    )

    problem = _assert_rejected(db, app, response, registered["attachment"]["id"], "attachment.type_mismatch")
    assert "application/pdf" in problem["detail"]


def test_upload_after_the_ticket_expired_is_rejected_and_a_renewed_ticket_works(
    db: Session, job: Any, client: FlaskClient, auth: Any, device: Device, app: Flask, storage_backend: str
) -> None:
    order, technician = job
    photo = samples.plain_jpeg()
    registered = _register(client, auth, technician.user, order, photo)
    attachment_id = registered["attachment"]["id"]
    row = db.get(Attachment, attachment_id)
    row.ticket_expires_at = utcnow() - timedelta(hours=1)  # the device was offline for hours
    db.commit()
    headers = auth(technician.user)

    status, problem = device.upload(registered["ticket"], photo)
    if storage_backend == "local":  # the API receives the upload and refuses it at the door
        assert status == 403 and problem["code"] == "attachment.ticket_expired"
        assert client.post(f"/attachments/{attachment_id}/complete", headers=headers).status_code == 409
    else:  # moto takes it; the server's own check at completion is the guard
        response = client.post(f"/attachments/{attachment_id}/complete", headers=headers)
        _assert_rejected(db, app, response, attachment_id, "attachment.ticket_expired")
    db.expire_all()
    assert db.get(Attachment, attachment_id).state != AttachmentState.VERIFIED

    renewed = client.post(f"/attachments/{attachment_id}/ticket", headers=headers).get_json()
    device.send(renewed, photo)
    done = client.post(f"/attachments/{attachment_id}/complete", headers=headers)
    assert done.status_code == 200 and done.get_json()["attachment"]["state"] == "verified"


def test_upload_with_someone_elses_ticket_is_rejected_and_their_attachment_stays_theirs(
    db: Session, client: FlaskClient, auth: Any, device: Device, app: Flask, storage_backend: str
) -> None:
    alice, bob = factories.TechnicianFactory(), factories.TechnicianFactory()
    alice_job = factories.WorkOrderFactory(assignee=alice, status=Status.IN_REPAIR)
    bob_job = factories.WorkOrderFactory(assignee=bob, status=Status.IN_REPAIR)
    photo = samples.plain_jpeg()
    alices = _register(client, auth, alice.user, alice_job, samples.jpeg_with_gps())
    bobs = _register(client, auth, bob.user, bob_job, photo)
    bob_id = bobs["attachment"]["id"]
    stolen = alices["ticket"]

    if storage_backend == "local":
        url = stolen["url"].replace(alices["attachment"]["id"], bob_id)
        status, problem = device.upload({**stolen, "url": url}, photo)
        assert status == 403 and problem["code"] == "attachment.ticket_mismatch"
        complete = client.post(f"/attachments/{bob_id}/complete", headers=auth(bob.user))
        assert complete.status_code == 409 and complete.get_json()["code"] == "attachment.not_uploaded"
    else:  # Alice's signed form, pointed at Bob's key: moto may accept it; completion must not
        status, _ = device.upload(stolen, photo, fields={"key": f"uploads/{bob_id}"})
        assert status in (204, 403)  # real S3 refuses the policy (403); moto takes it (204)
        if status == 204:
            complete = client.post(f"/attachments/{bob_id}/complete", headers=auth(bob.user))
            _assert_rejected(db, app, complete, bob_id, "attachment.ticket_mismatch")
    for path in ("ticket", "complete"):
        other = client.post(f"/attachments/{alices['attachment']['id']}/{path}", headers=auth(bob.user))
        assert other.status_code == 404 and other.get_json()["code"] == "attachment.not_found"
    db.expire_all()
    assert {row.state for row in db.query(Attachment)} <= {AttachmentState.PENDING, AttachmentState.REJECTED}


def test_a_corrupt_jpeg_is_rejected_as_unreadable(
    db: Session, job: Any, client: FlaskClient, auth: Any, device: Device, app: Flask
) -> None:
    order, technician = job
    broken = samples.plain_jpeg()[:2000] + bytes(3000)  # a JPEG header, then nothing decodable
    registered = _register(client, auth, technician.user, order, broken)
    device.send(registered["ticket"], broken)

    response = client.post(
        f"/attachments/{registered['attachment']['id']}/complete", headers=auth(technician.user)
    )

    _assert_rejected(db, app, response, registered["attachment"]["id"], "attachment.image_unreadable")


def test_completion_through_the_device_mutation_reports_rejection_with_a_new_ticket(
    db: Session, job: Any, push: Any, device: Device
) -> None:
    order, technician = job
    photo = samples.plain_jpeg()
    registered = push(
        technician, "attachment.register", {**samples.declaration(photo), "work_order_id": order.id}
    )
    device.send(registered.result["ticket"], photo[:-1] + b"\x00")

    done = push(technician, "attachment.complete", {"id": registered.result["attachment"]["id"]})

    assert done.status == "applied"  # the mutation is fine; the bytes were not
    assert done.result["attachment"]["state"] == "rejected"
    assert done.result["attachment"]["rejection_code"] == "attachment.checksum_mismatch"
    assert done.result["ticket"]["attachment_id"] == registered.result["attachment"]["id"]

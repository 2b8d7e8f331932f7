"""`repairops sweep-uploads`: expired never-completed uploads and unreferenced objects go; verified
evidence never does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.evidence import storage_for
from backend.evidence.models import Attachment, AttachmentState
from backend.kernel.base import utcnow
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import MIB, Device


def test_sweeper_frees_abandoned_uploads_and_orphans_and_never_touches_verified_evidence(
    db: Session, app: Flask, client: FlaskClient, auth: Any, device: Device
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    headers = auth(technician.user)

    def register(data: bytes, **declared: Any) -> dict[str, Any]:
        body = {**samples.declaration(data, **declared), "work_order_id": order.id}
        return client.post("/attachments", json=body, headers=headers).get_json()

    kept_photo = samples.jpeg_with_gps()
    kept = register(kept_photo)
    device.send(kept["ticket"], kept_photo)
    assert (
        client.post(f"/attachments/{kept['attachment']['id']}/complete", headers=headers).status_code == 200
    )
    kept_row = db.get(Attachment, kept["attachment"]["id"])
    kept_row.ticket_expires_at = utcnow() - timedelta(days=30)  # as old as can be: still never swept
    abandoned_photo = samples.plain_jpeg()
    abandoned = register(abandoned_photo)
    device.send(abandoned["ticket"], abandoned_photo)
    video = samples.mp4(17 * MIB)
    abandoned_video = register(video, kind="video", content_type="video/mp4", duration_seconds=20)
    device.upload_parts(abandoned_video["ticket"], video, numbers=[1])
    for ticketed in (abandoned, abandoned_video):
        db.get(Attachment, ticketed["attachment"]["id"]).ticket_expires_at = utcnow() - timedelta(days=8)
    db.commit()
    store = storage_for(app).store
    store.put("evidence/no-such-attachment/original", b"orphan", content_type="image/jpeg")

    result = app.test_cli_runner().invoke(args=["sweep-uploads", "--min-age-minutes", "0"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["expired_uploads"] == 2 and report["orphan_objects"] == 1
    db.expire_all()
    for ticketed in (abandoned, abandoned_video):
        row = db.get(Attachment, ticketed["attachment"]["id"])
        assert row.state == AttachmentState.PENDING and row.upload_id is None  # still a visible fact
        assert store.head(row.upload_key) is None
    assert list(store.list_multipart_uploads("uploads/")) == []
    assert store.head("evidence/no-such-attachment/original") is None
    kept_row = db.get(Attachment, kept["attachment"]["id"])
    assert kept_row.state == AttachmentState.VERIFIED
    assert store.read(kept_row.object_key) == kept_photo
    assert store.head(kept_row.thumbnail_key) is not None and store.head(kept_row.display_key) is not None

    renewed = client.post(f"/attachments/{abandoned['attachment']['id']}/ticket", headers=headers).get_json()
    device.send(renewed, abandoned_photo)
    done = client.post(f"/attachments/{abandoned['attachment']['id']}/complete", headers=headers)
    assert done.status_code == 200 and done.get_json()["attachment"]["state"] == "verified"


def test_sweeper_keeps_uploads_whose_ticket_is_recent(
    db: Session, app: Flask, client: FlaskClient, auth: Any, device: Device
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    photo = samples.plain_jpeg()
    body = {**samples.declaration(photo), "work_order_id": order.id}
    registered = client.post("/attachments", json=body, headers=auth(technician.user)).get_json()
    device.send(registered["ticket"], photo)

    result = app.test_cli_runner().invoke(args=["sweep-uploads", "--min-age-minutes", "0"])

    assert json.loads(result.output)["expired_uploads"] == 0
    done = client.post(f"/attachments/{body['id']}/complete", headers=auth(technician.user))
    assert done.status_code == 200 and done.get_json()["attachment"]["state"] == "verified"

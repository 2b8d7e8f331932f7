"""Who may see, register and finish which attachment; per-job and per-kind limits; signed local links."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.evidence.models import Attachment
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import Device


@pytest.fixture
def verified_photo(db: Session, client: FlaskClient, auth: Any, device: Device) -> tuple[Any, Any, str]:
    """A technician's verified photo of a customer's job: (order, technician, attachment id)."""
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    photo = samples.jpeg_with_gps()
    body = {**samples.declaration(photo), "work_order_id": order.id}
    registered = client.post("/attachments", json=body, headers=auth(technician.user)).get_json()
    device.send(registered["ticket"], photo)
    done = client.post(f"/attachments/{body['id']}/complete", headers=auth(technician.user))
    assert done.status_code == 200
    return order, technician, body["id"]


def test_another_customer_or_technician_gets_404_for_an_attachment_id(
    db: Session, client: FlaskClient, auth: Any, verified_photo: tuple[Any, Any, str], partner_with_key: Any
) -> None:
    order, _, attachment_id = verified_photo
    stranger_customer = factories.CustomerFactory().user
    stranger_technician = factories.TechnicianFactory().user
    _, partner_key = partner_with_key

    for headers in (auth(stranger_customer), auth(stranger_technician), auth(partner_key)):
        for path in (f"/attachments/{attachment_id}", f"/attachments/{attachment_id}/download"):
            response = client.get(path, headers=headers)
            assert response.status_code == 404 and response.get_json()["code"] == "attachment.not_found"
    listing = client.get(f"/work-orders/{order.id}/attachments", headers=auth(stranger_technician))
    assert listing.status_code == 404 and listing.get_json()["code"] == "work_order.not_found"
    owner = client.get(f"/attachments/{attachment_id}", headers=auth(order.customer.user))
    assert owner.status_code == 200 and owner.get_json()["state"] == "verified"


def test_technician_cannot_register_evidence_on_someone_elses_job(
    db: Session, client: FlaskClient, auth: Any, push: Any
) -> None:
    mine, theirs = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=theirs, status=Status.IN_REPAIR)
    body = {**samples.declaration(samples.plain_jpeg()), "work_order_id": order.id}

    over_http = client.post("/attachments", json=body, headers=auth(mine.user))
    over_sync = push(mine, "attachment.register", body)

    assert over_http.status_code == 404 and over_http.get_json()["code"] == "work_order.not_found"
    assert over_sync.status == "rejected" and over_sync.problem.code == "work_order.not_found"
    assert db.query(Attachment).count() == 0


def test_photo_from_a_technician_the_job_was_taken_from_is_kept_and_flagged(
    db: Session, client: FlaskClient, auth: Any, push: Any
) -> None:
    before, after = factories.TechnicianFactory(), factories.TechnicianFactory()
    order = factories.WorkOrderFactory(status=Status.NEW)
    dispatcher = factories.UserFactory(role="dispatcher")
    for technician in (before, after):
        moved = client.post(
            f"/work-orders/{order.id}/assign", json={"technician_id": technician.id}, headers=auth(dispatcher)
        )
        assert moved.status_code == 200, moved.get_json()
    db.expire_all()

    pushed = push(
        before,
        "attachment.register",
        {**samples.declaration(samples.plain_jpeg()), "work_order_id": order.id},
    )

    assert pushed.status == "applied" and pushed.result["ticket"]["mode"] == "single"
    assert [flag.code for flag in pushed.flags] == ["work_order.reassigned_meanwhile"]
    assert db.get(Attachment, pushed.result["attachment"]["id"]).work_order_id == order.id


def test_photo_of_a_job_closed_meanwhile_is_kept_and_flagged_once(db: Session, push: Any) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.CLOSED)

    pushed = push(
        technician,
        "attachment.register",
        {**samples.declaration(samples.plain_jpeg()), "work_order_id": order.id},
    )

    assert pushed.status == "applied" and pushed.result["ticket"]["mode"] == "single"
    assert [flag.code for flag in pushed.flags] == ["work_order.no_longer_active"]
    assert db.get(Attachment, pushed.result["attachment"]["id"]).work_order_id == order.id


def test_customer_cannot_attach_to_another_customers_request(
    db: Session, client: FlaskClient, auth: Any
) -> None:
    owner, stranger = factories.CustomerFactory(), factories.CustomerFactory()
    request = client.post(
        "/requests",
        json={"contact_name": "李先生", "contact_phone": "13800002222", "fault_description": "冰箱不制冷"},
        headers=auth(owner.user),
    ).get_json()
    body = {**samples.declaration(samples.plain_jpeg()), "request_id": request["id"]}

    response = client.post("/attachments", json=body, headers=auth(stranger.user))

    assert response.status_code == 404 and response.get_json()["code"] == "repair_request.not_found"
    assert db.query(Attachment).count() == 0


def test_per_job_count_and_size_limits_answer_clear_problems(
    db: Session, app: Flask, client: FlaskClient, auth: Any
) -> None:
    app.config.update(ATTACHMENT_MAX_PHOTOS_PER_JOB=2, ATTACHMENT_MAX_BYTES_PER_JOB=50_000_000)
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    headers = auth(technician.user)

    def register(**declared: Any) -> Any:
        body = {**samples.declaration(samples.plain_jpeg(), **declared), "work_order_id": order.id}
        return client.post("/attachments", json=body, headers=headers)

    assert [register().status_code for _ in range(2)] == [201, 201]
    third = register()
    video = register(kind="video", content_type="video/mp4", size=59_000_000, duration_seconds=60)
    long_video = register(kind="video", content_type="video/mp4", size=1000, duration_seconds=3600)
    huge_photo = register(size=30 * 1024 * 1024)
    exe = register(kind="document", content_type="application/x-msdownload")

    assert third.status_code == 422 and third.get_json()["code"] == "attachment.too_many"
    assert third.get_json()["limit"] == 2 and third.get_json()["kind"] == "photo"
    assert video.status_code == 422 and video.get_json()["code"] == "attachment.job_quota_exceeded"
    assert long_video.status_code == 422 and long_video.get_json()["code"] == "attachment.video_too_long"
    assert huge_photo.status_code == 422 and huge_photo.get_json()["code"] == "attachment.too_large"
    assert exe.status_code == 422 and exe.get_json()["code"] == "attachment.type_not_allowed"
    assert db.query(Attachment).filter_by(work_order_id=order.id).count() == 2


def test_invalid_declaration_is_a_422_with_field_errors_and_nothing_is_written(
    db: Session, client: FlaskClient, auth: Any
) -> None:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    body = {
        **samples.declaration(samples.plain_jpeg()),
        "work_order_id": order.id,
        "sha256": "nothex",
        "lat": 95,
    }

    response = client.post("/attachments", json=body, headers=auth(technician.user))

    assert response.status_code == 422 and set(response.get_json()["errors"]) == {"sha256", "lat"}
    assert db.query(Attachment).count() == 0


def test_customer_sees_only_verified_evidence_of_their_job(
    db: Session, client: FlaskClient, auth: Any, verified_photo: tuple[Any, Any, str]
) -> None:
    order, technician, attachment_id = verified_photo
    pending = {**samples.declaration(samples.plain_jpeg()), "work_order_id": order.id}
    client.post("/attachments", json=pending, headers=auth(technician.user))

    customer_list = client.get(
        f"/work-orders/{order.id}/attachments", headers=auth(order.customer.user)
    ).get_json()
    technician_list = client.get(
        f"/work-orders/{order.id}/attachments", headers=auth(technician.user)
    ).get_json()

    assert [item["id"] for item in customer_list["items"]] == [attachment_id]
    assert all(item["exif_lat"] is None for item in customer_list["items"])
    assert {item["id"] for item in technician_list["items"]} == {attachment_id, pending["id"]}


def test_signed_local_links_refuse_tampering_and_expiry(
    db: Session,
    client: FlaskClient,
    auth: Any,
    verified_photo: tuple[Any, Any, str],
    storage_backend: str,
    app: Flask,
) -> None:
    if storage_backend != "local":
        pytest.skip("signed links of the local store; S3 signs its own")
    _, technician, attachment_id = verified_photo
    link = client.get(f"/attachments/{attachment_id}/download", headers=auth(technician.user)).get_json()[
        "url"
    ]
    app.config["STORAGE_DOWNLOAD_TTL_SECONDS"] = -1

    tampered = client.get(link.replace("original", "thumbnail.jpg"))
    app.extensions.pop("repairops.storage")
    app.config["STORAGE_DOWNLOAD_TTL_SECONDS"] = -10
    expired = client.get(
        client.get(f"/attachments/{attachment_id}/download", headers=auth(technician.user)).get_json()["url"]
    )

    assert tampered.status_code == 403 and tampered.get_json()["code"] == "blob.link_invalid"
    assert expired.status_code == 403 and expired.get_json()["code"] == "blob.link_expired"

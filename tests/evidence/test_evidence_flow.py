"""A technician's evidence from registration (sync mutation) through upload, verification and download,
on the local store and on S3 (moto's server over HTTP)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy.orm import Session

from backend.evidence import adopt_request_attachments, get_verified_attachment, read_blob, storage_for
from backend.evidence.models import Attachment, AttachmentState
from backend.work_orders.states import Status
from tests import factories
from tests.evidence import samples
from tests.evidence.conftest import MIB, Device


@pytest.fixture
def job(db: Session) -> Any:
    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=technician, status=Status.IN_REPAIR)
    return order, technician


def register(push: Any, technician: Any, order: Any, data: bytes, **declared: Any) -> dict[str, Any]:
    pushed = push(
        technician,
        "attachment.register",
        {**samples.declaration(data, **declared), "work_order_id": order.id},
    )
    assert pushed.status == "applied", pushed.problem and pushed.problem.to_dict()
    return pushed.result


def test_photo_registered_from_the_device_is_uploaded_verified_and_downloaded_byte_for_byte(
    db: Session, job: Any, push: Any, device: Device, client: FlaskClient, auth: Any, app: Flask
) -> None:
    order, technician = job
    photo = samples.jpeg_with_gps()
    registered = register(push, technician, order, photo)
    ticket = registered["ticket"]
    assert registered["attachment"]["state"] == "pending"
    assert ticket["mode"] == "single" and ticket["method"] == "POST" and ticket["expires_at"]

    device.send(ticket, photo)
    done = push(technician, "attachment.complete", {"id": registered["attachment"]["id"]})

    assert done.status == "applied"
    assert done.result["attachment"]["state"] == "verified" and "ticket" not in done.result
    row = db.get(Attachment, registered["attachment"]["id"])
    db.refresh(row)
    assert row.state == AttachmentState.VERIFIED and row.detected_type == "image/jpeg"
    assert (row.width, row.height) == (1200, 900)
    assert get_verified_attachment(session=db, attachment_id=row.id) is not None
    link = client.get(f"/attachments/{row.id}/download", headers=auth(technician.user)).get_json()
    assert link["variant"] == "original" and link["content_type"] == "image/jpeg"
    status, body, content_type = device.download(link["url"])
    assert status == 200 and body == photo and content_type.startswith("image/jpeg")
    thumbnail = read_blob(app, row.thumbnail_key)
    with Image.open(io.BytesIO(thumbnail)) as img:
        assert img.format == "JPEG" and max(img.size) == 480


def test_job_list_shows_each_attachments_state_to_technician_and_dispatcher(
    db: Session, job: Any, push: Any, device: Device, client: FlaskClient, auth: Any
) -> None:
    order, technician = job
    arrived, missing = samples.plain_jpeg(), samples.jpeg_with_gps()
    first = register(push, technician, order, arrived)
    second = register(push, technician, order, missing)
    device.send(first["ticket"], arrived)
    push(technician, "attachment.complete", {"id": first["attachment"]["id"]})
    dispatcher = factories.UserFactory(role="dispatcher")

    for user in (technician.user, dispatcher):
        listing = client.get(f"/work-orders/{order.id}/attachments", headers=auth(user)).get_json()
        states = {item["id"]: item["state"] for item in listing["items"]}
        assert states == {first["attachment"]["id"]: "verified", second["attachment"]["id"]: "pending"}
        assert listing["usage"]["counts"]["photo"] == 2
        assert listing["usage"]["bytes"] == len(arrived) + len(missing)
        assert listing["limits"]["counts"]["photo"] == 50


def test_completing_before_the_bytes_arrive_is_a_conflict_and_changes_nothing(
    db: Session, job: Any, push: Any, client: FlaskClient, auth: Any
) -> None:
    order, technician = job
    registered = register(push, technician, order, samples.plain_jpeg())
    attachment_id = registered["attachment"]["id"]

    response = client.post(f"/attachments/{attachment_id}/complete", headers=auth(technician.user))

    assert response.status_code == 409 and response.get_json()["code"] == "attachment.not_uploaded"
    db.expire_all()
    assert db.get(Attachment, attachment_id).state == AttachmentState.PENDING


def test_video_over_the_threshold_goes_in_parts_resumes_after_a_drop_and_is_assembled_and_verified(
    db: Session, job: Any, push: Any, device: Device, client: FlaskClient, auth: Any
) -> None:
    order, technician = job
    video = samples.mp4(40 * MIB + 12345)
    registered = register(
        push, technician, order, video, kind="video", content_type="video/mp4", duration_seconds=95
    )
    ticket = registered["ticket"]
    attachment_id = registered["attachment"]["id"]
    assert ticket["mode"] == "multipart" and len(ticket["parts"]) == 6
    headers = auth(technician.user)

    assert device.upload_parts(ticket, video, numbers=[1, 2, 4]) == [200, 200, 200]
    early = client.post(f"/attachments/{attachment_id}/complete", headers=headers)
    progress = client.get(f"/attachments/{attachment_id}/parts", headers=headers).get_json()

    assert early.status_code == 409 and early.get_json()["code"] == "attachment.parts_missing"
    assert early.get_json()["missing_parts"] == [3, 5, 6]
    assert progress["missing_parts"] == [3, 5, 6] and progress["state"] == "uploading"
    assert [p["part_number"] for p in progress["uploaded_parts"]] == [1, 2, 4]

    renewed = client.post(f"/attachments/{attachment_id}/ticket", headers=headers).get_json()
    assert device.upload_parts(renewed, video, numbers=progress["missing_parts"]) == [200, 200, 200]
    done = client.post(f"/attachments/{attachment_id}/complete", headers=headers)

    assert done.status_code == 200, done.get_json()
    assert done.get_json()["attachment"]["state"] == "verified"
    link = client.get(f"/attachments/{attachment_id}/download", headers=headers).get_json()
    status, body, _ = device.download(link["url"])
    assert status == 200 and samples.sha256(body) == samples.sha256(video)


def test_retried_registration_and_upload_after_dropped_responses_leave_one_attachment_and_one_object(
    db: Session, job: Any, push: Any, device: Device, app: Flask
) -> None:
    order, technician = job
    photo = samples.plain_jpeg()
    declared = {**samples.declaration(photo), "work_order_id": order.id}
    first = push(technician, "attachment.register", declared)
    again = push(technician, "attachment.register", declared)  # the device never saw the first answer

    device.send(first.result["ticket"], photo)
    device.send(again.result["ticket"], photo)  # the upload's response was lost too
    one = push(technician, "attachment.complete", {"id": declared["id"]})
    two = push(technician, "attachment.complete", {"id": declared["id"]})

    assert again.result["attachment"]["id"] == first.result["attachment"]["id"]
    assert one.result["attachment"]["state"] == two.result["attachment"]["state"] == "verified"
    assert db.query(Attachment).filter_by(work_order_id=order.id).count() == 1
    store = storage_for(app).store
    originals = [o.key for o in store.list_objects("evidence/") if o.key.endswith("/original")]
    assert originals == [f"evidence/{declared['id']}/original"]
    assert list(store.list_objects("uploads/")) == []


def test_same_id_registered_for_a_different_file_is_a_conflict(db: Session, job: Any, push: Any) -> None:
    order, technician = job
    declared = {**samples.declaration(samples.plain_jpeg()), "work_order_id": order.id}
    push(technician, "attachment.register", declared)

    clash = push(technician, "attachment.register", {**declared, "sha256": "0" * 64})

    assert clash.status == "conflict" and clash.problem.code == "attachment.id_conflict"


def test_heic_from_an_iphone_gets_a_jpeg_thumbnail_and_a_jpeg_display_copy(
    db: Session, job: Any, push: Any, device: Device, client: FlaskClient, auth: Any, app: Flask
) -> None:
    order, technician = job
    photo = samples.heic()
    registered = register(push, technician, order, photo, content_type="image/heic")
    device.send(registered["ticket"], photo)

    done = push(technician, "attachment.complete", {"id": registered["attachment"]["id"]})

    assert done.result["attachment"]["state"] == "verified"
    row = db.get(Attachment, registered["attachment"]["id"])
    db.refresh(row)
    assert row.detected_type == "image/heic" and (row.width, row.height) == (800, 600)
    with Image.open(io.BytesIO(read_blob(app, row.thumbnail_key))) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (480, 360)
    link = client.get(
        f"/attachments/{row.id}/download?variant=display", headers=auth(technician.user)
    ).get_json()
    status, body, content_type = device.download(link["url"])
    assert status == 200 and content_type.startswith("image/jpeg")
    with Image.open(io.BytesIO(body)) as display:
        assert display.format == "JPEG" and display.size == (800, 600)


def test_exif_gps_is_kept_for_staff_and_stripped_from_the_customers_copy(
    db: Session, job: Any, push: Any, device: Device, client: FlaskClient, auth: Any
) -> None:
    order, technician = job
    photo = samples.jpeg_with_gps()
    registered = register(push, technician, order, photo)
    device.send(registered["ticket"], photo)
    push(technician, "attachment.complete", {"id": registered["attachment"]["id"]})
    attachment_id = registered["attachment"]["id"]
    dispatcher = factories.UserFactory(role="dispatcher")
    customer = order.customer.user

    staff_view = client.get(f"/attachments/{attachment_id}", headers=auth(dispatcher)).get_json()
    customer_view = client.get(f"/attachments/{attachment_id}", headers=auth(customer)).get_json()
    staff_link = client.get(f"/attachments/{attachment_id}/download", headers=auth(dispatcher)).get_json()
    customer_link = client.get(f"/attachments/{attachment_id}/download", headers=auth(customer)).get_json()

    assert staff_view["exif_lat"] == pytest.approx(samples.GPS_LAT, abs=1e-6)
    assert staff_view["exif_lng"] == pytest.approx(samples.GPS_LNG, abs=1e-6)
    assert staff_view["exif_taken_at"].startswith("2026-11-23T06:05:09")
    assert customer_view["exif_lat"] is None and customer_view["lat"] is None and customer_view["lng"] is None
    assert customer_view["exif_taken_at"] == staff_view["exif_taken_at"]
    _, staff_bytes, _ = device.download(staff_link["url"])
    _, customer_bytes, _ = device.download(customer_link["url"])
    assert dict(samples.exif_of(staff_bytes).get_ifd(samples.GPS_IFD))[2] == samples.GPS[2]
    assert customer_link["variant"] == "display"
    customer_exif = samples.exif_of(customer_bytes)
    assert dict(customer_exif.get_ifd(samples.GPS_IFD)) == {}
    assert samples.GPS_IFD not in customer_exif and 0x010F not in customer_exif  # no GPS, no device tags
    assert customer_exif.get_ifd(samples.EXIF_IFD)[0x9003] == "2026:11:23 14:05:09"


def test_customer_attaches_a_photo_to_a_request_and_the_technician_of_its_job_sees_it(
    db: Session, device: Device, client: FlaskClient, auth: Any
) -> None:
    customer = factories.CustomerFactory()
    request = client.post(
        "/requests",
        json={"contact_name": "王女士", "contact_phone": "13800001111", "fault_description": "洗衣机漏水"},
        headers=auth(customer.user),
    ).get_json()
    photo = samples.plain_jpeg()
    declared = {**samples.declaration(photo), "request_id": request["id"]}

    created = client.post("/attachments", json=declared, headers=auth(customer.user))
    assert created.status_code == 201, created.get_json()
    device.send(created.get_json()["ticket"], photo)
    done = client.post(f"/attachments/{declared['id']}/complete", headers=auth(customer.user))
    assert done.status_code == 200 and done.get_json()["attachment"]["state"] == "verified"

    technician = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(customer=customer, assignee=technician, status=Status.ACCEPTED)
    order.request_id = request["id"]
    db.commit()
    listing = client.get(f"/work-orders/{order.id}/attachments", headers=auth(technician.user)).get_json()
    own = client.get(f"/requests/{request['id']}/attachments", headers=auth(customer.user)).get_json()

    assert [item["id"] for item in listing["items"]] == [declared["id"]]
    assert [item["id"] for item in own["items"]] == [declared["id"]] and own["usage"]["counts"]["photo"] == 1
    adopted = adopt_request_attachments(session=db, request_id=request["id"], work_order_id=order.id)
    db.commit()
    assert [row.id for row in adopted] == [declared["id"]]
    assert db.get(Attachment, declared["id"]).work_order_id == order.id  # now in the job's sync scope

"""Devices, the quarantine and flags come in pages: walking every page gives each row exactly once, in the
list's order, and `has_more` is true on every page but the last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.errors import Problem
from backend.policy import Principal
from backend.sync import quarantine
from backend.sync.models import SyncDevice, SyncFlag, SyncMutation
from tests import factories
from tests.paging import ids, walk

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def add_device(
    db: Session, technician: Technician, device_id: str, last_seen_at: datetime | None
) -> SyncDevice:
    device = SyncDevice(
        id=device_id, user_id=technician.user_id, technician_id=technician.id, last_seen_at=last_seen_at
    )
    db.add(device)
    db.flush()
    return device


def add_rejected(
    db: Session, device: SyncDevice, mutation_id: str, received_at: datetime, **extra: Any
) -> None:
    db.add(
        SyncMutation(
            id=mutation_id,
            device_id=device.id,
            user_id=device.user_id,
            technician_id=device.technician_id,
            name="work_order.note",
            args={},
            received_at=received_at,
            status=extra.pop("status", "rejected"),
            result={"status": "rejected", "problem": {"code": "mutation.invalid_args"}},
            **extra,
        )
    )
    db.flush()


@pytest.fixture
def dispatcher(db: Session) -> Any:
    """A dispatcher: watches every device, the quarantine and the flags."""
    return factories.UserFactory(role="dispatcher")


def test_devices_are_walked_least_recently_seen_first_never_seen_leading(
    client, db, auth, dispatcher
) -> None:
    tech = factories.TechnicianFactory()
    seen = {
        "d-never-b": None,
        "d-never-a": None,
        "d-old": NOON - timedelta(days=3),
        "d-tie-b": NOON - timedelta(hours=5),
        "d-tie-a": NOON - timedelta(hours=5),
        "d-tie-c": NOON - timedelta(hours=5),
        "d-recent": NOON,
    }
    for device_id, last_seen_at in seen.items():
        add_device(db, tech, device_id, last_seen_at)
    db.commit()

    pages = walk(client, "/sync/devices", auth(dispatcher), limit=2)

    assert ids(pages) == ["d-never-a", "d-never-b", "d-old", "d-tie-a", "d-tie-b", "d-tie-c", "d-recent"]
    assert [page["has_more"] for page in pages] == [True, True, True, False]


def test_each_device_page_carries_its_open_quarantine_count(client, db, auth, dispatcher) -> None:
    tech = factories.TechnicianFactory()
    busy = add_device(db, tech, "busy", NOON)
    add_device(db, tech, "calm", None)
    add_rejected(db, busy, "m-1", NOON)
    add_rejected(db, busy, "m-2", NOON)
    add_rejected(db, busy, "m-3", NOON, resolved_at=NOON)
    db.commit()

    pages = walk(client, "/sync/devices", auth(dispatcher), limit=1)

    assert [(d["id"], d["quarantined"]) for page in pages for d in page["items"]] == [
        ("calm", 0),
        ("busy", 2),
    ]


def test_a_technician_pages_only_their_own_devices(client, db, auth) -> None:
    mine, theirs = factories.TechnicianFactory(), factories.TechnicianFactory()
    for n in range(3):
        add_device(db, mine, f"mine-{n}", NOON + timedelta(minutes=n))
        add_device(db, theirs, f"theirs-{n}", NOON)
    db.commit()

    pages = walk(client, "/sync/devices", auth(mine.user), limit=2)

    assert ids(pages) == ["mine-0", "mine-1", "mine-2"]


def test_the_quarantine_is_walked_newest_first_without_loss_or_repeat(client, db, auth, dispatcher) -> None:
    tech = factories.TechnicianFactory()
    device = add_device(db, tech, "phone", NOON)
    received = {
        "q-1": NOON - timedelta(hours=2),
        "q-3": NOON - timedelta(hours=1),
        "q-2": NOON - timedelta(hours=1),
        "q-4": NOON,
        "q-5": NOON - timedelta(hours=3),
    }
    for mutation_id, at in received.items():
        add_rejected(db, device, mutation_id, at)
    add_rejected(db, device, "q-closed", NOON, resolved_at=NOON)
    add_rejected(db, device, "applied", NOON, status="applied")
    db.commit()

    open_pages = walk(client, "/sync/quarantine", auth(dispatcher), limit=2)
    every_page = walk(client, "/sync/quarantine", auth(dispatcher), state="all", limit=4)

    assert ids(open_pages) == ["q-4", "q-2", "q-3", "q-1", "q-5"]
    assert [page["has_more"] for page in open_pages] == [True, True, False]
    assert ids(every_page) == ["q-4", "q-closed", "q-2", "q-3", "q-1", "q-5"]
    assert [page["has_more"] for page in every_page] == [True, False]


def test_flags_are_walked_newest_first_without_loss_or_repeat(client, db, auth, dispatcher) -> None:
    tech = factories.TechnicianFactory()
    device = add_device(db, tech, "phone", NOON)
    add_rejected(db, device, "m", NOON, status="applied")
    created = [NOON - timedelta(minutes=n // 2) for n in range(7)]  # pairs share an instant
    for at in created:
        db.add(
            SyncFlag(
                mutation_id="m", device_id="phone", technician_id=tech.id, code="c", detail="d", created_at=at
            )
        )
    db.add(
        SyncFlag(
            mutation_id="m", device_id="phone", code="c", detail="done", created_at=NOON, resolved_at=NOON
        )
    )
    db.commit()
    open_flags = db.scalars(sa.select(SyncFlag).where(SyncFlag.resolved_at.is_(None))).all()
    expected = [f.id for f in sorted(open_flags, key=lambda f: (-f.created_at.timestamp(), f.id))]

    pages = walk(client, "/sync/flags", auth(dispatcher), technician_id=tech.id, limit=3)

    assert len(expected) == 7 and ids(pages) == expected
    assert [page["has_more"] for page in pages] == [True, True, False]


def test_an_empty_list_has_no_cursor_and_a_forged_cursor_is_refused(client, db, auth, dispatcher) -> None:
    assert client.get("/sync/flags", headers=auth(dispatcher)).get_json() == {
        "items": [],
        "next_cursor": None,
        "has_more": False,
    }
    assert (
        client.get(
            "/sync/quarantine", query_string={"cursor": "forged"}, headers=auth(dispatcher)
        ).status_code
        == 400
    )


def test_a_quarantined_mutation_is_resolved_once(db) -> None:
    tech = factories.TechnicianFactory()
    device = add_device(db, tech, "phone", NOON)
    add_rejected(db, device, "bad", NOON)
    add_rejected(db, device, "fine", NOON, status="applied")
    db.commit()
    staff = Principal(role="dispatcher", user_id=factories.UserFactory(role="dispatcher").id)

    row = quarantine.resolve_quarantined(
        session=db, mutation_id="bad", by=staff, resolution="dismissed", note="old build"
    )
    with pytest.raises(Problem) as again:
        quarantine.resolve_quarantined(session=db, mutation_id="bad", by=staff, resolution="applied_by_staff")
    with pytest.raises(Problem) as not_quarantined:
        quarantine.resolve_quarantined(session=db, mutation_id="fine", by=staff, resolution="dismissed")

    assert (row.resolution, row.resolution_note, row.resolved_by_user_id) == (
        "dismissed",
        "old build",
        staff.user_id,
    )
    assert (again.value.code, again.value.status) == ("quarantine.already_resolved", 409)
    assert not_quarantined.value.status == 404


def test_resolving_a_flag_twice_keeps_the_first_note(db) -> None:
    tech = factories.TechnicianFactory()
    device = add_device(db, tech, "phone", NOON)
    add_rejected(db, device, "m", NOON, status="applied")
    flag = SyncFlag(mutation_id="m", device_id="phone", code="c", detail="d")
    db.add(flag)
    db.commit()
    staff = Principal(role="dispatcher", user_id=factories.UserFactory(role="dispatcher").id)

    quarantine.resolve_flag(session=db, flag_id=flag.id, by=staff, note="called the technician")
    again = quarantine.resolve_flag(session=db, flag_id=flag.id, by=staff, note="second look")

    assert again.resolution_note == "called the technician" and again.resolved_by_user_id == staff.user_id
    with pytest.raises(Problem) as missing:
        quarantine.resolve_flag(session=db, flag_id="nope", by=staff)
    assert missing.value.code == "sync_flag.not_found"

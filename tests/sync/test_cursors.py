"""Cursors are opaque and signed: tampered, foreign, garbage or out-of-range ones are problems."""

from __future__ import annotations

import pytest

from backend.sync.cursor import Cursor, CursorCodec, FeedKey
from backend.sync.maintenance import prune_feed
from backend.sync.models import SyncDeployment
from tests import factories

SECRET = "test-secret-key-with-enough-length-0123456789"


@pytest.fixture
def synced(db, device):
    """A technician with one job and a device that has pulled once."""
    tech = factories.TechnicianFactory()
    factories.WorkOrderFactory(assignee=tech, status="assigned")
    phone = device(tech.user)
    phone.pull()
    return tech, phone


def _pull(client, headers, phone, **params):
    query = {"device_id": phone.device_id, "cursor": phone.cursor, **params}
    return client.get("/sync/pull", query_string=query, headers=headers)


def _problem(resp, status, code):
    assert resp.status_code == status, resp.json
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code
    return resp.json


def test_a_tampered_cursor_is_a_400_problem(synced, client, sync_headers):
    tech, phone = synced
    body, sig = phone.cursor.rsplit(".", 1)
    tampered = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig

    _problem(_pull(client, sync_headers(tech.user), phone, cursor=tampered), 400, "sync.cursor_invalid")


def test_a_garbage_cursor_is_a_400_problem(synced, client, sync_headers):
    tech, phone = synced
    _problem(_pull(client, sync_headers(tech.user), phone, cursor="not-a-cursor"), 400, "sync.cursor_invalid")


def test_another_users_cursor_is_refused(synced, client, sync_headers):
    _, phone = synced
    intruder = factories.TechnicianFactory()
    _problem(_pull(client, sync_headers(intruder.user), phone), 400, "sync.cursor_foreign")


def test_a_cursor_is_bound_to_its_device(synced, client, sync_headers):
    tech, phone = synced
    _problem(
        _pull(client, sync_headers(tech.user), phone, device_id="another-phone"), 400, "sync.cursor_foreign"
    )


@pytest.mark.parametrize("limit", [0, -1, 2001, 10**9])
def test_limit_out_of_range_is_a_422_problem(synced, client, sync_headers, limit):
    tech, phone = synced
    problem = _problem(_pull(client, sync_headers(tech.user), phone, limit=limit), 422, "request.invalid")
    assert "limit" in problem["errors"]


def _forged(db, tech, phone, key, deployment_id=None):
    state = db.get(SyncDeployment, 1)
    codec = CursorCodec(SECRET, deployment_id or state.deployment_id)
    return codec.dumps(Cursor(key), user_id=tech.user.id, device_id=phone.device_id)


def test_a_cursor_from_another_deployment_asks_for_a_resync(synced, client, sync_headers, db):
    tech, phone = synced
    cursor = _forged(db, tech, phone, FeedKey(0, 1), deployment_id="another-deployment")
    problem = _problem(_pull(client, sync_headers(tech.user), phone, cursor=cursor), 410, "resync_required")
    assert problem["reason"] == "other_deployment"


def test_a_cursor_signed_by_another_deployments_key_asks_for_a_resync(synced, client, sync_headers, db):
    tech, phone = synced
    foreign = CursorCodec("another-deployments-secret-key-0123456789", "their-deployment")
    cursor = foreign.dumps(Cursor(FeedKey(0, 1)), user_id=tech.user.id, device_id=phone.device_id)
    problem = _problem(_pull(client, sync_headers(tech.user), phone, cursor=cursor), 410, "resync_required")
    assert problem["reason"] == "other_deployment"


@pytest.mark.parametrize("key", [FeedKey(0, 10**12), FeedKey(10**12, 0)], ids=["position", "transaction"])
def test_a_cursor_ahead_of_the_feed_asks_for_a_resync(synced, client, sync_headers, db, key):
    tech, phone = synced
    cursor = _forged(db, tech, phone, key)
    problem = _problem(_pull(client, sync_headers(tech.user), phone, cursor=cursor), 410, "resync_required")
    assert problem["reason"] == "ahead_of_feed"


def test_a_cursor_older_than_the_kept_tombstones_asks_for_a_resync_and_the_client_recovers(
    synced, client, sync_headers, db
):
    tech, phone = synced
    factories.WorkOrderFactory(assignee=tech, status="assigned")
    pruned = prune_feed(db, keep_seconds=0)
    db.commit()
    assert pruned > 0

    problem = _problem(_pull(client, sync_headers(tech.user), phone), 410, "resync_required")
    assert problem["reason"] == "expired"
    phone.pull()
    assert "*" in phone.resyncs
    assert len(phone.replica["work_orders"]) == 2

"""The dispatcher's stop-work list: every report on the jobs they see, newest first, a page at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.onsite.models import StopWorkReport
from tests import factories


def _stop_work(push: Any, technician: Any, order: Any, n: int) -> str:
    report_id = f"stop-{n:02d}"
    out = push(
        technician,
        "safety.stop_work",
        {"id": report_id, "work_order_id": order.id, "hazard": "gas", "description": f"燃气味 {n}"},
    )
    assert out.status == "applied"
    return report_id


def _walk(client: Any, headers: dict[str, str], limit: int, **query: Any) -> list[dict[str, Any]]:
    """Every page of the list; each but the last is full and says there is more."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **query} | ({"cursor": cursor} if cursor else {})
        response = client.get("/stop-work-reports", query_string=params, headers=headers)
        assert response.status_code == 200, response.json
        page = response.json
        pages.append(page)
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return pages
        assert len(page["items"]) == limit and page["next_cursor"]
        cursor = page["next_cursor"]


def test_stop_work_list_pages_through_every_report_once_newest_first(client, db, auth, push, job, technician):
    orders = [job(status="on_site") for _ in range(3)]
    ids = [_stop_work(push, technician, orders[n % 3], n) for n in range(11)]
    # Reports from the same instant still page apart: ties are broken on the id.
    same_moment = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    for report_id in ids[4:8]:
        db.get(StopWorkReport, report_id).reported_at = same_moment
    db.commit()
    dispatcher = factories.UserFactory(role="dispatcher")

    pages = _walk(client, auth(dispatcher), limit=4)

    assert [len(p["items"]) for p in pages] == [4, 4, 3]
    assert [p["has_more"] for p in pages] == [True, True, False]
    listed = [item["id"] for page in pages for item in page["items"]]
    newest_first = sorted(db.query(StopWorkReport).all(), key=lambda r: (r.reported_at, r.id), reverse=True)
    assert listed == [r.id for r in newest_first]
    assert sorted(listed) == sorted(ids)


def test_stop_work_list_with_exactly_one_page_of_reports_says_there_is_no_more(
    client, db, auth, push, job, technician
):
    order = job(status="on_site")
    for n in range(3):
        _stop_work(push, technician, order, n)
    dispatcher = factories.UserFactory(role="dispatcher")

    pages = _walk(client, auth(dispatcher), limit=3)

    assert len(pages) == 1 and len(pages[0]["items"]) == 3 and pages[0]["has_more"] is False


def test_resolved_reports_leave_the_open_list_but_stay_in_the_full_one(
    client, db, auth, push, job, technician
):
    order = job(status="on_site")
    for n in range(3):
        _stop_work(push, technician, order, n)
    dispatcher = factories.UserFactory(role="dispatcher")
    resolved = client.post(
        "/stop-work-reports/stop-01/resolve", json={"resolution": "已关阀检修"}, headers=auth(dispatcher)
    )
    assert resolved.status_code == 200

    open_ids = [i["id"] for p in _walk(client, auth(dispatcher), limit=2) for i in p["items"]]
    all_ids = [i["id"] for p in _walk(client, auth(dispatcher), limit=2, open="false") for i in p["items"]]

    assert sorted(open_ids) == ["stop-00", "stop-02"]
    assert sorted(all_ids) == ["stop-00", "stop-01", "stop-02"]


def test_a_cursor_the_server_did_not_issue_is_refused(client, auth):
    dispatcher = factories.UserFactory(role="dispatcher")
    response = client.get("/stop-work-reports", query_string={"cursor": "forged"}, headers=auth(dispatcher))
    assert response.status_code == 400 and response.json["code"] == "pagination.bad_cursor"

"""Walking a paged list the way a client does: follow `next_cursor` until `has_more` is false."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def walk(client: FlaskClient, url: str, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of a list, following `next_cursor`, checking that `has_more` says whether one follows."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = client.get(url, query_string=query, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        page = resp.get_json()
        pages.append(page)
        assert page["has_more"] is (page["next_cursor"] is not None)
        if not page["has_more"]:
            return pages
        cursor = page["next_cursor"]
        assert len(pages) < 50, "the cursor does not advance"


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for page in pages for item in page["items"]]

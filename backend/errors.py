"""Errors are values with stable codes, raised as one exception type and rendered once as RFC 9457.

`Problem` carries no Flask imports so services can raise it; `backend.api.problems` renders it.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE_URI = "https://repairops.dev/problems/"


class Problem(Exception):
    """A domain or HTTP error with a stable machine-readable `code` (e.g. `stock.insufficient`)."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int = 400,
        title: str | None = None,
        errors: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.title = title or code.replace(".", " ").replace("_", " ").capitalize()
        self.errors = errors
        self.extra = extra or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE_URI + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def not_found(what: str) -> Problem:
    """The one answer for 'does not exist' and 'exists but is not yours': never leak existence."""
    return Problem(
        f"{what}.not_found", f"No {what.replace('_', ' ')} with that id.", status=404, title="Not found"
    )


def forbidden(action: str) -> Problem:
    return Problem("auth.forbidden", f"Your role may not {action}.", status=403, title="Forbidden")


def conflict(code: str, detail: str, **extra: Any) -> Problem:
    return Problem(code, detail, status=409, title="Conflict", extra=extra)

"""Renders every error as RFC 9457 `application/problem+json` with a stable `code`."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from backend.errors import Problem

PROBLEM_MIME = "application/problem+json"

HTTP_CODES = {
    400: "request.malformed",
    401: "auth.required",
    403: "auth.forbidden",
    404: "route.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    422: "request.invalid",
    429: "request.rate_limited",
}


def problem_response(problem: Problem) -> Response:
    return Response(json.dumps(problem.to_dict()), status=problem.status, mimetype=PROBLEM_MIME)


def _from_http_exception(exc: HTTPException) -> Problem:
    status = exc.code or 500
    data: dict[str, Any] = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages:
        # webargs: {"json": {"field": ["msg"]}, "query": {...}} -> one flat per-field map
        errors: dict[str, Any] = {}
        for location_errors in messages.values():
            if isinstance(location_errors, dict):
                errors.update(location_errors)
        return Problem(
            "request.invalid",
            "The request has invalid fields; see `errors`.",
            status=422,
            title="Invalid request",
            errors=errors,
        )
    # webargs reports an unparsable body as 400 with messages {"json": ["Invalid JSON body."]}; Flask's
    # own parser says so in the description.
    if status == 400 and "json" in f"{messages or ''} {exc.description or ''}".lower():
        return Problem(
            "request.malformed_json", "The body is not valid JSON.", status=400, title="Malformed JSON"
        )
    return Problem(
        HTTP_CODES.get(status, f"http.{status}"), exc.description or exc.name, status=status, title=exc.name
    )


def register_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return problem_response(_from_http_exception(exc))

    @app.errorhandler(StaleDataError)
    def _stale(_exc: StaleDataError) -> Response:
        return problem_response(
            Problem(
                "conflict.concurrent_update",
                "Someone changed this record at the same time; reload and retry.",
                status=409,
                title="Conflict",
            )
        )

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError) -> Response:
        current_app.logger.info("integrity error: %s", exc.orig)
        return problem_response(
            Problem(
                "conflict.integrity",
                "The change collides with existing data (a duplicate or a missing reference).",
                status=409,
                title="Conflict",
            )
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        current_app.logger.exception("unhandled error")
        return problem_response(
            Problem(
                "server.error", "An unexpected error occurred.", status=500, title="Internal server error"
            )
        )

"""Extension objects created once, bound to an app in `create_app`; and the per-request DB session."""

from __future__ import annotations

from flask import current_app, g
from flask_jwt_extended import JWTManager
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from sqlalchemy.orm import Session


class Api(_Api):
    """The one home of API-wide customisation (security schemes, problem responses)."""

    def _register_error_handlers(self) -> None:
        # Errors are rendered by backend.api.problems for the whole app, not by flask-smorest.
        pass


class Blueprint(_Blueprint):
    """Thin subclass so that blueprint-wide customisation has one home."""


jwt = JWTManager()


def db_session() -> Session:
    """The request's session, opened on first use and committed or rolled back when the request ends."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["repairops.session_factory"]()
    session: Session = g.db_session
    return session

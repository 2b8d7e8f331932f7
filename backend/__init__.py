"""RepairOps: field-service backend. `create_app` is the app factory; nothing runs at import time."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

from backend.config import Settings
from backend.db import make_engine, make_session_factory
from backend.domains import setup as setup_domains
from backend.errors import Problem
from backend.extensions import Api, jwt

JSON_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RepairOpsFlask(Flask):
    """One request = one transaction: a view that returns commits, a view that raises rolls back.

    Committing here (not in after_request) lets a failed commit, e.g. a unique-key race, go through the
    normal error handlers and come out as a problem+json response.
    """

    def dispatch_request(self) -> Any:
        try:
            rv = super().dispatch_request()
        except BaseException:
            session = g.get("db_session")
            if session is not None:
                session.rollback()
            raise
        session = g.get("db_session")
        if session is not None:
            session.commit()
        return rv


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    settings = settings or Settings()
    setup_domains()
    app = RepairOpsFlask(__name__, instance_relative_config=False)
    app.config.update(settings.as_flask())
    app.config.update(overrides)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    engine = make_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    app.extensions["repairops.engine"] = engine
    app.extensions["repairops.session_factory"] = make_session_factory(engine)

    from backend.api import MODULES
    from backend.api.problems import register_problem_handlers

    jwt.init_app(app)
    api = Api(app)
    app.extensions["repairops.api"] = api
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    api.spec.components.security_scheme("apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    for blueprint in MODULES:
        api.register_blueprint(blueprint)
    register_problem_handlers(app)
    _register_request_hooks(app)

    from backend.cli import register_cli

    register_cli(app)
    return app


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _require_json_body() -> None:
        if request.method in JSON_BODY_METHODS and request.content_length and not request.is_json:
            if request.blueprint in app.config.get("RAW_BODY_BLUEPRINTS", ()):
                return
            raise Problem(
                "request.unsupported_media_type",
                "Send the body as application/json.",
                status=415,
                title="Unsupported media type",
            )

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        # The caller is per request, even when an outer app context (tests, CLI) outlives requests.
        g.pop("principal", None)
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()

"""The migrated schema equals the models, on SQLite and PostgreSQL; the OpenAPI document is current."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.cli import OPENAPI_PATH, openapi_document
from backend.models import Base


def test_migrations_leave_no_pending_autogenerate_diff(app):
    engine = app.extensions["repairops.engine"]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations disagree; run alembic revision --autogenerate: {diff}"


def test_openapi_document_in_mobile_contracts_matches_the_code(app):
    committed = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert committed == openapi_document(app), "mobile_contracts/openapi.json drifted: run `make openapi`"


def test_openapi_documents_every_route_with_security(app):
    doc = openapi_document(app)
    assert {"bearerAuth", "apiKeyAuth"} <= set(doc["components"]["securitySchemes"])
    paths = doc["paths"]
    assert "/work-orders/{work_order_id}/transitions" in paths
    assert paths["/auth/login"]["post"]["summary"].startswith("Log in")

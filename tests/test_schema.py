"""The migrated schema equals the models, on SQLite and PostgreSQL; the OpenAPI document is current."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.cli import OPENAPI_PATH, openapi_document, upgrade_database
from backend.db import make_engine, schema_objects_of
from backend.domains import metadata
from tests.conftest import fresh_database


@pytest.fixture
def migrated_url(request, tmp_path, backend_name):
    """A fresh, empty database of the current backend, brought to head by Alembic alone."""
    yield from fresh_database(request, tmp_path, backend_name)


def test_alembic_upgrade_head_on_an_empty_database_matches_the_models(migrated_url):
    upgrade_database(migrated_url)
    engine = make_engine(migrated_url)
    try:
        with engine.connect() as conn:
            options = {"compare_type": True, "include_object": schema_objects_of(conn.dialect.name)}
            context = MigrationContext.configure(conn, opts=options)
            diff = compare_metadata(context, metadata())
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations disagree; run alembic revision --autogenerate: {diff}"


def test_openapi_document_in_mobile_contracts_matches_the_code(app):
    committed = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert committed == openapi_document(app), "mobile_contracts/openapi.json drifted: run `make contracts`"


def test_openapi_documents_every_route_with_security(app):
    doc = openapi_document(app)
    assert {"bearerAuth", "apiKeyAuth"} <= set(doc["components"]["securitySchemes"])
    paths = doc["paths"]
    assert "/work-orders/{work_order_id}/transitions" in paths
    assert paths["/auth/login"]["post"]["summary"].startswith("Log in")

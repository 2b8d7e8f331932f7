"""Billing tests share the parts fixtures (principals, the mutation runner)."""

from tests.parts.conftest import clerk, push, warehouse_user  # noqa: F401 - fixtures

"""The domains of RepairOps, in one tuple: the app, the sync registry, Alembic and job workers all set
up the same ones, so nothing depends on which module happened to be imported first.

Each entry is a package with one `register(registry)` that declares its models, its phone mutations,
its transition guards, the permissions it grants and the domain events it listens to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType

import sqlalchemy as sa

from backend import acceptance, accounts, evidence, geo, onsite, parts, sync, work_orders
from backend.kernel.base import Base
from backend.kernel.registration import Registry, install

# The sync engine's own tables and permissions first; then the domains, each after those it builds on.
DOMAINS: tuple[ModuleType, ...] = (sync, accounts, work_orders, geo, parts, onsite, acceptance, evidence)


def metadata() -> sa.MetaData:
    """Every domain's tables (the domains set up first): what Alembic and `create_all` must see."""
    setup()
    return Base.metadata


@functools.cache
def setup() -> Registry:
    """Register every domain once and install the registry (idempotent; call before any work)."""
    registry = Registry()
    for domain in DOMAINS:
        register: Callable[[Registry], None] = domain.register
        register(registry)
    install(registry)
    return registry

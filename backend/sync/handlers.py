"""Every module that registers device mutations; importing this module fills the registry."""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: tuple[str, ...] = (
    "backend.sync.work_order_mutations",
    "backend.services.parts_mutations",
    "backend.services.onsite_mutations",
    "backend.geo.mutations",
    "backend.storage.mutations",
)


def load_handlers() -> list[ModuleType]:
    """Import each listed module so its `@mutation` handlers register themselves."""
    return [importlib.import_module(name) for name in MODULES]

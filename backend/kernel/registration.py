"""What the domains declare, collected once: the app, the sync engine, Alembic and job workers all read
the same `Registry`, filled by `backend.domains.setup()` from one tuple of domains.

Nothing here depends on which module happened to be imported first: a consumer that finds no registry
installed fails loudly (`installed()`), instead of running without another domain's guards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from backend.kernel.permissions import Permission


@dataclass
class Registry:
    """Filled by each domain's `register(registry)`; read by the engine, the policy and the domains."""

    domains: list[str] = field(default_factory=list)
    model_modules: list[ModuleType] = field(default_factory=list)
    mutation_modules: list[ModuleType] = field(default_factory=list)
    # Called before a status change with (session, order, target, actor); raise a Problem to stop it.
    transition_guards: list[Callable[..., None]] = field(default_factory=list)
    # Called by the sync engine before it applies a push: (session, principal, [args of each mutation]).
    push_preparers: list[Callable[..., None]] = field(default_factory=list)
    grants: dict[Permission, frozenset[str]] = field(default_factory=dict)
    # Domain events, declared by the domain that emits them; other domains listen (`on`).
    handlers: dict[str, list[Callable[..., object]]] = field(default_factory=dict)

    def domain(
        self, name: str, *, models: Iterable[ModuleType] = (), mutations: Iterable[ModuleType] = ()
    ) -> None:
        """Declare a domain with its model modules (for Alembic's metadata) and its phone mutations."""
        if name in self.domains:
            raise RuntimeError(f"domain {name!r} registered twice")
        self.domains.append(name)
        self.model_modules.extend(models)
        self.mutation_modules.extend(mutations)

    def transition_guard(self, guard: Callable[..., None]) -> None:
        self.transition_guards.append(guard)

    def push_preparer(self, prepare: Callable[..., None]) -> None:
        self.push_preparers.append(prepare)

    def grant(self, permission: Permission, roles: Iterable[str]) -> None:
        """The roles that hold `permission`; a permission is granted by exactly one domain."""
        if permission in self.grants:
            raise RuntimeError(f"permission {permission.value!r} granted twice")
        self.grants[permission] = frozenset(roles)

    def event(self, name: str) -> None:
        """Declare a domain event this domain emits (before the domains that listen to it register)."""
        self.handlers.setdefault(name, [])

    def on(self, event: str, handler: Callable[..., object]) -> None:
        """Call `handler(**data)` in the emitter's transaction whenever `event` is emitted."""
        if event not in self.handlers:
            raise RuntimeError(f"no domain declared the event {event!r} (or it registers later)")
        self.handlers[event].append(handler)

    def emit(self, event: str, **data: Any) -> None:
        if event not in self.handlers:
            raise RuntimeError(f"undeclared domain event {event!r}")
        for handler in self.handlers[event]:
            handler(**data)


_installed: Registry | None = None


def install(registry: Registry) -> None:
    global _installed
    _installed = registry


def installed() -> Registry:
    """The domains' registry; set up by `backend.domains.setup()` (the app factory, the CLI, Alembic)."""
    if _installed is None:
        raise RuntimeError("RepairOps domains are not set up: call backend.domains.setup() first.")
    return _installed

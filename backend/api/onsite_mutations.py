"""Kept only because `backend.sync.handlers.MODULES` still names this path: importing it registers the
on-site mutations, which live in `backend.services.onsite_mutations` (domain side, Flask-free)."""

from __future__ import annotations

from backend.services import onsite_mutations

__all__ = ["onsite_mutations"]

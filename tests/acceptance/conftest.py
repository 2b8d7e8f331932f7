"""Acceptance tests reuse the on-site fixtures (mutation runner, technician, jobs)."""

from __future__ import annotations

from tests.onsite.conftest import job, push, technician

__all__ = ["job", "push", "technician"]

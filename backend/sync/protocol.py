"""Sync protocol versions: the server serves the current and the previous one.

Version 2 added the convergence checksums on a pull's last page; a version 1 client gets pages
without them. Anything older is answered with 426 and the minimum version.
"""

from __future__ import annotations

from backend.errors import Problem

HEADER = "X-Sync-Protocol"
CURRENT = 2
MINIMUM = 1


def negotiate(raw: str | None) -> int:
    """The client's protocol from the header (absent: the current one), or a problem."""
    if raw is None or raw == "":
        return CURRENT
    try:
        version = int(raw)
    except ValueError:
        raise Problem(
            "sync.protocol_invalid",
            f"{HEADER} must be an integer protocol version.",
            status=400,
            extra={"current": CURRENT, "minimum": MINIMUM},
        ) from None
    if version < MINIMUM:
        raise Problem(
            "sync.protocol_unsupported",
            f"Sync protocol {version} is no longer served; update the app (minimum {MINIMUM}).",
            status=426,
            title="Upgrade required",
            extra={"current": CURRENT, "minimum": MINIMUM},
        )
    if version > CURRENT:
        raise Problem(
            "sync.protocol_unknown",
            f"This server speaks sync protocol {MINIMUM} to {CURRENT}, not {version}.",
            status=400,
            extra={"current": CURRENT, "minimum": MINIMUM},
        )
    return version

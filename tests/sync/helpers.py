"""Shared assertions for sync tests."""

from __future__ import annotations

from typing import Any

from backend.sync.pull import scope_view


def replica_of(device: Any) -> dict[str, dict[str, Any]]:
    return {entity: rows for entity, rows in device.replica.items() if rows}


def server_view(app: Any, technician_id: str) -> dict[str, dict[str, Any]]:
    session = app.extensions["repairops.session_factory"]()
    try:
        return scope_view(session, technician_id)
    finally:
        session.close()


def assert_converged(app: Any, device: Any, technician_id: str) -> None:
    """The device holds exactly the server's view of its scope, row for row."""
    expected = server_view(app, technician_id)
    actual = replica_of(device)
    assert set(actual) == set(expected), set(actual) ^ set(expected)
    for entity, rows in expected.items():
        missing = set(rows) - set(actual[entity])
        extra = set(actual[entity]) - set(rows)
        assert not missing and not extra, (entity, missing, extra)
        for row_id, row in rows.items():
            assert actual[entity][row_id] == row, (entity, row_id)


def converged(app: Any, device: Any, technician_id: str) -> bool:
    try:
        assert_converged(app, device, technician_id)
    except AssertionError:
        return False
    return True


def pull_until_converged(app: Any, device: Any, technician_id: str, timeout: float = 15.0) -> None:
    """After quiescence the device converges. On PostgreSQL a pull serves changes only below the oldest
    transaction of the app still running, so another session of ours can delay, never lose, a change."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        device.pull()
        if converged(app, device, technician_id) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert_converged(app, device, technician_id)

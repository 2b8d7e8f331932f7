"""Pull cursors: opaque, signed (itsdangerous), bound to the deployment, the user and the device.

A cursor holds the last served feed key `(txid, pos)` and, during a first sync (or a one-entity
resync), where the snapshot has got to: the entity being paged and the last id sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from backend.errors import Problem

CURSOR_FORMAT = 1
_SALT = "repairops.sync.cursor"


@dataclass(frozen=True)
class FeedKey:
    txid: int
    pos: int

    def __lt__(self, other: FeedKey) -> bool:
        return (self.txid, self.pos) < (other.txid, other.pos)


@dataclass(frozen=True)
class Snapshot:
    """Snapshot paging state: next rows are `entity`'s with id > `after` (then the following entities)."""

    entity: str
    after: str | None
    only: bool  # a one-entity resync: stop after this entity


@dataclass(frozen=True)
class Cursor:
    key: FeedKey
    snapshot: Snapshot | None = None


def resync_required(reason: str, detail: str) -> Problem:
    return Problem(
        "resync_required",
        detail + " Push unsent mutations, clear the local data and pull again without a cursor.",
        status=410,
        title="Resync required",
        extra={"reason": reason},
    )


def _invalid(detail: str) -> Problem:
    return Problem("sync.cursor_invalid", detail, status=400, title="Invalid cursor")


class CursorCodec:
    def __init__(self, secret: str, deployment_id: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self.deployment_id = deployment_id

    def dumps(self, cursor: Cursor, *, user_id: str, device_id: str) -> str:
        payload: dict[str, Any] = {
            "f": CURSOR_FORMAT,
            "d": self.deployment_id,
            "u": user_id,
            "v": device_id,
            "k": [cursor.key.txid, cursor.key.pos],
        }
        if cursor.snapshot is not None:
            snap = cursor.snapshot
            payload["s"] = [snap.entity, snap.after, snap.only]
        return str(self._serializer.dumps(payload))

    def loads(self, token: str, *, user_id: str, device_id: str) -> Cursor:
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            self._foreign_deployment(token)
            raise _invalid("The cursor is not one this server issued (bad signature).") from None
        if not isinstance(payload, dict) or payload.get("f") != CURSOR_FORMAT:
            raise _invalid("The cursor's format is unknown.")
        if payload.get("d") != self.deployment_id:
            raise resync_required("other_deployment", "The cursor belongs to another deployment.")
        if payload.get("u") != user_id or payload.get("v") != device_id:
            raise Problem(
                "sync.cursor_foreign",
                "The cursor was issued to another user or device.",
                status=400,
                title="Invalid cursor",
            )
        try:
            txid, pos = (int(x) for x in payload["k"])
            snapshot = None
            if "s" in payload:
                entity, after, only = payload["s"]
                snapshot = Snapshot(str(entity), None if after is None else str(after), bool(only))
        except (KeyError, TypeError, ValueError):
            raise _invalid("The cursor is damaged.") from None
        return Cursor(FeedKey(txid, pos), snapshot)

    def _foreign_deployment(self, token: str) -> None:
        """A well-formed cursor signed elsewhere (another deployment, another key) asks for a resync."""
        ok, payload = self._serializer.loads_unsafe(token)
        if (
            isinstance(payload, dict)
            and payload.get("f") == CURSOR_FORMAT
            and isinstance(payload.get("d"), str)
            and payload["d"] != self.deployment_id
        ):
            raise resync_required("other_deployment", "The cursor belongs to another deployment.")

"""RepairOps reference sync client: what a phone does, in ~300 lines of standard-library Python.

The mobile team can read it as executable documentation of mobile_contracts/sync-protocol.md; the
backend's tests use it as the device simulator. It imports nothing from the backend.

    device = Device(HttpTransport("https://api.example"), token=access_token)
    note = device.enqueue("work_order.note", {"id": new_id(), "work_order_id": job, "text": "..."})
    device.sync()            # push the outbox, then pull until has_more is false
    device.replica["work_orders"][job]

Rules it follows (the protocol's):
- a mutation keeps its device-generated id forever; the outbox is retried until the server answers
  (`applied`, `duplicate`, `conflict` or `rejected` are all final: the mutation leaves the outbox);
- pages are applied deletes first (a `work_orders` tombstone drops every row with that
  `work_order_id`), then upserts; server rows are truth (an echo of our own write just overwrites);
- the cursor advances only after a page is applied; a lost response means asking again;
- `resync_required`: push the outbox, drop everything, pull from scratch;
- the last page's checksums are compared with the replica; a mismatching entity is re-synced alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

PROTOCOL = 2
HEADER = "X-Sync-Protocol"
CHECKSUM_MODULUS = 2**64


class ResponseLost(Exception):
    """The request may or may not have reached the server; the answer never came back."""


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> tuple[int, Any]: ...


def new_id() -> str:
    """A UUIDv7: time-ordered, generated on the device, unique without asking the server."""
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64
    value |= 0b10 << 62 | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def row_hash(row_id: str, version: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{row_id}:{version}".encode()).digest()[:8], "big")


class HttpTransport:
    """A real network (urllib): `HttpTransport("http://127.0.0.1:5000")`."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        data = None
        headers = dict(headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                return resp.status, _json_or_lost(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json_or_lost(exc.code, exc.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ResponseLost(str(exc)) from exc


def _json_or_lost(status: int, raw: bytes) -> Any:
    """A body that is not JSON (a load balancer's HTML 502, a proxy's error page) did not come from the
    API: treat it as a lost response, so the outbox retries the same mutation ids."""
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise ResponseLost(f"HTTP {status} with a non-JSON body") from exc


class FlaskTransport:
    """In-process: a Flask test client (the backend's tests)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> tuple[int, Any]:
        resp = self.client.open(
            path,
            method=method,
            headers=headers,
            query_string={k: v for k, v in (params or {}).items() if v is not None},
            json=body,
        )
        return resp.status_code, resp.get_json(silent=True)


class FlakyTransport:
    """Wraps a transport: the request reaches the server, but `drop_rate` of responses are lost."""

    def __init__(self, inner: Transport, drop_rate: float, rng: random.Random | None = None) -> None:
        self.inner = inner
        self.drop_rate = drop_rate
        self.rng = rng or random.Random()  # noqa: S311
        self.dropped = 0

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, body = self.inner.request(method, path, **kwargs)
        if self.rng.random() < self.drop_rate:
            self.dropped += 1
            raise ResponseLost("response dropped")
        return status, body


class SyncError(Exception):
    def __init__(self, status: int, problem: Any) -> None:
        super().__init__(f"{status}: {problem}")
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}


class Device:
    """A phone: a local replica, an outbox of mutations, a cursor."""

    def __init__(
        self,
        transport: Transport,
        *,
        token: str,
        device_id: str | None = None,
        protocol: int = PROTOCOL,
        batch_size: int = 100,
        page_limit: int = 500,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.transport = transport
        self.token = token
        self.device_id = device_id or new_id()
        self.protocol = protocol
        self.batch_size = batch_size
        self.page_limit = page_limit
        self.clock = clock or (lambda: datetime.now(UTC))
        self.replica: dict[str, dict[str, dict[str, Any]]] = {}
        self.outbox: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.cursor: str | None = None
        self.resyncs: list[str] = []
        self.pages = 0

    # -- transport ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", HEADER: str(self.protocol)}

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body = self.transport.request(method, path, headers=self._headers(), **kwargs)
        if status >= 500:
            raise ResponseLost(f"server error {status}")
        if status >= 400:
            raise SyncError(status, body)
        return body

    def register(self, platform: str = "reference", app_version: str = "0.0.0") -> dict[str, Any]:
        body = {"device_id": self.device_id, "platform": platform, "app_version": app_version}
        result: dict[str, Any] = self._call("POST", "/sync/devices", body=body)
        return result

    # -- outbox ------------------------------------------------------------------------------------

    def enqueue(self, name: str, args: dict[str, Any], base_version: int | None = None) -> str:
        """Queue a mutation (the UI has already applied it optimistically); returns its id."""
        mutation = {
            "id": new_id(),
            "name": name,
            "args": args,
            "base_version": base_version,
            "client_time": self.clock().isoformat(),
        }
        self.outbox.append(mutation)
        return str(mutation["id"])

    def push(self) -> int:
        """Send the outbox in order; returns how many mutations got a final answer."""
        done = 0
        while self.outbox:
            batch = self.outbox[: self.batch_size]
            body = {"device_id": self.device_id, "mutations": batch}
            try:
                answer = self._call("POST", "/sync/push", body=body)
            except SyncError as exc:
                if exc.problem.get("code") == "sync.concurrent_push":  # nothing applied: send it again
                    raise ResponseLost("push overlapped another device's") from exc
                raise
            for result in answer["results"]:
                final = result["original"] if result["status"] == "duplicate" else result
                self.results[result["id"]] = {**final, "was_duplicate": result["status"] == "duplicate"}
            answered = {r["id"] for r in answer["results"]}
            self.outbox = [m for m in self.outbox if m["id"] not in answered]
            done += len(answered)
        return done

    # -- pull --------------------------------------------------------------------------------------

    def pull(self, *, resync_entity: str | None = None) -> None:
        """Pull pages until `has_more` is false, then check convergence."""
        for _round in range(3):
            last = self._pull_pages(resync_entity)
            if last is None:
                return
            mismatched = self.mismatched(last.get("checksums"))
            if not mismatched:
                return
            for entity in mismatched:
                self.resyncs.append(entity)
                self.replica.pop(entity, None)
                self._pull_pages(entity)
            resync_entity = None

    def _pull_pages(self, resync_entity: str | None) -> dict[str, Any] | None:
        last: dict[str, Any] | None = None
        while True:
            params = {
                "device_id": self.device_id,
                "cursor": self.cursor,
                "limit": self.page_limit,
                "resync": resync_entity,
            }
            try:
                page = self._call("GET", "/sync/pull", params=params)
            except SyncError as exc:
                if exc.problem.get("code") == "resync_required":
                    self.resync_all()
                    return None
                raise
            self.apply(page["changes"])
            self.cursor = page["cursor"]
            self.pages += 1
            resync_entity = None
            last = page
            if not page["has_more"]:
                return last

    def resync_all(self) -> None:
        """Start over: unsent mutations first (they are facts), then a first sync."""
        with contextlib.suppress(ResponseLost, SyncError):
            self.push()  # whatever fails stays in the outbox and goes after the resync
        self.replica.clear()
        self.cursor = None
        self.resyncs.append("*")
        self._pull_pages(None)

    def apply(self, changes: dict[str, dict[str, list[Any]]]) -> None:
        for entity, change in changes.items():
            table = self.replica.setdefault(entity, {})
            for row_id in change.get("deletes", []):
                table.pop(row_id, None)
                if entity == "work_orders":
                    self._drop_job(row_id)
        for entity, change in changes.items():
            table = self.replica.setdefault(entity, {})
            for row in change.get("upserts", []):
                table[row["id"]] = row

    def _drop_job(self, job_id: str) -> None:
        for table in self.replica.values():
            for row_id in [k for k, row in table.items() if row.get("work_order_id") == job_id]:
                del table[row_id]

    # -- convergence -------------------------------------------------------------------------------

    def checksum(self, entity: str) -> dict[str, Any]:
        rows = self.replica.get(entity, {})
        total = sum(row_hash(row_id, int(row["sync_version"])) for row_id, row in rows.items())
        return {"count": len(rows), "checksum": f"{total % CHECKSUM_MODULUS:016x}"}

    def mismatched(self, checksums: dict[str, dict[str, Any]] | None) -> list[str]:
        if not checksums:
            return []
        return [name for name, expected in checksums.items() if self.checksum(name) != expected]

    # -- the loop the app runs when a network appears ----------------------------------------------

    def sync(self, attempts: int = 50, backoff: float = 0.0) -> None:
        """Push then pull, retrying lost responses (with optional backoff) until both succeed."""
        for attempt in range(attempts):
            try:
                self.push()
                self.pull()
                return
            except ResponseLost:
                if backoff:
                    time.sleep(min(backoff * 2**attempt, 2.0))
        raise ResponseLost(f"no sync after {attempts} attempts")

"""Scaling out (DESIGN §8): two gunicorn server processes on one PostgreSQL, devices converge through both.

Every device talks real HTTP (the reference client's `HttpTransport`) and switches servers every round:
it pushes through one and pulls through the other, so cursors signed by one server are continued by
the other, a mutation answered by one is retried through the other, and the same push is even sent to
both at the same moment. A dispatcher reassigns a job through a server while the devices are busy.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from backend.sync.models import SyncFlag, SyncMutation
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from mobile_contracts.reference_client import HEADER, PROTOCOL, Device, HttpTransport, new_id
from tests import factories
from tests.conftest import bearer
from tests.sync.conftest import token_of
from tests.sync.helpers import pull_until_converged

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 40.0
DEVICES = 4
ROUNDS = 6
NOTES_PER_ROUND = 6
HALFWAY = ROUNDS // 2
TWIN_PUSH_ROUND = 2  # the device with index TWIN_DEVICE sends this round's push to both servers at once
TWIN_DEVICE = 2
RESEND_ROUND = 4  # every device resends a few answered mutations (through the other server)
WAIT = 15.0  # bound for every wait on another thread
MUTATION_OF_EVENT = WorkOrderEvent.data["mutation_id"].as_string()  # device events name their mutation


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """Any HTTP answer (even 401) means the app is loaded and serving."""
    try:
        with urllib.request.urlopen(url + "/sync/mutations", timeout=1.0):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()  # gunicorn: graceful shutdown of the master and its worker
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)  # its own session: only what we started
            server.process.wait(timeout=10)


@pytest.fixture
def start_servers(
    backend_name: str, database_url: str, app: Any, tmp_path: Path
) -> Iterator[Callable[[int], list[Server]]]:
    """`start_servers(n)` -> n gunicorn processes on the test's PostgreSQL schema, serving on loopback.

    Call it after the arranged data is committed. They share DATABASE_URL and SECRET_KEY (tokens and
    cursors signed by one are accepted by the other) and are always stopped at the end of the test.
    """
    if backend_name != "postgresql":
        pytest.skip(
            "Two server processes scale out on one shared PostgreSQL (DESIGN §8); "
            "SQLite is an embedded single-writer file, not a database server to share"
        )
    servers: list[Server] = []

    def start(count: int) -> list[Server]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SECRET_KEY": app.config["SECRET_KEY"],
            "BLOB_DIR": str(tmp_path / "blobs"),
            "PYTHONUNBUFFERED": "1",
        }
        for n in range(1, count + 1):
            port = _free_port()
            log = tmp_path / f"server{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "1",
                        "--threads",
                        "8",
                        "--timeout",
                        "60",
                        "--graceful-timeout",
                        "2",
                        "--log-level",
                        "warning",
                        "backend:create_app()",
                    ],
                    cwd=PROJECT_ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            servers.append(Server(f"server{n}", f"http://127.0.0.1:{port}", process, log))
        deadline = time.monotonic() + STARTUP_SECONDS
        waiting = list(servers)
        while waiting:
            for server in list(waiting):
                if server.process.poll() is not None:
                    pytest.fail(f"{server.name} exited with {server.process.returncode}:\n{server.output()}")
                if _answers(server.url):
                    waiting.remove(server)
            if waiting and time.monotonic() > deadline:
                pytest.fail(f"{[s.name for s in waiting]} did not answer in {STARTUP_SECONDS:.0f} s")
            if waiting:
                time.sleep(0.1)
        return servers

    try:
        yield start
    finally:
        for server in servers:
            _stop(server)


class Routed:
    """The device's network: pushes (POST) go to `servers[push_via]`, pulls (GET) to the other one."""

    def __init__(self, urls: list[str], push_via: int) -> None:
        self.transports = [HttpTransport(url, timeout=30.0) for url in urls]
        self.push_via = push_via
        self.served: Counter[tuple[int, str]] = Counter()

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        via = self.push_via if method == "POST" else 1 - self.push_via
        self.served[(via, path)] += 1
        return self.transports[via].request(method, path, **kwargs)


def _in_scope_jobs(phone: Device) -> list[str]:
    return sorted(phone.replica.get("work_orders", {}))


def test_two_server_processes_on_one_postgresql_apply_each_mutation_once_and_every_device_converges(
    app, db, start_servers
):
    techs = [factories.TechnicianFactory() for _ in range(DEVICES)]
    for tech in techs:
        for _ in range(2):
            factories.WorkOrderFactory(assignee=tech, status="on_site")
    old, new = techs[0], techs[1]
    moved = factories.WorkOrderFactory(assignee=old, status="accepted")
    moved_id = moved.id
    dispatcher = factories.UserFactory(role="dispatcher")
    db.commit()  # everything arranged is committed before the servers start

    servers = start_servers(2)
    urls = [s.url for s in servers]
    phones = [
        Device(Routed(urls, push_via=i % 2), token=token_of(app, t.user), batch_size=5)
        for i, t in enumerate(techs)
    ]
    old_phone, new_phone = phones[0], phones[1]

    notes: dict[str, list[str]] = {p.device_id: [] for p in phones}  # mutation ids
    sent: dict[str, dict[str, Any]] = {}  # mutation id -> the mutation as first sent
    resent: dict[str, list[str]] = {p.device_id: [] for p in phones}
    twin_answers: list[dict[str, Any]] = []
    accept: list[str] = []
    errors: list[BaseException] = []
    halfway, reassigned = threading.Event(), threading.Event()

    def note(phone: Device, job_id: str) -> None:
        mutation_id = phone.enqueue(
            "work_order.note", {"id": new_id(), "work_order_id": job_id, "text": "现场记录：已检查"}
        )
        notes[phone.device_id].append(mutation_id)
        sent[mutation_id] = dict(phone.outbox[-1])

    def accept_moved(phone: Device, seen: str) -> None:
        args = {"work_order_id": moved_id, "from": seen, "to": "accepted"}
        accept.append(phone.enqueue("work_order.transition", args))

    def twin_push(phone: Device) -> None:
        """The same batch reaches both servers at the same moment (a retry racing the original)."""
        body = {"device_id": phone.device_id, "mutations": list(phone.outbox)}
        headers = {"Authorization": f"Bearer {phone.token}", HEADER: str(PROTOCOL)}
        transports = phone.transport.transports  # type: ignore[attr-defined]
        go = threading.Barrier(2, timeout=WAIT)

        def send(transport: HttpTransport) -> None:
            go.wait()
            status, answer = transport.request("POST", "/sync/push", headers=headers, body=body)
            assert status == 200, answer
            twin_answers.append(answer)

        senders = [threading.Thread(target=send, args=(t,)) for t in transports]
        for t in senders:
            t.start()
        for t in senders:
            t.join(WAIT)
        assert len(twin_answers) == 2, "both servers answered the twin push"

    def run(index: int, phone: Device) -> None:
        rng = random.Random(index)
        transport: Routed = phone.transport  # type: ignore[assignment]
        try:
            phone.sync(attempts=3)
            for round_no in range(ROUNDS):
                transport.push_via = (index + round_no) % 2  # this round's push and pull swap servers
                for _ in range(NOTES_PER_ROUND):
                    note(phone, rng.choice(_in_scope_jobs(phone)))
                if phone is old_phone and round_no == HALFWAY:
                    halfway.set()
                    assert reassigned.wait(WAIT), "the dispatcher never reassigned"
                    note(phone, moved_id)  # written offline: the job is still on this phone
                if round_no == RESEND_ROUND:
                    answered = [m for m in phone.results if m in notes[phone.device_id]]
                    again = rng.sample(answered, k=3)
                    resent[phone.device_id].extend(again)
                    phone.outbox.extend(sent[m] for m in again)  # as if their answers had been lost
                if phone is new_phone and not accept and moved_id in phone.replica.get("work_orders", {}):
                    accept_moved(phone, phone.replica["work_orders"][moved_id]["status"])  # it arrived
                if index == TWIN_DEVICE and round_no == TWIN_PUSH_ROUND:
                    twin_push(phone)
                phone.sync(attempts=3)
            if phone is new_phone and not accept:  # the job had not arrived yet: keep pulling (bounded)
                deadline = time.monotonic() + WAIT
                while moved_id not in phone.replica.get("work_orders", {}) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    phone.pull()
                accept_moved(phone, phone.replica["work_orders"][moved_id]["status"])
                phone.sync(attempts=3)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
            halfway.set()

    threads = [threading.Thread(target=run, args=(i, p), name=f"device{i}") for i, p in enumerate(phones)]
    for t in threads:
        t.start()
    try:
        assert halfway.wait(WAIT), "the old technician's device never got halfway"
        # The dispatcher reassigns through the server the old device is not pushing to this round.
        old_pushes_via = old_phone.transport.push_via  # type: ignore[attr-defined]
        dispatch = HttpTransport(urls[1 - old_pushes_via])
        status, body = dispatch.request(
            "POST",
            f"/work-orders/{moved_id}/assign",
            headers=bearer(app, dispatcher),
            body={"technician_id": new.id, "reason": "改派：原师傅另有急单"},
        )
        assert status == 200, body
    finally:
        reassigned.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    # Every device used both servers for pushes and for pulls.
    for phone in phones:
        served = phone.transport.served  # type: ignore[attr-defined]
        for via in (0, 1):
            assert served[(via, "/sync/push")] > 0 and served[(via, "/sync/pull")] > 0, (via, served)
        assert phone.outbox == []
        assert phone.resyncs == [], "a cursor from one server is continued by the other, checksums agree"

    # Every mutation applied exactly once.
    sent_notes = {m for ids in notes.values() for m in ids}
    assert len(sent_notes) == DEVICES * ROUNDS * NOTES_PER_ROUND + 1
    assert len(accept) == 1
    db.expire_all()
    records = dict(db.execute(sa.select(SyncMutation.id, SyncMutation.status)).all())
    assert set(records) == sent_notes | set(accept)
    assert set(records.values()) == {"applied"}
    stored = list(db.scalars(sa.select(MUTATION_OF_EVENT).where(WorkOrderEvent.kind == "note")))
    assert len(stored) == len(set(stored)) == len(sent_notes), "each note stored once"
    assert set(stored) == sent_notes
    for phone in phones:
        assert {r["status"] for r in phone.results.values()} == {"applied"}
        assert resent[phone.device_id] and all(
            phone.results[m]["was_duplicate"] for m in resent[phone.device_id]
        )
    statuses: Counter[tuple[str, str]] = Counter()
    for answer in twin_answers:
        for result in answer["results"]:
            statuses[(result["id"], result["status"])] += 1
    twin_ids = {mutation_id for mutation_id, _ in statuses}
    assert twin_ids and all(
        statuses[(m, "applied")] == 1 and statuses[(m, "duplicate")] == 1 for m in twin_ids
    ), "one server applied each mutation of the twin push, the other answered duplicate"

    # The reassignment: the old technician's later notes were kept and flagged, the job moved.
    order = db.get(WorkOrder, moved_id)
    assert order.assignee_id == new.id and order.status == "accepted"
    reassign_seq = db.scalar(
        sa.select(WorkOrderEvent.seq).where(
            WorkOrderEvent.work_order_id == moved_id, WorkOrderEvent.kind == "reassigned"
        )
    )
    late_notes = set(
        db.scalars(
            sa.select(MUTATION_OF_EVENT).where(
                WorkOrderEvent.work_order_id == moved_id,
                WorkOrderEvent.kind == "note",
                WorkOrderEvent.actor_user_id == old.user_id,
                WorkOrderEvent.seq > reassign_seq,
            )
        )
    )
    flags = db.execute(sa.select(SyncFlag.mutation_id, SyncFlag.code, SyncFlag.technician_id)).all()
    assert late_notes and {f.mutation_id for f in flags} == late_notes
    assert {(f.code, f.technician_id) for f in flags} == {("work_order.reassigned_meanwhile", old.id)}

    # Every device holds exactly the server's view of its scope, row for row.
    for phone, tech in zip(phones, techs, strict=True):
        pull_until_converged(app, phone, tech.id)
    assert moved_id not in old_phone.replica["work_orders"]
    assert not [
        row
        for table in old_phone.replica.values()
        for row in table.values()
        if row.get("work_order_id") == moved_id
    ]
    assert new_phone.replica["work_orders"][moved_id]["status"] == "accepted"
    notes_on_moved = set(
        db.scalars(
            sa.select(WorkOrderEvent.id).where(
                WorkOrderEvent.work_order_id == moved_id, WorkOrderEvent.kind == "note"
            )
        )
    )
    arrived = {
        e["id"]
        for e in new_phone.replica["work_order_events"].values()
        if e["work_order_id"] == moved_id and e["kind"] == "note"
    }
    assert notes_on_moved and arrived == notes_on_moved
    for server in servers:
        assert server.process.poll() is None, f"{server.name} died:\n{server.output()}"

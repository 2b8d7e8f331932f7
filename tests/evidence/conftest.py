"""Fixtures for evidence tests: every test runs with the local store and with S3 (moto's server over
real HTTP on a loopback port), on both databases; a `device` that uploads by ticket as a phone would.
"""

from __future__ import annotations

import io
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from sqlalchemy.orm import Session

from backend import create_app
from backend.accounts.technicians import Technician
from backend.config import Settings
from backend.kernel.roles import Role
from backend.policy import Principal
from tests.conftest import _empty_tables
from tests.mutations import MutationOutcome, run_mutation

MIB = 1024 * 1024
S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port for the whole session (boto3 is never patched)."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    """'local' or 's3': the same tests pass on both stores."""
    return str(request.param)


@pytest.fixture
def app(
    database_url: str, tmp_path: Any, storage_backend: str, request: pytest.FixtureRequest
) -> Iterator[Flask]:
    """The app on the test database and the chosen store (a fresh bucket per test on S3)."""
    s3: dict[str, Any] = {}
    bucket = f"evidence-{uuid.uuid4().hex[:12]}"
    if storage_backend == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        s3 = {
            "s3_endpoint_url": endpoint,
            "s3_bucket": bucket,
            "s3_path_style": True,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
        }
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **S3_KEYS).create_bucket(
            Bucket=bucket
        )
    settings = Settings(
        database_url=database_url,
        blob_dir=str(tmp_path / "blobs"),
        secret_key="test-secret-key-with-enough-length-0123456789",
        storage_backend=storage_backend,
        storage_part_size=8 * MIB,
        **s3,
    )
    application = create_app(settings, TESTING=True)
    yield application
    engine = application.extensions["repairops.engine"]
    _empty_tables(engine)
    engine.dispose()
    if storage_backend == "s3":
        client = boto3.client("s3", endpoint_url=s3["s3_endpoint_url"], region_name="us-east-1", **S3_KEYS)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def tech_principal(technician: Technician) -> Principal:
    return Principal(role=Role.TECHNICIAN, user_id=technician.user_id, technician_id=technician.id)


Pushed = MutationOutcome


@pytest.fixture
def push(db: Session, app: Flask) -> Any:
    """`push(technician, name, args)` runs one device mutation as `POST /sync/push` does."""

    def run(technician: Technician, name: str, args: dict[str, Any]) -> MutationOutcome:
        return run_mutation(db, app, tech_principal(technician), name, args)

    return run


class Device:
    """Sends bytes with a ticket the way a phone would: to the API (local store) or straight to S3."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.base = app.config["PUBLIC_BASE_URL"]
        self.client = client

    def _local(self, url: str) -> bool:
        return url.startswith(self.base)

    def upload(
        self, ticket: dict[str, Any], data: bytes, *, fields: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Single-shot form POST; returns (status, problem body or None)."""
        assert ticket["mode"] == "single"
        form = {**ticket["fields"], **(fields or {})}
        if self._local(ticket["url"]):
            response = self.client.post(
                ticket["url"],
                data={**form, "file": (io.BytesIO(data), "upload.bin")},
                content_type="multipart/form-data",
            )
            return response.status_code, response.get_json(silent=True)
        answer = requests.post(
            ticket["url"], data=form, files={"file": ("upload.bin", data, ticket["content_type"])}, timeout=60
        )
        return answer.status_code, None if answer.ok else answer.text

    def upload_parts(
        self, ticket: dict[str, Any], data: bytes, numbers: list[int] | None = None
    ) -> list[int]:
        """PUT the given parts (all by default); returns their HTTP statuses."""
        assert ticket["mode"] == "multipart"
        statuses = []
        for part in ticket["parts"]:
            if numbers is not None and part["part_number"] not in numbers:
                continue
            chunk = data[part["offset"] : part["offset"] + part["size"]]
            if self._local(part["url"]):
                statuses.append(self.client.put(part["url"], data=chunk).status_code)
            else:
                statuses.append(requests.put(part["url"], data=chunk, timeout=60).status_code)
        return statuses

    def send(self, ticket: dict[str, Any], data: bytes) -> None:
        if ticket["mode"] == "single":
            status, problem = self.upload(ticket, data)
            assert status in (200, 201, 204), problem
        else:
            assert set(self.upload_parts(ticket, data)) == {200}

    def download(self, url: str) -> tuple[int, bytes, str]:
        if self._local(url):
            response = self.client.get(url)
            return response.status_code, response.data, response.headers.get("Content-Type", "")
        answer = requests.get(url, timeout=60)
        return answer.status_code, answer.content, answer.headers.get("Content-Type", "")


@pytest.fixture
def device(app: Flask, client: FlaskClient) -> Device:
    return Device(app, client)

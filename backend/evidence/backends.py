"""Blob stores behind one interface: `LocalBlobStore` (files under BLOB_DIR, uploads received by the API)
and `S3BlobStore` (boto3; presigned POST and multipart with presigned part URLs; any S3-compatible store).

The device sees the same ticket shape from both: a form POST for small files, PUT per part for large ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote, urlencode

from backend.errors import Problem
from backend.evidence.config import StorageConfig

CHUNK = 1024 * 1024
META_PREFIX_ATTACHMENT = "attachment-id"  # x-amz-meta-attachment-id: which ticket the bytes came with
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    # User metadata the store kept (S3); None when the store keeps none (local: checked on receipt).
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class MultipartUpload:
    key: str
    upload_id: str
    initiated: datetime


class BlobStore(Protocol):
    name: str

    def presign_post(
        self, *, key: str, content_type: str, size: int, attachment_id: str, token: str, expires_in: int
    ) -> tuple[str, dict[str, str]]: ...

    def start_multipart(self, *, key: str, content_type: str, attachment_id: str) -> str: ...

    def presign_part(
        self, *, key: str, upload_id: str, part_number: int, attachment_id: str, token: str, expires_in: int
    ) -> str: ...

    def list_parts(self, *, key: str, upload_id: str) -> list[PartInfo] | None: ...

    def complete_multipart(self, *, key: str, upload_id: str, parts: list[PartInfo]) -> None: ...

    def abort_multipart(self, *, key: str, upload_id: str) -> None: ...

    def list_multipart_uploads(self, prefix: str) -> Iterator[MultipartUpload]: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def iter_chunks(self, key: str) -> Iterator[bytes]: ...

    def read(self, key: str) -> bytes: ...

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def copy(self, source: str, target: str, *, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def download_url(self, key: str, *, expires_in: int, content_type: str, filename: str) -> str: ...


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key) or ".." in key.split("/"):
        raise ValueError(f"unsafe object key {key!r}")
    return key


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


class LocalBlobStore:
    """Files under `root`; the API receives uploads (`backend.api.evidence.transfer_blp`) and serves
    downloads through HMAC-signed, expiring links."""

    name = "local"

    def __init__(self, root: str, base_url: str, secret: str) -> None:
        self.root = Path(root)
        self.base_url = base_url
        self._secret = hashlib.sha256(b"repairops.local-blob-links:" + secret.encode()).digest()

    # -- paths
    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _parts_dir(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise ValueError("unknown upload id")
        return self.root / ".multipart" / upload_id

    # -- tickets
    def presign_post(
        self, *, key: str, content_type: str, size: int, attachment_id: str, token: str, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        return f"{self.base_url}/blobs/upload/{attachment_id}", {"token": token, "Content-Type": content_type}

    def start_multipart(self, *, key: str, content_type: str, attachment_id: str) -> str:
        upload_id = uuid.uuid4().hex
        folder = self._parts_dir(upload_id)
        folder.mkdir(parents=True)
        (folder / "upload.json").write_text(
            json.dumps({"key": _check_key(key), "content_type": content_type})
        )
        return upload_id

    def presign_part(
        self, *, key: str, upload_id: str, part_number: int, attachment_id: str, token: str, expires_in: int
    ) -> str:
        query = urlencode({"token": token})
        return f"{self.base_url}/blobs/upload/{attachment_id}/parts/{part_number}?{query}"

    def write_part(self, upload_id: str, part_number: int, stream: IO[bytes], limit: int) -> PartInfo:
        """Store one part as it arrives (local backend only); more than `limit` bytes is refused."""
        folder = self._parts_dir(upload_id)
        if not folder.is_dir():
            raise FileNotFoundError(upload_id)
        target = folder / f"{part_number:05d}"
        digest, size = _copy_limited(stream, target, limit)
        return PartInfo(part_number, size, digest, _mtime(target))

    def list_parts(self, *, key: str, upload_id: str) -> list[PartInfo] | None:
        folder = self._parts_dir(upload_id)
        if not folder.is_dir():
            return None
        parts = []
        for path in sorted(folder.iterdir()):
            if path.name.isdigit():
                parts.append(PartInfo(int(path.name), path.stat().st_size, "", _mtime(path)))
        return parts

    def complete_multipart(self, *, key: str, upload_id: str, parts: list[PartInfo]) -> None:
        folder = self._parts_dir(upload_id)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".assembling")
        with tmp.open("wb") as out:
            for part in sorted(parts, key=lambda p: p.number):
                with (folder / f"{part.number:05d}").open("rb") as src:
                    shutil.copyfileobj(src, out, CHUNK)
        os.replace(tmp, target)
        shutil.rmtree(folder, ignore_errors=True)

    def abort_multipart(self, *, key: str, upload_id: str) -> None:
        shutil.rmtree(self._parts_dir(upload_id), ignore_errors=True)

    def list_multipart_uploads(self, prefix: str) -> Iterator[MultipartUpload]:
        base = self.root / ".multipart"
        if not base.is_dir():
            return
        for folder in base.iterdir():
            meta = folder / "upload.json"
            if meta.is_file():
                key = json.loads(meta.read_text())["key"]
                if key.startswith(prefix):
                    yield MultipartUpload(key, folder.name, _mtime(meta))

    # -- objects
    def head(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        if not path.is_file():
            return None
        return ObjectInfo(key, path.stat().st_size, _mtime(path))

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        with self.path(key).open("rb") as src:
            while chunk := src.read(CHUNK):
                yield chunk

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def put_stream(self, key: str, stream: IO[bytes], limit: int) -> int:
        """Store an upload as it arrives (local backend only); more than `limit` bytes is refused."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
        try:
            _digest, size = _copy_limited(stream, tmp, limit)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return size

    def copy(self, source: str, target: str, *, content_type: str) -> None:
        path = self.path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(source), path)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self.root / prefix.split("/")[0] if prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.endswith((".tmp", ".assembling")):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield ObjectInfo(key, path.stat().st_size, _mtime(path))

    # -- downloads
    def _signature(self, key: str, expires: int, content_type: str, filename: str) -> str:
        message = "\n".join([key, str(expires), content_type, filename]).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def download_url(self, key: str, *, expires_in: int, content_type: str, filename: str) -> str:
        expires = int(datetime.now(UTC).timestamp()) + expires_in
        query = urlencode(
            {
                "expires": expires,
                "ct": content_type,
                "fn": filename,
                "sig": self._signature(key, expires, content_type, filename),
            }
        )
        return f"{self.base_url}/blobs/o/{quote(_check_key(key))}?{query}"

    def check_download(self, key: str, args: Mapping[str, str]) -> tuple[str, str]:
        """Validate a signed link's query; returns (content type, filename) or raises a 403 problem."""
        try:
            expires = int(args.get("expires", ""))
        except ValueError:
            expires = 0
        content_type, filename = args.get("ct", ""), args.get("fn", "")
        expected = self._signature(key, expires, content_type, filename)
        if not hmac.compare_digest(expected, args.get("sig", "")):
            raise Problem("blob.link_invalid", "The download link is not valid.", status=403)
        if expires < datetime.now(UTC).timestamp():
            raise Problem(
                "blob.link_expired", "The download link has expired; ask for a new one.", status=403
            )
        return content_type, filename


def _copy_limited(stream: IO[bytes], target: Path, limit: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise Problem(
                    "attachment.too_large",
                    f"The upload is larger than the {limit} bytes its ticket allows.",
                    status=413,
                )
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


class S3BlobStore:
    """An S3 bucket (AWS, MinIO, Ceph RGW, Aliyun OSS …) through boto3."""

    name = "s3"

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def _missing(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return str(code) in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}

    def presign_post(
        self, *, key: str, content_type: str, size: int, attachment_id: str, token: str, expires_in: int
    ) -> tuple[str, dict[str, str]]:
        meta = f"x-amz-meta-{META_PREFIX_ATTACHMENT}"
        post = self.client.generate_presigned_post(
            Bucket=self.bucket,
            Key=_check_key(key),
            Fields={"Content-Type": content_type, meta: attachment_id},
            Conditions=[
                {"Content-Type": content_type},
                {meta: attachment_id},
                ["content-length-range", size, size],
            ],
            ExpiresIn=expires_in,
        )
        return post["url"], dict(post["fields"])

    def start_multipart(self, *, key: str, content_type: str, attachment_id: str) -> str:
        response = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=_check_key(key),
            ContentType=content_type,
            Metadata={META_PREFIX_ATTACHMENT: attachment_id},
        )
        return str(response["UploadId"])

    def presign_part(
        self, *, key: str, upload_id: str, part_number: int, attachment_id: str, token: str, expires_in: int
    ) -> str:
        return str(
            self.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number},
                ExpiresIn=expires_in,
            )
        )

    def list_parts(self, *, key: str, upload_id: str) -> list[PartInfo] | None:
        parts: list[PartInfo] = []
        try:
            for page in self.client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=key, UploadId=upload_id
            ):
                for part in page.get("Parts", []):
                    parts.append(
                        PartInfo(part["PartNumber"], part["Size"], part["ETag"], part["LastModified"])
                    )
        except self.client.exceptions.ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return parts

    def complete_multipart(self, *, key: str, upload_id: str, parts: list[PartInfo]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {"ETag": p.etag, "PartNumber": p.number} for p in sorted(parts, key=lambda p: p.number)
                ]
            },
        )

    def abort_multipart(self, *, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except self.client.exceptions.ClientError as exc:
            if not self._missing(exc):
                raise

    def list_multipart_uploads(self, prefix: str) -> Iterator[MultipartUpload]:
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for upload in page.get("Uploads", []):
                yield MultipartUpload(upload["Key"], upload["UploadId"], upload["Initiated"])

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return ObjectInfo(
            key, int(response["ContentLength"]), response["LastModified"], dict(response.get("Metadata", {}))
        )

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=_check_key(key), Body=data, ContentType=content_type)

    def copy(self, source: str, target: str, *, content_type: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket,
            Key=_check_key(target),
            CopySource={"Bucket": self.bucket, "Key": source},
            ContentType=content_type,
            MetadataDirective="REPLACE",
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def list_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"], int(obj["Size"]), obj["LastModified"])

    def download_url(self, key: str, *, expires_in: int, content_type: str, filename: str) -> str:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": f"inline; filename*=UTF-8''{quote(filename)}",
                },
                ExpiresIn=expires_in,
            )
        )


def make_store(config: StorageConfig) -> BlobStore:
    """The configured store (`STORAGE_BACKEND=local|s3`)."""
    if config.backend == "local":
        return LocalBlobStore(config.blob_dir, config.public_base_url, config.secret_key)
    if config.backend == "s3":
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=config.s3_endpoint_url or None,
            region_name=config.s3_region,
            aws_access_key_id=config.s3_access_key_id or None,
            aws_secret_access_key=config.s3_secret_access_key or None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if config.s3_path_style else "auto"},
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        return S3BlobStore(client, config.s3_bucket)
    raise ValueError(f"STORAGE_BACKEND must be 'local' or 's3', not {config.backend!r}")

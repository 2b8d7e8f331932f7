"""Canonical JSON and its sha256: the bytes that get hashed, signed or sealed (acceptance summaries,
quotes the customer consents to). One definition, so that every hash in the system is comparable and
a device reproduces it offline (`mobile_contracts/acceptance.md`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not \\u-escaped), integers only: the bytes that get hashed.

    Floats are refused so that no two platforms can print a number differently.
    """
    _refuse_floats(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("canonical JSON carries no floats; use integers (fen, micro-degrees)")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("canonical JSON keys are strings")
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """sha256 (lowercase hex) of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))

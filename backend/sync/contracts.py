"""JSON Schemas of the sync protocol for the mobile team, generated from the code (models and mutation
argument schemas), so that they cannot drift: `python -m backend.sync.contracts` rewrites
mobile_contracts/schemas/; a test fails while the committed files differ from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apispec import APISpec
from apispec.ext.marshmallow import OpenAPIConverter

from backend.sync.entities import SyncedEntity, synced_entities
from backend.sync.registry import Mutation, mutations_by_name

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://repairops.dev/contracts/sync/"
SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "mobile_contracts" / "schemas"


def _column_schema(column: Any) -> dict[str, Any]:
    col_type = column.type
    out: dict[str, Any]
    if isinstance(col_type, sa.Boolean):
        out = {"type": "boolean"}
    elif isinstance(col_type, sa.Integer):
        out = {"type": "integer"}
    elif isinstance(col_type, sa.Float | sa.Numeric):
        out = {"type": "number"}
    elif isinstance(col_type, sa.DateTime) or getattr(col_type, "impl", None).__class__ is sa.DateTime:
        out = {"type": "string", "format": "date-time"}
    elif isinstance(col_type, sa.Date):
        out = {"type": "string", "format": "date"}
    elif isinstance(col_type, sa.Time):
        out = {"type": "string", "format": "time"}
    elif isinstance(col_type, sa.JSON):
        out = {"type": ["object", "array"]}
    elif isinstance(col_type, sa.String):
        out = {"type": "string"}
        if col_type.length:
            out["maxLength"] = col_type.length
    else:
        out = {}
    if column.nullable and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


def entity_schema(entity: SyncedEntity) -> dict[str, Any]:
    """A row of `entity` as a device receives it in `changes.<entity>.upserts`."""
    properties = {key: _column_schema(column) for key, column in entity.columns}
    properties["sync_version"] = {
        "type": "integer",
        "description": "Server version of the row; with the id, the input of the convergence checksum.",
    }
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}entities/{entity.name}.json",
        "title": entity.name,
        "description": f"Scope: {entity.scope.value}.",
        "type": "object",
        "properties": properties,
        "required": sorted(properties),
        "additionalProperties": False,
    }


def mutation_schema(mutation: Mutation) -> dict[str, Any]:
    """The `args` of a mutation named `mutation.name`."""
    spec = APISpec("repairops-sync", "1", "3.1.0")
    converter = OpenAPIConverter(openapi_version="3.1.0", schema_name_resolver=lambda _s: None, spec=spec)
    args = converter.schema2jsonschema(mutation.schema)
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}mutations/{mutation.name}.json",
        "title": mutation.name,
        "description": mutation.description,
        **args,
    }


PROBLEM = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object"},
        "server_state": {
            "type": ["object", "null"],
            "properties": {"entity": {"type": "string"}, "row": {"type": "object"}},
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}


def envelope_schemas() -> dict[str, dict[str, Any]]:
    """Pull response, push request and push response."""
    names = sorted(synced_entities())
    changes = {
        name: {
            "type": "object",
            "properties": {
                "upserts": {"type": "array", "items": {"$ref": f"entities/{name}.json"}},
                "deletes": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["upserts", "deletes"],
            "additionalProperties": False,
        }
        for name in names
    }
    checksum = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "checksum": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        },
        "required": ["count", "checksum"],
        "additionalProperties": False,
    }
    pull = {
        "$schema": DRAFT,
        "$id": f"{BASE}pull-response.json",
        "title": "GET /sync/pull response",
        "type": "object",
        "properties": {
            "cursor": {"type": "string"},
            "has_more": {"type": "boolean"},
            "server_time": {"type": "string", "format": "date-time"},
            "protocol": {"type": "integer"},
            "changes": {"type": "object", "properties": changes, "additionalProperties": False},
            "checksums": {
                "type": ["object", "null"],
                "properties": {name: checksum for name in names},
                "additionalProperties": False,
            },
        },
        "required": ["cursor", "has_more", "server_time", "protocol", "changes"],
        "additionalProperties": False,
    }
    mutation_names = sorted(mutations_by_name())
    push_request = {
        "$schema": DRAFT,
        "$id": f"{BASE}push-request.json",
        "title": "POST /sync/push body",
        "type": "object",
        "properties": {
            "device_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "app_version": {"type": "string", "maxLength": 32},
            "mutations": {
                "type": "array",
                "maxItems": 500,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "name": {"type": "string", "enum": mutation_names},
                        "args": {"type": "object"},
                        "base_version": {"type": ["integer", "null"], "minimum": 1},
                        "client_time": {"type": ["string", "null"], "format": "date-time"},
                    },
                    "required": ["id", "name", "args"],
                    "additionalProperties": False,
                    "allOf": [
                        {
                            "if": {"properties": {"name": {"const": name}}},
                            "then": {"properties": {"args": {"$ref": f"mutations/{name}.json"}}},
                        }
                        for name in mutation_names
                    ],
                },
            },
        },
        "required": ["device_id", "mutations"],
        "additionalProperties": False,
    }
    result = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["applied", "duplicate", "conflict", "rejected"]},
            "result": {"type": ["object", "null"]},
            "original": {"type": "object"},
            "problem": PROBLEM,
            "flags": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "detail": {"type": "string"},
                        "work_order_id": {"type": ["string", "null"]},
                    },
                    "required": ["code", "detail"],
                },
            },
        },
        "required": ["id", "status"],
        "allOf": [
            {"if": {"properties": {"status": {"const": "applied"}}}, "then": {"required": ["result"]}},
            {"if": {"properties": {"status": {"const": "duplicate"}}}, "then": {"required": ["original"]}},
            {
                "if": {"properties": {"status": {"enum": ["conflict", "rejected"]}}},
                "then": {"required": ["problem"]},
            },
        ],
    }
    push_response = {
        "$schema": DRAFT,
        "$id": f"{BASE}push-response.json",
        "title": "POST /sync/push response",
        "type": "object",
        "properties": {
            "server_time": {"type": "string", "format": "date-time"},
            "protocol": {"type": "integer"},
            "results": {"type": "array", "items": result},
        },
        "required": ["server_time", "protocol", "results"],
        "additionalProperties": False,
    }
    return {
        "pull-response.json": pull,
        "push-request.json": push_request,
        "push-response.json": push_response,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """Relative path under mobile_contracts/schemas -> schema."""
    out = {f"entities/{e.name}.json": entity_schema(e) for e in synced_entities().values()}
    out.update({f"mutations/{m.name}.json": mutation_schema(m) for m in mutations_by_name().values()})
    out.update(envelope_schemas())
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for relative, schema in sorted(all_schemas().items()):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written

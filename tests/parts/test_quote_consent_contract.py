"""The mobile contract for quote consent (`mobile_contracts/quote-consent.md`): every vector is the
server's document, canonical text and hash; the server prices each vector's scenario into exactly that
document; a real quote, rebuilt from the API and from sync rows the way the doc tells a device to,
hashes to what the server stores; the `quote.consent` results the doc lists are what the server answers."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from backend.kernel.base import new_id, utcnow
from backend.kernel.canonical import canonical_hash, canonical_json
from backend.parts.billing_models import LabourRate, Quote, QuoteConsent, QuoteLine
from backend.parts.quotes import quote_document, quote_hash
from tests import factories

CONTRACTS = Path(__file__).resolve().parents[2] / "mobile_contracts"
VECTORS = json.loads((CONTRACTS / "quote_consent_vectors.json").read_text("utf-8"))["vectors"]
PROTOCOL = {"X-Sync-Protocol": "2"}
DOCUMENT_KEYS = {
    "currency",
    "finding",
    "id",
    "lines",
    "covered_fen",
    "discount_fen",
    "subtotal_fen",
    "total_fen",
    "work_order_id",
}
LINE_KEYS = ("amount_fen", "covered_by_warranty", "description", "kind", "quantity", "sku", "unit_price_fen")


# --- what a device implements from the doc alone -------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def doc_canonical(value: Any) -> str:
    """acceptance.md section 1, written out by hand as a mobile developer would (no json module)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        out = []
        for char in value:
            if char in _ESCAPES:
                out.append(_ESCAPES[char])
            elif ord(char) < 0x20:
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "[" + ",".join(doc_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{doc_canonical(k)}:{doc_canonical(value[k])}" for k in sorted(value)) + "}"
    raise TypeError(f"not in a quote document: {value!r}")


def doc_hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(doc_canonical(document).encode("utf-8")).hexdigest()


def document_from(quote: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """quote-consent.md section 2: the quote row's fields and its lines in `position` order."""
    return {
        "currency": "CNY",
        "finding": quote["finding"],
        "id": quote["id"],
        "lines": [
            {key: line[key] for key in LINE_KEYS} for line in sorted(lines, key=lambda line: line["position"])
        ],
        "covered_fen": quote["covered_fen"],
        "discount_fen": quote["discount_fen"],
        "subtotal_fen": quote["subtotal_fen"],
        "total_fen": quote["total_fen"],
        "work_order_id": quote["work_order_id"],
    }


# --- helpers --------------------------------------------------------------------------------------


def _device(headers: dict[str, str]) -> str:
    """One phone per technician (a device id belongs to the technician who registered it)."""
    return "phone-" + hashlib.sha256(headers["Authorization"].encode()).hexdigest()[:12]


def _push(client: FlaskClient, headers: dict[str, str], name: str, args: dict[str, Any]) -> dict[str, Any]:
    mutation = {"id": new_id(), "name": name, "args": args, "client_time": "2026-11-23T10:00:00+08:00"}
    response = client.post(
        "/sync/push", json={"device_id": _device(headers), "mutations": [mutation]}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    [result] = response.get_json()["results"]
    return result


def _consent(quote_id: str, quote_hash_shown: str, decision: str = "approved") -> dict[str, Any]:
    return {
        "id": new_id(),
        "quote_id": quote_id,
        "decision": decision,
        "quote_hash": quote_hash_shown,
        "signer_name": "张女士",
        "signed_at": "2026-11-23T10:05:00+08:00",
    }


def _scenario(scenario: dict[str, Any]) -> Any:
    """The catalog, fee schedule, customer and job a vector was priced from; the job is in repair."""
    for part in scenario["catalog"]:
        factories.PartFactory(**part)
    for rate in scenario["labour_rates"]:
        factories.LabourRateFactory(**rate)
    for fee in scenario["travel_fees"]:
        factories.TravelFeeFactory(**fee)
    job = scenario["work_order"]
    tech = factories.TechnicianFactory()
    return tech, factories.WorkOrderFactory(
        id=job["id"],
        assignee=tech,
        status="in_repair",
        product_category=job["product_category"],
        fault_type=job["fault_type"],
        complex_job=job["complex_job"],
        product__warranty_end=None
        if not job["product_in_warranty"]
        else utcnow().date() + timedelta(days=30),
        customer__is_contract=scenario["customer"]["is_contract"],
        customer__contract_discount_bp=scenario["customer"]["contract_discount_bp"],
    )


# --- the vectors ----------------------------------------------------------------------------------


def test_the_vectors_cover_what_the_doc_promises():
    documents = [vector["input"] for vector in VECTORS]
    kinds = {line["kind"] for document in documents for line in document["lines"]}
    assert 4 <= len(VECTORS) <= 6 and kinds == {"labour", "part", "travel", "discount"}
    assert any(document["finding"] for document in documents)
    assert any(
        line["covered_by_warranty"] and line["amount_fen"] == 0 for d in documents for line in d["lines"]
    )
    assert any(not canonical.isascii() for canonical in (vector["canonical"] for vector in VECTORS))
    for document in documents:
        assert set(document) == DOCUMENT_KEYS
        assert all(tuple(sorted(line)) == LINE_KEYS for line in document["lines"])


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector["name"])
def test_each_vector_is_the_servers_canonical_text_and_sha256(vector, db):
    document = vector["input"]
    assert canonical_json(document).decode("utf-8") == vector["canonical"] == doc_canonical(document)
    assert canonical_hash(document) == vector["sha256"] == doc_hash(document)
    assert hashlib.sha256(vector["canonical"].encode("utf-8")).hexdigest() == vector["sha256"]

    # The server's own document builder, fed a quote holding these values, yields the vector (lines
    # handed over out of order: `position` decides).
    quote = Quote(**{key: document[key] for key in DOCUMENT_KEYS - {"currency", "lines"}})
    lines = [QuoteLine(position=n, **line) for n, line in enumerate(document["lines"], start=1)]
    quote.lines = list(reversed(lines))
    assert quote_document(quote) == document
    assert quote_hash(quote) == vector["sha256"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector["name"])
def test_each_vector_is_money_the_doc_rules_add_up_to(vector, db):
    document = vector["input"]
    priced = [line for line in document["lines"] if line["kind"] != "discount"]
    discounts = [line for line in document["lines"] if line["kind"] == "discount"]
    for line in priced:
        expected = 0 if line["covered_by_warranty"] else line["quantity"] * line["unit_price_fen"]
        assert line["amount_fen"] == expected
        assert (line["sku"] is not None) == (line["kind"] == "part")
    assert document["subtotal_fen"] == sum(line["amount_fen"] for line in priced)
    assert document["covered_fen"] == sum(
        line["quantity"] * line["unit_price_fen"] for line in priced if line["covered_by_warranty"]
    )
    assert document["total_fen"] == document["subtotal_fen"] - document["discount_fen"]
    if discounts:
        [discount] = discounts
        assert document["lines"][-1] is discount and discount["amount_fen"] == -document["discount_fen"]
        bp = vector["scenario"]["customer"]["contract_discount_bp"]
        assert document["discount_fen"] == (document["subtotal_fen"] * bp + 5_000) // 10_000
    else:
        assert document["discount_fen"] == 0


@pytest.mark.parametrize("vector", VECTORS, ids=lambda vector: vector["name"])
def test_the_server_prices_each_vector_scenario_into_exactly_its_document(vector, db, client, auth):
    scenario = vector["scenario"]
    tech, order = _scenario(scenario)
    headers = {**auth(tech.user), **PROTOCOL}
    args = {
        "id": scenario["quote_id"],
        "work_order_id": order.id,
        **scenario["request"],
        "expected_hash": vector["sha256"],
    }

    proposed = _push(client, headers, "quote.propose", args)

    assert proposed["status"] == "applied", proposed.get("problem")
    assert proposed["result"]["quote"]["content_hash"] == vector["sha256"]
    stored = db.get(Quote, scenario["quote_id"])
    assert quote_document(stored) == vector["input"] and stored.content_hash == vector["sha256"]


# --- a real quote, rebuilt the way a device does --------------------------------------------------


def test_a_quote_from_the_api_and_from_sync_rebuilds_to_the_hash_the_server_stores(db, client, auth):
    factories.LabourRateFactory()
    factories.TravelFeeFactory()
    part = factories.PartFactory(sku="COMP-1.5P", name="变频压缩机 1.5匹", unit_price_fen=98_000)
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(
        assignee=tech,
        status="in_repair",
        product__warranty_end=None,
        customer__is_contract=True,
        customer__contract_discount_bp=1_500,
    )
    created = client.post(
        f"/work-orders/{order.id}/quotes",
        json={
            "finding": '压缩机绕组短路：\n需更换 "原厂" 压缩机',
            "lines": [{"kind": "part", "sku": part.sku}, {"kind": "labour"}, {"kind": "travel"}],
        },
        headers=auth(tech.user),
    )
    assert created.status_code == 201, created.get_json()
    quote_id = created.get_json()["id"]
    stored = db.get(Quote, quote_id)

    # Online: the quote as the customer's app or the technician reads it over HTTP.
    shown = client.get(f"/quotes/{quote_id}", headers=auth(order.customer.user)).get_json()
    from_api = document_from(shown, shown["lines"])
    assert doc_hash(from_api) == shown["content_hash"] == stored.content_hash == quote_hash(stored)
    assert from_api == quote_document(stored)
    assert [line["kind"] for line in from_api["lines"]] == ["part", "labour", "travel", "discount"]
    assert from_api["lines"][-1]["description"] == "合同客户折扣 15%"

    # Offline: the device's replica after a pull (entities `quotes` and `quote_lines`).
    headers = {**auth(tech.user), **PROTOCOL}
    changes = client.get(f"/sync/pull?device_id={_device(headers)}", headers=headers).get_json()["changes"]
    [quote_row] = [row for row in changes["quotes"]["upserts"] if row["id"] == quote_id]
    line_rows = [row for row in changes["quote_lines"]["upserts"] if row["quote_id"] == quote_id]
    from_sync = document_from(quote_row, line_rows)
    assert doc_hash(from_sync) == quote_row["content_hash"] == stored.content_hash

    # The customer consents on the phone to the hash the device computed itself.
    consent = _push(client, headers, "quote.consent", _consent(quote_id, doc_hash(from_sync)))
    assert consent["status"] == "applied", consent.get("problem")
    assert consent["result"]["quote"] == {"id": quote_id, "version": 2, "status": "approved"}
    record = db.get(QuoteConsent, consent["result"]["quote_consent"]["id"])
    assert (record.quote_hash, record.channel, record.signer_name) == (
        stored.content_hash,
        "device",
        "张女士",
    )


# --- the results the doc lists ---------------------------------------------------------------------


def _proposed(db, client, auth, **order_kwargs: Any) -> tuple[Any, dict[str, str], Quote]:
    if db.scalar(sa.select(sa.func.count()).select_from(LabourRate)) == 0:
        factories.LabourRateFactory()
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(assignee=tech, status="in_repair", **order_kwargs)
    headers = {**auth(tech.user), **PROTOCOL}
    quote_id = new_id()
    proposed = _push(
        client,
        headers,
        "quote.propose",
        {"id": quote_id, "work_order_id": order.id, "lines": [{"kind": "labour"}]},
    )
    assert proposed["status"] == "applied"
    return order, headers, db.get(Quote, quote_id)


def test_consent_to_a_different_hash_is_a_hash_mismatch_conflict_and_nothing_is_recorded(db, client, auth):
    _, headers, quote = _proposed(db, client, auth)
    shown = "f" * 64

    result = _push(client, headers, "quote.consent", _consent(quote.id, shown))

    assert result["status"] == "conflict"
    problem = result["problem"]
    assert problem["code"] == "quote.hash_mismatch"
    assert (problem["quote_id"], problem["current_status"], problem["current_hash"]) == (
        quote.id,
        "proposed",
        quote.content_hash,
    )
    assert problem["server_state"]["entity"] == "quotes"
    row = problem["server_state"]["row"]
    assert (row["id"], row["status"], row["content_hash"], row["version"]) == (
        quote.id,
        "proposed",
        quote.content_hash,
        quote.version,
    )
    assert db.scalar(sa.select(sa.func.count()).select_from(QuoteConsent)) == 0


def test_a_second_decision_is_already_decided_and_an_expired_quote_is_expired(db, client, auth):
    _, headers, quote = _proposed(db, client, auth)
    declined = _push(client, headers, "quote.consent", _consent(quote.id, quote.content_hash, "declined"))
    again = _push(client, headers, "quote.consent", _consent(quote.id, quote.content_hash))
    assert declined["status"] == "applied" and declined["result"]["quote"]["status"] == "declined"
    assert again["status"] == "conflict" and again["problem"]["code"] == "quote.already_decided"
    assert again["problem"]["current_status"] == "declined"
    assert again["problem"]["server_state"]["entity"] == "quotes"
    assert again["problem"]["server_state"]["row"]["id"] == quote.id
    assert again["problem"]["server_state"]["row"]["status"] == "declined"
    assert again["problem"]["server_state"]["row"]["version"] == declined["result"]["quote"]["version"]

    _, headers, late = _proposed(db, client, auth)
    late.expires_at = utcnow() - timedelta(minutes=1)
    db.commit()
    expired = _push(client, headers, "quote.consent", _consent(late.id, late.content_hash))
    assert expired["status"] == "conflict" and expired["problem"]["code"] == "quote.expired"
    assert expired["problem"]["current_status"] == "expired"
    # The row as stored, i.e. as the next pull brings it: still `proposed`, with `expires_at` passed.
    db.expire_all()
    stored = db.get(Quote, late.id)
    row = expired["problem"]["server_state"]["row"]
    assert expired["problem"]["server_state"]["entity"] == "quotes"
    assert (row["id"], row["status"], row["version"]) == (late.id, stored.status, stored.version)
    assert datetime.fromisoformat(row["expires_at"]) < utcnow()
    assert stored.consents == []


def test_consent_for_an_unknown_quote_is_rejected_as_not_found(db, client, auth):
    _, headers, _ = _proposed(db, client, auth)
    result = _push(client, headers, "quote.consent", _consent(new_id(), "a" * 64))
    assert result["status"] == "rejected" and result["problem"]["code"] == "quote.not_found"


def test_an_expensive_part_fitted_without_consent_is_consent_required(db, client, auth):
    order, headers, _ = _proposed(db, client, auth, product__warranty_end=None)
    part = factories.PartFactory(unit_price_fen=98_000)
    result = _push(
        client,
        headers,
        "parts.consume",
        {"id": new_id(), "work_order_id": order.id, "sku": part.sku, "quantity": 1},
    )
    assert result["status"] == "conflict"
    problem = result["problem"]
    assert problem["code"] == "quote.consent_required"
    assert "server_state" in problem and problem["server_state"] is None  # no usage recorded
    assert (
        problem["sku"],
        problem["approved_quantity"],
        problem["used_quantity"],
        problem["threshold_fen"],
    ) == (
        part.sku,
        0,
        0,
        50_000,
    )


def test_a_proposal_priced_differently_is_price_changed_with_the_servers_document_and_its_consent_is_rejected(
    db, client, auth
):
    factories.LabourRateFactory()
    tech = factories.TechnicianFactory()
    order = factories.WorkOrderFactory(
        assignee=tech, status="in_repair", customer__is_contract=True, customer__contract_discount_bp=1_000
    )
    headers = {**auth(tech.user), **PROTOCOL}
    quote_id, device_hash = new_id(), "0" * 64  # the device could not see the contract discount
    batch = [
        {
            "id": new_id(),
            "name": "quote.propose",
            "args": {
                "id": quote_id,
                "work_order_id": order.id,
                "lines": [{"kind": "labour"}],
                "expected_hash": device_hash,
            },
        },
        {"id": new_id(), "name": "quote.consent", "args": _consent(quote_id, device_hash)},
    ]
    response = client.post(
        "/sync/push", json={"device_id": _device(headers), "mutations": batch}, headers=headers
    )
    proposed, consent = response.get_json()["results"]

    assert proposed["status"] == "conflict" and proposed["problem"]["code"] == "quote.price_changed"
    document = proposed["problem"]["document"]
    assert doc_hash(document) == proposed["problem"]["current_hash"]
    assert "server_state" in proposed["problem"] and proposed["problem"]["server_state"] is None
    assert set(document) == DOCUMENT_KEYS and document["id"] == quote_id
    assert consent["status"] == "rejected" and consent["problem"]["code"] == "quote.not_found"
    assert db.get(Quote, quote_id) is None

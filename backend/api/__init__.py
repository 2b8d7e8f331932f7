"""HTTP resources, one module (or package) per domain. `MODULES` lists every blueprint; registering a
resource is adding it here."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api import acceptance, evidence, geo, onsite, sync
from backend.api.accounts import auth, directory
from backend.api.parts import billing, quotes, stock
from backend.api.work_orders import orders, requests, tracking

MODULES: tuple[Blueprint, ...] = (
    auth.blp,
    requests.blp,
    requests.partner_blp,
    orders.blp,
    tracking.blp,
    directory.blp,
    onsite.blp,
    acceptance.blp,
    geo.blp,
    evidence.blp,
    evidence.transfer_blp,
    sync.blp,
    stock.blp,
    quotes.blp,
    billing.blp,
)

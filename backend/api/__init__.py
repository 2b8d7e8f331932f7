"""HTTP resources. `MODULES` lists every blueprint; registering a resource is adding it here."""

from __future__ import annotations

from flask_smorest import Blueprint

from backend.api import (
    acceptance,
    attachments,
    auth,
    billing,
    directory,
    dispatch,
    onsite,
    parts,
    quotes,
    requests,
    sync,
    tracking,
    work_orders,
)

MODULES: tuple[Blueprint, ...] = (
    auth.blp,
    requests.blp,
    requests.partner_blp,
    work_orders.blp,
    tracking.blp,
    directory.blp,
    onsite.blp,
    acceptance.blp,
    dispatch.blp,
    attachments.blp,
    attachments.transfer_blp,
    sync.blp,
    parts.blp,
    quotes.blp,
    billing.blp,
)

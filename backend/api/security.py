"""Who is calling: a user with a JWT bearer token, or a partner platform with an `X-API-Key`."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request
from flask_jwt_extended import get_jwt, get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from backend.accounts.customers import Customer
from backend.accounts.service import hash_api_key
from backend.accounts.technicians import Technician
from backend.accounts.users import Partner, User
from backend.errors import Problem
from backend.extensions import db_session
from backend.kernel.permissions import Permission
from backend.kernel.roles import PARTNER_ROLE
from backend.policy import Principal, authorize

API_KEY_HEADER = "X-API-Key"
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
API_KEY: list[dict[str, list[str]]] = [{"apiKeyAuth": []}]


def _unauthenticated(detail: str, code: str = "auth.required") -> Problem:
    return Problem(code, detail, status=401, title="Unauthorized")


def _partner_principal(key: str) -> Principal:
    partner = (
        db_session()
        .scalars(
            sa.select(Partner).where(Partner.api_key_hash == hash_api_key(key), Partner.active.is_(True))
        )
        .one_or_none()
    )
    if partner is None:
        raise _unauthenticated("The API key is not valid.", "auth.invalid_api_key")
    return Principal(role=PARTNER_ROLE, partner_id=partner.id, display_name=partner.name)


# The user's technician and customer ids, correlated to the users row of the statement.
_TECHNICIAN_ID = sa.select(Technician.id).where(Technician.user_id == User.id).scalar_subquery()
_CUSTOMER_ID = sa.select(Customer.id).where(Customer.user_id == User.id).scalar_subquery()


def _principal(user: User, technician_id: str | None, customer_id: str | None) -> Principal:
    return Principal(
        role=user.role,
        user_id=user.id,
        technician_id=technician_id,
        customer_id=customer_id,
        display_name=user.display_name,
    )


def principal_for_user(user: User) -> Principal:
    technician_id, customer_id = (
        db_session().execute(sa.select(_TECHNICIAN_ID, _CUSTOMER_ID).where(User.id == user.id)).one()
    )
    return _principal(user, technician_id, customer_id)


def _user_principal(refresh: bool = False) -> Principal:
    try:
        verify_jwt_in_request(refresh=refresh)
    except ExpiredSignatureError:
        raise _unauthenticated("The token has expired; refresh it.", "auth.token_expired") from None
    except (JWTExtendedException, PyJWTError) as exc:
        raise _unauthenticated(f"A valid bearer token is required ({exc}).") from None
    # One round trip for every authenticated request: the user with their technician and customer ids.
    row = (
        db_session()
        .execute(sa.select(User, _TECHNICIAN_ID, _CUSTOMER_ID).where(User.id == get_jwt_identity()))
        .one_or_none()
    )
    if row is None or not row[0].active:
        raise _unauthenticated("The account is disabled.", "auth.account_disabled")
    user, technician_id, customer_id = row
    if get_jwt().get("role") != user.role:
        raise _unauthenticated("The account's role changed; log in again.", "auth.stale_token")
    return _principal(user, technician_id, customer_id)


def current_principal() -> Principal:
    if "principal" not in g:
        key = request.headers.get(API_KEY_HEADER)
        g.principal = _partner_principal(key) if key else _user_principal()
    principal: Principal = g.principal
    return principal


def require(action: Permission) -> Principal:
    """Authenticate the caller and check that their role may perform `action`."""
    principal = current_principal()
    authorize(principal, action)
    return principal

"""Who is calling: a user with a JWT bearer token, or a partner platform with an `X-API-Key`."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g, request
from flask_jwt_extended import get_jwt, get_jwt_identity, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import ExpiredSignatureError, PyJWTError

from backend.errors import Problem
from backend.extensions import db_session
from backend.models import PARTNER_ROLE, Customer, Partner, Technician, User
from backend.policy import Principal, authorize
from backend.services.accounts import hash_api_key

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


def principal_for_user(user: User) -> Principal:
    session = db_session()
    technician_id = session.scalar(sa.select(Technician.id).where(Technician.user_id == user.id))
    customer_id = session.scalar(sa.select(Customer.id).where(Customer.user_id == user.id))
    return Principal(
        role=user.role,
        user_id=user.id,
        technician_id=technician_id,
        customer_id=customer_id,
        display_name=user.display_name,
    )


def _user_principal(refresh: bool = False) -> Principal:
    try:
        verify_jwt_in_request(refresh=refresh)
    except ExpiredSignatureError:
        raise _unauthenticated("The token has expired; refresh it.", "auth.token_expired") from None
    except (JWTExtendedException, PyJWTError) as exc:
        raise _unauthenticated(f"A valid bearer token is required ({exc}).") from None
    user = db_session().get(User, get_jwt_identity())
    if user is None or not user.active:
        raise _unauthenticated("The account is disabled.", "auth.account_disabled")
    if get_jwt().get("role") != user.role:
        raise _unauthenticated("The account's role changed; log in again.", "auth.stale_token")
    return principal_for_user(user)


def current_principal() -> Principal:
    if "principal" not in g:
        key = request.headers.get(API_KEY_HEADER)
        g.principal = _partner_principal(key) if key else _user_principal()
    principal: Principal = g.principal
    return principal


def require(action: str) -> Principal:
    """Authenticate the caller and check that their role may perform `action`."""
    principal = current_principal()
    authorize(principal, action)
    return principal

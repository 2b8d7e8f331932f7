"""Log in with a username and password; get a short-lived access token and a refresh token."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_jwt_extended import create_access_token, create_refresh_token

from backend.accounts.service import authenticate
from backend.accounts.users import User
from backend.api.schemas import StrictSchema
from backend.api.security import BEARER, _user_principal, current_principal, principal_for_user
from backend.errors import Problem
from backend.extensions import Blueprint, db_session

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Log in and refresh tokens.")


class LoginSchema(StrictSchema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=256))


class PrincipalSchema(ma.Schema):
    role = ma.fields.String()
    user_id = ma.fields.String(allow_none=True)
    partner_id = ma.fields.String(allow_none=True)
    technician_id = ma.fields.String(allow_none=True)
    customer_id = ma.fields.String(allow_none=True)
    display_name = ma.fields.String()


class TokensSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String()
    principal = ma.fields.Nested(PrincipalSchema)


def _tokens_for(user: User) -> dict[str, Any]:
    claims = {"role": user.role}
    return {
        "access_token": create_access_token(identity=user.id, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user.id, additional_claims=claims),
        "token_type": "Bearer",
    }


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokensSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Log in with username and password; returns access and refresh tokens."""
        user = authenticate(session=db_session(), username=data["username"], password=data["password"])
        if user is None:
            raise Problem(
                "auth.invalid_credentials", "Wrong username or password.", status=401, title="Unauthorized"
            )

        return {**_tokens_for(user), "principal": principal_for_user(user)}


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.response(200, TokensSchema)
    @blp.doc(security=BEARER)
    def post(self) -> dict[str, Any]:
        """Exchange a refresh token (as the bearer token) for a new pair of tokens."""
        principal = _user_principal(refresh=True)
        user = db_session().get(User, principal.user_id)
        assert user is not None
        return {**_tokens_for(user), "principal": principal}


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, PrincipalSchema)
    @blp.doc(security=BEARER)
    def get(self) -> Any:
        """Who am I: role and the technician/customer/partner profile the token is bound to."""
        return current_principal()

"""The UserInfo endpoint (OIDC Core 5.3): the claims an access token's scopes allow."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from idp.context import services, token_required
from idp.errors import ApiError
from idp.models import User
from idp.oauth import user_claims
from idp.security import CORS_PREFLIGHT

bp = Blueprint("userinfo", __name__)


@bp.route("/oauth/userinfo", methods=["OPTIONS"])
def preflight():
    return Response(status=204, headers=CORS_PREFLIGHT)


@bp.route("/oauth/userinfo", methods=["GET", "POST"], provide_automatic_options=False)
@token_required("openid")
def userinfo():
    provider = services().provider
    token = g.token
    client = provider.clients.get(token.client_id)
    with provider.db.read() as s:
        user = s.get(User, token.user_id) if token.user_id else None
    if user is None or client is None or user.disabled:
        raise ApiError("invalid_token", "The token's account is not active.", 401)
    response = jsonify(user_claims(provider, user, client, " ".join(token.scopes)))
    response.headers["Cache-Control"] = "no-store"
    return response

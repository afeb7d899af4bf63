"""Provider metadata (OIDC Discovery 1.0 and RFC 8414), and the endpoints that serve it and
the provider's public keys: every endpoint is found from here."""

from __future__ import annotations

from flask import Blueprint, jsonify

from config.settings import Settings
from idp.claims import SCOPE_CLAIMS
from idp.client_metadata import (
    ACR_VALUES,
    ASSERTION_ALGS,
    AUTH_METHODS,
    GRANT_TYPES,
    ID_TOKEN_ALGS,
    STANDARD_SCOPES,
)
from idp.context import services


def metadata(settings: Settings) -> dict:
    iss = settings.issuer
    claims = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "at_hash",
        "azp",
    ]
    for names in SCOPE_CLAIMS.values():
        claims.extend(names)
    return {
        "issuer": iss,
        "authorization_endpoint": f"{iss}/oauth/authorize",
        "token_endpoint": f"{iss}/oauth/token",
        "userinfo_endpoint": f"{iss}/oauth/userinfo",
        "jwks_uri": f"{iss}/oauth/jwks",
        "registration_endpoint": f"{iss}/oauth/register",
        "introspection_endpoint": f"{iss}/oauth/introspect",
        "revocation_endpoint": f"{iss}/oauth/revoke",
        "end_session_endpoint": f"{iss}/oauth/logout",
        "scopes_supported": list(STANDARD_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": sorted(set(claims)),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["en", "zh-CN"],
        "claims_locales_supported": ["en", "zh-CN"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
    }


bp = Blueprint("discovery", __name__)


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery():
    response = jsonify(metadata(services().provider.settings))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/oauth/jwks")
def jwks():
    provider = services().provider
    response = jsonify(provider.keyring.jwks())
    response.headers["Cache-Control"] = f"public, max-age={provider.settings.jwks_cache_ttl}"
    return response

"""The access-token guard that every OneTrip API uses (RFC 6750 bearer, RFC 9068 JWT).

Authlib's :class:`~authlib.integrations.flask_oauth2.ResourceProtector` with its RFC 9068
validator does the checking (signature, ``iss``, ``aud``, ``exp``, ``typ``, the claims a
JWT access token must carry, scopes); :class:`AccessTokenValidator` adds what is OneTrip's:
only the provider's own published ES256 keys, the revocation list, and a citizen behind
the token's grant who is still active.

``require_token("sign")`` wraps a view; inside it ``flask.g.token`` (a :class:`TokenInfo`)
says which client and which citizen (if any) the token speaks for. Every scope named is
required. A missing or bad token is refused 401 ``invalid_token``, a token without the
scope 403 ``insufficient_scope``, each with its RFC 6750 ``WWW-Authenticate`` challenge, as
a :class:`config.errors.Refusal` that the app's one error handler renders. Packages receive
the guard from the app factory, so they never import the provider.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from flask import g
from flask import request as flask_request
from joserfc.jwk import GuestProtocol, Key

from config.errors import Refusal
from idp.models import User
from idp.provider import Provider
from idp.tokens import ACCESS_TOKEN_TYPE

_MAX_TOKEN = 4096


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    scopes: frozenset[str]
    user_id: int | None
    username: str | None
    claims: dict = field(repr=False)


class AccessTokenValidator(JWTBearerTokenValidator):
    """RFC 9068 validation of the provider's access tokens, plus revocation and account
    checks; a valid token's claims carry ``citizen``: ``(user_id, username)`` or
    ``(None, None)`` for a token without a grant (client credentials)."""

    def __init__(self, provider: Provider) -> None:
        issuer = provider.settings.issuer
        super().__init__(issuer=issuer, resource_server=issuer)
        self.provider = provider

    def get_jwks(self):
        return self._key  # a joserfc key resolver: only published ES256 keys, by kid

    def _key(self, token: GuestProtocol) -> Key:
        header = token.headers()
        if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("alg") != "ES256":
            raise InvalidTokenError()
        key = self.provider.keyring.public_key(str(header.get("kid", "")))
        if key is None:
            raise InvalidTokenError()
        return key

    def authenticate_token(self, token_string: str):
        if len(token_string) > _MAX_TOKEN or token_string.count(".") != 2:
            raise InvalidTokenError()
        try:
            return super().authenticate_token(token_string)
        except (ValueError, TypeError):  # a malformed segment joserfc did not wrap
            raise InvalidTokenError() from None

    def validate_token(self, token, scopes, request, **kwargs) -> None:
        tokens = self.provider.tokens
        if tokens.is_revoked(token):
            raise InvalidTokenError()
        token.citizen = (None, None)
        if token.get("gid"):
            with self.provider.db.read() as session:
                grant = tokens.grant_for(session, token["gid"])
                user = session.get(User, grant.user_id) if grant and grant.user_id else None
                if user is None or user.disabled:
                    raise InvalidTokenError()
                token.citizen = (user.id, user.username)
        super().validate_token(token, scopes, request, **kwargs)


_REFUSALS = {
    401: ("invalid_token", "A valid access token is required."),
    403: ("insufficient_scope", "The access token lacks a required scope."),
}


class TokenGuard(ResourceProtector):
    """Authlib's resource protector for the provider's tokens, with OneTrip's decorator
    (``require_token("scope", ...)``) and refusals."""

    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider
        self.register_token_validator(AccessTokenValidator(provider))

    def parse_request_authorization(self, request):
        """The ``Authorization: Bearer`` header, else (RFC 6750 2.2) a form-encoded POST
        body's ``access_token``."""
        if not request.headers.get("Authorization") and (
            flask_request.method == "POST"
            and flask_request.mimetype == "application/x-www-form-urlencoded"
            and (token := flask_request.form.get("access_token"))
        ):
            return self.get_token_validator("bearer"), token
        return super().parse_request_authorization(request)

    def token(self, *scopes: str) -> TokenInfo:
        """The current request's token, which must carry every one of ``scopes``;
        else a :class:`Refusal` with the RFC 6750 challenge."""
        try:
            claims = self.acquire_token([" ".join(scopes)] if scopes else None)
        except OAuth2Error as error:
            status = 403 if isinstance(error, InsufficientScopeError) else 401
            raise _refusal(status, scopes) from None
        user_id, username = claims.citizen
        return TokenInfo(
            claims["client_id"],
            frozenset(claims.get("scope", "").split()),
            user_id,
            username,
            dict(claims),
        )

    def authenticate(self) -> TokenInfo | None:
        """The current request's token, or None when absent or not valid."""
        try:
            return self.token()
        except Refusal:
            return None

    def __call__(self, *scopes: str):
        def decorator(view):
            @functools.wraps(view)
            def wrapper(*args, **kwargs):
                g.token = self.token(*scopes)
                return view(*args, **kwargs)

            return wrapper

        return decorator


def _refusal(status: int, scopes: tuple[str, ...]) -> Refusal:
    error, description = _REFUSALS[status]
    challenge = f'Bearer error="{error}", error_description="{description}"'
    if scopes:
        challenge += f', scope="{" ".join(scopes)}"'
    headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    return Refusal(error, description, status, headers)

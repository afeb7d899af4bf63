"""The access-token guard that every OneTrip API uses (RFC 6750 bearer, RFC 9068 JWT).

``require_token("sign")`` wraps a view; inside it ``flask.g.token`` says which client and
which citizen (if any) the token speaks for. Packages receive the guard from the app
factory, so they never import the provider.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from flask import g, jsonify, request

from idp.models import User
from idp.provider import Provider


@dataclass(frozen=True)
class TokenInfo:
    client_id: str
    scopes: frozenset[str]
    user_id: int | None
    username: str | None
    claims: dict = field(repr=False)


def _refusal(status: int, error: str, description: str, scopes: tuple[str, ...]):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    challenge = f'Bearer error="{error}", error_description="{description}"'
    if scopes:
        challenge += f', scope="{" ".join(scopes)}"'
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


class TokenGuard:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def authenticate(self) -> TokenInfo | None:
        """The current request's token, or None when absent or not valid."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        if (
            token is None
            and request.method == "POST"
            and request.mimetype == "application/x-www-form-urlencoded"
        ):
            token = request.form.get("access_token")  # RFC 6750 2.2
        claims = self.provider.tokens.decode_access_token(token or "")
        if claims is None:
            return None
        user_id = username = None
        if claims.get("gid"):
            with self.provider.db.read() as session:
                grant = self.provider.tokens.grant_for(session, claims["gid"])
                user = session.get(User, grant.user_id) if grant and grant.user_id else None
                if user is None or user.disabled:
                    return None
                user_id, username = user.id, user.username
        return TokenInfo(
            claims["client_id"],
            frozenset(claims.get("scope", "").split()),
            user_id,
            username,
            claims,
        )

    def __call__(self, *scopes: str):
        def decorator(view):
            @functools.wraps(view)
            def wrapper(*args, **kwargs):
                info = self.authenticate()
                if info is None:
                    return _refusal(
                        401, "invalid_token", "A valid access token is required.", scopes
                    )
                if not set(scopes) <= info.scopes:
                    return _refusal(
                        403,
                        "insufficient_scope",
                        "The access token lacks a required scope.",
                        scopes,
                    )
                g.token = info
                return view(*args, **kwargs)

            return wrapper

        return decorator

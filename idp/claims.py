"""Standard claims per scope (OIDC Core 5.4)."""

from __future__ import annotations

from config.db import epoch
from idp.models import User

SCOPE_CLAIMS = {
    "profile": ("name", "preferred_username", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
}


def userinfo_claims(user: User, scope: str) -> dict:
    """The claims that ``scope`` releases about ``user`` (``sub`` is added by the caller)."""
    values = {
        "name": user.name,
        "preferred_username": user.username,
        "locale": user.locale,
        "updated_at": epoch(user.updated_at) if user.updated_at else None,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "phone_number": user.phone_number,
        "phone_number_verified": False if user.phone_number else None,
        "address": user.address,
    }
    claims = {}
    for name in scope.split():
        for claim in SCOPE_CLAIMS.get(name, ()):
            if values[claim] is not None:
                claims[claim] = values[claim]
    return claims

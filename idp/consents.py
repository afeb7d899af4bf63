"""What each citizen lets each service see: asked per client and scope, remembered, withdrawable."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import audit
from idp.models import Client, Consent, Grant, User
from idp.tokens import TokenService

#: Scopes that are not data about the citizen and never need asking.
SILENT_SCOPES = {"openid"}


def _consent(session: Session, user_id: int, client_id: str) -> Consent | None:
    return session.scalar(
        select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )


def missing_scopes(session: Session, user_id: int, client_id: str, scopes: list[str]) -> list[str]:
    """The requested scopes this citizen has not yet granted this client."""
    row = _consent(session, user_id, client_id)
    granted = set(row.scopes.split()) if row else set()
    return [s for s in scopes if s not in granted and s not in SILENT_SCOPES]


def grant_consent(
    session: Session, user: User, client_id: str, scopes: list[str], *, ip: str | None = None
) -> None:
    row = _consent(session, user.id, client_id)
    if row is None:
        row = Consent(user_id=user.id, client_id=client_id, scopes="")
        session.add(row)
    row.scopes = " ".join(sorted(set(row.scopes.split()) | set(scopes)))
    audit.record(
        session,
        "consent.grant",
        actor=user.username,
        subject=user.username,
        client_id=client_id,
        ip=ip,
        scopes=sorted(scopes),
    )


def list_consents(session: Session, user_id: int) -> list[tuple[Consent, Client]]:
    rows = session.execute(
        select(Consent, Client)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.user_id == user_id)
        .order_by(Consent.granted_at)
    )
    return [tuple(row) for row in rows]


def withdraw_consent(
    session: Session, tokens: TokenService, user: User, client_id: str, *, ip: str | None = None
) -> bool:
    """Forget the consent and revoke every grant (and so every token) the client holds."""
    row = _consent(session, user.id, client_id)
    if row is None:
        return False
    session.delete(row)
    grant_ids = list(
        session.scalars(
            select(Grant.id).where(
                Grant.user_id == user.id, Grant.client_id == client_id, Grant.revoked_at.is_(None)
            )
        )
    )
    tokens.revoke_grants(session, grant_ids, reason="consent_withdrawn", actor=user.username)
    audit.record(
        session,
        "consent.withdraw",
        actor=user.username,
        subject=user.username,
        client_id=client_id,
        ip=ip,
    )
    return True

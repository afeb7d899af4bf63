"""Citizens' accounts as operators look after them: one function per change, shared by the
console (``/admin/citizens``) and the ``onetrip users`` commands.

Every change names the operator (``actor``) in the audit log, in the transaction of the
change. What lives in Redis (SSO sessions, throttle counters) is changed after the
database has committed, so a failed write leaves the sessions as they were rather than a
citizen logged out of an account whose change did not happen.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from biometrics.service import FaceService, face_service
from config import audit
from config.audit import AuditEvent
from config.paging import Page, page_number
from idp.consents import list_consents
from idp.logout import end_all_sessions
from idp.models import ErasedAccount, Grant, User
from idp.operators import roles_of
from idp.provider import Provider
from idp.users import UserError, create_user, erased_name, get_user, set_password

PAGE_SIZE = 25
SIGN_IN_EVENTS = ("login.success", "login.failure", "login.throttled")
_TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass
class Citizen:
    """What the console shows of one account."""

    user: User
    roles: set[str]
    throttled_for: int
    totp: bool
    recovery_codes_left: int
    face_templates: int
    sessions: int
    services: list = field(default_factory=list)
    sign_ins: list = field(default_factory=list)


def search(provider: Provider, query: str = "", page: int = 1) -> Page:
    """Accounts whose username, name or e-mail contains ``query``, by username."""
    query = query.strip()[:100]
    with provider.db.read() as session:
        where = []
        if query:
            needle = query.lower()
            where.append(
                or_(
                    func.lower(User.username).contains(needle, autoescape=True),
                    func.lower(User.name).contains(needle, autoescape=True),
                    func.lower(User.email).contains(needle, autoescape=True),
                )
            )
        total = session.scalar(select(func.count(User.id)).where(*where))
        number = page_number(page, total, PAGE_SIZE)
        rows = session.scalars(
            select(User)
            .where(*where)
            .order_by(User.username)
            .offset((number - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
    return Page(list(rows), number, total, PAGE_SIZE)


def sign_ins(session: Session, username: str, limit: int | None = 20) -> list[AuditEvent]:
    """The account's sign-in attempts, newest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.subject == username, AuditEvent.event.in_(SIGN_IN_EVENTS))
        .order_by(AuditEvent.seq.desc())
    )
    return list(session.scalars(query.limit(limit) if limit else query))


def detail(provider: Provider, faces: FaceService, username: str) -> Citizen:
    provider.runtime.audit.flush()  # this node's sign-ins still waiting in the batch
    with provider.db.read() as session:
        user = get_user(session, username)
        roles = roles_of(session, user.id)
        services = list_consents(session, user.id)
        recent = sign_ins(session, user.username)
    return Citizen(
        user=user,
        roles=roles,
        throttled_for=provider.login_throttle.retry_after(user.username)
        or provider.authenticators.throttle.retry_after(user.username),
        totp=provider.authenticators.enrolled(user.id),
        recovery_codes_left=provider.authenticators.recovery_codes_left(user.id),
        face_templates=faces.count(user.id),
        sessions=len(provider.sso.sids_of_user(user.id)),
        services=services,
        sign_ins=recent,
    )


def generate_temporary_password() -> str:
    """Four groups of four letters and digits that read aloud without confusion."""
    return "-".join(
        "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(4)) for _ in range(4)
    )


def create(
    provider: Provider,
    username: str,
    *,
    name: str,
    email: str,
    phone_number: str | None = None,
    actor: str,
    ip: str | None = None,
) -> tuple[User, str]:
    """An account with a generated temporary password (returned, to hand to the citizen),
    which the first login replaces."""
    password = generate_temporary_password()
    with provider.db.write() as session:
        user = create_user(
            session,
            provider.passwords,
            username,
            name=name,
            email=email,
            password=password,
            phone_number=phone_number or None,
            actor=actor,
            settings=provider.settings,
        )
        user.password_must_change = True
    return user, password


def _revoke_grants(provider: Provider, session: Session, user: User, reason: str, actor: str):
    grants = list(
        session.scalars(
            select(Grant.id).where(Grant.user_id == user.id, Grant.revoked_at.is_(None))
        )
    )
    provider.tokens.revoke_grants(session, grants, reason=reason, actor=actor)


def set_disabled(
    provider: Provider, username: str, disabled: bool, *, actor: str, ip: str | None = None
) -> bool:
    """Disable (sessions ended, tokens revoked) or enable an account; False if it already
    was so (nothing is written then)."""
    with provider.db.write() as session:
        user = get_user(session, username)
        if user.disabled == disabled:
            return False
        user.disabled = disabled
        if disabled:
            _revoke_grants(provider, session, user, "user_disabled", actor)
        audit.record(
            session,
            "user.disable" if disabled else "user.enable",
            actor=actor,
            subject=user.username,
            ip=ip,
        )
        user_id = user.id
    if disabled:
        end_all_sessions(provider, user_id, actor=actor, ip=ip)
    return True


def unlock(provider: Provider, username: str, *, actor: str, ip: str | None = None) -> None:
    """Forget the account's failed passwords, codes and face checks."""
    with provider.db.write() as session:
        user = get_user(session, username)
        audit.record(session, "user.unlock", actor=actor, subject=user.username, ip=ip)
        user_id = user.id
    provider.login_throttle.unlock(user.username)
    provider.authenticators.throttle.unlock(user.username)
    face_service(provider.runtime).throttle.unlock(str(user_id))


def set_temporary_password(
    provider: Provider,
    username: str,
    password: str | None = None,
    *,
    actor: str,
    ip: str | None = None,
) -> str:
    """Give the account a temporary password (generated unless given), which the next
    login must replace; its sessions end and its tokens stop working, since a reset is
    what an operator does when someone else may know the old one."""
    password = password or generate_temporary_password()
    with provider.db.write() as session:
        user = get_user(session, username)
        set_password(
            session, provider.passwords, user, password, actor=actor, temporary=True, ip=ip
        )
        _revoke_grants(provider, session, user, "password_reset", actor)
        user_id = user.id
    end_all_sessions(provider, user_id, actor=actor, ip=ip)
    return password


def end_sessions(provider: Provider, username: str, *, actor: str, ip: str | None = None) -> int:
    """End every SSO session of the account (back-channel logout to its services)."""
    with provider.db.read() as session:
        user_id = get_user(session, username).id
    return end_all_sessions(provider, user_id, actor=actor, ip=ip)


def export(
    provider: Provider, faces: FaceService, username: str, *, actor: str, ip: str | None = None
) -> dict:
    """Everything OneTrip keeps about the account, for the citizen's right of access
    (PIPL art. 45, GDPR art. 15): profile, roles, consents, grants, sign-ins, second
    factors and face template metadata; never a secret, hash or template. The export
    itself is audited."""
    from signing import departments

    provider.runtime.audit.flush()
    with provider.db.write() as session:
        user = get_user(session, username)
        data = {
            "profile": {
                "username": user.username,
                "sub": user.public_sub,
                "name": user.name,
                "email": user.email,
                "email_verified": user.email_verified,
                "phone_number": user.phone_number,
                "address": user.address,
                "locale": user.locale,
                "disabled": user.disabled,
                "always_face": user.always_face,
                "created_at": user.created_at.isoformat() + "Z",
                "updated_at": user.updated_at.isoformat() + "Z",
            },
            "operator_roles": sorted(roles_of(session, user.id)),
            "consents": [
                {
                    "client_id": client.client_id,
                    "client_name": client.metadata_.get("client_name"),
                    "scopes": consent.scopes.split(),
                    "granted_at": consent.granted_at.isoformat() + "Z",
                }
                for consent, client in list_consents(session, user.id)
            ],
            "grants": [
                {
                    "client_id": g.client_id,
                    "scope": g.scope,
                    "acr": g.acr,
                    "amr": g.amr,
                    "created_at": g.created_at.isoformat() + "Z",
                    "revoked_at": g.revoked_at.isoformat() + "Z" if g.revoked_at else None,
                }
                for g in session.scalars(
                    select(Grant).where(Grant.user_id == user.id).order_by(Grant.created_at)
                )
            ],
            "sign_ins": [
                {
                    "at": e.at.isoformat() + "Z",
                    "event": e.event,
                    "ip": e.ip,
                    "method": (e.details or {}).get("method"),
                }
                for e in sign_ins(session, user.username, limit=None)
            ],
            "authenticator_app": {
                "enrolled": provider.authenticators.enrolled(user.id),
                "recovery_codes_left": provider.authenticators.recovery_codes_left(user.id),
            },
            "face_templates": faces.describe(user.id),
            "departments": [
                d["code"]
                for d in departments.list_all(provider.runtime)
                if username in d["members"]
            ],
        }
        audit.record(session, "user.export", actor=actor, subject=user.username, ip=ip)
    return data


def erase(
    provider: Provider, faces: FaceService, username: str, *, actor: str, ip: str | None = None
) -> dict:
    """Erase an account: face templates destroyed, then in one transaction the account,
    its authenticator app, consents, grants (tokens revoked first), roles and department
    memberships, leaving a tombstone that keeps the username from being given to someone
    else. Sessions end first, with back-channel logout to each service.

    The templates go in a transaction of their own (``FaceService.delete``) before the
    account's: should the second fail, the account is still there and erasing it again
    finishes the job; the other order could leave templates of an account that no longer
    exists. Audit rows stay as they are (the log is append-only); see the README.
    """
    if actor == username:
        raise UserError("invalid_request", "an operator cannot erase their own account")
    with provider.db.read() as session:
        user = get_user(session, username)
        user_id = user.id
    ended = end_all_sessions(provider, user_id, actor=actor, ip=ip)
    templates = faces.delete(user_id, subject=user.username, actor=actor, ip=ip)
    with provider.db.write() as session:
        user = get_user(session, username)
        _revoke_grants(provider, session, user, "account_erased", actor)
        provider.authenticators.forget(session, user.id)
        session.add(ErasedAccount(username_hash=erased_name(provider.settings, user.username)))
        session.delete(user)  # consents, grants, roles and memberships go by ON DELETE CASCADE
        audit.record(
            session, "user.erase", actor=actor, subject=username, ip=ip, face_templates=templates
        )
    provider.login_throttle.unlock(username)
    provider.authenticators.throttle.unlock(username)
    return {"username": username, "sessions_ended": ended, "face_templates_deleted": templates}

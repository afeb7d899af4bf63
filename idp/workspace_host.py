"""The ordinary OneTrip login as the officer's workspace (:mod:`signing.workspace`) sees
it: signing never reads the provider's sessions or tables, so the composition root hands
it this :class:`signing.workspace.Host`.

An account counts as signed in with any SSO session (the password is enough to work at
one's desk; signing with the department's seal is what membership governs), unless it
is disabled.
"""

from __future__ import annotations

from flask import request, url_for

from idp.i18n import current_locale
from idp.models import User
from idp.provider import Provider
from idp.sso import COOKIE
from idp.users import find_user
from signing.workspace import Account, Host


def workspace_host(provider: Provider) -> Host:
    def account() -> Account | None:
        sso = provider.sso.load(request.cookies.get(COOKIE))
        if sso is None:
            return None
        with provider.db.read() as session:
            user = session.get(User, sso.user_id)
            if user is None or user.disabled:
                return None
            return Account(user.id, user.username, user.name)

    def user_id(username: str) -> int | None:
        with provider.db.read() as session:
            user = find_user(session, username)
            return user.id if user is not None and not user.disabled else None

    return Host(
        account=account,
        login_url=lambda path: url_for("login.login", next=path),
        locale=current_locale,
        find_user=user_id,
    )

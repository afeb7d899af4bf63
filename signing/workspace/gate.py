"""What every workspace request passes through, and what every workspace view shares.

Signing never reads the identity provider's tables or its sessions: the composition root
hands down a :class:`Host`, the ordinary OneTrip login seen from here (who is signed in,
where the login page is, the page language, the form-token check, a username's id).

:func:`guard` (before each request): a signed-in account (else the login page, and back),
a valid CSRF token on every POST, and the account's memberships with their roles on
``g.officer``. :func:`department` turns a department code of the URL into one of the
officer's memberships, or answers 404: an officer of one department sees nothing of
another's. What an officer may *do* to a document is decided by the same services the
API calls (:mod:`signing.routes`, :mod:`signing.service`, :mod:`signing.departments`).
:func:`headers` gives every answer a policy stricter than the citizen's pages: no script
at all, no inline style, forms only to this site, never framed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, abort, g, redirect, render_template, request

from config.runtime import Runtime
from signing import departments
from signing.routes import Caller
from signing.workspace.texts import translate


@dataclass(frozen=True)
class Account:
    """The signed-in account, as the identity provider names it."""

    user_id: int
    username: str
    name: str


@dataclass(frozen=True)
class Host:
    """The identity provider's side of the workspace (see the module docstring)."""

    account: Callable[[], Account | None]  # this request's SSO account, None if none/disabled
    login_url: Callable[[str], str]  # the login page that comes back to the given path
    locale: Callable[[], str]  # "en" or "zh-CN"
    find_user: Callable[[str], int | None]  # a username's account id


@dataclass(frozen=True)
class Officer:
    account: Account
    memberships: tuple[dict, ...]

    def membership(self, code: str) -> dict | None:
        return next((m for m in self.memberships if m["code"] == code), None)

    def caller(self) -> Caller:
        return Caller(self.account.user_id, self.account.username, None, request.remote_addr)


@dataclass(frozen=True)
class Workspace:
    """What the views need, handed down by :func:`signing.workspace.create_blueprint`."""

    runtime: Runtime
    host: Host


def guard(ws: Workspace):
    account = ws.host.account()
    if account is None:
        return redirect(ws.host.login_url(request.full_path.rstrip("?")))
    memberships = tuple(departments.memberships(ws.runtime, account.user_id))
    g.officer = Officer(account, memberships)
    if not memberships:
        text = translate("Your account is not an officer of any department.")
        return refused(text, 403)
    return None


#: The workspace's pages need no script and no inline style: forbid both, and framing.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def headers(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    return response


def officer() -> Officer:
    return g.officer


def department(code: str) -> dict:
    """The officer's membership of department ``code``; 404 if there is none."""
    found = g.officer.membership(code)
    if found is None:
        abort(404)
    return found


def refused(message: str, status: int):
    """A refusal as a page in the officer's language, with the status it deserves."""
    return render_template("workspace/refused.html", message=message), status


def page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def pdf_download(data: bytes, filename: str | None, suffix: str = "") -> Response:
    """``data`` as a PDF attachment named after ``filename`` (its safe characters)."""
    stem = (filename or "document.pdf").rsplit(".", 1)[0]
    safe = "".join(c for c in stem if c.isalnum() or c in "-_")[:80] or "document"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}{suffix}.pdf"'
    return response

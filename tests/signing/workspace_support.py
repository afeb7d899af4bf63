"""Helpers for the workspace's page tests: a live server, departments, officers signed in.

Departments and officers are made through the services the CLI and the console use
(:func:`signing.departments.create`, :func:`signing.departments.add_member`) on the live
server's own database; officers sign in through the ordinary login page.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from signing.pdfs import make_pdf
from tests.idp.conftest import live_provider
from tests.idp.oidc_browser import PASSWORD, create_user
from tests.idp.operators import server_provider


def live_server(tmp_path_factory, redis_url, pytestconfig) -> Iterator:
    """One ``onetrip serve`` for a module's ``server`` fixture (each test makes its own
    departments), with the server's runtime as ``.runtime``."""
    with live_provider(tmp_path_factory, redis_url, pytestconfig) as live:
        server_provider(live)
        yield live


def departments_of(server, count: int) -> list[str]:
    """``count`` new departments with their seals; their codes."""
    from signing import departments

    codes = []
    for n in range(count):
        code = f"D{secrets.token_hex(3).upper()}"
        departments.create(server.runtime, code, f"第{n + 1}部门{code}", f"Department {code}")
        codes.append(code)
    return codes


def make_officer(server, code: str, role: str = "officer") -> str:
    """A new account that is a member of department ``code`` with ``role``."""
    from idp.users import find_user
    from signing import departments

    username = create_user(server, f"officer{secrets.token_hex(4)}", name="Chen Jing")
    with server.runtime.db.read() as session:
        user = find_user(session, username)
    departments.add_member(server.runtime, code, user.id, username, actor="test", role=role)
    return username


def officer_page(context, server, username: str, path: str):
    """A new page of ``context`` signed in as ``username`` through the login page, at
    ``path`` of the workspace."""
    page = context.new_page()
    page.goto(f"{server.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}*")
    return page


def start_route(server, username: str, codes: list[str], subject: str, **extra) -> str:
    """A route started by ``username`` through :func:`signing.routes.create`; its id."""
    from idp.users import find_user
    from signing import routes
    from signing.routes import Caller

    with server.runtime.db.read() as session:
        user_id = find_user(session, username).id
    record = routes.create(
        server.runtime,
        make_pdf(1, subject),
        codes,
        filename="route.pdf",
        caller=Caller(user_id, username),
        subject=subject,
        stamp=True,
        **extra,
    )
    return record["id"]

"""The officer's workspace (``/workspace``): inbox, routes, signing, history, officers.

Server-rendered pages over the services the JSON API calls (one rule set): membership
through :mod:`signing.departments`, route privacy and the order of steps through
:mod:`signing.routes`, the refusal to sign broken documents through :mod:`signing.service`
and the engine. A few small view modules add their views to one blueprint; every request
passes :func:`signing.workspace.gate.guard` first.
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, url_for

from config.errors import Refusal
from config.paging import Page
from config.runtime import Runtime
from signing import desk
from signing.workspace import batch, history, inbox, members, start
from signing.workspace.gate import Account, Host, Workspace, guard, headers, officer, refused
from signing.workspace.texts import refusal, translate

__all__ = ["Account", "Host", "create_blueprint"]


def create_blueprint(runtime: Runtime, host: Host) -> Blueprint:
    """The workspace's blueprint, on ``runtime``, signed in through ``host``."""
    ws = Workspace(runtime, host)
    bp = Blueprint(
        "workspace",
        __name__,
        url_prefix="/workspace",
        template_folder="../templates",
        static_folder="../static",
        static_url_path="/static",
    )

    @bp.before_request
    def _locale():
        g.locale = host.locale()

    bp.before_request(lambda: guard(ws))
    bp.after_request(headers)

    # Every refusal of a service, shown inside the workspace in the officer's words; what
    # is not a refusal reaches idp/errors.py like anywhere else.
    @bp.errorhandler(Refusal)
    def _refused(exc: Refusal):
        return (*refused(refusal(exc), exc.status), exc.headers)

    @bp.context_processor
    def _texts():
        return {"_": translate, "locale": g.get("locale", "en"), "officer": g.get("officer")}

    # The citizen's account page (idp) shows the routes that concern the citizen.
    @bp.app_template_global("signing_text")
    def _signing_text(text: str, **values) -> str:
        if "locale" not in g:
            g.locale = host.locale()
        return translate(text, **values)

    @bp.app_template_global("routes_concerning")
    def _routes_concerning(citizen_id: int) -> Page:
        return desk.concerning(runtime, citizen_id)

    @bp.get("/")
    def home():
        return redirect(url_for("workspace.inbox", code=officer().memberships[0]["code"]))

    for module in (inbox, history, batch, start, members):
        module.add_views(bp, ws)
    return bp

"""The operator's console (``/admin``): citizens, services, departments, PKI, keys, audit.

One small module per area, each a blueprint of thin views over the services the CLI uses
too (one rule set). Every blueprint shares :mod:`idp.console.gate`: an operator role and a
fresh second factor to get in, a permission per view, CSRF on every form, its own strict
Content-Security-Policy.
"""

from __future__ import annotations

from flask import Flask

from idp.activity import Activity
from idp.components import Components
from idp.console import audit, citizens, departments, gate, overview, pki, services

BLUEPRINTS = (overview.bp, citizens.bp, services.bp, departments.bp, pki.bp, audit.bp)


def register(app: Flask, components: Components) -> None:
    runtime = components.runtime
    app.extensions["onetrip.console"] = gate.Console(
        components=components, activity=Activity(runtime.db, runtime.redis)
    )
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)

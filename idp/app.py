"""The composition root: builds the Flask app from settings and registers every blueprint.

Nothing else in OneTrip reaches into Flask globals for its dependencies: each package's
``web.create_blueprint(runtime, require_token)`` receives the runtime and the access-token
guard it needs.
"""

from __future__ import annotations

from flask import Flask

from config.runtime import Runtime
from idp import bodies, errors, i18n, ops, security
from idp.components import build as build_components
from idp.keys import ensure_keys
from idp.resource import TokenGuard


def create_app(runtime: Runtime | None = None) -> Flask:
    runtime = runtime or Runtime()
    settings = runtime.settings
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="onetrip_flow",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_form_bytes,
        JSON_SORT_KEYS=False,
    )
    app.extensions["onetrip"] = runtime
    security.install(app, settings)
    bodies.install(app, settings)
    errors.install(app)
    i18n.install(app)
    app.extensions["onetrip.components"] = components = build_components(runtime)
    provider = components.provider
    with runtime.db.write() as session:
        ensure_keys(session, settings)
    require_token = TokenGuard(provider)
    app.extensions["onetrip.provider"] = provider
    app.register_blueprint(ops.create_blueprint(runtime, provider))

    from idp.web import create_blueprint as idp_blueprint

    app.register_blueprint(idp_blueprint(runtime, require_token))
    # Issue 17: the steps after a password, the account's security pages, the console.
    from idp import account_security, console, login_steps

    app.register_blueprint(login_steps.bp)
    app.register_blueprint(account_security.bp)
    console.register(app)
    # Domain packages register here, in dependency order.
    from certs.web import create_blueprint as certs_blueprint

    app.register_blueprint(certs_blueprint(runtime, require_token))
    from signing.web import create_blueprint as signing_blueprint

    app.register_blueprint(signing_blueprint(runtime, require_token))
    from idp.workspace_host import workspace_host
    from signing.workspace import create_blueprint as workspace_blueprint

    app.register_blueprint(workspace_blueprint(runtime, workspace_host(provider)))
    from biometrics.web import create_blueprint as biometrics_blueprint

    app.register_blueprint(biometrics_blueprint(runtime, require_token))
    # Last, so that its WSGI wrapper is the outermost: its timing and request id cover
    # every hook and the endpoints served ahead of Flask (idp/token_endpoints.py).
    ops.install(app, runtime)
    return app

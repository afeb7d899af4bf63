"""The composition root: builds the Flask app from settings, the long-lived objects of the
identity side, and registers every blueprint.

A request goes through, from the outside in:

1. :mod:`idp.ops`'s WSGI wrapper: request id, latency metric, access log (every request);
2. :class:`idp.token_endpoints.TokenEndpoints`: ``/oauth/token``, ``/oauth/introspect``
   and ``/oauth/revoke``, answered by Authlib ahead of Flask for speed, with the same
   headers, CORS rule, error JSON and endpoint names as the Flask side;
3. the Flask app: sessions, CSRF on every form (:mod:`idp.security`), body limits
   (:mod:`idp.bodies`), errors (:mod:`idp.errors`), and the blueprints below.

Nothing else in OneTrip reaches into Flask globals for its dependencies: the identity
views read theirs through :func:`idp.context.services`, which is filled here; each domain
package's ``web.create_blueprint(runtime, require_token)`` receives what it needs.
"""

from __future__ import annotations

from flask import Flask

from config.runtime import Runtime
from idp import (
    account,
    account_security,
    authorize,
    bodies,
    console,
    context,
    discovery,
    errors,
    face_counter,
    face_step,
    i18n,
    login,
    login_steps,
    logout_page,
    ops,
    registration,
    security,
    userinfo,
)
from idp.components import build as build_components
from idp.i18n import current_locale, translate
from idp.interactions import InteractionStore
from idp.keys import ensure_keys
from idp.oauth import OneTripServer
from idp.resource import TokenGuard
from idp.token_endpoints import TokenEndpoints

#: The identity pages and APIs, one blueprint per module, in the order a login meets them.
IDENTITY_BLUEPRINTS = (
    discovery.bp,
    authorize.bp,
    login.bp,
    login_steps.bp,  # issue 17: the steps after a password
    face_step.bp,  # issue 13: the face step and the account's face settings
    account.bp,
    account_security.bp,
    logout_page.bp,
    userinfo.bp,
    registration.bp,
    face_counter.bp,  # issue 13: officers at a counter
)


def create_app(runtime: Runtime | None = None) -> Flask:
    runtime = runtime or Runtime()
    settings = runtime.settings
    # The app's own templates and static files are idp's (idp/templates, idp/static).
    app = Flask(__name__, static_url_path="/static/idp")
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
    app.context_processor(lambda: {"_": translate, "locale": current_locale()})

    components = build_components(runtime)
    provider = components.provider
    _ = provider.documents  # built now, so that a bad outbound_networks stops the start
    with runtime.db.write() as session:
        ensure_keys(session, settings)
    server = OneTripServer(provider)
    require_token = TokenGuard(provider)
    context.provide(
        app,
        context.Services(
            components=components,
            server=server,
            require_token=require_token,
            interactions=InteractionStore(runtime),
        ),
    )
    app.register_blueprint(ops_bp := ops.create_blueprint(runtime, provider))

    for bp in IDENTITY_BLUEPRINTS:
        app.register_blueprint(bp)
    console.register(app, components)
    # Domain packages register here, in dependency order.
    from certs.web import create_blueprint as certs_blueprint

    app.register_blueprint(certs_bp := certs_blueprint(runtime, require_token))
    from signing.web import create_blueprint as signing_blueprint

    app.register_blueprint(signing_bp := signing_blueprint(runtime, require_token))
    from idp.workspace_host import workspace_host
    from signing.workspace import create_blueprint as workspace_blueprint

    app.register_blueprint(workspace := workspace_blueprint(runtime, workspace_host(provider)))
    from biometrics.web import create_blueprint as biometrics_blueprint

    app.register_blueprint(biometrics_blueprint(runtime, require_token))
    # Forms everywhere else; these answer JSON and bearer tokens, are posted by other
    # sites by design (an authorization request), or (signing's verify page) change
    # nothing for anyone.
    security.install_csrf(
        app,
        exempt=[
            authorize.authorize,
            ops_bp,
            discovery.bp,
            userinfo.bp,
            registration.bp,
            face_counter.bp,
            certs_bp,
            signing_bp,
        ],
        after_gate=[*console.BLUEPRINTS, workspace],
    )
    # Ahead of Flask, inside the ops wrapper (see the module docstring).
    app.wsgi_app = TokenEndpoints(app.wsgi_app, server, settings)
    # Last, so that its WSGI wrapper is the outermost: its timing and request id cover
    # every hook and the token endpoints.
    ops.install(app, runtime)
    return app

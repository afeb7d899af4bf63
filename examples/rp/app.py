"""A municipal service that logs citizens in with OneTrip, through any certified OIDC library.

Everything comes from discovery: Authlib's Flask client reads the provider's metadata,
sends PKCE (S256) and a nonce, validates the ID token against the JWKS, and the logout
link goes to the ``end_session_endpoint``. The back-channel endpoint ends the local
session of a citizen who signed out at another service.

Settings (environment): ISSUER, CLIENT_ID, CLIENT_SECRET, PORT (default 5000),
SERVICE_NAME (default "Municipal service"), BASE_URL (default http://127.0.0.1:PORT).

Run: ``python examples/rp/app.py``.
"""

from __future__ import annotations

import os
import secrets
import threading
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, render_template_string, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ name }}</title></head>
<body style="font-family: sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem">
<h1>{{ name }}</h1>
{% if user %}
  <p>Welcome, <strong id="citizen">{{ user.get("name") or user["sub"] }}</strong>.</p>
  <table>{% for k, v in user.items() %}<tr><th align="left">{{ k }}</th><td>{{ v }}</td></tr>
  {% endfor %}</table>
  <p><a href="{{ url_for('logout') }}">Sign out</a></p>
{% else %}
  <p>You are not signed in.</p>
  <p><a href="{{ url_for('login') }}">Sign in with OneTrip</a></p>
{% endif %}
</body></html>"""


class SessionRegistry:
    """Which OneTrip sessions (``sid``) ended: a cookie session cannot be reached from the
    back channel, so each request checks its ``sid`` here. In-memory for one process; a
    service with several processes keeps this in its shared store."""

    def __init__(self) -> None:
        self._ended: set[str] = set()
        self._lock = threading.Lock()

    def end(self, sid: str) -> None:
        with self._lock:
            self._ended.add(sid)

    def ended(self, sid: str | None) -> bool:
        with self._lock:
            return sid in self._ended


def create_app(environ: dict | None = None) -> Flask:
    env = os.environ if environ is None else environ
    issuer = env["ISSUER"].rstrip("/")
    port = int(env.get("PORT", "5000"))
    base_url = env.get("BASE_URL", f"http://127.0.0.1:{port}").rstrip("/")
    name = env.get("SERVICE_NAME", "Municipal service")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=env.get("SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_NAME=f"rp_{port}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    oauth = OAuth(app)
    onetrip = oauth.register(
        "onetrip",
        client_id=env["CLIENT_ID"],
        client_secret=env.get("CLIENT_SECRET"),
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )
    ended = SessionRegistry()

    def current_user() -> dict | None:
        user = session.get("user")
        if user and ended.ended(user.get("sid")):
            session.clear()
            return None
        return user

    @app.get("/")
    def home():
        return render_template_string(PAGE, name=name, user=current_user())

    @app.get("/login")
    def login():
        return onetrip.authorize_redirect(f"{base_url}/callback")

    @app.get("/callback")
    def callback():
        if request.args.get("error"):
            abort(400, request.args.get("error_description") or request.args["error"])
        if request.args.get("iss") not in (None, issuer):  # RFC 9207 mix-up defence
            abort(400, "The answer came from another provider.")
        token = onetrip.authorize_access_token()  # PKCE, state, nonce, ID token: Authlib
        claims = dict(token["userinfo"])
        session["user"] = {**claims, **onetrip.userinfo(token=token)}
        session["id_token"] = token["id_token"]
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout():
        id_token = session.get("id_token")
        session.clear()
        metadata = onetrip.load_server_metadata()
        params = {"post_logout_redirect_uri": f"{base_url}/"}
        if id_token:
            params["id_token_hint"] = id_token
        else:
            params["client_id"] = env["CLIENT_ID"]
        return redirect(f"{metadata['end_session_endpoint']}?{urlencode(params)}")

    @app.post("/backchannel-logout")
    def backchannel_logout():
        """OIDC Back-Channel Logout 1.0, section 2.6: validate, then end the session."""
        token = request.form.get("logout_token", "")
        metadata = onetrip.load_server_metadata()
        try:
            keys = KeySet.import_key_set(onetrip.fetch_jwk_set(force=True))
            claims = jwt.decode(token, keys, algorithms=["RS256", "ES256"]).claims
        except (JoseError, ValueError):
            return {"error": "invalid_request"}, 400
        valid = (
            claims.get("iss") == metadata["issuer"]
            and env["CLIENT_ID"] in _as_list(claims.get("aud"))
            and BACKCHANNEL_EVENT in (claims.get("events") or {})
            and "nonce" not in claims
            and claims.get("sid")
        )
        if not valid:
            return {"error": "invalid_request"}, 400
        ended.end(claims["sid"])
        app.logger.info("back-channel logout of sid %s", claims["sid"])
        return "", 200, {"Cache-Control": "no-store"}

    @app.get("/whoami")
    def whoami():
        """For scripts and tests: the citizen of this browser session, as JSON."""
        user = current_user()
        return {"signed_in": user is not None, "user": user}

    return app


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


if __name__ == "__main__":
    application = create_app()
    application.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")), threaded=True)

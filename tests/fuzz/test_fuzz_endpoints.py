"""Malformed requests at every endpoint of a live server: never a 5xx, a hang or a
traceback in the server's log.

The endpoints come from the app's URL map, plus the discovery document for the three that
are served ahead of Flask, so a new endpoint is fuzzed without anyone listing it here; an
endpoint that belongs to no family below fails ``test_every_endpoint_has_an_owner``.
Families follow who owns the code, so a family that finds a bug another engineer must fix
can be marked ``xfail`` with the owner's name while that is pending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
import redis as redis_lib
import requests
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from tests.conftest import (
    LiveServer,
    free_port,
    fresh_database,
    node_env,
    start_server,
    stop_process,
)
from tests.fuzz.strategies import BODY_KINDS, Context, path_values, requests_for
from tests.idp.oidc_browser import Browser, create_client, create_user, forms_of

#: Who owns which endpoints, by Flask endpoint name (a prefix ending in "." names a blueprint).
FAMILIES = {
    "provider": (
        "discovery.discovery",
        "discovery.jwks",
        "authorize.authorize",
        "authorize.resume",
        "authorize.consent",
        "authorize.client_logo",
        "userinfo.userinfo",
        "userinfo.preflight",
        "registration.register",
        "registration.read_client",
        "registration.update_registration",
        "registration.delete",
        "logout.end_session",
        "token.token",
        "token.introspect",
        "token.revoke",
    ),
    "login and account (issue 13)": (
        "login.login",
        "face_step.face_step",
        "account.account",
        "face_step.account_face",
        "face_counter.counter_enrol",
        "account.withdraw",
        "account.logout_everywhere",
        "account.home",
        "account_security.",
        "login_steps.",
        "biometrics.",
    ),
    "console (issue 17)": (
        "console.",
        "console_audit.",
        "console_citizens.",
        "console_departments.",
        "console_pki.",
        "console_services.",
    ),
    "operations (issue 15, operations half)": ("ops.", "static"),
    "pki (issue 14)": ("certs.",),
    "signing (issue 14)": ("signing.",),
    "workspace (issue 17, workspace half)": ("workspace.",),
}
#: Families whose failures are another engineer's to fix, with what was found; remove the
#: entry once the fix is merged.
PENDING: dict[str, str] = {}
#: The endpoints served ahead of Flask (idp/token_endpoints.py), by discovery key.
AHEAD_OF_FLASK = {
    "token_endpoint": "token.token",
    "introspection_endpoint": "token.introspect",
    "revocation_endpoint": "token.revoke",
}


def family_of(endpoint: str) -> str | None:
    for family, names in FAMILIES.items():
        if any(endpoint == n or (n.endswith(".") and endpoint.startswith(n)) for n in names):
            return family
    return None


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    rule: str  # /oauth/register/<client_id>

    def paths(self, context: Context) -> st.SearchStrategy[str]:
        parts = re.split(r"<(?:[a-z]+:)?([a-z_]+)>", self.rule)
        if len(parts) == 1:
            return st.just(self.rule)
        fixed, names = parts[0::2], parts[1::2]
        return st.lists(path_values(context), min_size=len(names), max_size=len(names)).map(
            lambda values: "".join(f + v for f, v in zip(fixed, [*values, ""], strict=True))
        )


class ServerLog:
    """The live server's log, read from where the last look stopped."""

    def __init__(self, path) -> None:
        self.path, self.offset = path, 0

    def errors(self) -> list[str]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            new = log.read()
            self.offset += len(new)
        found = []
        for line in new.decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                if "Traceback" in line or "Error" in line:
                    found.append(line)
                continue
            if isinstance(record, dict) and (
                record.get("level") in ("ERROR", "CRITICAL") or "exception" in record
            ):
                found.append(f"{record.get('message')}\n{record.get('exception', '')}")
        return found


@dataclass
class Target:
    server: LiveServer
    context: Context
    endpoints: list[Endpoint]
    log: ServerLog


def _endpoints(server: LiveServer) -> list[Endpoint]:
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.app import create_app

    runtime = Runtime(load_settings(environ=server.env))
    try:
        app = create_app(runtime)
        # HEAD is GET without a body; OPTIONS is fuzzed where the app answers it itself.
        found = {
            Endpoint(rule.endpoint, method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in sorted(rule.methods - {"HEAD"})
            if method != "OPTIONS" or not getattr(rule, "provide_automatic_options", False)
        }
    finally:
        runtime.db.dispose()
    discovery = requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10).json()
    for key, name in AHEAD_OF_FLASK.items():
        path = discovery[key].removeprefix(server.url)
        found |= {Endpoint(name, method, path) for method in ("POST", "GET", "OPTIONS")}
    return sorted(found, key=lambda e: (e.rule, e.method))


def _context(server: LiveServer, tmp_path) -> Context:
    from joserfc.jwk import ECKey

    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.tokens import mint_access_token

    username = create_user(server)
    client = create_client(server, name="Fuzzed service")
    public = create_client(server, "--public", name="Fuzzed app")
    key = ECKey.generate_key("P-256")
    jwks = tmp_path / "fuzz-jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    keyed = create_client(
        server, "--auth-method", "private_key_jwt", "--jwks-file", str(jwks), name="Keyed"
    )
    token = json.loads(server.cli("clients", "initial-token", "--uses", "10000", "--json").stdout)
    registered = requests.post(
        f"{server.url}/oauth/register",
        json={"client_name": "Self-registered", "redirect_uris": ["http://127.0.0.1:9/cb"]},
        headers={"Authorization": f"Bearer {token['initial_access_token']}"},
        timeout=10,
    ).json()
    runtime = Runtime(load_settings(environ=server.env))
    try:
        access = mint_access_token(runtime, ["openid", "profile", "sign", "pki:enroll"], username)
    finally:
        runtime.db.dispose()
    return Context(
        client_id=client.client_id,
        client_secret=client.client_secret or "",
        redirect_uri=client.redirect_uri,
        public_client_id=public.client_id,
        keyed_client_id=keyed.client_id,
        registered_client_id=registered["client_id"],
        registration_token=registered["registration_access_token"],
        initial_token=token["initial_access_token"],
        access_token=access,
        username=username,
    )


def _signed_in(server: LiveServer, context: Context) -> None:
    """Give ``context`` a live SSO session and its CSRF token, signing in again if the
    last endpoint's examples ended it (sign out everywhere, a new login)."""
    if context.cookies:
        jar = "; ".join(f"{k}={v}" for k, v in context.cookies.items())
        page = requests.get(f"{server.url}/account", headers={"Cookie": jar}, timeout=10)
        if page.status_code == 200:
            return
    browser = Browser(server)
    browser.sign_in(context.username)
    account = browser.get(f"{server.url}/account")
    tokens = [dict(form.fields).get("csrf_token") for form in forms_of(account.text)]
    context.csrf_token = next(token for token in tokens if token)
    context.cookies = {c.name: c.value for c in browser.http.cookies}


@pytest.fixture(scope="module")
def target(tmp_path_factory, redis_url):
    base = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    own_redis = f"{redis_url}{'&' if '?' in redis_url else '?'}db=14"  # not flushed by others
    redis_lib.Redis.from_url(own_redis).flushdb()
    with fresh_database(base) as database_url:
        env = node_env(base / "live", port, own_redis, database_url)
        process = start_server(env, port)
        server = LiveServer(url=env["ONETRIP_ISSUER"], env=env, process=process)
        try:
            log = ServerLog(base / "live" / f"serve-{port}.log")
            target = Target(server, _context(server, base), _endpoints(server), log)
            log.errors()  # what start-up wrote is not the fuzzer's
            yield target
        finally:
            stop_process(process)


def _send(http: requests.Session, url: str, request) -> requests.Response:
    kwargs = {"params": request.query, "headers": request.headers, "allow_redirects": False}
    if request.files is not None:
        kwargs.update(data=request.form, files=request.files)
        kwargs["headers"] = {k: v for k, v in request.headers.items() if k != "Content-Type"}
    elif request.body is not None:
        kwargs["data"] = request.body
    try:
        return http.request(request.method, url, timeout=(5, 20), **kwargs)
    except requests.ConnectionError:
        # A kept-alive connection that the server closed while it sat idle (granian closes
        # one after its header read timeout) fails before any answer; a client may send
        # the request again on a new connection (RFC 9112 section 9.3.1). Once.
        http.close()
        return http.request(request.method, url, timeout=(5, 20), **kwargs)


def _fuzz(target: Target, endpoint: Endpoint) -> list[str]:
    """Run the examples against one endpoint, each kind of body in turn for a POST or a
    PUT (half the examples each); what went wrong."""
    _signed_in(target.server, target.context)
    http = requests.Session()
    with_body = endpoint.method in ("POST", "PUT")
    examples = settings.default.max_examples // 2 if with_body else settings.default.max_examples
    failures = []
    for kind in BODY_KINDS if with_body else (None,):
        strategy = requests_for(
            endpoint.method, endpoint.paths(target.context), target.context, kind
        )

        @settings(max_examples=examples)
        @given(request=strategy)
        def one(request) -> None:
            try:
                answer = _send(http, f"{target.server.url}{request.path}", request)
            except requests.Timeout:
                raise AssertionError(
                    f"no answer within 20 s (a hang): {request.describe()}"
                ) from None
            except (
                requests.exceptions.InvalidHeader,
                requests.exceptions.InvalidURL,
                UnicodeError,
            ):
                reject()  # requests itself would not send this
            errors = target.log.errors()
            assert answer.status_code < 500 and not errors, (
                f"{answer.status_code} {answer.text[:300]!r}\n{request.describe()}\n"
                + "\n".join(errors)[-3000:]
            )

        try:
            one()
        except Exception as exc:  # Hypothesis raises the falsifying example's error
            body = f", {kind} bodies" if kind else ""
            causes = "".join(f"\n  {e!r}" for e in getattr(exc, "exceptions", ()))
            failures.append(
                f"{endpoint.method} {endpoint.rule} ({endpoint.name}{body}): {exc}{causes}"
            )
    return failures


def test_every_endpoint_has_an_owner(target):
    orphans = sorted({e.name for e in target.endpoints if family_of(e.name) is None})
    assert not orphans, f"add these endpoints to a family in FAMILIES: {orphans}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "family",
    [
        pytest.param(f, marks=pytest.mark.xfail(reason=PENDING[f], strict=False))
        if f in PENDING
        else f
        for f in FAMILIES
    ],
)
def test_malformed_requests_get_no_5xx_no_hang_and_no_traceback(target, family):
    endpoints = [e for e in target.endpoints if family_of(e.name) == family]
    assert endpoints, f"no endpoint of {family} found"
    failures = [failure for endpoint in endpoints for failure in _fuzz(target, endpoint)]
    assert not failures, (
        f"{len(failures)} failures at {len(endpoints)} endpoints:\n\n" + "\n\n".join(failures)
    )

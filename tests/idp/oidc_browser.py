"""Helpers for driving a live OneTrip provider like a citizen's browser and a relying party.

The relying party is Authlib's own OAuth 2.0 client (``OAuth2Session``) configured from
discovery; the browser is a ``requests.Session`` that follows redirects one at a time and
fills in the provider's HTML forms (csrf_token included) the way a person would.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

PASSWORD = "correct horse battery staple"


def discover(server) -> dict:
    return requests.get(f"{server.url}/.well-known/openid-configuration", timeout=10).json()


def create_user(server, username: str | None = None, *, via_cli: bool = False, **extra: str) -> str:
    """A citizen with :data:`PASSWORD`: through ``onetrip users create``, or (faster, same
    code path) through :func:`idp.users.create_user` on the server's own database."""
    username = username or f"citizen{secrets.token_hex(4)}"
    name, email = extra.get("name", "Li Wei"), extra.get("email", f"{username}@example.cn")
    if via_cli:
        args = ["users", "create", username, "--name", name, "--email", email]
        if extra.get("phone"):
            args += ["--phone", extra["phone"]]
        server.cli(*args, input=PASSWORD + "\n")
        return username
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.passwords import Passwords
    from idp.users import create_user as create

    if not hasattr(server, "runtime"):
        server.runtime = Runtime(load_settings(environ=server.env))
    with server.runtime.db.write() as session:
        create(
            session,
            Passwords(server.runtime.settings),
            username,
            name=name,
            email=email,
            password=PASSWORD,
            phone_number=extra.get("phone"),
        )
    return username


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    info: dict = field(repr=False)


def create_client(
    server,
    *extra: str,
    name: str = "Municipal service",
    redirect_uri: str | None = None,
) -> Client:
    redirect_uri = redirect_uri or f"http://127.0.0.1:9/cb/{secrets.token_hex(4)}"
    out = server.cli(
        "clients", "create", "--name", name, "--redirect-uri", redirect_uri, *extra, "--json"
    )
    info = json.loads(out.stdout)
    return Client(info["client_id"], info.get("client_secret"), redirect_uri, info)


# -- the browser ------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]]
    checkboxes: list[tuple[str, str, bool]]  # name, value, disabled
    buttons: list[tuple[str, str]]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(Form(a.get("action") or "", (a.get("method") or "get"), [], [], []))
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            form = self.forms[-1]
            if a.get("type") == "checkbox":
                if "checked" in a:
                    form.checkboxes.append((a["name"], a.get("value", "on"), "disabled" in a))
            else:
                form.fields.append((a["name"], a.get("value") or ""))
        elif tag == "button" and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """A citizen's browser: cookies, one redirect at a time, forms filled in like a person."""

    def __init__(self, server, **headers: str) -> None:
        self.server = server
        self.http = requests.Session()
        self.http.headers.update({"User-Agent": "OneTrip test browser", **headers})
        self.last: requests.Response | None = None

    def get(self, url: str, **kw) -> requests.Response:
        self.last = self.http.get(url, allow_redirects=False, timeout=20, **kw)
        return self.last

    def navigate(self, url: str, stop_at: str | None = None) -> requests.Response:
        """Follow redirects (across sites) until a page is shown or one goes to ``stop_at``."""
        response = self.get(url)
        for _ in range(10):
            location = response.headers.get("Location")
            if not response.is_redirect or not location:
                return response
            target = urljoin(response.url, location)
            if stop_at and target.startswith(stop_at):
                return response
            response = self.get(target)
        raise AssertionError("too many redirects")

    def submit(
        self,
        response: requests.Response,
        data: dict | None = None,
        *,
        uncheck: tuple[str, ...] = (),
        button: str | None = None,
        stop_at: str | None = None,
    ) -> requests.Response:
        """Fill in the page's (first) form and post it, then follow redirects."""
        forms = forms_of(response.text)
        assert forms, f"no form on {response.url}: {response.text[:300]}"
        form = forms[0]
        data = data or {}
        body = [(n, v) for n, v in form.fields if n not in data]
        body += [(n, v) for n, v, disabled in form.checkboxes if not disabled and v not in uncheck]
        if button:
            body += [b for b in form.buttons if b[1] == button]
        elif form.buttons:
            body.append(form.buttons[0])
        body += list(data.items())
        action = urljoin(response.url, form.action)
        self.last = self.http.post(action, data=body, allow_redirects=False, timeout=20)
        location = self.last.headers.get("Location")
        if self.last.is_redirect and location:
            target = urljoin(action, location)
            if stop_at and target.startswith(stop_at):
                return self.last
            return self.navigate(target, stop_at=stop_at)
        return self.last

    def login(
        self,
        response: requests.Response,
        username: str,
        password: str = PASSWORD,
        stop_at: str | None = None,
    ) -> requests.Response:
        assert 'name="password"' in response.text, f"not a login page: {response.url}"
        return self.submit(response, {"username": username, "password": password}, stop_at=stop_at)

    def sign_in(self, username: str, password: str = PASSWORD) -> None:
        """Sign in at the provider directly (its own login page, no client)."""
        page = self.navigate(f"{self.server.url}/login")
        self.login(page, username, password)
        assert self.http.cookies.get("onetrip_sso"), "no SSO cookie after signing in"

    @property
    def sso(self) -> str | None:
        return self.http.cookies.get("onetrip_sso")


def redirect_params(response: requests.Response) -> dict[str, str]:
    """The query of a redirect back to the relying party."""
    assert response.is_redirect, (
        f"expected a redirect, got {response.status_code} at {response.url}"
    )
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}


# -- the relying party: Authlib's client ------------------------------------------------


class RelyingParty:
    """Authlib's OAuth2Session set up from discovery, as an integrator would use it."""

    def __init__(
        self,
        server,
        client: Client,
        scope: str = "openid profile email",
        auth_method: str | None = None,
        **kw,
    ) -> None:
        self.server, self.client = server, client
        self.meta = discover(server)
        method = auth_method or ("none" if client.client_secret is None else "client_secret_basic")
        self.session = OAuth2Session(
            client.client_id,
            client.client_secret,
            scope=scope,
            redirect_uri=client.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
            **kw,
        )
        self.verifier = generate_token(48)
        self.nonce = generate_token(20)
        self.state: str | None = None

    def authorization_url(self, **params: str) -> str:
        url, self.state = self.session.create_authorization_url(
            self.meta["authorization_endpoint"],
            code_verifier=self.verifier,
            nonce=self.nonce,
            **params,
        )
        return url

    def fetch_token(self, callback: str, **kw) -> dict:
        return self.session.fetch_token(
            self.meta["token_endpoint"],
            authorization_response=callback,
            code_verifier=kw.pop("code_verifier", self.verifier),
            **kw,
        )

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.meta["jwks_uri"], timeout=10).json())

    def validate_id_token(self, token: dict) -> dict:
        """Signature against the JWKS, then the OIDC Core 3.1.3.7 checks by Authlib."""
        decoded = jwt.decode(token["id_token"], self.jwks(), algorithms=["RS256", "ES256"])
        claims = CodeIDToken(
            dict(decoded.claims),
            dict(decoded.header),
            options={
                "iss": {"essential": True, "value": self.meta["issuer"]},
                "aud": {"essential": True, "value": self.client.client_id},
            },
            params={
                "nonce": self.nonce,
                "client_id": self.client.client_id,
                "access_token": token["access_token"],
            },
        )
        claims.validate()
        return dict(decoded.claims)


def sign_in_flow(
    browser: Browser,
    rp: RelyingParty,
    username: str | None = None,
    *,
    consent: bool = True,
    uncheck: tuple[str, ...] = (),
    **params: str,
) -> requests.Response:
    """From the RP's authorization URL to the redirect back to it (login, consent as needed)."""
    stop = rp.client.redirect_uri
    page = browser.navigate(rp.authorization_url(**params), stop_at=stop)
    if not page.is_redirect and 'name="password"' in page.text:
        assert username, "login page shown but no username given"
        page = browser.login(page, username, stop_at=stop)
    if not page.is_redirect and consent and 'name="consented"' in page.text:
        page = browser.submit(page, uncheck=uncheck, button="allow", stop_at=stop)
    return page


def log_in(browser: Browser, rp: RelyingParty, username: str | None = None, **params: str) -> dict:
    """The whole code flow: returns Authlib's token response."""
    response = sign_in_flow(browser, rp, username, **params)
    callback = response.headers["Location"]
    assert callback.startswith(rp.client.redirect_uri), callback
    return rp.fetch_token(callback)


def introspect(server, client: Client, token: str, hint: str | None = None) -> dict:
    """RFC 7662 introspection by the client that holds the token."""
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    response = requests.post(
        f"{server.url}/oauth/introspect",
        data=data,
        auth=(client.client_id, client.client_secret),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return response.json()


def refresh(rp: RelyingParty, refresh_token: str) -> requests.Response:
    """A refresh request as it goes on the wire (the answer unchecked, errors included)."""
    return requests.post(
        rp.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(rp.client.client_id, rp.client.client_secret),
        timeout=30,
    )

"""One server-side record per pending authorization (node-oidc-provider's Interaction).

``/oauth/authorize`` has Authlib validate the request once. When the citizen must do
something first (sign in, pass a step, allow access), the validated request is stored
here under a random, unguessable id; the login, step and consent pages carry only that id
and the code is issued from the record, with no second validation.

Rules, each enforced here:

- Redis holds a record under the SHA-256 of its id, for :data:`TTL` seconds, so a Redis
  dump yields no usable id.
- A record belongs to the browser that started it: it keeps the digest of a random secret
  in that browser's signed flow cookie. Another browser holding the id (a leaked link, a
  guess) gets :func:`refusal`, as does an unknown, expired or tampered id.
- :meth:`InteractionStore.consume` takes a record out atomically (``GETDEL``): it ends in
  exactly one code or one error redirect, never two.
- A login made for an interaction is remembered in the flow cookie
  (:func:`mark_logged_in`), so that ``prompt=login`` and ``max_age`` ask for one login,
  not one per visit of the resume endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

from flask import Response, redirect, render_template, session

from config.runtime import Runtime
from idp.i18n import translate

#: How long a citizen may take to sign in, pass the steps and allow access.
TTL = 900
#: Where the flow cookie keeps this browser's binding secret (a login keeps it too).
BROWSER_KEY = "interaction_browser"
_LOGGED_IN_KEY = "interaction_logged_in"
_ID = re.compile(r"[A-Za-z0-9_-]{32}").fullmatch
_SECONDS = re.compile(r"[0-9]{1,10}").fullmatch


@dataclass
class Interaction:
    """A validated authorization request waiting for the citizen."""

    client_id: str
    redirect_uri: str  # the one Authlib checked (the registered default when none was sent)
    params: dict[str, str]  # the request's parameters, as Authlib validated them
    browser: str = ""  # the digest of the binding secret of the browser that started it
    id: str = field(default="", compare=False)

    @property
    def state(self) -> str | None:
        return self.params.get("state")

    @property
    def prompts(self) -> set[str]:
        return set((self.params.get("prompt") or "").split())

    @property
    def max_age(self) -> int | None:
        value = self.params.get("max_age")
        return int(value) if value is not None and _SECONDS(value) else None

    def refuse(self, error: str, description: str, issuer: str) -> Response:
        """The error redirect back to the client (RFC 6749 4.1.2.1, RFC 9207 ``iss``)."""
        return error_redirect(self.redirect_uri, error, description, self.state, issuer)


def error_redirect(
    redirect_uri: str, error: str, description: str, state: str | None, issuer: str
) -> Response:
    params = {"error": error, "error_description": description, "iss": issuer}
    if state:
        params["state"] = state
    sep = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{sep}{urlencode(params)}")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _browser() -> str:
    """The digest of this browser's binding secret, made on first use."""
    secret = session.get(BROWSER_KEY)
    if not secret:
        secret = session[BROWSER_KEY] = secrets.token_urlsafe(32)
    return _digest(secret)


def _ours(interaction: Interaction) -> bool:
    secret = session.get(BROWSER_KEY)
    return bool(secret) and hmac.compare_digest(interaction.browser, _digest(secret))


class InteractionStore:
    """Interaction records in Redis (see the module's rules)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime  # its Redis client is made in each worker, on first use

    @staticmethod
    def _key(interaction_id: str) -> str:
        return f"interaction:{_digest(interaction_id)}"

    def save(self, interaction: Interaction) -> str:
        """Store ``interaction`` for this browser (once: it keeps its id); its id."""
        if not interaction.id:
            interaction.id = secrets.token_urlsafe(24)
            interaction.browser = _browser()
            record = {k: v for k, v in asdict(interaction).items() if k != "id"}
            self.runtime.redis.set(self._key(interaction.id), json.dumps(record), ex=TTL)
        return interaction.id

    def load(self, interaction_id: str | None) -> Interaction | None:
        """This browser's interaction ``interaction_id``, or None (unknown, expired,
        malformed, or another browser's)."""
        if not interaction_id or not _ID(interaction_id):
            return None
        raw = self.runtime.redis.get(self._key(interaction_id))
        return self._parse(raw, interaction_id)

    def consume(self, interaction: Interaction) -> bool:
        """Take ``interaction`` out for good; False when another request took it first."""
        return self.runtime.redis.getdel(self._key(interaction.id)) is not None

    @staticmethod
    def _parse(raw: bytes | None, interaction_id: str) -> Interaction | None:
        try:
            interaction = Interaction(**json.loads(raw), id=interaction_id) if raw else None
        except (TypeError, ValueError):  # a record of another version of OneTrip
            return None
        return interaction if interaction and _ours(interaction) else None


def mark_logged_in(interaction_id: str | None) -> None:
    """Remember in the flow cookie that this browser signed in for ``interaction_id``."""
    if interaction_id:
        session[_LOGGED_IN_KEY] = interaction_id


def logged_in_for(interaction: Interaction) -> bool:
    """Whether this browser signed in after, and for, ``interaction``."""
    return session.get(_LOGGED_IN_KEY) == interaction.id


def refusal() -> Response:
    """The page for an interaction id that is unknown, expired, used, or another browser's."""
    page = render_template(
        "error.html",
        status=400,
        title=translate("The request is not valid"),
        description=translate(
            "This sign-in has expired or was started in another browser. "
            "Go back to the service and start again."
        ),
    )
    return Response(page, status=400)

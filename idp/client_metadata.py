"""Client metadata: the declared schema of RFC 7591 section 2 and OIDC Registration 1.0
section 2 (with Back-Channel and RP-Initiated Logout), as this provider supports them.

:func:`normalise_metadata` is the one door every client's metadata goes through, from the
registration endpoint and from the CLI alike. It keeps only the fields below: unknown
ones are dropped (RFC 7591 2: "MUST ignore any client metadata ... that it does not
understand"), and so are the ones the server owns (``client_id``, ``client_secret``,
``registration_access_token``, ...: they can never override the answer) and the
operator's policy (``require_pkce``: see :mod:`idp.clients`). Fields this provider
recognises but does not implement (encrypted tokens, request objects, front-channel
logout) are refused, because a client that registers them expects them to work.

Every value is checked for type and form in strict mode (``"true"`` is no boolean), and
URIs by what they are for:

- redirect and post-logout redirect URIs: absolute, no fragment, ``https``, or ``http`` on
  loopback (RFC 8252 7.3);
- URIs OneTrip fetches or calls (``jwks_uri``, ``sector_identifier_uri``, ``logo_uri``,
  ``backchannel_logout_uri``): ``https``, or ``http`` where the operator allows it, which
  :mod:`config.outbound` decides for the address the name resolves to;
- URIs shown to citizens as links (``client_uri``, ``policy_uri``, ``tos_uri``,
  ``initiate_login_uri``): ``https`` only, so no ``javascript:`` ever reaches a page.

Human-readable fields may carry BCP 47 language tags (RFC 7591 2.2: ``client_name#zh-CN``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import scope_to_list
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from config.errors import Refusal
from config.outbound import is_uri_text

STANDARD_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
ID_TOKEN_ALGS = ("RS256", "ES256")
ASSERTION_ALGS = ("RS256", "ES256", "PS256")
#: The assurance levels, weakest first (README, "Assurance levels", says what each proves).
#: The password alone.
PASSWORD_ACR = "urn:onetrip:acr:pwd"
#: Password and a live face check against a template the citizen registered themselves:
#: the same face as at registration, not proof of who the citizen is (issue 13).
FACE_SELF_ACR = "urn:onetrip:acr:face-self"
#: Password and an authenticator app's code (issue 17).
TOTP_ACR = "urn:onetrip:acr:totp"
#: Password and a live face check against a proofed template: enrolled in person by a
#: department officer at a counter, or imported from an authoritative photo (issue 13).
FACE_ACR = "urn:onetrip:acr:face"
ACR_VALUES = (PASSWORD_ACR, FACE_SELF_ACR, TOTP_ACR, FACE_ACR)

#: Recognised, not implemented: registering one is refused rather than silently ignored.
UNSUPPORTED = (
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
    "request_uris",
    "frontchannel_logout_uri",
    "frontchannel_logout_session_required",
)
#: Fields that may carry a language tag, and how many tagged values a client may send.
LOCALIZABLE = ("client_name", "client_uri", "logo_uri", "policy_uri", "tos_uri")
MAX_TAGGED = 10
_TAGGED = re.compile(r"^(?P<field>[a-z_]+)#(?P<tag>[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,4})$")
# RFC 6749 appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


class ClientError(Refusal):
    """Invalid client metadata; ``error`` is the RFC 7591 error code
    (``invalid_client_metadata``, ``invalid_redirect_uri``)."""


# -- URIs -------------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _absolute(uri: str, schemes: tuple[str, ...]) -> str:
    """An absolute URI of one of ``schemes``, ASCII and printable, no fragment or userinfo."""
    if len(uri) > 2000:
        raise ValueError("must be at most 2000 characters")
    if not is_uri_text(uri):
        raise ValueError("must be a URI: ASCII, no spaces, quotes or control characters")
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValueError("is not a valid URI") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"must be an absolute {' or '.join(schemes)} URI")
    if parts.fragment or "#" in uri:
        raise ValueError("must not have a fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials")
    return uri


def redirect_uri(uri: str) -> str:
    """https, or http on loopback only (RFC 8252 7.3)."""
    _absolute(uri, ("https", "http"))
    parts = urlsplit(uri)
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("must use https (http only on loopback)")
    return uri


def _fetched_uri(uri: str) -> str:
    return _absolute(uri, ("https", "http"))


def _link_uri(uri: str) -> str:
    return _absolute(uri, ("https",))


RedirectUri = Annotated[str, AfterValidator(redirect_uri)]
FetchedUri = Annotated[str, AfterValidator(_fetched_uri)]
LinkUri = Annotated[str, AfterValidator(_link_uri)]


def _text(value: str) -> str:
    if not value.strip() or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise ValueError("must be printable text, not blank")
    return value


ShortText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_text)]


def _scope(value: str) -> str:
    tokens = value.split(" ")
    if len(value) > 2000 or not all(_SCOPE_TOKEN.match(t) for t in tokens if t):
        raise ValueError("must be scope tokens separated by spaces (RFC 6749 3.3)")
    return " ".join(t for t in tokens if t)


def check_jwks(value: dict) -> dict:
    keys = value.get("keys")
    if not isinstance(keys, list) or not 1 <= len(keys) <= 20:
        raise ValueError("must be a JWK Set with 1 to 20 keys")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
            raise ValueError("keys must be public RSA, EC or OKP keys")
        if any(part in key for part in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise ValueError("must hold public keys only")
    try:
        KeySet.import_key_set(value)
    except (JoseError, ValueError, TypeError, KeyError):
        raise ValueError("is not a valid JWK Set") from None
    return value


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


# -- the schema -------------------------------------------------------------------------


class ClientMetadata(BaseModel):
    """RFC 7591 section 2 and OIDC Registration section 2, as supported here."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    # RFC 7591 section 2
    redirect_uris: Annotated[list[RedirectUri], Field(max_length=20), AfterValidator(_unique)] = []
    token_endpoint_auth_method: Literal[AUTH_METHODS] = "client_secret_basic"
    grant_types: Annotated[list[Literal[GRANT_TYPES]], AfterValidator(_unique)] = [
        "authorization_code",
        "refresh_token",
    ]
    response_types: list[Literal["code"]] | None = None
    client_name: ShortText
    client_uri: LinkUri | None = None
    logo_uri: FetchedUri | None = None
    scope: Annotated[str, AfterValidator(_scope)] | None = None
    contacts: Annotated[list[Annotated[str, Field(max_length=254)]], Field(max_length=10)] = []
    tos_uri: LinkUri | None = None
    policy_uri: LinkUri | None = None
    jwks_uri: FetchedUri | None = None
    jwks: Annotated[dict, AfterValidator(check_jwks)] | None = None
    software_id: ShortText | None = None
    software_version: ShortText | None = None

    # OIDC Registration 1.0 section 2
    application_type: Literal["web", "native"] = "web"
    sector_identifier_uri: FetchedUri | None = None
    subject_type: Literal["public", "pairwise"] = "public"
    id_token_signed_response_alg: Literal[ID_TOKEN_ALGS] = "RS256"
    token_endpoint_auth_signing_alg: Literal[ASSERTION_ALGS] | None = None
    default_max_age: Annotated[int, Field(ge=0, le=10 * 365 * 86400)] | None = None
    require_auth_time: bool = False
    default_acr_values: Annotated[list[Literal[ACR_VALUES]], AfterValidator(_unique)] = []
    initiate_login_uri: LinkUri | None = None

    # RP-Initiated Logout 1.0 and Back-Channel Logout 1.0
    post_logout_redirect_uris: Annotated[list[RedirectUri], Field(max_length=20)] = []
    backchannel_logout_uri: FetchedUri | None = None
    backchannel_logout_session_required: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ClientMetadata:
        grants, method = set(self.grant_types), self.token_endpoint_auth_method
        if self.jwks is not None and self.jwks_uri is not None:
            raise ValueError("jwks and jwks_uri must not both be present (RFC 7591 2)")
        if method == "private_key_jwt" and self.jwks is None and self.jwks_uri is None:
            raise ValueError("private_key_jwt needs jwks or jwks_uri")
        if method == "none" and "client_credentials" in grants:
            raise ValueError("a public client cannot use the client_credentials grant")
        if self.response_types is not None and bool(self.response_types) != (
            "authorization_code" in grants
        ):
            raise ValueError("response_types 'code' goes with the authorization_code grant")
        if self.token_endpoint_auth_signing_alg and method != "private_key_jwt":
            raise ValueError("token_endpoint_auth_signing_alg is for private_key_jwt clients")
        return self


def _error(exc: ValidationError, name: str | None = None) -> ClientError:
    """The first problem, named by its field (``redirect_uris.1``), or by ``name``."""
    first = exc.errors(include_url=False, include_input=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    loc = [str(part) for part in first["loc"]]
    if name and loc:
        loc[0] = name
    code = "invalid_redirect_uri" if loc[:1] == ["redirect_uris"] else "invalid_client_metadata"
    return ClientError(code, f"{'.'.join(loc)}: {message}" if loc else message)


def normalise_metadata(raw: object) -> dict:
    """The metadata as stored: checked, with defaults filled in (see the module doc).

    Raises :class:`ClientError` with the RFC 7591 error code and the first problem found.
    """
    if not isinstance(raw, dict):
        raise ClientError("invalid_client_metadata", "client metadata must be a JSON object")
    for name in UNSUPPORTED:
        if raw.get(name) is not None:
            raise ClientError(
                "invalid_client_metadata", f"{name} is not supported by this provider"
            )
    try:
        meta = ClientMetadata.model_validate(raw)
    except ValidationError as exc:
        raise _error(exc) from None
    out = meta.model_dump(exclude_none=True)
    out["response_types"] = ["code"] if "authorization_code" in meta.grant_types else []
    if meta.backchannel_logout_session_required is None:
        out["backchannel_logout_session_required"] = meta.backchannel_logout_uri is not None
    if "authorization_code" in meta.grant_types and not meta.redirect_uris:
        raise ClientError(
            "invalid_redirect_uri", "redirect_uris are required for the authorization_code grant"
        )
    hosts = {urlsplit(u).hostname for u in meta.redirect_uris}
    if meta.subject_type == "pairwise" and not meta.sector_identifier_uri and len(hosts) > 1:
        raise ClientError(
            "invalid_client_metadata",
            "pairwise clients with redirect URIs on several hosts need a sector_identifier_uri",
        )
    out.update(_tagged(raw))
    return out


def _tagged(raw: dict) -> dict:
    """The language-tagged human-readable fields (``client_name#zh-CN``), each checked
    as its untagged field is."""
    tagged = {}
    for key, value in raw.items():
        match = _TAGGED.match(key) if isinstance(key, str) and "#" in key else None
        if match is None or match["field"] not in LOCALIZABLE:
            continue
        try:
            ClientMetadata.model_validate({"client_name": "x", match["field"]: value})
        except ValidationError as exc:
            raise _error(exc, key) from None
        tagged[key] = value
    if len(tagged) > MAX_TAGGED:
        raise ClientError("invalid_client_metadata", f"at most {MAX_TAGGED} language-tagged values")
    return tagged


def localized(meta: dict, field: str, locale: str) -> str | None:
    """``field`` in ``locale`` (``client_name#zh-CN``, then ``client_name#zh``), else plain."""
    language = locale.split("-")[0]
    for key in (f"{field}#{locale}", f"{field}#{language}", field):
        if isinstance(meta.get(key), str):
            return meta[key]
    return None


def requested_scopes(meta: dict) -> list[str]:
    return scope_to_list(meta.get("scope") or "") or []


def stored_fields(meta: dict) -> dict:
    """The metadata fields of this schema in ``meta``: a row stored before the schema
    existed may hold anything, and none of it may reach an answer."""
    return {
        k: v
        for k, v in meta.items()
        if k in ClientMetadata.model_fields or k == "response_types" or _TAGGED.match(k)
    }


def sector_of(meta: dict) -> str:
    """The pairwise sector: the sector identifier's host, else the redirect URIs' host."""
    source = meta.get("sector_identifier_uri") or (meta.get("redirect_uris") or [""])[0]
    return urlsplit(source).hostname or ""

"""Typed settings from ``ONETRIP_*`` environment variables and an optional TOML file.

Every field of :class:`Settings` can be set three ways, strongest first: the environment
variable ``ONETRIP_<FIELD>`` (``DATABASE_URL`` and ``REDIS_URL`` also work bare, as
platforms set them), the TOML file named by ``ONETRIP_CONFIG`` (keys are field names), then
the default. Secrets that nobody configured are generated once and kept in
``<data_dir>/secrets.json`` with mode 0600, so every worker and node that shares the data
directory (or the same settings) agrees on them.

:class:`Settings` is a frozen dataclass (so ``dataclasses.replace`` and ``fields`` work on
it) whose annotations declare each setting's type, bounds (``Field(ge=, le=)``), choices
(``Literal``) and checks (the validators below). pydantic-settings reads and validates them
at start: :func:`load_settings` merges its TOML source, the environment and the caller's
overrides and validates them all at once through a settings model made from those
annotations, so a bad start names every bad value, one line each (:class:`SettingsError`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import secrets
import tempfile
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Literal

if typing.TYPE_CHECKING:  # at run time, the annotations are read by _pydantic()
    from pydantic import AfterValidator, BeforeValidator

#: Settings that are secrets: generated on first start when not configured.
SECRET_FIELDS = ("secret_key", "key_encryption_key", "pairwise_salt", "audit_key")

_BARE_ENV = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


class SettingsError(ValueError):
    """Settings that cannot start a server: one line per bad value, naming its setting."""


def _within(low: float, high: float | None = None) -> typing.Any:
    """The bounds of a numeric setting, inclusive (``None``: unbounded above)."""
    from pydantic import Field

    return Field(ge=low, le=high)


def _refuse(message: str) -> typing.NoReturn:
    """Refuse a value with ``message`` as its whole line after the setting's name."""
    from pydantic_core import PydanticCustomError

    raise PydanticCustomError("onetrip", message.replace("{", "{{").replace("}", "}}"))


def _empty_is_false(value: typing.Any) -> typing.Any:
    """An empty flag (``ONETRIP_REQUIRE_PKCE=``) is off, as a shell user means it."""
    return False if value == "" else value


def _check_issuer(issuer: str) -> str:
    if not issuer.startswith(("http://", "https://")) or any(c in issuer for c in "?# "):
        _refuse(f"expected an http(s) URL without query or fragment, got {issuer!r}")
    return issuer


def _check_redis_url(url: str) -> str:
    if url and (problem := _redis_url_problem(url)):
        _refuse(problem)
    return url


def _check_country(code: str) -> str:
    if len(code) != 2 or not code.isalpha():
        _refuse(f"expected a two-letter ISO 3166 code, got {code!r}")
    return code


@dataclass(frozen=True)
class Settings:
    """Everything an operator can configure. Durations are in seconds."""

    issuer: Annotated[str, AfterValidator(_check_issuer)] = "http://127.0.0.1:8000"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: Annotated[str, AfterValidator(_check_redis_url)] = ""

    # Secrets (generated into data_dir/secrets.json when empty).
    secret_key: str = ""
    key_encryption_key: str = ""
    pairwise_salt: str = ""
    audit_key: str = ""  # HMAC key of the audit chain: outside the database (config/audit.py)

    # Tokens and sessions.
    authorization_code_ttl: Annotated[int, _within(1, 600)] = 60
    access_token_ttl: Annotated[int, _within(1, 86400)] = 600
    id_token_ttl: Annotated[int, _within(1, 86400)] = 600
    refresh_token_ttl: Annotated[int, _within(60)] = 30 * 24 * 3600
    # A used refresh token presented again this soon is a retry after a lost answer
    # (idp/tokens.py); later, it is theft and revokes the grant. 0 turns retries off.
    refresh_token_reuse_grace: Annotated[int, _within(0, 300)] = 30
    session_ttl: Annotated[int, _within(60)] = 8 * 3600
    jwks_cache_ttl: Annotated[int, _within(0)] = 300
    key_publish_delay: Annotated[int, _within(0)] = 300

    # Login throttling.
    login_max_failures_per_account: Annotated[int, _within(1)] = 5
    login_max_failures_per_ip: Annotated[int, _within(1)] = 30
    login_throttle_window: Annotated[int, _within(1)] = 900

    # Password hashing (Argon2id, RFC 9106 second recommended option scaled for a server).
    argon2_time_cost: Annotated[int, _within(1, 100)] = 2
    argon2_memory_cost: Annotated[int, _within(8, 4 * 1024 * 1024)] = 19456
    argon2_parallelism: Annotated[int, _within(1, 64)] = 1

    # Limits on what callers may send.
    # werkzeug also bounds each multipart read by this
    max_form_bytes: Annotated[int, _within(1024)] = 1024 * 1024
    max_json_bytes: Annotated[int, _within(1024)] = 256 * 1024
    max_upload_bytes: Annotated[int, _within(1024)] = 50 * 1024 * 1024
    backchannel_logout_timeout: Annotated[float, _within(0.1, 60)] = 3.0
    # decoded pixels per uploaded photo (bomb guard)
    max_image_pixels: Annotated[int, _within(1)] = 50_000_000
    # max encoding distance; why: biometrics/service.py
    face_match_threshold: Annotated[float, _within(0.01, 1.0)] = 0.58

    # Certificate authority (certs/).
    # where private keys live: pkcs8 (sealed in the DB) | pkcs11
    key_backend: Literal["pkcs8", "pkcs11"] = "pkcs8"
    # CA and custody keys: ec-p256 | rsa-3072
    key_algorithm: Literal["ec-p256", "rsa-3072"] = "ec-p256"
    pkcs11_module: str = ""  # path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    pkcs11_token_label: str = "onetrip"  # token holding the keys when key_backend = pkcs11
    pkcs11_pin: str = ""  # user PIN of that token
    ca_organization: str = "OneTrip"  # O= of the CA certificates
    crl_validity: Annotated[int, _within(60)] = 24 * 3600  # nextUpdate - thisUpdate of CRLs
    ocsp_validity: Annotated[int, _within(60)] = 3600  # nextUpdate - thisUpdate of OCSP responses
    tsa_policy: str = "2.25.340269775209289667602721756413815704237"  # TSA policy (UUID OID)

    # PAdES signing (signing/).
    signing_tsa_url: str = ""  # external RFC 3161 TSA for B-T and up; empty: OneTrip's own TSA
    signing_trust_roots: str = ""  # extra trust anchors for verify: PEM/DER paths, comma-separated
    signing_font: str = ""  # font (.otf/.ttf/.ttc) for visible stamps; empty: Noto Sans CJK SC
    # lifetime of CSC signature activation data, seconds
    csc_sad_ttl: Annotated[int, _within(1, 3600)] = 300

    # The operator's console (issue 17).
    # how recent a face check or TOTP code must be for /admin
    console_step_up_max_age: Annotated[int, _within(1)] = 600
    # Signature and PKI assurance (issue 14: certs/, signing/).
    # C= of CA names and department seals (ISO 3166 alpha-2)
    ca_country: Annotated[str, AfterValidator(_check_country)] = "CN"
    pki_url_base: str = ""  # base of CRL/OCSP/CA-issuer URLs in certificates; empty: issuer as http
    # Certificate policy OID of every end entity: a GUID-based OID (Microsoft's public arc
    # 1.2.840.113556.1.8000.2554, arcs small enough for every decoder); set your own.
    certificate_policy: str = (
        "1.2.840.113556.1.8000.2554.23324.10878.37876.19738.46818.823114.10305137"
    )
    # longest a process trusts a remembered status, seconds
    revocation_status_max_age: Annotated[int, _within(0, 3600)] = 5
    # department seals are renewed this long before expiry
    seal_renew_before: Annotated[int, _within(0)] = 30 * 86400
    # `signing renew`: re-stamp when the TSA cert ends
    archive_renew_before: Annotated[int, _within(0)] = 365 * 86400
    est_client_cert_proxies: str = ""  # addresses allowed to forward TLS client certs to EST
    # pages a PDF may have for signing or verification
    max_pdf_pages: Annotated[int, _within(1)] = 2000
    max_pdf_objects: Annotated[int, _within(1)] = 25_000  # objects (xref entries) a PDF may have

    # Operations (idp/ops.py).
    # json (one object per line) | text; applies under `onetrip serve`
    log_format: Literal["json", "text"] = "json"
    # Prometheus multiprocess files: memory-mapped, so never on the data disk (a full disk
    # there killed workers with SIGBUS). Empty: $XDG_RUNTIME_DIR or the temp dir.
    metrics_dir: str = ""
    # /readyz fails below this many bytes free
    storage_min_free: Annotated[int, _within(0)] = 8 * 1024 * 1024
    # reverse proxies in front whose X-Forwarded-* are believed
    trusted_proxies: Annotated[int, _within(0, 10)] = 0

    # Issue 15: URLs that clients supply (config/outbound.py) and client policy.
    # Where client-supplied URLs may lead: `public` and/or CIDR networks, comma-separated.
    # Empty: `public`, plus loopback on a development server (plain-http loopback issuer).
    outbound_networks: str = ""
    # one outbound exchange, all of it (DNS to last byte)
    outbound_timeout: Annotated[float, _within(0.1, 60)] = 3.0
    # largest JWKS, sector identifier or logo fetched
    outbound_max_bytes: Annotated[int, _within(1024)] = 256 * 1024
    # fetched documents are kept this long (refreshed before)
    outbound_cache_ttl: Annotated[int, _within(1)] = 300
    # A failed fetch is remembered this long; an unknown `kid` refetches a JWKS once per this.
    outbound_retry_interval: Annotated[int, _within(1)] = 30
    # PKCE of confidential clients (public ones always); per client too
    require_pkce: Annotated[bool, BeforeValidator(_empty_is_false)] = True

    # Issue 15: the audit chain's anchors (config/audit_anchor.py).
    # a node time-stamps the chain's head this often; 0: never
    audit_anchor_interval: Annotated[int, _within(0)] = 3600
    audit_anchor_file: str = ""  # JSON lines; empty: <data_dir>/audit-anchors.jsonl
    audit_tsa_url: str = ""  # RFC 3161 TSA for anchors (guarded fetcher); empty: OneTrip's own

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def audit_anchors_path(self) -> Path:
        """Where anchors of the audit chain go: outside the database, beside its key."""
        if not self.audit_anchor_file:
            return self.data_dir / "audit-anchors.jsonl"
        return Path(self.audit_anchor_file).resolve()

    @property
    def metrics_path(self) -> Path:
        """This data directory's metrics directory (a node adds its port beneath)."""
        if self.metrics_dir:
            return Path(self.metrics_dir).resolve()
        base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
        tag = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        return Path(base) / f"onetrip-metrics-{tag}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "onetrip.db"

    def key_bytes(self, name: str) -> bytes:
        """A base64 secret setting decoded to bytes."""
        return base64.urlsafe_b64decode(getattr(self, name) + "==")


@functools.cache
def _pydantic() -> SimpleNamespace:
    """The pydantic-settings model of :class:`Settings` (its fields, types, bounds and
    checks, read from the dataclass's annotations) and the sources it reads. Made on first
    load, so a command's ``--help``, which imports this module, does not import pydantic."""
    from pydantic import AfterValidator, BeforeValidator, ValidationError, create_model
    from pydantic_settings import (
        BaseSettings,
        PydanticBaseSettingsSource,
        SettingsConfigDict,
        TomlConfigSettingsSource,
    )

    class Declared(BaseSettings):
        """What every setting shares: unknown names are refused; defaults need no check."""

        model_config = SettingsConfigDict(extra="forbid", validate_default=False)

    class Environment(PydanticBaseSettingsSource):
        """The settings an environment names: ``ONETRIP_<FIELD>``, and the bare names
        platforms set (``DATABASE_URL``, ``REDIS_URL``) where the prefixed one is absent."""

        def __init__(self, settings_cls: type[BaseSettings], environ: typing.Mapping[str, str]):
            super().__init__(settings_cls)
            self.environ = environ

        def get_field_value(self, field: typing.Any, field_name: str) -> tuple:
            for variable in (f"ONETRIP_{field_name.upper()}", _BARE_ENV.get(field_name)):
                if variable and variable in self.environ:
                    return self.environ[variable], field_name, False
            return None, field_name, False

        def __call__(self) -> dict[str, typing.Any]:
            values = {}
            for name, field in self.settings_cls.model_fields.items():
                value, _, _ = self.get_field_value(field, name)
                if value is not None:
                    values[name] = value
            return values

    validators = {"AfterValidator": AfterValidator, "BeforeValidator": BeforeValidator}
    hints = typing.get_type_hints(Settings, localns=validators, include_extras=True)
    fields = {f.name: (hints[f.name], f.default) for f in dataclasses.fields(Settings)}
    return SimpleNamespace(
        model=create_model("SettingsModel", __base__=Declared, **fields),
        hints=hints,
        environment=Environment,
        toml=TomlConfigSettingsSource,
        invalid=ValidationError,
    )


def _lines(errors: list[dict], origin: str) -> list[str]:
    """One line per bad value: the setting's name, what it expects, the value given."""
    lines = []
    for problem in errors:
        name = ".".join(str(part) for part in problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"{name}: not a setting (in {origin})")
        elif problem["type"] == "onetrip":
            lines.append(f"{name}: {problem['msg']}")
        elif problem["type"] == "literal_error":
            choices = ", ".join(typing.get_args(_pydantic().hints[name]))
            lines.append(f"{name}: expected one of {choices}, got {problem['input']!r}")
        else:
            expected = problem["msg"][:1].lower() + problem["msg"][1:]
            lines.append(f"{name}: {expected}, got {problem['input']!r}")
    return lines


def _validated(values: dict, origin: str = "the settings") -> Settings:
    schema = _pydantic()
    try:
        model = schema.model.model_validate(values)
    except schema.invalid as exc:
        lines = _lines(exc.errors(include_url=False), origin)
        raise SettingsError("invalid settings:\n" + "\n".join(f"  {p}" for p in lines)) from None
    return Settings(**{name: getattr(model, name) for name in schema.model.model_fields})


def load_settings(
    environ: typing.Mapping[str, str] | None = None, *, create: bool = True, **overrides
) -> Settings:
    """Build :class:`Settings` from the environment, the TOML file and ``overrides``.

    With ``create=False`` (the CLI, except ``serve``) a data directory that does not exist
    is refused, saying where it was looked for, rather than made with new secrets: a
    command run from another directory must not start a second installation."""
    env = os.environ if environ is None else environ
    values: dict = {}
    origin = "the settings"
    if path := env.get("ONETRIP_CONFIG"):
        origin = path
        try:
            Path(path).read_bytes()  # the source passes over a missing file in silence
            values.update(_pydantic().toml(_pydantic().model, toml_file=Path(path))())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    values.update(_pydantic().environment(_pydantic().model, env)())
    values.update({name: value for name, value in overrides.items() if value is not None})
    settings = _validated(values, origin)
    data_dir = settings.data_dir.resolve()
    settings = dataclasses.replace(settings, data_dir=data_dir, issuer=settings.issuer.rstrip("/"))
    needs_dir = not settings.database_url or any(not getattr(settings, n) for n in SECRET_FIELDS)
    if not create and needs_dir and not data_dir.is_dir():
        raise SettingsError(
            f"no OneTrip data directory at {data_dir} (ONETRIP_DATA_DIR, default ./var, "
            f"looked for from {Path.cwd()}); `onetrip serve` makes it on first start, or "
            "set ONETRIP_DATA_DIR to the server's"
        )
    if not settings.database_url:
        settings = dataclasses.replace(settings, database_url=f"sqlite:///{settings.sqlite_path}")
    return _with_secrets(settings)


def explicit_issuer(environ: typing.Mapping[str, str] | None = None) -> str | None:
    """The issuer the environment or the settings file names, if any (not the default)."""
    env = os.environ if environ is None else environ
    if issuer := env.get("ONETRIP_ISSUER"):
        return issuer.rstrip("/")
    if path := env.get("ONETRIP_CONFIG"):
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            if issuer := tomllib.loads(Path(path).read_text()).get("issuer"):
                return str(issuer).rstrip("/")
    return None


SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", *SENTINEL_SCHEMES)
_CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
#: Why a Cluster is refused (README, Redis): atomic steps of several keys of unrelated names.
CLUSTER_REFUSAL = (
    "Redis Cluster is not supported: a login writes its session, the session's id and the "
    "citizen's set of sessions in one script, and revocation checks and rate limits read "
    "several keys at once, which a Cluster keeps in different slots (README, Redis)"
)
_SENTINEL_URL = re.compile(
    r"(?:[^@/]*@)?"  # the primary's user and password
    r"[^/@,:]+:[0-9]{1,5}(?:,[^/@,:]+:[0-9]{1,5})*"  # each Sentinel with its port
    r"/[^/?]+(?:/[0-9]{1,2})?/?(?:\?.*)?"  # the service, the database, options
)


def _redis_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as ``redis_url``, or None."""
    if url.startswith(_CLUSTER_SCHEMES):
        return CLUSTER_REFUSAL
    if not url.startswith(_REDIS_SCHEMES):
        return (
            "expected a redis://, rediss:// or unix:// URL of one primary, or "
            "redis+sentinel://host:port[,host:port...]/service[/db], got "
            f"{url.split('://')[0]}://..."
        )
    if url.startswith(SENTINEL_SCHEMES) and not _SENTINEL_URL.fullmatch(url.split("://", 1)[1]):
        return (
            "expected redis+sentinel://[[user]:password@]host:port[,host:port...]"
            "/service[/db] (each Sentinel with its port, then the service's name)"
        )
    return None


def problems_of(settings: Settings) -> list[str]:
    """One line per setting of ``settings`` whose value its declaration refuses."""
    try:
        _validated(dataclasses.asdict(settings))
    except SettingsError as exc:
        return [line.strip() for line in str(exc).splitlines()[1:]]
    return []


def _with_secrets(settings: Settings) -> Settings:
    missing = [name for name in SECRET_FIELDS if not getattr(settings, name)]
    if not missing:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secrets.json"
    stored: dict = {}
    if path.exists():
        stored = json.loads(path.read_text())
    fresh = {
        n: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        for n in missing
        if n not in stored
    }
    if fresh:
        stored.update(fresh)
        # Write-then-rename under O_EXCL so two processes starting at once cannot both
        # win with different secrets: the loser re-reads the winner's file.
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        try:
            if path.exists():
                os.replace(tmp, path)
            else:
                os.link(tmp, path)
        except FileExistsError:
            return _with_secrets(settings)
        finally:
            tmp.unlink(missing_ok=True)
    return dataclasses.replace(settings, **{n: stored[n] for n in missing})

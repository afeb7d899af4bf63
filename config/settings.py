"""Typed settings from ``ONETRIP_*`` environment variables and an optional TOML file.

Every field of :class:`Settings` can be set three ways, strongest first: the environment
variable ``ONETRIP_<FIELD>`` (``DATABASE_URL`` and ``REDIS_URL`` also work bare, as
platforms set them), the TOML file named by ``ONETRIP_CONFIG`` (keys are field names), then
the default. Secrets that nobody configured are generated once and kept in
``<data_dir>/secrets.json`` with mode 0600, so every worker and node that shares the data
directory (or the same settings) agrees on them.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
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

#: Settings that are secrets: generated on first start when not configured.
SECRET_FIELDS = ("secret_key", "key_encryption_key", "pairwise_salt", "audit_key")

_BARE_ENV = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


class SettingsError(ValueError):
    """A setting has a value of the wrong type or out of range."""


@dataclass(frozen=True)
class Settings:
    """Everything an operator can configure. Durations are in seconds."""

    issuer: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str = ""

    # Secrets (generated into data_dir/secrets.json when empty).
    secret_key: str = ""
    key_encryption_key: str = ""
    pairwise_salt: str = ""
    audit_key: str = ""  # HMAC key of the audit chain: outside the database (config/audit.py)

    # Tokens and sessions.
    authorization_code_ttl: int = 60
    access_token_ttl: int = 600
    id_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    # A used refresh token presented again this soon is a retry after a lost answer
    # (idp/tokens.py); later, it is theft and revokes the grant. 0 turns retries off.
    refresh_token_reuse_grace: int = 30
    session_ttl: int = 8 * 3600
    jwks_cache_ttl: int = 300
    key_publish_delay: int = 300

    # Login throttling.
    login_max_failures_per_account: int = 5
    login_max_failures_per_ip: int = 30
    login_throttle_window: int = 900

    # Password hashing (Argon2id, RFC 9106 second recommended option scaled for a server).
    argon2_time_cost: int = 2
    argon2_memory_cost: int = 19456
    argon2_parallelism: int = 1

    # Limits on what callers may send.
    max_form_bytes: int = 1024 * 1024  # werkzeug also bounds each multipart read by this
    max_json_bytes: int = 256 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    backchannel_logout_timeout: float = 3.0
    max_image_pixels: int = 50_000_000  # decoded pixels per uploaded photo (bomb guard)
    face_match_threshold: float = 0.58  # max encoding distance; why: biometrics/service.py

    # Certificate authority (certs/).
    key_backend: str = "pkcs8"  # where private keys live: pkcs8 (sealed in the DB) | pkcs11
    key_algorithm: str = "ec-p256"  # CA and custody keys: ec-p256 | rsa-3072
    pkcs11_module: str = ""  # path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    pkcs11_token_label: str = "onetrip"  # token holding the keys when key_backend = pkcs11
    pkcs11_pin: str = ""  # user PIN of that token
    ca_organization: str = "OneTrip"  # O= of the CA certificates
    crl_validity: int = 24 * 3600  # nextUpdate - thisUpdate of CRLs
    ocsp_validity: int = 3600  # nextUpdate - thisUpdate of OCSP responses
    tsa_policy: str = "2.25.340269775209289667602721756413815704237"  # TSA policy (UUID OID)

    # PAdES signing (signing/).
    signing_tsa_url: str = ""  # external RFC 3161 TSA for B-T and up; empty: OneTrip's own TSA
    signing_trust_roots: str = ""  # extra trust anchors for verify: PEM/DER paths, comma-separated
    signing_font: str = ""  # font (.otf/.ttf/.ttc) for visible stamps; empty: Noto Sans CJK SC
    csc_sad_ttl: int = 300  # lifetime of CSC signature activation data, seconds

    # The operator's console (issue 17).
    console_step_up_max_age: int = 600  # how recent a face check or TOTP code must be for /admin
    # Signature and PKI assurance (issue 14: certs/, signing/).
    ca_country: str = "CN"  # C= of CA names and department seals (ISO 3166 alpha-2)
    pki_url_base: str = ""  # base of CRL/OCSP/CA-issuer URLs in certificates; empty: issuer as http
    # Certificate policy OID of every end entity: a GUID-based OID (Microsoft's public arc
    # 1.2.840.113556.1.8000.2554, arcs small enough for every decoder); set your own.
    certificate_policy: str = (
        "1.2.840.113556.1.8000.2554.23324.10878.37876.19738.46818.823114.10305137"
    )
    revocation_status_max_age: int = 5  # longest a process trusts a remembered status, seconds
    seal_renew_before: int = 30 * 86400  # department seals are renewed this long before expiry
    archive_renew_before: int = 365 * 86400  # `signing renew`: re-stamp when the TSA cert ends
    est_client_cert_proxies: str = ""  # addresses allowed to forward TLS client certs to EST
    max_pdf_pages: int = 2000  # pages a PDF may have for signing or verification
    max_pdf_objects: int = 25_000  # objects (xref entries) a PDF may have

    # Operations (idp/ops.py).
    log_format: str = "json"  # json (one object per line) | text; applies under `onetrip serve`
    # Prometheus multiprocess files: memory-mapped, so never on the data disk (a full disk
    # there killed workers with SIGBUS). Empty: $XDG_RUNTIME_DIR or the temp dir.
    metrics_dir: str = ""
    storage_min_free: int = 8 * 1024 * 1024  # /readyz fails below this many bytes free
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-* are believed

    # Issue 15: URLs that clients supply (config/outbound.py) and client policy.
    # Where client-supplied URLs may lead: `public` and/or CIDR networks, comma-separated.
    # Empty: `public`, plus loopback on a development server (plain-http loopback issuer).
    outbound_networks: str = ""
    outbound_timeout: float = 3.0  # one outbound exchange, all of it (DNS to last byte)
    outbound_max_bytes: int = 256 * 1024  # largest JWKS, sector identifier or logo fetched
    outbound_cache_ttl: int = 300  # fetched documents are kept this long (refreshed before)
    # A failed fetch is remembered this long; an unknown `kid` refetches a JWKS once per this.
    outbound_retry_interval: int = 30
    require_pkce: bool = True  # PKCE of confidential clients (public ones always); per client too

    # Issue 15: the audit chain's anchors (config/audit_anchor.py).
    audit_anchor_interval: int = 3600  # a node time-stamps the chain's head this often; 0: never
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


def _coerce(name: str, kind: typing.Any, raw: typing.Any) -> typing.Any:
    if kind is bool or kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("1", "true", "yes", "on"):
            return True
        if str(raw).lower() in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    try:
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        if kind in (Path, "Path"):
            return Path(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}: expected {kind}, got {raw!r}") from None
    return str(raw)


def load_settings(
    environ: typing.Mapping[str, str] | None = None, *, create: bool = True, **overrides
) -> Settings:
    """Build :class:`Settings` from the environment, the TOML file and ``overrides``.

    With ``create=False`` (the CLI, except ``serve``) a data directory that does not exist
    is refused, saying where it was looked for, rather than made with new secrets: a
    command run from another directory must not start a second installation."""
    env = os.environ if environ is None else environ
    file_values: dict = {}
    if path := env.get("ONETRIP_CONFIG"):
        try:
            file_values = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    values: dict = {}
    hints = typing.get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(file_values) - known
    if unknown:
        raise SettingsError(f"unknown settings in {env.get('ONETRIP_CONFIG')}: {sorted(unknown)}")
    for name in known:
        raw = overrides.get(name)
        if raw is None:
            raw = env.get(f"ONETRIP_{name.upper()}")
        if raw is None and name in _BARE_ENV:
            raw = env.get(_BARE_ENV[name])
        if raw is None:
            raw = file_values.get(name)
        if raw is not None:
            values[name] = _coerce(name, hints[name], raw)
    settings = Settings(**values)
    if problems := problems_of(settings):
        raise SettingsError("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))
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


_CHOICES = {
    "log_format": ("json", "text"),
    "key_backend": ("pkcs8", "pkcs11"),
    "key_algorithm": ("ec-p256", "rsa-3072"),
}
#: Inclusive bounds of numeric settings; ``None``: unbounded on that side.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "authorization_code_ttl": (1, 600),
    "access_token_ttl": (1, 86400),
    "id_token_ttl": (1, 86400),
    "refresh_token_ttl": (60, None),
    "refresh_token_reuse_grace": (0, 300),
    "session_ttl": (60, None),
    "jwks_cache_ttl": (0, None),
    "key_publish_delay": (0, None),
    "login_max_failures_per_account": (1, None),
    "login_max_failures_per_ip": (1, None),
    "login_throttle_window": (1, None),
    "argon2_time_cost": (1, 100),
    "argon2_memory_cost": (8, 4 * 1024 * 1024),
    "argon2_parallelism": (1, 64),
    "max_form_bytes": (1024, None),
    "max_json_bytes": (1024, None),
    "max_upload_bytes": (1024, None),
    "backchannel_logout_timeout": (0.1, 60),
    "max_image_pixels": (1, None),
    "face_match_threshold": (0.01, 1.0),
    "crl_validity": (60, None),
    "ocsp_validity": (60, None),
    "csc_sad_ttl": (1, 3600),
    "console_step_up_max_age": (1, None),
    "revocation_status_max_age": (0, 3600),
    "seal_renew_before": (0, None),
    "archive_renew_before": (0, None),
    "max_pdf_pages": (1, None),
    "max_pdf_objects": (1, None),
    "trusted_proxies": (0, 10),
    "outbound_timeout": (0.1, 60),
    "outbound_max_bytes": (1024, None),
    "outbound_cache_ttl": (1, None),
    "outbound_retry_interval": (1, None),
    "audit_anchor_interval": (0, None),
    "storage_min_free": (0, None),
}


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
        return f"redis_url: {CLUSTER_REFUSAL}"
    if not url.startswith(_REDIS_SCHEMES):
        return (
            "redis_url: expected a redis://, rediss:// or unix:// URL of one primary, or "
            "redis+sentinel://host:port[,host:port...]/service[/db], got "
            f"{url.split('://')[0]}://..."
        )
    if url.startswith(SENTINEL_SCHEMES) and not _SENTINEL_URL.fullmatch(url.split("://", 1)[1]):
        return (
            "redis_url: expected redis+sentinel://[[user]:password@]host:port[,host:port...]"
            "/service[/db] (each Sentinel with its port, then the service's name)"
        )
    return None


def problems_of(settings: Settings) -> list[str]:
    """One line per setting whose value is out of its range or not one of its choices."""
    problems = []
    for name, choices in _CHOICES.items():
        value = getattr(settings, name)
        if value not in choices:
            problems.append(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    for name, (low, high) in _RANGES.items():
        value = getattr(settings, name)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low} to {high}" if high is not None else f"at least {low}"
            problems.append(f"{name}: expected {bounds}, got {value!r}")
    if not settings.issuer.startswith(("http://", "https://")) or any(
        c in settings.issuer for c in "?# "
    ):
        problems.append(
            f"issuer: expected an http(s) URL without query or fragment, got {settings.issuer!r}"
        )
    if settings.redis_url and (problem := _redis_url_problem(settings.redis_url)):
        problems.append(problem)
    if len(settings.ca_country) != 2 or not settings.ca_country.isalpha():
        problems.append(
            f"ca_country: expected a two-letter ISO 3166 code, got {settings.ca_country!r}"
        )
    return problems


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

"""Outbound HTTP to URLs that clients supply: the one way OneTrip reaches them.

A client's ``jwks_uri``, ``sector_identifier_uri``, ``backchannel_logout_uri`` and
``logo_uri`` are chosen by whoever registered the client, so every request to one is a
request an outsider makes from inside the operator's network. :class:`Fetcher` makes it
safe to make:

- ``https`` only, or plain ``http`` to a network the operator listed by name (local
  development: :attr:`OutboundPolicy.networks`);
- the host is resolved once, every address it resolves to must be allowed (no private,
  loopback, link-local, shared, reserved or cloud-metadata address unless the operator
  listed its network), and the connection goes to the address that was checked, so a name
  that answers differently the second time (DNS rebinding) gains nothing; TLS still
  checks the certificate against the name;
- no redirects: a 3xx answer is a failure (following one would reopen every check);
- one deadline for the whole exchange (resolution, connection, TLS, request and each read
  of the answer), not a timeout per read, so a server that trickles bytes cannot hold a
  thread past the limit;
- a size cap, checked against ``Content-Length`` and while reading; no content decoding.

:class:`Documents` keeps what was fetched, failures included, in this process and in
Redis (so a document fetched at registration serves every node), refreshes documents in
use in the background before they expire, and refetches one at most once per interval
when asked to (a client's JWKS that lacks the key an assertion names).

Written on the standard library's ``http.client`` rather than requests or urllib3: neither
connects to an address that was checked while speaking TLS to the name with one deadline
over every read (their timeouts are per socket operation).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import SplitResult, urlsplit

from redis import exceptions as redis_errors

from config.settings import Settings, SettingsError

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger("onetrip.outbound")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
T = TypeVar("T")

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_USER_AGENT = "OneTrip"


class OutboundError(Exception):
    """A fetch that was refused or failed; ``reason`` is a short code for logs and audit."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason


@dataclass(frozen=True)
class OutboundPolicy:
    """Where outbound requests may go, and how long and how much they may take.

    ``public`` allows every globally routable address; ``networks`` are further networks
    the operator allows, and the only ones plain ``http`` may reach.
    """

    public: bool = True
    networks: tuple[IPNetwork, ...] = ()
    timeout: float = 3.0
    max_bytes: int = 256 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The operator's policy; :class:`SettingsError` names a bad ``outbound_networks``."""
        try:
            public, networks = parse_networks(settings.outbound_networks)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
        if not settings.outbound_networks.strip() and _is_development(settings.issuer):
            networks = LOOPBACK
        return cls(public, networks, settings.outbound_timeout, settings.outbound_max_bytes)

    def allows(self, address: IPAddress) -> bool:
        """Whether a connection may go to ``address``."""
        if any(address in net for net in self.networks if net.version == address.version):
            return True
        return self.public and all(_is_public(a) for a in _embedded(address))

    def allows_plain_http(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


def parse_networks(value: str) -> tuple[bool, tuple[IPNetwork, ...]]:
    """``public`` and CIDR networks, comma-separated; empty means ``public``.

    Raises :class:`ValueError` naming the item that is neither.
    """
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        return True, ()
    networks = []
    for item in items:
        if item == "public":
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"outbound_networks: {item!r} is neither 'public' nor a network"
            ) from None
    return "public" in items, tuple(networks)


def _is_development(issuer: str) -> bool:
    """A plain-http issuer on loopback: a server only this machine can use."""
    parts = urlsplit(issuer)
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return False


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address.teredo:
            found.extend(address.teredo)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


# -- one exchange ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise OutboundError("timeout", "the server did not answer in time")
        return left


class _Deadlined:
    """Every read and write of this socket waits at most until the exchange's deadline."""

    deadline: _Deadline

    def recv_into(self, buffer, nbytes=0, flags=0):
        self.settimeout(self.deadline.left())
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data, flags=0):
        self.settimeout(self.deadline.left())
        return super().sendall(data, flags)


class _DeadlineSocket(_Deadlined, socket.socket):
    pass


class _DeadlineSSLSocket(_Deadlined, ssl.SSLSocket):
    pass


def is_uri_text(value: str) -> bool:
    """Whether ``value`` has only characters a URI may have (RFC 3986: printable ASCII,
    no space, quote, backslash or the other characters it excludes)."""
    return value.isascii() and not any(
        ord(c) < 0x21 or ord(c) == 0x7F or c in _NOT_IN_URIS for c in value
    )


_NOT_IN_URIS = frozenset('"<>\\^`{|}')


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


class Fetcher:
    """Makes outbound HTTP requests under an :class:`OutboundPolicy` (see the module doc).

    ``resolve`` maps a host name and port to addresses (the system resolver by default;
    tests give scripted answers to show that the checked address is the one connected to).
    """

    _resolving = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")

    def __init__(self, policy: OutboundPolicy, resolve: Resolver = _system_resolver) -> None:
        self.policy = policy
        self._resolve = resolve
        self._tls = ssl.create_default_context()
        self._tls.sslsocket_class = _DeadlineSSLSocket

    def check(self, url: str) -> None:
        """Refuse ``url`` now if no request to it could be made (registration's early check)."""
        parts = self._parse(url)
        self._address(parts, _Deadline(self.policy.timeout))

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """One exchange; raises :class:`OutboundError` if refused, failed or redirected."""
        deadline = _Deadline(timeout or self.policy.timeout)
        parts = self._parse(url)
        address = self._address(parts, deadline)
        limit = max_bytes or self.policy.max_bytes
        try:
            return self._exchange(parts, address, method, body, headers or {}, limit, deadline)
        except OutboundError:
            raise
        except ssl.SSLError as exc:
            raise OutboundError("tls", f"TLS with {parts.hostname} failed: {exc.reason}") from None
        except TimeoutError:
            raise OutboundError("timeout", "the server did not answer in time") from None
        except (OSError, http.client.HTTPException) as exc:
            raise OutboundError("connection", f"no usable answer: {type(exc).__name__}") from None

    def get(self, url: str, *, accept: str, max_bytes: int | None = None) -> Answer:
        """A GET that must answer 200."""
        answer = self.request("GET", url, headers={"Accept": accept}, max_bytes=max_bytes)
        if answer.status != 200:
            raise OutboundError("status", f"the server answered {answer.status}")
        return answer

    # -- the steps -------------------------------------------------------------------

    def _parse(self, url: str) -> SplitResult:
        if not isinstance(url, str) or len(url) > 2000 or not is_uri_text(url):
            raise OutboundError(
                "invalid_url", "the URL must be URI text of 2000 characters at most"
            )
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError for a bad port)
        except ValueError:
            raise OutboundError("invalid_url", "the URL cannot be parsed") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise OutboundError("scheme", "only https URLs with a host are fetched")
        if parts.username is not None or parts.password is not None:
            raise OutboundError("invalid_url", "URLs with credentials are not fetched")
        return parts

    def _address(self, parts: SplitResult, deadline: _Deadline) -> IPAddress:
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = [
                ipaddress.ip_address(a.split("%")[0]) for a in self._lookup(host, port, deadline)
            ]
        if not addresses:
            raise OutboundError("dns", f"{host} has no address")
        refused = [a for a in addresses if not self.policy.allows(a)]
        if refused:
            raise OutboundError(
                "address",
                f"{host} leads to {refused[0]}, an address outbound requests may not reach",
            )
        if parts.scheme == "http" and not all(self.policy.allows_plain_http(a) for a in addresses):
            raise OutboundError(
                "scheme", "plain http is allowed only to networks the operator listed"
            )
        return addresses[0]

    def _lookup(self, host: str, port: int, deadline: _Deadline) -> list[str]:
        try:
            host.encode("idna")
        except UnicodeError:
            raise OutboundError("invalid_url", "the host name is not valid") from None
        future = self._resolving.submit(self._resolve, host, port)
        try:
            return future.result(timeout=deadline.left())
        except FutureTimeout:
            raise OutboundError("timeout", f"resolving {host} took too long") from None
        except (OSError, UnicodeError, ValueError):
            raise OutboundError("dns", f"{host} cannot be resolved") from None

    def _exchange(
        self,
        parts: SplitResult,
        address: IPAddress,
        method: str,
        body: bytes | None,
        headers: Mapping[str, str],
        limit: int,
        deadline: _Deadline,
    ) -> Answer:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock: socket.socket = _DeadlineSocket(family, socket.SOCK_STREAM)
        sock.deadline = deadline
        with contextlib.ExitStack() as stack:
            stack.callback(sock.close)
            sock.settimeout(deadline.left())
            sock.connect((str(address), port))
            if parts.scheme == "https":
                sock.settimeout(deadline.left())
                sock = self._tls.wrap_socket(sock, server_hostname=parts.hostname)
                sock.deadline = deadline
                stack.callback(sock.close)
            connection = http.client.HTTPConnection(parts.hostname, port)
            connection.sock = sock  # already connected, to the address that was checked
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            sent = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **headers}
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            if 300 <= response.status < 400:
                raise OutboundError("redirect", f"the server redirected ({response.status})")
            length = response.getheader("Content-Length")
            if length and length.strip().isdigit() and int(length) > limit:
                raise OutboundError("too_large", f"the answer is larger than {limit} bytes")
            data = bytearray()
            while chunk := response.read(min(65536, limit + 1 - len(data))):
                data += chunk
                if len(data) > limit:
                    raise OutboundError("too_large", f"the answer is larger than {limit} bytes")
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, answer_headers, bytes(data))


# -- documents, cached ---------------------------------------------------------------------


@dataclass
class _Entry(Generic[T]):
    fetched_at: float  # epoch seconds
    value: T | None
    error: OutboundError | None
    used: bool = False


@dataclass
class _Kind(Generic[T]):
    accept: str
    parse: Callable[[Answer], T]


@dataclass
class Documents:
    """Documents from client-supplied URLs, cached with their failures (see the module doc).

    ``get`` answers from this process, else from Redis, else fetches (one fetch per URL
    at a time in this process; every caller waits at most the fetcher's deadline).
    Successes are kept ``ttl`` seconds and failures ``retry`` seconds, in this process
    and in Redis; a background thread refetches documents that were used before they
    expire. ``refetch`` fetches again at most once per ``retry`` seconds per URL, across
    every node.
    """

    fetcher: Fetcher
    redis: Callable[[], Redis]
    ttl: float
    retry: float
    namespace: str = "outbound"
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict, repr=False)
    _locks: dict[tuple[str, str], threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _kinds: dict[str, _Kind] = field(default_factory=dict, repr=False)
    _refresher: threading.Thread | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, redis: Callable[[], Redis]) -> Documents:
        fetcher = Fetcher(OutboundPolicy.from_settings(settings))
        return cls(fetcher, redis, settings.outbound_cache_ttl, settings.outbound_retry_interval)

    def kind(self, name: str, accept: str, parse: Callable[[Answer], T]) -> None:
        """Declare a kind of document: what to ask for, and how to read (and check) it.

        ``parse`` raises :class:`ValueError` for a document that is not what it must be.
        """
        self._kinds[name] = _Kind(accept, parse)

    def get(self, kind: str, url: str) -> T:
        """The document, cached; raises :class:`OutboundError` (a cached failure too)."""
        key = (kind, url)
        entry = self._fresh(key)
        if entry is None:
            entry = self._fetch_once(key, lambda: self._fresh(key))
        entry.used = True
        self._start_refresher()
        return self._unwrap(entry)

    def fetch(self, kind: str, url: str) -> T:
        """Fetch now, whatever is cached, and cache the outcome (registration)."""
        key = (kind, url)
        return self._unwrap(self._fetch_once(key, lambda: None))

    def refetch(self, kind: str, url: str) -> T | None:
        """Fetch again unless that was done for ``url`` within ``retry`` seconds anywhere;
        the new document, or ``None`` when it was too soon."""
        try:
            allowed = self.redis().set(
                self._redis_key("refetch", kind, url), 1, nx=True, ex=max(1, int(self.retry))
            )
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            allowed = False  # without Redis, no refetch: the cached document stands
        if not allowed:
            return None
        return self.fetch(kind, url)

    # -- internals -------------------------------------------------------------------

    def _unwrap(self, entry: _Entry) -> T:
        if entry.error is not None:  # a fresh exception: one raised again keeps its frames
            raise OutboundError(entry.error.reason, str(entry.error))
        return entry.value

    def _fresh(self, key: tuple[str, str]) -> _Entry | None:
        now = time.time()
        entry = self._entries.get(key)
        if entry is not None and now < entry.fetched_at + self._life(entry):
            return entry
        stored = self._from_redis(key)
        if stored is not None and now < stored.fetched_at + self._life(stored):
            self._remember(key, stored)
            return stored
        return None

    def _life(self, entry: _Entry) -> float:
        return self.retry if entry.error is not None else self.ttl

    def _fetch_once(self, key: tuple[str, str], cached: Callable[[], _Entry | None]) -> _Entry:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=self.fetcher.policy.timeout):
            raise OutboundError("timeout", "the server did not answer in time")
        try:
            entry = cached()  # what another thread fetched while this one waited
            return entry if entry is not None else self._download(key)
        finally:
            lock.release()

    def _download(self, key: tuple[str, str], keep: _Entry | None = None) -> _Entry:
        """Fetch and cache the outcome; a failure does not replace ``keep``, a good
        document that has not expired (a refresh that failed leaves it in place)."""
        kind, url = key
        spec = self._kinds[kind]
        now = time.time()
        try:
            answer = self.fetcher.get(url, accept=spec.accept)
            entry = _Entry(now, spec.parse(answer), None)
            stored = b"+" + answer.content_type.encode() + b"\n" + answer.body
        except OutboundError as exc:
            entry, stored = _Entry(now, None, exc), b"-" + _error_bytes(exc)
        except ValueError as exc:
            error = OutboundError("invalid_document", str(exc) or "not a valid document")
            entry, stored = _Entry(now, None, error), b"-" + _error_bytes(error)
        if entry.error is not None:
            log.info("outbound %s %s failed: %s", kind, url, entry.error)
            if keep is not None and keep.error is None:
                return keep
        self._remember(key, entry)
        with contextlib.suppress(redis_errors.ConnectionError, redis_errors.TimeoutError):
            life = int(self._life(entry)) + 1
            value = f"{now:.3f} ".encode() + stored
            self.redis().set(self._redis_key("doc", kind, url), value, ex=life)
        return entry

    def _from_redis(self, key: tuple[str, str]) -> _Entry | None:
        kind, url = key
        try:
            raw = self.redis().get(self._redis_key("doc", kind, url))
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            return None
        if not raw:
            return None
        stamp, _, rest = raw.partition(b" ")
        sign, rest = rest[:1], rest[1:]
        try:
            fetched_at = float(stamp)
            if sign == b"-":
                reason, _, description = rest.decode().partition("\n")
                return _Entry(fetched_at, None, OutboundError(reason, description))
            content_type, _, body = rest.partition(b"\n")
            answer = Answer(200, {"content-type": content_type.decode()}, body)
            return _Entry(fetched_at, self._kinds[kind].parse(answer), None)
        except ValueError:
            return None  # unreadable: fetch again

    def _remember(self, key: tuple[str, str], entry: _Entry) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = entry

    def _redis_key(self, what: str, kind: str, url: str) -> str:
        return f"{self.namespace}:{what}:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"

    # -- background refresh ------------------------------------------------------------

    def _start_refresher(self) -> None:
        if self._refresher is not None:
            return
        with self._guard:
            if self._refresher is None:
                self._refresher = threading.Thread(
                    target=self._refresh_forever, name="outbound-refresh", daemon=True
                )
                self._refresher.start()

    def _refresh_forever(self) -> None:
        while True:
            time.sleep(max(1.0, self.ttl / 10))
            try:
                self.refresh_due()
            except Exception:  # a background thread must outlive any one bad document
                log.exception("outbound refresh failed")

    def refresh_due(self) -> list[tuple[str, str]]:
        """Fetch again each document used since it was fetched and past 80% of its life;
        one node does each (a Redis lock), the others read its result. Returns the keys."""
        now, due = time.time(), []
        for key, entry in list(self._entries.items()):
            if entry.error is None and entry.used and now > entry.fetched_at + 0.8 * self.ttl:
                due.append(key)
        for key in due:
            kind, url = key
            try:
                mine = self.redis().set(
                    self._redis_key("refreshing", kind, url), 1, nx=True, ex=int(self.ttl * 0.2) + 1
                )
            except (redis_errors.ConnectionError, redis_errors.TimeoutError):
                mine = True
            if not mine:
                continue
            fresh = self._download(key, keep=self._entries.get(key))
            fresh.used = False
        return due


def _error_bytes(error: OutboundError) -> bytes:
    return f"{error.reason}\n{error}".encode()

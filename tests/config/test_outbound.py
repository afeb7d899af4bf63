"""config.outbound against real HTTP servers: internal addresses, DNS rebinding, redirects,
slow, trickling and huge answers, TLS, and the document cache shared through Redis."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time

import pytest
import redis as redis_lib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config.outbound import (
    LOOPBACK,
    Answer,
    Documents,
    Fetcher,
    OutboundError,
    OutboundPolicy,
    parse_networks,
)
from config.settings import SettingsError, load_settings
from tests.outside import Outside

LOOPBACK_ONLY = OutboundPolicy(public=False, networks=LOOPBACK, timeout=1.0, max_bytes=64 * 1024)


@pytest.fixture
def outside():
    with Outside() as server:
        yield server


def _refused(fetcher: Fetcher, url: str) -> str:
    with pytest.raises(OutboundError) as refused:
        fetcher.request("GET", url)
    return refused.value.reason


def test_loopback_is_refused_unless_the_operator_lists_it_and_nothing_is_sent(outside):
    url = outside.serve_json("/internal", {"secret": "x"})
    public_only = Fetcher(OutboundPolicy(public=True))
    for target in (url, url.replace("127.0.0.1", "localhost")):
        assert _refused(public_only, target) == "address"
    assert outside.hits["/internal"] == 0
    assert Fetcher(LOOPBACK_ONLY).request("GET", url).status == 200


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.100.100.200",  # shared address space (a metadata address too)
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fd00:ec2::254]",
        "[fe80::1]",
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "224.0.0.1",
    ],
)
def test_private_link_local_and_metadata_addresses_are_refused_before_connecting(address):
    # Refused on the address alone: no packet leaves (these addresses are never dialled).
    assert _refused(Fetcher(OutboundPolicy(public=True)), f"https://{address}/jwks") == "address"


def test_a_name_is_resolved_once_and_the_connection_goes_to_the_checked_address():
    """DNS rebinding: the name answers with an allowed address for the check and with an
    internal one afterwards. The request must reach the first, never the second."""
    with Outside("127.0.0.2") as allowed, Outside("127.0.0.1", allowed.port) as internal:
        allowed.serve_json("/jwks", {"keys": []})
        internal.serve_json("/jwks", {"internal": True})
        answers = iter([["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]])
        lookups = []

        def rebinding(host: str, port: int) -> list[str]:
            lookups.append(host)
            return next(answers)

        policy = OutboundPolicy(public=False, networks=(ipaddress.ip_network("127.0.0.2/32"),))
        answer = Fetcher(policy, resolve=rebinding).request(
            "GET", f"http://rebinding.example:{allowed.port}/jwks"
        )
        assert answer.body == b'{"keys": []}'
        assert lookups == ["rebinding.example"]
        assert (allowed.hits["/jwks"], internal.hits["/jwks"]) == (1, 0)


def test_a_name_with_one_internal_address_among_its_answers_is_refused():
    def mixed(host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]

    policy = OutboundPolicy(public=False, networks=(ipaddress.ip_network("127.0.0.2/32"),))
    assert _refused(Fetcher(policy, resolve=mixed), "http://mixed.example/") == "address"


def test_redirects_are_not_followed(outside):
    target = outside.serve_json("/jwks", {"keys": []})
    url = outside.serve("/moved", status=302, headers={"Location": target})
    assert _refused(Fetcher(LOOPBACK_ONLY), url) == "redirect"
    assert outside.hits["/jwks"] == 0


def test_a_server_that_never_answers_costs_the_deadline_not_more(outside):
    url = outside.serve_json("/slow", {"keys": []}, delay=30)
    assert _refused(Fetcher(LOOPBACK_ONLY), url) == "timeout"


def test_a_server_that_trickles_its_answer_is_cut_off_at_the_deadline(outside):
    # One byte every 50 ms never trips a timeout per read; the deadline of the whole
    # exchange still ends it (else this would succeed after 15 s).
    url = outside.serve("/drip", body=b"x" * 300, drip=0.05)
    assert _refused(Fetcher(LOOPBACK_ONLY), url) == "timeout"


@pytest.mark.parametrize("chunked", [False, True], ids=["with-length", "chunked"])
def test_an_answer_over_the_size_cap_is_refused_and_not_read_to_its_end(outside, chunked):
    url = outside.serve("/huge", size=100 * 1024 * 1024, chunked=chunked)
    assert _refused(Fetcher(LOOPBACK_ONLY), url) == "too_large"
    assert outside.sent["/huge"] < 20 * 1024 * 1024


def test_plain_http_goes_only_to_listed_networks_and_https_checks_the_certificate(tmp_path):
    public = Fetcher(OutboundPolicy(public=True))
    assert _refused(public, "http://93.184.215.14/jwks") == "scheme"  # refused before dialling
    with _UntrustedTls(tmp_path) as port:
        assert _refused(Fetcher(LOOPBACK_ONLY), f"https://127.0.0.1:{port}/") == "tls"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/jwks",
        "file:///etc/passwd",
        "http://user:pw@127.0.0.1/",
        'http://127.0.0.1/"quoted"',
        "http://127.0.0.1/caf\u00e9",
        "http://127.0.0.1:99999/",
        "http:///nohost",
    ],
)
def test_urls_that_are_no_plain_http_urls_are_refused(url):
    assert _refused(Fetcher(LOOPBACK_ONLY), url) in ("scheme", "invalid_url")


def test_the_networks_setting_reads_public_and_cidrs_and_names_a_bad_item():
    assert parse_networks("") == (True, ())
    public, networks = parse_networks("public, 127.0.0.0/8")
    assert public and networks == (ipaddress.ip_network("127.0.0.0/8"),)
    with pytest.raises(ValueError, match="'intranet'"):
        parse_networks("public,intranet")


def test_a_development_issuer_may_reach_loopback_and_a_production_one_may_not(tmp_path):
    def policy(**values):
        return OutboundPolicy.from_settings(
            load_settings(environ={}, data_dir=str(tmp_path), **values)
        )

    assert policy(issuer="http://127.0.0.1:8000").networks == LOOPBACK
    assert policy(issuer="https://id.example.gov").networks == ()
    assert policy(issuer="https://id.example.gov").public
    assert not policy(issuer="http://127.0.0.1:8000", outbound_networks="127.0.0.0/8").public
    with pytest.raises(SettingsError, match="outbound_networks"):
        policy(outbound_networks="10.0.0.0/33")


# -- the document cache ----------------------------------------------------------------


def _json_body(answer: Answer) -> dict:
    import json

    return json.loads(answer.body)


def _documents(redis_url: str, ttl: float = 300, retry: float = 30, prefix: str = "t") -> Documents:
    redis = redis_lib.Redis.from_url(redis_url)
    documents = Documents(Fetcher(LOOPBACK_ONLY), lambda: redis, ttl, retry, namespace=prefix)
    documents.kind("doc", "application/json", _json_body)
    return documents


def test_documents_and_failures_are_cached_so_a_url_is_fetched_once(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    good = outside.serve_json("/good", {"n": 1})
    bad = outside.serve("/bad", status=500)
    documents = _documents(redis_url)
    assert documents.get("doc", good) == documents.get("doc", good) == {"n": 1}
    for _ in range(3):
        with pytest.raises(OutboundError):
            documents.get("doc", bad)
    assert (outside.hits["/good"], outside.hits["/bad"]) == (1, 1)


def test_a_document_one_process_fetched_serves_another_through_redis(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    url = outside.serve_json("/shared", {"n": 2})
    _documents(redis_url).fetch("doc", url)  # as registration does, on one node
    assert _documents(redis_url).get("doc", url) == {"n": 2}  # a token request, elsewhere
    assert outside.hits["/shared"] == 1


def test_concurrent_requests_for_one_url_make_one_fetch(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    url = outside.serve_json("/busy", {"n": 3}, delay=0.3)
    documents = _documents(redis_url)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(documents.get("doc", url))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [{"n": 3}] * 8
    assert outside.hits["/busy"] == 1


def test_a_refetch_happens_at_most_once_per_interval_across_processes(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    url = outside.serve_json("/rotating", {"n": 1})
    first, second = _documents(redis_url), _documents(redis_url)
    first.get("doc", url)
    outside.serve_json("/rotating", {"n": 2})
    assert first.refetch("doc", url) == {"n": 2}
    assert second.refetch("doc", url) is None  # another node, same interval
    assert first.refetch("doc", url) is None
    assert outside.hits["/rotating"] == 2


def test_documents_in_use_are_refreshed_in_the_background_before_they_expire(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    url = outside.serve_json("/keys", {"n": 1})
    documents = _documents(redis_url, ttl=1.0)
    documents.get("doc", url)
    time.sleep(0.85)  # past 80% of its life
    outside.serve_json("/keys", {"n": 2})
    assert documents.refresh_due() == [("doc", url)]
    assert documents.get("doc", url) == {"n": 2}
    assert outside.hits["/keys"] == 2


def test_a_failed_refresh_keeps_the_good_document_until_it_expires(outside, redis_url):
    redis_lib.Redis.from_url(redis_url).flushdb()
    url = outside.serve_json("/flaky", {"n": 1})
    documents = _documents(redis_url, ttl=1.0)
    documents.get("doc", url)
    time.sleep(0.85)
    outside.serve("/flaky", status=503)
    documents.refresh_due()
    assert documents.get("doc", url) == {"n": 1}


# -- a TLS server with a certificate no one trusts ---------------------------------------


class _UntrustedTls:
    def __init__(self, tmp_path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        self.cert, self.key = tmp_path / "cert.pem", tmp_path / "key.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def __enter__(self) -> int:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self.outside = Outside(tls=context).__enter__()
        return self.outside.port

    def __exit__(self, *exc) -> None:
        self.outside.__exit__(*exc)

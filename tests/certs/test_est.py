"""EST (RFC 7030) against a real server, byte for byte with curl and OpenSSL, and through
a real nginx forwarding TLS client certificates: every certificate names who asked.

No standard EST client installs here (libest's estclient is not in Debian, and PyPI has
none), so the exchanges are the RFC's own: base64 PKCS#10 bodies, ``application/pkcs10``,
``application/pkcs7-mime; smime-type=certs-only`` answers, read back by OpenSSL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import redis as redis_lib
from cryptography import x509

from config.runtime import Runtime
from config.settings import load_settings
from idp.passwords import Passwords
from idp.tokens import mint_access_token
from idp.users import create_user
from tests.conftest import free_port, fresh_database, node_env, start_server, stop_process
from tests.deploy.cluster import nginx_binary

EST = "/.well-known/est"


class Est:
    def __init__(self, url: str, env: dict, work: Path) -> None:
        self.url, self.env, self.work = url, env, work

    def cli(self, *args: str) -> str:
        onetrip = str(Path(os.environ.get("VIRTUAL_ENV", ".venv")) / "bin" / "onetrip")
        if not Path(onetrip).exists():
            import sys

            onetrip = str(Path(sys.executable).parent / "onetrip")
        done = subprocess.run(
            [onetrip, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def device(self, name: str, *dns: str) -> str:
        args = [a for d in dns for a in ("--dns", d)]
        return json.loads(self.cli("ca", "devices", "add", name, *args, "--json"))["secret"]

    def csr(self, subject: str, *, san: str | None = None, key: Path | None = None) -> Path:
        """``openssl req``: a P-256 key (new unless given) and a base64 DER request."""
        key = key or self.work / f"{abs(hash(subject + str(san)))}.key"
        if not key.exists():
            _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", str(key))  # fmt: skip
        der = self.work / "req.der"
        args = [
            "req",
            "-new",
            "-key",
            str(key),
            "-subj",
            subject,
            "-outform",
            "DER",
            "-out",
            str(der),
        ]
        if san:
            args += ["-addext", f"subjectAltName={san}"]
        _openssl(*args)
        body = self.work / "req.b64"
        body.write_bytes(base64.encodebytes(der.read_bytes()))
        return body

    def curl(self, path: str, *args: str, base: str | None = None) -> tuple[int, dict, bytes]:
        """(status, headers, body) of ``curl`` to ``path``."""
        headers = self.work / "headers.txt"
        out = self.work / "body.out"
        done = subprocess.run(
            ["curl", "-sS", "-o", str(out), "-D", str(headers), *args, (base or self.url) + path],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        # The last response's headers (curl -D writes a 100 Continue block first, if any).
        block = headers.read_bytes().decode().strip().split("\r\n\r\n")[-1]
        lines = block.split("\r\n")
        status = int(lines[0].split()[1])
        parsed = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        return status, parsed, out.read_bytes()

    def enroll(self, body: Path, *auth: str, renew: bool = False, base: str | None = None):
        path = f"{EST}/{'simplereenroll' if renew else 'simpleenroll'}"
        return self.curl(
            path, "-H", "Content-Type: application/pkcs10", "--data-binary", f"@{body}",
            *auth, base=base,
        )  # fmt: skip


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _certificates(body: bytes) -> list[x509.Certificate]:
    """``openssl pkcs7 -print_certs`` of a base64 certs-only answer."""
    pem = _openssl("pkcs7", "-inform", "DER", "-print_certs", data=base64.b64decode(body))
    return x509.load_pem_x509_certificates(pem)


@pytest.fixture(scope="module")
def est(tmp_path_factory, redis_url):
    work = tmp_path_factory.mktemp("est")
    with fresh_database(work) as database_url:
        redis_lib.Redis.from_url(redis_url).flushdb()
        port = free_port()
        env = node_env(work / "node", port, redis_url, database_url)
        # nginx (below) connects from 127.0.0.2: only it may forward client certificates.
        env.update(ONETRIP_TRUSTED_PROXIES="1", ONETRIP_EST_CLIENT_CERT_PROXIES="127.0.0.2")
        process = start_server(env, port)
        try:
            yield Est(env["ONETRIP_ISSUER"], env, work)
        finally:
            stop_process(process)


def test_cacerts_and_csrattrs_are_base64_der_as_rfc_7030_says(est):
    status, headers, body = est.curl(f"{EST}/cacerts")
    assert status == 200
    assert headers["content-type"] == "application/pkcs7-mime; smime-type=certs-only"
    names = sorted(c.subject.rfc4514_string() for c in _certificates(body))  # a SET OF
    assert names == ["CN=OneTrip Issuing CA,O=OneTrip,C=CN", "CN=OneTrip Root CA,O=OneTrip,C=CN"]
    status, headers, body = est.curl(f"{EST}/csrattrs")
    assert (status, headers["content-type"]) == (200, "application/csrattrs")
    parsed = _openssl("asn1parse", "-inform", "DER", data=base64.b64decode(body)).decode()
    assert "ecdsa-with-SHA256" in parsed and "prime256v1" in parsed


def test_a_device_enrols_with_http_basic_and_gets_exactly_its_registered_names(est):
    secret = est.device("kiosk-7", "kiosk-7.example.gov")
    body = est.csr("/CN=kiosk-7", san="DNS:kiosk-7.example.gov")

    status, headers, answer = est.enroll(body, "--user", f"kiosk-7:{secret}")
    assert status == 200, answer
    assert headers["content-type"] == "application/pkcs7-mime; smime-type=certs-only"
    [cert] = _certificates(answer)
    assert cert.subject.rfc4514_string() == "CN=kiosk-7"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kiosk-7.example.gov"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [u.dotted_string for u in eku] == ["1.3.6.1.5.5.7.3.2"]  # clientAuth


@pytest.mark.parametrize(
    ("subject", "san", "refusal"),
    [
        ("/CN=OneTrip Issuing CA/O=OneTrip", None, "CN=OneTrip Issuing CA"),
        ("/CN={device}", "DNS:*.example.gov", "*.example.gov"),
        ("/CN={device}", "email:mayor@example.gov", "mayor@example.gov"),
        ("/CN=kiosk-9", None, "CN=kiosk-9"),  # another device's name
    ],
    ids=["ca-name", "wildcard", "foreign-address", "other-device"],
)
def test_est_refuses_every_name_that_is_not_the_devices(est, request, subject, san, refusal):
    device = f"kiosk-8-{request.node.callspec.id}"
    secret = est.device(device)
    before = len(json.loads(est.cli("ca", "list", "--json")))
    body = est.csr(subject.format(device=device), san=san)
    status, headers, answer = est.enroll(body, "--user", f"{device}:{secret}")
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert refusal in answer.decode()
    assert len(json.loads(est.cli("ca", "list", "--json"))) == before


def test_bad_credentials_media_types_and_bodies_are_refused(est):
    secret = est.device("kiosk-10")
    body = est.csr("/CN=kiosk-10")
    status, headers, _ = est.enroll(body, "--user", "kiosk-10:wrong")
    assert status == 401
    assert headers["www-authenticate"].startswith('Basic realm="OneTrip EST"')
    status, *_ = est.enroll(body)  # nobody
    assert status == 401
    status, _, answer = est.curl(
        f"{EST}/simpleenroll", "--user", f"kiosk-10:{secret}", "-H", "Content-Type: text/plain",
        "--data-binary", f"@{body}",
    )  # fmt: skip
    assert status == 415
    assert b"application/pkcs10" in answer
    (est.work / "junk.b64").write_text("not base64 !!")
    status, *_ = est.enroll(est.work / "junk.b64", "--user", f"kiosk-10:{secret}")
    assert status == 400


def test_simplereenroll_needs_the_current_key_and_keeps_the_names(est):
    secret = est.device("kiosk-11")
    key = est.work / "kiosk-11.key"
    status, _, answer = est.enroll(est.csr("/CN=kiosk-11", key=key), "--user", f"kiosk-11:{secret}")
    assert status == 200
    [first] = _certificates(answer)

    status, _, answer = est.enroll(
        est.csr("/CN=kiosk-11", key=key), "--user", f"kiosk-11:{secret}", renew=True
    )
    assert status == 200, answer
    [renewed] = _certificates(answer)
    assert renewed.subject == first.subject
    assert renewed.serial_number != first.serial_number
    # A stolen secret alone cannot re-key the device: the current key must sign.
    status, _, answer = est.enroll(
        est.csr("/CN=kiosk-11"), "--user", f"kiosk-11:{secret}", renew=True
    )
    assert status == 403
    assert b"current certificate" in answer


def test_a_bearer_token_enrols_its_citizen_under_the_citizens_name_only(est):
    runtime = Runtime(load_settings(environ=est.env))
    try:
        with runtime.db.write() as session:
            create_user(
                session,
                Passwords(runtime.settings),
                "zhao.lei",
                name="Zhao Lei",
                email="zhao.lei@example.org",
                password="a long passphrase here",
            )
        token = mint_access_token(runtime, ["pki:enroll"], username="zhao.lei")
    finally:
        runtime.db.dispose()
    bearer = ("-H", f"Authorization: Bearer {token}")
    status, _, answer = est.enroll(est.csr("/CN=zhao.lei"), *bearer)
    assert status == 200, answer
    assert _certificates(answer)[0].subject.rfc4514_string() == "CN=zhao.lei"
    status, _, answer = est.enroll(est.csr("/CN=admin"), *bearer)
    assert status == 400
    assert b"CN=admin" in answer


_NGINX = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{est_server}
}}
"""


def _est_server_block(tmp: Path, port: int, upstream: str) -> str:
    """deploy/nginx-est.conf, on a test port with a test server certificate."""
    source = (Path(__file__).resolve().parents[2] / "deploy" / "nginx-est.conf").read_text()
    block = source[
        source.index("    # -- EST client certificates") : source.index("    # -- end EST")
    ]
    return (
        block.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("listen [::]:443 ssl;", "")
        .replace("/etc/ssl/onetrip/fullchain.pem", str(tmp / "server.pem"))
        .replace("/etc/ssl/onetrip/privkey.pem", str(tmp / "server.key"))
        .replace("/etc/ssl/onetrip/est-ca.pem", str(tmp / "est-ca.pem"))
        .replace("http://onetrip", f"http://{upstream}")
        .replace("proxy_bind 10.0.0.2;", "proxy_bind 127.0.0.2;")
    )


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")
def test_nginx_forwards_a_tls_client_certificate_and_only_nginx_is_believed(est):
    secret = est.device("kiosk-12")
    key = est.work / "kiosk-12.key"
    status, _, answer = est.enroll(est.csr("/CN=kiosk-12", key=key), "--user", f"kiosk-12:{secret}")
    assert status == 200
    client_pem = est.work / "kiosk-12.pem"
    client_pem.write_bytes(_openssl("pkcs7", "-inform", "DER", "-print_certs",
                                    data=base64.b64decode(answer)))  # fmt: skip
    tmp = est.work / "nginx"
    tmp.mkdir()
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1",
             "-keyout", str(tmp / "server.key"), "-out", str(tmp / "server.pem"))  # fmt: skip
    (tmp / "est-ca.pem").write_text(est.cli("ca", "export", "--chain"))
    port = free_port()
    upstream = est.url.removeprefix("http://")
    (tmp / "nginx.conf").write_text(
        _NGINX.format(
            user="user root;" if os.geteuid() == 0 else "",
            tmp=tmp,
            est_server=_est_server_block(tmp, port, upstream),
        )
    )
    nginx = subprocess.Popen([nginx_binary(), "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        base = f"https://127.0.0.1:{port}"
        tls = ("--cacert", str(tmp / "server.pem"), "--retry", "5", "--retry-connrefused")
        with_cert = (*tls, "--cert", str(client_pem), "--key", str(key))
        # Re-enrol with nothing but the TLS client certificate (and the current key).
        status, _, answer = est.enroll(
            est.csr("/CN=kiosk-12", key=key), *with_cert, renew=True, base=base
        )
        assert status == 200, answer
        assert _certificates(answer)[0].subject.rfc4514_string() == "CN=kiosk-12"
        # The same header sent straight to the node, not from nginx, is not believed.
        forged = client_pem.read_text().replace("\n", "%0A")
        status, *_ = est.enroll(
            est.csr("/CN=kiosk-12", key=key), "-H", f"X-SSL-Client-Cert: {forged}",
            "-H", "X-SSL-Client-Verify: SUCCESS", renew=True,
        )  # fmt: skip
        assert status == 401
        # Through nginx, a client's own X-SSL-Client-Cert header is replaced, not passed on.
        status, *_ = est.enroll(
            est.csr("/CN=kiosk-12", key=key), *tls, "-H", f"X-SSL-Client-Cert: {forged}",
            "-H", "X-SSL-Client-Verify: SUCCESS", renew=True, base=base,
        )  # fmt: skip
        assert status == 401
    finally:
        nginx.terminate()
        nginx.wait(10)

"""Statuses the responder remembers never outlive a revocation, wherever it was made."""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certs.authority import Authority
from certs.ocsp import responder
from certs.statuses import STAMP_KEY, Status, Statuses
from config.runtime import Runtime


def _status(body: bytes) -> ocsp.OCSPCertStatus:
    return ocsp.load_der_ocsp_response(body).certificate_status


def test_a_running_server_answers_revoked_once_the_cli_revoked_in_another_process(
    live_server,
):
    issued = json.loads(
        live_server.cli(
            "ca", "issue", "--profile", "citizen", "--subject", "CN=Wang Wu", "--json"
        ).stdout
    )
    certificate = x509.load_pem_x509_certificate(issued["certificate"].encode())
    issuer = x509.load_pem_x509_certificates(
        live_server.cli("ca", "export", "--chain").stdout.encode()
    )[0]
    builder = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1())
    plain = builder.build().public_bytes(serialization.Encoding.DER)
    with_nonce = builder.add_extension(x509.OCSPNonce(b"\x01" * 16), critical=False).build()
    get_url = f"{live_server.url}/pki/ocsp/{base64.b64encode(plain).decode()}"
    headers = {"Content-Type": "application/ocsp-request"}

    def both() -> list[ocsp.OCSPCertStatus]:
        posted = requests.post(
            f"{live_server.url}/pki/ocsp",
            data=with_nonce.public_bytes(serialization.Encoding.DER),
            headers=headers,
            timeout=10,
        )
        return [_status(requests.get(get_url, timeout=10).content), _status(posted.content)]

    assert both() == [ocsp.OCSPCertStatus.GOOD] * 2
    assert both() == [ocsp.OCSPCertStatus.GOOD] * 2  # now remembered by the worker
    live_server.cli("ca", "revoke", issued["serial"], "--reason", "keyCompromise")
    assert both() == [ocsp.OCSPCertStatus.REVOKED] * 2


def test_a_revocation_through_another_authority_in_this_process_is_seen_at_once(ca, runtime):
    issued = ca.issue_for_custody_key("citizen", "CN=Zhao Liu")
    assert _status(responder(ca).response_for(issued.certificate)) == ocsp.OCSPCertStatus.GOOD
    Authority(Runtime(runtime.settings)).revoke(issued.serial, "superseded")
    assert _status(responder(ca).response_for(issued.certificate)) == ocsp.OCSPCertStatus.REVOKED


class _Loader:
    """A status source that counts how often it is asked."""

    def __init__(self, state: str) -> None:
        self.state, self.calls = state, 0

    def __call__(self, serial: str) -> Status:
        self.calls += 1
        return Status(self.state)


def test_statuses_are_remembered_until_another_node_writes_a_new_stamp(runtime):
    statuses = Statuses(lambda: runtime.redis, max_age=60, recheck=0)
    load = _Loader("good")
    assert statuses.lookup("ab12", load) == Status("good")
    assert statuses.lookup("ab12", load) == Status("good")
    assert load.calls == 1
    runtime.redis.set(STAMP_KEY, "another node revoked something")
    load.state = "revoked"
    assert statuses.lookup("ab12", load).state == "revoked"
    assert load.calls == 2


def test_a_stamp_lost_with_redis_data_counts_as_a_change(runtime):
    statuses = Statuses(lambda: runtime.redis, max_age=60, recheck=0)
    runtime.redis.set(STAMP_KEY, "before the restart")
    load = _Loader("good")
    statuses.lookup("ab12", load)
    runtime.redis.delete(STAMP_KEY)
    statuses.lookup("ab12", load)
    assert load.calls == 2


def test_unknown_serials_are_asked_every_time_since_they_may_be_issued_next(runtime):
    statuses = Statuses(lambda: runtime.redis, max_age=60)
    load = _Loader("unknown")
    statuses.lookup("cd34", load)
    statuses.lookup("cd34", load)
    assert load.calls == 2


def test_a_revocation_whose_redis_write_failed_is_seen_within_the_status_bound(ca, runtime):
    bounded = dataclasses.replace(runtime.settings, revocation_status_max_age=1)
    reader = Authority(Runtime(bounded))
    issued = ca.issue_for_custody_key("citizen", "CN=Qian Qi")
    assert _status(responder(reader).response_for(issued.certificate)) == ocsp.OCSPCertStatus.GOOD
    # Another node whose Redis is gone: the revocation is stored, the stamp is not.
    cut_off = Runtime(dataclasses.replace(runtime.settings, redis_url="redis://127.0.0.1:1/0"))
    Authority(cut_off).revoke(issued.serial, "keyCompromise")
    time.sleep(1.1)  # the bound under test, not a speed figure
    assert (
        _status(responder(reader).response_for(issued.certificate)) == ocsp.OCSPCertStatus.REVOKED
    )


def test_embedded_answers_are_signed_now_not_taken_from_the_cache(ca):
    issued = ca.issue_for_custody_key("citizen", "CN=Sun Ba")
    cached = ocsp.load_der_ocsp_response(responder(ca).response_for(issued.certificate))
    time.sleep(1.1)  # so that a fresh answer carries a later second
    fresh = ocsp.load_der_ocsp_response(responder(ca).response_for(issued.certificate, fresh=True))
    assert fresh.this_update_utc > cached.this_update_utc

"""The CA over HTTP: index, certificates, CRL, OCSP, TSA and EST, checked with OpenSSL."""

from __future__ import annotations

import base64

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from idp.tokens import mint_access_token


def test_pki_index_lists_every_url_under_the_issuer(client):
    urls = client.get("/pki").get_json()
    assert set(urls) >= {"root", "ca", "crl", "ocsp", "tsa", "est"}
    assert all(u.startswith("http://127.0.0.1:8000/") for u in urls.values())


def test_root_certificate_is_served_as_der_and_pem(client, ca, pem):
    der = client.get("/pki/root.cer")
    assert der.mimetype == "application/pkix-cert"
    assert x509.load_der_x509_certificate(der.data) == ca.root.certificate
    assert client.get("/pki/root.pem").data == pem(ca.root.certificate)
    assert client.get("/pki/ca.cer?format=pem").data == pem(ca.ca.certificate)
    assert client.get("/pki/nothing.cer").status_code == 404


def test_crl_is_served_as_pkix_crl_and_verifies_in_openssl(client, pki, openssl):
    response = client.get("/pki/ca.crl")
    assert response.mimetype == "application/pkix-crl"
    (pki / "ca.crl").write_bytes(response.data)
    out = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        str(pki / "ca.crl"),
        "-CAfile",
        str(pki / "chain.pem"),
        "-noout",
    )
    assert b"verify OK" in out.stderr + out.stdout


def test_ocsp_post_answers_good_for_an_issued_certificate_in_openssl(client, ca, pki, openssl, pem):
    issued = ca.issue_for_custody_key("citizen", "CN=Li Si")
    (pki / "ee.pem").write_bytes(issued.pem().encode())
    openssl(
        "ocsp",
        "-issuer",
        str(pki / "ca.pem"),
        "-cert",
        str(pki / "ee.pem"),
        "-reqout",
        str(pki / "req.der"),
    )
    response = client.post(
        "/pki/ocsp", data=(pki / "req.der").read_bytes(), content_type="application/ocsp-request"
    )
    assert response.mimetype == "application/ocsp-response"
    (pki / "resp.der").write_bytes(response.data)
    out = openssl(
        "ocsp",
        "-issuer",
        str(pki / "ca.pem"),
        "-cert",
        str(pki / "ee.pem"),
        "-reqin",
        str(pki / "req.der"),
        "-respin",
        str(pki / "resp.der"),
        "-CAfile",
        str(pki / "root.pem"),
        "-no_nonce",
    )
    assert b"ee.pem: good" in out.stdout


def test_ocsp_get_with_base64_path_answers(client, ca):
    issued = ca.issue_for_custody_key("citizen", "CN=Wang Wu")
    from cryptography.x509 import ocsp

    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(issued.certificate, ca.ca.certificate, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = client.get("/pki/ocsp/" + base64.b64encode(request).decode())
    parsed = ocsp.load_der_ocsp_response(response.data)
    assert parsed.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert parsed.serial_number == issued.certificate.serial_number


def test_garbage_ocsp_request_gets_malformed_request_not_500(client):
    for response in (
        client.post("/pki/ocsp", data=b"not der", content_type="application/ocsp-request"),
        client.get("/pki/ocsp/%%%notbase64"),
        client.get("/pki/ocsp/" + base64.b64encode(b"\x30\x03\x02\x01\x01").decode()),
    ):
        assert response.status_code == 200
        assert (
            asn1_ocsp.OCSPResponse.load(response.data)["response_status"].native
            == "malformed_request"
        )


def test_tsa_over_http_grants_a_token_that_openssl_verifies(client, openssl_ts):
    query = openssl_ts.query(b"a form to stamp")
    response = client.post("/pki/tsa", data=query, content_type="application/timestamp-query")
    assert response.mimetype == "application/timestamp-reply"
    openssl_ts.verify(response.data)


def test_garbage_time_stamp_query_gets_a_rejection_status(client):
    response = client.post("/pki/tsa", data=b"garbage", content_type="application/timestamp-query")
    assert response.status_code == 200
    status = tsp.PKIStatusInfo.load(response.data[2:])
    assert status["status"].native == "rejection"


def test_est_cacerts_returns_the_chain_as_base64_pkcs7(client, ca, openssl):
    response = client.get("/.well-known/est/cacerts")
    assert response.headers["Content-Type"].startswith("application/pkcs7-mime")
    out = openssl("pkcs7", "-inform", "DER", "-print_certs", input=base64.b64decode(response.data))
    assert b"Issuing CA" in out.stdout
    assert b"Root CA" in out.stdout


def _csr(name: str = "test") -> bytes:
    """A CSR asking for CN=``name``; "test" is the client id of mint_access_token's tokens."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def test_est_simpleenroll_issues_a_device_certificate_with_an_enroll_token(
    client, runtime, pki, openssl
):
    token = mint_access_token(runtime, ["pki:enroll"])
    response = client.post(
        "/.well-known/est/simpleenroll",
        data=base64.encodebytes(_csr()),
        content_type="application/pkcs10",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.data
    out = openssl("pkcs7", "-inform", "DER", "-print_certs", input=base64.b64decode(response.data))
    (pki / "device.pem").write_bytes(out.stdout)
    assert (
        b"OK"
        in openssl(
            "verify",
            "-CAfile",
            str(pki / "root.pem"),
            "-untrusted",
            str(pki / "ca.pem"),
            "-purpose",
            "sslclient",
            str(pki / "device.pem"),
        ).stdout
    )


def test_est_simpleenroll_refuses_without_token_wrong_scope_or_bad_csr(client, runtime):
    body = base64.encodebytes(_csr())
    pkcs10 = "application/pkcs10"
    assert (
        client.post("/.well-known/est/simpleenroll", data=body, content_type=pkcs10).status_code
        == 401
    )
    other = mint_access_token(runtime, ["openid"])
    assert (
        client.post(
            "/.well-known/est/simpleenroll",
            data=body,
            content_type=pkcs10,
            headers={"Authorization": f"Bearer {other}"},
        ).status_code
        == 403
    )
    token = mint_access_token(runtime, ["pki:enroll"])
    bad = client.post(
        "/.well-known/est/simpleenroll",
        data=base64.encodebytes(b"not a csr"),
        content_type="application/pkcs10",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 400
    assert bad.mimetype == "text/plain"

"""OneTrip's certificate authority: hierarchy, profiles, key custody, CRL, OCSP, time-stamps.

In-process API (what ``signing`` calls; no HTTP involved)::

    from certs.authority import authority          # one Authority per Runtime, shared
    from certs.ocsp import responder
    from certs.tsa import time_stamp_authority, in_process_timestamper

    ca = authority(runtime)
    ca.ensure()                                     # idempotent; creates root, CA, OCSP, TSA
    issued = ca.issue_for_custody_key(              # key generated in custody, never exported
        "department",
        department_subject("市场监督管理局", "Market Supervision Administration", "MSA e-seal"),
        label="dept-msa",                           # optional; reused if the key exists
    )
    issued.certificate, issued.chain, issued.serial, issued.key_label
    ca.custody.sign(issued.key_label, data, "sha256")   # ECDSA (DER) / RSA PKCS#1 v1.5
    ca.custody.sign_digest(label, digest, "sha256")  # the same, over a digest (CSC signHash)
    ca.custody.signer(label)                        # .public_key, .algorithm, .sign(data, hash)
    ca.issue("device", subject="CN=kiosk-7", csr=pem_or_der)   # names from the identity;
                                                    # a CSR asking for others is refused
    ca.issue("citizen", subject="CN=Zhang San", public_key=key)
    ca.revoke(serial_hex, "keyCompromise", compromised_at=when)   # CRL and OCSP at once
                                                    # (other nodes: 50 ms, at most
                                                    # revocation_status_max_age)
    ca.rotate("tsa")                                # new TSA or OCSP key; old ones validate
    Enrollment(ca).register("kiosk-7")              # certs.est: EST device registry
    ca.crl_der("ca")  /  ca.crl_der("root")         # DER CRLs, reissued past half their life
    ca.chain()                                      # (issuing CA cert, root cert)
    ca.certificate_der(serial_hex)                  # any certificate it issued, or None
    responder(ca).response_for(cert)                # DER OCSPResponse (SHA-1 CertID, no nonce)
    responder(ca).respond(ocsp_request_der)         # DER OCSPRequest -> OCSPResponse
    time_stamp_authority(ca).respond(tsq_der)       # DER TimeStampReq -> TimeStampResp
    in_process_timestamper(ca)                      # a pyHanko TimeStamper over the same TSA

Profiles live in :mod:`certs.profiles` (``department``, ``citizen``, ``device``); key custody
in :mod:`certs.custody` (``ONETRIP_KEY_BACKEND=pkcs8|pkcs11``, ``ONETRIP_PKCS11_MODULE``,
``ONETRIP_PKCS11_TOKEN_LABEL``, ``ONETRIP_PKCS11_PIN``, ``ONETRIP_KEY_ALGORITHM``).
Every certificate points at ``{base}/pki/ca.crl``, ``{base}/pki/ocsp`` and
``{base}/pki/ca.cer`` (the issuing CA's own certificate at ``root.crl``/``root.cer``),
``base`` being ``pki_url_base`` or the issuer with ``http``.
"""

"""Cloud Signature Consortium API v1 (CSC 1.0.4) over department seals.

A credential is a department: ``credentialID`` is its code, and the caller (an access
token with scope ``sign``) must be one of its members. ``credentials/authorize`` returns
signature activation data (SAD) kept in Redis for ``csc_sad_ttl`` seconds, good for
``numSignatures`` hashes and, when the client names them, only for those hashes
(SCAL 2 behaviour offered to any client that sends them). ``signatures/signHash`` signs
the client's hashes with the department key in custody (:meth:`Custody.sign_digest`, on
either key backend); the key never leaves custody.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets

from asn1crypto import algos

from certs.custody import HASHES
from config import audit, metrics
from config.runtime import Runtime
from signing import departments
from signing.authority import ca_authority

SPECS = "1.0.4.0"
_SIGN_ALGOS = {
    "ec": {"sha256_ecdsa": "sha256", "sha384_ecdsa": "sha384", "sha512_ecdsa": "sha512"},
    "rsa": {"sha256_rsa": "sha256", "sha384_rsa": "sha384", "sha512_rsa": "sha512"},
}
MAX_BATCH = 100


class CscError(ValueError):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def info(runtime: Runtime) -> dict:
    return {
        "specs": SPECS,
        "name": "OneTrip",
        "logo": f"{runtime.settings.issuer}/favicon.ico",
        "region": "CN",
        "lang": "en-US",
        "description": "OneTrip remote signing with department e-seals",
        "authType": ["oauth2code", "oauth2client"],
        "oauth2": runtime.settings.issuer,
        "methods": [
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "signatures/signHash",
        ],
    }


def _member_credential(runtime: Runtime, user_id: int | None, credential_id) -> str:
    if not isinstance(credential_id, str) or not credential_id:
        raise CscError("invalid_request", "Missing (or invalid type) string parameter credentialID")
    try:
        departments.require_member(runtime, credential_id, user_id)
    except departments.DepartmentError:
        raise CscError("invalid_request", "Invalid parameter credentialID") from None
    return credential_id


def credentials_list(runtime: Runtime, user_id: int | None) -> dict:
    return {"credentialIDs": departments.member_codes(runtime, user_id)}


def credentials_info(runtime: Runtime, user_id: int | None, body: dict) -> dict:
    code = _member_credential(runtime, user_id, body.get("credentialID"))
    seal = departments.seal(runtime, code)
    cert = seal.cert
    wanted = body.get("certificates", "single")
    if wanted not in ("none", "single", "chain"):
        raise CscError("invalid_request", "Invalid parameter certificates")
    chain = (
        [cert]
        if wanted == "single"
        else []
        if wanted == "none"
        else [cert, *ca_authority(runtime).chain(cert)]
    )
    kind = cert.public_key.algorithm
    return {
        "description": seal.name,
        "key": {
            "status": "enabled",
            "algo": [algos.SignedDigestAlgorithmId(n).dotted for n in _SIGN_ALGOS[kind]],
            "len": cert.public_key.bit_size,
        },
        "cert": {
            "status": "valid",
            "certificates": [base64.b64encode(c.dump()).decode() for c in chain],
            "issuerDN": cert.issuer.human_friendly,
            "serialNumber": format(cert.serial_number, "x"),
            "subjectDN": cert.subject.human_friendly,
            "validFrom": cert["tbs_certificate"]["validity"]["not_before"].native.strftime(
                "%Y%m%d%H%M%SZ"
            ),
            "validTo": cert["tbs_certificate"]["validity"]["not_after"].native.strftime(
                "%Y%m%d%H%M%SZ"
            ),
        },
        "authMode": "implicit",
        "SCAL": "1",
        "multisign": MAX_BATCH,
        "lang": "en-US",
    }


def _sad_key(sad: str) -> str:
    return f"signing:csc:sad:{sad}"


def authorize(runtime: Runtime, user_id: int | None, body: dict) -> dict:
    code = _member_credential(runtime, user_id, body.get("credentialID"))
    count = body.get("numSignatures")
    if not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise CscError("invalid_request", f"numSignatures must be an integer 1-{MAX_BATCH}")
    pinned = body.get("hash")
    if pinned is not None and (
        not isinstance(pinned, list)
        or len(pinned) != count
        or not all(isinstance(h, str) for h in pinned)
    ):
        raise CscError("invalid_request", "hash must list numSignatures base64 hashes")
    sad = secrets.token_urlsafe(32)
    ttl = runtime.settings.csc_sad_ttl
    record = {"user": user_id, "credential": code, "remaining": count, "hashes": pinned}
    runtime.redis.set(_sad_key(sad), json.dumps(record), ex=ttl)
    return {"SAD": sad, "expiresIn": ttl}


def _spend(runtime: Runtime, sad, user_id, code: str, hashes_b64: list[str]) -> None:
    if not isinstance(sad, str) or not sad:
        raise CscError("invalid_request", "Missing (or invalid type) string parameter SAD")
    key = _sad_key(sad)
    raw = runtime.redis.getdel(key)  # one use at a time: a replay finds nothing
    record = json.loads(raw) if raw else None
    if record is None or record["user"] != user_id or record["credential"] != code:
        raise CscError("invalid_request", "Invalid SAD")
    if len(hashes_b64) > record["remaining"]:
        raise CscError("invalid_request", "SAD does not authorise that many signatures")
    if record["hashes"] is not None and not set(hashes_b64) <= set(record["hashes"]):
        raise CscError("invalid_request", "SAD was not issued for these hashes")
    record["remaining"] -= len(hashes_b64)
    if record["remaining"] > 0:
        runtime.redis.set(key, json.dumps(record), ex=runtime.settings.csc_sad_ttl)


def sign_hash(
    runtime: Runtime, user_id: int | None, username: str | None, client_id: str | None, body: dict
) -> dict:
    code = _member_credential(runtime, user_id, body.get("credentialID"))
    seal = departments.seal(runtime, code)
    kind = seal.cert.public_key.algorithm
    try:
        sign_algo = algos.SignedDigestAlgorithmId(str(body.get("signAlgo"))).native
    except ValueError:
        sign_algo = None
    if sign_algo not in _SIGN_ALGOS[kind]:
        raise CscError("invalid_request", "Invalid parameter signAlgo")
    hash_name = _SIGN_ALGOS[kind][sign_algo]
    if body.get("hashAlgo") is not None:
        try:
            named = algos.DigestAlgorithmId(str(body["hashAlgo"])).native
        except ValueError:
            named = None
        if named not in HASHES:
            raise CscError("invalid_request", "Invalid parameter hashAlgo")
        if named != hash_name:
            raise CscError("invalid_request", "hashAlgo does not match signAlgo")
    hashes_b64 = body.get("hash")
    if not isinstance(hashes_b64, list) or not 1 <= len(hashes_b64) <= MAX_BATCH:
        raise CscError("invalid_request", "Missing (or invalid type) array parameter hash")
    digests = []
    for item in hashes_b64:
        try:
            digest = base64.b64decode(item, validate=True)
        except (binascii.Error, TypeError):
            raise CscError("invalid_request", "Invalid Base64 hash string parameter") from None
        if len(digest) != HASHES[hash_name].digest_size:
            raise CscError("invalid_request", f"a {hash_name} hash has the wrong length")
        digests.append(digest)
    _spend(runtime, body.get("SAD"), user_id, code, hashes_b64)
    custody = ca_authority(runtime).ca.custody
    signatures = [custody.sign_digest(seal.key_label, d, hash_name) for d in digests]
    with runtime.db.write() as session:
        audit.record(
            session,
            "signing.csc.sign_hash",
            actor=username,
            subject=code,
            client_id=client_id,
            count=len(digests),
            hash_algorithm=hash_name,
        )
    for _ in signatures:
        metrics.signature("csc-hash")  # the client assembles the PAdES level itself
    return {"signatures": [base64.b64encode(s).decode() for s in signatures]}

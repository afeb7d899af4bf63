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
from typing import Annotated, Literal

from asn1crypto import algos
from pydantic import Field

from certs.custody import HASHES
from config import audit, metrics
from config.errors import Refusal
from config.jsonbody import Body
from config.runtime import Runtime
from signing import departments
from signing.authority import ca_authority

SPECS = "1.0.4.0"
_SIGN_ALGOS = {
    "ec": {"sha256_ecdsa": "sha256", "sha384_ecdsa": "sha384", "sha512_ecdsa": "sha512"},
    "rsa": {"sha256_rsa": "sha256", "sha384_rsa": "sha384", "sha512_rsa": "sha512"},
}
MAX_BATCH = 100


class CscError(Refusal):
    """A refused CSC request, with the CSC specification's error codes."""


# -- request bodies (CSC 1.0.4 section 11), validated by the views -----------------------

_CREDENTIAL_ID = "Missing (or invalid type) string parameter credentialID"


class CredentialRequest(Body):
    """``credentials/info``: which credential, and how much of its chain."""

    refusals = {"credentialID": _CREDENTIAL_ID}

    credential_id: str = Field(alias="credentialID", min_length=1)
    certificates: Literal["none", "single", "chain"] = "single"


class AuthorizeRequest(Body):
    """``credentials/authorize``: how many signatures, and (SCAL 2) for which hashes."""

    refusals = {
        "credentialID": _CREDENTIAL_ID,
        "numSignatures": f"numSignatures must be an integer 1-{MAX_BATCH}",
        "hash": "hash must list numSignatures base64 hashes",
    }

    credential_id: str = Field(alias="credentialID", min_length=1)
    num_signatures: int = Field(alias="numSignatures", ge=1, le=MAX_BATCH)
    hashes: list[str] | None = Field(None, alias="hash")


class SignHashRequest(Body):
    """``signatures/signHash``: the hashes to sign, how, and the activation data."""

    refusals = {
        "credentialID": _CREDENTIAL_ID,
        "hash": "Missing (or invalid type) array parameter hash",
        "SAD": "Missing (or invalid type) string parameter SAD",
    }

    credential_id: str = Field(alias="credentialID", min_length=1)
    sign_algo: str = Field(alias="signAlgo")
    hash_algo: str | None = Field(None, alias="hashAlgo")
    hashes: Annotated[list[str], Field(alias="hash", min_length=1, max_length=MAX_BATCH)]
    sad: str = Field(alias="SAD", min_length=1)


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


def _member_credential(runtime: Runtime, user_id: int | None, credential_id: str) -> str:
    try:
        departments.require_member(runtime, credential_id, user_id)
    except departments.DepartmentError:
        raise CscError("invalid_request", "Invalid parameter credentialID") from None
    return credential_id


def credentials_list(runtime: Runtime, user_id: int | None) -> dict:
    return {"credentialIDs": departments.member_codes(runtime, user_id)}


def credentials_info(runtime: Runtime, user_id: int | None, body: CredentialRequest) -> dict:
    code = _member_credential(runtime, user_id, body.credential_id)
    seal = departments.seal(runtime, code)
    cert = seal.cert
    wanted = body.certificates
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


def authorize(runtime: Runtime, user_id: int | None, body: AuthorizeRequest) -> dict:
    code = _member_credential(runtime, user_id, body.credential_id)
    count, pinned = body.num_signatures, body.hashes
    if pinned is not None and len(pinned) != count:
        raise CscError("invalid_request", AuthorizeRequest.refusals["hash"])
    sad = secrets.token_urlsafe(32)
    ttl = runtime.settings.csc_sad_ttl
    record = {"user": user_id, "credential": code, "remaining": count, "hashes": pinned}
    runtime.redis.set(_sad_key(sad), json.dumps(record), ex=ttl)
    return {"SAD": sad, "expiresIn": ttl}


def _spend(runtime: Runtime, sad: str, user_id, code: str, hashes_b64: list[str]) -> None:
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
    runtime: Runtime,
    user_id: int | None,
    username: str | None,
    client_id: str | None,
    body: SignHashRequest,
) -> dict:
    code = _member_credential(runtime, user_id, body.credential_id)
    seal = departments.seal(runtime, code)
    kind = seal.cert.public_key.algorithm
    try:
        sign_algo = algos.SignedDigestAlgorithmId(body.sign_algo).native
    except ValueError:
        sign_algo = None
    if sign_algo not in _SIGN_ALGOS[kind]:
        raise CscError("invalid_request", "Invalid parameter signAlgo")
    hash_name = _SIGN_ALGOS[kind][sign_algo]
    if body.hash_algo is not None:
        try:
            named = algos.DigestAlgorithmId(body.hash_algo).native
        except ValueError:
            named = None
        if named not in HASHES:
            raise CscError("invalid_request", "Invalid parameter hashAlgo")
        if named != hash_name:
            raise CscError("invalid_request", "hashAlgo does not match signAlgo")
    hashes_b64 = body.hashes
    digests = []
    for item in hashes_b64:
        try:
            digest = base64.b64decode(item, validate=True)
        except binascii.Error:
            raise CscError("invalid_request", "Invalid Base64 hash string parameter") from None
        if len(digest) != HASHES[hash_name].digest_size:
            raise CscError("invalid_request", f"a {hash_name} hash has the wrong length")
        digests.append(digest)
    _spend(runtime, body.sad, user_id, code, hashes_b64)
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

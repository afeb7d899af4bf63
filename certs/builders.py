"""Sign ``cryptography`` certificate and CRL builders with a custody :class:`Signer`.

``cryptography`` builders only sign with an in-memory private key, and a PKCS#11 key is
not one. So we let the builder sign once with a throwaway key of the same type (which
fixes the signature algorithm inside the TBS structure), take the TBS bytes, sign them
with the custody key and reassemble ``SEQUENCE { tbs, algorithm, signature }``. The
throwaway keys are made once per process.
"""

from __future__ import annotations

import functools

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certs import der
from certs.custody import HASHES, Signer


@functools.cache
def _throwaway(algorithm: str):
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(65537, 2048)


@functools.cache
def algorithm_identifier(algorithm: str, hash_name: str = "sha256") -> bytes:
    """DER AlgorithmIdentifier of a signature made by ``algorithm`` keys over ``hash_name``."""
    from asn1crypto.algos import SignedDigestAlgorithm

    name = f"{hash_name}_{'ecdsa' if algorithm == 'ec-p256' else 'rsa'}"
    return SignedDigestAlgorithm({"algorithm": name}).dump()


def _sign(builder, signer: Signer, hash_name: str) -> bytes:
    draft = builder.sign(_throwaway(signer.algorithm), HASHES[hash_name]())
    tbs, alg = der.elements(draft.public_bytes(serialization.Encoding.DER))[:2]
    return der.sequence(tbs, alg, der.bit_string(signer.sign(tbs, hash_name)))


def sign_certificate(
    builder: x509.CertificateBuilder, signer: Signer, hash_name: str = "sha256"
) -> x509.Certificate:
    return x509.load_der_x509_certificate(_sign(builder, signer, hash_name))


def sign_crl(
    builder: x509.CertificateRevocationListBuilder, signer: Signer, hash_name: str = "sha256"
) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(_sign(builder, signer, hash_name))

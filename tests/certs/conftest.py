"""Fixtures for the CA tests: the authority, PEM files for OpenSSL, and an OpenSSL runner."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from certs.authority import Authority, authority
from certs.custody import HASHES, Custody, CustodyError


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _openssl(
    *args: str, check: bool = True, input: bytes | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run(["openssl", *args], capture_output=True, input=input, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)}: {result.stderr.decode()}")
    return result


@pytest.fixture
def ca(runtime) -> Authority:
    found = authority(runtime)
    found.ensure()
    return found


@pytest.fixture
def pki(ca, tmp_path) -> Path:
    """A folder with root.pem, ca.pem and chain.pem (CA then root)."""
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "root.pem").write_bytes(_pem(ca.root.certificate))
    (folder / "ca.pem").write_bytes(_pem(ca.ca.certificate))
    (folder / "chain.pem").write_bytes(_pem(ca.ca.certificate) + _pem(ca.root.certificate))
    return folder


@pytest.fixture
def openssl():
    """Run ``openssl`` with arguments; fails the test on a non-zero exit unless check=False."""
    return _openssl


class OpensslTs:
    """``openssl ts`` on both ends of a time-stamp: it asks, and it checks the reply."""

    def __init__(self, pki: Path) -> None:
        self.pki = pki

    def query(self, data: bytes, digest: str = "sha256") -> bytes:
        (self.pki / "data.bin").write_bytes(data)
        query = str(self.pki / "q.tsq")
        _openssl("ts", "-query", "-data", str(self.pki / "data.bin"), f"-{digest}", "-cert",
                 "-out", query)  # fmt: skip
        return (self.pki / "q.tsq").read_bytes()

    def verify(self, reply: bytes) -> bytes:
        """The reply's text dump, once ``openssl ts -verify`` has said OK against the root."""
        (self.pki / "r.tsr").write_bytes(reply)
        verified = _openssl(
            "ts", "-verify", "-in", str(self.pki / "r.tsr"), "-queryfile",
            str(self.pki / "q.tsq"), "-CAfile", str(self.pki / "root.pem"),
            "-untrusted", str(self.pki / "ca.pem"),
        )  # fmt: skip
        assert b"Verification: OK" in verified.stdout
        return _openssl("ts", "-reply", "-in", str(self.pki / "r.tsr"), "-text").stdout


@pytest.fixture
def openssl_ts(pki) -> OpensslTs:
    return OpensslTs(pki)


@pytest.fixture
def pem():
    """A certificate as PEM bytes."""
    return _pem


@pytest.fixture
def signs_digests():
    """Check that ``custody.sign_digest`` on a new ``algorithm`` key, for every hash, gives a
    signature that ``cryptography`` verifies over the data the digest was taken of, and that
    a digest of the wrong length is refused."""

    def check(custody: Custody, runtime, algorithm: str) -> None:
        label = f"digest-{algorithm}-{secrets.token_hex(4)}"
        with runtime.db.write() as session:
            public = custody.generate(session, label, algorithm)
        data = "签 the form".encode()
        for name, hash_class in HASHES.items():
            signature = custody.sign_digest(label, hashlib.new(name, data).digest(), name)
            if algorithm == "ec-p256":
                public.verify(signature, data, ec.ECDSA(hash_class()))
            else:
                public.verify(signature, data, padding.PKCS1v15(), hash_class())
                assert signature == custody.sign(label, data, name)  # PKCS#1 v1.5 is deterministic
        with pytest.raises(CustodyError, match="sha384 digest has 48 bytes"):
            custody.sign_digest(label, hashlib.sha256(data).digest(), "sha384")

    return check

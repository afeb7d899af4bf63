"""Fixtures for the CA tests: the authority, PEM files for OpenSSL, and an OpenSSL runner."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certs.authority import Authority, authority


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


@pytest.fixture
def pem():
    """A certificate as PEM bytes."""
    return _pem

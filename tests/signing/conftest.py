"""Fixtures for signing: departments with officers, OneTrip's root, pdfsig with that root."""

from __future__ import annotations

import subprocess

import pytest
from asn1crypto import x509
from pades_checks import add_officer

from idp.tokens import mint_access_token
from signing import departments
from signing.authority import ca_authority
from signing.pdfs import make_pdf


@pytest.fixture
def psb(runtime) -> str:
    departments.create(runtime, "PSB", "上海市公安局", "Shanghai Public Security Bureau")
    return "PSB"


@pytest.fixture
def officer(runtime, psb) -> str:
    return add_officer(runtime, psb, "li.wei")


@pytest.fixture
def token(runtime, officer) -> str:
    return mint_access_token(runtime, ["sign"], username=officer)


@pytest.fixture
def pdf() -> bytes:
    return make_pdf(1)


@pytest.fixture
def root(runtime) -> x509.Certificate:
    return ca_authority(runtime).root()


@pytest.fixture
def nssdir(tmp_path, root) -> str:
    """An NSS database that trusts OneTrip's root, for poppler's pdfsig."""
    path = tmp_path / "nss"
    path.mkdir()
    (tmp_path / "root.der").write_bytes(root.dump())
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{path}",
            "-n",
            "onetrip-root",
            "-t",
            "CT,C,C",
            "-i",
            str(tmp_path / "root.der"),
        ],
        check=True,
    )
    return f"sql:{path}"

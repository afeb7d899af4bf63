"""The engine encodes pyHanko's CMS values once, bottom-up, and must keep their DER bytes."""

from __future__ import annotations

import asyncio

from asn1crypto import cms
from pyhanko.sign.general import (
    as_signing_certificate_v2,
    find_unique_cms_attribute,
    simple_cms_attribute,
)

from signing import departments, service
from signing.engine import settled


def _signer_info(runtime, code: str) -> cms.SignerInfo:
    """A SignerInfo as pyHanko builds it: from Python data, with fixed digest and signature."""
    seal = departments.seal(runtime, code)
    attrs = cms.CMSAttributes(
        [
            simple_cms_attribute("content_type", "data"),
            simple_cms_attribute("message_digest", bytes(range(32))),
            simple_cms_attribute("signing_certificate_v2", as_signing_certificate_v2(seal.cert)),
        ]
    )
    return service.engine(runtime).signer(seal).signer_info("sha256", attrs, b"\x30" * 70)


def test_settled_values_encode_to_the_same_der_as_asn1crypto_dump(runtime, psb):
    expected = _signer_info(runtime, psb).dump()

    value = settled(_signer_info(runtime, psb))

    assert value.dump() == expected
    assert value.dump() == expected  # and keep doing so: the cached encoding is the real one
    assert cms.SignerInfo.load(expected)["signed_attrs"].dump() == value["signed_attrs"].dump()


def test_signed_attributes_name_the_department_certificate_as_pyhanko_would(runtime, psb):
    seal = departments.seal(runtime, psb)
    signer = service.engine(runtime).signer(seal)

    for _ in range(2):  # the cached value serves every signature
        attrs = asyncio.run(signer.signed_attrs(bytes(32), "sha256", use_pades=True))
        value = find_unique_cms_attribute(attrs, "signing_certificate_v2")
        assert value.dump() == as_signing_certificate_v2(seal.cert).dump()
        assert find_unique_cms_attribute(attrs, "message_digest").native == bytes(32)

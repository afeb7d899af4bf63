"""The engine encodes pyHanko's CMS values once, bottom-up, and must keep their DER bytes."""

from __future__ import annotations

from asn1crypto import cms
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute

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

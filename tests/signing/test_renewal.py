"""Renewal: TSA and OCSP rotation, seal renewal (by hand and before expiry), and fresh
archive time-stamps that keep a B-LTA document verifiable after its TSA certificate ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from io import BytesIO

from cryptography.x509 import ocsp
from pades_checks import ades_spec, caller, dss_contents
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.validation import ades as pyhanko_ades
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.revinfo.manager import NonRevokedStatusAssertion

from certs.ocsp import responder
from signing import departments, routes, service
from signing.authority import ca_authority


def _lta_verdict_at(data: bytes, root, moment):
    """pyHanko's LTA validation at a future ``moment``: only what the PDF embeds, plus
    the verifier's word then that the newest time-stamp's TSA is not revoked (what a
    fresh OCSP answer would say at that time)."""
    import dataclasses

    reader = PdfFileReader(BytesIO(data))
    sig = reader.embedded_regular_signatures[0]
    ocsps, crls, certs = dss_contents(reader)
    spec = ades_spec(root, ocsps, crls, certs)
    newest = reader.embedded_timestamp_signatures[-1].signer_cert
    knowledge = dataclasses.replace(
        spec.signature_validation_spec.local_knowledge,
        nonrevoked_assertions=[NonRevokedStatusAssertion(newest.sha256, moment)],
    )
    spec = dataclasses.replace(
        spec,
        signature_validation_spec=dataclasses.replace(
            spec.signature_validation_spec, local_knowledge=knowledge
        ),
    )
    timing = ValidationTimingInfo(moment, moment, True)
    return asyncio.run(pyhanko_ades.ades_lta_validation(sig, spec, timing)).ades_subindic


def _completed_route(runtime, psb) -> str:
    officer = caller(runtime, "li.wei")
    from signing.pdfs import make_pdf

    doc = routes.create(runtime, make_pdf(1), [psb], filename="a.pdf", caller=officer)["id"]
    routes.approve(runtime, doc, officer)
    return doc


def test_a_renewed_document_validates_after_the_first_tsa_certificate_expired(
    runtime, psb, officer, root
):
    ca = ca_authority(runtime).ca
    first = ca.rotate("tsa", days=2)  # a short-lived TSA, for the test's sake
    doc = _completed_route(runtime, psb)
    before = routes.document_bytes(runtime, doc, caller(runtime, officer))
    ca.rotate("tsa")  # a new ten-year TSA certificate takes over

    [renewed] = service.renew_stored(runtime)
    assert renewed["id"] == doc
    after = routes.document_bytes(runtime, doc, caller(runtime, officer))
    assert after.startswith(before)  # an incremental update: nothing earlier changes
    stamps = PdfFileReader(BytesIO(after)).embedded_timestamp_signatures
    assert len(stamps) == 2
    assert stamps[-1].signer_cert.serial_number != stamps[0].signer_cert.serial_number

    later = first.certificate.not_valid_after_utc + timedelta(days=30)
    assert _lta_verdict_at(after, root, later) == AdESPassed.OK
    assert _lta_verdict_at(before, root, later) != AdESPassed.OK  # without renewal: lost
    assert service.verify(runtime, after)["ok"]
    assert service.renew_stored(runtime, within=86400) == []  # the new stamp lasts: nothing due


def test_rotating_the_ocsp_responder_keeps_old_signatures_valid(runtime, psb, pdf):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LT")
    ca = ca_authority(runtime).ca
    old = ca.ocsp.serial
    new = ca.rotate("ocsp")
    assert new.serial != old
    seal = departments.seal(runtime, psb).cert
    from cryptography import x509

    answer = ocsp.load_der_ocsp_response(
        responder(ca).response_for(x509.load_der_x509_certificate(seal.dump()), fresh=True)
    )
    assert answer.certificates[0].serial_number == int(new.serial, 16)
    report = service.verify(runtime, signed)
    assert report["ok"]
    signed_after, _ = service.sign(runtime, pdf, psb, level="B-LT")
    assert service.verify(runtime, signed_after)["ok"]


def test_a_renewed_seal_signs_from_now_and_the_old_one_keeps_its_documents(runtime, psb, pdf):
    old_signed, _ = service.sign(runtime, pdf, psb, level="B-LT")
    old_serial = departments.get(runtime, psb)["certificate_serial"]
    departments.renew_seal(runtime, psb)
    new_serial = departments.get(runtime, psb)["certificate_serial"]
    assert new_serial != old_serial
    new_signed, _ = service.sign(runtime, pdf, psb, level="B-LT")

    old_report = service.verify(runtime, old_signed)["signatures"][0]
    new_report = service.verify(runtime, new_signed)["signatures"][0]
    assert old_report["ok"] and new_report["ok"]
    assert old_report["certificate_serial"] == old_serial
    assert new_report["certificate_serial"] == new_serial
    assert (
        old_report["department"]
        == new_report["department"]
        == {
            "code": "PSB",
            "name": "上海市公安局",
        }
    )


def test_seals_near_their_end_are_renewed_by_themselves_once(runtime, psb):
    serial = departments.get(runtime, psb)["certificate_serial"]
    assert departments.renew_expiring_seals(runtime, within=86400) == []  # two years left
    assert departments.renew_expiring_seals(runtime, within=800 * 86400) == ["PSB"]
    assert departments.get(runtime, psb)["certificate_serial"] != serial
    assert departments.renew_expiring_seals(runtime, within=86400) == []

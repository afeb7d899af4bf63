"""Long-term validation by the standard: every level checked by pyHanko's EN 319 102-1
AdES validation offline, now and at a time after the seal expired; pdfsig and endesive
agree; the PDF carries the root and revocation data of every certificate that needs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from asn1crypto import ocsp as asn1_ocsp
from pades_checks import ades, dss_contents, endesive_results, pdfsig
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate, AdESPassed

from signing import departments, service
from signing.authority import ca_authority


def _sign(runtime, psb, pdf, level):
    signed, _ = service.sign(runtime, pdf, psb, level=level)
    return signed


def _after_the_seal_expired(runtime, psb) -> datetime:
    seal = departments.seal(runtime, psb).cert
    return seal.not_valid_after + timedelta(days=30)


@pytest.mark.parametrize("level", ["B-B", "B-T", "B-LT", "B-LTA"])
def test_every_level_passes_en_319_102_1_validation_now(runtime, psb, pdf, root, tmp_path, level):
    signed = _sign(runtime, psb, pdf, level)
    # B-B and B-T carry no revocation data: OneTrip's answers of now stand in for a fetch.
    live = None
    if level in ("B-B", "B-T"):
        reader = PdfFileReader(BytesIO(signed))
        live = ca_authority(runtime).live_revinfo([reader.embedded_signatures[0].signer_cert])

    result = ades(signed, root, live=live)
    assert result.ades_subindic == AdESPassed.OK, result.failure_msg
    assert "Signature Validation: Signature is Valid." in pdfsig(signed, tmp_path)
    checks = endesive_results(signed, root)
    assert [(r.hashok, r.signatureok, r.certok) for r in checks if r.signed_data] == [
        (True, True, True)
    ]
    assert service.verify(runtime, signed)["signatures"][0]["indication"] == "TOTAL-PASSED"


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_long_term_levels_pass_offline_after_the_seal_has_expired(runtime, psb, pdf, root, level):
    signed = _sign(runtime, psb, pdf, level)
    later = _after_the_seal_expired(runtime, psb)

    result = ades(signed, root, at=later)
    assert result.ades_subindic == AdESPassed.OK, result.failure_msg


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_short_term_levels_are_not_passed_once_the_seal_has_expired(runtime, psb, pdf, root, level):
    """What the standard says of a signature without long-term data, years later: no proof
    that it was valid when made. OneTrip's B-LT and B-LTA exist for this."""
    signed = _sign(runtime, psb, pdf, level)
    reader = PdfFileReader(BytesIO(signed))
    live = ca_authority(runtime).live_revinfo([reader.embedded_signatures[0].signer_cert])

    result = ades(signed, root, at=_after_the_seal_expired(runtime, psb), live=live)
    assert result.ades_subindic.status.name == "INDETERMINATE"
    assert result.ades_subindic in (
        AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
        AdESIndeterminate.TRY_LATER,
    )


def test_b_lta_embeds_the_whole_chain_and_answers_made_at_signing_time(runtime, psb, pdf, root):
    before = datetime.now(UTC).replace(microsecond=0)
    signed = _sign(runtime, psb, pdf, "B-LTA")
    reader = PdfFileReader(BytesIO(signed))
    ocsps, crls, certs = dss_contents(reader)
    ca = ca_authority(runtime)
    seal = reader.embedded_signatures[0].signer_cert
    wanted = {c.dump() for c in [root, *ca.tsa_chain(), seal]}
    assert wanted <= {c.dump() for c in certs}  # the root too: its proof of existence
    answered = {}
    for der in ocsps:
        basic = asn1_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
        single = basic["tbs_response_data"]["responses"][0]
        answered[single["cert_id"]["serial_number"].native] = basic["tbs_response_data"][
            "produced_at"
        ].native
    assert set(answered) >= {seal.serial_number, ca.tsa_chain()[0].serial_number}
    assert all(produced >= before for produced in answered.values())  # never a cached answer
    issuers = {asn1_crl_issuer(c) for c in crls}
    assert root.subject.dump() in issuers  # the root's CRL speaks for the issuing CA


def asn1_crl_issuer(der: bytes) -> bytes:
    from asn1crypto import crl

    return crl.CertificateList.load(der)["tbs_cert_list"]["issuer"].dump()

"""Every PAdES level, checked by pyHanko's validator against OneTrip's root and by pdfsig."""

from __future__ import annotations

import pytest
from pades_checks import embedded_only_context, live_context, pdfsig, validate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import SignatureCoverageLevel

from signing import service
from signing.authority import ca_authority


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_short_term_levels_are_valid_trusted_and_cover_the_whole_file(
    runtime, psb, pdf, root, tmp_path, level
):
    signed, _ = service.sign(runtime, pdf, psb, level=level)

    [status] = validate(signed, lambda reader: live_context(runtime, reader, root))
    assert status.bottom_line, status.summary()
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert (status.timestamp_validity is not None) == (level == "B-T")
    if level == "B-T":
        assert status.timestamp_validity.trusted
    out = pdfsig(signed, tmp_path)
    assert "Signature Type: ETSI.CAdES.detached" in out
    assert "Signature Validation: Signature is Valid." in out
    assert "Total document signed" in out
    assert service.verify(runtime, signed)["signatures"][0]["level"] == level


def test_b_lt_validates_from_embedded_data_alone(runtime, psb, pdf, root, tmp_path):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LT")

    [status] = validate(signed, lambda reader: embedded_only_context(reader, root))
    assert status.bottom_line, status.summary()
    assert status.timestamp_validity.trusted
    # Only the DSS was appended after the signature: the signed revision is whole.
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level == ModificationLevel.LTA_UPDATES
    out = pdfsig(signed, tmp_path)
    assert "Signature Validation: Signature is Valid." in out
    report = service.verify(runtime, signed)
    assert report["ok"]
    assert report["signatures"][0]["level"] == "B-LT"
    assert report["signatures"][0]["indication"] == "TOTAL-PASSED"
    assert report["signatures"][0]["status_now"]["state"] == "good"
    assert {d["source"] for d in report["signatures"][0]["revocation_data"]} == {
        "embedded",
        "onetrip",
    }


def test_b_lta_has_a_valid_document_timestamp_over_the_whole_file(
    runtime, psb, pdf, root, tmp_path
):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LTA")

    signature, doc_ts = validate(signed, lambda reader: embedded_only_context(reader, root))
    assert signature.bottom_line, signature.summary()
    assert doc_ts.valid
    assert doc_ts.intact
    assert doc_ts.trusted
    # pyHanko appends the time-stamp's own validation data after it (a DSS update).
    assert doc_ts.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert doc_ts.modification_level == ModificationLevel.LTA_UPDATES
    out = pdfsig(signed, tmp_path)
    assert out.count("Signature #") == 2
    assert "Signature Validation: Signature is Valid." in out
    report = service.verify(runtime, signed)
    assert report["ok"]
    assert [s["level"] for s in report["signatures"] if s["type"] != "document_timestamp"] == [
        "B-LTA"
    ]


def test_a_byte_changed_after_signing_is_caught(runtime, psb, pdf, tmp_path):
    signed, _ = service.sign(runtime, pdf, psb, level="B-B")
    tampered = signed.replace(b"page 1 of 1", b"page 7 of 1", 1)
    assert tampered != signed

    report = service.verify(runtime, tampered)
    assert not report["ok"]
    assert report["signatures"][0]["intact"] is False
    out = pdfsig(tampered, tmp_path)
    assert "Signature Validation: Signature is Valid." not in out


def test_signing_a_signed_pdf_adds_a_signature_and_keeps_the_first_valid(runtime, psb, pdf):
    first, _ = service.sign(runtime, pdf, psb, level="B-LT")
    second, _ = service.sign(runtime, first, psb, level="B-LT")

    assert second.startswith(first)  # an incremental update: earlier bytes untouched
    report = service.verify(runtime, second)
    assert report["ok"]
    assert [s["field"] for s in report["signatures"]] == ["OneTrip_PSB_1", "OneTrip_PSB_2"]
    assert report["signatures"][0]["changes"]["modification_level"] == "form_filling"


def test_a_revoked_seal_is_reported_revoked(runtime, psb, pdf):
    signed, _ = service.sign(runtime, pdf, psb, level="B-B")
    serial = service.verify(runtime, signed)["signatures"][0]["certificate_serial"]
    ca_authority(runtime).ca.revoke(serial, "keyCompromise")

    report = service.verify(runtime, signed)
    assert not report["ok"]  # a B-B signature has no proof it was made before the revocation
    assert report["signatures"][0]["indication"] == "INDETERMINATE"
    assert report["signatures"][0]["sub_indication"] == "REVOKED_NO_POE"
    assert report["signatures"][0]["revocation"]["status"] == "revoked"
    assert report["signatures"][0]["revocation"]["reason"] == "keyCompromise"


def test_each_signature_is_counted_by_level_in_the_metrics(runtime, pdf, psb):
    from prometheus_client import REGISTRY

    def count() -> float:
        return REGISTRY.get_sample_value("onetrip_signatures_total", {"level": "B-B"}) or 0

    before = count()
    service.sign(runtime, pdf, psb, level="B-B")
    assert count() == before + 1

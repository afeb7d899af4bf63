"""The verification report tells the truth in EN 319 102-1 terms: revoked after signing,
a compromise before signing, the ETSI XML report, the page in both languages, the CLI
in one line per signature; and OneTrip refuses to sign what it would report as broken."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

import pytest
from pades_checks import ades, caller, encrypted_pdf, pdfsig
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.ades.report import AdESPassed

from signing import routes, service
from signing.authority import ca_authority
from signing.pdfs import PdfRefused

VR = "{http://uri.etsi.org/19102/v1.2.1#}"


def _serial(runtime, signed: bytes) -> str:
    return service.verify(runtime, signed)["signatures"][0]["certificate_serial"]


def test_a_seal_revoked_after_signing_is_valid_at_signing_time_and_revoked_now(
    runtime, psb, pdf, root
):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LT")
    ca = ca_authority(runtime)
    time.sleep(1.1)  # revoked a second after the time-stamp's second, not within it
    ca.ca.revoke(_serial(runtime, signed), "keyCompromise")

    [report] = service.verify(runtime, signed)["signatures"]
    assert report["indication"] == "TOTAL-PASSED"
    assert report["valid_at_signing_time"] is True
    assert report["status_now"]["state"] == "revoked"
    assert report["status_now"]["reason"] == "keyCompromise"
    assert report["status_now"]["revoked_at"] > report["timestamp_time"]
    assert report["revocation"]["status"] == "revoked"  # never "good (embedded)" any more
    assert {"OCSP", "CRL"} <= {d["kind"] for d in report["revocation_data"]}
    assert all(d["this_update"] for d in report["revocation_data"])
    # pyHanko, given OneTrip's answer of now, agrees: proof of existence precedes it.
    reader = PdfFileReader(BytesIO(signed))
    live = ca.live_revinfo([reader.embedded_signatures[0].signer_cert])
    assert ades(signed, root, live=live).ades_subindic == AdESPassed.OK


def test_a_signature_made_after_the_key_was_compromised_fails(runtime, psb, pdf, tmp_path):
    compromised = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(seconds=5)
    time.sleep(1)
    signed, _ = service.sign(runtime, pdf, psb, level="B-LTA")
    ca = ca_authority(runtime).ca
    serial = _serial(runtime, signed)
    ca.revoke(serial, "keyCompromise", compromised_at=compromised)

    report = service.verify(runtime, signed)
    [sig] = [s for s in report["signatures"] if s["type"] != "document_timestamp"]
    assert not report["ok"]
    assert (sig["indication"], sig["sub_indication"]) == ("TOTAL-FAILED", "REVOKED")
    assert sig["status_now"]["compromised_at"].startswith(compromised.isoformat())
    (tmp_path / "ca.crl").write_bytes(ca.crl_der())
    text = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "ca.crl"), "-text", "-noout"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "Invalidity Date" in text


def test_a_compromise_after_the_proven_signing_time_leaves_the_signature_valid(runtime, psb, pdf):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LT")
    time.sleep(1.1)  # a compromise strictly later than the time-stamp's second
    ca = ca_authority(runtime).ca
    ca.revoke(_serial(runtime, signed), "keyCompromise", compromised_at=datetime.now(UTC))

    [sig] = service.verify(runtime, signed)["signatures"]
    assert sig["indication"] == "TOTAL-PASSED"
    assert sig["status_now"]["state"] == "revoked"


def test_the_etsi_xml_report_has_one_validation_report_per_signature(client, runtime, psb, pdf):
    first, _ = service.sign(runtime, pdf, psb, level="B-LT")
    signed, _ = service.sign(runtime, first, psb, level="B-LTA")
    response = client.post(
        "/api/v1/verify?format=xml",
        data={"file": (BytesIO(signed), "s.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    tree = ElementTree.fromstring(response.data)
    reports = tree.findall(f"{VR}SignatureValidationReport")
    assert len(reports) == 2
    indications = [
        r.find(f"{VR}SignatureValidationStatus/{VR}MainIndication").text for r in reports
    ]
    assert indications == ["urn:etsi:019102:mainindication:total-passed"] * 2
    assert tree.findall(f"{VR}SignatureValidationObjects/{VR}ValidationObject")


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-CN,zh;q=0.9", ["所有签名均有效", "印章当前状态", "仍然有效，未被吊销。"]),
     ("en", ["Every signature is valid", "The seal today", "Still valid, not revoked."])],
)  # fmt: skip
def test_the_verify_page_speaks_the_citizens_language(client, runtime, psb, pdf, language, words):
    signed, _ = service.sign(runtime, pdf, psb, level="B-LT")
    page = client.post(
        "/verify",
        data={"file": (BytesIO(signed), "s.pdf")},
        content_type="multipart/form-data",
        headers={"Accept-Language": language, "Accept": "text/html"},
    ).get_data(as_text=True)
    assert all(word in page for word in words)
    assert "TOTAL-PASSED" in page  # for auditors, folded away


def _cli(runtime, *args: str) -> subprocess.CompletedProcess:
    settings = runtime.settings
    env = {
        "PATH": "/usr/bin:/bin",
        "ONETRIP_DATA_DIR": str(settings.data_dir),
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "ONETRIP_ISSUER": settings.issuer,
    }
    onetrip = str(Path(sys.executable).parent / "onetrip")
    return subprocess.run([onetrip, *args], env=env, capture_output=True, text=True, timeout=120)


def test_onetrip_verify_prints_one_line_per_signature_and_nothing_on_stderr(
    runtime, psb, pdf, tmp_path
):
    good, tampered = tmp_path / "good.pdf", tmp_path / "tampered.pdf"
    signed, _ = service.sign(runtime, pdf, psb, level="B-LTA")
    good.write_bytes(signed)
    tampered.write_bytes(signed.replace(b"page 1 of 1", b"page 7 of 1", 1))

    ok = _cli(runtime, "verify", str(good), "--etsi-report", str(tmp_path / "report.xml"))
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    lines = ok.stdout.splitlines()
    assert len(lines) == 2  # the signature and its archive time-stamp
    assert lines[0].startswith(
        "OK   OneTrip_PSB_1: approval by 上海市公安局, TOTAL-PASSED, level B-LTA"
    )
    assert ElementTree.parse(tmp_path / "report.xml").getroot().tag == f"{VR}ValidationReport"
    bad = _cli(runtime, "verify", str(tampered))
    assert bad.returncode == 1
    assert bad.stderr == ""
    assert bad.stdout.startswith("FAIL OneTrip_PSB_1")
    assert "TOTAL-FAILED/HASH_FAILURE" in bad.stdout.splitlines()[0]


def test_onetrip_revoke_records_the_compromise_time(runtime, psb, pdf):
    signed, _ = service.sign(runtime, pdf, psb, level="B-B")
    serial = _serial(runtime, signed)
    done = _cli(
        runtime, "ca", "revoke", serial, "--reason", "keyCompromise",
        "--compromised-at", "2000-01-01T00:00:00Z",
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "onetrip: the compromise time is before the certificate was issued"
    )
    moment = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    done = _cli(runtime, "ca", "revoke", serial, "--compromised-at", moment, "--json")
    assert done.returncode == 0, done.stderr
    assert '"compromised_at": "' + moment.replace("+00:00", "Z") in done.stdout


# -- refusing to sign what would not verify ---------------------------------------------


def _tampered_after_certification(runtime, psb, pdf) -> bytes:
    """A certified document to which a later update adds a page: not allowed by DocMDP."""

    doc = routes.create(runtime, pdf, [psb], filename="c.pdf", caller=caller(runtime, "li.wei"))
    routes.approve(runtime, doc["id"], caller(runtime, "li.wei"))
    certified = routes.document_bytes(runtime, doc["id"], caller(runtime, "li.wei"))
    writer = IncrementalPdfFileWriter(BytesIO(certified))
    writer.root["/Pages"].get_object()["/Count"] = writer.root["/Pages"]["/Count"]  # touch
    from pyhanko.pdf_utils import generic

    writer.root[generic.NameObject("/OpenAction")] = generic.NameObject("/Changed")
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_signing_on_top_of_a_broken_certification_is_refused(runtime, psb, officer, pdf):
    broken = _tampered_after_certification(runtime, psb, pdf)
    with pytest.raises(PdfRefused) as refused:
        service.sign(runtime, broken, psb, level="B-B")
    assert refused.value.error == "broken_signature"
    assert "does not allow" in refused.value.description


def test_signing_on_top_of_a_signature_whose_bytes_changed_is_refused(runtime, psb, pdf):
    signed, _ = service.sign(runtime, pdf, psb, level="B-B")
    tampered = signed.replace(b"page 1 of 1", b"page 7 of 1", 1)
    with pytest.raises(PdfRefused) as refused:
        service.sign(runtime, tampered, psb, level="B-B")
    assert refused.value.error == "broken_signature"


def test_an_owner_password_only_file_is_signed_and_stays_encrypted(runtime, psb, pdf, tmp_path):
    writer = copy_into_new_writer(PdfFileReader(BytesIO(pdf)))
    writer.encrypt("owner-secret", "")  # anyone may open it; only the owner may change rules
    out = BytesIO()
    writer.write(out)

    signed, _ = service.sign(runtime, out.getvalue(), psb, level="B-LT")
    assert PdfFileReader(BytesIO(signed)).encrypted
    report = service.verify(runtime, signed)
    assert report["ok"], report
    assert "Signature Validation: Signature is Valid." in pdfsig(signed, tmp_path)
    (tmp_path / "signed.pdf").write_bytes(signed)
    qpdf = subprocess.run(
        ["qpdf", "--show-encryption", str(tmp_path / "signed.pdf")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "R = " in qpdf.stdout, qpdf.stderr  # still encrypted, by qpdf's reading
    assert subprocess.run(["qpdf", "--check", str(tmp_path / "signed.pdf")]).returncode == 0
    with pytest.raises(PdfRefused) as refused:
        service.sign(runtime, encrypted_pdf(pdf), psb)  # a user password: we cannot open it
    assert refused.value.error == "encrypted_pdf"

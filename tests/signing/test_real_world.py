"""Real-world PDFs (LibreOffice, pdfLaTeX, pdfkit, ReportLab, PDF/A, a form, rotated pages)
signed B-LTA with a stamp: pyHanko's verdict, pdfsig and qpdf agree, the stamp shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pades_checks import ades, changed_pixels, pdfsig
from pyhanko.sign.ades.report import AdESPassed

from signing import service

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.pdf")))
def test_a_real_world_pdf_is_signed_b_lta_with_a_visible_stamp(runtime, psb, root, tmp_path, name):
    original = (DATA / name).read_bytes()
    signed, _ = service.sign(runtime, original, psb, level="B-LTA", stamp=True)

    assert signed.startswith(original)
    assert ades(signed, root).ades_subindic == AdESPassed.OK
    assert service.verify(runtime, signed)["ok"]
    assert "Signature Validation: Signature is Valid." in pdfsig(signed, tmp_path)
    (tmp_path / "signed.pdf").write_bytes(signed)
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "signed.pdf")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode in (0, 3), check.stdout + check.stderr  # 3: warnings only
    # The foot of the page (signing a form also drops /NeedAppearances, ISO 32000-2
    # 12.7.3.3, so viewers stop redrawing its fields: that shows above, not here).
    box, (width, height) = changed_pixels(original, signed, tmp_path, 36, foot=0.35)
    assert box is not None and box[2] <= width and box[3] <= height
    assert (box[2] - box[0]) > 2 * (box[3] - box[1])  # upright

"""``onetrip departments``, ``onetrip sign`` and ``onetrip verify`` as an operator uses them."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from pades_checks import add_officer, cli_env, encrypted_pdf

from idp.cli import main


@pytest.fixture
def onetrip(runtime, tmp_path):
    env = cli_env(runtime)

    def run(*args: str):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def test_departments_are_created_with_a_chinese_name_and_listed(onetrip, runtime):
    created = onetrip(
        "departments",
        "create",
        "PSB",
        "--name",
        "上海市公安局",
        "--name-en",
        "Shanghai PSB",
        "--json",
    )
    assert created.exit_code == 0, created.output
    serial = json.loads(created.output)["certificate_serial"]
    add_officer(runtime, "PSB", "li.wei")
    listed = json.loads(onetrip("departments", "list", "--json").output)
    assert listed == [{**json.loads(created.output), "members": ["li.wei"]}]
    again = onetrip("departments", "create", "PSB", "--name", "x")
    assert again.exit_code == 1
    assert again.output.strip() == "onetrip: department PSB already exists"
    assert serial


def test_sign_then_verify_from_the_command_line(onetrip, psb, pdf, tmp_path):
    source, signed = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes(pdf)
    result = onetrip(
        "sign",
        str(source),
        "-o",
        str(signed),
        "--department",
        "PSB",
        "--level",
        "B-LTA",
        "--stamp",
        "--reason",
        "approved",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == pdf
    assert json.loads(result.output)["level"] == "B-LTA"
    verified = onetrip("verify", str(signed), "--json")
    assert verified.exit_code == 0
    assert json.loads(verified.output)["ok"] is True
    assert onetrip("verify", str(source)).exit_code == 1  # no signatures
    fonts = subprocess.run(["pdffonts", str(signed)], capture_output=True, text=True).stdout
    assert "NotoSansCJKsc-Regular" in fonts  # the stamp's Chinese name, embedded as a subset


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a pdf at all", "the file is not a PDF (no %PDF- header)"),
        ("truncated", "the PDF is truncated (no %%EOF marker at its end)"),
        ("encrypted", "the PDF is protected by a password; remove the password first"),
    ],
)
def test_bad_input_gets_one_line_and_the_file_is_untouched(
    onetrip, psb, pdf, tmp_path, content, message
):
    data = {"truncated": pdf[:-200], "encrypted": encrypted_pdf(pdf)}.get(content, content)
    source, signed = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes(data)
    result = onetrip("sign", str(source), "-o", str(signed), "--department", "PSB")
    assert result.exit_code == 1
    assert result.output == f"onetrip: {source}: {message}\n"
    assert source.read_bytes() == data
    assert not signed.exists()


def test_unknown_department_is_refused(onetrip, psb, pdf, tmp_path):
    source = tmp_path / "in.pdf"
    source.write_bytes(pdf)
    result = onetrip("sign", str(source), "-o", str(tmp_path / "o.pdf"), "--department", "NOPE")
    assert result.exit_code == 1
    assert result.output == "onetrip: no department with code NOPE\n"

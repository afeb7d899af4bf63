"""``onetrip departments ...``, ``onetrip sign`` and ``onetrip verify``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from config.cli import CliError, emit, json_option, pass_runtime
from config.runtime import Runtime
from signing import LEVELS

# The signing modules import pyHanko (most of a second): each command imports them when it
# runs, so `onetrip --help` and unrelated commands start fast.


def _ready(runtime: Runtime) -> Runtime:
    runtime.migrate()
    return runtime


def _read(path: str, runtime: Runtime) -> bytes:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > runtime.settings.max_upload_bytes:
            raise CliError(
                f"{path}: the PDF is {size} bytes; the limit is "
                f"{runtime.settings.max_upload_bytes} bytes"
            )
        return file.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None


@click.group("departments")
def departments() -> None:
    """Departments that seal documents, and their officers."""


@departments.command("create")
@click.argument("code")
@click.option("--name", required=True, help="The department's name (Chinese or any script).")
@click.option("--name-en", default=None, help="Its English name, for the certificate.")
@json_option
@pass_runtime
def create(runtime: Runtime, code: str, name: str, name_en: str | None, as_json: bool) -> None:
    """Create a department and its e-seal certificate (key generated in custody)."""
    from signing import departments as depts
    from signing.departments import DepartmentError

    try:
        emit(depts.create(_ready(runtime), code, name, name_en, actor="cli"), as_json)
    except DepartmentError as exc:
        raise CliError(exc.message) from None


def _add_member_command(find_user: Callable[[Runtime, str], int | None]) -> click.Command:
    """``departments add-member``; ``find_user`` (the provider's, handed down by the
    ``onetrip`` root) turns a username into a user id: signing never reads its tables."""

    @click.command("add-member")
    @click.argument("code")
    @click.argument("username")
    @json_option
    @pass_runtime
    def add_member(runtime: Runtime, code: str, username: str, as_json: bool) -> None:
        """Let USERNAME sign on behalf of department CODE."""
        from signing import departments as depts
        from signing.departments import DepartmentError

        user_id = find_user(_ready(runtime), username)
        if user_id is None:
            raise CliError(f"no user named {username}")
        try:
            emit(depts.add_member(runtime, code, user_id, username, actor="cli"), as_json)
        except DepartmentError as exc:
            raise CliError(exc.message) from None

    return add_member


@departments.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every department with its certificate serial and members."""
    from signing import departments as depts

    rows = depts.list_all(_ready(runtime))
    text = "\n".join(
        f"{d['code']}  {d['name']}  {d['certificate_serial']}  {','.join(d['members']) or '-'}"
        for d in rows
    )
    emit(rows, as_json, text or "no departments")


@click.command("sign")
@click.argument("input_pdf", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--department", required=True, help="Code of the department whose seal signs.")
@click.option(
    "--level", type=click.Choice(LEVELS, case_sensitive=False), default="B-LT", show_default=True
)
@click.option("--stamp", is_flag=True, help="Add a visible stamp with a QR code.")
@click.option("--reason", default=None)
@json_option
@pass_runtime
def sign(
    runtime: Runtime,
    input_pdf: str,
    output: str,
    department: str,
    level: str,
    stamp: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Seal INPUT_PDF with a department's certificate into OUTPUT (the input is untouched)."""
    from signing import service
    from signing.departments import DepartmentError
    from signing.pdfs import PdfRefused

    data = _read(input_pdf, runtime)
    if Path(output).resolve() == Path(input_pdf).resolve():
        raise CliError("the output must be a different file from the input")
    try:
        signed, document_id = service.sign(
            _ready(runtime),
            data,
            department,
            level=level,
            stamp=stamp,
            reason=reason,
            filename=Path(input_pdf).name,
            actor="cli",
        )
    except PdfRefused as exc:
        raise CliError(f"{input_pdf}: {exc.message}") from None
    except DepartmentError as exc:
        raise CliError(exc.message) from None
    Path(output).write_bytes(signed)
    emit(
        {
            "document_id": document_id,
            "output": output,
            "level": level.upper(),
            "sha256": service.sha256(signed),
            "verify_url": service.engine(runtime).verify_url(document_id),
        },
        as_json,
    )


@click.command("verify")
@click.argument("input_pdf", type=click.Path(dir_okay=False))
@json_option
@pass_runtime
def verify(runtime: Runtime, input_pdf: str, as_json: bool) -> None:
    """Check every signature; exit 0 only if all are intact, valid and trusted."""
    from signing import service
    from signing.pdfs import PdfRefused

    data = _read(input_pdf, runtime)
    try:
        report = service.verify(_ready(runtime), data)
    except PdfRefused as exc:
        raise CliError(f"{input_pdf}: {exc.message}") from None
    lines = []
    for s in report["signatures"]:
        lines.append(
            f"{'OK  ' if s['ok'] else 'FAIL'} {s['field']}: {s['type']} by {s['signer']}"
            f" level={s.get('level') or '-'} revocation={s['revocation']['status']}"
            f" time={s.get('timestamp_time') or s.get('signing_time')}"
            f" changes: {s['changes']['description']}"
        )
    if not report["signatures"]:
        lines.append("no signatures")
    emit(report, as_json, "\n".join(lines))
    if not report["ok"]:
        raise click.exceptions.Exit(1)


def commands(find_user: Callable[[Runtime, str], int | None]) -> tuple[click.Command, ...]:
    """Signing's commands for the ``onetrip`` root, which supplies the user lookup."""
    departments.add_command(_add_member_command(find_user))
    return (departments, sign, verify)

"""``onetrip departments ...``, ``onetrip sign`` and ``onetrip verify``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config.cli import CliError, emit, ensure_schema, json_option, pass_runtime
from signing import LEVELS

if TYPE_CHECKING:
    from config.runtime import Runtime

# The signing modules import pyHanko (most of a second): each command imports them when it
# runs, so `onetrip --help` and unrelated commands start fast.


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
@click.option("--name-en", default=None, help="Its English name, for pages and lists.")
@click.option(
    "--org-id",
    default=None,
    help="Its registration as organizationIdentifier (EN 319 412-1), e.g. NTRCN-<USCC>; "
    "default <C>:ONETRIP-<CODE>.",
)
@json_option
@pass_runtime
def create(
    runtime: Runtime, code: str, name: str, name_en: str | None, org_id: str | None, as_json: bool
) -> None:
    """Create a department and its e-seal certificate (key generated in custody)."""
    from signing import departments as depts
    from signing.departments import DepartmentError

    try:
        created = depts.create(
            ensure_schema(runtime), code, name, name_en, actor="cli", organization_identifier=org_id
        )
    except DepartmentError as exc:
        raise CliError(exc.description) from None
    emit(created, as_json)


@departments.command("renew-seal")
@click.argument("code")
@json_option
@pass_runtime
def renew_seal(runtime: Runtime, code: str, as_json: bool) -> None:
    """Give department CODE a new key and seal certificate now (the old one stays valid for
    what it signed). Seals are also renewed by themselves before they expire."""
    from signing import departments as depts
    from signing.departments import DepartmentError

    try:
        emit(depts.renew_seal(ensure_schema(runtime), code, actor="cli"), as_json)
    except DepartmentError as exc:
        raise CliError(exc.description) from None


@departments.command("remove-member")
@click.argument("code")
@click.argument("username")
@json_option
@pass_runtime
def remove_member(runtime: Runtime, code: str, username: str, as_json: bool) -> None:
    """Stop USERNAME from signing on behalf of department CODE."""
    from signing import departments as depts
    from signing.departments import DepartmentError

    try:
        emit(depts.remove_member(ensure_schema(runtime), code, username, actor="cli"), as_json)
    except DepartmentError as exc:
        raise CliError(exc.description) from None


def _add_member_command(find_user: Callable[[Runtime, str], int | None]) -> click.Command:
    """``departments add-member``; ``find_user`` (the provider's, handed down by the
    ``onetrip`` root) turns a username into a user id: signing never reads its tables."""

    @click.command("add-member")
    @click.argument("code")
    @click.argument("username")
    @click.option(
        "--role",
        type=click.Choice(["officer", "admin"]),
        default="officer",
        show_default=True,
        help="admin: also names the department's officers in the workspace",
    )
    @json_option
    @pass_runtime
    def add_member(runtime: Runtime, code: str, username: str, role: str, as_json: bool) -> None:
        """Let USERNAME sign on behalf of department CODE (again: change the role)."""
        from signing import departments as depts
        from signing.departments import DepartmentError

        user_id = find_user(ensure_schema(runtime), username)
        if user_id is None:
            raise CliError(f"no user named {username}")
        try:
            emit(
                depts.add_member(runtime, code, user_id, username, actor="cli", role=role), as_json
            )
        except DepartmentError as exc:
            raise CliError(exc.description) from None

    return add_member


@departments.command("list")
@json_option
@pass_runtime
def list_(runtime: Runtime, as_json: bool) -> None:
    """Every department with its certificate serial and members."""
    from signing import departments as depts

    rows = depts.list_all(ensure_schema(runtime))
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
            ensure_schema(runtime),
            data,
            department,
            level=level,
            stamp=stamp,
            reason=reason,
            filename=Path(input_pdf).name,
            actor="cli",
        )
    except PdfRefused as exc:
        raise CliError(f"{input_pdf}: {exc.description}") from None
    except DepartmentError as exc:
        raise CliError(exc.description) from None
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


def report_lines(report: dict) -> list[str]:
    """One line per signature, saying its verdict and, if any, its one problem."""
    lines = []
    for s in report["signatures"]:
        head = f"{'OK  ' if s['ok'] else 'FAIL'} {s['field']}: {s['type']} by {s['signer']}"
        if s["type"] == "document_timestamp":
            lines.append(f"{head}, time {s['timestamp_time']}, {s['indication']}")
            continue
        verdict = s["indication"] + (f"/{s['sub_indication']}" if s["sub_indication"] else "")
        proof = s["signing_time_proof"]
        when = s.get("timestamp_time") or s.get("signing_time")
        parts = [head, verdict, f"level {s.get('level') or '-'}", f"signed {when}"]
        if proof["by"]:
            parts[-1] += f" (proven by the {proof['by']})"
        now = s.get("status_now")
        if now and now["state"] == "revoked":
            since = now["compromised_at"] or now["revoked_at"]
            parts.append(f"certificate revoked ({now['reason']}) since {since}")
        elif now:
            parts.append(f"certificate {now['state']} now")
        if s["explanation"]:
            parts.append(s["explanation"])
        lines.append(", ".join(parts))
    return lines or ["no signatures"]


@click.command("verify")
@click.argument("input_pdf", type=click.Path(dir_okay=False))
@click.option(
    "--etsi-report",
    type=click.Path(dir_okay=False),
    help="Also write the ETSI TS 119 102-2 XML validation report to this file.",
)
@json_option
@pass_runtime
def verify(runtime: Runtime, input_pdf: str, etsi_report: str | None, as_json: bool) -> None:
    """Check every signature (ETSI EN 319 102-1); exit 0 only if every one is TOTAL-PASSED."""
    from signing import service
    from signing.pdfs import PdfRefused

    data = _read(input_pdf, runtime)
    try:
        report = service.verify(ensure_schema(runtime), data)
        if etsi_report:
            Path(etsi_report).write_text(service.verify_xml(runtime, data))
    except PdfRefused as exc:
        raise CliError(f"{input_pdf}: {exc.description}") from None
    except OSError as exc:
        raise CliError(f"{etsi_report}: {exc.strerror}") from None
    emit(report, as_json, "\n".join(report_lines(report)))
    if not report["ok"]:
        raise click.exceptions.Exit(1)


@click.group("signing")
def signing_group() -> None:
    """Keeping signed documents verifiable for decades."""


@signing_group.command("renew")
@click.argument("input_pdf", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="With INPUT_PDF.")
@click.option(
    "--within",
    type=click.IntRange(0),
    default=None,
    help="Renew when the last archive time-stamp's certificate ends within this many "
    "seconds [default: archive_renew_before].",
)
@json_option
@pass_runtime
def renew(
    runtime: Runtime, input_pdf: str | None, output: str | None, within: int | None, as_json: bool
) -> None:
    """Add a fresh archive time-stamp (with the validation data it needs) to every stored
    B-LTA document whose last time-stamp's certificate nears its end, or to INPUT_PDF.

    Run it daily (cron) and after `onetrip ca rotate tsa`."""
    from signing import service
    from signing.pdfs import PdfRefused

    if input_pdf is not None:
        if not output:
            raise CliError("give -o OUTPUT with INPUT_PDF")
        try:
            fresh = service.renew_file(ensure_schema(runtime), _read(input_pdf, runtime))
        except PdfRefused as exc:
            raise CliError(f"{input_pdf}: {exc.description}") from None
        Path(output).write_bytes(fresh)
        emit({"output": output, "sha256": service.sha256(fresh)}, as_json)
        return
    renewed = service.renew_stored(ensure_schema(runtime), within)
    text = "\n".join(
        f"renewed {r['id']} (its stamp ended {r['previous_stamp_ends']})" for r in renewed
    )
    emit(renewed, as_json, text or "nothing to renew")


def departments_group(find_user: Callable[[Runtime, str], int | None]) -> click.Group:
    """``departments`` for the ``onetrip`` root, which supplies the user lookup."""
    departments.add_command(_add_member_command(find_user))
    return departments

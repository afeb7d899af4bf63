"""No domain package reads another's tables.

A domain takes the ids and names it needs as arguments (biometrics gets the citizen's
username from idp, signing its officers' names). The import contracts in pyproject.toml
keep it from importing another's models; this keeps it from naming another's tables in
plain SQL too. Migrations are exempt: moving data between tables is their job.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import biometrics.models  # noqa: F401 (each package's tables, mapped on Base)
import certs.models  # noqa: F401
import config.audit
import config.installation  # noqa: F401
import idp.models  # noqa: F401
import signing.models  # noqa: F401
from config.db import Base

ROOT = Path(__file__).resolve().parent.parent
DOMAINS = ("certs", "signing", "biometrics")


def _owner(table: str) -> str:
    for mapper in Base.registry.mappers:
        if mapper.local_table is not None and mapper.local_table.name == table:
            return mapper.class_.__module__.partition(".")[0]
    raise LookupError(table)


def _reading_others(package: str) -> re.Pattern:
    """SQL that names a table of neither ``package`` nor config (whose tables, the audit
    log above all, every package writes)."""
    others = sorted(t for t in Base.metadata.tables if _owner(t) not in (package, "config"))
    names = "|".join(map(re.escape, others))
    return re.compile(rf"\b(FROM|JOIN|INTO|UPDATE)\s+\"?({names})\b", re.IGNORECASE)


@pytest.mark.parametrize("package", DOMAINS)
def test_a_domain_names_no_other_packages_table_in_sql(package):
    sql = _reading_others(package)
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if sql.search(line)
    ]
    assert found == []


def test_the_check_catches_what_biometrics_once_did_to_name_a_citizen():
    read = 'text("SELECT username FROM users WHERE id = :id")'
    assert _reading_others("biometrics").search(read)
    assert not _reading_others("idp").search(read)

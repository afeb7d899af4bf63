"""Facts an installation fixes once and keeps: its issuer.

The issuer is in every token, certificate URL and QR code OneTrip hands out, so it is
fixed at the first start (``ONETRIP_ISSUER``, else what ``onetrip serve`` listens on) and
stored in the database. Every later start and every CLI command uses the stored one; an
``ONETRIP_ISSUER`` that names another is refused with a line that says both and how to
move (``onetrip issuer move NEW``), instead of quietly minting URLs nobody answers.
"""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from config import audit
from config.db import Base, Database
from config.settings import SettingsError


class InstallationFact(Base):
    __tablename__ = "installation"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def stored_issuer(db: Database) -> str | None:
    with db.read() as session:
        row = session.get(InstallationFact, "issuer")
        return row.value if row is not None else None


def fix_issuer(db: Database, wanted: str | None, first: str) -> str:
    """The installation's issuer: stored now (``wanted``, else ``first``) if none is yet;
    else the stored one, and a :class:`SettingsError` if ``wanted`` names another.

    Nodes of one installation may start at the same moment: when another stored the
    issuer between this one's look and its insert, this one reads what was stored."""
    try:
        return _fix_issuer(db, wanted, first)
    except IntegrityError:
        return _fix_issuer(db, wanted, first)


def _fix_issuer(db: Database, wanted: str | None, first: str) -> str:
    with db.write() as session:
        row = session.get(InstallationFact, "issuer", with_for_update=True)
        if row is None:
            session.add(InstallationFact(name="issuer", value=wanted or first))
            audit.record(session, "installation.issuer", actor="system", issuer=wanted or first)
            return wanted or first
        if wanted and wanted != row.value:
            raise SettingsError(
                f"ONETRIP_ISSUER is {wanted}, but this installation's issuer is {row.value} "
                "(fixed at its first start, stored in the database): unset ONETRIP_ISSUER to "
                f"use it, or move the installation with `onetrip issuer move {wanted}`"
            )
        return row.value


def move_issuer(db: Database, new: str, *, actor: str) -> str:
    """Store ``new`` as the issuer; returns the old one (audited)."""
    with db.write() as session:
        row = session.get(InstallationFact, "issuer", with_for_update=True)
        old = row.value if row is not None else None
        if row is None:
            session.add(InstallationFact(name="issuer", value=new))
        else:
            row.value = new
        audit.record(session, "installation.issuer_move", actor=actor, old=old, new=new)
        return old

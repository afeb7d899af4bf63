"""Console pages for the PKI: certificates by profile and status, one certificate with
the OCSP responder's answer about it, issuance from a CSR, revocation with a reason, the
CRLs; and the provider's token-signing keys with their rotation.

Issuance and revocation go through :class:`certs.authority.Authority`, as ``onetrip ca``
does. A CSR proves possession of its key and nothing else, so its subject is not used:
the certificate names the common name the operator typed (with the CA's organisation
where the profile needs one), under the profile's own extensions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from certs import listing, profiles
from certs.authority import REASONS, Authority, AuthorityError
from config.db import utcnow
from config.paging import Page
from idp.console.gate import (
    console,
    console_blueprint,
    page_number,
    provider,
    refusal,
    requires,
    who,
)
from idp.i18n import translate
from idp.keys import max_token_lifetime, rotate
from idp.models import SigningKey

bp = console_blueprint("console_pki", __name__, "/admin/pki")

PAGE_SIZE = 25
PROFILE_FILTERS = ("ca", *profiles.PUBLIC)
_MAX_CSR = 64 * 1024


def _ca() -> Authority:
    return console().components.authority


@bp.get("/")
@requires("pki.read")
def index():
    profile = request.args.get("profile", "")
    status = request.args.get("status", "")
    profile = profile if profile in PROFILE_FILTERS else ""
    status = status if status in listing.STATUSES else ""
    number = page_number()
    rows, total = listing.find(
        _ca(),
        profile=profile or None,
        status=status or None,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return render_template(
        "console/pki.html",
        page=Page(rows, number, total, PAGE_SIZE),
        profile=profile,
        status=status,
        profiles=PROFILE_FILTERS,
        statuses=listing.STATUSES,
        crls=listing.crls(_ca()),
    )


def _ocsp_answer(certificate: x509.Certificate) -> dict:
    """What the OCSP responder answers about ``certificate`` now, as a client parses it."""
    answer = ocsp.load_der_ocsp_response(console().components.responder.response_for(certificate))
    return {
        "status": answer.certificate_status.name.lower(),
        "this_update": answer.this_update_utc.replace(tzinfo=None),
        "next_update": answer.next_update_utc.replace(tzinfo=None),
        "revoked_at": answer.revocation_time_utc.replace(tzinfo=None)
        if answer.revocation_time_utc
        else None,
        "reason": answer.revocation_reason.value if answer.revocation_reason else None,
        "compromised_at": next(
            (
                e.value.invalidity_date_utc.replace(tzinfo=None)
                for e in answer.single_extensions
                if isinstance(e.value, x509.InvalidityDate)
            ),
            None,
        ),
    }


def _show(serial: str, error: str | None = None, status: int = 200):
    try:
        found = listing.get(_ca(), serial)
    except AuthorityError:
        found = None
    if found is None:
        abort(404)
    row, certificate = found
    answer = _ocsp_answer(certificate) if row.role in ("end", "ocsp", "tsa") else None
    page = render_template(
        "console/certificate.html", c=row, ocsp=answer, reasons=REASONS, error=error
    )
    return page, status


@bp.get("/certificates/<serial>")
@requires("pki.read")
def show(serial: str):
    return _show(serial)


@bp.post("/certificates/<serial>/revoke")
@requires("pki.write")
def revoke(serial: str):
    reason = request.form.get("reason", "unspecified")
    try:
        compromised_at = _compromise_time(request.form.get("compromised_at", ""))
        _ca().revoke(serial, reason, compromised_at=compromised_at, **who())
    except AuthorityError as exc:
        return _show(serial, refusal(exc), 400)
    flash(translate("The certificate is revoked; the CRL and OCSP say so now."))
    return redirect(url_for("console_pki.show", serial=serial))


def _compromise_time(value: str) -> datetime | None:
    """The form's optional compromise time (UTC, as a ``datetime-local`` input sends it),
    which the CA records as the RFC 5280 invalidityDate."""
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip()[:32])
    except ValueError:
        raise AuthorityError(
            "invalid_request", "the compromise time is not a date and time"
        ) from None
    return moment.replace(tzinfo=None)


def _issue_page(error: str | None = None, form=None, status: int = 200):
    page = render_template(
        "console/issue.html", error=error, form=form or {}, profiles=profiles.PUBLIC
    )
    return page, status


@bp.get("/issue")
@requires("pki.write")
def issue_form():
    return _issue_page()


@bp.post("/issue")
@requires("pki.write")
def issue():
    form = request.form
    name = profiles.PUBLIC.get(form.get("profile", ""))
    common_name = form.get("common_name", "").strip()[:64]
    upload = request.files.get("csr_file")
    csr = (upload.read(_MAX_CSR + 1) if upload else b"") or form.get("csr", "").encode()[
        : _MAX_CSR + 1
    ]
    if name is None:
        return _issue_page(translate("Choose a profile."), form, 400)
    if not common_name:
        return _issue_page(translate("The common name must not be empty."), form, 400)
    if not csr or len(csr) > _MAX_CSR:
        return _issue_page(translate("Paste or upload a certificate request."), form, 400)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if NameOID.ORGANIZATION_NAME in name.required_attributes:
        organization = provider().settings.ca_organization
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    try:
        issued = _ca().issue(name.name, csr=csr, subject=x509.Name(attributes), **_audit())
    except (AuthorityError, profiles.ProfileError, ValueError) as exc:
        return _issue_page(refusal(exc), form, 400)
    flash(translate("The certificate is issued."))
    return redirect(url_for("console_pki.show", serial=issued.serial))


def _audit() -> dict:
    context = who()
    return {"actor": context["actor"], "ip": context["ip"]}


@bp.get("/keys")
@requires("keys.read")
def keys():
    p = provider()
    with p.db.read() as session:
        rows = session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())).all()
    now = utcnow()
    life = timedelta(seconds=max_token_lifetime(p.settings))
    keys_ = []
    for key in rows:
        if key.activates_at > now:
            state = "published"
        elif key.retired_at is None or key.retired_at > now:
            state = "active"
        else:
            state = "retired"
        keys_.append(
            {
                "row": key,
                "state": state,
                "leaves_jwks": key.retired_at + life if key.retired_at else None,
            }
        )
    return render_template(
        "console/keys.html", keys=keys_, publish_delay=p.settings.key_publish_delay
    )


@bp.post("/keys/rotate")
@requires("keys.write")
def rotate_keys():
    p = provider()
    immediately = request.form.get("now") == "on"
    with p.db.write() as session:
        rotate(session, p.settings, immediately=immediately, actor=who()["actor"])
    p.keyring.invalidate()
    flash(translate("New signing keys are published."))
    return redirect(url_for("console_pki.keys"))

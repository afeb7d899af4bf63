"""Which names a certificate may carry: the identity that asked, never what a CSR claims.

A certificate's subject and subjectAltName come from whoever authenticated (a device in
the registry, a department, a citizen, the operator) and the profile. A CSR only proves
possession of its key: :func:`check_request` refuses one that asks for any name that
identity does not have, rather than quietly issuing something else, so the requester
learns why. :func:`check_identity` refuses, whoever asks, names that would let a holder
pass for OneTrip's own CAs, wildcard names, and addresses that are not the identity's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from config.errors import Refusal

_NAME_OIDS = (
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.PSEUDONYM,
)
_CA_WORDS = ("certificate authority", "certification authority", "root ca", "issuing ca")


class NameRefused(Refusal):
    """A subject or subjectAltName the requester may not have."""


def _values(name: x509.Name, oids: Iterable[x509.ObjectIdentifier] = _NAME_OIDS) -> list[str]:
    return [str(a.value) for oid in oids for a in name.get_attributes_for_oid(oid)]


def check_identity(
    subject: x509.Name,
    alt_names: Sequence[x509.GeneralName],
    hierarchy: Iterable[x509.Name],
    *,
    allow_organization: str | None = None,
) -> None:
    """Refuse CA-like names, wildcards and malformed addresses in an identity to certify.

    ``hierarchy`` are the subjects of OneTrip's own CA, OCSP and TSA certificates: no end
    entity may repeat one of their names, nor their organisation (``allow_organization``
    lets a profile that names OneTrip itself through), nor call itself an authority.
    """
    own = {v.casefold() for name in hierarchy for v in _values(name)}
    own.discard((allow_organization or "").casefold())
    for value in _values(subject):
        folded = value.casefold().strip()
        if folded in own or folded.endswith(" ca") or any(w in folded for w in _CA_WORDS):
            raise NameRefused(
                "invalid_request", f"{value!r} is the name of a certificate authority"
            )
        if "*" in value:
            raise NameRefused("invalid_request", f"{value!r}: wildcard names are not issued")
    for general in alt_names:
        value = str(general.value)
        if isinstance(general, x509.DNSName) and ("*" in value or not value.strip(".")):
            raise NameRefused(
                "invalid_request", f"DNS name {value!r}: wildcard names are not issued"
            )
        if isinstance(general, x509.RFC822Name) and value.count("@") != 1:
            raise NameRefused("invalid_request", f"{value!r} is not an e-mail address")


def requested_alt_names(csr: x509.CertificateSigningRequest) -> list[x509.GeneralName]:
    try:
        found = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    return list(found.value)


def check_request(
    csr: x509.CertificateSigningRequest,
    subject: x509.Name,
    alt_names: Sequence[x509.GeneralName],
) -> None:
    """Refuse a CSR that asks for a name ``subject``/``alt_names`` (the identity) lacks.

    Every attribute of the CSR's subject must appear with the same value in ``subject``
    (an empty CSR subject is fine), and every subjectAltName must be one of ``alt_names``.
    """
    granted = {(a.oid, str(a.value)) for a in subject}
    for attribute in csr.subject:
        if (attribute.oid, str(attribute.value)) not in granted:
            raise NameRefused(
                "invalid_request",
                f"the request asks for {attribute.rfc4514_string()}, which is not the "
                f"authenticated identity ({subject.rfc4514_string()})",
            )
    allowed = {(type(g), str(g.value).casefold()) for g in alt_names}
    for general in requested_alt_names(csr):
        if (type(general), str(general.value).casefold()) not in allowed:
            kind = "e-mail address" if isinstance(general, x509.RFC822Name) else "name"
            raise NameRefused(
                "invalid_request",
                f"the request asks for the {kind} {general.value!r}, which does not belong to "
                "the authenticated identity",
            )

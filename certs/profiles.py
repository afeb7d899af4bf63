"""Certificate profiles: for each kind of certificate, exactly which extensions it carries.

Every certificate gets SubjectKeyIdentifier, AuthorityKeyIdentifier, a CRL distribution
point and an AIA (OCSP for end entities, CA issuers always) under the issuer URL; a
profile adds its basic constraints, key usage and extended key usage. The hierarchy's own
profiles (``root``, ``ca``, ``ocsp``, ``tsa``) are internal; :data:`PUBLIC` lists the ones
operators and other packages may issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from config.errors import Refusal

_NO_USAGE = dict.fromkeys(
    (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    ),
    False,
)


_ATTRIBUTE_NAMES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.COMMON_NAME: "CN",
}


class ProfileError(Refusal):
    """An unknown profile, or a subject or request the profile does not allow."""


@dataclass(frozen=True)
class Profile:
    name: str
    days: int  # default validity
    max_days: int  # the most an operator may ask for
    usages: frozenset[str]
    extended_usages: tuple[x509.ObjectIdentifier, ...] = ()
    extended_usage_critical: bool = False
    is_ca: bool = False
    path_length: int | None = None
    ocsp_nocheck: bool = False
    requires_csr: bool = False
    etsi_person: bool = False  # a natural or legal person's signing certificate (EN 319 412)
    natural_person: bool = False  # EN 319 412-2 names (given name and surname, or pseudonym)
    required_attributes: tuple[x509.ObjectIdentifier, ...] = field(default=(NameOID.COMMON_NAME,))

    def extensions(self) -> list[tuple[x509.ExtensionType, bool]]:
        """The profile's own extensions and their criticality (URLs and key ids excluded)."""
        flags = {**_NO_USAGE, **dict.fromkeys(self.usages, True)}
        extensions: list[tuple[x509.ExtensionType, bool]] = [
            (x509.BasicConstraints(ca=self.is_ca, path_length=self.path_length), True),
            (x509.KeyUsage(**flags), True),
        ]
        if self.extended_usages:
            extensions.append(
                (x509.ExtendedKeyUsage(list(self.extended_usages)), self.extended_usage_critical)
            )
        if self.ocsp_nocheck:
            extensions.append((x509.OCSPNoCheck(), False))
        return extensions

    def complete(self, subject: x509.Name, country: str) -> x509.Name:
        """``subject`` with what the profile adds: the country first when it needs one and
        has none; for a natural person named only by CN, that name as pseudonym.

        EN 319 412-2 4.2.4 wants givenName and surname, or a pseudonym. A name OneTrip was
        only told (not a verified legal name split into its parts) is given as pseudonym:
        the certificate never claims a legal name nobody checked.
        """
        rdns = list(subject.rdns)
        needs_country = NameOID.COUNTRY_NAME in self.required_attributes
        if needs_country and not subject.get_attributes_for_oid(NameOID.COUNTRY_NAME):
            rdns.insert(0, _rdn(NameOID.COUNTRY_NAME, country))
        named = any(
            subject.get_attributes_for_oid(oid)
            for oid in (NameOID.GIVEN_NAME, NameOID.SURNAME, NameOID.PSEUDONYM)
        )
        common = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if self.natural_person and not named and common:
            rdns.append(_rdn(NameOID.PSEUDONYM, str(common[0].value)))
        return x509.Name(rdns)

    def check_subject(self, subject: x509.Name) -> None:
        for oid in self.required_attributes:
            if not subject.get_attributes_for_oid(oid):
                label = _ATTRIBUTE_NAMES.get(oid, oid.dotted_string)
                raise ProfileError(
                    "invalid_request", f"profile {self.name} needs a subject with {label}"
                )
        if self.etsi_person and len(subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) > 1:
            raise ProfileError(
                "invalid_request", f"profile {self.name} allows one organizationName (EN 319 412-3)"
            )


_CA_USAGES = frozenset({"key_cert_sign", "crl_sign"})
_SIGNING = frozenset({"digital_signature", "content_commitment"})

ROOT = Profile("root", 20 * 365, 20 * 365, _CA_USAGES, is_ca=True)
ISSUING_CA = Profile("ca", 10 * 365, 10 * 365, _CA_USAGES, is_ca=True, path_length=0)
OCSP_RESPONDER = Profile(
    "ocsp",
    2 * 365,
    2 * 365,
    frozenset({"digital_signature"}),
    (ExtendedKeyUsageOID.OCSP_SIGNING,),
    ocsp_nocheck=True,
)
TSA = Profile(
    "tsa",
    10 * 365,
    10 * 365,
    frozenset({"digital_signature", "content_commitment"}),
    (ExtendedKeyUsageOID.TIME_STAMPING,),
    extended_usage_critical=True,
)

#: A department's electronic seal for PAdES, a legal person's certificate by ETSI EN 319
#: 412-3: C, one O (its legal name), organizationIdentifier, CN; digitalSignature and
#: contentCommitment (a seal commits the department to the content); no EKU, so every PDF
#: reader accepts it for documents.
DEPARTMENT = Profile(
    "department",
    2 * 365,
    3 * 365,
    _SIGNING,
    required_attributes=(
        NameOID.COUNTRY_NAME,
        NameOID.ORGANIZATION_NAME,
        NameOID.ORGANIZATION_IDENTIFIER,
        NameOID.COMMON_NAME,
    ),
    etsi_person=True,
)
#: A citizen's signing certificate (a natural person's, EN 319 412-2): C and CN; lives for
#: days, long enough to sign a form.
CITIZEN = Profile(
    "citizen",
    7,
    30,
    _SIGNING,
    required_attributes=(NameOID.COUNTRY_NAME, NameOID.COMMON_NAME),
    etsi_person=True,
    natural_person=True,
)
#: A wristband's or kiosk's TLS client certificate, only ever from a CSR.
DEVICE = Profile(
    "device",
    365,
    825,
    frozenset({"digital_signature"}),
    (ExtendedKeyUsageOID.CLIENT_AUTH,),
    requires_csr=True,
)

PUBLIC: dict[str, Profile] = {p.name: p for p in (DEPARTMENT, CITIZEN, DEVICE)}


def public_profile(name: str) -> Profile:
    try:
        return PUBLIC[name]
    except KeyError:
        raise ProfileError(
            "invalid_request", f"unknown profile {name!r}; choose one of {', '.join(PUBLIC)}"
        ) from None


def department_subject(
    organization: str,
    organization_identifier: str,
    common_name: str | None = None,
    country: str = "CN",
) -> x509.Name:
    """A department's subject by ETSI EN 319 412-3 4.2.1: C, one O (the legal name),
    organizationIdentifier (EN 319 412-1 5.1.4 semantics, e.g. ``NTRCN-<USCC>``), CN."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, organization_identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or organization),
        ]
    )


def _rdn(oid: x509.ObjectIdentifier, value: str) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, value)])

"""Making PAdES signatures in-process: custody-backed signer, in-process TSA, cached material.

pyHanko builds the signatures; OneTrip supplies the three things it cannot know:

- :class:`CustodySigner`, a pyHanko ``Signer`` whose raw signature comes from the
  key-custody backend (the department's key never leaves custody);
- :class:`AuthorityTimeStamper`, a pyHanko ``TimeStamper`` that hands the RFC 3161 request
  to OneTrip's own TSA in-process (no HTTP loopback); ``signing_tsa_url`` switches to
  pyHanko's ``HTTPTimeStamper`` and an external TSA;
- the validation data for B-LT and B-LTA, for every certificate up to the root
  (EN 319 142-1 and 319 102-1): the root itself, OCSP answers signed at signing time for
  the seal and the TSA certificate, and the root's CRL for the issuing CA (the OCSP
  responder's certificate needs none: id-pkix-ocsp-nocheck). It goes into a
  ``ValidationContext`` so pyHanko embeds it in the DSS without any network access.

Signers and time-stampers are cached per process, and the root's CRL until half its life
(at most :data:`REVINFO_REUSE` seconds); OCSP answers never are, so an embedded answer is
never older than the signature.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Protocol

from asn1crypto import cms, core, tsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError, as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing import LEVELS
from signing.pdfs import PARSE_ERRORS, PdfRefused
from signing.placement import PageGeometryError, PageView, Placement
from signing.stamp import stamp_style

# pyHanko warns when it embeds validation data without fetching; OneTrip pre-fetches it
# in-process on purpose (see Engine.validation_context), so the warning is noise here.
logging.getLogger("pyhanko.sign.signers.pdf_signer").setLevel(logging.ERROR)

DEFAULT_LEVEL = "B-LT"
REVINFO_REUSE = 300  # seconds a CRL is reused for signatures (CRLs live for crl_validity)


class Authority(Protocol):
    """What signing needs from the certificate authority (see :mod:`signing.authority`)."""

    def root(self) -> x509.Certificate: ...

    def chain(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The CA certificates above ``cert``, issuer first, root last."""
        ...

    def sign(self, key_label: str, data: bytes, hash_name: str) -> bytes: ...

    def timestamp(self, request_der: bytes) -> bytes:
        """An RFC 3161 ``TimeStampResp`` (DER) for a ``TimeStampReq`` (DER)."""
        ...

    def tsa_chain(self) -> list[x509.Certificate]: ...

    def ocsp_now(self, certs: list[x509.Certificate]) -> list[bytes]:
        """OCSP responses (DER) for ``certs``, signed now."""
        ...

    def crls(self) -> tuple[list[bytes], float]:
        """CRLs (DER) for the CA certificates, and the seconds they stay fresh."""
        ...


@dataclass(frozen=True)
class Seal:
    """A department's seal: the key label in custody and its certificate."""

    code: str
    name: str
    key_label: str
    cert: x509.Certificate
    department_id: int  # the row it came from, so recording a signature needs no lookup


class CustodySigner(Signer):
    """A pyHanko signer whose private key stays in OneTrip's key custody."""

    def __init__(
        self,
        sign: Callable[[bytes, str], bytes],
        cert: x509.Certificate,
        chain: list[x509.Certificate],
    ) -> None:
        # The root is the verifier's trust anchor, never evidence: leave it out of the CMS.
        super().__init__(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            embed_roots=True,
        )
        self._sign = sign
        # Room for the signature during pyHanko's size estimate, without a custody call:
        # DER ECDSA is at most 2 * (field size + 3) + 3 bytes; RSA is the modulus size.
        bits = cert.public_key.bit_size
        self._estimate = (bits + 7) // 8 * 2 + 9 if cert.public_key.algorithm == "ec" else bits // 8
        self._cert_id = _SigningCertificateV2(cert)

    def _signed_attr_providers(self, *args, **kwargs) -> Iterator[CMSAttributeProvider]:
        """pyHanko's providers, with the signing-certificate-v2 value built once per signer."""
        for provider in super()._signed_attr_providers(*args, **kwargs):
            yield self._cert_id if type(provider) is SigningCertificateV2Provider else provider

    async def signed_attrs(self, *args, **kwargs) -> cms.CMSAttributes:
        """pyHanko's signed attributes, encoded once (pyHanko dumps them to sign them)."""
        return settled(await super().signed_attrs(*args, **kwargs))

    def _package_signature(self, **kwargs) -> cms.ContentInfo:
        """pyHanko's CMS, encoded once before pyHanko writes it into the PDF."""
        return settled(super()._package_signature(**kwargs))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return bytes(self._estimate)
        return self._sign(data, digest_algorithm)


class _SigningCertificateV2(SigningCertificateV2Provider):
    """The ESS signing-certificate-v2 value of one certificate, built and encoded once.

    pyHanko rebuilds it from Python data for every signature, asn1crypto work that is a
    visible share of a B-B signature (README, Speed). The certificate never changes for a
    cached signer (signers are keyed by key label and serial), and a value parsed from DER
    is never re-encoded.
    """

    def __init__(self, cert: x509.Certificate) -> None:
        super().__init__(cert)
        self._value = tsp.SigningCertificateV2.load(as_signing_certificate_v2(cert).dump())

    async def build_attr_value(self, dry_run=False) -> tsp.SigningCertificateV2:
        return self._value


def settled(value: core.Asn1Value) -> core.Asn1Value:
    """``value`` with its DER encoding computed once, bottom-up; returns ``value``.

    What asn1crypto lacks, written here: it never clears the "mutated" mark of a value
    built from Python data (pyHanko builds the whole CMS that way), and ``dump()`` of a
    marked value re-encodes its contents twice, each time dumping every marked child the
    same way: 2**depth encodings. The signing-certificate-v2 attribute sits up to ten
    levels down, so encoding the attributes and the CMS cost several times a B-B
    signature's own work (README, Speed). Encoding each marked value once after its
    children and then clearing its mark gives the same bytes in linear time.
    """
    if isinstance(value, core.Choice):
        if value._parsed is not None:
            settled(value._parsed)
    elif isinstance(value, core.Sequence | core.SequenceOf) and value.children is not None:
        dirty = value._is_mutated()
        for child in value.children:
            if isinstance(child, core.Asn1Value):
                settled(child)
        if dirty:
            value._set_contents()
            value._mutated = False
    return value


class AuthorityTimeStamper(TimeStamper):
    """A pyHanko time-stamper that asks OneTrip's TSA in-process."""

    def __init__(self, timestamp: Callable[[bytes], bytes]) -> None:
        super().__init__()
        self._timestamp = timestamp

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(self._timestamp(req.dump()))


@dataclass
class _Crls:
    crls: list[bytes]
    until: float


class Engine:
    """Signs PDFs for departments. One per process; thread-safe."""

    def __init__(
        self,
        authority: Authority,
        *,
        issuer: str,
        tsa_url: str = "",
        extra_roots: list[x509.Certificate] | None = None,
        font: str = "",
    ) -> None:
        self.authority = authority
        self.issuer = issuer
        self.tsa_url = tsa_url
        self.extra_roots = extra_roots or []
        self.font = font
        self._lock = threading.Lock()
        self._signers: dict[tuple[str, int], CustodySigner] = {}
        self._crls: _Crls | None = None
        self._timestamper: TimeStamper | None = None

    # -- cached parts ---------------------------------------------------------------------

    def signer(self, seal: Seal) -> CustodySigner:
        key = (seal.key_label, seal.cert.serial_number)
        signer = self._signers.get(key)
        if signer is None:
            chain = self.authority.chain(seal.cert)

            def sign(data: bytes, digest: str, label: str = seal.key_label) -> bytes:
                return self.authority.sign(label, data, digest)

            signer = self._signers[key] = CustodySigner(sign, seal.cert, chain)
        return signer

    def timestamper(self) -> TimeStamper:
        if self._timestamper is None:
            with self._lock:
                if self._timestamper is None:
                    self._timestamper = (
                        HTTPTimeStamper(self.tsa_url, timeout=10)
                        if self.tsa_url
                        else AuthorityTimeStamper(self.authority.timestamp)
                    )
        return self._timestamper

    def validation_context(
        self, seal: Seal | None, also: list[x509.Certificate] = ()
    ) -> ValidationContext:
        """Trust roots and the validation data of the seal's and the TSA's paths, offline
        (and of the certificates ``also`` names: an earlier time-stamp's, for renewal).

        OCSP answers are signed for this signature; the root's CRL is reused while fresh.
        """
        crls = self._crls
        if crls is None or crls.until < time.monotonic():
            found, fresh_for = self.authority.crls()
            crls = self._crls = _Crls(found, time.monotonic() + min(fresh_for, REVINFO_REUSE))
        others = [*also, *self.authority.tsa_chain()]
        if seal is not None:
            others = [*self.authority.chain(seal.cert), *others]
        ocsps = self.authority.ocsp_now([seal.cert, *others] if seal else others)
        return ValidationContext(
            trust_roots=[self.authority.root(), *self.extra_roots],
            other_certs=others,
            ocsps=ocsps,
            crls=crls.crls,
            # An external TSA's certificates are checked where its CA publishes them.
            allow_fetching=bool(self.tsa_url),
            revocation_mode="hard-fail",
        )

    # -- signing --------------------------------------------------------------------------

    def verify_url(self, document_id: str) -> str:
        return f"{self.issuer}/verify/{document_id}"

    async def sign(
        self,
        data: bytes,
        seal: Seal,
        *,
        level: str = DEFAULT_LEVEL,
        stamp: bool = False,
        reason: str | None = None,
        certify: bool = False,
        document_id: str | None = None,
        field_name: str | None = None,
        prepare: tuple[str, ...] = (),
        placement: Placement | None = None,
    ) -> tuple[bytes, str]:
        """Sign ``data`` (already checked by :func:`signing.pdfs.open_pdf`).

        Returns the signed PDF and the name of the signature field. The input is never
        modified: pyHanko appends an incremental update to a copy. ``field_name`` may name
        an empty field made earlier; ``prepare`` names empty fields to create now for
        later signers (visible if ``stamp``). A certification signature must do that:
        after it, DocMDP level 2 allows filling existing signature fields, not new
        visible ones. ``placement`` puts a new visible stamp where the officer clicked
        instead of along the foot of the last page, and the prepared ones beneath it.
        """
        if level not in LEVELS:
            raise PdfRefused("invalid_level", f"level must be one of {', '.join(LEVELS)}")
        try:
            writer = IncrementalPdfFileWriter(BytesIO(data), strict=False)
            if writer.prev.encrypted:
                writer.encrypt("")  # owner password only (open_pdf refused any other)
            refuse_broken_signatures(writer.prev)
            existing = list(fields.enumerate_sig_fields(writer.prev))
            if certify and any(value is not None for _, value, _ in existing):
                certify = False  # only the first signature of a document certifies it
            taken = {name for name, *_ in existing}
            field_name = field_name or _unused_field_name(seal.code, taken)
            for n, later in enumerate(prepare, start=len(existing) + 1):
                page, box = (
                    _stamp_box(writer, n, placement, n - len(existing)) if stamp else (0, None)
                )
                fields.append_signature_field(
                    writer, fields.SigFieldSpec(later, on_page=page, box=box)
                )
            rank = LEVELS.index(level)
            meta = signers.PdfSignatureMetadata(
                field_name=field_name,
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
                reason=reason,
                name=seal.name,
                location=self.issuer,
                certify=certify,
                docmdp_permissions=fields.MDPPerm.FILL_FORMS,
                embed_validation_info=rank >= 2,
                use_pades_lta=rank >= 3,
                validation_context=self.validation_context(seal) if rank >= 2 else None,
            )
            field_spec = None
            style = None
            params = None
            page = _page_count(writer) - 1
            if stamp and field_name not in taken:
                page, box = _stamp_box(writer, len(existing), placement)
                field_spec = fields.SigFieldSpec(field_name, on_page=page, box=box)
            if stamp:
                style = stamp_style(seal.name, self.font, _page_view(writer, page).rotate)
                params = {"url": self.verify_url(document_id or "")}
            pdf_signer = signers.PdfSigner(
                meta,
                self.signer(seal),
                timestamper=self.timestamper() if rank >= 1 else None,
                stamp_style=style,
                new_field_spec=field_spec,
            )
            out = await pdf_signer.async_sign_pdf(
                writer, appearance_text_params=params, bytes_reserved=_reserve(rank)
            )
        except PdfRefused:
            raise
        except RecursionError:
            raise PdfRefused("corrupt_pdf", "the PDF nests its objects too deeply") from None
        except PageGeometryError as exc:
            raise PdfRefused("cannot_stamp", f"no place for a visible stamp: {exc}") from None
        except (*PARSE_ERRORS, SigningError) as exc:
            raise PdfRefused("cannot_sign", f"the PDF cannot be signed: {exc}") from None
        return out.getvalue(), field_name

    async def extend_to_lta(self, data: bytes) -> bytes:
        """Add validation data for every signature and a document time-stamp (B-LTA)."""
        writer = IncrementalPdfFileWriter(BytesIO(data), strict=False)
        if writer.prev.encrypted:
            writer.encrypt("")
        out = await signers.PdfTimeStamper(self.timestamper()).async_timestamp_pdf(
            writer, "sha256", validation_context=self.validation_context(None)
        )
        return out.getvalue()


async def renew_archive(engine: Engine, data: bytes) -> bytes:
    """A fresh archive time-stamp over ``data`` (PAdES-LTA, EN 319 142-1 5.5).

    First the validation data of the newest document time-stamp (its TSA's chain and an
    OCSP answer of now) goes into the DSS, then a document time-stamp by the current TSA
    covers everything, and its own validation data follows. So the document stays
    verifiable after the earlier time-stamp's certificate or algorithms end.
    """
    reader = PdfFileReader(BytesIO(data), strict=False)
    stamps = reader.embedded_timestamp_signatures
    earlier = [stamps[-1].signer_cert, *stamps[-1].other_embedded_certs] if stamps else []
    context = engine.validation_context(None, also=earlier)
    stamper = signers.PdfTimeStamper(engine.timestamper())
    out = await stamper.async_update_archival_timestamp_chain(reader, context, in_place=False)
    return out.getvalue()


def refuse_broken_signatures(reader: PdfFileReader) -> None:
    """Refuse to sign on top of a signature OneTrip would itself report as broken.

    Checks each earlier signature's integrity (the bytes it covers, its CMS signature
    over them) and pyHanko's difference analysis of what changed since: a certification
    whose DocMDP rules a later change broke, or a signature whose revision was altered,
    makes a new signature meaningless. Trust is not checked here: a document may carry
    signatures of other authorities, and verification reports on them.
    """
    for sig in reader.embedded_signatures:
        try:
            sig.compute_integrity_info()
            digest = sig.compute_digest()
            content_type = "tst_info" if sig.sig_object_type == "/DocTimeStamp" else "data"
            intact, valid = validate_sig_integrity(
                sig.signer_info, sig.signer_cert, content_type, digest
            )
            integrity = sig.summarise_integrity_info()
        except (*PARSE_ERRORS, SignatureValidationError) as exc:
            raise PdfRefused(
                "broken_signature", f"signature {sig.field_name} cannot be checked: {exc}"
            ) from None
        diff = integrity.get("diff_result")
        level = getattr(diff, "modification_level", ModificationLevel.OTHER) if diff else None
        if not (intact and valid):
            raise PdfRefused(
                "broken_signature",
                f"signature {sig.field_name} does not match the document any more; "
                "OneTrip does not sign on top of a broken signature",
            )
        if integrity.get("docmdp_ok") is False or (level is not None and level.name == "OTHER"):
            kind = "certification" if sig.docmdp_level is not None else "signature"
            raise PdfRefused(
                "broken_signature",
                f"the document was changed after its {kind} {sig.field_name} in a way that "
                "signature does not allow; OneTrip does not sign on top of it",
            )


def _reserve(rank: int) -> int:
    """Room for the CMS object (hex, so twice its DER size), so pyHanko skips its dry-run
    signature for the size estimate.

    A B-B CMS with our whole chain, root included, is about 2 kB (EC) to 4.5 kB
    (RSA-3072), and a time-stamp token with the TSA's and issuing CA's certificates adds
    about as much again; these bounds leave room for an external TSA's chain.
    """
    return 12288 if rank == 0 else 32768


def _unused_field_name(code: str, taken: set[str]) -> str:
    n = 1
    while f"OneTrip_{code}_{n}" in taken:
        n += 1
    return f"OneTrip_{code}_{n}"


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    return int(writer.root["/Pages"]["/Count"])


def _page_view(writer: IncrementalPdfFileWriter, page: int) -> PageView:
    page_ref, _ = writer.find_page_for_modification(page)
    return PageView.of(page_ref.get_object())


def _stamp_box(
    writer: IncrementalPdfFileWriter,
    index: int,
    placement: Placement | None = None,
    below: int = 0,
) -> tuple[int, tuple[int, ...]]:
    """Stamps go along the foot of the last page as displayed (:mod:`signing.placement`),
    or where ``placement`` says, ``below`` rows under it (a page past the last one means
    the last)."""
    last = _page_count(writer) - 1
    if placement is None:
        return last, _page_view(writer, last).stamp_rect(index)
    page = min(max(placement.page, 0), last)
    return page, _page_view(writer, page).stamp_rect_at(placement.x, placement.y, below)

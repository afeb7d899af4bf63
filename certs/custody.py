"""Key custody: private keys that sign but never leave their backend in the clear.

One small interface, :class:`Custody`, with two backends chosen by ``settings.key_backend``:

- ``pkcs8``: the key is generated in-process and stored in ``certs_keys`` as PKCS#8
  encrypted under the key-encryption key (``config.sealing``); it is decrypted once per
  process into memory and never written anywhere in the clear.
- ``pkcs11``: the key is generated inside a PKCS#11 token (SoftHSM2 in tests, an HSM in
  production) as sensitive and non-extractable; only its public half and metadata are in
  ``certs_keys``.

Both backends sign with ECDSA (DER-encoded signature, as X.509/CMS want it) or RSA
PKCS#1 v1.5 over SHA-256/384/512, either data they hash themselves (:meth:`Custody.sign`)
or a digest computed elsewhere (:meth:`Custody.sign_digest`, what a CSC ``signHash``
client sends). Signers are cached per process, so the CA and the OCSP responder pay the
key load (PBKDF2 or token login) once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from certs.models import CustodyKey
from config.db import Database
from config.sealing import encrypt_private_key, load_private_key
from config.settings import Settings

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

ALGORITHMS = ("ec-p256", "rsa-3072")
HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


class CustodyError(RuntimeError):
    """A key is missing, the backend is misconfigured, or an argument is out of range."""


class Signer(Protocol):
    """What every custody key offers: its public key and a signature over bytes."""

    label: str
    algorithm: str
    public_key: PublicKey

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        """ECDSA (DER) or RSA PKCS#1 v1.5 signature of ``data`` hashed with ``hash_name``."""
        ...

    def sign_digest(self, digest: bytes, hash_name: str) -> bytes:
        """The same signature, given ``digest`` = ``hash_name`` of the data."""
        ...


def _check(algorithm: str, hash_name: str | None = None) -> None:
    if algorithm not in ALGORITHMS:
        raise CustodyError(f"unknown key algorithm {algorithm!r}; choose one of {ALGORITHMS}")
    if hash_name is not None and hash_name not in HASHES:
        raise CustodyError(f"unknown hash {hash_name!r}; choose one of {tuple(HASHES)}")


def _check_digest(algorithm: str, digest: bytes, hash_name: str) -> None:
    _check(algorithm, hash_name)
    size = HASHES[hash_name].digest_size
    if len(digest) != size:
        raise CustodyError(f"a {hash_name} digest has {size} bytes, not {len(digest)}")


@dataclass
class _SoftwareSigner:
    """A PKCS#8 key decrypted into memory of this process only."""

    label: str
    algorithm: str
    public_key: PublicKey
    _key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        _check(self.algorithm, hash_name)
        return self._sign(data, HASHES[hash_name]())

    def sign_digest(self, digest: bytes, hash_name: str) -> bytes:
        _check_digest(self.algorithm, digest, hash_name)
        return self._sign(digest, Prehashed(HASHES[hash_name]()))

    def _sign(self, data: bytes, algorithm: hashes.HashAlgorithm | Prehashed) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algorithm))
        return self._key.sign(data, padding.PKCS1v15(), algorithm)


class Custody:
    """Generate keys under a label, hand out cached signers. Thread-safe."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.backend = settings.key_backend
        if self.backend not in ("pkcs8", "pkcs11"):
            raise CustodyError(f"unknown key backend {self.backend!r}; use pkcs8 or pkcs11")
        self._signers: dict[str, Signer] = {}
        self._lock = threading.Lock()
        self._token: _Pkcs11Token | None = None

    # -- the interface -------------------------------------------------------------------

    def generate(self, session: Session, label: str, algorithm: str | None = None) -> PublicKey:
        """Create a key under ``label`` inside the caller's transaction; return its public key.

        With PKCS#11 the key is created in the token at once; if the transaction then rolls
        back, the token object is removed again so no orphan remains.
        """
        algorithm = algorithm or self.settings.key_algorithm
        _check(algorithm)
        if self.exists_in(session, label):
            raise CustodyError(f"a key labelled {label!r} already exists")
        if self.backend == "pkcs8":
            private = _generate_software(algorithm)
            signer: Signer = _SoftwareSigner(label, algorithm, private.public_key(), private)
            pkcs8 = encrypt_private_key(self.settings, private)
            undo: Callable[[], None] = lambda: None  # noqa: E731
        else:
            token = self._pkcs11()
            signer = token.generate(label, algorithm)
            pkcs8 = None
            undo = lambda: token.destroy(label)  # noqa: E731
        session.add(
            CustodyKey(
                label=label,
                backend=self.backend,
                algorithm=algorithm,
                public_key=_spki(signer.public_key),
                pkcs8=pkcs8,
            )
        )
        with self._lock:
            self._signers[label] = signer

        def _forget() -> None:
            with self._lock:
                self._signers.pop(label, None)
            undo()

        _on_rollback(session, _forget)
        session.flush()
        return signer.public_key

    def public_key(self, label: str) -> PublicKey:
        return self.signer(label).public_key

    def sign(self, label: str, data: bytes, hash_name: str = "sha256") -> bytes:
        """Sign ``data`` with the key under ``label`` (see :class:`Signer`)."""
        return self.signer(label).sign(data, hash_name)

    def sign_digest(self, label: str, digest: bytes, hash_name: str) -> bytes:
        """Sign a digest computed elsewhere (CSC signHash): the signature :meth:`sign`
        would give for the data whose ``hash_name`` digest it is. Refuses a digest of the
        wrong length (:class:`CustodyError`)."""
        return self.signer(label).sign_digest(digest, hash_name)

    def signer(self, label: str) -> Signer:
        """The cached signer for ``label``; loads the key on first use in this process."""
        signer = self._signers.get(label)
        if signer is not None:
            return signer
        with self._lock:
            if label not in self._signers:
                self._signers[label] = self._load(label)
            return self._signers[label]

    @staticmethod
    def exists_in(session: Session, label: str) -> bool:
        query = select(CustodyKey.id).where(CustodyKey.label == label)
        return session.execute(query).first() is not None

    # -- internals -----------------------------------------------------------------------

    def _load(self, label: str) -> Signer:
        with self.db.read() as session:
            row = session.execute(
                select(CustodyKey).where(CustodyKey.label == label)
            ).scalar_one_or_none()
        if row is None:
            raise CustodyError(f"no key labelled {label!r}")
        public = serialization.load_der_public_key(row.public_key)
        if row.backend == "pkcs8":
            private = load_private_key(self.settings, row.pkcs8)
            return _SoftwareSigner(label, row.algorithm, public, private)
        return self._pkcs11().signer(label, row.algorithm, public)

    def _pkcs11(self) -> _Pkcs11Token:
        if self.backend != "pkcs11":
            raise CustodyError("this key lives in a PKCS#11 token but key_backend is not pkcs11")
        with self._lock:
            if self._token is None:
                self._token = _Pkcs11Token(self.settings)
            return self._token


def _generate_software(algorithm: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(65537, 3072)


def _spki(public: PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _on_rollback(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` if the session's transaction rolls back instead of committing."""
    committed = False

    def _committed(_session: Session) -> None:
        nonlocal committed
        committed = True

    def _rolled_back(_session: Session) -> None:
        if not committed:
            action()

    event.listen(session, "after_commit", _committed, once=True)
    event.listen(session, "after_rollback", _rolled_back, once=True)


class _Pkcs11Token:
    """One logged-in read-write session to the configured token, shared under a lock.

    python-pkcs11 gives the PKCS#11 calls; what it lacks is the glue: mapping the token's
    raw ECDSA ``r||s`` to DER and its public-key attributes to a ``cryptography`` key.
    """

    def __init__(self, settings: Settings) -> None:
        import pkcs11

        if not settings.pkcs11_module:
            raise CustodyError("key_backend is pkcs11 but pkcs11_module is not set")
        try:
            lib = pkcs11.lib(settings.pkcs11_module)
            token = lib.get_token(token_label=settings.pkcs11_token_label)
            try:
                self._session = token.open(rw=True, user_pin=settings.pkcs11_pin)
            except pkcs11.UserAlreadyLoggedIn:  # login is per process, not per session
                self._session = token.open(rw=True)
        except (RuntimeError, pkcs11.PKCS11Error) as exc:
            raise CustodyError(
                f"cannot open PKCS#11 token {settings.pkcs11_token_label!r}: {exc!r}"
            ) from None
        self._lock = threading.Lock()

    @staticmethod
    def _key_id(label: str) -> bytes:
        return hashlib.sha256(label.encode()).digest()[:16]

    def generate(self, label: str, algorithm: str) -> Signer:
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        private_template = {
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
        }
        key_id = self._key_id(label)
        with self._lock:
            if algorithm == "ec-p256":
                params = self._session.create_domain_parameters(
                    KeyType.EC,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                    local=True,
                )
                public, private = params.generate_keypair(
                    store=True, label=label, id=key_id, private_template=private_template
                )
            else:
                public, private = self._session.generate_keypair(
                    KeyType.RSA,
                    3072,
                    store=True,
                    label=label,
                    id=key_id,
                    private_template=private_template,
                )
            return _TokenSigner(
                label, algorithm, _public_from_token(public, algorithm), private, self._lock
            )

    def destroy(self, label: str) -> None:
        with self._lock:
            for obj in self._session.get_objects({_label_attr(): label}):
                obj.destroy()

    def signer(self, label: str, algorithm: str, public: PublicKey) -> Signer:
        from pkcs11 import ObjectClass

        with self._lock:
            private = self._session.get_key(ObjectClass.PRIVATE_KEY, label=label)
        return _TokenSigner(label, algorithm, public, private, self._lock)


def _label_attr():
    from pkcs11 import Attribute

    return Attribute.LABEL


def _public_from_token(public, algorithm: str) -> PublicKey:
    from pkcs11 import Attribute
    from pkcs11.util.ec import encode_ec_public_key

    if algorithm == "ec-p256":
        return serialization.load_der_public_key(encode_ec_public_key(public))
    modulus = int.from_bytes(public[Attribute.MODULUS], "big")
    exponent = int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


@dataclass
class _TokenSigner:
    label: str
    algorithm: str
    public_key: PublicKey
    _private: object
    _lock: threading.Lock

    def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
        _check(self.algorithm, hash_name)
        return self.sign_digest(hashlib.new(hash_name, data).digest(), hash_name)

    def sign_digest(self, digest: bytes, hash_name: str) -> bytes:
        """Raw mechanisms on the digest: ``CKM_ECDSA``, or ``CKM_RSA_PKCS`` over the
        DigestInfo that the hash-and-sign mechanisms would have built in the token."""
        from pkcs11 import Mechanism

        _check_digest(self.algorithm, digest, hash_name)
        if self.algorithm == "ec-p256":
            with self._lock:
                raw = self._private.sign(digest, mechanism=Mechanism.ECDSA)
            half = len(raw) // 2
            return encode_dss_signature(
                int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
            )
        with self._lock:
            return self._private.sign(
                _DIGEST_INFO[hash_name] + digest, mechanism=Mechanism.RSA_PKCS
            )


#: DER DigestInfo up to the digest itself (RFC 8017 section 9.2, note 1).
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

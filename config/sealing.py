"""Secrets at rest: private keys and small blobs sealed under the key-encryption key.

Private keys are stored as PKCS#8 encrypted with the key-encryption key from settings
(PBES2), so any standard tool can open them given that key. Other secrets (face
templates, TOTP seeds) are sealed with AES-256-GCM under a subkey derived per purpose
with HKDF, so a blob sealed for one purpose cannot be passed off as another.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.settings import Settings

_VERSION = b"\x01"


class SealError(ValueError):
    """A sealed blob is corrupt, was sealed for another purpose, or under another key."""


def _subkey(settings: Settings, purpose: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"onetrip seal " + purpose.encode()).derive(
        settings.key_bytes("key_encryption_key")
    )


def seal(settings: Settings, purpose: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return (
        _VERSION
        + nonce
        + AESGCM(_subkey(settings, purpose)).encrypt(nonce, plaintext, purpose.encode())
    )


def unseal(settings: Settings, purpose: str, blob: bytes) -> bytes:
    if len(blob) < 29 or blob[:1] != _VERSION:
        raise SealError("not a sealed blob")
    try:
        return AESGCM(_subkey(settings, purpose)).decrypt(blob[1:13], blob[13:], purpose.encode())
    except Exception:
        raise SealError("sealed blob does not open under this key and purpose") from None


def encrypt_private_key(settings: Settings, key: PrivateKeyTypes) -> bytes:
    """PEM ``ENCRYPTED PRIVATE KEY`` (PKCS#8, PBES2) under the key-encryption key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.key_encryption_key.encode()),
    )


def load_private_key(settings: Settings, pem: bytes) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(pem, settings.key_encryption_key.encode())

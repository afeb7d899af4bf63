import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from config.sealing import SealError, encrypt_private_key, load_private_key, seal, unseal


def test_a_sealed_blob_opens_only_for_its_own_purpose(settings):
    blob = seal(settings, "face-template:1", b"secret encoding")
    assert b"secret encoding" not in blob
    assert unseal(settings, "face-template:1", blob) == b"secret encoding"
    with pytest.raises(SealError):
        unseal(settings, "face-template:2", blob)
    with pytest.raises(SealError):
        unseal(settings, "face-template:1", blob[:-1] + bytes([blob[-1] ^ 1]))


def test_private_keys_are_stored_as_encrypted_pkcs8(settings):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = encrypt_private_key(settings, key)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert load_private_key(settings, pem).private_numbers() == key.private_numbers()

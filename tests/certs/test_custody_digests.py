"""Software custody signs digests computed elsewhere (CSC signHash) as it signs data."""

from __future__ import annotations

import pytest

from certs.custody import Custody


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_pkcs8_key_signs_a_precomputed_digest_that_verifies_over_the_data(
    runtime, signs_digests, algorithm
):
    signs_digests(Custody(runtime.settings, runtime.db), runtime, algorithm)

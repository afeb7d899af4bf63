"""A refresh answer lost on the way (a dropped connection) and the client's retry.

Within ``refresh_token_reuse_grace`` of its use, a used refresh token whose successor was
never used is a retry: it gets a working pair and the unused successor stops working.
Reuse after the successor was used, or outside the window, is theft: the grant is revoked.
"""

from __future__ import annotations

import pytest
from oidc_browser import (
    Browser,
    RelyingParty,
    create_client,
    create_user,
    introspect,
    log_in,
    refresh,
)


def _signed_in(server) -> tuple[RelyingParty, dict]:
    rp = RelyingParty(server, create_client(server, name="Clinic"))
    return rp, log_in(Browser(server), rp, create_user(server))


def test_a_retry_after_a_lost_refresh_answer_gets_a_working_pair_and_keeps_the_grant(op):
    rp, first = _signed_in(op)
    lost = refresh(rp, first["refresh_token"])  # the client never sees this answer
    assert lost.status_code == 200, lost.text
    retry = refresh(rp, first["refresh_token"])
    assert retry.status_code == 200, retry.text
    pair = retry.json()
    assert pair["refresh_token"] != lost.json()["refresh_token"]
    assert introspect(op, rp.client, pair["access_token"])["active"] is True
    # The successor nobody received is revoked, so the grant keeps one live refresh token.
    assert introspect(op, rp.client, lost.json()["refresh_token"])["active"] is False
    assert refresh(rp, lost.json()["refresh_token"]).json()["error"] == "invalid_grant"
    following = refresh(rp, pair["refresh_token"])
    assert following.status_code == 200, following.text
    assert introspect(op, rp.client, following.json()["access_token"])["active"] is True


def test_reuse_after_the_successor_was_used_revokes_the_whole_grant(op):
    rp, first = _signed_in(op)
    second = refresh(rp, first["refresh_token"]).json()
    third = refresh(rp, second["refresh_token"]).json()  # the successor was received
    stolen = refresh(rp, first["refresh_token"])
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    for token in (third["access_token"], third["refresh_token"], first["access_token"]):
        assert introspect(op, rp.client, token)["active"] is False


@pytest.fixture(scope="module")
def no_grace(start_provider):
    with start_provider(refresh_token_reuse_grace="0") as server:
        yield server


def test_reuse_outside_the_grace_window_revokes_the_whole_grant(no_grace):
    rp, first = _signed_in(no_grace)
    second = refresh(rp, first["refresh_token"]).json()
    reused = refresh(rp, first["refresh_token"])
    assert reused.status_code == 400
    assert "grant is revoked" in reused.json()["error_description"]
    assert introspect(no_grace, rp.client, second["refresh_token"])["active"] is False
    assert introspect(no_grace, rp.client, second["access_token"])["active"] is False

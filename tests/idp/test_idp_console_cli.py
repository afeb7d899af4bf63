"""The CLI beside the console: ``onetrip users ...`` and ``departments remove-member``, each
with ``--json``, a non-zero exit and one line on stderr on error; and the erasure of an
account, end to end, against a live server."""

from __future__ import annotations

import json

import numpy as np
import requests
from sqlalchemy import func, select

from tests.idp.oidc_browser import (
    PASSWORD,
    Browser,
    RelyingParty,
    create_client,
    create_user,
    log_in,
)
from tests.idp.operators import add_officer, enrol_totp, server_provider


def _json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(result, words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_the_first_operator_comes_from_the_cli(op):
    username = create_user(op)
    granted = _json(op.cli("users", "grant-role", username, "administrator", "--json"))
    invitation = granted.pop("totp_invitation")
    assert granted == {"username": username, "roles": ["administrator"], "changed": True}
    assert invitation.startswith(f"{op.url}/account/totp?invite=")
    again = _json(op.cli("users", "grant-role", username, "administrator", "--json"))
    assert again["changed"] is False
    listed = {u["username"]: u for u in _json(op.cli("users", "list", "--json"))}
    assert listed[username]["roles"] == ["administrator"]
    revoked = _json(op.cli("users", "revoke-role", username, "administrator", "--json"))
    assert revoked["roles"] == []
    _refused(op.cli("users", "grant-role", username, "root", check=False), "unknown role")
    _refused(op.cli("users", "grant-role", "nobody-here", "auditor", check=False), "no user")


def test_disable_enable_unlock_end_sessions_and_passwords_from_the_cli(op):
    username = create_user(op)
    browser = Browser(op)
    browser.sign_in(username)
    assert _json(op.cli("users", "disable", username, "--json"))["changed"] is True
    assert browser.navigate(f"{op.url}/account").url.endswith("/login")  # its session ended
    assert _json(op.cli("users", "enable", username, "--json"))["changed"] is True
    # Throttled by wrong passwords, unlocked from the CLI.
    limit = server_provider(op).settings.login_max_failures_per_account
    for _ in range(limit):
        guess = Browser(op)
        assert guess.login(guess.navigate(f"{op.url}/login"), username, "wrong").status_code == 401
    locked = Browser(op)
    assert locked.login(locked.navigate(f"{op.url}/login"), username).status_code == 429
    assert _json(op.cli("users", "unlock", username, "--json"))["unlocked"] is True
    locked.sign_in(username)
    ended = _json(op.cli("users", "end-sessions", username, "--json"))
    assert ended["sessions_ended"] >= 1
    # A temporary password from the CLI: the next login must choose a new one.
    op.cli("users", "set-password", username, input="a temporary one\n")
    fresh = Browser(op)
    asked = fresh.login(fresh.navigate(f"{op.url}/login"), username, "a temporary one")
    assert "/login/new-password" in asked.url and not fresh.sso
    _refused(op.cli("users", "set-password", username, input="short\n", check=False), "8")
    _refused(op.cli("users", "unlock", "nobody-here", check=False), "no user")
    _refused(op.cli("users", "delete", username, check=False), "--yes")


def test_departments_remove_member(op):
    username = create_user(op)
    op.cli("departments", "create", "CLIREM", "--name", "民政局")
    op.cli("departments", "add-member", "CLIREM", username)
    after = _json(op.cli("departments", "remove-member", "CLIREM", username, "--json"))
    assert username not in after["members"]
    again = op.cli("departments", "remove-member", "CLIREM", username, check=False)
    _refused(again, "is not a member")


def test_an_erased_account_leaves_no_personal_data_and_its_tokens_stop(op):
    from biometrics.models import FaceTemplate
    from config.audit import AuditEvent
    from config.sealing import seal
    from idp.models import Consent, ErasedAccount, Grant, RecoveryCode, TotpCredential, User
    from signing import departments
    from signing.models import Member

    provider = server_provider(op)
    username = create_user(op, name="Zhao Lei", email="zhaolei@example.cn")
    rp = RelyingParty(op, create_client(op), scope="openid profile offline_access")
    tokens = log_in(Browser(op), rp, username)
    enrol_totp(op, username)
    with provider.db.write() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        encoding = np.random.default_rng(1).random(128).astype("<f8").tobytes()
        blob = seal(provider.settings, f"face-template:{user_id}", encoding)
        session.add(FaceTemplate(user_id=user_id, model="dlib_resnet_v1", sealed=blob))
    departments.create(provider.runtime, "ERASE", "户籍科", actor="test")
    add_officer(op, "ERASE", username)

    exported = _json(op.cli("users", "export", username, "--json"))
    assert exported["profile"]["email"] == "zhaolei@example.cn"
    assert exported["consents"] and exported["grants"] and exported["sign_ins"]
    assert exported["authenticator_app"]["enrolled"] is True
    assert [t["model"] for t in exported["face_templates"]] == ["dlib_resnet_v1"]
    assert exported["departments"] == ["ERASE"]
    text = json.dumps(exported)
    assert "sealed" not in text and "password_hash" not in text and "$argon2" not in text

    erased = _json(op.cli("users", "delete", username, "--yes", "--json"))
    assert erased["face_templates_deleted"] == 1

    with provider.db.read() as session:
        for model in (User, Consent, Grant, TotpCredential, RecoveryCode, Member):
            column = model.id if model is User else model.user_id
            assert session.scalar(select(func.count()).where(column == user_id)) == 0, model
        assert session.scalar(select(func.count()).where(FaceTemplate.user_id == user_id)) == 0
        assert session.scalar(select(func.count()).select_from(ErasedAccount)) >= 1
        assert (
            session.scalar(
                select(AuditEvent.actor).where(
                    AuditEvent.event == "user.erase", AuditEvent.subject == username
                )
            )
            == "cli"
        )
    userinfo = requests.get(
        rp.meta["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert userinfo.status_code == 401
    refreshed = requests.post(
        rp.meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp.client.client_id, rp.client.client_secret),
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    # The name stays taken (audit rows still name its holder), but is not kept in clear.
    again = op.cli(
        "users",
        "create",
        username,
        "--name",
        "Someone Else",
        "--email",
        "x@example.cn",
        input=PASSWORD + "\n",
        check=False,
    )
    _refused(again, "erased account")
    with provider.db.read() as session:
        hashes = session.scalars(select(ErasedAccount.username_hash)).all()
    assert all(username not in h for h in hashes)

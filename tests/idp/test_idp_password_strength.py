"""Issue 13: weak and common passwords are refused wherever a password is set, with the
reason, in English and Chinese."""

from __future__ import annotations

import pytest
from oidc_browser import PASSWORD, Browser, create_user


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", "one of the most common passwords"),
        ("password", "one of the most common passwords"),
        ("qwertyuiop", "most common passwords"),
        ("abcdefghij", "a sequence"),
        ("zhangsan2024", "username, name or email"),
    ],
)
def test_the_cli_refuses_a_weak_password_and_says_why(op, password, why):
    created = op.cli(
        "users",
        "create",
        "zhangsan",
        "--name",
        "Zhang San",
        "--email",
        "zs@example.cn",
        input=password + "\n",
        check=False,
    )
    assert created.returncode != 0
    assert why in created.stderr
    assert len(created.stderr.strip().splitlines()) == 1


def test_the_account_page_refuses_a_weak_new_password_in_the_citizens_language(op):
    username = create_user(op)
    browser = Browser(op, **{"Accept-Language": "zh-CN"})
    browser.sign_in(username)
    page = browser.navigate(f"{op.url}/account/password")
    weak = browser.submit(
        page, {"current": PASSWORD, "password": "password1", "confirm": "password1"}
    )
    assert weak.status_code == 400
    assert "此密码太容易被猜到" in weak.text
    english = Browser(op)
    english.sign_in(username)
    page = english.navigate(f"{op.url}/account/password")
    weak = english.submit(page, {"current": PASSWORD, "password": username, "confirm": username})
    assert weak.status_code == 400
    assert "too easy to guess: it contains your username" in weak.text
    fresh = Browser(op)
    fresh.sign_in(username)  # the password is unchanged

"""The token, introspection and revocation endpoints, which are served ahead of Flask."""

from __future__ import annotations

import base64
import json
import time

import requests
from oidc_browser import create_client

ENDPOINTS = ("/oauth/token", "/oauth/introspect", "/oauth/revoke")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _machine_client(op, *scopes: str):
    extra = [arg for scope in scopes for arg in ("--scope", scope)]
    client = create_client(op, "--grant-type", "client_credentials", *extra, name="Back office")
    return client, (client.client_id, client.client_secret)


def _token_events(op, client_id: str) -> list[dict]:
    """``token.issue`` events of ``client_id``, once the audit batch has landed."""
    time.sleep(0.3)  # client-credentials events are written in batches every 50 ms
    events = json.loads(op.cli("audit", "tail", "-n", "200", "--json").stdout)
    return [e for e in events if e["event"] == "token.issue" and e["client_id"] == client_id]


def test_the_endpoints_answer_only_post_with_405_and_allow(op):
    for path in ENDPOINTS:
        for method in ("GET", "PUT", "DELETE"):
            answer = requests.request(method, f"{op.url}{path}", timeout=5)
            assert answer.status_code == 405, (method, path)
            assert answer.headers["Allow"] == "POST"
            assert answer.json()["error"] == "method_not_allowed"


def test_token_parameters_are_read_from_the_form_body_only(op):
    client, auth = _machine_client(op)
    token_url = f"{op.url}/oauth/token"
    in_query = requests.post(
        f"{token_url}?grant_type=client_credentials", auth=auth, headers=FORM, timeout=5
    )
    as_json = requests.post(
        token_url, json={"grant_type": "client_credentials"}, auth=auth, timeout=5
    )
    for answer in (in_query, as_json):
        assert answer.status_code == 400
        assert answer.json()["error"] == "unsupported_grant_type"
    assert _token_events(op, client.client_id) == []
    form = requests.post(token_url, data={"grant_type": "client_credentials"}, auth=auth, timeout=5)
    assert form.status_code == 200
    assert len(_token_events(op, client.client_id)) == 1


def test_a_parameter_sent_twice_is_refused_and_issues_nothing(op):
    client, auth = _machine_client(op, "sign", "verify")
    body = "grant_type=client_credentials&scope=sign&scope=verify"
    answer = requests.post(f"{op.url}/oauth/token", data=body, auth=auth, headers=FORM, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"
    assert "repeated: scope" in answer.json()["error_description"]
    assert _token_events(op, client.client_id) == []


def test_a_blank_parameter_counts_as_omitted(op):
    _, auth = _machine_client(op, "sign")
    body = "grant_type=client_credentials&scope=&scope=sign"  # the blank one is no repeat
    answer = requests.post(f"{op.url}/oauth/token", data=body, auth=auth, headers=FORM, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["scope"] == "sign"


def test_a_form_over_the_limit_is_refused_with_413_with_or_without_a_length(op):
    _, auth = _machine_client(op)
    big = "grant_type=client_credentials&pad=" + "x" * (1024 * 1024)
    with_length = requests.post(
        f"{op.url}/oauth/token", data=big, auth=auth, headers=FORM, timeout=10
    )
    chunked = requests.post(
        f"{op.url}/oauth/token",
        data=(big[i : i + 65536].encode() for i in range(0, len(big), 65536)),
        auth=auth,
        headers=FORM,
        timeout=10,
    )
    for answer in (with_length, chunked):
        assert answer.status_code == 413
        assert answer.json()["error"] == "request_too_large"


def test_a_grant_is_audited_with_the_callers_address(op):
    client, auth = _machine_client(op)
    answer = requests.post(
        f"{op.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth, timeout=5
    )
    assert answer.status_code == 200
    (event,) = _token_events(op, client.client_id)
    assert event["ip"] == "127.0.0.1"
    assert event["details"]["jti"]


def test_answers_carry_no_store_nosniff_and_a_request_id_even_when_refused(op):
    _, auth = _machine_client(op)
    token_url = f"{op.url}/oauth/token"
    granted = requests.post(
        token_url, data={"grant_type": "client_credentials"}, auth=auth, timeout=5
    )
    refused = requests.post(
        token_url, data={"grant_type": "client_credentials"}, auth=("nobody", "x"), timeout=5
    )
    assert (granted.status_code, refused.status_code) == (200, 401)
    assert refused.json()["error"] == "invalid_client"
    for answer in (granted, refused):
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["X-Request-Id"]


def test_plain_http_to_a_host_that_is_not_loopback_is_refused_with_400(op):
    _, auth = _machine_client(op)
    answer = requests.post(
        f"{op.url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=auth,
        headers={"Host": "onetrip.example.org"},
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "insecure_transport"


def test_basic_credentials_that_are_not_utf8_are_refused_as_invalid_client(op):
    """Found by the fuzzer: Authlib decoded them without catching the failure (a 500)."""
    not_utf8 = "Basic " + base64.b64encode(b"\xb6\xff:secret").decode()
    for path in ENDPOINTS:
        answer = requests.post(
            f"{op.url}{path}",
            data={"grant_type": "client_credentials", "token": "x"},
            headers={"Authorization": not_utf8},
            timeout=5,
        )
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "invalid_client"
        assert answer.headers["WWW-Authenticate"].startswith("Basic ")

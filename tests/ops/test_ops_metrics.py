"""Prometheus metrics: a node's /metrics adds up all its workers; packages' counters count."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from tests.conftest import LiveServer, start_server, stop_process
from tests.idp.oidc_browser import Browser, create_user


def _samples(url: str) -> dict[tuple[str, frozenset], float]:
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.slow
def test_metrics_of_a_two_worker_node_count_every_request_whichever_worker_answers(live_env):
    port = int(live_env["ONETRIP_PORT"])
    process = start_server(live_env, port, workers=2)
    url = live_env["ONETRIP_ISSUER"]
    try:
        before = _value(
            _samples(url),
            "onetrip_http_request_duration_seconds_count",
            endpoint="ops.healthz",
            method="GET",
            status="200",
        )
        from config.settings import load_settings

        directory = load_settings(environ=live_env).metrics_path / str(port)
        sent = 0
        # A new connection each time, until both workers have answered some: which worker
        # accepts a connection is the kernel's choice, and a busy machine can favour one.
        while sent < 40 or (len(list(directory.glob("histogram_*.db"))) < 2 and sent < 2000):
            assert requests.get(f"{url}/healthz", timeout=10, headers={"Connection": "close"}).ok
            sent += 1
        assert (
            requests.post(
                f"{url}/oauth/token", data={"grant_type": "client_credentials"}, timeout=10
            ).status_code
            == 401
        )

        node = LiveServer(url=url, env=live_env, process=process)
        browser = Browser(node)
        page = browser.navigate(f"{url}/login")
        assert browser.login(page, create_user(node), "not the password").status_code == 401

        samples = {}
        for _ in range(5):  # whichever worker serves /metrics reports the same node totals
            samples = _samples(url)
            count = _value(
                samples,
                "onetrip_http_request_duration_seconds_count",
                endpoint="ops.healthz",
                method="GET",
                status="200",
            )
            assert count - before == sent
        assert _value(samples, "onetrip_logins_total", method="pwd", outcome="failure") == 1
        assert (
            _value(
                samples,
                "onetrip_token_grants_total",
                grant_type="client_credentials",
                outcome="failure",
            )
            == 1
        )
        # The token endpoint is served ahead of Flask, and still names itself.
        token_requests = _value(
            samples,
            "onetrip_http_request_duration_seconds_count",
            endpoint="token.token",
            method="POST",
            status="401",
        )
        assert token_requests == 1
        writers = {path.name for path in directory.glob("histogram_*.db")}
        assert len(writers) == 2  # both workers answered requests, and /metrics added them up
        # Memory-mapped files on a full data disk kill workers with SIGBUS: never there.
        assert not directory.is_relative_to(Path(live_env["ONETRIP_DATA_DIR"]).resolve())
    finally:
        stop_process(process)


def test_ocsp_answers_are_counted_by_certificate_status(runtime):
    from certs.authority import authority
    from certs.ocsp import responder

    ca = authority(runtime)
    ca.ensure()
    issued = ca.issue_for_custody_key("citizen", "CN=Metrics Citizen")
    before = REGISTRY.get_sample_value("onetrip_ocsp_answers_total", {"status": "good"}) or 0
    responder(ca).response_for(issued.certificate)
    assert REGISTRY.get_sample_value("onetrip_ocsp_answers_total", {"status": "good"}) == before + 1


def test_metrics_are_served_in_prometheus_text_format(client):
    client.get("/healthz")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(answer.get_data(as_text=True))}
    assert "onetrip_http_request_duration_seconds" in families


def test_grant_types_onetrip_does_not_offer_are_counted_as_other():
    labels = {"grant_type": "other", "outcome": "failure"}
    before = REGISTRY.get_sample_value("onetrip_token_grants_total", labels) or 0
    metrics.token_grant("password", 400)
    assert REGISTRY.get_sample_value("onetrip_token_grants_total", labels) == before + 1
    refused = {"grant_type": "password", "outcome": "failure"}
    assert REGISTRY.get_sample_value("onetrip_token_grants_total", refused) is None

"""A node's first start: its parent sets everything up before the workers fork.

The workers of a fresh node must find one CA hierarchy ready (root, issuing CA, OCSP
responder, TSA) and read it, never each create one of their own.
"""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from certs.authority import ROLES
from certs.models import AuthorityRole, Certificate
from config.audit import AuditEvent
from config.runtime import Runtime
from config.settings import load_settings
from tests.conftest import start_server, stop_process


def _hierarchy(runtime: Runtime) -> tuple[int, int, list[str]]:
    """How many ``certs.init`` events, hierarchy certificates and which roles are stored."""
    with runtime.db.read() as session:
        created = session.scalar(
            select(func.count()).where(AuditEvent.event == "certs.init").select_from(AuditEvent)
        )
        certificates = session.scalar(
            select(func.count()).where(Certificate.role.in_(ROLES)).select_from(Certificate)
        )
        roles = sorted(session.scalars(select(AuthorityRole.role)))
    return created, certificates, roles


def test_the_parent_creates_the_hierarchy_and_a_worker_only_reads_it(runtime):
    from idp.app import create_app
    from idp.serve import set_up_node

    set_up_node(runtime)
    assert _hierarchy(runtime) == (1, len(ROLES), sorted(ROLES))
    worker = Runtime(runtime.settings)  # what a forked worker builds for itself
    client = create_app(worker).test_client()
    assert client.get("/pki/root.cer").status_code == 200
    assert _hierarchy(runtime) == (1, len(ROLES), sorted(ROLES))
    worker.db.dispose()


def test_a_fresh_node_with_two_workers_has_exactly_one_ca_hierarchy(live_env):
    port = int(live_env["ONETRIP_PORT"])
    process = start_server(live_env, port, workers=2)
    try:
        roots = {
            requests.get(f"{live_env['ONETRIP_ISSUER']}/pki/root.cer", timeout=10).content
            for _ in range(8)  # on both workers, whichever the kernel hands each to
        }
    finally:
        stop_process(process)
    assert len(roots) == 1
    settings = load_settings(
        environ={},
        data_dir=live_env["ONETRIP_DATA_DIR"],
        redis_url=live_env["REDIS_URL"],
        database_url=live_env["DATABASE_URL"],
        issuer=live_env["ONETRIP_ISSUER"],
    )
    runtime = Runtime(settings)
    assert _hierarchy(runtime) == (1, len(ROLES), sorted(ROLES))
    runtime.db.dispose()

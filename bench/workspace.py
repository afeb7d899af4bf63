"""The officer's workspace: how fast a department's inbox answers with 10,000 routes.

A fresh data directory (SQLite, embedded Valkey, as ``onetrip serve`` starts), two
departments with their seals, and 10,000 routes through the first department plus
10,000 through the other one only (so the tables hold more than the inbox shows): of the
first department's routes, 7,000 wait at its step, 2,000 at a later step, 1,000 are done.
The figure is the whole ``GET /workspace/<code>/`` answer of the Flask app (SSO session
lookup in Redis, membership, the inbox's count and page, the template), in-process
without a socket, median wall-clock time over :data:`RUNS` requests; the first page and a
deep page (offset 6,000) are measured apart, and the history page beside them.
Bound (issue 17): the inbox's median under 100 ms.
Run: ``.venv/bin/python -m bench.workspace``.
"""

from __future__ import annotations

import re
import secrets
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import main, note, row

ROUTES = 10_000
RUNS = 200
BOUND_MS = 100.0
PASSWORD = "a bench passphrase of mine"


def _routes(session, mine: int, other: int, blob: str, officer_id: int) -> None:
    """ROUTES routes through ``mine`` and as many through ``other`` only, in bulk."""
    from sqlalchemy import insert

    from config.db import utcnow
    from signing.models import Document, RouteStep

    now = utcnow()
    docs, steps = [], []
    for n in range(2 * ROUTES):
        doc_id = secrets.token_hex(16)
        ours = n < ROUTES
        if ours:
            path = [mine, other]
            state, current = ("routing", 0) if n < 7_000 else ("routing", 1)
            if n >= 9_000:
                state, current = "completed", None
        else:
            path, state, current = [other], "routing", 0
        docs.append(
            {
                "id": doc_id,
                "filename": f"application-{n}.pdf",
                "state": state,
                "current_step": current,
                "level": "B-LT",
                "stamp": True,
                "sha256": blob,
                "blob_sha256": blob,
                "created_by": officer_id,
                "created_by_name": "bench.officer",
                "subject": f"Application {n}",
                "deadline": now + timedelta(days=n % 90) if n % 3 else None,
                "created_at": now - timedelta(minutes=n),
                "updated_at": now,
            }
        )
        for position, dept in enumerate(path):
            done = current is None or position < current
            steps.append(
                {
                    "document_id": doc_id,
                    "position": position,
                    "department_id": dept,
                    "state": "signed" if done else "pending",
                    "actor_name": "bench.officer" if done else None,
                    "acted_at": now if done else None,
                }
            )
    session.execute(insert(Document), docs)
    session.execute(insert(RouteStep), steps)


def _setup():
    from config.runtime import Runtime
    from config.settings import load_settings
    from idp.app import create_app
    from idp.passwords import Passwords
    from idp.users import create_user
    from signing import departments
    from signing.models import Blob
    from signing.pdfs import make_pdf, sha256

    data_dir = Path(tempfile.mkdtemp(prefix="onetrip-bench-workspace-"))
    runtime = Runtime(load_settings(environ={}, data_dir=str(data_dir)))
    runtime.migrate()
    app = create_app(runtime)
    mine = departments.create(runtime, "PSB", "上海市公安局", "Public Security", actor="bench")
    departments.create(runtime, "TAX", "税务局", "Tax Bureau", actor="bench")
    with runtime.db.write() as session:
        user = create_user(
            session,
            Passwords(runtime.settings),
            "bench.officer",
            name="Bench Officer",
            email="bench@example.cn",
            password=PASSWORD,
        )
        officer_id = user.id
    departments.add_member(runtime, mine["code"], officer_id, "bench.officer", actor="bench")
    ids = {m["code"]: m["id"] for m in departments.memberships(runtime, officer_id)}
    pdf = make_pdf(1)
    with runtime.db.write() as session:
        session.add(Blob(sha256=sha256(pdf), size=len(pdf), data=pdf))
        session.flush()
        other = departments.department_id(session, "TAX")
        _routes(session, ids["PSB"], other, sha256(pdf), officer_id)
    return runtime, app


def _signed_in(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login",
        data={"csrf_token": csrf, "username": "bench.officer", "password": PASSWORD},
    )
    if answer.status_code != 302:
        raise RuntimeError(f"the bench officer could not sign in ({answer.status_code})")
    return client


def _median_ms(client, path: str, expect: str) -> float:
    first = client.get(path)
    if first.status_code != 200 or expect not in first.get_data(as_text=True):
        raise RuntimeError(f"{path} answered {first.status_code} without {expect!r}")
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        client.get(path).close()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run() -> list[dict]:
    note(f"workspace: making {2 * ROUTES:,} routes ...")
    runtime, app = _setup()
    client = _signed_in(app)
    first = _median_ms(client, "/workspace/PSB/", "Waiting for your department: 7000")
    deep = _median_ms(client, "/workspace/PSB/?page=300", "Page 300 of 350")
    history = _median_ms(client, "/workspace/PSB/history", "Entries: ")
    bound = f"< {BOUND_MS:.0f} ms median"
    met = "met" if max(first, deep) < BOUND_MS else "NOT met"
    note(f"TARGET workspace inbox median under {BOUND_MS:.0f} ms: {met}")
    runtime.db.dispose()
    return [
        row(
            f"inbox of a department with {ROUTES:,} routes, first page (GET, WSGI)",
            first,
            "ms",
            BOUND_MS,
            "bound",
            bound,
            ratio=first / BOUND_MS,
        ),
        row(
            "the same inbox, page 300 (offset 5,980)",
            deep,
            "ms",
            BOUND_MS,
            "bound",
            bound,
            ratio=deep / BOUND_MS,
        ),
        row("the department's history, first page", history, "ms"),
    ]


if __name__ == "__main__":
    main(run)

"""A refusal raised anywhere is answered in one place: JSON ``{"error",
"error_description"}`` with its status and headers for APIs, the localized error page
for browsers."""

from __future__ import annotations

import pytest

from signing.departments import DepartmentError

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def refusing(app):
    def refuse():
        raise DepartmentError("exists", "department PSB already exists", 409)

    app.add_url_rule("/api/refuse", "refuse_api", refuse)
    app.add_url_rule("/refuse", "refuse_page", refuse)
    return app.test_client()


def test_an_api_gets_the_refusal_as_json(refusing):
    answer = refusing.get("/api/refuse", headers={"Accept": HTML})
    assert answer.status_code == 409
    assert answer.get_json() == {
        "error": "exists",
        "error_description": "department PSB already exists",
    }


def test_a_browser_gets_a_page_headed_by_the_status_not_the_raw_code(refusing):
    answer = refusing.get("/refuse", headers={"Accept": HTML, "Accept-Language": "en"})
    assert answer.status_code == 409
    assert answer.mimetype == "text/html"
    page = answer.get_data(as_text=True)
    assert "<strong>Conflict</strong>" in page  # the refusal's title, not its raw code
    assert "department PSB already exists" in page

"""The citizen's pages in a real browser: Chromium under Playwright, checked with axe-core."""

from __future__ import annotations

import pytest

from tests.browser import DESKTOP, PHONE, assert_accessible, new_context


@pytest.mark.parametrize("width", [PHONE["width"], DESKTOP["width"]], ids=["phone", "desktop"])
@pytest.mark.parametrize("locale", ["en", "zh-CN"])
def test_the_login_page_fits_the_screen_and_passes_axe(op, chromium, width, locale):
    context = new_context(chromium, width=width, locale=locale)
    page = context.new_page()
    page.goto(f"{op.url}/login")

    assert page.locator("input[name=username]").is_visible()
    assert page.locator("input[name=password]").is_visible()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide on a {width} px screen"
    assert page.locator("html").get_attribute("lang") == locale
    assert_accessible(page)
    context.close()

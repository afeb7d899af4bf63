"""A real browser for page tests: Playwright for Python driving Debian's Chromium, and axe-core.

Nothing here downloads a browser: Playwright launches the system's Chromium
(``/usr/bin/chromium``, Debian's ``chromium`` package, which ``.ci/run`` installs; another
path through ``ONETRIP_TEST_CHROMIUM``). axe-core comes from its npm package, installed on
first use into ``tests/browser_assets/node_modules`` (git-ignored) from the lock file beside
it, and is injected into the page under test.

Fixtures (registered for every test by ``tests/conftest.py``):

- ``chromium``: one browser per test module (see the fixture for why not per session).
- ``browser_context``: a fresh context (no cookies) per test, phone-sized by default;
  ``new_context(chromium, width=1280)`` makes others.

Helpers: :func:`serious_violations` runs axe-core and returns the violations of impact
``serious`` or ``critical``; :func:`assert_accessible` fails with a readable list of them;
:func:`assert_fits` fails when a page is wider than its screen; :func:`screenshot` saves the
page as ``<name>.png`` in the directory named by ``ONETRIP_SCREENSHOTS``, if set (the README's
tour is taken that way: ``ONETRIP_SCREENSHOTS=docs/screenshots make test``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ONETRIP_TEST_CHROMIUM", "/usr/bin/chromium")
ASSETS = Path(__file__).resolve().parent / "browser_assets"
AXE = ASSETS / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

#: Chromium as a test browser: headless, and quiet on a machine with no outside network
#: (without these it keeps trying to reach Google's hosts at every start).
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_args(*extra: str) -> list[str]:
    """The launch arguments of :func:`chromium`, plus ``extra`` (e.g. a fake camera)."""
    return [*_ARGS, *extra]


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    """Debian's Chromium under Playwright, shared by a module's page tests.

    Per module, not per session: Playwright's sync API keeps its asyncio loop marked as
    running in the main thread while it is open, and every later ``asyncio.run`` there
    (pyHanko's signing and validation in the signing tests) would fail.
    """
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"page tests need Chromium at {CHROMIUM}: `sudo apt-get install chromium`, "
            "or point ONETRIP_TEST_CHROMIUM at another Chromium"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args())
        yield browser
        browser.close()


def new_context(browser, *, width: int = PHONE["width"], locale: str = "en", **options):
    """A fresh browser context (its own cookies) with a viewport ``width`` px wide."""
    height = PHONE["height"] if width <= PHONE["width"] else DESKTOP["height"]
    return browser.new_context(
        viewport={"width": width, "height": height}, locale=locale, **options
    )


@pytest.fixture
def browser_context(chromium) -> Iterator:
    """A phone-sized context with no cookies, closed after the test."""
    context = new_context(chromium)
    yield context
    context.close()


def _axe_script() -> Path:
    if not AXE.is_file():
        if not shutil.which("npm"):
            raise RuntimeError("page tests need npm to install axe-core (tests/browser_assets)")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=ASSETS,
            check=True,
            timeout=180,
        )
    return AXE


def serious_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    # Evaluated over the DevTools protocol, which the page's CSP (script-src 'self') does
    # not govern; a <script> tag would be refused.
    page.evaluate(_axe_script().read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def assert_accessible(page) -> None:
    """Fail, naming each rule and element, if axe-core finds a serious or critical problem."""
    found = serious_violations(page)
    lines = [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(n['target'][0] for n in v['nodes'])}"
        for v in found
    ]
    assert not found, f"{page.url}:\n" + "\n".join(lines)


def assert_fits(page, width: int) -> None:
    """Fail if the page scrolls sideways on a screen ``width`` px wide."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide on a {width} px screen"


def screenshot(page, name: str) -> Path | None:
    """The page as ``$ONETRIP_SCREENSHOTS/<name>.png``, when that variable is set."""
    directory = os.environ.get("ONETRIP_SCREENSHOTS")
    if not directory:
        return None
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path

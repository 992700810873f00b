"""A headless Chromium for tests: Debian's package driven by Playwright, never a downloaded browser.

When Chromium or Playwright is missing, the browser tests are skipped *and* the run's summary
says so, with the way to enable them (see ``conftest.py``): never a silent pass.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from modelsteal.campaigns.report import CHROMIUM_FLAGS

CHROMIUM = os.environ.get("MODELSTEAL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ENABLE = (
    "install Debian's Chromium (apt-get install chromium; .ci/run does this) and the dev extra "
    "(pip install -e '.[dev]', which brings Playwright); MODELSTEAL_CHROMIUM=PATH names another binary"
)
#: tests that could not run for want of a browser, for the run's summary
NOT_RUN: list[str] = []
#: flags for a browser on a closed network, as root, with no screen (the report's own)
FLAGS = list(CHROMIUM_FLAGS)


@contextmanager
def browser_or_skip() -> Iterator[Any]:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright is not installed"
    if reason is None and not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM}"
    if reason is not None and os.environ.get("MODELSTEAL_REQUIRE_BROWSER"):
        pytest.fail(f"MODELSTEAL_REQUIRE_BROWSER is set and {reason}; {ENABLE}")
    if reason is not None:
        NOT_RUN.append(f"{os.environ.get('PYTEST_CURRENT_TEST', 'a browser test').split(' ')[0]}: {reason}")
        pytest.skip(f"browser test not run: {reason}; to enable: {ENABLE}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()

"""A real headless Chromium (the system's, via Playwright) against a running `chatops demo`.

Without Playwright or /usr/bin/chromium the browser tests are skipped, saying why; with
CHATOPS_REQUIRE_BROWSER=1 (CI) they fail instead, so a missing browser can never pass silently.
Each step's screenshot goes to tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
REQUIRE_BROWSER = os.environ.get("CHATOPS_REQUIRE_BROWSER", "") not in ("", "0")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"a browser is required here (CHATOPS_REQUIRE_BROWSER=1): {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")  # Playwright's sync API holds the event loop: let go of it before other tests
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[test]'")
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """`chatops demo --no-browser --port 0`, the command a person runs; its URL; Ctrl-C at the end.

    No first digest (--first-digest 0): the tests here share this channel, and each counts its own messages.
    """
    with running_demo("--first-digest", "0") as url:
        yield url


@contextmanager
def running_demo(*args: str) -> Iterator[str]:
    """`chatops demo --no-browser --port 0 ARGS` while the block runs; its URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_APP_"))}
    process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "demo", "--no-browser", "--port", "0", *args],
                               cwd=ROOT, env={**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    printed = ""
    deadline = time.monotonic() + 60
    url = ""
    while time.monotonic() < deadline and not url:
        line = process.stdout.readline()
        if not line:
            break
        printed += line
        found = re.search(r"Open (http://\S+)", printed)
        url = found[1] if found else ""
    if not url:
        process.kill()
        pytest.fail(f"chatops demo printed no URL:\n{printed}{process.stdout.read()}")
    try:
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        assert process.returncode == 0, out


class Steps:
    """Numbered screenshots of one test's steps: tests/artifacts/<test>-<n>-<step>.png."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(self, page: Any, step: str) -> Path:
        self.count += 1
        path = ARTIFACTS / f"{self.name}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path))
        return path


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    return Steps(request.node.name.removeprefix("test_"))


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    made = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US", timezone_id="UTC")
    made.set_default_timeout(30_000)
    yield made
    made.close()

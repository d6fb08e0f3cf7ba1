"""The digest in the sandbox, in headless Chromium: `chatops demo` posts #general's first digest shortly after
start, and "Send digest now" posts another. Its own `chatops demo`: a digest is seen by everyone in the channel,
and the other browser tests count the bot's messages there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Steps, running_demo

ANA = "U0DEMO01"


@pytest.fixture(scope="module")
def digest_demo_url() -> Iterator[str]:
    with running_demo("--first-digest", "1") as url:
        yield url


def test_the_first_digest_arrives_and_send_digest_now_posts_another(context: Any, digest_demo_url: str,
                                                                     steps: Steps) -> None:
    from playwright.sync_api import expect

    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{digest_demo_url}/?as={ANA}")
    page.wait_for_selector("body[data-ready=true]")

    digests = page.locator("#slack-list .message[data-author=bot]").filter(has_text="Weekly sync audit: Acme Corp")
    expect(digests).to_have_count(1, timeout=60_000)  # the first one, posted by the scheduler's delivery
    expect(digests.first).not_to_contain_text("Only visible to you")
    expect(digests.first.get_by_role("button", name="Reconnect Google").first).to_be_visible()
    steps.shot(page, "first-digest")

    button = page.get_by_role("button", name="Send digest now")
    expect(button).to_be_visible()
    page.wait_for_timeout(1100)  # a manual digest's key is per second: a second press within it is the same post
    button.click()
    expect(page.locator("#toast")).to_have_text("The digest was posted in #general.", timeout=60_000)
    expect(digests).to_have_count(2)
    expect(button).to_be_enabled()
    steps.shot(page, "send-digest-now")
    assert errors == [], f"errors in the page: {errors}"

"""The sandbox as a person uses it, in headless Chromium: channel, modal, in-place updates, users, Reconnect, Teams.

One `chatops demo` serves every test here (a session fixture); each test acts as its own member or on its own
messages, so their order does not matter. Screenshots of each step land in tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Steps

ADMIN, ANA, BEN = "U0DEMOADMIN", "U0DEMO01", "U0DEMO02"


@pytest.fixture
def open_as(context: Any, demo_url: str) -> Iterator[Any]:
    """open_as(user, **query) -> a page of the sandbox signed in as that member; page errors fail the test."""
    errors: list[str] = []
    pages: list[Any] = []

    def open_page(user: str, query: str = "") -> Any:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{demo_url}/?as={user}{query}")
        page.wait_for_selector("body[data-ready=true]")
        pages.append(page)
        return page

    yield open_page
    assert errors == [], f"errors in the page: {errors}"


def composer(page: Any) -> Any:
    return page.get_by_label("Message #general")


def bot_messages(page: Any) -> Any:
    return page.locator("#slack-list .message[data-author=bot]")


def renders_of(page: Any, key: str) -> list[str]:
    """The texts the page showed for one message, every time it re-rendered it."""
    return page.evaluate("key => sandbox.renders.filter(r => r.id === key).map(r => r.text)", key)


def test_syncstatus_all_details_and_retest_in_place(open_as: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(ADMIN)
    steps.shot(page, "empty-channel")

    # typing a slash command: the menu offers /syncstatus, Enter picks it, the usage hint follows
    composer(page).press_sequentially("/sync")
    menu = page.locator("#slash-menu")
    expect(menu).to_be_visible()
    expect(menu).to_contain_text("/syncstatus")
    expect(menu).to_contain_text("Why did CRM email or calendar sync break?")
    steps.shot(page, "slash-menu")
    composer(page).press("Enter")
    expect(composer(page)).to_have_value("/syncstatus ")
    expect(page.locator("#usage-hint")).to_contain_text("[all | @person")
    composer(page).press_sequentially("all")
    composer(page).press("Enter")

    # the overview card, from the bot, only for the admin
    card = bot_messages(page).filter(has_text="Sync status: 14 connections")
    expect(card).to_have_count(1, timeout=60_000)
    expect(card).to_contain_text("Only visible to you")
    expect(card).to_contain_text("chatops")
    expect(card.locator(".app-badge")).to_have_text("APP")
    expect(card.locator("time")).to_have_text(re.compile(r"\d{1,2}:\d{2}\s?[AP]M"))
    expect(card).to_contain_text("10 broken · 1 needs attention · 3 healthy")
    expect(card.locator(".bk-header")).to_have_text("Sync status: 14 connections")
    expect(card.get_by_role("button", name="Reconnect Google").first).to_be_visible()
    expect(card).to_contain_text("Page 1 of 2")
    key = card.get_attribute("data-key")
    steps.shot(page, "overview-card")

    # Details: a modal over the channel with every finding of ana's connection
    card.get_by_role("button", name="Details").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#modal-title")).to_have_text("Details")
    expect(dialog).to_contain_text("Details: ana-salesforce-gmail")
    expect(dialog).to_contain_text("[credentials]")
    steps.shot(page, "details-modal")
    page.locator("#modal-close").click()
    expect(dialog).to_be_hidden()

    # Retest: the same message says "Rechecking…", then shows the fresh card, without a reload
    page.evaluate("() => { window.__notReloaded = true; }")
    card.get_by_role("button", name="Retest").first.click()
    same = page.locator(f'#slack-list .message[data-key="{key}"]')
    expect(same).to_contain_text("Sync status: ana-salesforce-gmail", timeout=60_000)
    expect(same.get_by_role("button", name="Retest")).to_be_visible()
    assert any("Rechecking" in text for text in renders_of(page, key)), renders_of(page, key)
    assert page.evaluate("() => window.__notReloaded === true")
    expect(bot_messages(page)).to_have_count(1)  # updated in place, not posted again
    steps.shot(page, "after-retest")


def test_switching_user_shows_what_that_member_sees(open_as: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(BEN)
    composer(page).fill("/syncstatus all")
    composer(page).press("Enter")
    refused = bot_messages(page).last
    expect(refused).to_contain_text("Only visible to you", timeout=60_000)
    steps.shot(page, "member-asks-for-all")

    page.get_by_label("Viewing as").select_option(ADMIN)
    expect(page.locator("#viewer-avatar")).to_have_text("DA")
    expect(page.locator("#slack-list .message[data-author=user]", has_text="Ben Okafor")).to_have_count(0)
    page.get_by_label("Viewing as").select_option(BEN)
    expect(page.locator("#slack-list .message", has_text="Ben Okafor").first).to_be_visible()
    composer(page).fill("/syncstatus")
    composer(page).press("Enter")
    mine = bot_messages(page).filter(has_text="Sync status: ben-dynamics-outlook")
    expect(mine).to_have_count(1, timeout=60_000)
    expect(mine.get_by_role("button", name="Reconnect Microsoft 365")).to_be_visible()
    steps.shot(page, "member-card")


def test_reconnect_turns_the_revoked_connection_healthy(open_as: Any, context: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(ANA)
    composer(page).fill("/syncstatus")
    composer(page).press("Enter")
    card = bot_messages(page).filter(has_text="Sync status: ana-salesforce-gmail")
    expect(card).to_have_count(1, timeout=60_000)
    expect(card).to_contain_text("Broken")
    steps.shot(page, "revoked")

    reconnect = card.get_by_role("button", name=re.compile(r"^Reconnect Google"))
    with context.expect_page(timeout=10_000) as opened:
        reconnect.click()
    consent = opened.value
    consent.wait_for_load_state()
    steps.shot(consent, "consent-page")
    consent.get_by_role("button", name=re.compile(r"approve|allow|accept|continue|grant", re.I)).first.click()
    consent.wait_for_load_state()
    steps.shot(consent, "callback-page")

    expect(card).to_contain_text("Healthy", timeout=60_000)
    expect(card).not_to_contain_text("revoked")
    steps.shot(page, "healthy")


def test_app_home_tab(open_as: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(ANA)
    page.get_by_role("button", name="chatops").click()
    home = page.locator(".home-view")
    expect(home).to_contain_text("Workspace health", timeout=30_000)
    expect(home).to_contain_text("ana-salesforce-gmail")
    expect(page.get_by_role("tab", name="Home")).to_have_attribute("aria-selected", "true")
    steps.shot(page, "app-home")


def test_admin_adds_a_digest_from_app_home(open_as: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(ADMIN)
    page.get_by_role("button", name="chatops").click()
    home = page.locator(".home-view")
    expect(home).to_contain_text("Digest settings", timeout=30_000)
    expect(home).to_contain_text(re.compile(r"Trend: |Failing: "))
    home.get_by_role("button", name="Add digest").click()

    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    expect(page.locator("#modal-title")).to_have_text("Add digest")
    form = page.locator("#modal-body")
    form.locator("[data-block-id=channel] select").select_option(label="# general")
    form.get_by_label("Daily").check()
    form.locator("[data-block-id=time] input").fill("07:45")
    form.locator("[data-block-id=timezone] input").fill("Europe/Berln")
    page.locator("#modal-submit").click()
    expect(form.locator("[data-block-id=timezone] .bk-input-block__error")).to_contain_text("Europe/Berlin")
    steps.shot(page, "inline-error")

    form.locator("[data-block-id=timezone] input").fill("Europe/Berlin")
    page.locator("#modal-submit").click()
    expect(modal).to_be_hidden()
    expect(home).to_contain_text("Daily digest, every day at 07:45 Europe/Berlin")
    steps.shot(page, "saved")

    home.get_by_role("button", name="Unsubscribe").first.click()
    expect(home).to_contain_text("no longer gets sync digests")


def test_a_member_sees_no_digest_settings(open_as: Any) -> None:
    from playwright.sync_api import expect

    page = open_as(BEN)
    page.get_by_role("button", name="chatops").click()
    home = page.locator(".home-view")
    expect(home).to_contain_text("Workspace health", timeout=30_000)
    expect(home).not_to_contain_text("Digest settings")


def test_teams_chat_with_adaptive_cards(open_as: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    page = open_as(ADMIN, "&platform=teams")
    expect(page.get_by_role("tab", name="Microsoft Teams")).to_have_attribute("aria-selected", "true")
    box = page.get_by_label("Type a message")
    box.click()
    expect(page.locator("#teams-commands")).to_contain_text("syncstatus all")
    steps.shot(page, "command-menu")
    box.fill("syncstatus all")
    box.press("Enter")
    expect(page.locator(".tmsg--mine").last).to_have_text(re.compile("syncstatus all"))
    card = page.locator(".tmsg:not(.tmsg--mine) .ac-card").filter(has_text="Sync status: 14 connections")
    expect(card).to_have_count(1, timeout=60_000)
    expect(card.locator(".ac-textblock").first).to_have_text("Sync status: 14 connections")
    steps.shot(page, "overview-card")

    card.get_by_role("button", name="Retest").first.click()
    answered = page.locator(".tmsg:not(.tmsg--mine)").filter(has_text="ana-salesforce-gmail")
    expect(answered.filter(has_text="Sync status: ana-salesforce-gmail")).to_have_count(1, timeout=60_000)
    steps.shot(page, "after-retest")

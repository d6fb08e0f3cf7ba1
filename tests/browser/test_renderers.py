"""The page's Block Kit and Adaptive Card renderers in Chromium, on every block and element kind they support.

The bot's own cards exercise only part of Block Kit and Adaptive Cards; these feed the renderers the rest
(selects, overflow, accessories, images, unknown kinds, Teams' markdown, secondary actions, ShowCard) and
check what a person would see, and that nothing the payload says can become markup.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import Steps
from tests.shared import CONFORMANCE

BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Weekly audit :rotating_light:", "emoji": True}},
    {"type": "section", "block_id": "s1",
     "text": {"type": "mrkdwn", "text": "*bold* _italic_ ~strike~ `code` <https://example.com/|a link> <@U0DEMO01> "
                                        ":white_check_mark: &lt;tag&gt; &amp; co <img src=x onerror=alert(1)>"},
     "accessory": {"type": "button", "action_id": "open", "text": {"type": "plain_text", "text": "Open"},
                   "value": "o"}},
    {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Owner*\nana@acme.example"},
                                   {"type": "plain_text", "text": "<b>not bold</b>"}]},
    {"type": "context", "elements": [{"type": "image", "image_url": "/emulator/static/avatar.svg", "alt_text": "bot"},
                                     {"type": "mrkdwn", "text": "checked 2 min ago"}]},
    {"type": "divider"},
    {"type": "actions", "block_id": "a1", "elements": [
        {"type": "button", "action_id": "go", "style": "primary", "text": {"type": "plain_text", "text": "Go"}},
        {"type": "button", "action_id": "stop", "style": "danger", "text": {"type": "plain_text", "text": "Stop"}},
        {"type": "static_select", "action_id": "pick", "placeholder": {"type": "plain_text", "text": "Snooze for"},
         "options": [{"text": {"type": "plain_text", "text": "1 day"}, "value": "1d"},
                     {"text": {"type": "plain_text", "text": "1 week"}, "value": "7d"}]},
        {"type": "overflow", "action_id": "more",
         "options": [{"text": {"type": "plain_text", "text": "Mute"}, "value": "mute"}]},
    ]},
    {"type": "section", "text": {"type": "mrkdwn", "text": "> quoted\n```pre <b>x</b>```"}},
    {"type": "video", "title": {"type": "plain_text", "text": "?"}},
]

CARD: dict[str, Any] = {
    "type": "AdaptiveCard", "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "Sync status", "style": "heading", "wrap": True},
        {"type": "TextBlock", "text": "**bold** and _it_ \\*not bold\\* <i>raw</i>", "wrap": True},
        {"type": "TextBlock", "text": "- one\n- two\n\n1. first\n2. second", "wrap": True, "color": "Attention"},
        {"type": "Container", "style": "emphasis", "items": [{"type": "TextBlock", "text": "inside", "isSubtle": True}]},
        {"type": "ColumnSet", "columns": [
            {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": "left"}]},
            {"type": "Column", "width": "stretch", "items": [{"type": "TextBlock", "text": "right"}]}]},
        {"type": "Input.Text", "id": "comment", "label": "Comment"},
        {"type": "ActionSet", "separator": True, "actions": [
            {"type": "Action.Execute", "title": "Retest", "verb": "chatops.retest", "data": {"t": "c1"}},
            {"type": "Action.ShowCard", "title": "Details",
             "card": {"type": "AdaptiveCard", "body": [{"type": "FactSet", "facts": [{"title": "token",
                                                                                       "value": "revoked"}]}]}},
            {"type": "Action.OpenUrl", "title": "Reconnect", "url": "https://example.com/connect"},
            {"type": "Action.Submit", "title": "Acknowledge", "data": {"action": "ack"}}]},
        {"type": "Media", "sources": []},
    ],
}


@pytest.fixture
def page(context: Any, demo_url: str) -> Iterator[Any]:
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{demo_url}/?as=U0DEMO03")
    opened.wait_for_selector("body[data-ready=true]")
    yield opened
    assert errors == []


def mount(page: Any, module: str, function: str, payload: Any) -> Any:
    """Render `payload` with the page's own module into a panel on top of the page; clicks are recorded."""
    page.evaluate("""async ([module, fn, payload]) => {
        const m = await import(`/emulator/static/${module}`);
        window.__clicks = [];
        const record = (kind) => (what) => { window.__clicks.push({ kind, ...JSON.parse(JSON.stringify({
            action: what.element?.action_id ?? what.action?.title, option: what.option?.value,
            verb: what.verb, data: what.data, blockId: what.blockId })) }); };
        const ctx = { userName: (id) => ({ U0DEMO01: "Ana Ruiz" })[id], onAction: record("slack"),
                      onExecute: record("execute"), onSubmit: record("submit") };
        const node = m[fn](payload, ctx);
        const panel = document.createElement("div");
        panel.id = "under-test";
        panel.style = "position:fixed;inset:60px 80px auto;background:#fff;padding:24px;z-index:99;" +
                      "box-shadow:0 8px 40px rgba(0,0,0,.4);border-radius:8px;max-height:80vh;overflow:auto";
        panel.append(node);
        document.body.append(panel);
    }""", [module, function, payload])
    return page.locator("#under-test")


def clicks(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => window.__clicks")


def test_block_kit_renders_each_block_and_element_as_slack_does(page: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    root = mount(page, "blockkit.js", "renderBlocks", BLOCKS)
    expect(root.locator(".bk-header")).to_have_text("Weekly audit 🚨")
    text = root.locator(".bk-section").first.locator(".bk-text")
    expect(text.locator("b")).to_have_text("bold")
    expect(text.locator("i")).to_have_text("italic")
    expect(text.locator("s")).to_have_text("strike")
    expect(text.locator("code")).to_have_text("code")
    expect(text.get_by_role("link", name="a link")).to_have_attribute("href", "https://example.com/")
    expect(text.locator("a[href]")).to_have_count(1)  # <img src=x …> is not a URL: text, never a link or tag
    expect(text.locator(".c-mention")).to_have_text("@Ana Ruiz")
    expect(text).to_contain_text("✅ <tag> & co")
    expect(root.locator("img[src=x]")).to_have_count(0)
    expect(root.locator(".bk-section__accessory .bk-button")).to_have_text("Open")
    expect(root.locator(".bk-field")).to_have_count(2)
    expect(root.locator(".bk-field").first.locator("b")).to_have_text("Owner")
    expect(root.locator(".bk-field").nth(1)).to_have_text("<b>not bold</b>")
    expect(root.locator(".bk-context img")).to_have_attribute("alt", "bot")
    expect(root.locator(".bk-context")).to_contain_text("checked 2 min ago")
    expect(root.locator("hr.bk-divider")).to_have_count(1)
    expect(root.locator(".bk-button--primary")).to_have_text("Go")
    expect(root.locator(".bk-button--danger")).to_have_text("Stop")
    expect(root.locator(".c-mrkdwn__quote")).to_have_text("quoted")
    expect(root.locator(".c-mrkdwn__pre")).to_have_text("pre <b>x</b>")
    expect(root.locator(".bk-unsupported")).to_contain_text("(video)")
    steps.shot(page, "block-kit")

    root.get_by_role("button", name="Go").click()
    root.locator("select.bk-select").select_option(label="1 week")
    root.get_by_role("button", name="More actions").click()
    root.get_by_role("button", name="Mute").click()
    root.get_by_role("button", name="Open").click()
    assert [(c["action"], c.get("option"), c.get("blockId")) for c in clicks(page)] == [
        ("go", None, "a1"), ("pick", "7d", "a1"), ("more", "mute", "a1"), ("open", None, "s1")]


def test_adaptive_cards_render_as_teams_does(page: Any, steps: Steps) -> None:
    from playwright.sync_api import expect

    root = mount(page, "adaptivecards.js", "renderCard", CARD)
    expect(root.get_by_role("heading")).to_have_text("Sync status")
    second = root.locator(".ac-textblock").nth(1)
    expect(second.locator("strong")).to_have_text("bold")
    expect(second.locator("em")).to_have_text("it")
    expect(second).to_contain_text("*not bold* <i>raw</i>")  # escapes undone, markup never made
    lists = root.locator(".ac-textblock").nth(2)
    expect(lists.locator("ul li")).to_have_count(2)
    expect(lists.locator("ol li")).to_have_text(["first", "second"])
    expect(lists).to_have_class("ac-textblock ac-color-attention")
    expect(root.locator(".ac-style-emphasis .ac-subtle")).to_have_text("inside")
    expect(root.locator(".ac-columnset .ac-column")).to_have_count(2)
    expect(root.locator(".ac-unsupported")).to_contain_text("(Media)")

    root.get_by_label("Comment").fill("looks fixed")
    root.get_by_role("button", name="Retest").click()
    root.get_by_role("button", name="Acknowledge").click()
    assert clicks(page) == [
        {"kind": "execute", "action": "Retest", "verb": "chatops.retest", "data": {"t": "c1", "comment": "looks fixed"}},
        {"kind": "submit", "action": "Acknowledge", "data": {"action": "ack", "comment": "looks fixed"}}]
    root.get_by_role("button", name="Details").click()
    expect(root.locator(".ac-showcard .ac-factset")).to_contain_text("revoked")
    steps.shot(page, "adaptive-card")
    root.get_by_role("button", name="Details").click()
    expect(root.locator(".ac-showcard")).to_be_hidden()


def test_the_conformance_sample_card_with_secondary_actions(page: Any) -> None:
    from playwright.sync_api import expect

    sample = json.loads((CONFORMANCE / "teams" / "adaptive-card.sample.v1.5.action-execute.json").read_text())
    root = mount(page, "adaptivecards.js", "renderCard", sample)
    expect(root.get_by_role("heading")).to_have_text("Please confirm your data:")
    expect(root.locator(".ac-fact__title")).to_have_text(["First Name", "Last Name", "Phone number"])
    expect(root.get_by_role("button", name="Confirm data")).to_be_visible()
    expect(root.get_by_role("button", name="Edit data")).to_be_hidden()  # secondary: behind "…"
    root.get_by_role("button", name="More options").click()
    root.get_by_role("button", name="Delete data").click()
    assert [c["action"] for c in clicks(page)] == ["Delete data"]
    expect(root.locator(".ac-unsupported")).to_have_count(0)

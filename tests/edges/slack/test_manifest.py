"""manifest/slack.yaml and `chatops manifest slack --url`: valid against Slack's manifest schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from adapters.slack import MANIFEST, manifest
from adapters.slack.settings import BOT_SCOPES
from chatops.errors import ConfigError
from tests.shared import CONFORMANCE

SCHEMA = json.loads((CONFORMANCE / "slack" / "app_manifest.schema.1.0.0.json")
                    .read_text())


def validate(document: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(document)


def test_the_manifest_file_validates() -> None:
    validate(yaml.safe_load(MANIFEST.read_text()))


def test_the_printed_manifest_points_every_url_at_the_given_host_and_validates() -> None:
    document = yaml.safe_load(manifest("https://bot.acme.example/"))

    validate(document)
    urls = [document["features"]["slash_commands"][0]["url"], document["settings"]["event_subscriptions"]["request_url"],
            document["settings"]["interactivity"]["request_url"], *document["oauth_config"]["redirect_urls"]]
    assert urls == ["https://bot.acme.example/slack/events"] * 3 + ["https://bot.acme.example/slack/oauth_redirect"]
    assert document["settings"]["socket_mode_enabled"] is False


def test_the_manifest_asks_for_exactly_the_scopes_and_events_the_app_uses() -> None:
    document = yaml.safe_load(manifest("https://bot.acme.example"))
    assert tuple(document["oauth_config"]["scopes"]["bot"]) == BOT_SCOPES
    assert document["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened", "app_uninstalled",
                                                                          "tokens_revoked"]
    assert document["features"]["slash_commands"][0]["command"] == "/syncstatus"
    assert document["features"]["slash_commands"][0]["should_escape"] is True  # mentions arrive as <@U123>
    assert document["features"]["app_home"]["home_tab_enabled"] is True


def test_socket_mode_manifest_validates() -> None:
    document = yaml.safe_load(manifest("https://bot.acme.example", socket_mode=True))
    validate(document)
    assert document["settings"]["socket_mode_enabled"] is True


def test_a_bad_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="--url"):
        manifest("bot.acme.example")


def test_a_schema_violation_would_be_caught() -> None:
    document = yaml.safe_load(manifest("https://bot.acme.example"))
    document["features"]["slash_commands"][0]["command"] = "syncstatus"  # no leading slash
    with pytest.raises(jsonschema.ValidationError):
        validate(document)


def test_the_cli_prints_a_valid_manifest_and_refuses_a_bad_url() -> None:
    from typer.testing import CliRunner

    from adapters.cli import app

    printed = CliRunner().invoke(app, ["manifest", "slack", "--url", "https://bot.acme.example", "--socket"])
    assert printed.exit_code == 0, printed.output
    document = yaml.safe_load(printed.stdout)
    validate(document)
    assert document["settings"]["interactivity"]["request_url"] == "https://bot.acme.example/slack/events"
    assert document["settings"]["socket_mode_enabled"] is True

    refused = CliRunner().invoke(app, ["manifest", "slack", "--url", "bot.acme.example"])
    assert refused.exit_code == 2

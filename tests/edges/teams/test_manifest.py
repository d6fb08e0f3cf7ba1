"""The Teams app package: manifest valid against the v1.19 schema, icons of the right size, the zip builder."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.teams import MANIFEST_DIR, manifest, package
from chatops.errors import ConfigError
from tests.shared import CONFORMANCE

TEAMS = CONFORMANCE / "teams"
SCHEMA = json.loads((TEAMS / "MicrosoftTeams.schema.v1.19.json").read_text())
APP_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def errors(data: dict) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft4Validator(SCHEMA).iter_errors(data)]


def png_info(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, color_type


def test_the_source_manifest_validates_against_the_v1_19_schema() -> None:
    data = json.loads((MANIFEST_DIR / "manifest.json").read_text())

    assert errors(data) == []
    assert data["manifestVersion"] == "1.19"
    [bot] = data["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert "syncstatus" in [c["title"] for c in bot["commandLists"][0]["commands"]]


def test_the_filled_in_manifest_validates_and_names_this_bot_and_host() -> None:
    data = manifest(APP_ID, "https://bot.acme.example/api/messages")

    assert errors(data) == []
    assert data["id"] == data["bots"][0]["botId"] == APP_ID
    assert data["validDomains"] == ["bot.acme.example"]
    assert data["developer"]["privacyUrl"] == "https://bot.acme.example/privacy"


def test_a_manifest_with_a_bad_scope_is_caught_by_the_schema() -> None:
    data = manifest(APP_ID, "https://bot.acme.example")
    data["bots"][0]["scopes"] = ["everyone"]

    assert errors(data)


@pytest.mark.parametrize(("app_id", "url"), [("not-a-guid", "https://x.example"), (APP_ID, "http://x.example"),
                                             (APP_ID, "bot.acme.example")])
def test_bad_ids_and_urls_are_config_errors(app_id: str, url: str) -> None:
    with pytest.raises(ConfigError):
        manifest(app_id, url)


def test_the_icons_are_192_color_and_32_transparent_outline() -> None:
    assert png_info((MANIFEST_DIR / "color.png").read_bytes())[:2] == (192, 192)
    width, height, color_type = png_info((MANIFEST_DIR / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    assert color_type == 6  # RGBA: the outline needs a transparent background


def test_the_package_holds_the_manifest_and_icons_at_its_root(tmp_path: Path) -> None:
    out = package(APP_ID, "https://bot.acme.example", tmp_path / "app.zip")

    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert errors(json.loads(archive.read("manifest.json"))) == []


def test_chatops_manifest_teams_writes_the_zip(tmp_path: Path) -> None:
    out = tmp_path / "teams.zip"

    result = CliRunner().invoke(app, ["manifest", "teams", "--app-id", APP_ID, "--url", "https://bot.acme.example",
                                      "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert zipfile.is_zipfile(out)
    bad = CliRunner().invoke(app, ["manifest", "teams", "--app-id", "x", "--url", "https://bot.acme.example",
                                   "--out", str(out)])
    assert bad.exit_code == 2

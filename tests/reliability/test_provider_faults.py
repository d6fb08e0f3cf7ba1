"""Provider faults through the simulator and real sockets: hangs, 5xx, HTML, truncated bodies, DNS and TLS
failures, a 429 storm. The faulty connection gets findings that say what happened; the healthy one is untouched,
on time, and nothing crashes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from chatops.cards import report_card
from chatops.chat import Reply
from chatops.findings import Finding, Status
from chatops.report import Report
from tests.fakes.net import HttpReply, closed_port, http_server, raw_server, self_signed
from tests.fakes.world import World, diagnose, part
from tests.security.rendered import assert_valid_slack_reply, assert_valid_teams_reply

TIMING = {"CHATOPS_CHECK_TIMEOUT_S": "2", "CHATOPS_DEADLINE_S": "6"}
GOOGLE = ("CHATOPS_GOOGLE_OAUTH_URL", "CHATOPS_GOOGLE_API_URL")


def words(findings: list[Finding] | tuple[Finding, ...]) -> str:
    return " ".join(f"{f.summary} {' '.join(e.value for e in f.evidence)}" for f in findings).lower()


def assert_sound(report: Report) -> None:
    """No check crashed, and the report renders for both platforms."""
    crashed = [f for f in report.findings if "failed unexpectedly" in f.summary]
    assert not crashed, crashed
    card = report_card(report)
    assert_valid_slack_reply(Reply("x", card=card))
    assert_valid_teams_reply(Reply("x", card=card))


async def run(tmp_path: Path, faults: list[Any], settings: dict[str, str] | None = None
              ) -> tuple[Report, str, str, float]:
    world = World()
    sick = world.person("ana", mail="google", faults=faults)
    well = world.person("ben", crm="hubspot", mail="microsoft")
    started = time.monotonic()
    report = await diagnose(world, tmp_path, settings={**TIMING, **(settings or {})})
    return report, sick, well, time.monotonic() - started


@pytest.mark.parametrize(("name", "faults", "expected"), [
    ("provider hangs", ["hang"], ("gave no answer", "did not finish")),
    ("500", [{"server_error": 500}], ("500",)),
    ("502", [{"server_error": 502}], ("502",)),
    ("503", [{"server_error": 503}], ("503",)),
    ("504", [{"server_error": 504}], ("504",)),
    ("HTML instead of JSON", ["html_instead_of_json"], ("web page instead of api data", "html")),
    ("slow but within the timeout", [{"slow": 0.3}], ()),
])
async def test_a_faulty_provider_is_reported_and_the_healthy_connection_is_untouched(
        tmp_path: Path, name: str, faults: list[Any], expected: tuple[str, ...]) -> None:
    report, sick, well, elapsed = await run(tmp_path, faults)

    assert_sound(report)
    assert part(report, well).status is Status.OK, words(part(report, well).findings)
    assert elapsed < float(TIMING["CHATOPS_DEADLINE_S"]) + 4
    if expected:
        assert part(report, sick).status in (Status.FAIL, Status.ERROR, Status.WARN)
        said = words(part(report, sick).problems)
        assert any(word in said for word in expected), (name, said[:600])
    else:
        assert part(report, sick).status is Status.OK


async def test_a_truncated_body_is_a_bad_answer_not_a_crash(tmp_path: Path) -> None:
    cut = HttpReply(200, "OK", {"Content-Type": "application/json", "Content-Length": "400"},
                    b'{"access_token": "ya29.a0AfB_trunc')
    async with raw_server(cut.encode()) as server:  # the head, part of the body, then the connection closes
        url = f"http://127.0.0.1:{server.port}"
        report, sick, well, _ = await run(tmp_path, [], {name: url for name in GOOGLE})
    assert_sound(report)
    assert part(report, well).status is Status.OK
    said = words(part(report, sick).problems)
    assert part(report, sick).status in (Status.FAIL, Status.ERROR, Status.WARN)
    assert any(w in said for w in ("mid-answer", "truncated", "invalid json", "could not be read")), said[:600]
    assert "ya29.a0afb_trunc" not in said  # a half token is still a token


@pytest.mark.parametrize(("name", "url", "expected"), [
    ("DNS failure", "http://chatops-nowhere.invalid", ("could not be reached", "resolve", "name")),
    ("connection refused", f"http://127.0.0.1:{closed_port()}", ("could not be reached", "refused")),
])
async def test_an_unreachable_provider_says_so(tmp_path: Path, name: str, url: str, expected: tuple[str, ...]) -> None:
    report, sick, well, elapsed = await run(tmp_path, [], {n: url for n in GOOGLE})

    assert_sound(report)
    assert part(report, well).status is Status.OK
    said = words(part(report, sick).problems)
    assert any(w in said for w in expected), said[:600]
    assert elapsed < 10


async def test_a_tls_failure_is_reported_not_trusted(tmp_path: Path) -> None:
    tls = self_signed("oauth2.googleapis.com", "127.0.0.1").server_context()
    async with http_server(HttpReply(200, "OK", {"Content-Type": "application/json"}, b'{"access_token": "x"}'),
                           tls=tls) as server:
        report, sick, well, _ = await run(tmp_path, [], {n: f"https://127.0.0.1:{server.port}" for n in GOOGLE})
        assert server.received == []  # no request was sent over the untrusted connection
    assert_sound(report)
    assert part(report, well).status is Status.OK
    said = words(part(report, sick).problems)
    assert any(w in said for w in ("certificate", "tls", "ssl")), said[:600]


def seconds(report: Report, connection: str) -> float:
    """How long a connection's diagnosis took: its slowest check."""
    return max(f.duration_ms for f in part(report, connection).findings) / 1000


async def test_a_429_storm_on_one_provider_slows_only_that_provider(tmp_path: Path) -> None:
    world = World()
    throttled = [world.person(f"g{n}", mail="google", faults=[{"rate_limited": 1, "provider": "google"}])
                 for n in range(8)]
    healthy = [world.person(f"m{n}", crm="hubspot", mail="microsoft") for n in range(2)]
    report = await diagnose(world, tmp_path, settings={"CHATOPS_CHECK_TIMEOUT_S": "10", "CHATOPS_DEADLINE_S": "20"})

    assert_sound(report)
    slow = max(seconds(report, c) for c in throttled)
    fast = max(seconds(report, c) for c in healthy)
    assert all(part(report, c).status is Status.OK for c in healthy)
    assert all("rate_limit" in {f.cause.value for f in part(report, c).problems} for c in throttled)
    assert slow >= 1.0  # Google's Retry-After: 1 was waited out (and retried) on Google's calls ...
    assert fast < 1.0 and fast < slow / 2, (fast, slow)  # ... while Microsoft and HubSpot answered at once


async def test_a_long_retry_after_is_reported_at_once_not_waited_out(tmp_path: Path) -> None:
    world = World()
    throttled = world.person("g", mail="google", faults=[{"rate_limited": 30, "provider": "google"}])
    healthy = world.person("m", crm="hubspot", mail="microsoft")
    started = time.monotonic()
    report = await diagnose(world, tmp_path, settings=TIMING)

    assert time.monotonic() - started < 6
    assert part(report, healthy).status is Status.OK
    limited = [f for f in part(report, throttled).problems if f.cause.value == "rate_limit"]
    assert limited and "30" in words(limited)

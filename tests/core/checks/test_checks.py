"""Every check on its healthy case, each failure case and bad input: real checks, real provider clients and
store, the provider simulator over 127.0.0.1 playing Google, Microsoft, Salesforce, HubSpot and Dynamics."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.findings import ActionKind, Cause, Finding, Status
from chatops.report import Report
from tests.fakes.world import World, diagnose, part

pytestmark = pytest.mark.timeout(120)


def of(report: Report, connection: str, check: str) -> list[Finding]:
    return [f for f in part(report, connection).findings if f.check == check]


def one(report: Report, connection: str, check: str, status: Status | None = None, subject: str = "") -> Finding:
    found = [f for f in of(report, connection, check)
             if (status is None or f.status is status) and (not subject or f.subject == subject)]
    assert len(found) == 1, [f"{f.status} {f.summary}" for f in of(report, connection, check)]
    return found[0]


# ------------------------------------------------------------------------------------------ credentials


async def test_credentials_healthy_grants_work_and_are_refreshed_once(tmp_path: Path) -> None:
    world = World()
    ana = world.person("ana", calendar="google")
    report = await diagnose(world, tmp_path)

    findings = of(report, ana, "credentials")
    assert [f.status for f in findings] == [Status.OK, Status.OK]
    assert findings[0].summary == "Google mail access for ana@acme.example works."
    assert any(e.label == "new access token" for e in findings[0].evidence)
    assert part(report, ana).status is Status.OK


@pytest.mark.parametrize("person, fault, code, text", [
    ("gia", {"revoked": True, "provider": "google"}, "invalid_grant", "revoked or has expired"),
    ("mo", {"aadsts": 700082, "provider": "microsoft"}, "AADSTS700082", "not used for 90 days"),
    ("pat", {"aadsts": 50173, "provider": "microsoft"}, "AADSTS50173", "password change"),
    ("sam", {"revoked": True, "provider": "salesforce"}, "invalid_grant", "revoked or has expired"),
])
async def test_credentials_a_dead_grant_is_a_failure_with_the_providers_code_and_a_reconnect_button(
        tmp_path: Path, person: str, fault: dict, code: str, text: str) -> None:
    world = World()
    mail = "microsoft" if fault["provider"] == "microsoft" else "google"
    connection = world.person(person, mail=mail, faults=[fault])
    report = await diagnose(world, tmp_path)

    failed = one(report, connection, "credentials", Status.FAIL)
    assert failed.cause is Cause.CREDENTIALS
    assert text in failed.summary and code in failed.evidence[0].value
    assert failed.remedy == ("Click Reconnect and sign in again with the same account.",)
    [action] = failed.actions
    assert action.kind is ActionKind.RECONNECT and action.target.startswith(f"{connection}:")
    # the other checks do not repeat it: they say what they could not check
    blocked = [f for f in part(report, connection).findings if f.check != "credentials" and f.status is Status.FAIL
               and f.cause is Cause.CREDENTIALS]
    assert blocked == []


async def test_credentials_missing_scopes_are_named_and_fixed_by_reconnect(tmp_path: Path) -> None:
    world = World()
    chloe = world.person("chloe", faults=[{"missing_scopes": ["https://www.googleapis.com/auth/gmail.readonly"],
                                           "provider": "google"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, chloe, "credentials", Status.FAIL)
    assert failed.summary == ("Google mail access for chloe@acme.example is missing permissions the sync needs: "
                              "https://www.googleapis.com/auth/gmail.readonly.")
    assert failed.details["missing_scopes"] == ["https://www.googleapis.com/auth/gmail.readonly"]
    assert [a.kind for a in failed.actions] == [ActionKind.RECONNECT]
    assert one(report, chloe, "identity").status is Status.SKIPPED


@pytest.mark.parametrize("fault, status, cause, words", [
    ("html_instead_of_json", Status.FAIL, Cause.NETWORK, "web page instead of API data"),
    ({"server_error": 503}, Status.WARN, Cause.NETWORK, "could not be reached"),
])
async def test_credentials_a_provider_answering_badly_is_evidence_not_a_crash(
        tmp_path: Path, fault: object, status: Status, cause: Cause, words: str) -> None:
    world = World()
    connection = world.person("bad", faults=[fault])
    report = await diagnose(world, tmp_path)

    findings = of(report, connection, "credentials")
    assert {(f.status, f.cause) for f in findings} == {(status, cause)}
    assert all(words in f.summary for f in findings)
    assert not any(f.status is Status.ERROR for f in part(report, connection).findings)


async def test_a_hanging_provider_times_out_its_checks_only(tmp_path: Path) -> None:
    world = World()
    stuck = world.person("stuck", faults=["hang"])
    fine = world.person("fine")
    report = await diagnose(world, tmp_path, settings={"CHATOPS_CHECK_TIMEOUT_S": "1.5"})

    stuck_credentials = one(report, stuck, "credentials")
    assert stuck_credentials.status is Status.ERROR
    assert stuck_credentials.summary == "The credentials check gave no answer within 1.5 s, so it was stopped."
    assert part(report, fine).status is Status.OK


async def test_an_access_token_the_api_rejects_is_a_credentials_failure(tmp_path: Path) -> None:
    world = World()
    connection = world.person("ivy", faults=[{"api_401": True, "provider": "google"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, connection, "identity", Status.FAIL)
    assert failed.cause is Cause.CREDENTIALS
    assert "rejected the stored access" in failed.summary
    assert [a.kind for a in failed.actions] == [ActionKind.RECONNECT]


# ------------------------------------------------------------------------------------------ quota


async def test_quota_healthy_usage_and_a_schedule_that_fits(tmp_path: Path) -> None:
    world = World()
    ok = world.person("ok")
    report = await diagnose(world, tmp_path)

    usage, fit = of(report, ok, "quota")
    assert usage.summary == "The Salesforce daily API limit is at 10% of 100,000."
    assert fit.summary == "The sync schedule needs 960 of the 100,000 daily API calls and fits."
    assert {usage.status, fit.status} == {Status.OK}


async def test_quota_over_the_warning_threshold_warns_and_a_spent_quota_fails(tmp_path: Path) -> None:
    world = World()
    busy = world.person("busy", crm_org="sf-busy")
    full = world.person("full", crm_org="sf-full")
    report = await diagnose(world, tmp_path)

    warned = one(report, busy, "quota", Status.WARN)
    assert (warned.cause, warned.summary) == (Cause.RATE_LIMIT, "The Salesforce daily API limit is at 85% of 100,000.")
    failed = [f for f in of(report, full, "quota") if f.status is Status.FAIL]
    assert failed and failed[0].cause is Cause.RATE_LIMIT
    assert "used up" in failed[0].summary or "limit" in failed[0].summary


async def test_quota_a_refused_usage_call_is_a_rate_limit_failure(tmp_path: Path) -> None:
    world = World()
    busy = world.person("busy", faults=[{"rate_limited": 5, "provider": "salesforce"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, busy, "quota", Status.FAIL)
    assert failed.cause is Cause.RATE_LIMIT
    assert failed.summary.startswith("Salesforce is refusing API calls because a rate limit was hit "
                                     "(REQUEST_LIMIT_EXCEEDED).")
    assert "403 REQUEST_LIMIT_EXCEEDED" in failed.evidence[0].value


async def test_a_429_with_retry_after_elsewhere_says_how_long_to_wait(tmp_path: Path) -> None:
    world = World()
    eva = world.person("eva", crm="hubspot", faults=[{"rate_limited": {"retry_after": 30}, "provider": "hubspot"}])
    report = await diagnose(world, tmp_path)

    warned = one(report, eva, "identity", Status.WARN)
    assert warned.cause is Cause.RATE_LIMIT
    assert "is throttling requests for 30 s" in warned.summary


async def test_quota_a_schedule_that_cannot_fit_gets_an_interval_that_does(tmp_path: Path) -> None:
    world = World()
    hungry = world.person("hungry", calls_per_sync=2000,
                          jobs=[{"name": "EAC", "tool": "EAC", "interval_minutes": 1, "duration_minutes": 0.5}])
    report = await diagnose(world, tmp_path)

    failed = one(report, hungry, "quota", Status.FAIL)
    assert failed.summary.startswith("The sync schedule needs 2,880,000 API calls a day, but only 89,9")
    assert failed.details["suggested_interval_minutes"] == 60
    assert failed.remedy == ("Sync every 60 minutes instead: that needs 48,000 calls a day.",)


# ------------------------------------------------------------------------------------------ identity


async def test_identity_matching_addresses_and_an_alias_are_ok(tmp_path: Path) -> None:
    world = World()
    same = world.person("same")
    alias = world.person("al", crm_email="al@acme.io", aliases=["al@acme.io"])
    report = await diagnose(world, tmp_path)

    assert one(report, same, "identity").status is Status.OK
    assert one(report, alias, "identity").status is Status.OK


async def test_identity_another_domain_without_alias_is_a_domain_mismatch_with_the_fix(tmp_path: Path) -> None:
    world = World()
    finn = world.person("finn", crm_email="finn@acme.io")
    report = await diagnose(world, tmp_path)

    failed = one(report, finn, "identity")
    assert (failed.status, failed.cause) == (Status.FAIL, Cause.DOMAIN_MISMATCH)
    assert failed.summary == "The CRM user is finn@acme.io but the mailbox is finn@acme.example and has no alias for acme.io."
    assert "add finn@acme.io as an alias of the mailbox finn@acme.example" in failed.remedy[0]


async def test_identity_a_mailbox_not_enabled_for_the_api_is_mailbox_config(tmp_path: Path) -> None:
    world = World()
    jon = world.person("jon", mail="microsoft", crm="dynamics",
                       faults=[{"mailbox_not_enabled": True, "provider": "microsoft"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, jon, "identity")
    assert (failed.status, failed.cause) == (Status.FAIL, Cause.MAILBOX_CONFIG)
    assert "MailboxNotEnabledForRESTAPI" in failed.summary
    assert "Exchange Online licence" in failed.remedy[0]


async def test_a_deactivated_crm_user_is_mailbox_config_not_a_reconnect(tmp_path: Path) -> None:
    world = World()
    gone = world.person("gone", crm_active=False)
    report = await diagnose(world, tmp_path)

    failed = one(report, gone, "credentials", Status.FAIL)
    assert failed.cause is Cause.MAILBOX_CONFIG
    assert "deactivated" in failed.summary
    assert failed.actions == () and "reactivate" in failed.remedy[0]


# ------------------------------------------------------------------------------------------ schedule


async def test_schedule_overlapping_jobs_and_runs_longer_than_their_interval(tmp_path: Path) -> None:
    world = World()
    grace = world.person("grace", jobs=[
        {"name": "EAC", "tool": "Einstein Activity Capture", "interval_minutes": 5, "duration_minutes": 4},
        {"name": "Add-in", "tool": "Outlook add-in", "interval_minutes": 5, "duration_minutes": 3}])
    slow = world.person("slow", jobs=[{"name": "EAC", "tool": "EAC", "interval_minutes": 5, "duration_minutes": 9}])
    calm = world.person("calm", jobs=[
        {"name": "A", "tool": "EAC", "cron": "0 * * * *", "duration_minutes": 5},
        {"name": "B", "tool": "Add-in", "cron": "30 * * * *", "duration_minutes": 5}])
    report = await diagnose(world, tmp_path, events={grace: ["WARN sync skipped: another sync is already running"]})

    overlap = one(report, grace, "schedule")
    assert (overlap.status, overlap.cause) == (Status.FAIL, Cause.SCHEDULE_CONFLICT)
    assert "overlap 100% of the time" in overlap.summary
    assert any(e.label == "sync log" and "1 collision line" in e.value for e in overlap.evidence)
    piled = one(report, slow, "schedule")
    assert piled.summary == "EAC runs take 9 min but start every 5 min, so runs pile up on each other."
    assert one(report, calm, "schedule").status is Status.OK


# ------------------------------------------------------------------------------------------ calendar


async def test_calendar_the_same_zone_by_other_names_is_ok(tmp_path: Path) -> None:
    world = World()
    ok = world.person("okz", mail="microsoft", calendar="microsoft",
                      mailbox_timezone="Eastern Standard Time", crm_timezone="US/Eastern")
    report = await diagnose(world, tmp_path)

    assert one(report, ok, "calendar").status is Status.OK


async def test_calendar_a_timezone_mismatch_names_both_zones_and_the_shift(tmp_path: Path) -> None:
    world = World()
    hugo = world.person("hugo", mail="microsoft", calendar="microsoft", mailbox_timezone="Pacific Standard Time")
    report = await diagnose(world, tmp_path)

    failed = one(report, hugo, "calendar", Status.FAIL)
    assert failed.cause is Cause.CALENDAR_TIMEZONE
    assert "America/New_York" in failed.summary and "Pacific Standard Time" in failed.summary
    assert "shift by up to 3 h all year" in failed.summary
    assert any(e.label == "example" for e in failed.evidence)


async def test_calendar_not_shared_with_the_sync_account_is_a_permissions_failure(tmp_path: Path) -> None:
    world = World()
    iris = world.person("iris", calendar="google", sync_account="sync@acme.example",
                        calendar_shares=[{"grantee": "acme.example", "role": "freeBusyReader"}])
    shared = world.person("sara", calendar="google", sync_account="sync@acme.example",
                          calendar_shares=[{"grantee": "sync@acme.example", "role": "reader"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, iris, "calendar", Status.FAIL)
    assert failed.cause is Cause.CALENDAR_PERMISSIONS
    assert "freeBusyReader" in failed.summary
    assert failed.remedy[0] == ("Open the calendar's sharing settings and share it with sync@acme.example as "
                                "'See all event details'.")
    assert one(report, shared, "calendar", subject="sharing").summary == \
        "The calendar is shared with sync@acme.example (reader)."


async def test_calendar_an_unknown_timezone_name_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    world = World()
    odd = world.person("odd", mail="microsoft", calendar="microsoft", mailbox_timezone="Pacifc Standard Time")
    report = await diagnose(world, tmp_path)

    warned = one(report, odd, "calendar", Status.WARN)
    assert "Pacifc Standard Time" in warned.summary and "not a known time zone" in warned.summary
    assert "Did you mean Pacific Standard Time?" in warned.remedy[0]


# ------------------------------------------------------------------------------------------ synclog


async def test_synclog_groups_known_errors_and_clusters_unknown_lines(tmp_path: Path) -> None:
    world = World()
    ana = world.person("ana")
    lines = ["ERROR refresh failed: invalid_grant: Token has been expired or revoked."] * 3 + [
        "WARN message 1001 skipped: MIME part 3 declares the unsupported charset x-mac-cyrillic",
        "WARN message 2002 skipped: MIME part 7 declares the unsupported charset x-mac-cyrillic"]
    report = await diagnose(world, tmp_path, events={ana: lines})

    known = one(report, ana, "synclog", Status.FAIL)
    assert known.cause is Cause.CREDENTIALS and known.summary.startswith("3 x ")
    assert known.details["count"] == 3
    unknown = one(report, ana, "synclog", Status.WARN)
    assert unknown.cause is Cause.OTHER
    assert unknown.summary == "2 sync log line(s) in 1 pattern(s) match no known error signature."


async def test_synclog_without_lines_is_skipped_and_garbage_does_not_break_it(tmp_path: Path) -> None:
    world = World()
    quiet = world.person("quiet")
    noisy = world.person("noisy")
    garbage = ["", "\x00\x01\x02\ufffd\ufffd binary", "x" * 1_000_000, "🙂" * 1000, "   "]
    report = await diagnose(world, tmp_path, events={noisy: garbage})

    assert one(report, quiet, "synclog").status is Status.SKIPPED
    assert not any(f.status is Status.ERROR for f in of(report, noisy, "synclog"))


# ------------------------------------------------------------------------------------------ testsync


async def test_testsync_reads_mail_and_calendar_and_finds_the_contact(tmp_path: Path) -> None:
    world = World()
    lea = world.person("lea", calendar="google")
    report = await diagnose(world, tmp_path)

    passed = one(report, lea, "testsync", Status.OK)
    assert passed.summary == "Test sync passed: read mail OK; read calendar OK; CRM lookup OK."
    assert ("CRM write", "skipped (dry run; use --write to test writing)") in [(e.label, e.value)
                                                                              for e in passed.evidence]


async def test_testsync_writes_and_deletes_a_test_activity_only_when_asked(tmp_path: Path) -> None:
    world = World()
    wes = world.person("wes")
    report = await diagnose(world, tmp_path, write_probe=True)

    passed = one(report, wes, "testsync", Status.OK)
    assert "CRM write OK" in passed.summary
    assert any(e.label == "CRM write" and "created and deleted" in e.value for e in passed.evidence)


async def test_testsync_names_the_step_that_failed(tmp_path: Path) -> None:
    world = World()
    jon = world.person("jon", mail="microsoft", crm="dynamics",
                       faults=[{"mailbox_not_enabled": True, "provider": "microsoft"}])
    report = await diagnose(world, tmp_path)

    failed = one(report, jon, "testsync", Status.FAIL)
    assert failed.summary.startswith("Test sync stopped at reading the newest message:")
    assert failed.cause is Cause.MAILBOX_CONFIG

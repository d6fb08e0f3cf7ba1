"""The command line as a user runs it: real processes, the provider simulator over real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from adapters.sandbox.simulator import RunningSimulator
from chatops.findings import Cause, Status
from tests.fakes.sim import simulator_in_thread

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "adapters" / "sandbox" / "scenarios" / "demo.yaml"
FINDING_KEYS = {"connection", "check", "status", "cause", "summary", "subject", "evidence", "remedy", "actions",
                "duration_ms"}


def chatops(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=180)


def expectations() -> dict[str, str]:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return {c["id"]: c["expect"] for c in data["connections"]}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CHATOPS_", "SLACK_", "MICROSOFT_APP"))}
    return {**clean, "CHATOPS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with simulator_in_thread("demo") as running:
        yield running


def test_demo_once_finds_each_connections_cause_and_every_cause_of_the_architecture(env: dict[str, str]) -> None:
    result = chatops("demo", "--once", "--json", env=env)

    assert result.returncode == 1, result.stderr  # problems found
    findings = json.loads(result.stdout)
    assert all(set(f) == FINDING_KEYS for f in findings)
    problems: dict[str, set[str]] = {}
    for f in findings:
        assert f["status"] in {s.value for s in Status}
        assert f["cause"] in {c.value for c in Cause}
        if f["status"] in ("fail", "warn", "error"):
            problems.setdefault(f["connection"], set()).add(f["cause"])
            assert f["remedy"], f"a problem without a fix: {f['summary']}"
            assert f["evidence"] or f["check"] == "synclog", f"a problem without evidence: {f['summary']}"
    for connection, expected in expectations().items():
        if expected == "ok":
            assert connection not in problems, f"{connection} should be healthy: {problems.get(connection)}"
        else:
            assert expected in problems.get(connection, set()), f"{connection}: {problems.get(connection)}"
    assert set().union(*problems.values()) == {c.value for c in Cause}
    assert not any(f["status"] == "error" for f in findings), [f["summary"] for f in findings if f["status"] == "error"]


def test_demo_once_prints_a_table_with_evidence_and_fixes(env: dict[str, str]) -> None:
    result = chatops("demo", "--once", env=env)

    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert "ana-salesforce-gmail" in out and "✖ fail" in out and "✔ ok" in out
    assert "invalid_grant" in out and "fix 1. Click Reconnect" in out
    assert "14 connections checked" in out


def test_import_then_diagnose_all_as_json_and_by_user(simulator: RunningSimulator, env: dict[str, str],
                                                      tmp_path: Path) -> None:
    env = {**env, **simulator.settings_env()}
    records = tmp_path / "connections.yaml"
    records.write_text(yaml.safe_dump({"connections": simulator.connection_records()}), encoding="utf-8")

    imported = chatops("connections", "import", str(records), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "Imported 14 connections" in imported.stdout
    assert "encryption key" in imported.stderr  # the generated key is announced once

    listed = chatops("connections", "list", "--json", env=env)
    assert [c["name"] for c in json.loads(listed.stdout)][:2] == ["ana-salesforce-gmail", "ben-dynamics-outlook"]

    everything = chatops("diagnose", "--all", "--json", env=env)
    assert everything.returncode == 1
    causes = {f["cause"] for f in json.loads(everything.stdout) if f["status"] == "fail"}
    assert {"credentials", "domain_mismatch", "calendar_timezone"} <= causes

    healthy = chatops("diagnose", "--user", "lea@acme.example", env=env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "lea-salesforce-gmail" in healthy.stdout

    one = chatops("diagnose", "--connection", "finn-salesforce-gmail", "--check", "identity", "--json", env=env)
    [finding] = json.loads(one.stdout)
    assert (finding["check"], finding["cause"], finding["status"]) == ("identity", "domain_mismatch", "fail")


def test_a_grant_token_never_appears_in_the_database_the_output_or_the_logs(
        simulator: RunningSimulator, env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, **simulator.settings_env()}
    records = simulator.connection_records()
    secrets = {g["refresh_token"] for r in records for g in r["grants"]} | \
              {g["access_token"] for r in records for g in r["grants"] if g.get("access_token")}
    path = tmp_path / "connections.json"
    path.write_text(json.dumps({"connections": records}), encoding="utf-8")

    outputs = [chatops("connections", "import", str(path), env=env),
               chatops("connections", "list", env=env),
               chatops("diagnose", "--all", env=env),
               chatops("diagnose", "--all", "--json", env=env)]

    database = (tmp_path / "data" / "chatops.db").read_bytes()
    seen = "".join(o.stdout + o.stderr for o in outputs)
    for secret in secrets:
        assert secret.encode() not in database
        assert secret not in seen
    assert b"ana@acme.example" in database  # the file is the real store, not an empty one


@pytest.mark.parametrize("args, message", [
    (("diagnose",), "choose what to diagnose"),
    (("diagnose", "--connection", "nope"), "no connection"),
    (("diagnose", "--all", "--check", "sorcery"), "unknown check sorcery"),
    (("connections", "import", "/nonexistent/file.yaml"), "cannot be read"),
    (("connections", "remove", "ghost"), "ghost"),
])
def test_usage_errors_are_one_line_and_exit_2(env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = chatops(*args, env=env)

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_a_malformed_import_names_the_line_and_field_and_stores_nothing(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("connections:\n  - name: a\n    crm: salesforce\n    crm_user_email: a@acme.example\n"
                   "    mailbox_provider: gmail\n    mailbox_email: a@acme.example\n", encoding="utf-8")

    result = chatops("connections", "import", str(bad), env=env)

    assert result.returncode == 2
    assert "line 5: connections[0].mailbox_provider: unknown provider 'gmail'" in result.stderr
    assert "workspace local has no connections" in chatops("diagnose", "--all", env=env).stderr


def test_an_invalid_setting_stops_with_one_line_naming_it(env: dict[str, str]) -> None:
    result = chatops("connections", "list", env={**env, "CHATOPS_DATABASE_URL": "mysql://nope"})

    assert result.returncode == 2
    assert "CHATOPS_DATABASE_URL: must be a sqlite:/// or postgresql:// URL" in result.stderr


def test_classify_follows_the_json_contract_from_stdin(env: dict[str, str]) -> None:
    lines = ("2026-11-28T06:15:02Z ERROR refresh failed: invalid_grant: Token has been expired or revoked.\n"
             "\n"
             "some line nobody has seen before 12345\n")
    result = chatops("classify", "-", "--json", env=env, stdin=lines)

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"line", "cause", "provider", "signature", "explanation", "fix"}
    assert rows[0]["cause"] == "credentials"
    assert rows[2]["cause"] == "other"


def test_logs_ingest_feeds_the_synclog_and_schedule_checks(simulator: RunningSimulator, env: dict[str, str],
                                                          tmp_path: Path) -> None:
    env = {**env, **simulator.settings_env()}
    records = tmp_path / "connections.yaml"
    records.write_text(yaml.safe_dump({"connections": simulator.connection_records()}), encoding="utf-8")
    assert chatops("connections", "import", str(records), env=env).returncode == 0
    log = tmp_path / "sync.log"
    log.write_bytes(b"2026-11-28T09:05:00Z WARN sync skipped: another sync is already running for this mailbox\n"
                    b"2026-11-28T09:06:00Z ERROR refresh failed: invalid_grant: Token has been expired or revoked.\n"
                    b"\xff\xfe binary junk \x00\n\n")

    ingested = chatops("logs", "ingest", str(log), "--connection", "lea-salesforce-gmail", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert "Stored 3 log lines" in ingested.stdout  # the empty line is skipped, the junk kept (decoded)

    result = chatops("diagnose", "--connection", "lea-salesforce-gmail", "--check", "synclog", "--check", "schedule",
                     "--json", env=env)
    findings = json.loads(result.stdout)
    causes = {(f["check"], f["cause"], f["status"]) for f in findings}
    assert ("synclog", "schedule_conflict", "warn") in causes or ("synclog", "schedule_conflict", "fail") in causes
    assert ("synclog", "credentials", "warn") in causes or ("synclog", "credentials", "fail") in causes
    [schedule] = [f for f in findings if f["check"] == "schedule"]
    assert schedule["status"] == "warn" and "collision" in json.dumps(schedule["evidence"])


def test_classify_survives_empty_and_binary_files(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.log"
    binary.write_bytes(bytes(range(256)) * 40)

    assert chatops("classify", str(empty), "--json", env=env).stdout == ""
    result = chatops("classify", str(binary), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert all(json.loads(line)["cause"] in {c.value for c in Cause} for line in result.stdout.splitlines())
    table = chatops("classify", str(binary), env=env)
    assert table.returncode == 0 and "count" in table.stdout

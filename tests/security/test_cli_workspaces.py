"""The CLI's `--workspace`: an operator working in workspace A can't see, diagnose, change or feed workspace B's
connections by naming their ids; each attempt is a one-line refusal (exit 2) and B is left as it was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chatops.model import Workspace
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from tests.scenarios.test_cli import chatops
from tests.security.test_keys import clean_env, people

A, B = "slack:TACME", "slack:TOTHER"


def test_naming_another_workspaces_connection_through_the_cli_is_refused(tmp_path: Path) -> None:
    key = GrantCipher.generate_key()
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = Store.open(url, GrantCipher([key]))
    store.ensure_workspace(Workspace(A, "Acme"))
    store.ensure_workspace(Workspace(B, "Other"))
    store.import_connections(A, people(2))
    [theirs] = store.import_connections(B, [replace(people(1)[0], id="c_theirs0001", name="zoe-secret", grants=())])
    store.close()
    env = {**clean_env(), "CHATOPS_DATABASE_URL": url, "CHATOPS_DATA_DIR": str(tmp_path),
           "CHATOPS_ENCRYPTION_KEYS": key}
    log = tmp_path / "sync.log"
    log.write_text("2026-11-30T09:00:00Z invalid_grant\n", encoding="utf-8")

    attempts = [
        ("diagnose", "--workspace", A, "--connection", theirs.id, "--json"),
        ("diagnose", "--workspace", A, "--connection", "zoe-secret"),
        ("connections", "remove", theirs.id, "--workspace", A),
        ("connections", "remove", "zoe-secret", "--workspace", A),
        ("logs", "ingest", str(log), "--connection", theirs.id, "--workspace", A),
    ]
    for args in attempts:
        result = chatops(*args, env=env)
        said = result.stdout + result.stderr
        assert result.returncode == 2, (args, said)
        assert "Traceback" not in said and len(said.strip().splitlines()) <= 2, said
    listed = chatops("connections", "list", "--workspace", A, env=env)
    assert listed.returncode == 0 and "zoe-secret" not in listed.stdout and theirs.id not in listed.stdout

    after = Store.open(url, GrantCipher([key]))
    try:
        assert [c.name for c in after.list_connections(B)] == ["zoe-secret"]  # untouched
        assert after.events(B, theirs.id) == []  # nothing ingested into it
    finally:
        after.close()

"""`chatops --help` starts fast: importing the CLI loads no SDK, no event loop and no database layer."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.shared import ROOT

# What `adapters.cli` must not import at module level: each costs tens of milliseconds at start-up and
# only the command that needs it imports it (asyncio alone was ~50 ms of a ~290 ms `chatops --help`).
HEAVY = ("asyncio", "aiohttp", "httpx", "sqlalchemy", "sqlmodel", "alembic", "pydantic", "slack_bolt",
         "slack_sdk", "botbuilder", "cryptography", "authlib", "yaml", "rich", "chatops")


def test_importing_the_cli_loads_no_heavy_module() -> None:
    probe = "import json, sys; import adapters.cli; print(json.dumps(sorted(set(sys.modules))))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = set(json.loads(done.stdout))

    assert [name for name in HEAVY if name in loaded] == []


def test_help_still_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "adapters.cli", "--help"], capture_output=True, text=True,
                          cwd=ROOT, check=True, env={"COLUMNS": "200", "PATH": ""})

    for command in ("diagnose", "demo", "serve", "simulator", "classify", "connections", "keys"):
        assert command in done.stdout

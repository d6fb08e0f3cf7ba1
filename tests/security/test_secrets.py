"""Tokens stay secret: never in logs (at DEBUG, while grants are diagnosed, refreshed and fail), cards, replies,
JSON output, or the database in clear (SQLite file bytes, every row of every table on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import logging
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from adapters.logs import RedactingFilter
from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import start_simulator
from adapters.slack import render as slack_render
from adapters.teams import render as teams_render
from adapters.wiring import Config, build
from chatops.cards import Card, Header, finding_blocks, report_card
from chatops.chat import Reply
from chatops.model import Grant, GrantRole, Provider, Secret
from chatops.store import Store
from tests.fakes.world import WORKSPACE, World

TOKEN = "ya29.a0AfB_KNOWN-ACCESS-TOKEN-1234567890"
REFRESH = "1//0gKNOWN-REFRESH-TOKEN-abcdefghij"


# ---------------------------------------------------------------- the Secret type


def test_a_secret_never_shows_its_value() -> None:
    secret = Secret(TOKEN)
    grant = Grant("g1", Provider.GOOGLE, GrantRole.MAIL, "ana@acme.example", access_token=secret,
                  refresh_token=Secret(REFRESH))
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret!s}",
             "%s %r" % (secret, secret), "{} {!r}".format(secret, secret), format(secret),  # noqa: UP031, UP032 repr(grant), str(grant), repr([grant]),
             repr({"t": secret}), repr(replace(grant)), repr(copy.copy(secret))]
    stream = io.StringIO()
    logger = logging.getLogger("tests.security.secret")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        logger.warning("grant %s token %s %r", grant, secret, secret)
        logger.warning(f"f-string {secret} {grant}")
    finally:
        logger.removeHandler(handler)
    shown.append(stream.getvalue())
    for text_ in shown:
        assert TOKEN not in text_ and REFRESH not in text_ and "KNOWN" not in text_, text_
    assert "**********" in repr(secret) and repr(Secret("")) == "Secret('')"
    with pytest.raises(TypeError):
        json.dumps({"token": secret})  # not serialisable: it can't slip into a JSON body or a log line
    assert json.dumps({"token": secret}, default=str).count("KNOWN") == 0
    assert secret.reveal() == TOKEN and bool(secret) and not Secret("")
    assert secret == Secret(TOKEN) and secret != TOKEN  # compared with a str it is never equal


def test_a_deep_copy_keeps_the_value_and_still_hides_it() -> None:
    secret = copy.deepcopy(Secret(TOKEN))
    assert secret.reveal() == TOKEN and TOKEN not in repr(secret)
    restored = pickle.loads(pickle.dumps(Secret(TOKEN)))
    assert restored == Secret(TOKEN)  # pickling is for the process itself; nothing pickles grants to disk


# ---------------------------------------------------------------- a whole diagnosis, through the simulator


def world() -> World:
    w = World()
    w.person("ana", mail="google")  # healthy: refreshes and reads
    w.person("ben", mail="microsoft", faults=[{"revoked": True, "provider": "microsoft"}])  # refresh fails
    w.person("cy", crm="hubspot", mail="google", faults=["api_401"])  # tokens refused by the API
    w.person("dee", mail="google", faults=["expired_access_token"])  # must refresh first
    w.person("eve", mail="microsoft", faults=[{"server_error": 503}])
    w.person("fay", mail="google", faults=["html_instead_of_json"])
    return w


def dump_every_table(store: Store) -> str:
    """What `pg_dump --data-only` would show: every row of every table, as text."""
    rows = []
    with store.engine.connect() as db:
        for table in inspect(db).get_table_names():
            for row in db.execute(text(f'SELECT * FROM "{table}"')):
                rows.append(f"{table}: " + " ".join(map(str, row)))
    return "\n".join(rows)


async def test_no_token_in_logs_cards_replies_json_or_the_database(store: Store, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    redacted = io.StringIO()
    handler = logging.StreamHandler(redacted)
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    simulator = await start_simulator(parse_scenario(world().scenario(), source="secrets"))
    try:
        services = build(Config.load({**simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
                                      "CHATOPS_CHECK_TIMEOUT_S": "5", "CHATOPS_DEADLINE_S": "10"}), store=store)
        connections = await asyncio.to_thread(install, store, simulator, WORKSPACE)
        reports = [await services.core.diagnose(WORKSPACE.id, connections) for _ in range(2)]  # refresh, reuse
        replies = [await services.core.diagnosis_reply(WORKSPACE.id, [c]) for c in connections]
        state = simulator.state
        secrets = ({t for t in state.access} | {t for t in state.refresh}
                   | {c.client_secret for c in simulator.scenario.clients.values()})
        await services.http.aclose()
    finally:
        logging.getLogger().removeHandler(handler)
        await simulator.stop()
    assert len(state.access) > len(connections)  # the simulator issued fresh access tokens during the run
    assert {f.status.value for f in reports[0].findings} >= {"ok", "fail"}

    shown = []
    for report in reports:
        card = report_card(report, link=lambda c, t, v: f"https://chatops.example/connect/{t}")
        shown += [json.dumps(report.to_json()), json.dumps(slack_render.message(Reply("x", card=card))),
                  json.dumps(teams_render.adaptive_card(card, "teams:t"))]
        for part in report.connections:
            details = Card("Details", (Header("Details"), *finding_blocks(part.findings)))
            shown += [json.dumps(slack_render.modal(Reply("Details", card=details))),
                      json.dumps(teams_render.adaptive_card(details, "teams:t"))]
            shown += [repr(f) + json.dumps(f.details, default=str) for f in part.findings]
    shown += [r.text + json.dumps(slack_render.response(r)) for r in replies]
    records = [f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records]
    database = dump_every_table(store)
    if store.engine.dialect.name == "sqlite":
        path = Path(store.engine.url.database or "")
        store.close()
        database += "".join(p.read_bytes().decode("latin-1") for p in path.parent.glob(path.name + "*"))
    assert "ana@acme.example" in database and len(records) > 20  # the places searched are the real ones

    for secret in secrets:
        assert secret and len(secret) >= 8
        for place, haystack in (("logs", "\n".join(records)), ("redacted log output", redacted.getvalue()),
                                ("cards and replies", "\n".join(shown)), ("database", database)):
            assert secret not in haystack, f"a token is in the {place}"
    for prefix in ("ya29.", "1//", "eyJ0eX"):
        assert prefix not in database
